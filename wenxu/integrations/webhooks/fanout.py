"""From the event log to deliveries: one `WebhookDelivery` per matching subscription and event.

Like the rollups (ADR 0013) the fan-out follows `NeedEvent` in id order with one cursor row,
locked for update while it works (a second worker finding it locked skips, PostgreSQL `SKIP
LOCKED`); the deliveries and the cursor move in one transaction, and the unique (subscription,
event) pair makes a second writing of the same delivery a no-op, so nothing is sent twice.

Losing nothing: ids are given out at insert, so a transaction still open when the fan-out reads
can commit an older id after a newer one was read. Instead of waiting a fixed lag, the fan-out
remembers the ids it stepped over (`WebhookCursor.gaps`, as ranges) and looks at them again on
every run (at most `GAP_REFILL_LIMIT` events a run) until they appear; a gap is queried once
more and then dropped when it is `GAP_TTL` old (a rolled-back transaction never fills it), so a
worker that was down longer still finds what committed meanwhile. Dropping ids still missing,
or trimming beyond `MAX_GAPS` ranges, logs a WARNING. A long ledger import (one transaction,
many events) is one range, found when it commits.
"""

import logging
import time as timer
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import uuid4

from django.db import transaction
from django.db.models import Max, Min

from wenxu.integrations.models import ApiClient, ClientAction
from wenxu.integrations.webhook_models import WebhookCursor, WebhookDelivery, WebhookSubscription
from wenxu.integrations.webhooks import events, payloads
from wenxu.lib import clock
from wenxu.needs.models import NeedEvent

logger = logging.getLogger("wenxu.webhooks")

BATCH = 1000
GAP_TTL = timedelta(hours=6)
MAX_GAPS = 1000  # ranges kept; the oldest are dropped beyond this (logged)
GAP_REFILL_LIMIT = 5000  # late events read from the gaps per run; the rest wait a run
# A subscription switched off automatically longer than this gets no more deliveries written
# (and its waiting ones are cancelled by the sweep): see `services.webhook_expire_stopped`.
STOPPED_KEEP = timedelta(days=7)

Gap = list[int | str]  # [low, high, first seen ISO]


@dataclass(frozen=True)
class _Listener:
    subscription: WebhookSubscription
    types: frozenset[str]  # empty: all
    paths: tuple[str, ...]  # the event's need area must lie under one of these; empty: all

    def wants(self, event: NeedEvent) -> bool:
        if event.pk <= self.subscription.after_event_id:
            return False
        if self.types and events.type_of(event.action) not in self.types:
            return False
        area_path = event.need.area.path
        return not self.paths or any(area_path.startswith(p) for p in self.paths)


def _scope(client_paths: list[str], area_path: str | None) -> tuple[str, ...] | None:
    """Area paths a subscription covers (client areas ∩ its own area); None: covers nothing."""
    if area_path is None:
        return tuple(client_paths)
    if not client_paths or any(area_path.startswith(p) for p in client_paths):
        return (area_path,)
    return None  # the client's areas changed and no longer hold the subscription's area


def listeners() -> list[_Listener]:
    """The subscriptions that get deliveries: switched on (also when disabled automatically,
    for `STOPPED_KEEP`, so their events wait for the re-enabling; not after that), of a usable
    client with the webhooks action."""
    now = clock.now()
    found: list[_Listener] = []
    subscriptions = (
        WebhookSubscription.objects.filter(active=True)
        .exclude(disabled_at__lt=now - STOPPED_KEEP)
        .select_related("client", "area")
        .prefetch_related("client__areas")
        .order_by("pk")
    )
    for subscription in subscriptions:
        client: ApiClient = subscription.client
        if not client.is_usable(now) or not client.may(ClientAction.WEBHOOKS):
            continue
        client_paths = [area.path for area in client.areas.all()]
        area_path = subscription.area.path if subscription.area else None
        paths = _scope(client_paths, area_path)
        if paths is None:
            continue
        found.append(_Listener(subscription, frozenset(subscription.event_types or []), paths))
    return found


def _deliveries(event_list: Iterable[NeedEvent], subscribed: list[_Listener]) -> int:
    now = clock.now()
    rows: list[WebhookDelivery] = []
    for event in event_list:
        for listener in subscribed:
            if not listener.wants(event):
                continue
            delivery_id = uuid4()
            rows.append(
                WebhookDelivery(
                    uuid=delivery_id,
                    subscription=listener.subscription,
                    event=event,
                    event_type=events.type_of(event.action),
                    need_number=event.need.number,
                    body=payloads.event_body(delivery_id=delivery_id, created_at=now, event=event),
                    created_at=now,
                    next_attempt_at=now,
                )
            )
    if rows:
        WebhookDelivery.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def _events(ids_q: dict[str, int], *, limit: int) -> list[NeedEvent]:
    return list(
        NeedEvent.objects.filter(**ids_q)
        .select_related("need__area", "need__category", "need__lead_unit")
        .order_by("pk")[:limit]
    )


