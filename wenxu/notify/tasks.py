"""Background work of the notify app. Every task is idempotent: safe to retry."""

from typing import Any

from django_tasks import task
from django_tasks.base import Task
from django_tasks_db import DatabaseBackend

from wenxu.notify import services


@task()
def deliver_need_event(event_id: int) -> int:
    return services.notify_for_event(event_id=event_id)


@task()
def deliver_registration(tracking_code: str) -> int:
    """`deliver_need_event` for the event that registered the need with `tracking_code`.

    Queued inside the registration's own transaction, before the need and its event have ids
    (`enqueues_with_the_transaction`): the tracking code is drawn first, so it names the need.
    """
    from wenxu.needs.models import NeedEvent

    event_id = (
        NeedEvent.objects.filter(need__tracking_code=tracking_code, seq=1)
        .values_list("pk", flat=True)
        .first()
    )
    if event_id is None:  # not committed (cannot happen: the task commits with the need)
        return 0
    return services.notify_for_event(event_id=event_id)


def enqueues_with_the_transaction(queued: Task[Any, Any]) -> bool:
    """Whether enqueuing `queued` writes its row through the database connection of the code
    that enqueues it (django-tasks-db), so that inside a transaction the row is a transactional
    outbox: committed, and seen by a worker, with what caused it, or rolled back with it.

    Other backends must be queued after the commit instead: the immediate backend (tests)
    would run the task at once, before what it reads is committed."""
    return isinstance(queued.get_backend(), DatabaseBackend)


@task()
def send_messages(message_ids: list[int]) -> int:
    """Send these outbox messages now if they are still due (the sweep picks up retries)."""
    from wenxu.notify.sending import send_due

    return send_due(ids=message_ids)
