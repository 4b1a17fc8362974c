"""The ledger's promises, checked over every need (`wenxu ledger_check`).

事事有回音、件件有着落: every need has an owner and a deadline soon after it is registered, nothing
is replied or closed without a reply and an outcome, a `planned` promise carries its follow-up
date and is closed only once fulfilled, a merged need's target is not withdrawn, and the event log
explains every status.

Most of these are also database constraints; the check exists for what constraints cannot see
(the event log, the triage window) and for data that reached the tables some other way
(imports, manual repairs, a constraint added later). It reads the ledger in keyset-paginated
chunks with two queries per chunk — needs, then their events — so 100 k needs cost ~100
queries and a bounded amount of memory.
"""

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from itertools import groupby
from typing import NamedTuple

from django.conf import settings
from django.db.models import Case, F, When
from django.db.models.functions import Length, Trim
from django.utils.translation import gettext as _

from wenxu.lib import clock
from wenxu.lib.text import join_list
from wenxu.needs import states
from wenxu.needs.models import Need, NeedEvent
from wenxu.needs.states import Action, Outcome, Status

CHUNK_SIZE = 2000

UNTRIAGED = "untriaged"
NO_OWNER = "no_owner"
NO_REPLY = "no_reply"
PLANNED_NO_FOLLOWUP = "planned_no_followup"
PLANNED_NOT_FULFILLED = "planned_not_fulfilled"
NO_EVENTS = "no_events"
SEQ_GAP = "seq_gap"
MERGED_INTO_WITHDRAWN = "merged_into_withdrawn"
ILLEGAL_EVENT = "illegal_event"
REPLAY_MISMATCH = "replay_mismatch"

CODES = (
    UNTRIAGED,
    NO_OWNER,
    NO_REPLY,
    PLANNED_NO_FOLLOWUP,
    PLANNED_NOT_FULFILLED,
    MERGED_INTO_WITHDRAWN,
    NO_EVENTS,
    SEQ_GAP,
    ILLEGAL_EVENT,
    REPLAY_MISMATCH,
)

_ANSWERED = frozenset({Status.REPLIED, Status.FOLLOWING, Status.CLOSED})
_OWNED = frozenset({Status.ASSIGNED, Status.IN_PROGRESS})


@dataclass(frozen=True)
class Finding:
    number: str
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.number} [{self.code}] {self.message}"


class EventRow(NamedTuple):
    seq: int
    action: str
    from_status: str
    to_status: str
    entered_at: datetime | None  # when the need (re-)entered `registered` by this event


class NeedRow(NamedTuple):
    pk: int
    number: str
    status: str
    lead_unit_id: int | None
    resolve_due: datetime | None
    registered_at: datetime
    outcome: str
    replied_at: datetime | None
    followup_date: date | None
    fulfilled_at: datetime | None
    reply_length: int
    merged_into_number: str | None = None
    merged_into_status: str | None = None


def _label(status: str) -> str:
    if not status:
        return _("（无）")
    try:
        return str(Status(status).label)
    except ValueError:
        return status


def _action_label(action: str) -> str:
    try:
        return str(Action(action).label)
    except ValueError:
        return action


def event_is_legal(action: str, from_status: str, to_status: str) -> bool:
    """Whether one event's step is one the lifecycle (states.TRANSITIONS) allows."""
    if action == Action.REGISTER:
        return from_status == "" and to_status == Status.REGISTERED
    if action == Action.REGISTER_ON_THE_SPOT:
        return from_status == "" and to_status in {Status.REPLIED, Status.CLOSED}
    if action == Action.MERGED_FROM:
        return from_status == to_status and from_status in states.ACTIVE
    transition = states.TRANSITIONS.get(action)
    if transition is None or from_status not in transition.sources:
        return False
    if action == Action.CALLBACK:
        return to_status in states.CALLBACK_TARGETS
    return to_status == (transition.target or from_status)


def replay_problems(status: str, events: Sequence[EventRow]) -> list[tuple[str, str]]:
    """(code, message) for every way the events fail to explain `status`. Events sorted by seq."""
    if not events:
        return [(NO_EVENTS, _("没有任何办理记录，无法说明其当前状态。"))]
    problems: list[tuple[str, str]] = []
    seqs = [event.seq for event in events]
    missing = sorted(set(range(1, max(seqs) + 1)) - set(seqs))
    if missing or len(seqs) != len(set(seqs)):
        shown = join_list(missing[:5]) or "—"
        problems.append(
            (SEQ_GAP, _("办理记录序号不连续（缺少第 %(seqs)s 条）。") % {"seqs": shown})
        )
    previous = ""
    for event in events:
        if event.from_status != previous:
            problems.append(
                (
                    REPLAY_MISMATCH,
                    _("第 %(seq)d 条办理记录从“%(from)s”开始，但上一条记录止于“%(prev)s”。")
                    % {
                        "seq": event.seq,
                        "from": _label(event.from_status),
                        "prev": _label(previous),
                    },
                )
            )
        if not event_is_legal(event.action, event.from_status, event.to_status):
            problems.append(
                (
                    ILLEGAL_EVENT,
                    _("第 %(seq)d 条办理记录“%(action)s”从“%(from)s”到“%(to)s”不符合流转规则。")
                    % {
                        "seq": event.seq,
                        "action": _action_label(event.action),
                        "from": _label(event.from_status),
                        "to": _label(event.to_status),
                    },
                )
            )
        previous = event.to_status
    if previous != status:
        problems.append(
            (
                REPLAY_MISMATCH,
                _("办理记录止于“%(last)s”，但诉求状态为“%(status)s”。")
                % {"last": _label(previous), "status": _label(status)},
            )
        )
    return problems


