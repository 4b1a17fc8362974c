"""Background work of the notify app. Every task is idempotent: safe to retry."""

from django_tasks import task

from wenxu.notify import services


@task()
def deliver_need_event(event_id: int) -> int:
    """An event's delivery where the task queue is not the database (`notify.queue`), and for
    the jobs an earlier version queued."""
    return services.notify_for_event(event_id=event_id)


@task()
def deliver_registration(tracking_code: str) -> int:
    """`deliver_need_event` for the event that registered the need with `tracking_code`.

    No longer queued: registrations queue their delivery as any event does (`notify.queue`,
    ADR 0037). Kept for the jobs an earlier version left in the queue."""
    from wenxu.needs.models import NeedEvent

    event_id = (
        NeedEvent.objects.filter(need__tracking_code=tracking_code, seq=1)
        .values_list("pk", flat=True)
        .first()
    )
    if event_id is None:  # not committed (cannot happen: the task commits with the need)
        return 0
    return services.notify_for_event(event_id=event_id)


@task()
def send_messages(message_ids: list[int]) -> int:
    """Send these outbox messages now if they are still due (the sweep picks up retries)."""
    from wenxu.notify.sending import send_due

    return send_due(ids=message_ids)
