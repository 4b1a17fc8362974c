"""What every page's navigation needs to know about the viewer."""

from django.http import HttpRequest

from wenxu.accounts.models import AREA_ROLES, User
from wenxu.accounts.selectors import user_roles


def navigation(request: HttpRequest) -> dict[str, object]:
    user = getattr(request, "user", None)
    if not isinstance(user, User) or not user.is_authenticated:
        return {"nav_roles": frozenset()}
    roles = user_roles(user)
    return {
        "nav_roles": frozenset(roles),
        "nav_can_register": bool(roles & {"officer", "dispatcher"}),
        # Visits and coverage belong to areas: every area role reads them.
        "nav_sees_visits": bool(roles & AREA_ROLES),
    }
