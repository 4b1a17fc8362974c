"""The working-day calendar without the database (DESIGN §4).

The expected dates come from the State Council's holiday notices for 2025 and 2026, and every day
of both years is cross-checked against the independent `chinesecalendar` package.
"""

from datetime import date, timedelta
from itertools import count

import chinese_calendar
import pytest

from wenxu.lib.workdays import MAX_WORKDAYS, WorkCalendar, package_has_notice

CALENDAR = WorkCalendar()

# The first year whose notice the `holidays` package does not carry (2027 with the pinned
# version); computed so that a package upgrade moves the tests along instead of breaking them.
FIRST_YEAR_WITHOUT_NOTICE = next(year for year in count(2026) if not package_has_notice(year))


def _every_day_of(year: int) -> list[date]:
    first = date(year, 1, 1)
    return [first + timedelta(days=n) for n in range((date(year + 1, 1, 1) - first).days)]


def _range(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


@pytest.mark.parametrize("year", [2025, 2026])
def test_every_day_matches_the_chinesecalendar_package(year):
    days = _every_day_of(year)
    assert len(days) == 365

    mismatches = [
        (day, CALENDAR.is_workday(day), chinese_calendar.is_workday(day))
        for day in days
        if CALENDAR.is_workday(day) != chinese_calendar.is_workday(day)
    ]

    assert mismatches == []


@pytest.mark.parametrize("year", [2025, 2026])
def test_year_has_as_many_working_days_as_the_notice_implies(year):
    # 365 days minus weekends, plus adjusted working weekends, minus holidays on weekdays.
    expected = sum(chinese_calendar.is_workday(day) for day in _every_day_of(year))

    assert CALENDAR.workdays_between(date(year - 1, 12, 31), date(year, 12, 31)) == expected
    assert 245 <= expected <= 252


def test_five_working_days_after_monday_before_national_day_is_the_adjusted_saturday():
    # 9-29, 9-30, (10-1 … 10-7 off), 10-8, 10-9, 10-10 (Saturday, 调休上班).
    result = CALENDAR.add_workdays(date(2026, 9, 28), 5)

    assert result == date(2026, 10, 10)
    assert result.weekday() == 5


@pytest.mark.parametrize(
    "day",
    [
        date(2025, 1, 26),
        date(2025, 2, 8),
        date(2025, 4, 27),
        date(2025, 9, 28),
        date(2025, 10, 11),
        date(2026, 1, 4),
        date(2026, 2, 14),
        date(2026, 2, 28),
        date(2026, 5, 9),
        date(2026, 9, 20),
        date(2026, 10, 10),
    ],
)
def test_adjusted_working_weekend_is_a_working_day(day):
    assert day.weekday() >= 5
    assert CALENDAR.is_workday(day)


@pytest.mark.parametrize(
    ("first", "last"),
    [
        (date(2025, 1, 28), date(2025, 2, 4)),  # 春节 2025
        (date(2025, 10, 1), date(2025, 10, 8)),  # 国庆节、中秋节 2025
        (date(2026, 2, 15), date(2026, 2, 23)),  # 春节 2026
        (date(2026, 10, 1), date(2026, 10, 7)),  # 国庆节 2026
        (date(2026, 1, 1), date(2026, 1, 3)),  # 元旦 2026
    ],
)
def test_statutory_holiday_range_is_off_and_the_next_day_is_worked(first, last):
    days = _range(first, last)

    assert [day for day in days if CALENDAR.is_workday(day)] == []
    assert CALENDAR.is_workday(last + timedelta(days=1))
    # Weekdays inside the range are the point: they would be working days without the notice.
    assert any(day.weekday() < 5 for day in days)


def test_plain_weekend_outside_any_notice_is_off():
    assert not CALENDAR.is_workday(date(2026, 3, 7))  # Saturday
    assert not CALENDAR.is_workday(date(2026, 3, 8))  # Sunday
    assert CALENDAR.is_workday(date(2026, 3, 9))  # Monday


def test_start_date_is_excluded_and_holidays_are_skipped():
    assert CALENDAR.add_workdays(date(2026, 3, 9), 1) == date(2026, 3, 10)
    assert CALENDAR.add_workdays(date(2026, 10, 1), 1) == date(2026, 10, 8)
    # Across the new year: 2026-01-01 … 01-03 off, Sunday 01-04 worked.
    assert CALENDAR.add_workdays(date(2025, 12, 31), 1) == date(2026, 1, 4)


def test_zero_working_days_is_the_day_itself_or_the_next_working_day():
    assert CALENDAR.add_workdays(date(2026, 3, 9), 0) == date(2026, 3, 9)
    assert CALENDAR.add_workdays(date(2026, 10, 1), 0) == date(2026, 10, 8)


def test_workdays_between_counts_the_half_open_interval():
    assert CALENDAR.workdays_between(date(2026, 9, 28), date(2026, 10, 10)) == 5
    assert CALENDAR.workdays_between(date(2026, 10, 10), date(2026, 10, 10)) == 0


@pytest.mark.parametrize("bad", [-1, MAX_WORKDAYS + 1, 10**9, 1.5, True, "5", None])
def test_invalid_working_day_count_is_refused(bad):
    with pytest.raises(ValueError, match="working days"):
        CALENDAR.add_workdays(date(2026, 9, 28), bad)


def test_largest_allowed_count_is_accepted():
    result = CALENDAR.add_workdays(date(2026, 1, 1), MAX_WORKDAYS)

    assert date(2040, 1, 1) < result < date(2042, 1, 1)


def test_count_past_the_end_of_the_calendar_is_refused():
    with pytest.raises(ValueError, match="beyond the calendar"):
        CALENDAR.add_workdays(date(9999, 12, 28), 5)


def test_override_turns_a_working_day_off_and_a_weekend_day_on():
    calendar = WorkCalendar(overrides={date(2026, 10, 9): False, date(2026, 10, 11): True})

    assert not calendar.is_workday(date(2026, 10, 9))
    assert calendar.is_workday(date(2026, 10, 11))
    # 9-29, 9-30, 10-8, 10-10, 10-11
    assert calendar.add_workdays(date(2026, 9, 28), 5) == date(2026, 10, 11)
    assert CALENDAR.add_workdays(date(2026, 9, 28), 5) == date(2026, 10, 10)


def test_years_with_notice_data_are_not_provisional():
    assert FIRST_YEAR_WITHOUT_NOTICE >= 2027
    for year in (2025, 2026):
        assert package_has_notice(year)
        assert not CALENDAR.is_provisional(date(year, 6, 1))


def test_year_without_notice_data_is_computed_but_provisional():
    year = FIRST_YEAR_WITHOUT_NOTICE
    start = date(year, 3, 1)

    assert CALENDAR.is_provisional(start)
    assert CALENDAR.is_provisional(date(2099, 1, 1))
    assert CALENDAR.add_workdays(start, 5) > start  # still computed


def test_notice_entered_by_hand_makes_its_year_definite():
    year = FIRST_YEAR_WITHOUT_NOTICE
    calendar = WorkCalendar(notice_years=frozenset({year}))

    assert not calendar.is_provisional(date(year, 3, 1))
    assert calendar.is_provisional(date(year + 1, 3, 1))


def test_span_into_a_year_without_notice_is_provisional():
    last_known = FIRST_YEAR_WITHOUT_NOTICE - 1

    assert CALENDAR.span_is_provisional(date(last_known, 12, 28), date(last_known + 1, 1, 5))
    assert not CALENDAR.span_is_provisional(date(last_known, 12, 1), date(last_known, 12, 8))
