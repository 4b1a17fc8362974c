"""What a resident sees of their need on the tracking page (`/track`).

Found by the tracking code plus the last four digits of the phone on record; when no phone was
given, the code alone shows less (no reply text, no steps). A wrong code, wrong digits, or a
code whose need wants digits that were not given all look the same: nothing is found. Nothing
here names staff or shows internal notes; units are named (they answer to residents).
"""

import hmac
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime

from django.utils.translation import gettext as _

from wenxu.lib import ids
from wenxu.needs.models import Need, NeedEvent, ReopenRequest
from wenxu.needs.states import Action, Outcome, Status
from wenxu.organisations.models import Unit

_DIGITS = re.compile(r"\d")


def normalise_code(raw: str) -> str:
    # Control characters (NUL among them: PostgreSQL refuses it in a query) are never part of
    # a code; dropped like the spaces and dashes people type.
    text = unicodedata.normalize("NFKC", raw or "").upper()
    return re.sub(r"[\s\-\x00-\x1f\x7f-\x9f]", "", text)[:20]


def _digits(raw: str) -> str:
    return "".join(_DIGITS.findall(unicodedata.normalize("NFKC", raw or "")))


def normalise_tail(raw: str) -> str:
    return _digits(raw)[:8]


def looks_like_code(code: str) -> bool:
    return len(code) == ids.TRACKING_LENGTH and all(c in ids.TRACKING_ALPHABET for c in code)


@dataclass(frozen=True)
class Step:
    at: datetime
    text: str


@dataclass(frozen=True)
class Tracked:
    number: str
    title: str
    status: str
    status_label: str
    summary: str
    registered_at: datetime
    unit: str
    resolve_due: datetime | None
    replied_at: datetime | None
    outcome_label: str
    reply_text: str
    followup_date: date | None
    closed_at: datetime | None
    full: bool
    steps: list[Step] = field(default_factory=list)
    # 群众申请重办: "pending" while a dispatcher decides, "declined" with the reason given to
    # the resident; "" otherwise (accepted shows as the need being handled again).
    reopen_state: str = ""
    reopen_decline_reason: str = ""


def need_for_tracking(*, code: str, phone_tail: str) -> Tracked | None:
    """The resident's view of the need, or None when the code and digits do not match one."""
    code = normalise_code(code)
    tail = normalise_tail(phone_tail)
    need = (
        Need.objects.select_related("requester", "lead_unit", "merged_into__lead_unit")
        .filter(tracking_code=code)
        .first()
    )
    if need is None or not looks_like_code(code):
        return None
    phone = _digits(need.requester.phone) if need.requester is not None else ""
    if phone:
        if len(tail) != 4 or not hmac.compare_digest(phone[-4:], tail):
            return None
        full = True
    elif tail:
        return None  # digits for a need without a phone on record: no match, like a wrong one
    else:
        full = False
    # A merged need is handled as the need it went into: that is where the answer comes.
    shown = need.merged_into if need.status == Status.MERGED and need.merged_into else need
    own = shown is need
    # Another resident's rating and reopen request on the target are not this requester's:
    # no reopen panel, and the steps say 群众 rather than 您.
    reopen_state, decline_reason = _reopen(shown, full=full) if own else ("", "")
    return Tracked(
        number=need.number,
        title=need.title,
        status=shown.status,
        status_label=str(Status(shown.status).label),
        summary=_summary(need, shown),
        registered_at=need.registered_at,
        unit=str(shown.lead_unit) if shown.lead_unit else "",
        resolve_due=shown.resolve_due if shown.replied_at is None else None,
        replied_at=shown.replied_at,
        outcome_label=str(Outcome(shown.outcome).label) if shown.outcome else "",
        reply_text=shown.reply_text if full else "",
        followup_date=shown.followup_date,
        closed_at=shown.closed_at,
        full=full,
        steps=_steps(shown, own=own) if full else [],
        reopen_state=reopen_state,
        reopen_decline_reason=decline_reason,
    )


