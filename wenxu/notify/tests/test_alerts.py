"""Staff alerts and escalation with a frozen clock (issue #5, item 5 and acceptance).

A need walks through the response reminder, response overdue, the resolution reminder,
overdue (督办), escalation one level up the area tree and closing as unreachable; after each
step the sweep runs several more times and every alert exists exactly once.

The county here has dispatchers at two levels: 东河镇 (the nearest to the need, level 0) and
the county (level 1).
"""

import threading
from collections import Counter
from datetime import timedelta

import pytest
import time_machine

from wenxu.accounts.models import Membership, User
from wenxu.needs import services
from wenxu.needs.models import Need, NeedEvent
from wenxu.needs.sweeps import sweep
from wenxu.needs.tests.helpers import at
from wenxu.notify.models import Message, Notification, Robot

SITE = "https://wx.example.cn"


@pytest.fixture(autouse=True)
def _quiet(settings, monkeypatch):
    settings.WENXU_SITE_URL = SITE
    settings.WENXU_ESCALATE_AFTER_HOURS = 48
    settings.WENXU_DIGEST_HOUR = 25  # no digests in these walks (they have their own test)
    monkeypatch.setattr("wenxu.notify.sending.send_due", lambda **kwargs: 0)


def _user(world, username, role, scope):
    user = User.objects.create_user(username=username, password="x", email=f"{username}@x.cn")
    if role in {"handler"} or (role == "leader" and scope in {world.housing}):
        Membership.objects.create(user=user, role=role, unit=scope)
    else:
        Membership.objects.create(user=user, role=role, area=scope)
    return user


@pytest.fixture
def ladder(world):
    """Dispatchers at 东河镇 and the county; the unit's leader; e-mail and robots for all."""
    for user in (world.dispatcher, world.handler, world.leader):
        user.email = f"{user.username}@x.cn"
        user.save(update_fields=["email"])
    town_dispatcher = _user(world, "town_dispatcher", "dispatcher", world.town_a)
    unit_leader = _user(world, "housing_leader", "leader", world.housing)
    robots = {
        "unit": Robot.objects.create(
            kind="wecom", name="住建局群", webhook_url="https://r.invalid/u", unit=world.housing
        ),
        "town": Robot.objects.create(
            kind="dingtalk",
            name="东河镇调度群",
            webhook_url="https://r.invalid/t",
            area=world.town_a,
        ),
        "county": Robot.objects.create(
            kind="wecom", name="县调度群", webhook_url="https://r.invalid/c", area=world.county
        ),
    }
    return town_dispatcher, unit_leader, robots


@pytest.fixture
def sweep_at(django_capture_on_commit_callbacks):
    """Sweep `times` times at a frozen moment, running deliveries as after a commit."""

    def run(moment, times=3):
        results = []
        with time_machine.travel(moment, tick=False):
            for _ in range(times):
                with django_capture_on_commit_callbacks(execute=True):
                    results.append(sweep())
        return results

    return run


def _reminders(need, kind):
    return list(NeedEvent.objects.filter(need=need, action="remind", data__kind=kind))


def _templates(**filters):
    """How many messages of each (template, channel, recipient)."""
    return Counter(
        (m.template, m.channel, m.user_id or m.robot_id) for m in Message.objects.filter(**filters)
    )


def _assert_each_once():
    counts = _templates()
    assert all(n == 1 for n in counts.values()), counts
    notes = Counter(Notification.objects.values_list("event_id", "recipient_id"))
    assert all(n == 1 for n in notes.values())
    sweep_events = Counter(
        (e.need_id, e.data.get("kind"), e.data.get("due"), e.data.get("level"))
        for e in NeedEvent.objects.filter(action="remind").exclude(data__kind="manual")
    )
    assert all(n == 1 for n in sweep_events.values()), sweep_events


def _recipients(event):
    return set(
        Notification.objects.filter(event=event).values_list("recipient__username", flat=True)
    )


