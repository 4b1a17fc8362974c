"""The periodic sweep (DESIGN §4): all time-driven work, run every minute by `wenxu worker`.

In order: reminders before the response and resolution deadlines; 督办 of needs past their
response or resolution deadline (flagged supervised, told to the dispatchers and the unit's
leader); escalation one level up the area tree while still overdue; reminders of `planned`
promises past their follow-up date; closing replied needs whose callback window has passed as
unreachable; the resident's callback request (rating link again); the units' daily digests; a
catch-up of event messages whose delivery task never ran; and sending due outbox messages
(retries).

Idempotent: each reminder is an event carrying the deadline it is about (its cycle, plus the
level for escalations), and a need that already has that event is skipped, so running the sweep
twice reminds once. The listing here only saves work: two overlapping sweeps (two machines) may
list the same need, so the services re-check under the row lock (`need_remind` and
`need_escalate` refuse a second reminder for the cycle, `need_expire_callback` a need whose
window has not passed) and the sweep counts those as skipped. Messages are keyed by their
trigger in the outbox, so a second sweep writes none twice; `send_due` claims each message once.

Listings are narrowed in SQL and read in batches; no stage loops over the whole ledger.
"""

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef, Q, QuerySet

from wenxu.lib import clock
from wenxu.needs import deadlines, ledger_kept, services, states
from wenxu.needs.exceptions import DomainError
from wenxu.needs.models import Need, NeedEvent
from wenxu.needs.services import oversight

logger = logging.getLogger(__name__)


