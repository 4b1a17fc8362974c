"""督办 催办 合并 撤销: the dispatcher's and leader's oversight."""

from collections.abc import Collection
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils.translation import gettext as _

from wenxu.accounts.models import Membership, User
from wenxu.lib import clock
from wenxu.needs import states
from wenxu.needs.exceptions import AlreadyReminded, IllegalTransition, InvalidInput
from wenxu.needs.models import Need, ReopenRequest
from wenxu.needs.services._core import (
    _append_event,
    _begin,
    _lock,
    _may,
    _raise,
    _record,
    _required_text,
    actor_roles,
)
from wenxu.needs.services.disclosure import check_units_not_criticised
from wenxu.needs.states import Action, Status

# --------------------------------------------------------------------------- oversight


@transaction.atomic
def need_supervise(*, actor: User, need: Need | int, version: int | None, note: str) -> Need:
    """督办: flag the need and notify the unit; no status change."""
    change = _begin(actor=actor, need=need, version=version, action=Action.SUPERVISE)
    errors: dict[str, list[str]] = {}
    change.note = _required_text(errors, "note", note, _("督办意见"))
    _raise(errors)
    change.set(supervised=True)
    _record(change)
    return change.need


MANUAL = "manual"
DUE_SOON = "due_soon"
RESPONSE_DUE_SOON = "response_due_soon"
RESPONSE_OVERDUE = "response_overdue"
OVERDUE = "overdue"
FOLLOWUP_DUE = "followup_due"
ESCALATED = "escalated"  # written by `need_escalate`, not `need_remind`
SWEEP_KINDS = frozenset({DUE_SOON, RESPONSE_DUE_SOON, RESPONSE_OVERDUE, OVERDUE, FOLLOWUP_DUE})
# Reminders that flag the need supervised (督办) and reach the dispatchers and the unit's leader.
SUPERVISING_KINDS = frozenset({RESPONSE_OVERDUE, OVERDUE})


# --------------------------------------------------------------------------- escalation levels


def dispatcher_area_ids() -> set[int]:
    """Areas where at least one active dispatcher works: the rungs of the escalation ladder."""
    return set(
        Membership.objects.filter(
            role=states.DISPATCHER, area__isnull=False, user__is_active=True
        ).values_list("area_id", flat=True)
    )


def escalation_chain(area_path: str, with_dispatchers: Collection[int]) -> list[int]:
    """The escalation ladder of a need in the area at `area_path`: its ancestor-or-self areas
    that have dispatchers, nearest first. Level k is the k-th rung (level 0: the nearest)."""
    ids = [int(part) for part in area_path.strip("/").split("/") if part]
    return [area_id for area_id in reversed(ids) if area_id in with_dispatchers]


def _earlier_overdue_cycles(need: Need, due: str | None) -> int:
    dues = set(
        need.events.filter(action=Action.REMIND, data__kind=OVERDUE)
        .exclude(data__due=due)
        .values_list("data__due", flat=True)
    )
    return len(dues)


def _supervising_level(need: Need, due: str | None) -> tuple[int, int | None]:
    """The level an overdue alert goes to, and that level's area.

    Level 0 (the nearest dispatchers) in the first cycle; a need overdue again in a later cycle
    (after an extension, a reassignment or a reopen) starts one level higher per earlier
    overdue cycle, up to the top of the ladder.
    """
    chain = escalation_chain(need.area.path, dispatcher_area_ids())
    if not chain:
        return 0, None
    level = min(_earlier_overdue_cycles(need, due), len(chain) - 1)
    return level, chain[level]


def remind_cycle(need: Need, kind: str) -> str | None:
    """The deadline a reminder of `kind` is about, stored as the event's `due`: it names the cycle.

    The resolution deadline (a reopen or an approved extension starts a new cycle with its own
    reminders), or for `followup_due` the promised follow-up date.
    """
    if kind == FOLLOWUP_DUE:
        return need.followup_date.isoformat() if need.followup_date else None
    # In UTC, as the database hands it back, whatever time zone the caller's value is in.
    return need.resolve_due.astimezone(UTC).isoformat() if need.resolve_due else None


