"""The outbox (ADR 0012): messages are written once per trigger, then sent by the worker.

`enqueue` is called inside the transaction of whatever caused the message (or by the sweep);
each draft's `key` names its trigger, and a key already in the outbox is skipped, so a trigger
that fires again (a retried task, a second sweep, two sweeps at once) adds nothing.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction

from wenxu.accounts.models import User
from wenxu.lib import clock
from wenxu.needs.models import Need, RatingLink
from wenxu.notify.models import Message, Robot
from wenxu.residents.models import Requester


@dataclass(frozen=True)
class Draft:
    key: str
    channel: str
    template: str
    to_masked: str
    body: str  # masked; a rating link is written as "{link}"
    subject: str = ""
    need: Need | None = None
    requester: Requester | None = None
    user: User | None = None
    robot: Robot | None = None
    rating_link: RatingLink | None = None


_CHUNK = 500  # drafts per query in enqueue_many


def enqueue(drafts: Iterable[Draft], *, at: datetime | None = None) -> list[Message]:
    """Write the drafts whose keys are new; returns the rows written now.

    Each insert runs in its own savepoint, so a key another transaction wrote first (the unique
    constraint on `key`) skips that draft without spoiling the caller's transaction.
    """
    now = at or clock.now()
    written: list[Message] = []
    for draft in drafts:
        if Message.objects.filter(key=draft.key).exists():
            continue
        message = Message(
            key=draft.key,
            channel=draft.channel,
            template=draft.template,
            to_masked=draft.to_masked,
            body=draft.body,
            subject=draft.subject,
            need=draft.need,
            requester=draft.requester,
            user=draft.user,
            robot=draft.robot,
            rating_link=draft.rating_link,
            created_at=now,
            next_attempt_at=now,
        )
        try:
            with transaction.atomic():
                message.save(force_insert=True)
        except IntegrityError:
            continue
        written.append(message)
    if written:
        ids = [m.pk for m in written]
        transaction.on_commit(lambda: _queue_sending(ids))
    return written


def enqueue_many(drafts: list[Draft]) -> list[int]:
    """`enqueue` for many drafts at once (a topic's residents): the rows whose keys are new, in
    a few queries however many (no query and savepoint per draft).
    A key already written (now or by a concurrent transaction: the unique key) is skipped, so
    each draft is sent at most once. Returns the ids of the rows written now."""
    if not drafts:
        return []
    now = clock.now()
    written: list[int] = []
    for start in range(0, len(drafts), _CHUNK):
        chunk = drafts[start : start + _CHUNK]
        keys = [d.key for d in chunk]
        have = set(Message.objects.filter(key__in=keys).values_list("key", flat=True))
        new = [d for d in chunk if d.key not in have]
        if not new:
            continue
        Message.objects.bulk_create(
            [
                Message(
                    key=d.key,
                    channel=d.channel,
                    template=d.template,
                    to_masked=d.to_masked,
                    body=d.body,
                    subject=d.subject,
                    need=d.need,
                    requester=d.requester,
                    user=d.user,
                    robot=d.robot,
                    rating_link=d.rating_link,
                    created_at=now,
                    next_attempt_at=now,
                )
                for d in new
            ],
            ignore_conflicts=True,
        )
        # Rows a concurrent transaction wrote first have another creation time (or are not
        # visible yet): only ours are queued here; theirs are queued by them.
        written += list(
            Message.objects.filter(key__in=[d.key for d in new], created_at=now).values_list(
                "pk", flat=True
            )
        )
    if written:
        transaction.on_commit(lambda: _queue_sending(written))
    return written


def _queue_sending(message_ids: list[int]) -> None:
    from wenxu.notify.tasks import send_messages

    send_messages.enqueue(message_ids)
