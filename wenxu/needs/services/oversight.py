"""督办 催办 合并 撤销: the dispatcher's and leader's oversight."""

from django.db import transaction
from django.db.models import F
from django.utils.translation import gettext as _

from wenxu.accounts.models import User
from wenxu.needs import states
from wenxu.needs.exceptions import InvalidInput
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


@transaction.atomic
def need_remind(
    *,
    actor: User | None,
    need: Need | int,
    version: int | None,
    note: str = "",
    kind: str = "manual",
) -> Need:
    """催办: a reminder to whoever must act next; no status change.

    `kind` is `manual`, or for the sweep `due_soon`, `response_overdue`, `overdue` (the last two
    also reach the dispatchers: 督办).
    """
    change = _begin(actor=actor, need=need, version=version, action=Action.REMIND)
    change.note = (note or "").strip() or _("请抓紧办理。")
    n = change.need
    change.data = {
        "kind": kind,
        "due": n.resolve_due.isoformat() if n.resolve_due else None,
    }
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
    errors: dict[str, list[str]] = {}
    change.note = _required_text(errors, "reason", reason, _("撤销理由"))
    _raise(errors)
    _record(change, Status.WITHDRAWN)
    return change.need
