"""交办 签收 退回 进展 延期: the responsible unit at work."""

from collections.abc import Iterable

from django.db import transaction
from django.db.models import Subquery
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from wenxu.accounts.models import User
from wenxu.lib import clock
from wenxu.needs import deadlines
from wenxu.needs.exceptions import IllegalTransition
from wenxu.needs.models import Category, Need, NeedEvent
from wenxu.needs.services._core import (
    _begin,
    _Change,
    _raise,
    _record,
    _required_text,
    missed_without_reminder,
)
from wenxu.needs.services.disclosure import check_units_not_criticised
from wenxu.needs.states import Action, Status
from wenxu.organisations.models import Unit

# --------------------------------------------------------------------------- triage


def _check_units(
    errors: dict[str, list[str]], lead_unit: Unit | None, co_units: Iterable[Unit]
) -> list[Unit]:
    co = list(dict.fromkeys(co_units))
    if lead_unit is None:
        errors["lead_unit"] = [_("请选择主办单位。")]
    elif not lead_unit.active:
        errors["lead_unit"] = [_("主办单位已停用。")]
    if lead_unit is not None and lead_unit in co:
        errors["co_units"] = [_("协办单位不能与主办单位相同。")]
    if any(not unit.active for unit in co):
        errors.setdefault("co_units", []).append(_("协办单位中有已停用的单位。"))
    return co


@transaction.atomic
def need_assign(
    *,
    actor: User,
    need: Need | int,
    version: int | None,
    lead_unit: Unit | None,
    co_units: Iterable[Unit] = (),
    category: Category | None = None,
) -> Need:
    """交办: a dispatcher names the lead unit; deadlines come from the rules, stored now.

    With `category`, the dispatcher also corrects the need's category (分类) in the same step;
    the deadline rule is then the new category's."""
    change = _begin(actor=actor, need=need, version=version, action=Action.ASSIGN)
    errors: dict[str, list[str]] = {}
    co = _check_units(errors, lead_unit, co_units)
    n = change.need
    # 批评/投诉: never to the criticised unit's line, unless disclosed to it (issue #9).
    check_units_not_criticised(errors, n, lead_unit=lead_unit, co_units=co)
    recategorised = category is not None and category.pk != n.category_id
    if recategorised and category is not None and not category.active:
        errors["category"] = [_("该分类已停用，请另选。")]
    _raise(errors)
    assert lead_unit is not None
    old_category_id = n.category_id
    if recategorised:
        old = n.category.name if n.category is not None else _("未分类")
        change.note = _("分类由“%(old)s”改为“%(new)s”") % {"old": old, "new": category}
        change.set(category=category)
    now = clock.now()
    rule = deadlines.rule_for(category=n.category, urgency=n.urgency)
    calendar = deadlines.current_calendar()
    response_due, p1 = deadlines.due_after(now, rule.response_value, rule.response_unit, calendar)
    resolve_due, p2 = deadlines.due_after(now, rule.resolve_value, rule.resolve_unit, calendar)
    change.set(
        lead_unit=lead_unit,
        assigned_at=now,
        response_due=response_due,
        resolve_due=resolve_due,
        original_resolve_due=resolve_due,
        due_provisional=p1 or p2,
        calendar_version=calendar.version,
        responded_at=None,
        extension_pending_days=None,
        extension_pending_reason="",
    )
    n.co_units.set(co)
    change.data = {
        "lead_unit": lead_unit.pk,
        "co_units": [unit.pk for unit in co],
        "response_due": response_due.isoformat(),
        "resolve_due": resolve_due.isoformat(),
        "provisional": p1 or p2,
        "calendar_version": calendar.version,
    }
    if recategorised:
        # The rollups file the need's earlier events under the category they had (category_from).
        change.data["category"] = n.category_id
        change.data["category_from"] = old_category_id
    _record(change, Status.ASSIGNED)
    return change.need


@transaction.atomic
def need_accept(*, actor: User, need: Need | int, version: int | None) -> Need:
    """签收: the lead unit takes the need on; the first response time is recorded."""
    change = _begin(actor=actor, need=need, version=version, action=Action.ACCEPT)
    now = clock.now()
    change.set(responded_at=now)
    # Recorded like a reply's: the response deadline of this assignment, whatever comes later.
    due = change.need.response_due
    on_time = bool(due and now <= due)
    change.data = {"on_time": on_time}
    if due and not on_time and missed_without_reminder(change.need, "response_overdue"):
        change.data["missed_unmarked"] = True
    _record(change, Status.IN_PROGRESS)
    return change.need


@transaction.atomic
def need_return(*, actor: User, need: Need | int, version: int | None, reason: str) -> Need:
    """退回: wrong routing; the need goes back to triage without unit or deadlines."""
    change = _begin(actor=actor, need=need, version=version, action=Action.RETURN)
    errors: dict[str, list[str]] = {}
    change.note = _required_text(errors, "reason", reason, _("退回理由"))
    _raise(errors)
    change.data = {"lead_unit": change.need.lead_unit_id}
    change.set(
        lead_unit=None,
        assigned_at=None,
        response_due=None,
        resolve_due=None,
        original_resolve_due=None,
        responded_at=None,
        due_provisional=False,
        extension_pending_days=None,
        extension_pending_reason="",
    )
    change.need.co_units.clear()
    _record(change, Status.REGISTERED)
    return change.need


