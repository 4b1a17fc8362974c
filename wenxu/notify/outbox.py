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


def _queue_sending(message_ids: list[int]) -> None:
    from wenxu.notify.tasks import send_messages

    send_messages.enqueue(message_ids)
