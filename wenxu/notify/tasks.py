"""Delivering need events to the people who must act next. Idempotent: safe to retry."""

from django_tasks import task

from wenxu.notify import services


@task()
def deliver_need_event(event_id: int) -> int:
    return services.notify_for_event(event_id=event_id)
