"""The periodic sweep: reminders before deadlines, 督办 of overdue needs, follow-up reminders,
unreachable callbacks; and that overlapping sweeps act once."""

from datetime import datetime, timedelta

import time_machine
from django.core.management import call_command

from wenxu.lib import clock
from wenxu.needs import services, sweeps
from wenxu.needs.exceptions import AlreadyReminded, IllegalTransition
from wenxu.needs.models import Need, NeedEvent
from wenxu.needs.sweeps import sweep
from wenxu.needs.tests.helpers import assert_refused, following, with_pending_extension
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


# --------------------------------------------------------------------------- overlapping sweeps


def test_second_sweep_reminder_for_the_same_deadline_writes_nothing(world):
    # Two sweeps listed the need before either reminded it; both reach the service.
    need = world.in_progress()
    with time_machine.travel(need.resolve_due + timedelta(hours=1)):
        services.need_remind(actor=None, need=need.pk, version=None, kind="overdue")
        assert_refused(
            AlreadyReminded,
            need,
            lambda: services.need_remind(actor=None, need=need.pk, version=None, kind="overdue"),
        )
    assert _reminders(need, "overdue") == 1


def test_overlapping_sweeps_escalate_once(world, monkeypatch, django_capture_on_commit_callbacks):
    need = world.in_progress()
    # Both sweeps list the need before either has reminded it.
    monkeypatch.setattr(
        sweeps, "_not_yet_reminded", lambda needs, kind: list(needs.values_list("pk", flat=True))
    )
    with (
        time_machine.travel(need.resolve_due + timedelta(hours=1)),
        django_capture_on_commit_callbacks(execute=True),
    ):
        first, second = sweep(), sweep()
    assert (first.overdue, second.overdue, second.skipped) == (1, 0, 1)
    assert _reminders(need, "overdue") == 1
    assert Notification.objects.filter(recipient=world.dispatcher, need=need).count() == 1


def test_manual_reminders_may_be_repeated(world):
    need = world.in_progress()
    services.need_remind(actor=world.dispatcher, need=need.pk, version=None)
    services.need_remind(actor=world.dispatcher, need=need.pk, version=None)
    assert _reminders(need, "manual") == 2


def test_sweep_reminder_is_refused_once_the_need_has_moved_on(world):
    # Listed as overdue, then replied before the sweep got to it.
    need = world.in_progress()
    with time_machine.travel(need.resolve_due + timedelta(hours=1)):
        need = services.need_reply(
            actor=world.handler,
            need=need,
            version=need.version,
            outcome="resolved",
            reply_text="修好",
        )
        error = assert_refused(
            IllegalTransition,
            need,
            lambda: services.need_remind(actor=None, need=need.pk, version=None, kind="overdue"),
        )
    assert not isinstance(error, AlreadyReminded)


def test_reminder_after_an_extension_belongs_to_the_new_deadline(world):
    need = with_pending_extension(world)
    assert need.resolve_due is not None
    with time_machine.travel(need.resolve_due - timedelta(hours=1)):
        services.need_remind(actor=None, need=need.pk, version=None, kind="due_soon")
        need = services.need_approve_extension(actor=world.dispatcher, need=need.pk, version=None)
    assert need.resolve_due is not None
    with time_machine.travel(need.resolve_due - timedelta(hours=1)):
        assert sweep().due_soon == 1
    dues = set(
        NeedEvent.objects.filter(need=need, data__kind="due_soon").values_list(
            "data__due", flat=True
        )
    )
    assert {datetime.fromisoformat(due) for due in dues} == {
        need.original_resolve_due,
        need.resolve_due,
    }


def test_callback_expiry_of_a_need_replied_again_after_a_reopen_is_skipped(world):
    need = world.replied()
    later = clock.now() + timedelta(days=11)
    with time_machine.travel(later, tick=False):
        listed = list(
            Need.objects.filter(status="replied", replied_at__lt=later - timedelta(days=10))
        )
        assert [n.pk for n in listed] == [need.pk]
        # Meanwhile the dispatcher reopens it and the unit replies again.
        need = services.need_reopen(
            actor=world.dispatcher, need=need, version=need.version, reason="群众反映未修好"
        )
        need = services.need_reply(
            actor=world.handler,
            need=need,
            version=need.version,
            outcome="resolved",
            reply_text="已修",
        )
        assert_refused(IllegalTransition, need, lambda: services.need_expire_callback(need=need.pk))
    need.refresh_from_db()
    assert (need.status, need.callback_channel) == ("replied", "")


# --------------------------------------------------------------------------- follow-ups


def test_promise_past_its_followup_date_reminds_the_lead_unit_once(
    world, django_capture_on_commit_callbacks
):
    need = following(world)
    assert need.followup_date is not None
    with time_machine.travel(need.followup_date + timedelta(hours=12)):  # on the date itself
        assert sweep().followup_due == 0
    with (
        time_machine.travel(need.followup_date + timedelta(days=1, hours=9)),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert sweep().followup_due == 1
        assert sweep().followup_due == 0  # idempotent
    [event] = NeedEvent.objects.filter(need=need, action="remind", data__kind="followup_due")
    assert event.data["due"] == need.followup_date.isoformat()
    assert Notification.objects.filter(recipient=world.handler, event=event).exists()
    need.refresh_from_db()
    assert need.status == "following"


def test_fulfilled_promise_gets_no_followup_reminder(world):
    need = following(world)
    need = services.need_fulfil(actor=world.handler, need=need, version=need.version, note="已兑现")
    assert need.followup_date is not None
    with time_machine.travel(need.followup_date + timedelta(days=2)):
        assert sweep().followup_due == 0
        assert_refused(
            IllegalTransition,
            need,
            lambda: services.need_remind(
                actor=None, need=need.pk, version=None, kind="followup_due"
            ),
        )
