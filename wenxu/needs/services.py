"""One service per lifecycle action (DESIGN §3). The only code that changes `Need.status`.

Each action: lock the row, check the actor's right, the version the actor saw and the
transition table, write the change and an append-only `NeedEvent` in the same transaction,
and queue side effects with `transaction.on_commit`. Concurrency: the row lock (SELECT … FOR
UPDATE on PostgreSQL; IMMEDIATE transactions on SQLite) serialises writers, and the version
check refuses a write based on a stale read, so no edit is silently lost.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Max
from django.utils.translation import gettext as _

from wenxu.accounts.models import User
from wenxu.accounts.selectors import roles_over_area, scopes_for_user, user_roles
from wenxu.lib import clock, ids
from wenxu.needs import deadlines, states
from wenxu.needs.exceptions import IllegalTransition, InvalidInput, NotPermitted, StaleVersion
from wenxu.needs.models import Category, LedgerCounter, Need, NeedEvent
from wenxu.needs.states import Action, Outcome, Status
from wenxu.organisations.models import Area, Unit
from wenxu.residents.models import Requester

LEAD = "lead"  # pseudo-role: a handler of the lead unit
CO = "co"  # pseudo-role: a handler of a co unit


# --------------------------------------------------------------------------- rights


def actor_roles(actor: User | None, need: Need) -> set[str]:
    """The roles `actor` holds over `need`; `None` is the system (sweeps, reminders)."""
    if actor is None:
        return {states.SYSTEM}
    if not actor.is_active:
        return set()
    roles = roles_over_area(actor, need.area.path)
    lead_path = need.lead_unit.path if need.lead_unit else None
    co_paths = [unit.path for unit in need.co_units.all()] if need.pk else []
    for scope in scopes_for_user(actor):
        if not scope.unit_path:
            continue
        if lead_path and lead_path.startswith(scope.unit_path):
            roles.add(scope.role)
            if scope.role == states.HANDLER:
                roles.add(LEAD)
        elif any(path.startswith(scope.unit_path) for path in co_paths):
            if scope.role == states.HANDLER:
                roles.add(CO)
            elif scope.role == states.LEADER:
                roles.add(scope.role)
    if need.recorded_by_id == actor.pk and any(
        s.role == states.OFFICER for s in scopes_for_user(actor)
    ):
        roles.add(states.OFFICER)
    return roles


# Actions a handler takes only for the lead unit; co-unit handlers may add progress notes.
_LEAD_ONLY = {
    Action.ACCEPT,
    Action.RETURN,
    Action.REQUEST_EXTENSION,
    Action.REPLY,
    Action.FULFIL,
}


def _may(action: str, roles: set[str]) -> bool:
    allowed = states.TRANSITIONS[action].roles
    effective = set(roles)
    if states.HANDLER in effective and LEAD not in effective:
        # A handler's rights on a need come through the lead (or a co) unit, not their area.
        effective.discard(states.HANDLER)
    if CO in roles and action == Action.PROGRESS:
        effective.add(states.HANDLER)
    if action in _LEAD_ONLY and LEAD not in roles:
        effective.discard(states.HANDLER)
    return bool(allowed & effective)


# --------------------------------------------------------------------------- plumbing


@dataclass
class _Change:
    need: Need
    actor: User | None
    action: str
    from_status: str
    fields: set[str] = field(default_factory=set)
    note: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def set(self, **values: Any) -> None:
        for name, value in values.items():
            setattr(self.need, name, value)
            self.fields.add(name)


def _lock(need_id: int) -> Need:
    return (
        Need.objects.select_for_update(of=("self",))
        .select_related("area", "lead_unit", "category")
        .get(pk=need_id)
    )


def _begin(*, actor: User | None, need: Need | int, version: int | None, action: str) -> _Change:
    locked = _lock(need if isinstance(need, int) else need.pk)
    roles = actor_roles(actor, locked)
    if not _may(action, roles):
        raise NotPermitted(
            _("您的角色不能对该诉求执行“%(action)s”。") % {"action": Action(action).label}
        )
    if version is not None and version != locked.version:
        raise StaleVersion()
    if not states.allowed(action, locked.status):
        raise IllegalTransition(
            _("诉求当前状态为“%(status)s”，不能执行“%(action)s”。")
            % {"status": Status(locked.status).label, "action": Action(action).label}
        )
    return _Change(need=locked, actor=actor, action=action, from_status=locked.status)


def _record(change: _Change, to_status: str | None = None) -> NeedEvent:
    need = change.need
    if to_status is not None:
        change.set(status=to_status)
    # The row is locked and its version checked in `_begin`, so a plain increment is safe.
    need.version += 1
    need.save(update_fields=[*sorted(change.fields), "version", "updated_at"])
    return _append_event(
        need=need,
        actor=change.actor,
        action=change.action,
        from_status=change.from_status,
        to_status=need.status,
        note=change.note,
        data=change.data,
    )


def _append_event(
    *,
    need: Need,
    actor: User | None,
    action: str,
    from_status: str,
    to_status: str,
    note: str = "",
    data: dict[str, Any] | None = None,
) -> NeedEvent:
    last = need.events.aggregate(last=Max("seq"))["last"] or 0
    event = NeedEvent.objects.create(
        need=need,
        seq=last + 1,
        actor=actor,
        action=action,
        from_status=from_status,
        to_status=to_status,
        note=note,
        data=data or {},
        created_at=clock.now(),
    )
    transaction.on_commit(lambda: _queue_notifications(event.pk))
    return event


def _queue_notifications(event_id: int) -> None:
    from wenxu.notify.tasks import deliver_need_event

    deliver_need_event.enqueue(event_id)


def _required_text(errors: dict[str, list[str]], name: str, value: str | None, label: str) -> str:
    text = (value or "").strip()
    if not text:
        errors.setdefault(name, []).append(_("请填写%(label)s。") % {"label": label})
    return text


def _raise(errors: dict[str, list[str]]) -> None:
    if errors:
        raise InvalidInput(errors)


# --------------------------------------------------------------------------- register


@dataclass(frozen=True)
class RequesterInput:
    name: str = ""
    phone: str = ""
    confidential: bool = False
    kind: str = Requester.Kind.PERSON
    id_number: str = ""
    address: str = ""


def _next_number(year: int) -> str:
    LedgerCounter.objects.get_or_create(year=year)
    counter = LedgerCounter.objects.select_for_update().get(year=year)
    counter.last += 1
    counter.save(update_fields=["last"])
    return ids.ledger_number(year, counter.last)


def _new_tracking_code() -> str:
    while True:
        code = ids.tracking_code()
        if not Need.objects.filter(tracking_code=code).exists():
            return code


def _validate_register(
    *,
    actor: User,
    title: str,
    description: str,
    kind: str,
    source: str,
    urgency: str,
    nature_tags: Iterable[str],
    area: Area | None,
    category: Category | None,
    handling: str,
) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    _required_text(errors, "title", title, _("标题"))
    _required_text(errors, "description", description, _("诉求内容"))
    if len(title) > 200:
        errors.setdefault("title", []).append(_("标题最多 200 字。"))
    if kind not in states.Kind.values:
        errors["kind"] = [_("诉求类型无效。")]
    if source not in states.Source.values:
        errors["source"] = [_("来源无效。")]
    if urgency not in Need.Urgency.values:
        errors["urgency"] = [_("紧急程度无效。")]
    if handling not in states.Handling.values:
        errors["handling"] = [_("办理方式无效。")]
    unknown = [tag for tag in nature_tags if tag not in states.NatureTag.values]
    if unknown:
        errors["nature_tags"] = [_("未知的急难愁盼标签：%(tags)s") % {"tags": ", ".join(unknown)}]
    if area is None:
        errors["area"] = [_("请选择诉求所属区域。")]
    elif not roles_over_area(actor, area.path) & {states.OFFICER, states.DISPATCHER}:
        errors["area"] = [_("该区域不在您的登记范围内。")]
    if category is not None and not category.active:
        errors["category"] = [_("该分类已停用，请另选分类。")]
    return errors


@transaction.atomic
def need_register(
    *,
    actor: User,
    title: str,
    description: str,
    kind: str,
    source: str,
    area: Area | None,
    category: Category | None = None,
    urgency: str = "normal",
    nature_tags: Iterable[str] = (),
    address: str = "",
    latitude: Decimal | None = None,
    longitude: Decimal | None = None,
    requester: RequesterInput | None = None,
    handling: str = states.Handling.ROUTINE,
) -> Need:
    """登记: a new need enters the ledger as `registered`."""
    if not actor.is_active or not user_roles(actor) & {states.OFFICER, states.DISPATCHER}:
        raise NotPermitted(_("只有走访干部、网格员或调度人员可以登记诉求。"))
    tags = list(dict.fromkeys(nature_tags))
    errors = _validate_register(
        actor=actor,
        title=title,
        description=description,
        kind=kind,
        source=source,
        urgency=urgency,
        nature_tags=tags,
        area=area,
        category=category,
        handling=handling,
    )
    if handling == states.Handling.ON_THE_SPOT:
        errors.setdefault("handling", []).append(_("马上就办请使用“现场办结”登记。"))
    _raise(errors)
    need = _create_need(
        actor=actor,
        title=title,
        description=description,
        kind=kind,
        source=source,
        area=area,
        category=category,
        urgency=urgency,
        nature_tags=tags,
        address=address,
        latitude=latitude,
        longitude=longitude,
        requester=requester,
        handling=handling,
        status=Status.REGISTERED,
    )
    _append_event(
        need=need, actor=actor, action=Action.REGISTER, from_status="", to_status=need.status
    )
    return need


def _create_need(*, requester: RequesterInput | None, **values: Any) -> Need:
    now = clock.now()
    need = Need(
        number=_next_number(clock.today().year),
        tracking_code=_new_tracking_code(),
        recorded_by=values.pop("actor"),
        registered_at=now,
        **values,
    )
    need.title = need.title.strip()
    need.description = need.description.strip()
    if requester is not None and (requester.name.strip() or requester.phone.strip()):
        person = Requester(
            kind=requester.kind,
            name=requester.name.strip(),
            phone=requester.phone.strip(),
            id_number=requester.id_number.strip(),
            address=requester.address.strip(),
            confidential=requester.confidential,
        )
        try:
            person.full_clean()
        except ValidationError as exc:
            raise InvalidInput({"requester": exc.messages}) from exc
        person.save()
        need.requester = person
    try:
        # The database enforces the check constraints; validating them here costs a query each.
        need.full_clean(exclude=["number", "tracking_code"], validate_constraints=False)
    except ValidationError as exc:
        raise InvalidInput(exc.message_dict) from exc
    need.save()
    return need


@transaction.atomic
def need_register_on_the_spot(
    *,
    actor: User,
    title: str,
    description: str,
    kind: str,
    source: str,
    area: Area | None,
    reply_text: str,
    confirmed: bool = False,
    satisfaction: str = "",
    category: Category | None = None,
    urgency: str = "normal",
    nature_tags: Iterable[str] = (),
    address: str = "",
    latitude: Decimal | None = None,
    longitude: Decimal | None = None,
    requester: RequesterInput | None = None,
) -> Need:
    """马上就办: solved during the visit; closed at once when the resident confirms on the spot."""
    if not actor.is_active or states.OFFICER not in user_roles(actor):
        raise NotPermitted(_("只有走访干部或网格员可以现场办结。"))
    tags = list(dict.fromkeys(nature_tags))
    errors = _validate_register(
        actor=actor,
        title=title,
        description=description,
        kind=kind,
        source=source,
        urgency=urgency,
        nature_tags=tags,
        area=area,
        category=category,
        handling=states.Handling.ON_THE_SPOT,
    )
    if area is not None and states.OFFICER not in roles_over_area(actor, area.path):
        errors["area"] = [_("只有负责该区域的走访干部或网格员可以现场办结。")]
    proof = _required_text(errors, "reply_text", reply_text, _("现场办理情况"))
    if confirmed and satisfaction not in states.Satisfaction.values:
        errors["satisfaction"] = [_("群众现场确认时请选择满意度。")]
    _raise(errors)
    now = clock.now()
    status = Status.CLOSED if confirmed else Status.REPLIED
    need = _create_need(
        actor=actor,
        title=title,
        description=description,
        kind=kind,
        source=source,
        area=area,
        category=category,
        urgency=urgency,
        nature_tags=tags,
        address=address,
        latitude=latitude,
        longitude=longitude,
        requester=requester,
        handling=states.Handling.ON_THE_SPOT,
        status=status,
        outcome=Outcome.RESOLVED,
        reply_text=proof,
        replied_at=now,
        responded_at=now,
        **(
            {
                "callback_resolved": states.CallbackResolved.YES,
                "callback_satisfaction": satisfaction,
                "callback_channel": states.CallbackChannel.ON_SITE,
                "callback_at": now,
                "closed_at": now,
            }
            if confirmed
            else {}
        ),
    )
    _append_event(
        need=need,
        actor=actor,
        action=Action.REGISTER_ON_THE_SPOT,
        from_status="",
        to_status=status,
        note=proof,
        data={"confirmed": confirmed, "satisfaction": satisfaction},
    )
    return need


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
) -> Need:
    """交办: a dispatcher names the lead unit; deadlines come from the rules, stored now."""
    change = _begin(actor=actor, need=need, version=version, action=Action.ASSIGN)
    errors: dict[str, list[str]] = {}
    co = _check_units(errors, lead_unit, co_units)
    _raise(errors)
    assert lead_unit is not None
    n = change.need
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
    _record(change, Status.ASSIGNED)
    return change.need


@transaction.atomic
def need_accept(*, actor: User, need: Need | int, version: int | None) -> Need:
    """签收: the lead unit takes the need on; the first response time is recorded."""
    change = _begin(actor=actor, need=need, version=version, action=Action.ACCEPT)
    change.set(responded_at=clock.now())
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
    if n.extension_count >= rule.max_extensions:
        raise IllegalTransition(
            _("该诉求已延期 %(n)d 次，达到上限，不能再申请。") % {"n": n.extension_count}
        )
    if n.resolve_due is None or clock.now() >= n.resolve_due:
        raise IllegalTransition(_("已超过办结时限，不能再申请延期。"))
    _raise(errors)
    change.set(extension_pending_days=days, extension_pending_reason=change.note)
    change.data = {"days": days}
    _record(change)
    return change.need


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
    assert n.resolve_due is not None
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


# --------------------------------------------------------------------------- reply and after


@transaction.atomic
def need_reply(
    *,
    actor: User,
    need: Need | int,
    version: int | None,
    outcome: str,
    reply_text: str,
    followup_date: date | None = None,
) -> Need:
    """答复: outcome and text; a `planned` outcome promises a next follow-up date."""
    change = _begin(actor=actor, need=need, version=version, action=Action.REPLY)
    errors: dict[str, list[str]] = {}
    text = _required_text(errors, "reply_text", reply_text, _("答复内容"))
    if outcome not in Outcome.values:
        errors["outcome"] = [_("请选择办理结果：已解决、解释说明、创造条件推动或转办。")]
    if outcome == Outcome.PLANNED and followup_date is None:
        errors["followup_date"] = [_("“创造条件推动”须填写下次跟进日期。")]
    if followup_date is not None and followup_date < clock.today():
        errors["followup_date"] = [_("跟进日期不能早于今天。")]
    _raise(errors)
    now = clock.now()
    change.set(
        outcome=outcome,
        reply_text=text,
        followup_date=followup_date,
        replied_at=now,
        extension_pending_days=None,
        extension_pending_reason="",
    )
    change.note = text
    change.data = {
        "outcome": outcome,
        "followup_date": followup_date.isoformat() if followup_date else None,
        "on_time": bool(change.need.resolve_due and now <= change.need.resolve_due),
    }
    _record(change, Status.REPLIED)
    return change.need


@transaction.atomic
def need_callback(
    *,
    actor: User | None,
    need: Need | int,
    version: int | None,
    resolved: str,
    satisfaction: str,
    channel: str,
    comment: str = "",
) -> Need:
    """回访: the resident's verdict; closes the need, or keeps following a `planned` promise."""
    change = _begin(actor=actor, need=need, version=version, action=Action.CALLBACK)
    errors: dict[str, list[str]] = {}
    if resolved not in states.CallbackResolved.values:
        errors["resolved"] = [_("请选择是否解决：已解决、部分解决或未解决。")]
    if satisfaction not in states.Satisfaction.values:
        errors["satisfaction"] = [_("请选择满意度（五级）。")]
    if channel not in states.CallbackChannel.values:
        errors["channel"] = [_("回访方式无效。")]
    _raise(errors)
    now = clock.now()
    n = change.need
    target = Status.FOLLOWING if n.outcome == Outcome.PLANNED else Status.CLOSED
    change.set(
        callback_resolved=resolved,
        callback_satisfaction=satisfaction,
        callback_channel=channel,
        callback_comment=(comment or "").strip(),
        callback_at=now,
    )
    if target == Status.CLOSED:
        change.set(closed_at=now)
    change.note = (comment or "").strip()
    change.data = {"resolved": resolved, "satisfaction": satisfaction, "channel": channel}
    _record(change, target)
    return change.need


