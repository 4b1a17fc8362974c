"""Planting rollup rows in tests, as the catch-up writes them: the daily row and, in the same
breath, what it adds to the scope rollups (ADR 0023), so that the statistics read the same
numbers whichever rows they read."""

from collections import Counter
from datetime import date

from wenxu.insight.models import DailyCount
from wenxu.insight.rollups import Dims, scope_counts_add
from wenxu.needs.models import Category
from wenxu.organisations.models import Area, Unit


def plant(
    day: date,
    area: Area,
    unit: Unit | None = None,
    category: Category | None = None,
    **counters: int,
) -> DailyCount:
    """One daily rollup row (a new day × area × unit × category) and its scope rollups."""
    dims = Dims(
        day=day,
        area_id=area.pk,
        area_path=area.path,
        unit_id=unit.pk if unit else None,
        unit_path=unit.path if unit else "",
        category_id=category.pk if category else None,
    )
    scope_counts_add({dims: Counter(counters)})
    return DailyCount.objects.create(
        key=dims.key,
        day=day,
        area=area,
        area_path=area.path,
        unit=unit,
        unit_path=dims.unit_path,
        category=category,
        **counters,
    )
