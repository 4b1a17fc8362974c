"""What every page's navigation needs to know about the viewer."""

from django.http import HttpRequest

from wenxu.accounts.models import AREA_ROLES, User
from wenxu.accounts.selectors import user_roles

# Pages of 举一反三 (issue #7): the nav item "举一反三" (or "专题") is lit on these.
ANALYSIS_PAGES = frozenset({"hot", "hot_group", "hot_run_status", "signals", "signal"})


def _section(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    if match is None:
        return ""
    if match.namespace == "topics" or (
        match.namespace == "insight" and match.url_name in ANALYSIS_PAGES
    ):
        return "analysis"
    if match.namespace in {"insight", "report"}:
        return "stats"
    return ""


def navigation(request: HttpRequest) -> dict[str, object]:
    # The language switch returns here (a hole of kept frames: wenxu.core.frames).
    path = request.get_full_path()
    user = getattr(request, "user", None)
    if not isinstance(user, User) or not user.is_authenticated:
        return {"nav_roles": frozenset(), "nav_path": path}
    roles = user_roles(user)
    return {
        "nav_path": path,
        "nav_roles": frozenset(roles),
        "nav_can_register": bool(roles & {"officer", "dispatcher"}),
        # Visits and coverage belong to areas: every area role reads them.
        "nav_sees_visits": bool(roles & AREA_ROLES),
        "nav_section": _section(request),
    }
