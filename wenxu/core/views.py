from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from wenxu.accounts.models import User
from wenxu.needs import selectors


@login_required
def home(request: HttpRequest) -> HttpResponse:
    assert isinstance(request.user, User)
    context = {
        "summary": selectors.need_status_counts_for_user(user=request.user),
        "memberships": request.user.memberships.select_related("area", "unit"),
    }
    return render(request, "core/home.html", context)


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
