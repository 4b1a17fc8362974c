"""Periods of the statistics (/stats/ and the API): what a period choice names and what it is
compared with."""

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