@transaction.atomic
def need_expire_callback(*, need: Need | int) -> Need:
    """The callback window passed without reaching the resident: closed as "unreachable".

    A `planned` promise is not closed: it goes on to `following` until it is fulfilled.
    """
    change = _begin(actor=None, need=need, version=None, action=Action.CALLBACK)
    now = clock.now()
    n = change.need
    change.set(callback_channel=states.CallbackChannel.UNREACHABLE, callback_at=now)
    target = Status.FOLLOWING if n.outcome == Outcome.PLANNED else Status.CLOSED
    if target == Status.CLOSED:
        change.set(closed_at=now)
    change.note = _("回访期限已过，未能联系到群众。")
    change.data = {"channel": states.CallbackChannel.UNREACHABLE}
    _record(change, target)
    return change.need


@transaction.atomic
def need_fulfil(*, actor: User, need: Need | int, version: int | None, note: str) -> Need:
    """兑现: the promised condition is met and the resident told again; the need closes."""
    change = _begin(actor=actor, need=need, version=version, action=Action.FULFIL)
    errors: dict[str, list[str]] = {}
    change.note = _required_text(errors, "note", note, _("兑现情况"))
    _raise(errors)
    now = clock.now()
    change.set(fulfilled_at=now, closed_at=now)
    _record(change, Status.CLOSED)
    return change.need


