"""答复 回访 兑现 重办: the reply, the resident's verdict and what follows it."""

from datetime import date, timedelta

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from wenxu.accounts.models import User
from wenxu.lib import clock
from wenxu.needs import deadlines, states
from wenxu.needs.exceptions import IllegalTransition
from wenxu.needs.models import Need, ReopenRequest
from wenxu.needs.services._core import (
    _begin,
    _raise,
    _record,
    _required_text,
    missed_without_reminder,
)
from wenxu.needs.services.disclosure import check_units_not_criticised
from wenxu.needs.states import Action, Outcome, Status
from wenxu.organisations.models import Unit

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
    if (
        change.need.resolve_due
        and not change.data["on_time"]
        and missed_without_reminder(change.need, "overdue")
    ):
        change.data["missed_unmarked"] = True
    _record(change, Status.REPLIED)
    return change.need


@transaction.atomic
def need_callback(
    *,
    actor: User | None,
    need: Need | int,
    version: int | None,
    channel: str,
    resolved: str = "",
    satisfaction: str = "",
    comment: str = "",
) -> Need:
    """回访: the resident's verdict; closes the need, or keeps following a `planned` promise.

    With channel `unreachable` (无法联系) there is no verdict: `resolved` and `satisfaction` stay
    blank, as when the sweep closes an expired callback: no invented answer reaches the rates.
    """
    change = _begin(actor=actor, need=need, version=version, action=Action.CALLBACK)
    errors: dict[str, list[str]] = {}
    resolved = (resolved or "").strip()
    satisfaction = (satisfaction or "").strip()
    if channel not in states.CallbackChannel.values:
        errors["channel"] = [_("回访方式无效。")]
    elif channel == states.CallbackChannel.UNREACHABLE:
        if resolved:
            errors["resolved"] = [_("未能联系到群众时，“是否解决”请留空。")]
        if satisfaction:
            errors["satisfaction"] = [_("未能联系到群众时，满意度请留空。")]
    else:
        if resolved not in states.CallbackResolved.values:
            errors["resolved"] = [_("请选择是否解决：已解决、部分解决或未解决。")]
        if satisfaction not in states.Satisfaction.values:
            errors["satisfaction"] = [_("请选择满意度（五级）。")]
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
    # Checked under the row lock: the sweep lists needs first, and by now this one may have been
    # reopened and replied again, which starts a fresh callback window.
    window = timedelta(days=settings.WENXU_CALLBACK_WINDOW_DAYS)
    if n.replied_at is None or n.replied_at >= now - window:
        raise IllegalTransition(
            _("答复后 %(days)d 天的回访期限未过，不能按无法联系办结。")
            % {"days": settings.WENXU_CALLBACK_WINDOW_DAYS}
        )
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
    else:  # 批评/投诉: never to the criticised unit's line, unless disclosed (issue #9)
        check_units_not_criticised(errors, n, lead_unit=unit)
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
    # A resident's pending reopen request is answered by this reopen, whichever page it came from.
    ReopenRequest.objects.filter(need=n, state=ReopenRequest.State.PENDING).update(
        state=ReopenRequest.State.ACCEPTED, decided_by=actor, decided_at=now
    )
    _record(change, Status.IN_PROGRESS)
    return change.need
