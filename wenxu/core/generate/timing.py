"""Time for the generator: the working-day calendar and deadlines, cached per day, and office hours.

Deadlines are computed with the project's own `wenxu.needs.deadlines.due_after` and the calendar
the services would use (`current_calendar`), once per local start date: a deadline in working
days depends only on the day it starts, so a dictionary makes a million of them cheap.
"""

from datetime import UTC, date, datetime, timedelta
from random import Random
from zoneinfo import ZoneInfo

from django.conf import settings

from wenxu.lib.workdays import WorkCalendar
from wenxu.needs import deadlines
from wenxu.needs.models import DurationUnit

LOCAL = ZoneInfo(settings.TIME_ZONE)


_days: dict[int, date] = {}


def local_date(moment: datetime) -> date:
    """The site's local date of `moment`, memoised per quarter hour (zones change offset at
    quarter hours at the finest)."""
    quarter = int(moment.timestamp() // 900)
    found = _days.get(quarter)
    if found is None:
        found = _days[quarter] = moment.astimezone(LOCAL).date()
    return found


def utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


class Clockwork:
    """Deadlines and working days, memoised."""

    def __init__(self, calendar: WorkCalendar) -> None:
        self.calendar = calendar
        self.version = calendar.version
        self._dues: dict[tuple[date, int], tuple[datetime, bool]] = {}
        self._workdays: dict[date, bool] = {}

    def due_after(self, start: datetime, value: int, unit: str) -> tuple[datetime, bool]:
        """`deadlines.due_after` (the same value, the same time zone in its isoformat)."""
        if unit == DurationUnit.HOURS:
            return start + timedelta(hours=value), False
        key = (local_date(start), value)
        found = self._dues.get(key)
        if found is None:
            found = deadlines.due_after(start, value, unit, self.calendar)
            self._dues[key] = found
        return found

    def is_workday(self, day: date) -> bool:
        found = self._workdays.get(day)
        if found is None:
            found = self.calendar.is_workday(day)
            self._workdays[day] = found
        return found

    def office(self, moment: datetime, rng: Random, *, strict: bool = False) -> datetime:
        """`moment`, or the next office morning when it falls outside office hours (8:00–18:00
        on a working day). Some staff work evenings and weekends: unless `strict`, one time in
        eight is left where it falls."""
        local = moment.astimezone(LOCAL)
        if self.is_workday(local.date()) and 8 <= local.hour < 18:
            return moment
        if not strict and rng.random() < 0.125:
            return moment
        day = local.date() + timedelta(days=1 if local.hour >= 8 else 0)
        while not self.is_workday(day):
            day += timedelta(days=1)
        morning = datetime(day.year, day.month, day.day, 8, tzinfo=LOCAL) + timedelta(
            seconds=rng.uniform(0, 100 * 60)
        )
        return morning.astimezone(UTC)