def _sweep_reason_holds(need: Need, kind: str) -> bool:
    """Whether the need, as locked now, still calls for the sweep's reminder of `kind`.

    The sweep lists needs before it locks any; by the time it gets here the need may have been
    accepted, replied, reassigned or fulfilled.
    """
    now = clock.now()
    running = need.status in {Status.ASSIGNED, Status.IN_PROGRESS} and need.replied_at is None
    if kind == DUE_SOON:
        return running and need.resolve_due is not None and need.resolve_due > now
    if kind == RESPONSE_DUE_SOON:
        return (
            need.status == Status.ASSIGNED
            and need.response_due is not None
            and need.response_due > now
        )
    if kind == RESPONSE_OVERDUE:
        return (
            need.status == Status.ASSIGNED
            and need.response_due is not None
            and need.response_due < now
        )
    if kind == OVERDUE:
        return running and need.resolve_due is not None and need.resolve_due < now
    return (
        need.status == Status.FOLLOWING
        and need.followup_date is not None
        and need.followup_date < clock.today()
    )


@transaction.atomic
def need_remind(
    *,
    actor: User | None,
    need: Need | int,
    version: int | None,
    note: str = "",
    kind: str = MANUAL,
) -> Need:
    """催办: a reminder to whoever must act next; no status change.

    `kind` is `manual`, or for the sweep `due_soon`, `response_due_soon`, `response_overdue`,
    `overdue` (these two flag the need supervised (督办) and reach the dispatchers of the
    escalation level in `data` and the unit's leader) and `followup_due` (a `planned` promise
    past its follow-up date). A sweep reminder is sent once per cycle (`remind_cycle`): checked
    here, under the row lock, so two overlapping sweeps cannot both send it. The second gets
    `AlreadyReminded`, and a need that no longer calls for the reminder an `IllegalTransition`;
    the sweep counts both as skipped. Manual reminders may be repeated.
    """
    if kind != MANUAL and kind not in SWEEP_KINDS:
        raise ValueError(f"unknown reminder kind: {kind!r}")
    change = _begin(actor=actor, need=need, version=version, action=Action.REMIND)
    n = change.need
    due = remind_cycle(n, kind)
    if kind in SWEEP_KINDS:
        if not _sweep_reason_holds(n, kind):
            raise IllegalTransition(_("诉求情况已变化，不再需要这条自动提醒。"))
        if n.events.filter(action=Action.REMIND, data__kind=kind, data__due=due).exists():
            raise AlreadyReminded(_("本期限的这条自动提醒已经发送过，不再重复发送。"))
    change.note = (note or "").strip() or _("请抓紧办理。")
    change.data = {"kind": kind, "due": due}
    if kind in SUPERVISING_KINDS:
        level, area_id = _supervising_level(n, due)
        change.data.update(level=level, area=area_id)
        change.set(supervised=True)
    _record(change)
    return change.need


def escalation_due(
    alerts: list[tuple[int, datetime]], *, now: datetime, after: timedelta
) -> int | None:
    """The next escalation level of a cycle whose alerts so far are `alerts` ((level, sent at)
    of its overdue and escalated reminders), or None when the latest is younger than `after`
    or there is none. The caller checks that the level exists on the ladder."""
    if not alerts:
        return None
    level, sent_at = max(alerts, key=lambda alert: alert[0])
    if sent_at + after > now:
        return None
    return level + 1


@transaction.atomic
def need_escalate(*, need: Need | int, level: int) -> Need:
    """逐级督办: a need still overdue `WENXU_ESCALATE_AFTER_HOURS` after the previous level's
    alert goes to the dispatchers and leaders of the next area up that has dispatchers.

    A REMIND event of kind `escalated` with `level` and that `area`; once per cycle and level,
    checked under the row lock like `need_remind` (`AlreadyReminded` for the second of two
    overlapping sweeps, `IllegalTransition` when the need no longer calls for it: replied,
    not yet due for this level, or already at the top of the ladder).
    """
    change = _begin(actor=None, need=need, version=None, action=Action.REMIND)
    n = change.need
    due = remind_cycle(n, ESCALATED)
    if not _sweep_reason_holds(n, OVERDUE):
        raise IllegalTransition(_("诉求情况已变化，不再需要逐级督办。"))
    alerts = n.events.filter(
        action=Action.REMIND, data__kind__in=[OVERDUE, ESCALATED], data__due=due
    ).values_list("data__level", "created_at", "data__kind")
    if any(kind == ESCALATED and int(lvl or 0) == level for lvl, _at, kind in alerts):
        raise AlreadyReminded(_("这一级督办已经发送过，不再重复发送。"))
    after = timedelta(hours=settings.WENXU_ESCALATE_AFTER_HOURS)
    expected = escalation_due(
        [(int(lvl or 0), at) for lvl, at, _kind in alerts], now=clock.now(), after=after
    )
    if expected != level:
        raise IllegalTransition(_("尚未到逐级督办的时间。"))
    chain = escalation_chain(n.area.path, dispatcher_area_ids())
    if level >= len(chain):
        raise IllegalTransition(_("已督办到最高一级，不再上报。"))
    change.note = _("超期仍未答复，已上报上一级督办。")
    change.data = {
        "kind": ESCALATED,
        "due": due,
        "level": level,
        "area": chain[level],
        "below": chain[level - 1] if level >= 1 else None,  # the rung told before
    }
    change.set(supervised=True)
    _record(change)
    return change.need


