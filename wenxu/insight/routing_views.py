"""The routing suggestion in the assign form, loaded by htmx when the form is shown."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from wenxu.accounts.models import User
from wenxu.insight.routing.suggest import routing_suggest
from wenxu.needs import permissions, selectors
from wenxu.needs.exceptions import NotPermitted
from wenxu.needs.states import Action


@login_required
@require_GET
def suggest(request: HttpRequest, number: str) -> HttpResponse:
    user = request.user
    assert isinstance(user, User)
    # Out of scope: 404 like the need page; in scope without the right to assign: 403.
    need = selectors.need_get_for_user(user=user, number=number, with_events=False)
    if not permissions.may_take(user, need, Action.ASSIGN):
        raise NotPermitted(_("只有调度员交办时才能查看分派建议。"))
    context = {"need": need, "suggestion": routing_suggest(need=need)}
    return render(request, "insight/routing/_suggestion.html", context)
