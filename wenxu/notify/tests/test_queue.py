"""An event's delivery is queued in the event's own transaction when the task queue is the
database, and drained by the workers (`wenxu.notify.queue`, ADR 0037); with the test suite's
immediate backend it runs after the commit."""

import logging
import threading
from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest
from django.db import IntegrityError, connection, connections, transaction
from django.test import override_settings
from django_tasks_db.models import DBTaskResult

from wenxu.core.management.commands.worker import delivery_loop
from wenxu.lib import clock
from wenxu.needs import services
from wenxu.needs.models import NeedEvent
from wenxu.notify import queue
from wenxu.notify import services as notify_services
from wenxu.notify.models import Delivery, Notification, QueuedDelivery

DATABASE_QUEUE = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


def _queued() -> list[int]:
    return list(QueuedDelivery.objects.order_by("event_id").values_list("event_id", flat=True))


def _events(need: Any) -> list[int]:
    return list(NeedEvent.objects.filter(need=need).order_by("pk").values_list("pk", flat=True))


@override_settings(TASKS=DATABASE_QUEUE)
@pytest.mark.parametrize("on_the_spot", [False, True])
def test_a_registration_queues_its_events_delivery_inside_its_transaction(
    world: Any, django_capture_on_commit_callbacks: Any, on_the_spot: bool
) -> None:
    with django_capture_on_commit_callbacks() as callbacks:
        if on_the_spot:
            need = services.need_register_on_the_spot(
                actor=world.officer,
                title="村口路灯不亮",
                description="路灯坏了。",
                kind="help",
                source="visit",
                area=world.grid_a,
                reply_text="已联系电工修好。",
            )
        else:
            need = world.register()

    # Every event's row was written before the commit; nothing waits for it, no task row.
    assert callbacks == []
    assert _queued() == _events(need) != []
    assert not DBTaskResult.objects.exists()


@override_settings(TASKS=DATABASE_QUEUE)
def test_a_lifecycle_action_queues_its_event_too(world: Any) -> None:
    need = world.register()
    QueuedDelivery.objects.all().delete()

    need = services.need_assign(
        actor=world.dispatcher, need=need, version=need.version, lead_unit=world.housing
    )

    assign = NeedEvent.objects.get(need=need, action="assign")
    assert _queued() == [assign.pk]


@override_settings(TASKS=DATABASE_QUEUE)
def test_draining_produces_the_notifications_once_and_empties_the_queue(world: Any) -> None:
    need = world.register()
    need = services.need_assign(
        actor=world.dispatcher, need=need, version=need.version, lead_unit=world.housing
    )
    register, assign = _events(need)

    assert queue.drain() == 2

    assert _queued() == []
    assert set(Delivery.objects.values_list("event_id", flat=True)) == {register, assign}
    # the dispatcher hears of the new need, the lead unit's handler of the assignment
    assert Notification.objects.filter(event_id=register, recipient=world.dispatcher).exists()
    assert Notification.objects.filter(event_id=assign, recipient=world.handler).exists()
    notified = Notification.objects.count()
    assert queue.drain() == 0
    assert Notification.objects.count() == notified


def test_an_empty_queue_is_looked_at_with_one_read(
    db: None, django_assert_num_queries: Any
) -> None:
    # no transaction: on SQLite it would take the database's write lock every second
    with django_assert_num_queries(1):
        assert queue.drain() == 0


@override_settings(TASKS=DATABASE_QUEUE)
def test_draining_takes_at_most_a_batch_oldest_first(world: Any) -> None:
    needs = [world.register(title=f"路灯{i}") for i in range(3)]
    first, second, third = (_events(need)[0] for need in needs)

    assert queue.drain(limit=2) == 2

    assert _queued() == [third]
    assert set(Delivery.objects.values_list("event_id", flat=True)) == {first, second}


@override_settings(TASKS=DATABASE_QUEUE)
def test_a_registration_that_fails_leaves_nothing_queued(world: Any) -> None:
    client_uuid = uuid4()
    world.register(origin=services.Origin(client_uuid=client_uuid, payload_hash="a"))
    assert len(_queued()) == 1

    # The duplicate UUID fails at the need's INSERT, after its event was queued.
    with pytest.raises(IntegrityError):
        world.register(origin=services.Origin(client_uuid=client_uuid, payload_hash="b"))

    assert len(_queued()) == 1


