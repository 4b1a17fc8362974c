"""Who may see and do what: memberships resolved once per request (DESIGN §2)."""

from dataclasses import dataclass

from wenxu.accounts.models import Membership, User


@dataclass(frozen=True)
class Scope:
    role: str
    area_path: str | None
    unit_path: str | None


def scopes_for_user(user: User) -> list[Scope]:
    """The user's memberships as (role, scope path) pairs, cached on the user object."""
    cached: list[Scope] | None = getattr(user, "_wenxu_scopes", None)
    if cached is not None:
        return cached
    scopes = [
        Scope(
            role=m.role,
            area_path=m.area.path if m.area else None,
            unit_path=m.unit.path if m.unit else None,
        )
        for m in Membership.objects.filter(user=user).select_related("area", "unit")
    ]
    user._wenxu_scopes = scopes  # type: ignore[attr-defined]
    return scopes


def user_roles(user: User) -> set[str]:
    return {scope.role for scope in scopes_for_user(user)}


def roles_over_area(user: User, area_path: str) -> set[str]:
    return {
        s.role for s in scopes_for_user(user) if s.area_path and area_path.startswith(s.area_path)
    }
