"""Date windows of the coverage page and of visit plans: months, quarters, years, custom dates.

All in the default time zone (Asia/Shanghai): a window runs from local midnight of its first day
(inclusive) to local midnight after its last day (exclusive).

A plan's periods within a window (`plan_spans`): the window is first clipped to the plan's
starts_on / ends_on; each of the plan's months, quarters or years that the clipped window touches
on at least one day counts as one whole period (so a monthly plan starting 15 March counts March),
and the part of it inside the clipped window is where its visits count.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext_lazy

from wenxu.visits.models import PlanPeriod

PERIOD_CHOICES: tuple[tuple[str, Any], ...] = (
    ("this_month", gettext_lazy("本月")),
    ("last_month", gettext_lazy("上月")),
    ("this_quarter", gettext_lazy("本季度")),
    ("last_quarter", gettext_lazy("上季度")),
    ("this_year", gettext_lazy("今年")),
    ("custom", gettext_lazy("自定义")),
)
DEFAULT_PERIOD = "this_quarter"
MAX_CUSTOM_DAYS = 3 * 366


@dataclass(frozen=True)
class Window:
    """A run of whole local days: `first_day` to `last_day`, both included."""

    first_day: date
    last_day: date

    @property
    def start(self) -> datetime:
        return local_midnight(self.first_day)

    @property
    def end(self) -> datetime:
        """Exclusive: local midnight after the last day."""
        return local_midnight(self.last_day + timedelta(days=1))

    def clip(self, starts_on: date, ends_on: date | None) -> "Window | None":
        """The days of this window from `starts_on` to `ends_on` (open when None); None when
        they do not meet."""
        first = max(self.first_day, starts_on)
        last = self.last_day if ends_on is None else min(self.last_day, ends_on)
        return Window(first, last) if first <= last else None


def local_midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_default_timezone())


def month_window(ref: date) -> Window:
    first = ref.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return Window(first, following - timedelta(days=1))


def quarter_window(ref: date) -> Window:
    first_month = (ref.month - 1) // 3 * 3 + 1
    first = date(ref.year, first_month, 1)
    last = month_window(date(ref.year, first_month + 2, 1)).last_day
    return Window(first, last)


def year_window(ref: date) -> Window:
    return Window(date(ref.year, 1, 1), date(ref.year, 12, 31))


def period_window(period: str, ref: date) -> Window:
    """The month, quarter or year (a `PlanPeriod` value) containing `ref`."""
    if period == PlanPeriod.MONTH:
        return month_window(ref)
    if period == PlanPeriod.QUARTER:
        return quarter_window(ref)
    if period == PlanPeriod.YEAR:
        return year_window(ref)
    raise ValueError(period)


def window_for_choice(
    choice: str, *, today: date, start: date | None = None, end: date | None = None
) -> Window:
    """The window a period picker choice names. `custom` needs `start` and `end`."""
    if choice == "this_month":
        return month_window(today)
    if choice == "last_month":
        return month_window(today.replace(day=1) - timedelta(days=1))
    if choice == "this_quarter":
        return quarter_window(today)
    if choice == "last_quarter":
        return quarter_window(quarter_window(today).first_day - timedelta(days=1))
    if choice == "this_year":
        return year_window(today)
    if choice == "custom" and start is not None and end is not None:
        return Window(start, end)
    raise ValueError(choice)


def period_spans(period: str, window: Window) -> list[Window]:
    """Each month, quarter or year that the window touches, cut to the window, in order."""
    spans: list[Window] = []
    day = window.first_day
    while day <= window.last_day:
        whole = period_window(period, day)
        spans.append(Window(day, min(whole.last_day, window.last_day)))
        day = whole.last_day + timedelta(days=1)
    return spans


def plan_spans(
    *, period: str, starts_on: date, ends_on: date | None, window: Window
) -> list[Window]:
    """The plan's periods that count in `window` (see the module docstring), each cut to the
    window and the plan's dates; empty when the plan is not in force on any day of the window."""
    clipped = window.clip(starts_on, ends_on)
    return [] if clipped is None else period_spans(period, clipped)
