"""API: the three rates and the counts behind them (issue #6, DESIGN §5)."""

from datetime import date, timedelta
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema

from wenxu.api import schemas as s
from wenxu.api.auth import current_user
from wenxu.api.refs import RefResolver
from wenxu.insight import measures
from wenxu.insight.selectors import StatsFilters, counts_for_user
from wenxu.lib import clock
from wenxu.needs.exceptions import InvalidInput

router = Router(tags=["stats"])

MAX_DAYS = 366 * 3
# No counts before this; an `end` in year 1 would also overflow the default start (a 500).
EARLIEST = date(2000, 1, 1)


class RatesQuery(Schema):
    area: int | None = Field(None, description="区域 id（含下级区域）")
    unit: int | None = Field(None, description="责任单位 id（含下级单位）")
    category: int | None = Field(None, description="分类 id（含子分类）")
    start: date | None = Field(None, description="起始日期（含），默认结束日期前 29 天")
    end: date | None = Field(None, description="结束日期（含），默认今天")


class RateOut(Schema):
    value: float | None = Field(description="0–1；没有分母时为 null")
    percent: str
    numerator: float
    denominator: int
    formula: str
    counts: dict[str, int]


class RatesOut(Schema):
    start: date
    end: date
    response_rate: RateOut
    ontime_rate: RateOut
    resolution_rate: RateOut
    satisfaction_rate: RateOut
    callback_rate: RateOut
    counts: dict[str, int] = Field(description="期间内各项计数之和")


def _rate_json(rate: measures.Rate) -> dict[str, Any]:
    return {
        "value": float(rate.value) if rate.value is not None else None,
        "percent": rate.percent,
        "numerator": float(rate.numerator),
        "denominator": rate.denominator,
        "formula": rate.formula,
        "counts": rate.counts,
    }


@router.get(
    "/stats/rates",
    response={200: RatesOut, 401: s.ErrorOut, 422: s.InvalidOut},
    operation_id="stats_rates",
    summary="三率及其计数（按权限范围）",
)
def stats_rates(request: HttpRequest, query: Query[RatesQuery]) -> dict[str, Any]:
    """响应率、按期办结率、解决率、满意率、回访率, each with its formula and the counts behind it,
    over the caller's scope (and the optional area, unit and category subtree) for the days
    `start`…`end` (local dates, inclusive). Read from the daily rollups, which lag the ledger by
    a few minutes."""
    user = current_user(request)
    refs = RefResolver()
    area = refs.area(query.area)
    unit = refs.unit(query.unit, "unit")
    category = refs.category(query.category)
    errors = dict(refs.errors)
    for name in ("start", "end"):
        day = getattr(query, name)
        if day is not None and day < EARLIEST:
            errors[name] = [_("日期不能早于 2000-01-01。")]
    if errors:
        raise InvalidInput(errors)
    end = query.end or clock.today()
    start = query.start or end - timedelta(days=29)
    if start > end:
        errors["start"] = [_("起始日期不能晚于结束日期。")]
    elif (end - start).days >= MAX_DAYS:
        errors["start"] = [_("一次最多统计 3 年。")]
    if errors:
        raise InvalidInput(errors)
    counts = counts_for_user(
        user=user,
        filters=StatsFilters(start=start, end=end, area=area, unit=unit, category=category),
    )
    totals = counts.totals(start, end)
    out: dict[str, Any] = {"start": start, "end": end, "counts": totals}
    for name, rate in measures.rates(totals).items():
        out[name] = _rate_json(rate)
    return out
