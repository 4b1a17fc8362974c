"""督办 催办 合并 撤销: the dispatcher's and leader's oversight."""

from datetime import UTC

from django.db import transaction
from django.db.models import F
from django.utils.translation import gettext as _

from wenxu.accounts.models import User
from wenxu.lib import clock
from wenxu.needs import states
from wenxu.needs.exceptions import AlreadyReminded, IllegalTransition, InvalidInput
from wenxu.needs.models import Need
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
RESPONSE_OVERDUE = "response_overdue"
OVERDUE = "overdue"
FOLLOWUP_DUE = "followup_due"
SWEEP_KINDS = frozenset({DUE_SOON, RESPONSE_OVERDUE, OVERDUE, FOLLOWUP_DUE})


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

    `kind` is `manual`, or for the sweep `due_soon`, `response_overdue`, `overdue` (these two
    also reach the dispatchers: 督办) and `followup_due` (a `planned` promise past its follow-up
    date). A sweep reminder is sent once per cycle (`remind_cycle`): checked here, under the row
    lock, so two overlapping sweeps cannot both send it. The second gets `AlreadyReminded`, and
    a need that no longer calls for the reminder an `IllegalTransition`; the sweep counts both
    as skipped. Manual reminders may be repeated.
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
    change.set(merged_into=target)
    change.data = {"into": target.number}
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
    _record(change, Status.WITHDRAWN)
    return change.need