def _reopen(need: Need, *, full: bool) -> tuple[str, str]:
    """The latest reopen request while the need still rests on the rating that made it."""
    if need.status not in (Status.FOLLOWING, Status.CLOSED):
        return "", ""
    request = (
        ReopenRequest.objects.filter(need=need)
        .order_by("-id")
        .only("state", "decline_reason")
        .first()
    )
    if request is None or request.state == ReopenRequest.State.ACCEPTED:
        return "", ""
    if request.state == ReopenRequest.State.DECLINED:
        # The reason is written for the resident; without the phone's digits only the fact.
        return request.state, request.decline_reason if full else ""
    return request.state, ""


def _summary(need: Need, shown: Need) -> str:
    unit = str(shown.lead_unit) if shown.lead_unit else ""
    status = shown.status
    prefix = ""
    if need is not shown:
        prefix = _("您的诉求与其他群众反映的相同问题合并办理。")
    if status == Status.REGISTERED:
        text = _("诉求已登记，正在确定责任单位。")
    elif status == Status.ASSIGNED:
        text = _("已交由%(unit)s办理，等待受理。") % {"unit": unit}
    elif status == Status.IN_PROGRESS and shown.reopen_count:
        text = _("已重新办理，%(unit)s正在办理，请留意办结时限。") % {"unit": unit}
    elif status == Status.IN_PROGRESS:
        text = _("%(unit)s正在办理。") % {"unit": unit}
    elif status == Status.REPLIED and unit:
        text = _("%(unit)s已答复，工作人员将回访听取您的意见。") % {"unit": unit}
    elif status == Status.REPLIED:  # solved on the spot: no unit was involved
        text = _("已答复，工作人员将回访听取您的意见。")
    elif status == Status.FOLLOWING:
        text = _("已答复；需要创造条件解决的事项会继续跟进，办成后再告知您。")
    elif status == Status.CLOSED:
        text = _("已办结。")
    elif status == Status.WITHDRAWN:
        text = _("该诉求已撤销。如有疑问，请联系登记时的工作人员。")
    else:
        text = _("该诉求已合并办理。")
    return prefix + text


# Actions a resident is told about, and how; the rest (notes, reminders, extension requests,
# internal decisions) stay inside.
def _step_text(event: NeedEvent, units: dict[int, str], *, own: bool = True) -> str | None:
    unit = units.get(event.data.get("lead_unit") or 0, "")
    action = event.action
    if action == Action.REGISTER:
        return _("诉求已登记")
    if action == Action.REGISTER_ON_THE_SPOT:
        return _("工作人员现场办理（马上就办）")
    if action == Action.ASSIGN:
        return _("交由%(unit)s办理") % {"unit": unit} if unit else _("已交办")
    if action == Action.ACCEPT:
        return _("%(unit)s已受理") % {"unit": unit} if unit else _("已受理")
    if action == Action.RETURN:
        return _("重新确定责任单位")
    if action == Action.APPROVE_EXTENSION:
        return _("办理时限延长")
    if action == Action.REPLY:
        return _("%(unit)s已答复") % {"unit": unit} if unit else _("已答复")
    if action == Action.CALLBACK:
        if event.data.get("channel") == "online":
            return _("您评价了办理结果") if own else _("群众评价了办理结果")
        return _("回访")
    if action == Action.FULFIL:
        return _("承诺事项已办成")
    if action == Action.REOPEN:
        return _("重新办理")
    if action == Action.REQUEST_REOPEN:
        return _("您对办理结果不满意，申请重办") if own else _("群众对办理结果不满意，申请重办")
    if action == Action.DECLINE_REOPEN:
        return _("不予重办")
    if action == Action.SUPERVISE:
        return _("列入督办")
    if action == Action.WITHDRAW:
        return _("撤销")
    return None


def _steps(need: Need, *, own: bool = True) -> list[Step]:
    """The resident-facing steps; `own` is False when `need` is the one another need merged into."""
    events = list(need.events.order_by("seq").only("action", "data", "created_at"))
    unit_ids = {e.data.get("lead_unit") for e in events if e.data.get("lead_unit")}
    units = {u.pk: str(u) for u in Unit.objects.filter(pk__in=unit_ids)}
    steps = []
    for event in events:
        text = _step_text(event, units, own=own)
        if text is not None:
            steps.append(Step(at=event.created_at, text=text))
    return steps
