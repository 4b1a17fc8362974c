"""The periodic sweep: reminders before deadlines, 督办 of overdue needs, unreachable callbacks."""

from datetime import timedelta

import time_machine
from django.core.management import call_command

from wenxu.lib import clock
from wenxu.needs import services
from wenxu.needs.models import Need, NeedEvent
from wenxu.needs.sweeps import sweep
from wenxu.notify.models import Notification


def _reminders(need, kind):
    return NeedEvent.objects.filter(need=need, action="remind", data__kind=kind).count()


def test_due_soon_reminder_is_sent_once_per_deadline(world, django_capture_on_commit_callbacks):
    need = world.in_progress()
    assert need.resolve_due is not None
    with time_machine.travel(need.resolve_due - timedelta(hours=30)):
        assert sweep().due_soon == 0  # normal rule: 24 h lead time
    with (
        time_machine.travel(need.resolve_due - timedelta(hours=20)),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert sweep().due_soon == 1
        assert sweep().due_soon == 0  # idempotent
    assert _reminders(need, "due_soon") == 1
    assert Notification.objects.filter(recipient=world.handler, need=need).exists()


def test_overdue_need_is_escalated_to_dispatchers_once(world, django_capture_on_commit_callbacks):
    need = world.in_progress()
    with (
        time_machine.travel(need.resolve_due + timedelta(hours=1)),
        django_capture_on_commit_callbacks(execute=True),
    ):
        result = sweep()
        assert result.overdue == 1
        assert sweep().overdue == 0
    assert _reminders(need, "overdue") == 1
    assert Notification.objects.filter(recipient=world.dispatcher, need=need).exists()
    need.refresh_from_db()
    assert need.status == "in_progress"  # a reminder changes no status


def test_reopened_need_gets_reminders_for_its_new_deadline(world):
    need = world.replied()
    with time_machine.travel(need.resolve_due + timedelta(hours=1)):
        assert sweep().overdue == 0  # replied: the clock has stopped
        need = services.need_reopen(
            actor=world.dispatcher, need=need, version=need.version, reason="群众反映路灯又坏了"
        )
    assert need.resolve_due is not None
    with time_machine.travel(need.resolve_due + timedelta(hours=1)):
        assert sweep().overdue == 1


def test_unaccepted_need_past_its_response_deadline_is_escalated(world):
    need = world.assigned()
    with time_machine.travel(need.response_due + timedelta(minutes=5)):
        result = sweep()
    assert result.response_overdue == 1
    assert _reminders(need, "response_overdue") == 1


def test_callback_window_closes_replied_need_as_unreachable_but_keeps_promises(world):
    resolved = world.replied()
    planned = world.replied(outcome="planned")
    with time_machine.travel(clock.now() + timedelta(days=11)):
        assert sweep().unreachable == 2
    resolved.refresh_from_db()
    planned.refresh_from_db()
    assert (resolved.status, resolved.callback_channel) == ("closed", "unreachable")
    assert planned.status == "following"  # a planned promise is not closed before fulfilment
    assert planned.closed_at is None


def test_sweep_command_runs_once_and_reports(world, capsys):
    world.in_progress()
    call_command("sweep")
    assert "巡检完成" in capsys.readouterr().out
    assert Need.objects.count() == 1
