"""How API callers prove who they are: a bearer token, or the browser's Django session.

Bearer tokens come from `POST /api/v1/auth/token`; only their hash is stored. A session works
as in the rest of the site; unsafe methods then need the CSRF token (header `X-CSRFToken`),
as with ninja's `django_auth`. Unlike `django_auth`, the CSRF check runs only once a session
user is found, so an anonymous or expired-token request answers 401, not a CSRF 403.
"""

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja.security import APIKeyCookie, HttpBearer
from ninja.utils import check_csrf

from wenxu.accounts import services as account_services
from wenxu.accounts.models import User
from wenxu.api.errors import CsrfFailed


class BearerTokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        api_token = account_services.api_token_authenticate(raw=token.strip())
        if isinstance(api_token, account_services.TokenRefusal):
            # Remembered so that the 401 can say what is wrong with the token (not the login).
            request.wenxu_bad_token = api_token  # type: ignore[attr-defined]
            return None
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