@transaction.atomic
def need_merge(*, actor: User, need: Need | int, version: int | None, into: Need | None) -> Need:
    """合并: a duplicate joins another active need; its requester follows the target."""
    source_id = need if isinstance(need, int) else need.pk
    if into is None:
        raise InvalidInput({"into": [_("请指定要并入的诉求编号。")]})
    if into.pk == source_id:
        raise InvalidInput({"into": [_("不能把诉求合并到它自己。")]})
    # Lock both rows in id order so that two crossing merges cannot deadlock.
    first, second = sorted([source_id, into.pk])
    _lock(first)
    _lock(second)
    change = _begin(actor=actor, need=source_id, version=version, action=Action.MERGE)
    target = _lock(into.pk)
    if not _may(Action.MERGE, actor_roles(actor, target)):
        raise InvalidInput({"into": [_("目标诉求不存在，或不在您的管辖范围内。")]})
    if target.status not in states.ACTIVE:
        raise InvalidInput(
            {"into": [_("目标诉求 %(n)s 已不在办理中，不能并入。") % {"n": target.number}]}
        )
    _check_merge_across_criticism(change.need, target)
    change.set(merged_into=target)
    change.data = {"into": target.number}
    _close_pending_reopen_requests(
        need=change.need,
        actor=actor,
        reason=_("诉求已合并到 %(number)s") % {"number": target.number},
    )
    _record(change, Status.MERGED)
    Need.objects.filter(pk=target.pk).update(version=F("version") + 1)
    _append_event(
        need=target,
        actor=actor,
        action=Action.MERGED_FROM,
        from_status=target.status,
        to_status=target.status,
        data={"from": change.need.number},
    )
    return change.need


def _check_merge_across_criticism(source: Need, target: Need) -> None:
    """批评/投诉 (issue #9): a merge must not put a criticism before the criticised unit's line,
    nor a need that line handles before the criticism (each need's page names the other), until
    a dispatcher has disclosed the criticism to that unit."""
    clash: dict[str, list[str]] = {}
    check_units_not_criticised(
        clash, source, lead_unit=target.lead_unit, co_units=target.co_units.all()
    )
    if clash:
        raise InvalidInput(
            {
                "into": [
                    _(
                        "该诉求是对目标诉求承办单位（或其上下级单位）的批评或投诉，不能并入；"
                        "如确需合并，请先由调度员决定向该单位公开。"
                    )
                ]
            }
        )
    check_units_not_criticised(
        clash, target, lead_unit=source.lead_unit, co_units=source.co_units.all()
    )
    if clash:
        raise InvalidInput(
            {
                "into": [
                    _(
                        "目标诉求是对本诉求承办单位（或其上下级单位）的批评或投诉，不能把本诉求并入；"
                        "如确需合并，请先由调度员决定向该单位公开。"
                    )
                ]
            }
        )


def _close_pending_reopen_requests(*, need: Need, actor: User, reason: str) -> None:
    """A resident's reopen request on a need that leaves the active set can no longer be
    decided (a decision needs the need 跟进中 or 已办结): it is closed as not reopened, with why."""
    ReopenRequest.objects.filter(need=need, state=ReopenRequest.State.PENDING).update(
        state=ReopenRequest.State.DECLINED,
        decline_reason=reason,
        decided_by=actor,
        decided_at=clock.now(),
    )


@transaction.atomic
def need_withdraw(*, actor: User, need: Need | int, version: int | None, reason: str) -> Need:
    """撤销: the need leaves the ledger's active set, with the reason on record."""
    change = _begin(actor=actor, need=need, version=version, action=Action.WITHDRAW)
    # Requesters of needs merged into this one wait on it (合并): withdrawing it would leave them
    # without an answer. Merging it on stays possible: they follow it to its new target.
    if Need.objects.filter(merged_into=change.need, status=Status.MERGED).exists():
        raise IllegalTransition(_("有诉求已并入本诉求，不能撤销；请先办理本诉求。"))
    errors: dict[str, list[str]] = {}
    change.note = _required_text(errors, "reason", reason, _("撤销理由"))
    _raise(errors)
    _close_pending_reopen_requests(
        need=change.need, actor=actor, reason=_("诉求已撤销：%(reason)s") % {"reason": change.note}
    )
    _record(change, Status.WITHDRAWN)
    return change.need