@transaction.atomic
def need_progress(*, actor: User, need: Need | int, version: int | None, note: str) -> Need:
    """办理进展: a note on the way; no status change."""
    change = _begin(actor=actor, need=need, version=version, action=Action.PROGRESS)
    errors: dict[str, list[str]] = {}
    change.note = _required_text(errors, "note", note, _("进展情况"))
    _raise(errors)
    _record(change)
    return change.need


# --------------------------------------------------------------------------- extensions


@transaction.atomic
def need_request_extension(
    *, actor: User, need: Need | int, version: int | None, days: int, reason: str
) -> Need:
    """申请延期: before the deadline only, at most as often as the rule allows."""
    change = _begin(actor=actor, need=need, version=version, action=Action.REQUEST_EXTENSION)
    n = change.need
    rule = deadlines.rule_for(category=n.category, urgency=n.urgency)
    errors: dict[str, list[str]] = {}
    change.note = _required_text(errors, "reason", reason, _("延期理由"))
    if not isinstance(days, int) or days < 1 or days > rule.max_extension_days:
        errors["days"] = [
            _("延期天数须在 1 到 %(max)d 个工作日之间。") % {"max": rule.max_extension_days}
        ]
    if n.extension_pending_days:
        raise IllegalTransition(_("已有待审批的延期申请，请等待调度处理。"))
    granted = _extensions_this_cycle(n)
    if granted >= rule.max_extensions:
        raise IllegalTransition(
            _("该诉求本轮办理已延期 %(n)d 次，达到上限，不能再申请。") % {"n": granted}
        )
    if n.resolve_due is None or clock.now() >= n.resolve_due:
        raise IllegalTransition(_("已超过办结时限，不能再申请延期。"))
    _raise(errors)
    change.set(extension_pending_days=days, extension_pending_reason=change.note)
    change.data = {"days": days}
    _record(change)
    return change.need


_CYCLE_STARTS = (Action.ASSIGN, Action.REOPEN)


def _extensions_this_cycle(need: Need) -> int:
    """Extensions approved since the need's current deadline cycle began (its latest assign or
    reopen): the rule's limit is per cycle, so a unit given the need after a return, or a reopen,
    may ask again. `Need.extension_count` stays the lifetime total, a reported measure.

    Counted from the need's events when they are loaded with it (the need page prefetches them),
    else by one query."""
    loaded: list[NeedEvent] | None = getattr(need, "_prefetched_objects_cache", {}).get("events")
    if loaded is not None:
        cycle = max((e.seq for e in loaded if e.action in _CYCLE_STARTS), default=0)
        return sum(1 for e in loaded if e.action == Action.APPROVE_EXTENSION and e.seq > cycle)
    cycle_start = (
        NeedEvent.objects.filter(need=need, action__in=_CYCLE_STARTS)
        .order_by("-seq")
        .values("seq")[:1]
    )
    return (
        NeedEvent.objects.filter(need=need, action=Action.APPROVE_EXTENSION)
        .filter(seq__gt=Coalesce(Subquery(cycle_start), 0))
        .count()
    )


def _pending_extension(change: _Change) -> int:
    days = change.need.extension_pending_days
    if not days:
        raise IllegalTransition(_("没有待审批的延期申请。"))
    return days


@transaction.atomic
def need_approve_extension(
    *, actor: User, need: Need | int, version: int | None, note: str = ""
) -> Need:
    """批准延期: the resolution deadline moves; the original stays recorded."""
    change = _begin(actor=actor, need=need, version=version, action=Action.APPROVE_EXTENSION)
    days = _pending_extension(change)
    n = change.need
    # DESIGN §3: extensions are decided before the deadline only; a denial (which only clears
    # the request) stays possible at any time.
    if n.resolve_due is None or clock.now() >= n.resolve_due:
        raise IllegalTransition(_("已超过办结时限，延期申请已失效，不能再批准。"))
    calendar = deadlines.current_calendar()
    new_due, provisional = deadlines.extend_due(n.resolve_due, days, calendar)
    change.note = (note or "").strip()
    change.data = {
        "days": days,
        "from": n.resolve_due.isoformat(),
        "to": new_due.isoformat(),
        "calendar_version": calendar.version,
    }
    change.set(
        resolve_due=new_due,
        due_provisional=n.due_provisional or provisional,
        extension_count=n.extension_count + 1,
        extension_pending_days=None,
        extension_pending_reason="",
    )
    _record(change)
    return change.need


@transaction.atomic
def need_deny_extension(*, actor: User, need: Need | int, version: int | None, reason: str) -> Need:
    """驳回延期: the deadline stands."""
    change = _begin(actor=actor, need=need, version=version, action=Action.DENY_EXTENSION)
    days = _pending_extension(change)
    errors: dict[str, list[str]] = {}
    change.note = _required_text(errors, "reason", reason, _("驳回理由"))
    _raise(errors)
    change.data = {"days": days}
    change.set(extension_pending_days=None, extension_pending_reason="")
    _record(change)
    return change.need
