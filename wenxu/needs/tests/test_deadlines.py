"""Deadlines (DESIGN §4): the calendar with the admin's overrides, the rules, and due dates stored
when a need is assigned, extended or reopened."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import timezone

from wenxu.lib.workdays import WorkCalendar, package_has_notice
from wenxu.needs import deadlines, services
from wenxu.needs.deadlines import DEFAULT_RULES, current_calendar, rule_for
from wenxu.needs.models import Category, DeadlineRule, HolidayOverride

SHANGHAI = ZoneInfo("Asia/Shanghai")
FUTURE_YEAR = next(year for year in range(2026, 2100) if not package_has_notice(year))


def local(year, month, day, hour=0, minute=0):
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def end_of(year, month, day):
    return datetime(year, month, day, 23, 59, 59, tzinfo=SHANGHAI)


def rule(category=None, urgency="normal", *, response=1, resolve=5, unit="workdays", **extra):
    return DeadlineRule.objects.create(
        category=category,
        urgency=urgency,
        response_value=response,
        response_unit=unit,
        resolve_value=resolve,
        resolve_unit=unit,
        **extra,
    )


# --------------------------------------------------------------------------- calendar from the DB


@pytest.mark.django_db
def test_current_calendar_without_overrides_is_the_package_calendar():
    calendar = current_calendar()

    assert calendar.add_workdays(date(2026, 9, 28), 5) == date(2026, 10, 10)
    assert calendar.version.endswith("+none")


@pytest.mark.django_db
def test_override_making_a_day_off_moves_the_result():
    HolidayOverride.objects.create(date=date(2026, 10, 9), is_workday=False, note="临时放假")

    calendar = current_calendar()

    assert not calendar.is_workday(date(2026, 10, 9))
    # 9-29, 9-30, 10-8, 10-10, 10-12
    assert calendar.add_workdays(date(2026, 9, 28), 5) == date(2026, 10, 12)


@pytest.mark.django_db
def test_override_making_a_sunday_a_working_day_moves_the_result():
    HolidayOverride.objects.create(date=date(2026, 10, 11), is_workday=True, note="调休上班")

    calendar = current_calendar()

    assert calendar.is_workday(date(2026, 10, 11))
    assert calendar.add_workdays(date(2026, 9, 28), 6) == date(2026, 10, 11)


@pytest.mark.django_db
def test_calendar_version_names_the_overrides():
    before = current_calendar().version
    HolidayOverride.objects.create(date=date(2026, 10, 9), is_workday=False)
    after = current_calendar().version
    HolidayOverride.objects.filter(date=date(2026, 10, 9)).update(note="只改说明")

    assert before != after
    assert current_calendar().version == after  # the note does not change the calendar
    assert len(after) <= 40  # fits Need.calendar_version


@pytest.mark.django_db
def test_year_without_notice_is_provisional_until_an_override_is_entered():
    assert FUTURE_YEAR >= 2027
    assert not current_calendar().is_provisional(date(2026, 6, 1))
    assert current_calendar().is_provisional(date(FUTURE_YEAR, 6, 1))

    HolidayOverride.objects.create(date=date(FUTURE_YEAR, 10, 1), is_workday=False, note="国庆节")

    assert not current_calendar().is_provisional(date(FUTURE_YEAR, 6, 1))
    assert current_calendar().is_provisional(date(FUTURE_YEAR + 1, 6, 1))


# --------------------------------------------------------------------------- rules


@pytest.mark.django_db
def test_without_rules_the_shipped_defaults_apply():
    assert rule_for(category=None, urgency="normal") == DEFAULT_RULES["normal"]
    assert DEFAULT_RULES["normal"].resolve_value == 5
    assert DEFAULT_RULES["urgent"].response_value == 2
    assert DEFAULT_RULES["urgent"].response_unit == "hours"
    assert DEFAULT_RULES["urgent"].resolve_value == 24
    assert DEFAULT_RULES["complex"].resolve_value == 15


def test_default_rule_beats_the_shipped_defaults(world):
    rule(None, resolve=10)

    assert rule_for(category=world.cat_roads, urgency="normal").resolve_value == 10
    assert rule_for(category=None, urgency="normal").resolve_value == 10


def test_parent_category_rule_beats_the_default_rule(world):
    rule(None, resolve=10)
    rule(world.cat_roads.parent, resolve=8)

    assert rule_for(category=world.cat_roads, urgency="normal").resolve_value == 8


def test_category_rule_beats_its_parents_rule(world):
    rule(None, resolve=10)
    rule(world.cat_roads.parent, resolve=8)
    rule(world.cat_roads, resolve=3)

    assert rule_for(category=world.cat_roads, urgency="normal").resolve_value == 3
    # The sibling inherits from the parent, not from the other child.
    assert rule_for(category=world.cat_water, urgency="normal").resolve_value == 8


def test_nearest_ancestor_rule_wins_for_a_deep_category(world):
    streetlights = Category.objects.create(name="路灯", parent=world.cat_roads)
    rule(world.cat_roads.parent, resolve=8)
    rule(world.cat_roads, resolve=3)

    assert rule_for(category=streetlights, urgency="normal").resolve_value == 3


def test_rule_of_another_urgency_does_not_apply(world):
    rule(world.cat_roads, urgency="complex", resolve=20)

    assert rule_for(category=world.cat_roads, urgency="normal") == DEFAULT_RULES["normal"]
    assert rule_for(category=world.cat_roads, urgency="complex").resolve_value == 20


def test_assignment_uses_the_most_specific_rule(world):
    rule(None, resolve=10)
    rule(world.cat_roads, resolve=3)

    with time_machine.travel(local(2026, 3, 9, 10), tick=False):
        need = world.assigned()

    # Monday 3-9 + 3 working days
    assert need.resolve_due == end_of(2026, 3, 12)


# ----------------------------------------------------------------------- due dates at assignment


def test_normal_need_gets_one_and_five_working_days(world):
    with time_machine.travel(local(2026, 9, 28, 10), tick=False):
        need = world.assigned()

    assert need.response_due == end_of(2026, 9, 29)
    assert need.resolve_due == end_of(2026, 10, 10)
    assert need.original_resolve_due == need.resolve_due
    assert not need.due_provisional


def test_assigned_late_evening_before_the_holiday_counts_from_the_local_date(world):
    # 2026-09-30 23:30 in Shanghai is 15:30 UTC; the holiday starts at local midnight.
    at = local(2026, 9, 30, 23, 30)
    assert at.astimezone(UTC).hour == 15

    with time_machine.travel(at, tick=False):
        need = world.assigned()

    need.refresh_from_db()
    assert need.assigned_at == at
    assert need.response_due == end_of(2026, 10, 8)
    # 10-8, 10-9, 10-10 (Saturday worked), 10-12, 10-13
    assert need.resolve_due == end_of(2026, 10, 13)
    assert timezone.localtime(need.resolve_due, SHANGHAI).time().isoformat() == "23:59:59"


def test_assigned_early_morning_counts_from_the_local_date_not_the_utc_date(world):
    # 07:30 in Shanghai is still the previous day (23:30) in UTC.
    at = local(2026, 9, 30, 7, 30)
    assert at.astimezone(UTC).date() == date(2026, 9, 29)

    with time_machine.travel(at, tick=False):
        need = world.assigned()

    assert need.response_due == end_of(2026, 10, 8)  # from 9-29 it would be 9-30
    assert need.resolve_due == end_of(2026, 10, 13)


def test_assigned_just_after_midnight_on_monday_counts_from_monday(world):
    at = local(2026, 9, 28, 0, 30)  # Sunday 16:30 UTC
    with time_machine.travel(at, tick=False):
        need = world.assigned()

    assert need.resolve_due == end_of(2026, 10, 10)  # from Sunday 9-27 it would be 10-9


def test_due_dates_follow_shanghai_whatever_time_zone_is_active(world):
    with time_machine.travel(local(2026, 9, 30, 7, 30), tick=False), timezone.override("UTC"):
        need = world.assigned()

    assert need.response_due == end_of(2026, 10, 8)
    assert need.resolve_due == end_of(2026, 10, 13)


def test_urgent_need_counts_calendar_hours_through_the_holiday(world):
    at = local(2026, 9, 30, 23, 30)
    with time_machine.travel(at, tick=False):
        need = world.assigned(urgency="urgent")

    assert need.response_due == at + timedelta(hours=2)
    assert need.resolve_due == at + timedelta(hours=24)
    assert timezone.localtime(need.resolve_due, SHANGHAI).date() == date(2026, 10, 1)
    assert not need.due_provisional


def test_urgent_rule_in_hours_from_the_table_is_used(world):
    rule(world.cat_roads, urgency="urgent", response=1, resolve=12, unit="hours")
    at = local(2026, 10, 3, 9)  # a holiday: hours still count
    with time_machine.travel(at, tick=False):
        need = world.assigned(urgency="urgent")

    assert need.response_due == at + timedelta(hours=1)
    assert need.resolve_due == at + timedelta(hours=12)


def test_due_date_in_a_year_without_notice_is_stored_as_provisional(world):
    last_known = FUTURE_YEAR - 1
    with time_machine.travel(local(last_known, 12, 29, 10), tick=False):
        need = world.assigned()

    need.refresh_from_db()
    assert timezone.localtime(need.resolve_due, SHANGHAI).year == FUTURE_YEAR
    assert need.due_provisional
    assert need.events.get(action="assign").data["provisional"] is True


def test_due_date_within_a_known_year_is_not_provisional(world):
    with time_machine.travel(local(2026, 6, 1, 10), tick=False):
        need = world.assigned()

    assert not need.due_provisional


def test_due_date_in_a_year_whose_notice_was_entered_is_not_provisional(world):
    HolidayOverride.objects.create(date=date(FUTURE_YEAR, 1, 1), is_workday=False, note="元旦")
    with time_machine.travel(local(FUTURE_YEAR - 1, 12, 29, 10), tick=False):
        need = world.assigned()

    assert not need.due_provisional


def test_urgent_need_in_a_year_without_notice_is_not_provisional(world):
    with time_machine.travel(local(FUTURE_YEAR, 3, 1, 10), tick=False):
        need = world.assigned(urgency="urgent")

    assert not need.due_provisional


def test_due_dates_are_kept_when_an_override_is_added_later(world):
    with time_machine.travel(local(2026, 9, 28, 10), tick=False):
        need = world.assigned()
    version_at_assignment = current_calendar().version
    assert need.calendar_version == version_at_assignment
    assert need.events.get(action="assign").data["calendar_version"] == version_at_assignment

    # The calendar changes after assignment: 10-9 becomes a day off.
    HolidayOverride.objects.create(date=date(2026, 10, 9), is_workday=False)

    need.refresh_from_db()
    assert current_calendar().add_workdays(date(2026, 9, 28), 5) == date(2026, 10, 12)
    assert need.resolve_due == end_of(2026, 10, 10)
    assert need.calendar_version == version_at_assignment != current_calendar().version


def test_override_present_at_assignment_is_used(world):
    HolidayOverride.objects.create(date=date(2026, 10, 9), is_workday=False)
    with time_machine.travel(local(2026, 9, 28, 10), tick=False):
        need = world.assigned()

    assert need.resolve_due == end_of(2026, 10, 12)
    assert need.calendar_version == current_calendar().version


# --------------------------------------------------------------------------- extension and reopen


def test_approved_extension_counts_working_days_from_the_current_due_date(world):
    with time_machine.travel(local(2026, 9, 21, 9), tick=False):
        need = world.in_progress()
    # 9-22, 9-23, 9-24, (中秋 9-25 and the weekend), 9-28, 9-29
    assert need.resolve_due == end_of(2026, 9, 29)

    with time_machine.travel(local(2026, 9, 28, 9), tick=False):
        need = services.need_request_extension(
            actor=world.handler, need=need, version=need.version, days=3, reason="需协调施工队"
        )
        need = services.need_approve_extension(
            actor=world.dispatcher, need=need, version=need.version
        )

    # 9-30, (国庆 10-1 … 10-7), 10-8, 10-9: counted from the due date, not the approval day.
    assert need.resolve_due == end_of(2026, 10, 9)
    assert need.original_resolve_due == end_of(2026, 9, 29)
    assert need.extension_count == 1
    assert not need.due_provisional
    event = need.events.get(action="approve_extension")
    assert datetime.fromisoformat(event.data["from"]) == end_of(2026, 9, 29)
    assert datetime.fromisoformat(event.data["to"]) == end_of(2026, 10, 9)


def test_extend_due_keeps_the_end_of_day_and_flags_a_provisional_year():
    calendar = WorkCalendar()
    last_known = FUTURE_YEAR - 1

    due, provisional = deadlines.extend_due(end_of(2026, 9, 29), 3, calendar)
    assert (due, provisional) == (end_of(2026, 10, 9), False)

    due, provisional = deadlines.extend_due(end_of(last_known, 12, 28), 10, calendar)
    assert due.year == FUTURE_YEAR
    assert provisional


def test_reopen_sets_a_new_deadline_from_the_reopen_date(world):
    with time_machine.travel(local(2026, 9, 21, 9), tick=False):
        need = world.replied()
    with time_machine.travel(local(2026, 9, 28, 16), tick=False):
        need = services.need_reopen(
            actor=world.dispatcher, need=need, version=need.version, reason="群众反映未修好"
        )

    assert need.resolve_due == end_of(2026, 10, 10)
    assert need.original_resolve_due == need.resolve_due
    assert need.reopen_count == 1
