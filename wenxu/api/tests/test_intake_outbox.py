"""A registration's notifications are queued in its own transaction when the task queue is the
database (a transactional outbox, issue #10 B1), and after the commit otherwise (the tests'
immediate backend, which would run the task at once)."""

from typing import Any
from uuid import uuid4

import pytest
from django.db import IntegrityError
from django.test import override_settings
from django_tasks_db.models import DBTaskResult

from wenxu.needs import services
from wenxu.needs.models import NeedEvent
from wenxu.notify.models import Delivery, Notification
from wenxu.notify.tasks import deliver_registration

DATABASE_QUEUE = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


def _queued() -> list[DBTaskResult[Any, Any]]:
    return list(DBTaskResult.objects.order_by("enqueued_at"))


@override_settings(TASKS=DATABASE_QUEUE)
@pytest.mark.parametrize("on_the_spot", [False, True])
def test_registration_queues_its_delivery_inside_its_transaction(
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

    # The task's row was written before the commit, and nothing waits for the commit.
    assert callbacks == []
    [row] = _queued()
    assert row.task_path == deliver_registration.module_path
    assert row.args_kwargs == {"args": [need.tracking_code], "kwargs": {}}


@override_settings(TASKS=DATABASE_QUEUE)
def test_the_queued_registration_delivers_the_registering_event(world: Any) -> None:
    need = world.register()
    event = NeedEvent.objects.get(need=need)

    delivered = deliver_registration.call(need.tracking_code)

    assert Delivery.objects.filter(event=event).exists()
    assert delivered == Notification.objects.filter(event=event).count()
    assert delivered >= 1  # the dispatcher of the area hears of the new need
    assert deliver_registration.call(need.tracking_code) == 0  # a retry notifies nobody twice


@override_settings(TASKS=DATABASE_QUEUE)
def test_a_registration_that_fails_leaves_no_task(world: Any) -> None:
    client_uuid = uuid4()
    world.register(origin=services.Origin(client_uuid=client_uuid, payload_hash="a"))
    assert len(_queued()) == 1

    # The duplicate UUID fails at the need's INSERT, after its task was queued.
    with pytest.raises(IntegrityError):
        world.register(origin=services.Origin(client_uuid=client_uuid, payload_hash="b"))

    assert len(_queued()) == 1


def test_with_the_immediate_backend_the_delivery_waits_for_the_commit(
    world: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        need = world.register()

    assert len(callbacks) == 1
    assert _queued() == []
    assert Delivery.objects.filter(event__need=need).exists()
