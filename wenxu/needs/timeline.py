"""A need's events (办理记录) told in plain words, for people.

"2026-03-02 09:12 周敏 交办给 县住建局（协办：县交通局），办结时限 3月9日".
Each sentence says who did what, with the note they wrote; it never shows an event's raw
`data`, which may carry earlier replies, and it names staff and units only, never the requester.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from wenxu.lib.text import join_list
from wenxu.needs import states
from wenxu.needs.models import NeedEvent
from wenxu.needs.states import Action, Status
from wenxu.organisations.models import Unit

# The reminders the sweep sends, by kind (services.oversight.SWEEP_KINDS).
_REMINDER_TEXT = {
    "due_soon": gettext_lazy("办结时限临近，提醒承办单位抓紧办理"),
    "response_due_soon": gettext_lazy("响应时限临近，提醒承办单位及时签收"),
    "response_overdue": gettext_lazy("超过响应时限仍未签收，已督办"),
    "overdue": gettext_lazy("已超过办结时限，已督办"),
    "followup_due": gettext_lazy("已到承诺的跟进日期，提醒承办单位跟进"),
}


@dataclass(frozen=True)
class TimelineEntry:
    seq: int
    action: str
    at: datetime  # local time
    actor: str
    text: str  # what happened, without time and actor
    link: str = ""  # a ledger number the entry refers to (merge), shown as a link

    @property
    def at_text(self) -> str:
        """The time to the minute, as `|date:"Y-m-d H:i"` writes it: the need page's timeline
        shows one per event, and the filter costs ~20 µs a call (Django looks the format up as
        a setting name on every call before using it as it is)."""
        return f"{self.at:%Y-%m-%d %H:%M}"

    @property
    def at_iso(self) -> str:
        """The time as `|date:"c"` writes it (ISO 8601 with the offset)."""
        return self.at.isoformat()

    @property
    def sentence(self) -> str:
        return f"{self.at_text} {self.actor} {self.text}"


def timeline(events: Iterable[NeedEvent], *, known: Iterable[Unit] = ()) -> list[TimelineEntry]:
    """The events as entries, oldest first; unit names come from `known` (units the caller has
    loaded already: the need's own) and one query for all the others the events name."""
    items = sorted(events, key=lambda event: event.seq)
    unit_ids: set[int] = set()
    for event in items:
        data = event.data or {}
        for key in ("lead_unit", "about_unit"):
            if isinstance(data.get(key), int):
                unit_ids.add(data[key])
        unit_ids.update(pk for pk in data.get("co_units") or [] if isinstance(pk, int))
    units = {unit.pk: unit for unit in known if unit.pk in unit_ids}
    missing = unit_ids - units.keys()
    if missing:
        units |= Unit.objects.only("name", "short_name").in_bulk(missing)
    return [entry(event, units) for event in items]


def entry(event: NeedEvent, units: dict[int, Unit]) -> TimelineEntry:
    return TimelineEntry(
        seq=event.seq,
        action=event.action,
        at=timezone.localtime(event.created_at),
        actor=str(event.actor) if event.actor_id is not None else _("系统"),
        text=describe(event, units),
        link=_link(event),
    )


def event_sentence(event: NeedEvent, units: dict[int, Unit] | None = None) -> str:
    """One event as one sentence: time, actor, what happened."""
    if units is None:
        return timeline([event])[0].sentence
    return entry(event, units).sentence


def _link(event: NeedEvent) -> str:
    data = event.data or {}
    key = {Action.MERGE.value: "into", Action.MERGED_FROM.value: "from"}.get(event.action)
    value = data.get(key) if key else None
    return value if isinstance(value, str) else ""


def _unit(units: dict[int, Unit], pk: Any) -> str:
    unit = units.get(pk) if isinstance(pk, int) else None
    return str(unit) if unit is not None else _("（未知单位）")


def _day(value: date) -> str:
    return _("%(month)d月%(day)d日") % {"month": value.month, "day": value.day}


def _due(raw: Any, *, ref: datetime) -> str:
    """A stored deadline as people say it: 3月9日, with the year when it differs from the
    event's, and the time when it is not the end of a day (hour-based rules)."""
    moment = parse_datetime(raw) if isinstance(raw, str) else None
    if moment is None:
        return "?"
    local = timezone.localtime(moment)
    text = _day(local.date())
    if local.year != ref.year:
        text = _("%(year)d年") % {"year": local.year} + text
    if (local.hour, local.minute) != (23, 59):
        text += f" {local:%H:%M}"
    return text


def _label(choices: type[Any], value: Any) -> str:
    try:
        return str(choices(value).label)
    except ValueError:
        return str(value or "")


def _with_note(text: str, note: str, lead: str = "") -> str:
    """`text`, then the note the actor wrote: "督办：本周内解决", "…，理由：重复登记"."""
    note = (note or "").strip()
    if not note:
        return text
    if not lead:
        return _("%(text)s：%(note)s") % {"text": text, "note": note}
    return _("%(text)s，%(lead)s：%(note)s") % {"text": text, "lead": lead, "note": note}


def describe(event: NeedEvent, units: dict[int, Unit]) -> str:
    """What happened, in words: the part of the sentence after time and actor."""
    data: dict[str, Any] = event.data or {}
    note = event.note
    ref = timezone.localtime(event.created_at)
    action = event.action

    if action == Action.REGISTER:
        return _("登记诉求")
    if action == Action.REGISTER_ON_THE_SPOT:
        text = _("马上就办：现场解决并答复群众")
        if data.get("confirmed"):
            text = _("马上就办：现场解决，群众当场确认（%(satisfaction)s）") % {
                "satisfaction": _label(states.Satisfaction, data.get("satisfaction"))
            }
        return _with_note(text, note, _("办理情况"))
    if action == Action.ASSIGN:
        text = _("交办给 %(unit)s") % {"unit": _unit(units, data.get("lead_unit"))}
        co = [_unit(units, pk) for pk in data.get("co_units") or []]
        if co:
            text += _("（协办：%(units)s）") % {"units": join_list(co)}
        text += _("，办结时限 %(due)s") % {"due": _due(data.get("resolve_due"), ref=ref)}
        return _with_note(text, note)
    if action == Action.ACCEPT:
        return _("签收，开始办理")
    if action == Action.RETURN:
        text = _("将诉求退回调度（原主办：%(unit)s）") % {
            "unit": _unit(units, data.get("lead_unit"))
        }
        return _with_note(text, note, _("理由"))
    if action == Action.PROGRESS:
        return _with_note(_("办理进展"), note)
    if action == Action.REQUEST_EXTENSION:
        text = _("申请延期 %(days)s 个工作日") % {"days": data.get("days", "?")}
        return _with_note(text, note, _("理由"))
    if action == Action.APPROVE_EXTENSION:
        text = _("批准延期 %(days)s 个工作日，办结时限由 %(old)s 延至 %(new)s") % {
            "days": data.get("days", "?"),
            "old": _due(data.get("from"), ref=ref),
            "new": _due(data.get("to"), ref=ref),
        }
        return _with_note(text, note, _("意见"))
    if action == Action.DENY_EXTENSION:
        text = _("驳回延期申请（%(days)s 个工作日）") % {"days": data.get("days", "?")}
        return _with_note(text, note, _("理由"))
    if action == Action.REPLY:
        text = _("答复群众（%(outcome)s）") % {
            "outcome": _label(states.Outcome, data.get("outcome"))
        }
        followup = parse_date(data["followup_date"]) if data.get("followup_date") else None
        if followup is not None:
            text += _("，下次跟进 %(day)s") % {"day": _day(followup)}
        return _with_note(text, note, _("答复内容"))
    if action == Action.CALLBACK:
        return _callback(event, data)
    if action == Action.FULFIL:
        return _with_note(_("兑现承诺，诉求办结"), note, _("兑现情况"))
    if action == Action.REOPEN:
        text = _("重办，交 %(unit)s 重新办理，办结时限 %(due)s") % {
            "unit": _unit(units, data.get("lead_unit")),
            "due": _due(data.get("resolve_due"), ref=ref),
        }
        return _with_note(text, note, _("理由"))
    if action == Action.SUPERVISE:
        return _with_note(_("督办"), note)
    if action == Action.REMIND:
        kind = data.get("kind")
        if kind in _REMINDER_TEXT:
            return str(_REMINDER_TEXT[kind])
        if kind == "escalated":
            return _("超期仍未答复，督办升级至上一级（第 %(level)s 级）") % {
                "level": data.get("level", "?")
            }
        return _with_note(_("催办"), note)
    if action == Action.MERGE:
        return _("将本诉求合并到 %(number)s，诉求人随之跟进该诉求") % {
            "number": data.get("into", "?")
        }
    if action == Action.MERGED_FROM:
        return _("将 %(number)s 并入本诉求") % {"number": data.get("from", "?")}
    if action == Action.WITHDRAW:
        return _with_note(_("撤销诉求"), note, _("理由"))
    if action == Action.CONFIRM_OBSERVED:
        return _with_note(_("记录群众确认：望闻问切发现的诉求经群众本人确认"), note, _("确认情况"))
    if action == Action.REQUEST_REOPEN:
        text = _("群众评价（%(resolved)s，%(satisfaction)s）后申请重办") % {
            "resolved": _label(states.CallbackResolved, data.get("resolved")) or "—",
            "satisfaction": _label(states.Satisfaction, data.get("satisfaction")) or "—",
        }
        return _with_note(text, note, _("群众意见"))
    if action == Action.DECLINE_REOPEN:
        return _with_note(_("不予重办"), note, _("理由"))
    if action == Action.ABOUT_UNIT:
        about = data.get("about_unit")
        if about is None:
            return _with_note(_("取消被批评/投诉单位"), note, _("理由"))
        text = _("将被批评/投诉单位更正为 %(unit)s") % {"unit": _unit(units, about)}
        return _with_note(text, note, _("理由"))
    if action == Action.DISCLOSE_TO_UNIT:
        text = _("决定向被批评单位 %(unit)s 公开（诉求人身份仍对其保密）") % {
            "unit": _unit(units, data.get("about_unit"))
        }
        return _with_note(text, note, _("理由"))
    return _label(Action, action)


def _callback(event: NeedEvent, data: dict[str, Any]) -> str:
    channel = data.get("channel")
    if channel == states.CallbackChannel.UNREACHABLE:
        if event.actor_id is None:
            text = _("回访期限已过，未能联系到群众")
        else:
            text = _("回访：未能联系到群众")
    else:
        text = _("回访（%(channel)s）：%(resolved)s，%(satisfaction)s") % {
            "channel": _label(states.CallbackChannel, channel),
            "resolved": _label(states.CallbackResolved, data.get("resolved")),
            "satisfaction": _label(states.Satisfaction, data.get("satisfaction")),
        }
    if event.to_status == Status.FOLLOWING:
        text += _("；承诺事项转入跟进")
    elif event.to_status == Status.CLOSED:
        text += _("；诉求办结")
    note = "" if event.actor_id is None else event.note.strip()
    if note:
        text += _("；群众意见：%(note)s") % {"note": note}
    return text