def test_a_need_walks_through_reminders_overdue_escalation_and_unreachable_closing(
    world, ladder, sweep_at, django_capture_on_commit_callbacks
):
    _town_dispatcher, _unit_leader, robots = ladder
    # given a need assigned on Monday 2 March 2026 at 10:00 (normal rule: accept by the end of
    # Tuesday, resolve within 5 working days, i.e. by the end of Monday 9 March)
    with time_machine.travel(at(2026, 3, 2, 10), tick=False):
        need = world.register()
        with django_capture_on_commit_callbacks(execute=True):
            need = services.need_assign(
                actor=world.dispatcher, need=need, version=need.version, lead_unit=world.housing
            )
    assert need.response_due == at(2026, 3, 3, 23, 59, 59)
    assert need.resolve_due == at(2026, 3, 9, 23, 59, 59)

    # 1. Response reminder: at most half the time given (19 h before), not earlier.
    sweep_at(at(2026, 3, 3, 4, 0))
    assert _reminders(need, "response_due_soon") == []
    results = sweep_at(at(2026, 3, 3, 6, 0))
    assert [r.response_due_soon for r in results] == [1, 0, 0]
    [event] = _reminders(need, "response_due_soon")
    assert _recipients(event) == {"handler"}
    assert _templates(template="response_due_soon") == {
        ("response_due_soon", "email", world.handler.pk): 1,
        ("response_due_soon", "wecom", robots["unit"].pk): 1,
    }
    _assert_each_once()

    # 2. Not accepted by the deadline: 督办 to the nearest dispatchers and the unit's leader.
    results = sweep_at(at(2026, 3, 4, 0, 30))
    assert [r.response_overdue for r in results] == [1, 0, 0]
    [event] = _reminders(need, "response_overdue")
    assert event.data["level"] == 0
    assert event.data["area"] == world.town_a.pk
    assert _recipients(event) == {"handler", "town_dispatcher", "housing_leader"}
    need.refresh_from_db()
    assert need.supervised is True
    assert {(t, c) for t, c, _r in _templates(template="response_overdue")} == {
        ("response_overdue", "email"),
        ("response_overdue", "wecom"),
        ("response_overdue", "dingtalk"),
    }
    assert not Message.objects.filter(robot=robots["county"]).exists()  # not yet the county
    _assert_each_once()

    need.refresh_from_db()  # the sweep's reminders moved its version on
    with time_machine.travel(at(2026, 3, 4, 9), tick=False):
        need = services.need_accept(actor=world.handler, need=need, version=need.version)

    # 3. Resolution reminder: 24 h before the deadline.
    sweep_at(at(2026, 3, 8, 23, 0))
    assert _reminders(need, "due_soon") == []
    results = sweep_at(at(2026, 3, 9, 1, 0))
    assert [r.due_soon for r in results] == [1, 0, 0]
    [mail] = Message.objects.filter(template="due_soon", channel="email")
    assert mail.body.startswith(
        f"【临期提醒】{need.number}「村口路灯不亮」将于3月9日23:59到期，请县住建局抓紧办理并答复。"
    )
    _assert_each_once()

    # 4. Overdue: 督办 at level 0, by e-mail, in-app and the groups up to 东河镇.
    results = sweep_at(at(2026, 3, 10, 0, 30))
    assert [r.overdue for r in results] == [1, 0, 0]
    [overdue] = _reminders(need, "overdue")
    assert (overdue.data["level"], overdue.data["area"]) == (0, world.town_a.pk)
    assert _recipients(overdue) == {"handler", "town_dispatcher", "housing_leader"}
    assert set(
        Message.objects.filter(template="overdue", channel="email").values_list(
            "user__username", flat=True
        )
    ) == {
        "handler",
        "town_dispatcher",
        "housing_leader",
    }
    assert {m.robot for m in Message.objects.filter(template="overdue", robot__isnull=False)} == {
        robots["unit"],
        robots["town"],
    }
    need.refresh_from_db()
    assert need.supervised is True
    _assert_each_once()

    # 5. Escalation one level up after 48 hours, not before.
    overdue_at = overdue.created_at
    results = sweep_at(overdue_at + timedelta(hours=47))
    assert sum(r.escalated for r in results) == 0
    results = sweep_at(overdue_at + timedelta(hours=49))
    assert [r.escalated for r in results] == [1, 0, 0]
    [escalated] = _reminders(need, "escalated")
    assert (escalated.data["level"], escalated.data["area"]) == (1, world.county.pk)
    assert _recipients(escalated) == {"handler", "dispatcher", "leader", "housing_leader"}
    assert {m.robot for m in Message.objects.filter(template="escalated", robot__isnull=False)} == {
        robots["unit"],
        robots["county"],
    }
    [mail] = Message.objects.filter(template="escalated", user=world.dispatcher)
    assert "【逐级督办·第1级】" in mail.body
    assert "请青山县督促办理" in mail.body
    _assert_each_once()

    # The county is the top of the ladder: no further level, however long it stays overdue.
    results = sweep_at(overdue_at + timedelta(hours=49 + 72))
    assert sum(r.escalated for r in results) == 0
    assert len(_reminders(need, "escalated")) == 1

    # 6. Replied late; nobody rates it; the callback window passes: closed as unreachable.
    need.refresh_from_db()
    with time_machine.travel(overdue_at + timedelta(days=6), tick=False):
        need = services.need_reply(
            actor=world.handler,
            need=need,
            version=need.version,
            outcome="resolved",
            reply_text="已修复",
        )
    assert need.replied_at is not None
    results = sweep_at(need.replied_at + timedelta(days=10, hours=1))
    assert [r.unreachable for r in results] == [1, 0, 0]
    need.refresh_from_db()
    assert (need.status, need.callback_channel) == ("closed", "unreachable")
    assert NeedEvent.objects.filter(need=need, action="callback").count() == 1
    _assert_each_once()