def _split(gap: Gap, found: set[int]) -> list[Gap]:
    """The parts of `gap` still missing once `found` ids appeared."""
    low, high, seen = int(gap[0]), int(gap[1]), gap[2]
    parts: list[Gap] = []
    start = low
    for pk in sorted(i for i in found if low <= i <= high):
        if pk > start:
            parts.append([start, pk - 1, seen])
        start = pk + 1
    if start <= high:
        parts.append([start, high, seen])
    return parts


def _cursor() -> WebhookCursor | None:
    if not WebhookCursor.objects.filter(name="main").exists():
        # A first run starts where the oldest subscription began (each one records the end of
        # the log when it was made), else at the end of the log: history is not replayed.
        first = WebhookSubscription.objects.aggregate(first=Min("after_event_id"))["first"]
        last = first if first is not None else NeedEvent.objects.aggregate(last=Max("pk"))["last"]
        last = last or 0
        WebhookCursor.objects.get_or_create(name="main", defaults={"last_event_id": last})
    return WebhookCursor.objects.select_for_update(skip_locked=True).filter(name="main").first()


def _trim(gaps: list[Gap]) -> list[Gap]:
    """At most `MAX_GAPS` ranges: the oldest go, with a WARNING (their late events, if any
    ever commit, will not be sent)."""
    if len(gaps) <= MAX_GAPS:
        return gaps
    dropped = gaps[:-MAX_GAPS]
    logger.warning(
        "webhook fan-out: more than %s gaps; %s oldest dropped unfilled (ids %s): "
        "events committing there later will not be sent",
        MAX_GAPS,
        len(dropped),
        ", ".join(f"{g[0]}-{g[1]}" for g in dropped[:20]),
    )
    return gaps[-MAX_GAPS:]


def _refill_gaps(cursor: WebhookCursor, subscribed: list[_Listener], now: datetime) -> int:
    """Look at the gaps again: write the events that appeared, keep what is still missing.

    Every gap is queried first, however old (the worker may have been down longer than
    `GAP_TTL`, and the events in it committed meanwhile); only what is still missing after
    `GAP_TTL` is dropped (a rolled-back transaction never fills it), with a WARNING. At most
    `GAP_REFILL_LIMIT` events are read per run; gaps not reached wait for the next run.
    """
    if not cursor.gaps:
        return 0
    cutoff = (now - GAP_TTL).isoformat()
    kept: list[Gap] = []
    written = 0
    budget = GAP_REFILL_LIMIT
    for gap in cursor.gaps:
        if budget <= 0:
            kept.append(gap)
            continue
        low, high = int(gap[0]), int(gap[1])
        take = budget
        found = _events({"pk__gte": low, "pk__lte": high}, limit=take)
        budget -= len(found)
        if found:
            written += _deliveries(found, subscribed)
        if len(found) == take:
            # cut short: what lies above the last event read is looked at next run
            last = found[-1].pk
            kept += _split([low, last, gap[2]], {e.pk for e in found})
            if last < high:
                kept.append([last + 1, high, gap[2]])
            continue
        missing = _split(gap, {e.pk for e in found})
        if str(gap[2]) < cutoff:
            if missing:
                logger.warning(
                    "webhook fan-out: ids %s never appeared within %s; given up "
                    "(a rolled-back transaction, or an event that will not be sent)",
                    ", ".join(f"{m[0]}-{m[1]}" for m in missing[:20]),
                    GAP_TTL,
                )
            continue
        kept += missing
    cursor.gaps = _trim(kept)
    return written


def fanout(*, limit: int = BATCH, budget: timedelta = timedelta(seconds=20)) -> int:
    """Write the deliveries of the events after the cursor (and of late ones in its gaps),
    batch after batch until none is left or `budget` is spent; returns how many deliveries were
    written. Another worker at it (the cursor locked) makes this one return 0 (PostgreSQL)."""
    written = 0
    started = timer.monotonic()
    first = True
    while True:
        with transaction.atomic():
            cursor = _cursor()
            if cursor is None:
                return written
            now = clock.now()
            subscribed = listeners()
            if first:
                written += _refill_gaps(cursor, subscribed, now)
                first = False
            batch = list(
                NeedEvent.objects.filter(pk__gt=cursor.last_event_id)
                .select_related("need__area", "need__category", "need__lead_unit")
                .order_by("pk")[:limit]
            )
            if subscribed:
                written += _deliveries(batch, subscribed)
            expected = cursor.last_event_id + 1
            for event in batch:
                if event.pk > expected:
                    cursor.gaps.append([expected, event.pk - 1, now.isoformat()])
                expected = event.pk + 1
            cursor.gaps = _trim(cursor.gaps)
            if batch:
                cursor.last_event_id = batch[-1].pk
            cursor.updated_at = now
            cursor.save(update_fields=["last_event_id", "gaps", "updated_at"])
        if len(batch) < limit or timer.monotonic() - started > budget.total_seconds():
            return written