def need_problems(
    need: NeedRow, events: Sequence[EventRow], *, now: datetime, triage: timedelta
) -> list[tuple[str, str]]:
    """(code, message) for every promise this need breaks."""
    problems: list[tuple[str, str]] = []
    unowned = need.lead_unit_id is None or need.resolve_due is None
    if need.status == Status.REGISTERED and unowned:
        # The triage clock starts when the need (re-)entered `registered`: registration or return.
        entered = max(
            [need.registered_at] + [e.entered_at for e in events if e.entered_at is not None]
        )
        if now - entered > triage:
            problems.append(
                (
                    UNTRIAGED,
                    _("已登记超过 %(hours)d 小时仍未交办，没有主办单位和办理时限。")
                    % {"hours": triage // timedelta(hours=1)},
                )
            )
    elif need.status in _OWNED and unowned:
        problems.append(
            (
                NO_OWNER,
                _("状态为“%(status)s”，却没有主办单位或办结时限。")
                % {"status": _label(need.status)},
            )
        )
    if need.status in _ANSWERED and not (need.reply_length and need.outcome and need.replied_at):
        missing = [
            label
            for label, absent in (
                (_("答复内容"), not need.reply_length),
                (_("办理结果"), not need.outcome),
                (_("答复时间"), need.replied_at is None),
            )
            if absent
        ]
        if missing:
            problems.append(
                (
                    NO_REPLY,
                    _("状态为“%(status)s”，却缺少%(missing)s。")
                    % {"status": _label(need.status), "missing": join_list(missing)},
                )
            )
    if need.outcome == Outcome.PLANNED and need.followup_date is None:
        problems.append((PLANNED_NO_FOLLOWUP, _("办理结果为“创造条件推动”，却没有下次跟进日期。")))
    if need.status == Status.CLOSED and need.outcome == Outcome.PLANNED:
        last_reply = max((e.seq for e in events if e.action == Action.REPLY), default=0)
        fulfilled = any(e.action == Action.FULFIL and e.seq > last_reply for e in events)
        if not fulfilled or need.fulfilled_at is None:
            problems.append(
                (
                    PLANNED_NOT_FULFILLED,
                    _("“创造条件推动”的诉求已办结，却没有兑现承诺的记录。"),
                )
            )
    if need.status == Status.MERGED and need.merged_into_status == Status.WITHDRAWN:
        # 合并: the requester follows the target; a withdrawn target answers nobody.
        problems.append(
            (
                MERGED_INTO_WITHDRAWN,
                _("已并入诉求 %(target)s，但该诉求已撤销，本诉求的群众得不到答复。")
                % {"target": need.merged_into_number},
            )
        )
    problems.extend(replay_problems(need.status, events))
    return problems


def _need_chunks(chunk_size: int) -> Iterator[list[NeedRow]]:
    last = 0
    while True:
        rows = list(
            Need.objects.filter(pk__gt=last)
            .order_by("pk")
            .annotate(reply_length=Length(Trim("reply_text")))
            .values_list(
                "pk",
                "number",
                "status",
                "lead_unit_id",
                "resolve_due",
                "registered_at",
                "outcome",
                "replied_at",
                "followup_date",
                "fulfilled_at",
                "reply_length",
                "merged_into__number",
                "merged_into__status",
            )[:chunk_size]
        )
        if not rows:
            return
        yield [NeedRow(*row) for row in rows]
        last = rows[-1][0]


def _events_by_need(first: int, last: int) -> dict[int, list[EventRow]]:
    rows = (
        NeedEvent.objects.filter(need_id__gte=first, need_id__lte=last)
        .order_by("need_id", "seq")
        # Only the triage check needs a time, so only those rows pay for datetime parsing.
        .annotate(
            entered_at=Case(When(to_status=Status.REGISTERED, then=F("created_at")), default=None)
        )
        .values_list("need_id", "seq", "action", "from_status", "to_status", "entered_at")
    )
    return {
        need_id: [EventRow(*row[1:]) for row in group]
        for need_id, group in groupby(rows, key=lambda row: row[0])
    }


def check_ledger(*, now: datetime | None = None, chunk_size: int = CHUNK_SIZE) -> list[Finding]:
    """Every broken ledger promise, in ledger order (need id, then the order of the checks)."""
    moment = now or clock.now()
    triage = timedelta(hours=settings.WENXU_TRIAGE_HOURS)
    findings: list[Finding] = []
    for chunk in _need_chunks(chunk_size):
        events = _events_by_need(chunk[0].pk, chunk[-1].pk)
        for need in chunk:
            problems = need_problems(need, events.get(need.pk, []), now=moment, triage=triage)
            findings.extend(Finding(need.number, code, message) for code, message in problems)
    return findings


def summary(findings: Iterable[Finding], checked: int) -> str:
    found = list(findings)
    if not found:
        return _("台账检查通过：共检查 %(checked)d 条诉求，未发现问题。") % {"checked": checked}
    needs = len({finding.number for finding in found})
    return _("台账检查未通过：共检查 %(checked)d 条诉求，%(needs)d 条有问题，共 %(n)d 处。") % {
        "checked": checked,
        "needs": needs,
        "n": len(found),
    }
