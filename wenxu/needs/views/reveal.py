"""查看完整信息: a requester's personal data unmasked on the need page, for a permitted viewer.

GET offers the reason form (a page; the need page carries the same form inline), POST reveals:
`wenxu.residents.reveal.requester_reveal` checks scope (404), permission and confidentiality
(403) and the reason (422, the form again with its message), writes the security-log entry and
returns the data, as an htmx fragment or a page. Every answer is `no-store`; nothing revealed
goes into the URL, the session, messages or logs.
"""

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import add_never_cache_headers, patch_vary_headers
from django.views.decorators.http import require_http_methods

from wenxu.accounts.models import User
from wenxu.needs import selectors
from wenxu.needs.exceptions import InvalidInput
from wenxu.needs.models import Need
from wenxu.residents import reveal


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _answer(
    request: HttpRequest, need: Need, context: dict[str, Any], *, status: int = 200
) -> HttpResponse:
    partial = request.htmx and not request.htmx.history_restore_request  # type: ignore[attr-defined]
    if partial:
        template = (
            "needs/reveal/_revealed.html" if "revealed" in context else "needs/reveal/_form.html"
        )
    else:
        template = "needs/reveal/page.html"
    context = {
        "need": need,
        "reason_min": reveal.REASON_MIN,
        "reason_max": reveal.REASON_MAX,
        **context,
    }
    response = render(request, template, context, status=status)
    add_never_cache_headers(response)  # private, no-store: no cache keeps a copy
    patch_vary_headers(response, ["HX-Request"])
    return response


@login_required
@require_http_methods(["GET", "POST"])
def requester_reveal(request: HttpRequest, number: str) -> HttpResponse:
    user = _user(request)
    # Out of scope: 404 (raised as NotFound, mapped by DomainErrorMiddleware), as the need page.
    need = selectors.need_get_for_user(user=user, number=number, with_events=False)
    if request.method == "GET":
        reveal.requester_reveal_check(actor=user, need=need)
        return _answer(request, need, {})
    reason = request.POST.get("reason", "")
    try:
        revealed = reveal.requester_reveal(actor=user, need=need, reason=reason, request=request)
    except InvalidInput as exc:
        error = next(iter(exc.errors.get("reason", [])), exc.message)
        return _answer(request, need, {"error": error, "reason": reason[:200]}, status=422)
    return _answer(request, need, {"revealed": revealed})
