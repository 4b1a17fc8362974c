"""The lockout check in front of the password check (django-axes; wenxu.accounts.lockout)."""

from typing import Any

from axes.backends import AxesStandaloneBackend
from django.http import HttpRequest


class LockoutBackend(AxesStandaloneBackend):  # type: ignore[misc]
    """Axes' lockout check, for calls that come with a request.

    Every login a person or a client can reach passes its request (the login page, the admin
    login, `POST /api/v1/auth/token`). A call without one comes from code on the server, such
    as the test client's `login()` or a shell: axes would raise there, so it is let through to
    the password check (as axes' documentation suggests for such callers).
    """

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> None:
        if request is None:
            return None
        super().authenticate(request, username=username, password=password, **kwargs)
        return None
