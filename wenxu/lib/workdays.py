"""China's working-day calendar: statutory holidays and adjusted working weekends (调休).

Built on the `holidays` package (State Council notices up to the year its data covers) plus an
override table that an administrator fills from the next notice. Pure Python: the database side
(loading overrides, the calendar version) lives in `wenxu.needs.deadlines`.

A date in a year for which neither the package nor the overrides hold notice data is computed
from the fixed-date rules the package knows and weekends, and flagged *provisional*.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache

from holidays import HolidayBase
from holidays.countries import China

MAX_WORKDAYS = 3660  # ten years: anything larger is a typo, not a deadline


@lru_cache(maxsize=64)
def _china(year: int) -> HolidayBase:
    return China(years=year)


@lru_cache(maxsize=64)
def package_has_notice(year: int) -> bool:
    """True when the `holidays` package carries the State Council notice for `year`.

    Every notice since 2008 moves at least one weekend to a working day (调休); the package
    records those as `weekend_workdays` only for the years whose notice it knows.
    """
    calendar = _china(year)
    return any(day.year == year for day in calendar.weekend_workdays)


def package_is_workday(day: date) -> bool:
    return bool(_china(day.year).is_working_day(day))


@dataclass(frozen=True)
class WorkCalendar:
    """A working-day calendar: the package's data with overrides on top.

    `overrides` maps a date to True (a working day, e.g. 调休上班) or False (a day off).
    `notice_years` are the years an administrator entered a notice for.
    """

    overrides: Mapping[date, bool] = field(default_factory=dict)
    notice_years: frozenset[int] = frozenset()
    version: str = "pkg"

    def is_workday(self, day: date) -> bool:
        override = self.overrides.get(day)
        if override is not None:
            return override
        return package_is_workday(day)

    def is_provisional(self, day: date) -> bool:
        return day.year not in self.notice_years and not package_has_notice(day.year)

    def add_workdays(self, start: date, count: int) -> date:
        """The date `count` working days after `start` (start itself excluded).

        `count == 0` gives `start` when it is a working day, else the next working day.
        """
        # A float or bool would slip past the range check and, for a fraction, never reach 0.
        if not isinstance(count, int) or isinstance(count, bool):
            raise ValueError(f"working days must be a whole number, not {count!r}")
        if count < 0 or count > MAX_WORKDAYS:
            raise ValueError(f"working days must be between 0 and {MAX_WORKDAYS}, not {count}")
        day = start
        try:
            if count == 0:
                while not self.is_workday(day):
                    day += timedelta(days=1)
                return day
            remaining = count
            while remaining:
                day += timedelta(days=1)
                if self.is_workday(day):
                    remaining -= 1
        except OverflowError:
            raise ValueError(f"{count} working days after {start} is beyond the calendar") from None
        return day

    def span_is_provisional(self, start: date, end: date) -> bool:
        return any(
            self.is_provisional(date(year, 1, 1)) for year in range(start.year, end.year + 1)
        )

    def workdays_between(self, start: date, end: date) -> int:
        """Working days in (start, end]."""
        count = 0
        day = start
        while day < end:
            day += timedelta(days=1)
            if self.is_workday(day):
                count += 1
        return count
