"""The lockout check in front of the password check (django-axes; wenxu.accounts.lockout), and
the password check and permissions (Django's ModelBackend, its permissions kept between
requests)."""

from typing import Any

from axes.backends import AxesStandaloneBackend
from django.contrib.auth.backends import ModelBackend
from django.db.models import Model
from django.http import HttpRequest

from wenxu.accounts.models import User
from wenxu.core import generation


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


class ModelBackendKeepingPermissions(ModelBackend):
    """Django's ModelBackend, whose answers to "which permissions does this user hold" are kept
    between requests under the configuration generation (ADR 0026): a page asks for the
    reveal permission on every load, two queries each time. The generation changes with any
    change of a user's or a group's permissions or of a user's groups, so a permission taken
    away is gone at the next request, on every server. Superusers and inactive users are
    answered as before (their answer follows from the user row, which every request has)."""

    def get_user(self, user_id: Any) -> Any:
        """The signed-in user, wanted on every request: a new object each time, from the row
        kept between requests under the configuration generation, which any change to the
        user but a login's changes (ADR 0032). Outside a request, read."""
        if not isinstance(user_id, int):  # the session's key is an int (`pk.to_python`)
            return super().get_user(user_id)
        user = generation.kept_instances(User, [user_id]).get(user_id)
        return user if user is not None and self.user_can_authenticate(user) else None

    def get_user_permissions(self, user_obj: Any, obj: Model | None = None) -> set[str]:
        if not self._kept(user_obj, obj):
            return super().get_user_permissions(user_obj, obj)
        found = super().get_user_permissions
        return set(
            generation.remember("user_permissions", user_obj.pk, lambda: frozenset(found(user_obj)))
        )

    def get_group_permissions(self, user_obj: Any, obj: Model | None = None) -> set[str]:
        if not self._kept(user_obj, obj):
            return super().get_group_permissions(user_obj, obj)
        found = super().get_group_permissions
        return set(
            generation.remember(
                "group_permissions", user_obj.pk, lambda: frozenset(found(user_obj))
            )
        )

    @staticmethod
    def _kept(user_obj: Any, obj: Model | None) -> bool:
        return (
            obj is None
            and user_obj.is_active
            and not user_obj.is_anonymous
            and not user_obj.is_superuser
            and user_obj.pk is not None
        )