@transaction.atomic
def need_reopen(
    *,
    actor: User,
    need: Need | int,
    version: int | None,
    reason: str,
    lead_unit: Unit | None = None,
) -> Need:
    """重办: back to the unit with a new deadline; the earlier reply stays in the events."""
    change = _begin(actor=actor, need=need, version=version, action=Action.REOPEN)
    n = change.need
    errors: dict[str, list[str]] = {}
    change.note = _required_text(errors, "reason", reason, _("重办理由"))
    now = clock.now()
    window = timedelta(days=settings.WENXU_REOPEN_WINDOW_DAYS)
    if n.status == Status.CLOSED and n.closed_at and now - n.closed_at > window:
        raise IllegalTransition(
            _("办结已超过 %(days)d 天，不能重办；请作为新诉求登记。")
            % {"days": settings.WENXU_REOPEN_WINDOW_DAYS}
        )
    unit = lead_unit or n.lead_unit
    if unit is None:
        errors["lead_unit"] = [_("该诉求没有主办单位，重办时请指定主办单位。")]
    elif not unit.active:
        errors["lead_unit"] = [_("主办单位已停用。")]
    _raise(errors)
    assert unit is not None
    rule = deadlines.rule_for(category=n.category, urgency=n.urgency)
    calendar = deadlines.current_calendar()
    resolve_due, provisional = deadlines.due_after(
        now, rule.resolve_value, rule.resolve_unit, calendar
    )
    change.data = {
        "previous_outcome": n.outcome,
        "previous_reply": n.reply_text,
        "lead_unit": unit.pk,
        "resolve_due": resolve_due.isoformat(),
        "calendar_version": calendar.version,
    }
    change.set(
        lead_unit=unit,
        resolve_due=resolve_due,
        original_resolve_due=resolve_due,
        due_provisional=provisional,
        calendar_version=calendar.version,
        responded_at=n.responded_at or now,
        outcome="",
        reply_text="",
        followup_date=None,
        replied_at=None,
        fulfilled_at=None,
        closed_at=None,
        callback_resolved="",
        callback_satisfaction="",
        callback_channel="",
        callback_comment="",
        callback_at=None,
        reopen_count=n.reopen_count + 1,
    )
    _record(change, Status.IN_PROGRESS)
    return change.need


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


__all__ = [
    "RequesterInput",
    "actor_roles",
    "need_accept",
    "need_approve_extension",
    "need_assign",
    "need_callback",
    "need_deny_extension",
    "need_expire_callback",
    "need_fulfil",
    "need_merge",
    "need_progress",
    "need_register",
    "need_register_on_the_spot",
    "need_remind",
    "need_reopen",
    "need_reply",
    "need_request_extension",
    "need_return",
    "need_supervise",
    "need_withdraw",
]