def test_overdue_flags_the_need_supervised(world, ladder, sweep_at):
    with time_machine.travel(at(2026, 3, 2, 10), tick=False):
        need = world.in_progress()
    assert need.supervised is False
    sweep_at(need.resolve_due + timedelta(minutes=1), times=2)
    need.refresh_from_db()
    assert need.supervised is True
    assert len(_reminders(need, "overdue")) == 1


def test_a_need_overdue_again_in_a_later_cycle_starts_one_level_higher(world, ladder, sweep_at):
    # given a need that was overdue once (督办 to 东河镇), then replied and reopened
    with time_machine.travel(at(2026, 3, 2, 10), tick=False):
        need = world.in_progress()
    sweep_at(need.resolve_due + timedelta(hours=1), times=1)
    need.refresh_from_db()
    with time_machine.travel(need.resolve_due + timedelta(hours=2), tick=False):
        need = services.need_reply(
            actor=world.handler,
            need=need,
            version=need.version,
            outcome="resolved",
            reply_text="修",
        )
        need = services.need_reopen(
            actor=world.dispatcher, need=need, version=need.version, reason="群众反映又坏了"
        )
    # when the new deadline passes too
    assert need.resolve_due is not None
    results = sweep_at(need.resolve_due + timedelta(hours=1))
    assert [r.overdue for r in results] == [1, 0, 0]
    # then the alert goes straight to the county (level 1), and there is no level above it
    second = _reminders(need, "overdue")[-1]
    assert (second.data["level"], second.data["area"]) == (1, world.county.pk)
    assert _recipients(second) == {"handler", "dispatcher", "housing_leader"}
    sweep_at(need.resolve_due + timedelta(hours=60))
    assert _reminders(need, "escalated") == []
    # one 督办 e-mail per cycle: 东河镇's dispatcher in the first, the county's in the second
    assert _templates(
        template="overdue", channel="email", user__username__contains="dispatcher"
    ) == {
        ("overdue", "email", User.objects.get(username="town_dispatcher").pk): 1,
        ("overdue", "email", world.dispatcher.pk): 1,
    }


def test_without_dispatchers_below_the_county_there_is_no_escalation(world, sweep_at):
    with time_machine.travel(at(2026, 3, 2, 10), tick=False):
        need = world.in_progress()
    sweep_at(need.resolve_due + timedelta(hours=1), times=1)
    [overdue] = _reminders(need, "overdue")
    assert (overdue.data["level"], overdue.data["area"]) == (0, world.county.pk)
    assert "dispatcher" in _recipients(overdue)
    sweep_at(need.resolve_due + timedelta(hours=100))
    assert _reminders(need, "escalated") == []
    assert Need.objects.get(pk=need.pk).supervised


def test_replied_need_is_not_escalated(world, ladder, sweep_at):
    with time_machine.travel(at(2026, 3, 2, 10), tick=False):
        need = world.in_progress()
    sweep_at(need.resolve_due + timedelta(hours=1), times=1)
    need.refresh_from_db()
    with time_machine.travel(need.resolve_due + timedelta(hours=20), tick=False):
        services.need_reply(
            actor=world.handler,
            need=need,
            version=need.version,
            outcome="resolved",
            reply_text="修",
        )
    sweep_at(need.resolve_due + timedelta(hours=60))
    assert _reminders(need, "escalated") == []


def test_worker_sweep_loop_keeps_going_after_a_failure_and_stops_when_told(monkeypatch):
    from wenxu.core.management.commands.worker import sweep_loop
    from wenxu.needs.sweeps import SweepResult

    stop = threading.Event()
    runs: list[int] = []

    def flaky_sweep():
        runs.append(1)
        if len(runs) == 1:
            raise RuntimeError("database went away")
        if len(runs) == 3:
            stop.set()
        return SweepResult()

    monkeypatch.setattr("wenxu.needs.sweeps.sweep", flaky_sweep)
    # The loop's other steps need the database, which this test does not have.
    monkeypatch.setattr("wenxu.api.idempotency.idempotency_purge", lambda: 0)
    monkeypatch.setattr("wenxu.integrations.webhooks.services.webhook_sweep", lambda: None)
    monkeypatch.setattr("wenxu.lib.ratelimit.sweep", lambda: 0)
    # in its own thread, as the worker runs it (with its own database connection)
    thread = threading.Thread(target=sweep_loop, args=(stop, 0.01), daemon=True)
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert len(runs) == 3
