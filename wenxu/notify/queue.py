"""Queuing an event's delivery (its notifications and messages, `services.notify_for_event`)
and draining the queue (ADR 0037).

When the task queue is the database (django-tasks-db, every deployment), an event's delivery is
a `QueuedDelivery` row written in the event's own transaction: a transactional outbox, committed
with the event or rolled back with it, with nothing left to do after the commit. The workers
drain it (`drain`, a thread of `wenxu worker`). A task row per event cost a registration more
than its need's own INSERT (issue #10, B1): django-tasks builds, validates and serialises a
result object, and writes a row of fifteen columns under four indexes; the queue row is one
key.

Other task backends (the test suite's immediate backend runs a task at once, before what it
reads is committed) get the task `deliver_need_event` after the commit, as before.

Several workers drain at once: each takes rows with `SELECT … FOR UPDATE SKIP LOCKED` and
deletes them in the transaction that writes what they produce, so an event is produced by one
worker, once; a worker that dies mid-batch rolls back and leaves its rows to the others.
An event whose delivery raises is logged and taken off the queue; without its `Delivery`
marker, the sweep's catch-up (`services.deliver_missed`) tries it again later. The catch-up also
produces events that wait on the queue for minutes (no worker running); the queue then drops
them unproduced.
"""

from __future__ import annotations

import logging

from django.db import transaction

from wenxu.notify.models import Delivery, QueuedDelivery

logger = logging.getLogger("wenxu.notify")

BATCH = 100


def queued_with_the_event() -> bool:
    """Whether deliveries are queued as rows in the events' transactions (the database task
    queue) rather than as tasks after the commit."""
    from django_tasks_db.backend import DatabaseBackend

    from wenxu.notify.tasks import deliver_need_event

    return isinstance(deliver_need_event.get_backend(), DatabaseBackend)


def queue_delivery(event_id: int) -> None:
    """Queue the delivery of the event `event_id`, written in the current transaction."""
    if queued_with_the_event():
        QueuedDelivery(event_id=event_id).save(force_insert=True)
    else:
        transaction.on_commit(lambda: _enqueue(event_id))


def _enqueue(event_id: int) -> None:
    from wenxu.notify.tasks import deliver_need_event

    deliver_need_event.enqueue(event_id)


def drain(*, limit: int = BATCH) -> int:
    """Produce the deliveries of up to `limit` queued events, oldest first, in one transaction
    that also takes them off the queue; rows another worker holds are skipped. Returns how many
    events were taken."""
    from wenxu.notify.services import notify_for_event

    if not QueuedDelivery.objects.exists():
        # a read: on SQLite a write transaction would take the database's lock every interval
        return 0
    with transaction.atomic():
        taken = list(
            QueuedDelivery.objects.select_for_update(skip_locked=True)
            .order_by("event_id")
            .values_list("event_id", flat=True)[:limit]
        )
        # produced meanwhile by the sweep's catch-up (a queue that waited on a stopped worker)
        produced = set(
            Delivery.objects.filter(event_id__in=taken).values_list("event_id", flat=True)
        )
        for event_id in taken:
            if event_id in produced:
                continue
            try:
                with transaction.atomic():
                    notify_for_event(event_id=event_id)
            except Exception:
                logger.exception(
                    "delivering event %s failed; the sweep's catch-up will try it again",
                    event_id,
                )
        if taken:
            QueuedDelivery.objects.filter(event_id__in=taken).delete()
    return len(taken)