@override_settings(TASKS=DATABASE_QUEUE)
def test_a_delivery_that_raises_is_logged_and_left_to_the_catch_up(
    world: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    broken, fine = world.register(title="坏的"), world.register(title="好的")
    [broken_event], [fine_event] = _events(broken), _events(fine)
    real = notify_services.notify_for_event

    def notify(*, event_id: int) -> int:
        if event_id == broken_event:
            Notification.objects.create(
                recipient=world.dispatcher, need=broken, event_id=event_id, message="写了一半"
            )
            raise RuntimeError("短信模板缺失")
        return real(event_id=event_id)

    monkeypatch.setattr(notify_services, "notify_for_event", notify)
    with caplog.at_level(logging.ERROR, logger="wenxu.notify"):
        assert queue.drain() == 2

    # The other event was delivered; the broken one wrote nothing and left the queue, logged.
    assert _queued() == []
    assert list(Delivery.objects.values_list("event_id", flat=True)) == [fine_event]
    assert not Notification.objects.filter(event_id=broken_event).exists()
    assert f"delivering event {broken_event} failed" in caplog.text
    # The sweep's catch-up, once the grace has passed, produces it.
    monkeypatch.setattr(notify_services, "notify_for_event", real)
    later = clock.now() + notify_services.CATCH_UP_GRACE + timedelta(seconds=1)
    assert notify_services.deliver_missed(at=later) == 1
    assert Delivery.objects.filter(event_id=broken_event).exists()


@override_settings(TASKS=DATABASE_QUEUE)
def test_an_event_the_catch_up_produced_leaves_the_queue_unproduced_again(
    world: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a registration that waited on the queue past the grace (no worker running), which
    # the sweep's catch-up produced
    need = world.register()
    later = clock.now() + notify_services.CATCH_UP_GRACE + timedelta(seconds=1)
    assert notify_services.deliver_missed(at=later) == 1
    produced: list[int] = []

    def notify(*, event_id: int) -> int:
        produced.append(event_id)
        return 0

    monkeypatch.setattr(notify_services, "notify_for_event", notify)

    assert queue.drain() == 1

    assert produced == []
    assert _queued() == []
    assert Delivery.objects.filter(event__need=need).count() == 1


def test_with_the_immediate_backend_the_delivery_waits_for_the_commit(
    world: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        need = world.register()

    assert len(callbacks) == 1
    assert _queued() == []
    assert Delivery.objects.filter(event__need=need).exists()


postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="concurrent drains need PostgreSQL (SQLite's IMMEDIATE transactions serialise them)",
)


@postgresql_only
@pytest.mark.django_db(transaction=True)
@override_settings(TASKS=DATABASE_QUEUE)
def test_a_second_worker_skips_the_rows_the_first_holds(world: Any) -> None:
    needs = [world.register(title=f"路灯{i}") for i in range(4)]
    events = [_events(need)[0] for need in needs]
    held = threading.Event()
    release = threading.Event()

    def first_worker() -> None:
        # holds the two oldest rows, as a worker does while it produces them
        try:
            with transaction.atomic():
                list(
                    QueuedDelivery.objects.select_for_update()
                    .filter(event_id__in=events[:2])
                    .values_list("event_id", flat=True)
                )
                held.set()
                release.wait(timeout=30)
        finally:
            connections.close_all()

    thread = threading.Thread(target=first_worker)
    thread.start()
    try:
        assert held.wait(timeout=30)
        assert queue.drain() == 2  # the other two, without waiting for the held ones
        assert set(Delivery.objects.values_list("event_id", flat=True)) == set(events[2:])
    finally:
        release.set()
        thread.join(timeout=30)
    assert _queued() == events[:2]


@pytest.mark.django_db(transaction=True)
@override_settings(TASKS=DATABASE_QUEUE)
def test_the_workers_delivery_thread_drains_the_queue(world: Any) -> None:
    needs = [world.register(title=f"路灯{i}") for i in range(3)]
    stop = threading.Event()
    thread = threading.Thread(target=delivery_loop, args=(stop, 0.05))
    thread.start()
    try:
        for _ in range(400):
            if not QueuedDelivery.objects.exists():
                break
            threading.Event().wait(0.05)
    finally:
        stop.set()
        thread.join(timeout=30)

    assert not thread.is_alive()
    assert _queued() == []
    assert Delivery.objects.filter(event__need__in=needs).count() == 3
