"""The periodic sweep (DESIGN §4): reminders before deadlines, escalation of overdue needs to the
dispatchers (督办), reminders of `planned` promises past their follow-up date, and closing replied
needs whose callback window has passed as unreachable.

Idempotent: each reminder is an event carrying the deadline it is about (its cycle), and a need
that already has that event is skipped, so running the sweep twice reminds once. The listing here
only saves work: two overlapping sweeps (two machines) may list the same need, so the services
re-check under the row lock (`need_remind` refuses a second reminder for the cycle,
`need_expire_callback` a need whose window has not passed) and the sweep counts those as skipped.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import Q, QuerySet

from wenxu.lib import clock
from wenxu.needs import deadlines, services, states
from wenxu.needs.exceptions import DomainError
from wenxu.needs.models import Need, NeedEvent

logger = logging.getLogger(__name__)


@dataclass
class SweepResult:
    due_soon: int = 0
    response_overdue: int = 0
    overdue: int = 0
    followup_due: int = 0
    unreachable: int = 0
    skipped: int = 0

    def total(self) -> int:
        return (
            self.due_soon
            + self.response_overdue
            + self.overdue
            + self.followup_due
            + self.unreachable
        )


def _not_yet_reminded(needs: "QuerySet[Need]", kind: str) -> list[int]:
    """Ids of `needs` without a reminder of `kind` for their current cycle (`remind_cycle`).

    The deadline identifies the cycle: an extension or a reopen sets a new one, and a new
    follow-up date a new promise, which get their own reminders.
    """
    fresh: list[int] = []
    batch: list[Need] = []

    def flush() -> None:
        sent = set(
            NeedEvent.objects.filter(
                need_id__in=[n.pk for n in batch], action=states.Action.REMIND, data__kind=kind
            ).values_list("need_id", "data__due")
        )
        fresh.extend(n.pk for n in batch if (n.pk, services.remind_cycle(n, kind)) not in sent)
        batch.clear()

    for need in needs.only("pk", "resolve_due", "followup_date").iterator(chunk_size=500):
        batch.append(need)
        if len(batch) == 500:
            flush()
    if batch:
        flush()
    return fresh


def _run(ids: list[int], result: SweepResult, action: str, fn: Callable[[int], object]) -> int:
    done = 0
    for need_id in ids:
        try:
            fn(need_id)
            done += 1
        except DomainError as error:
            # The need moved on since we listed it (replied, reassigned…), or an overlapping
            # sweep got there first: nothing to do.
            logger.info("sweep %s skipped need %s: %s", action, need_id, error.message)
            result.skipped += 1
    return done


def sweep() -> SweepResult:
    at = clock.now()
    result = SweepResult()
    running = Q(
        status__in=[states.Status.ASSIGNED, states.Status.IN_PROGRESS], replied_at__isnull=True
    )

    # 1. Reminders before the resolution deadline, by each rule's lead time.
    book = deadlines.RuleBook()
    horizon = at + timedelta(hours=max([72, *book.rules.values()]))
    window = Need.objects.filter(running, resolve_due__gt=at, resolve_due__lte=horizon)
    fresh = set(_not_yet_reminded(window, "due_soon"))
    due_soon = [
        n.pk
        for n in window.filter(pk__in=fresh).select_related("category").iterator(chunk_size=500)
        if n.resolve_due and n.resolve_due - timedelta(hours=book.remind_hours(n)) <= at
    ]
    result.due_soon = _run(
        due_soon,
        result,
        "due_soon",
        lambda pk: services.need_remind(
            actor=None, need=pk, version=None, kind="due_soon", note="办理时限将至，请抓紧办理。"
        ),
    )

    # 2. Not accepted by the response deadline.
    result.response_overdue = _run(
        _not_yet_reminded(
            Need.objects.filter(status=states.Status.ASSIGNED, response_due__lt=at),
            "response_overdue",
        ),
        result,
        "response_overdue",
        lambda pk: services.need_remind(
            actor=None,
            need=pk,
            version=None,
            kind="response_overdue",
            note="已超过响应时限仍未签收，已报调度督办。",
        ),
    )

    # 3. Past the resolution deadline without a reply: escalate to the dispatchers.
    result.overdue = _run(
        _not_yet_reminded(Need.objects.filter(running, resolve_due__lt=at), "overdue"),
        result,
        "overdue",
        lambda pk: services.need_remind(
            actor=None,
            need=pk,
            version=None,
            kind="overdue",
            note="已超过办结时限仍未答复，已报调度督办。",
        ),
    )

    # 4. A `planned` promise past its follow-up date: remind the lead unit, once per date.
    result.followup_due = _run(
        _not_yet_reminded(
            Need.objects.filter(status=states.Status.FOLLOWING, followup_date__lt=clock.today()),
            "followup_due",
        ),
        result,
        "followup_due",
        lambda pk: services.need_remind(
            actor=None,
            need=pk,
            version=None,
            kind="followup_due",
            note="承诺的跟进日期已过，请抓紧兑现并告知群众。",
        ),
    )

    # 5. Replied, and the callback window passed: closed as unreachable (planned → following).
    callback_window = timedelta(days=settings.WENXU_CALLBACK_WINDOW_DAYS)
    result.unreachable = _run(
        list(
            Need.objects.filter(
                status=states.Status.REPLIED, replied_at__lt=at - callback_window
            ).values_list("pk", flat=True)
        ),
        result,
        "unreachable",
        lambda pk: services.need_expire_callback(need=pk),
    )
    return result
