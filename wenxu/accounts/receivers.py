"""Framework events of the login (like the Django login signals wenxu.audit.receivers records):
Django's `user_logged_in` settles what the new session still owes (wenxu.accounts.security),
and django-axes' `user_locked_out` writes the security log's LOCKOUT entry."""

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from wenxu.accounts import security
from wenxu.accounts.models import User
from wenxu.audit import actions
from wenxu.audit.services import audit_record, logged_username


def on_user_logged_in(
    sender: object, request: object = None, user: object = None, **kwargs: Any
) -> None:
    if isinstance(request, HttpRequest) and hasattr(request, "session") and isinstance(user, User):
        security.on_login(request, user)


def on_user_locked_out(
    sender: object, request: object = None, username: object = None, **kwargs: Any
) -> None:
    """One entry when a pair becomes locked. Axes sends the signal again for every attempt
    refused while locked; those carry no failure count and are already LOGIN_FAILED entries."""
    if not isinstance(request, HttpRequest):
        return
    failures = getattr(request, "axes_failures_since_start", None)
    if failures is None:
        return
    known, name = logged_username(username)  # an unknown name only by its first characters
    audit_record(
        action=actions.LOCKOUT,
        actor=None,
        target=f"user:{known}" if known is not None else "",
        detail={
            "username": name,
            "failures": int(failures),
            "minutes": settings.WENXU_LOGIN_LOCKOUT_MINUTES,
        },
        request=request,
    )
