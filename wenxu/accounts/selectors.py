"""Who may see and do what: memberships resolved once per request (DESIGN §2), and kept
between requests under the configuration generation (ADR 0026)."""

from dataclasses import dataclass

from wenxu.accounts.models import Membership, User
from wenxu.core import generation


@dataclass(frozen=True)
class Scope:
    role: str
    area_path: str | None
    unit_path: str | None


def _scopes(user_id: int) -> tuple[Scope, ...]:
    rows = (
        Membership.objects.filter(user_id=user_id)
        .order_by("pk")
        .values_list("role", "area__path", "unit__path")
    )
    return tuple(Scope(role=role, area_path=area, unit_path=unit) for role, area, unit in rows)


def scopes_for_user(user: User) -> list[Scope]:
    """The user's memberships as (role, scope path) pairs, cached on the user object and, in a
    request, kept under the configuration generation (a membership's change, or a move of its
    area or unit, changes the generation)."""
    cached: list[Scope] | None = getattr(user, "_wenxu_scopes", None)
    if cached is not None:
        return cached
    if user.pk is None:
        scopes: list[Scope] = []
    else:
        scopes = list(generation.remember("scopes", user.pk, lambda: _scopes(user.pk)))
    user._wenxu_scopes = scopes  # type: ignore[attr-defined]
    return scopes


def user_roles(user: User) -> set[str]:
    return {scope.role for scope in scopes_for_user(user)}


def roles_over_area(user: User, area_path: str) -> set[str]:
    return {
        s.role for s in scopes_for_user(user) if s.area_path and area_path.startswith(s.area_path)
    }
