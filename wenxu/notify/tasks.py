"""Background work of the notify app. Every task is idempotent: safe to retry."""

from django_tasks import task

from wenxu.notify import services


@task()
def deliver_need_event(event_id: int) -> int:
    return services.notify_for_event(event_id=event_id)


@task()
def send_messages(message_ids: list[int]) -> int:
    """Send these outbox messages now if they are still due (the sweep picks up retries)."""
    from wenxu.notify.sending import send_due

    return send_due(ids=message_ids)
