"""How API callers prove who they are: a bearer token, or the browser's Django session.

Bearer tokens come from `POST /api/v1/auth/token`; only their hash is stored. A token of a user
who must first change a password an administrator chose is answered 403 here, from the user its
lookup loaded (the login-steps middleware leaves the v1 API's tokens to this class, so that a
request reads its token once). A session works as in the rest of the site; unsafe methods then
need the CSRF token (header `X-CSRFToken`), as with ninja's `django_auth`. Unlike `django_auth`,
the CSRF check runs only once a session user is found, so an anonymous or expired-token request
answers 401, not a CSRF 403.
"""

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja.security import APIKeyCookie, HttpBearer
from ninja.utils import check_csrf

from wenxu.accounts import security
from wenxu.accounts import services as account_services
from wenxu.accounts.models import User
from wenxu.api.errors import CsrfFailed, PasswordChangeRequired


class BearerTokenAuth(HttpBearer):
    def __init__(self, *, refuse_forced_password_change: bool = True) -> None:
        """`refuse_forced_password_change=False`: an endpoint a user who must change the
        password may still call with the token (revoking it)."""
        super().__init__()
        self.refuse_forced_password_change = refuse_forced_password_change

    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        raw = token.strip()
        api_token = account_services.api_token_authenticate(raw=raw)
        if isinstance(api_token, account_services.TokenRefusal):
            # An unusable token of such a user is still answered 403 (the error path only).
            if self.refuse_forced_password_change and security.bearer_must_change_password(raw):
                raise PasswordChangeRequired()
            # Remembered so that the 401 can say what is wrong with the token (not the login).
            request.wenxu_bad_token = api_token  # type: ignore[attr-defined]
            return None
        if self.refuse_forced_password_change and security.must_change_password(api_token.user):
            raise PasswordChangeRequired()
        request.wenxu_api_token = api_token  # type: ignore[attr-defined]
        return api_token.user


class SessionAuth(APIKeyCookie):
    """The Django session, with the CSRF check for unsafe methods."""

    param_name: str = settings.SESSION_COOKIE_NAME

    def __init__(self) -> None:
        # `csrf=True` also tells the interactive docs to send the CSRF header.
        super().__init__(csrf=True)

    def _get_key(self, request: HttpRequest) -> str | None:
        return request.COOKIES.get(self.param_name)

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        if check_csrf(request) is not None:
            raise CsrfFailed()
        return user


def current_user(request: HttpRequest) -> User:
    user = request.auth  # type: ignore[attr-defined]
    assert isinstance(user, User)
    return user


api_auth = [BearerTokenAuth(), SessionAuth()]
