"""Periods of the statistics (/stats/ and the API): what a period choice names and what it is
compared with."""

import calendar
import functools
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.utils.translation import gettext_lazy

from wenxu.visits.periods import month_window, quarter_window

PERIOD_CHOICES: tuple[tuple[str, Any], ...] = (
    ("last_30_days", gettext_lazy("最近 30 天")),
    ("this_month", gettext_lazy("本月")),
    ("last_month", gettext_lazy("上月")),
    ("this_quarter", gettext_lazy("本季度")),
    ("this_year", gettext_lazy("今年")),
    ("custom", gettext_lazy("自定义")),
)
DEFAULT_PERIOD = "last_30_days"  # the API's default window too
MAX_DAYS = 366 * 3  # as the API
WEEKLY_AFTER_DAYS = 60  # longer periods trend per week


def period_dates(
    choice: str, *, today: date, start: date | None = None, end: date | None = None
) -> tuple[date, date]:
    """The first and last day (both included) a period choice names. Periods that run on
    past today (this month, quarter, year) stop at today: the days to come have no numbers."""
    if choice == "last_30_days":
        return today - timedelta(days=29), today
    if choice == "this_month":
        return today.replace(day=1), today
    if choice == "last_month":
        window = month_window(today.replace(day=1) - timedelta(days=1))
        return window.first_day, window.last_day
    if choice == "this_quarter":
        return quarter_window(today).first_day, today
    if choice == "this_year":
        return date(today.year, 1, 1), today
    if choice == "custom" and start is not None and end is not None:
        return start, end
    raise ValueError(choice)


CALENDAR_MONTHS = {"this_month": 1, "last_month": 1, "this_quarter": 3, "this_year": 12}


def _months_back(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 - months
    return day.replace(year=index // 12, month=index % 12 + 1)


def previous_period(start: date, end: date, choice: str = "custom") -> tuple[date, date]:
    """The period a period is compared with. For a calendar period (this or last month, this
    quarter, this year) the calendar period before it, cut to as many days when the current one
    is not over yet (本月 1–29 November → 1–29 October; 上月 October → all of September, as the
    月报 compares); otherwise the same number of days just before `start`."""
    months = CALENDAR_MONTHS.get(choice)
    if months is None:
        days = (end - start).days + 1
        return start - timedelta(days=days), start - timedelta(days=1)
    first = _months_back(start, months)
    return first, min(first + (end - start), start - timedelta(days=1))


# --------------------------------------------------------------------------- covers
#
# The scope rollups (ScopeCount) hold days, months and years. A period is read as a few of
# them, added or taken away: 1–29 October is October less its 30th and 31st; the twelve months
# to 29 November 2026 are 30 November 2025, December 2025 and the year 2026 less the days
# after today (none have counts yet, so reading them costs nothing). `cover` picks the sum
# that reads the fewest rows by a rough cost per block.

GRAINS = ("y", "m", "d")
FUTURE_DAY_COST = 0.01  # days after today: nothing (or a visit's clock drift) to read


@dataclass(frozen=True)
class Span:
    """The blocks of one grain whose first days run `first`…`last`, added (+1) or taken
    away (−1)."""

    grain: str  # "d", "m", "y"
    first: date
    last: date
    sign: int


def _block(day: date, grain: str) -> tuple[date, date]:
    if grain == "y":
        return date(day.year, 1, 1), date(day.year, 12, 31)
    if grain == "m":
        return day.replace(day=1), day.replace(day=calendar.monthrange(day.year, day.month)[1])
    return day, day


def _best(
    start: date, end: date, level: int, costs: dict[str, float], today: date
) -> tuple[float, list[tuple[str, date, int]]]:
    """The cheapest signed blocks of GRAINS[level:] whose sum is the days start…end."""
    if start > end:
        return 0.0, []
    grain = GRAINS[level]
    if grain == "d":
        days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
        cost = sum(costs["d"] if day <= today else FUTURE_DAY_COST for day in days)
        return cost, [("d", day, 1) for day in days]
    one = timedelta(days=1)
    total, out = 0.0, []
    first, last = _block(start, grain)
    while first <= end:
        low, high = max(start, first), min(end, last)
        if (low, high) == (first, last):
            cost = costs[grain] if first <= today else FUTURE_DAY_COST
            parts = [(grain, first, 1)]
        else:
            cost, parts = _best(low, high, level + 1, costs, today)
            head_cost, head = (
                _best(first, low - one, level + 1, costs, today) if low > first else (0.0, [])
            )
            tail_cost, tail = (
                _best(high + one, last, level + 1, costs, today) if high < last else (0.0, [])
            )
            whole = costs[grain] if first <= today else FUTURE_DAY_COST
            if whole + head_cost + tail_cost < cost:
                cost = whole + head_cost + tail_cost
                parts = [(grain, first, 1)] + [(g, b, -s) for g, b, s in head + tail]
        total += cost
        out += parts
        if last >= end:
            break
        first, last = _block(last + one, grain)
    return total, out


def cover(start: date, end: date, *, today: date, costs: dict[str, float]) -> list[Span]:
    """Signed spans of days, months and years whose sum is exactly the days start…end
    (inclusive), the cheapest by `costs` (the rows one block of each grain reads)."""
    return list(_cover(start, end, today, tuple(sorted(costs.items()))))


@functools.lru_cache(maxsize=256)
def _cover(
    start: date, end: date, today: date, cost_items: tuple[tuple[str, float], ...]
) -> tuple[Span, ...]:
    # a pure function of the calendar, remembered: every page of a day asks for the same
    # few periods (this month, the last twelve months …), and working one out is a search
    costs = dict(cost_items)
    signs: dict[tuple[str, date], int] = {}
    for grain, block, sign in _best(start, end, 0, costs, today)[1]:
        signs[grain, block] = signs.get((grain, block), 0) + sign
    spans: list[Span] = []
    for (grain, block), sign in sorted(signs.items()):
        if sign == 0:
            continue
        assert sign in (1, -1), (grain, block, sign)
        previous = spans[-1] if spans else None
        if (
            previous is not None
            and (previous.grain, previous.sign) == (grain, sign)
            and _block(previous.last, grain)[1] + timedelta(days=1) == block
        ):
            spans[-1] = Span(grain, previous.first, block, sign)
        else:
            spans.append(Span(grain, block, block, sign))
    return tuple(spans)
