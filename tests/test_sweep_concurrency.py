"""Two sweeps at the same moment (two workers): every alert and message is produced once and sent
once (issue #5, acceptance). Real concurrent transactions need PostgreSQL; on SQLite the
IMMEDIATE transaction mode serialises writers and `wenxu/notify/tests/test_alerts.py` runs the
sweep many times in a row.
"""

import threading
from collections import Counter
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.db import connection

from wenxu.accounts.models import Membership, User
from wenxu.needs import services
from wenxu.needs.models import NeedEvent
from wenxu.needs.services import RequesterInput
from wenxu.needs.services import _core as needs_core
from wenxu.needs.sweeps import SweepResult, sweep
from wenxu.needs.tests.helpers import at
from wenxu.notify.models import Delivery, Message

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="concurrent transactions need PostgreSQL"
    ),
]

T = at(2026, 3, 12, 9, 0)  # Thursday, after the digest hour


def _resident(i):
    return RequesterInput(name=f"张三{i}", phone=f"1381234567{i}")


def test_two_sweeps_at_once_produce_and_send_each_message_once(world, settings, monkeypatch):
    settings.WENXU_ESCALATE_AFTER_HOURS = 48
    settings.WENXU_CALLBACK_REQUEST_DAYS = 3
    settings.WENXU_DIGEST_HOUR = 8
    town_dispatcher = User.objects.create_user(
        username="town_dispatcher", password="x", email="td@x.cn"
    )
    Membership.objects.create(user=town_dispatcher, role="dispatcher", area=world.town_a)
    for user in (world.dispatcher, world.handler, world.leader):
        user.email = f"{user.username}@x.cn"
        user.save(update_fields=["email"])

    # given: B overdue since Tuesday, alerted at level 0 more than 48 hours before T
    with time_machine.travel(at(2026, 3, 2, 10), tick=False):
        overdue = world.in_progress(requester=_resident(1))
    # C replied four days before T and not rated
    with time_machine.travel(at(2026, 3, 2, 10), tick=False):
        unrated = world.in_progress(requester=_resident(2))
    with time_machine.travel(at(2026, 3, 8, 9), tick=False):
        unrated = services.need_reply(
            actor=world.handler, need=unrated.pk, version=None, outcome="resolved", reply_text="修"
        )
    # E due within 24 hours of T
    with time_machine.travel(at(2026, 3, 5, 10), tick=False):
        due_soon = world.in_progress()
    with time_machine.travel(at(2026, 3, 10, 8), tick=False):
        sweep()
    assert NeedEvent.objects.filter(need=overdue, data__kind="overdue").count() == 1
    # A not accepted by its response deadline (end of Wednesday)
    with time_machine.travel(at(2026, 3, 10, 10), tick=False):
        unaccepted = world.assigned(requester=_resident(3))
    # D registered ten minutes before T, and its delivery task was lost
    monkeypatch.setattr(needs_core, "queue_delivery", lambda event_id: None)
    with time_machine.travel(T - timedelta(minutes=10), tick=False):
        lost = world.register(requester=_resident(4))
    monkeypatch.undo()
    assert not Delivery.objects.filter(event__need=lost).exists()
    before = set(Message.objects.values_list("pk", flat=True))
    mail.outbox.clear()

    # when two workers sweep at the same moment
    barrier = threading.Barrier(2)
    results: list[SweepResult] = []
    errors: list[BaseException] = []

    def run():
        from django.db import connections

        try:
            barrier.wait()
            results.append(sweep())
        except BaseException as error:
            errors.append(error)
        finally:
            connections.close_all()

    with time_machine.travel(T, tick=False):
        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    assert not errors
    assert not any(r.failed_stages for r in results)

    # then each reminder exists once per need, kind, deadline and level
    reminders = Counter(
        (e.need_id, e.data["kind"], e.data["due"], e.data.get("level"))
        for e in NeedEvent.objects.filter(action="remind")
    )
    assert all(n == 1 for n in reminders.values()), reminders
    kinds = {(need, kind) for need, kind, _due, _level in reminders}
    assert {
        (unaccepted.pk, "response_overdue"),
        (overdue.pk, "escalated"),
        (due_soon.pk, "due_soon"),
    } <= kinds
    assert sum(r.escalated for r in results) == 1
    assert sum(r.response_overdue for r in results) == 1

    # and each message once per trigger and recipient
    new = Message.objects.exclude(pk__in=before)
    per_recipient = Counter(
        (m.template, m.channel, m.need_id, m.user_id, m.robot_id, m.requester_id) for m in new
    )
    assert all(n == 1 for n in per_recipient.values()), per_recipient
    templates = {m.template for m in new}
    assert {
        "response_overdue",
        "escalated",
        "due_soon",
        "callback_request",
        "digest",
        "registered",
    } <= templates
    assert new.filter(template="callback_request", need=unrated).count() == 1
    assert new.filter(template="registered", need=lost).count() == 1

    # and sent once each: claimed by one worker, one attempt, one e-mail in the outbox
    assert set(new.values_list("status", flat=True)) == {"sent"}
    assert set(new.values_list("attempts", flat=True)) == {1}
    assert len(mail.outbox) == new.filter(channel="email").count()
