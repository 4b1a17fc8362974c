"""Retention (PIPL: personal data kept no longer than needed): `wenxu retention`.

A requester is anonymised (`erasure.anonymise_requesters`) once every one of their needs has
been settled for longer than `WENXU_RETENTION_DAYS` (0: kept for ever): closed, withdrawn or
merged, with nothing at all happening on it since the cut-off (no event: a late callback, a
reopening, a rating), no pending reopen request, and, for a merged need, the need it was merged
into settled the same way (its requester waits on that one). A requester with any need still
active, or settled recently, is kept whole. A requester without needs is anonymised once the
record itself is older than the period.

The retention period must be longer than the reopen window (settings refuse less), so no need
that may still be reopened loses its requester.

Runs in batches, each batch in its own transaction with its own audit entry (RETENTION), so an
interrupted run keeps what it did and the next run goes on. Anonymised requesters no longer
match, so running it again changes nothing (idempotent). Run it daily from cron.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from wenxu.audit import actions
from wenxu.audit.services import audit_record
from wenxu.lib import clock
from wenxu.needs import states
from wenxu.needs.models import Need, NeedEvent, ReopenRequest
from wenxu.residents.erasure import AnonymiseCount, anonymise_requesters, anonymised_q
from wenxu.residents.models import Requester

DEFAULT_BATCH = 500
MERGE_DEPTH = 20  # merge chains are short; a longer one is treated as unsettled


def cutoff_for(days: int, *, now: datetime | None = None) -> datetime:
    """The start of the local day `days` days ago: settled before it means old enough."""
    today = timezone.localdate(now or clock.now())
    start = today - timedelta(days=days)
    return datetime.combine(start, time.min, tzinfo=timezone.get_default_timezone())


def _unsettled(cutoff: datetime) -> Q:
    """Needs that keep their requester: active, or with anything happening since `cutoff`."""
    recent_event = NeedEvent.objects.filter(need=OuterRef("pk"), created_at__gte=cutoff)
    pending = ReopenRequest.objects.filter(need=OuterRef("pk"), state=ReopenRequest.State.PENDING)
    return (
        Q(status__in=states.ACTIVE)
        | Q(registered_at__gte=cutoff)
        | Q(closed_at__gte=cutoff)
        | Exists(recent_event)
        | Exists(pending)
    )


def eligible(cutoff: datetime) -> QuerySet[Requester]:
    """Requesters whose needs are all settled before `cutoff` (merge chains checked apart)."""
    needs = Need.objects.filter(requester=OuterRef("pk"))
    return (
        Requester.objects.exclude(anonymised_q())
        # Without needs, the record's own age counts (`created_at` is the real time of entry,
        # also for imported or back-dated needs, which are judged by their needs' times).
        .filter(Q(created_at__lt=cutoff) | Exists(needs))
        .filter(~Exists(needs.filter(_unsettled(cutoff))))
        .order_by("pk")
    )


def _merge_blocked(requester_ids: list[int], cutoff: datetime) -> set[int]:
    """Of `requester_ids`, those with a need merged into a need that is not settled yet."""
    merged = Need.objects.filter(
        requester_id__in=requester_ids, status=states.Status.MERGED
    ).values_list("requester_id", "merged_into_id")
    waiting: dict[int, set[int]] = {}  # target need id -> requester ids waiting on it
    for requester_id, target in merged:
        if target is not None:
            waiting.setdefault(target, set()).add(requester_id)
    blocked: set[int] = set()
    for _depth in range(MERGE_DEPTH):
        if not waiting:
            return blocked
        unsettled = set(
            Need.objects.filter(pk__in=waiting)
            .filter(_unsettled(cutoff))
            .values_list("pk", flat=True)
        )
        onward: dict[int, set[int]] = {}
        for pk, target in Need.objects.filter(pk__in=waiting).values_list("pk", "merged_into_id"):
            if pk in unsettled:
                blocked |= waiting[pk]
            elif target is not None:
                onward.setdefault(target, set()).update(waiting[pk])
        waiting = {t: ids - blocked for t, ids in onward.items() if ids - blocked}
    for ids in waiting.values():
        blocked |= ids
    return blocked


def _batches(cutoff: datetime, size: int) -> Iterator[list[int]]:
    """Ids of eligible requesters, `size` at a time, by ascending id."""
    last = 0
    while True:
        ids = list(eligible(cutoff).filter(pk__gt=last).values_list("pk", flat=True)[:size])
        if not ids:
            return
        last = ids[-1]
        yield ids


@dataclass
class RetentionResult:
    days: int
    cutoff: datetime
    dry_run: bool
    requesters: int = 0
    needs: int = 0
    batches: int = 0
    listed: list[Requester] = field(default_factory=list)  # the first ones, for the dry run
    count: AnonymiseCount = field(default_factory=AnonymiseCount)

    @property
    def before(self) -> date:
        return timezone.localdate(self.cutoff)


def retention_run(
    *,
    dry_run: bool,
    days: int | None = None,
    batch: int = DEFAULT_BATCH,
    list_limit: int = 100,
) -> RetentionResult:
    """Anonymise the requesters past retention (or, with `dry_run`, only list them)."""
    days = settings.WENXU_RETENTION_DAYS if days is None else days
    cutoff = cutoff_for(days)
    result = RetentionResult(days=days, cutoff=cutoff, dry_run=dry_run)
    if days <= 0:
        return result  # kept for ever
    for ids in _batches(cutoff, batch):
        if dry_run:
            blocked_ids = _merge_blocked(ids, cutoff)
            chosen = [pk for pk in ids if pk not in blocked_ids]
            result.requesters += len(chosen)
            result.needs += Need.objects.filter(requester_id__in=chosen).count()
            room = list_limit - len(result.listed)
            if room > 0:
                result.listed += list(
                    Requester.objects.filter(pk__in=chosen[:room])
                    .prefetch_related("needs")
                    .order_by("pk")
                )
            continue
        with transaction.atomic():
            # Checked again under the row locks: a need may have moved since the listing.
            locked = list(eligible(cutoff).filter(pk__in=ids).select_for_update(of=("self",)))
            blocked = _merge_blocked([r.pk for r in locked], cutoff)
            chosen_rows = [r for r in locked if r.pk not in blocked]
            if not chosen_rows:
                continue
            count = anonymise_requesters(chosen_rows)
            audit_record(
                action=actions.RETENTION,
                actor=None,
                target="requesters",
                detail={
                    "requesters": count.requesters,
                    "needs": count.needs,
                    "before": result.before.isoformat(),
                    "days": days,
                    "first_id": chosen_rows[0].pk,
                    "last_id": chosen_rows[-1].pk,
                },
            )
        result.batches += 1
        result.requesters += count.requesters
        result.needs += count.needs
        result.count.add(count)
    return result
