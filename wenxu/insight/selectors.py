"""Reading the rollups in the caller's scope (DESIGN §2): area scopes by the need's area, unit
scopes by the lead unit, like the ledger."""

from dataclasses import dataclass
from datetime import date

from django.db.models import Q, QuerySet

from wenxu.accounts.models import User
from wenxu.accounts.selectors import scopes_for_user
from wenxu.insight.models import DailyCount
from wenxu.needs.models import Category
from wenxu.organisations.models import Area, Unit


@dataclass(frozen=True)
class StatsFilters:
    start: date
    end: date  # inclusive
    area: Area | None = None
    unit: Unit | None = None
    category: Category | None = None


def scope_q(user: User) -> Q | None:
    """Rows the user may count, or None when they may count nothing."""
    if not user.is_active:
        return None
    q = Q()
    found = False
    for scope in scopes_for_user(user):
        if scope.area_path:
            q |= Q(area_path__startswith=scope.area_path)
            found = True
        elif scope.unit_path:
            q |= Q(unit_path__startswith=scope.unit_path)
            found = True
    return q if found else None


def daily_counts_for_user(*, user: User, filters: StatsFilters) -> "QuerySet[DailyCount]":
    scope = scope_q(user)
    if scope is None:
        return DailyCount.objects.none()
    rows = DailyCount.objects.filter(scope, day__gte=filters.start, day__lte=filters.end)
    if filters.area is not None:
        rows = rows.filter(area_path__startswith=filters.area.path)
    if filters.unit is not None:
        rows = rows.filter(unit_path__startswith=filters.unit.path)
    if filters.category is not None:
        rows = rows.filter(
            category__in=Category.objects.filter(path__startswith=filters.category.path)
        )
    return rows
