from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from wenxu.accounts.models import User
from wenxu.core import guide
from wenxu.lib import clock
from wenxu.needs.workbench import workbench_for_user


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """我的工作台: the counts and short lists this user's roles call for."""
    assert isinstance(request.user, User)
    now = clock.now()
    bench = workbench_for_user(user=request.user, now=now)
    ledger = reverse("needs:ledger")

    def ledger_url(params: tuple[tuple[str, str], ...] | None) -> str | None:
        return f"{ledger}?{urlencode(params)}" if params is not None else None

    context = {
        "bench": bench,
        "now": now,
        "today": timezone.localdate(now),
        "primary": [(s, ledger_url(s.ledger_params)) for s in bench.primary],
        "secondary": [(s, ledger_url(s.ledger_params)) for s in bench.secondary],
        "status_rows": [
            (value, label, n, ledger_url((("status", value),)))
            for value, label, n in bench.by_status
        ],
    }
    return render(request, "core/home.html", context)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """The page a refused form post gets (CSRF_FAILURE_VIEW), in the user's language.

    Django's own page carries an inline <style> the content security policy blocks, and
    speaks to developers. A resident or officer only needs to know the form expired and how
    to send it again; nothing was changed.
    """
    # Back to the page the form was on (a form often posts to an action URL without a GET).
    referer = request.headers.get("Referer", "")
    same_site = url_has_allowed_host_and_scheme(
        referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    again = referer if referer and same_site else reverse("home")
    return render(request, "403_csrf.html", {"again": again}, status=403)


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """For the load balancer and monitoring: 200 when every database and Redis answer, else
    503, each with what was reached. Cheap on purpose: `SELECT 1` on each database (the primary
    and each read replica) and a Redis PING, no table read. Failures are logged, not shown
    (their text may name hosts)."""
    import logging

    from django.conf import settings
    from django.db import DEFAULT_DB_ALIAS, connections

    from wenxu.lib import ratelimit

    logger = logging.getLogger(__name__)
    databases: dict[str, str] = {}
    for alias in [DEFAULT_DB_ALIAS, *settings.WENXU_READ_REPLICAS]:
        try:
            with connections[alias].cursor() as cursor:
                cursor.execute("SELECT 1")
            databases[alias] = "ok"
        except Exception:
            logger.exception("healthz: database %s did not answer", alias)
            databases[alias] = "unavailable"
    answer: dict[str, object] = {"databases": databases}
    client = ratelimit.redis_client()
    if client is not None:
        try:
            client.ping()
            answer["redis"] = "ok"
        except Exception:
            logger.exception("healthz: Redis did not answer")
            answer["redis"] = "unavailable"
    healthy = all(v == "ok" for v in databases.values()) and answer.get("redis", "ok") == "ok"
    status = "ok" if healthy else "unavailable"
    return JsonResponse({"status": status, **answer}, status=200 if healthy else 503)


@login_required
@require_GET
def help_index(request: HttpRequest) -> HttpResponse:
    return render(request, "core/help.html", {"pages": guide.pages()})


@login_required
@require_GET
def help_page(request: HttpRequest, slug: str) -> HttpResponse:
    found = guide.page(slug)
    if found is None:
        raise Http404(_("没有这一页使用指南。"))
    context = {"page": found.page, "html": found.html, "pages": guide.pages()}
    return render(request, "core/help_page.html", context)


@login_required
@require_GET
def help_image(request: HttpRequest, name: str) -> FileResponse:
    path = guide.image_path(name)
    if path is None:
        raise Http404(_("没有这张图片。"))
    response = FileResponse(path.open("rb"), content_type="image/png")
    response["Cache-Control"] = "private, max-age=3600"
    return response
