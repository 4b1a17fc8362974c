"""Deadline badges: 剩余 N 个工作日, 今日到期, 已超期 N 天 — counted in working days."""

import pytest
import time_machine
from django.template import Context, Template

from wenxu.needs import deadlines
from wenxu.needs.tests.helpers import at


@pytest.fixture
def calendar(db):
    return deadlines.current_calendar()


def _status(need, when, calendar):
    return deadlines.deadline_status(need, now=when, calendar=calendar)


def test_working_days_left_skip_the_national_day_holiday(world, calendar):
    with time_machine.travel(at(2026, 9, 28, 10)):
        need = world.in_progress()  # due end of 2026-10-10 (5 working days)
    status = _status(need, at(2026, 9, 30, 9), calendar)
    # 10-01..10-07 are holidays: only 10-08, 10-09, 10-10 are left after 09-30
    assert (status.kind, status.label) == ("ok", "剩余 3 个工作日")


def test_due_today_and_overdue_by_days(world, calendar):
    with time_machine.travel(at(2026, 3, 2, 9)):
        need = world.in_progress()  # due end of 2026-03-09
    assert _status(need, at(2026, 3, 9, 8), calendar).kind == "today"
    overdue = _status(need, at(2026, 3, 12, 8), calendar)
    assert (overdue.kind, overdue.label) == ("overdue", "已超期 3 天")


def test_reply_stops_the_clock_and_final_needs_show_nothing(world, calendar):
    with time_machine.travel(at(2026, 3, 2, 9)):
        need = world.replied()
    assert _status(need, at(2026, 4, 1, 8), calendar).kind == "stopped"
    need.status = "closed"
    assert _status(need, at(2026, 4, 1, 8), calendar).label == ""


def test_badge_tag_renders_escaped_html(world):
    need = world.in_progress()
    html = Template("{% load needs_ui %}{% deadline_badge need %}{% status_badge need %}").render(
        Context({"need": need})
    )
    assert 'data-deadline="ok"' in html
    assert 'data-status="in_progress"' in html
    assert "办理中" in html


def test_cached_calendar_is_reused_then_refreshed(db):
    first = deadlines.cached_calendar(max_age=60)
    assert deadlines.cached_calendar(max_age=60) is first
    assert deadlines.cached_calendar(max_age=0) is not first