@dataclass
class SweepResult:
    response_due_soon: int = 0
    due_soon: int = 0
    response_overdue: int = 0
    overdue: int = 0
    escalated: int = 0
    followup_due: int = 0
    unreachable: int = 0
    callback_requests: int = 0
    digests: int = 0
    caught_up: int = 0
    sent: int = 0
    rolled_up: int = 0
    skipped: int = 0
    failed_stages: int = 0

    def total(self) -> int:
        """Actions on needs (reminders, escalations, closings): not counting messages."""
        return (
            self.response_due_soon
            + self.due_soon
            + self.response_overdue
            + self.overdue
            + self.escalated
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


def _response_lead(need: Need, book: deadlines.RuleBook) -> timedelta:
    """How long before the response deadline the unit is reminded to accept: the rule's lead
    time, but at most half the time the unit was given (an urgent need due in 2 hours is not
    reminded the moment it is assigned)."""
    lead = timedelta(hours=book.remind_hours(need))
    if need.assigned_at is not None and need.response_due is not None:
        lead = min(lead, (need.response_due - need.assigned_at) / 2)
    return lead


def _escalations(at: datetime) -> list[tuple[int, int]]:
    """(need, next level) for overdue needs whose latest 督办 alert of this cycle is older than
    `WENXU_ESCALATE_AFTER_HOURS` and whose ladder has a next rung.

    Alerts of the current cycle are the overdue and escalated reminders sent after its deadline
    passed (`created_at >= resolve_due`), so the quiet ones are found in SQL; levels are read
    for those only, in batches.
    """
    after = timedelta(hours=settings.WENXU_ESCALATE_AFTER_HOURS)
    alert_kinds = [oversight.OVERDUE, oversight.ESCALATED]
    cycle_alerts = NeedEvent.objects.filter(
        need_id=OuterRef("pk"),
        action=states.Action.REMIND,
        data__kind__in=alert_kinds,
        created_at__gte=OuterRef("resolve_due"),
    )
    recent = cycle_alerts.filter(created_at__gt=at - after)
    quiet = (
        Need.objects.filter(
            status__in=[states.Status.ASSIGNED, states.Status.IN_PROGRESS],
            replied_at__isnull=True,
            resolve_due__lt=at,
        )
        .filter(Exists(cycle_alerts))
        .filter(~Exists(recent))
        .values_list("pk", "resolve_due", "area__path")
    )
    ladders = oversight.dispatcher_area_ids()
    found: list[tuple[int, int]] = []
    batch: list[tuple[int, datetime | None, str]] = []

    def flush() -> None:
        levels: dict[int, list[tuple[int, datetime]]] = defaultdict(list)
        dues = {
            pk: services.remind_cycle(Need(resolve_due=due), oversight.OVERDUE)
            for pk, due, _p in batch
        }
        for need_id, due, level, sent_at in NeedEvent.objects.filter(
            need_id__in=[pk for pk, _d, _p in batch],
            action=states.Action.REMIND,
            data__kind__in=alert_kinds,
        ).values_list("need_id", "data__due", "data__level", "created_at"):
            if due == dues[need_id]:
                levels[need_id].append((int(level or 0), sent_at))
        for pk, _due, path in batch:
            level = oversight.escalation_due(levels[pk], now=at, after=after)
            if level is not None and level < len(oversight.escalation_chain(path, ladders)):
                found.append((pk, level))
        batch.clear()

    for row in quiet.iterator(chunk_size=500):
        batch.append(row)
        if len(batch) == 500:
            flush()
    if batch:
        flush()
    return found


def _export_cleanup() -> int:
    """Files of ledger exports finished more than a week ago, and jobs whose worker died."""
    from wenxu.exchange.services import export_jobs_cleanup, export_jobs_recover

    return export_jobs_recover() + export_jobs_cleanup()


def _import_purge() -> int:
    """Ledger uploads never committed (they hold residents' names and phones)."""
    from wenxu.needs.ledger_import.service import ledger_import_purge_stale

    return ledger_import_purge_stale()


def _rollups() -> int:
    from wenxu.insight.rollups import rollup_catch_up

    return rollup_catch_up()


def _hot_topics() -> int:
    """Recompute the hot topics when the last scheduled run is WENXU_HOT_TOPICS_EVERY_HOURS old."""
    from wenxu.insight.hot_runs import hot_topics_scheduled

    return hot_topics_scheduled()


def _signals() -> int:
    """未诉先办: rises of an area × category against its baseline, once per period."""
    from wenxu.insight.signals import signals_detect

    return signals_detect()


def _stage(result: SweepResult, name: str, fn: Callable[[], int]) -> int:
    """One stage of the sweep; a failing stage is logged and the others still run."""
    try:
        return fn()
    except Exception:
        logger.exception("sweep stage %s failed", name)
        result.failed_stages += 1
        return 0


def sweep(*, insight: bool = True) -> SweepResult:
    """Every stage once. `insight=False` leaves out the hot topics and early signals, which look
    at the present (the demo's replay of past days runs them once at the end instead)."""
    at = clock.now()
    result = SweepResult()
    running = Q(
        status__in=[states.Status.ASSIGNED, states.Status.IN_PROGRESS], replied_at__isnull=True
    )
    book = deadlines.RuleBook()

    # 1. Reminders before the response deadline: not yet accepted, lead time from the rules.
    horizon = at + timedelta(hours=max([72, *book.rules.values()]))
    waiting = Need.objects.filter(
        status=states.Status.ASSIGNED, response_due__gt=at, response_due__lte=horizon
    )
    fresh = set(_not_yet_reminded(waiting, oversight.RESPONSE_DUE_SOON))
    response_due_soon = [
        n.pk
        for n in waiting.filter(pk__in=fresh).select_related("category").iterator(chunk_size=500)
        if n.response_due and n.response_due - _response_lead(n, book) <= at
    ]
    result.response_due_soon = _run(
        response_due_soon,
        result,
        "response_due_soon",
        lambda pk: services.need_remind(
            actor=None,
            need=pk,
            version=None,
            kind=oversight.RESPONSE_DUE_SOON,
            note="签收时限将至，请尽快签收。",
        ),
    )

    # 2. Reminders before the resolution deadline, by each rule's lead time (in SQL).
    window = Need.objects.filter(running, resolve_due__gt=at).filter(
        book.within_lead_time_q(now=at)
    )
    result.due_soon = _run(
        _not_yet_reminded(window, "due_soon"),
        result,
        "due_soon",
        lambda pk: services.need_remind(
            actor=None, need=pk, version=None, kind="due_soon", note="办理时限将至，请抓紧办理。"
        ),
    )

    # 3. Not accepted by the response deadline: 督办.
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

    # 4. Past the resolution deadline without a reply: 督办 to the dispatchers and the leader.
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

    # 5. Still overdue long after the last alert: one level up the area tree.
    escalations = _escalations(at)
    levels = dict(escalations)
    result.escalated = _run(
        [pk for pk, _level in escalations],
        result,
        "escalated",
        lambda pk: oversight.need_escalate(need=pk, level=levels[pk]),
    )

    # 6. A `planned` promise past its follow-up date: remind the lead unit, once per date.
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

    # 7. Replied, and the callback window passed: closed as unreachable (planned → following).
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

    # 8-11. Messages: callback requests, daily digests, the catch-up, then sending (retries).
    from wenxu.notify import sending
    from wenxu.notify import services as notify

    result.callback_requests = _stage(
        result, "callback_requests", lambda: notify.request_callbacks(at=at)
    )
    result.digests = _stage(result, "digests", lambda: notify.produce_digests(at=at))
    result.caught_up = _stage(result, "catch_up", lambda: notify.deliver_missed(at=at))
    result.sent = _stage(result, "send", lambda: sending.send_due())
    # Last: the statistics read the events this sweep wrote too (once they are LAG old).
    result.rolled_up = _stage(result, "rollups", _rollups)
    _stage(result, "export_cleanup", _export_cleanup)
    _stage(result, "import_purge", _import_purge)
    _stage(result, "ledger_marks", ledger_kept.ledger_marks_fold)  # ADR 0028
    _stage(result, "kept_ledger", ledger_kept.kept_ledger_sweep)  # ADR 0031
    # 举一反三: hot topics on their schedule, then early signals from the fresh rollups.
    if insight:
        _stage(result, "hot_topics", _hot_topics)
        _stage(result, "signals", _signals)
    return result
