"""我的令牌: every signed-in user lists, issues and revokes their own personal API tokens.

The raw token is shown once, in the response to the POST that issued it, with headers that
forbid caching; it is never put in the session, a message or a log, so reloading the page (or
going back to it) cannot show it again. A re-sent POST is refused by the name rule (one active
token per name) instead of silently issuing a second token. Tokens of other users answer 404.
"""

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.crypto import constant_time_compare
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from wenxu.accounts import services
from wenxu.accounts.forms import TokenForm
from wenxu.accounts.models import ApiToken, User
from wenxu.lib import clock

STATE_LABELS = {
    "active": gettext_lazy("有效"),
    "expired": gettext_lazy("已过期"),
    "revoked": gettext_lazy("已吊销"),
    "stale": gettext_lazy("密码已改，需重新创建"),
}


@dataclass(frozen=True)
class TokenRow:
    token: ApiToken
    state: str

    @property
    def state_label(self) -> str:
        return str(STATE_LABELS[self.state])

    @property
    def active(self) -> bool:
        return self.state == "active"


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _row(token: ApiToken, session_hash: str) -> TokenRow:
    """The token with the state the API would give it now (see `api_token_authenticate`)."""
    if token.revoked_at is not None:
        state = "revoked"
    elif token.expires_at <= clock.now():
        state = "expired"
    elif not token.session_hash or not constant_time_compare(token.session_hash, session_hash):
        state = "stale"
    else:
        state = "active"
    return TokenRow(token=token, state=state)


def _rows(user: User) -> list[TokenRow]:
    session_hash = user.get_session_auth_hash()
    tokens = ApiToken.objects.filter(user=user).order_by("-created_at", "-pk")
    return [_row(token, session_hash) for token in tokens]


def _own_token(user: User, pk: int) -> ApiToken:
    token = ApiToken.objects.filter(user=user, pk=pk).first()
    if token is None:
        raise Http404(_("没有这个令牌。"))
    return token


@login_required
@require_http_methods(["GET", "POST"])
def token_list(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    raw = ""
    created: ApiToken | None = None
    status = 200
    if request.method == "POST":
        form = TokenForm(request.POST)
        if form.is_valid():
            try:
                raw, created = services.api_token_issue_named(
                    user=user, name=form.cleaned_data["name"], days=form.cleaned_data["days"]
                )
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    for error in errors:
                        form.add_error(field if field in form.fields else None, error)
        if created is None:
            status = 422
        else:
            form = TokenForm()
    else:
        form = TokenForm()
    context = {
        "form": form,
        "rows": _rows(user),
        "raw_token": raw,
        "created": created,
        "max_days": max(services.api_token_day_choices()),
    }
    response = render(request, "accounts/tokens.html", context, status=status)
    # The page may carry a raw token: never keep it in a cache or the browser's history.
    add_never_cache_headers(response)
    return response


@login_required
@require_http_methods(["GET", "POST"])
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    token = _own_token(user, pk)
    if request.method == "GET":
        return render(request, "accounts/tokens_revoke.html", {"token": token})
    services.api_token_revoke(token=token)
    if getattr(request, "htmx", False):
        row = _row(token, user.get_session_auth_hash())
        return render(request, "accounts/tokens_row.html", {"row": row, "revoked_now": True})
    messages.success(request, _("已吊销令牌“%(name)s”。") % {"name": token.name or token.prefix})
    return HttpResponseRedirect(reverse("account_tokens"))
