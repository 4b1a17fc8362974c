"""The rows of an exported 台账: the ledger page's filters, scope and order, as cell values.

`export_queryset` reads exactly what the ledger page shows the user (the same filter form, the
scoping selector, the same sort) and streams it: one query for the needs with their area,
category, units and requester, read in chunks of `CHUNK_SIZE`, and per chunk one query for the
co units and one for the handlers' events. The number of queries depends on the number of
chunks, never on the rows inside one. Everything else (area names, the working-day calendar,
the title) is read once per export.

Personal data is masked unless the export asks to reveal it (a ticked box and a reason on the
export form) and the user may (`may_reveal_personal_data`, the reveal permission of issue #9);
even then a confidential requester stays hidden from someone who sees the need only as staff of a
unit (`wenxu.residents.reveal.Viewer`).
"""

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.db.models import F, Prefetch, QuerySet
from django.http import QueryDict
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from wenxu.accounts.models import Membership, User
from wenxu.exchange.columns import Column
from wenxu.lib import clock, masking
from wenxu.lib.workdays import WorkCalendar
from wenxu.needs import deadlines, ledger_forms, selectors, states
from wenxu.needs.models import Category, Need, NeedEvent, Urgency
from wenxu.organisations.models import Area, Unit
from wenxu.residents.models import Requester
from wenxu.residents.reveal import Viewer
from wenxu.residents.reveal import may_reveal_personal_data as may_reveal_personal_data

CHUNK_SIZE = 2000
# The ledger page's query-string keys that narrow or order the export (no cursor: all pages).
FILTER_KEYS = tuple(key for key in ledger_forms.LedgerFilterForm.base_fields if key != "cursor")

Value = str | int | date | datetime | None


# --------------------------------------------------------------------------- filters


@dataclass(frozen=True)
class ExportFilters:
    filters: selectors.NeedFilters
    sort: str
    problems: list[str]  # conditions the form refused, for people
    query: dict[str, list[str]]  # the valid raw query, to run the same export later
    form: ledger_forms.LedgerFilterForm


def parse_filters(data: QueryDict | Mapping[str, list[str]]) -> ExportFilters:
    """The ledger page's filter form over `data` (a query string, or a job's stored filters)."""
    if not isinstance(data, QueryDict):
        query = QueryDict(mutable=True)
        for key, values in data.items():
            query.setlist(key, [str(value) for value in values])
        data = query
    form = ledger_forms.LedgerFilterForm(data)
    form.is_valid()
    kept = {
        key: [value for value in data.getlist(key) if value.strip()]
        for key in FILTER_KEYS
        if key not in form.errors
    }
    return ExportFilters(
        filters=form.filters(),
        sort=form.chosen_sort(),
        problems=form.problems(),
        query={key: values for key, values in kept.items() if values},
        form=form,
    )


def export_queryset(*, user: User, filters: selectors.NeedFilters, sort: str) -> QuerySet[Need]:
    """The needs `user` sees with `filters`, in the ledger's order, with what the rows show.

    Raises `InvalidInput` for a filter naming something that does not exist (as the ledger)."""
    qs = selectors.apply_filters(selectors.need_queryset_for_user(user=user), filters, viewer=user)
    if sort == selectors.SORT_DEADLINE:
        qs = qs.order_by(F("resolve_due").asc(nulls_last=True), "id")
    else:
        qs = qs.order_by("-registered_at", "-id")
    handler_events = (
        NeedEvent.objects.filter(
            action__in=[states.Action.ACCEPT, states.Action.REPLY], actor__isnull=False
        )
        .select_related("actor")
        .only("need", "seq", "action", "actor__display_name", "actor__username")
        .order_by("seq")
    )
    return (
        # (`about_unit`: whether a requester is withheld from the reader, `Viewer`.)
        qs.select_related("area", "category", "lead_unit", "requester", "merged_into", "about_unit")
        # Fields no column shows stay in the database.
        .defer(
            "tracking_code",
            "latitude",
            "longitude",
            "client_payload_hash",
            "extension_pending_reason",
            "callback_comment",
        )
        .prefetch_related(
            Prefetch("co_units", queryset=Unit.objects.only("id", "name").order_by("path")),
            Prefetch("events", queryset=handler_events, to_attr="handler_events"),
        )
    )


def iter_needs(qs: QuerySet[Need], *, chunk_size: int = CHUNK_SIZE) -> Iterator[Need]:
    return qs.iterator(chunk_size=chunk_size)


# --------------------------------------------------------------------------- the title


def scope_text(user: User) -> str:
    """The user's areas and units, as the title row names them."""
    areas: list[str] = []
    units: list[str] = []
    for membership in Membership.objects.filter(user=user).select_related("area", "unit"):
        if membership.area is not None and membership.area.name not in areas:
            areas.append(membership.area.name)
        if membership.unit is not None and membership.unit.name not in units:
            units.append(membership.unit.name)
    parts = []
    if areas:
        parts.append(_("区域：%(names)s") % {"names": "、".join(areas)})
    if units:
        parts.append(_("单位：%(names)s") % {"names": "、".join(units)})
    return "；".join(parts) or _("本人登记的诉求")


def filters_text(parsed: ExportFilters) -> str:
    """The period and every condition, as the title row states them."""
    data = parsed.form.cleaned_data if hasattr(parsed.form, "cleaned_data") else {}
    start, end = data.get("date_from"), data.get("date_to")
    if start or end:
        period = _("登记日期：%(start)s 至 %(end)s") % {
            "start": start.isoformat() if start else _("最早"),
            "end": end.isoformat() if end else _("今天"),
        }
    else:
        period = _("登记日期：全部")
    parts = [period]
    names = _ref_names(data)
    if data.get("q"):
        parts.append(_("关键词：%(q)s") % {"q": data["q"]})
    if data.get("status"):
        labels = [str(states.Status(value).label) for value in data["status"]]
        parts.append(_("状态：%(values)s") % {"values": "、".join(labels)})
    for key, label in (
        ("unit", _("责任单位")),
        ("area", _("区域")),
        ("category", _("分类")),
    ):
        if names.get(key):
            parts.append(f"{label}：{names[key]}")
    if data.get("urgency"):
        parts.append(_("紧急程度：%(v)s") % {"v": Urgency(data["urgency"]).label})
    if data.get("source"):
        parts.append(_("来源：%(v)s") % {"v": states.Source(data["source"]).label})
    flags = [
        label
        for key, label in (
            ("overdue", _("已超期")),
            ("due_soon", _("临期")),
            ("supervised", _("督办中")),
            ("extension_pending", _("延期待批")),
        )
        if data.get(key)
    ]
    if flags:
        parts.append("、".join(flags))
    return "；".join(parts)


def _ref_names(data: Mapping[str, Any]) -> dict[str, str]:
    names: dict[str, str] = {}
    for key, model in (("unit", Unit), ("area", Area), ("category", Category)):
        pk = data.get(key)
        if pk:
            found = model.objects.filter(pk=pk).values_list("name", flat=True).first()
            names[key] = found or f"#{pk}"
    return names


# --------------------------------------------------------------------------- the rows


@dataclass
class RowContext:
    """What every row needs, read once per export."""

    reveal: bool
    viewer: Viewer | None = None  # who reads the rows: decides on confidential requesters
    now: datetime = field(default_factory=clock.now)
    calendar: WorkCalendar = field(default_factory=deadlines.current_calendar)
    # Townships and villages by id: a need's area path names its ancestors by id.
    places: dict[int, tuple[str, str]] = field(default_factory=dict)

    @classmethod
    def build(cls, *, user: User, reveal: bool = False) -> "RowContext":
        """`reveal`: the export asked for personal data unmasked (and the user may: checked
        again here, so that a job started before a permission was withdrawn masks)."""
        places = {
            pk: (name, level)
            for pk, name, level in Area.objects.filter(
                level__in=[Area.Level.TOWNSHIP, Area.Level.VILLAGE]
            ).values_list("id", "name", "level")
        }
        reveal = reveal and may_reveal_personal_data(user)
        return cls(reveal=reveal, viewer=Viewer.of(user), places=places)


def _local(moment: datetime | None) -> datetime | None:
    """Local (Asia/Shanghai) wall time without zone: what Excel shows and CSV prints."""
    if moment is None:
        return None
    return timezone.localtime(moment, timezone.get_default_timezone()).replace(tzinfo=None)


def _local_date(moment: datetime | None) -> date | None:
    local = _local(moment)
    return local.date() if local else None


def _area_levels(need: Need, ctx: RowContext) -> dict[str, str]:
    levels = {"township": "", "village": "", "grid": ""}
    area = need.area
    for pk in area.ancestors_and_self_ids()[:-1]:
        place = ctx.places.get(pk)
        if place is not None:
            levels[place[1]] = place[0]
    own: str | None = {
        Area.Level.TOWNSHIP: "township",
        Area.Level.VILLAGE: "village",
        Area.Level.GRID: "grid",
    }.get(Area.Level(area.level))
    if own:
        levels[own] = area.name
    return levels


def _requester(need: Need, ctx: RowContext) -> tuple[str, str, str]:
    requester: Requester | None = need.requester
    if requester is None:
        return "", "", ""
    hidden = ctx.viewer is not None and ctx.viewer.identity_hidden(need)
    if ctx.reveal and not hidden:
        return requester.name, requester.phone, requester.address
    if requester.confidential or hidden:
        return str(_("（保密）")), "", ""
    return (
        masking.mask_name(requester.name),
        masking.mask_phone(requester.phone),
        masking.mask_address(requester.address),
    )


def _units(need: Need) -> str:
    if need.lead_unit is None:
        return ""
    co = [unit.name for unit in need.co_units.all()]
    if not co:
        return need.lead_unit.name
    return _("%(lead)s；协办：%(co)s") % {"lead": need.lead_unit.name, "co": "、".join(co)}


def _handler(need: Need) -> str:
    """Who answered for the unit: the last reply's author, else who accepted it."""
    events: list[NeedEvent] = getattr(need, "handler_events", [])
    for action in (states.Action.REPLY, states.Action.ACCEPT):
        chosen = [event for event in events if event.action == action]
        if chosen and chosen[-1].actor is not None:
            return str(chosen[-1].actor)
    return ""


def _is_end_of_day(moment: datetime) -> bool:
    local = timezone.localtime(moment, timezone.get_default_timezone())
    return local.time() == deadlines.END_OF_DAY


def _time_limit(need: Need, ctx: RowContext) -> str:
    """办理时限 as the rule gave it when assigned ("5 个工作日", "24 小时"), and any extension."""
    start, due = need.assigned_at, need.original_resolve_due or need.resolve_due
    if start is None or due is None:
        return ""
    if _is_end_of_day(due):
        days = ctx.calendar.workdays_between(
            timezone.localdate(start, timezone.get_default_timezone()),
            timezone.localdate(due, timezone.get_default_timezone()),
        )
        text = ngettext("%(n)d 个工作日", "%(n)d 个工作日", days) % {"n": days}
    else:
        hours = round((due - start).total_seconds() / 3600)
        text = ngettext("%(n)d 小时", "%(n)d 小时", hours) % {"n": hours}
    if need.resolve_due and need.original_resolve_due and need.resolve_due > due:
        extra = ctx.calendar.workdays_between(
            timezone.localdate(due, timezone.get_default_timezone()),
            timezone.localdate(need.resolve_due, timezone.get_default_timezone()),
        )
        text += _("（延期 %(n)d 个工作日）") % {"n": extra}
    return text


def _on_time(need: Need, ctx: RowContext) -> str:
    if need.handling == states.Handling.ON_THE_SPOT and need.replied_at is not None:
        return _("是")
    if need.resolve_due is None:
        return ""
    if need.replied_at is not None:
        return _("是") if need.replied_at <= need.resolve_due else _("否")
    if need.status in states.ACTIVE and need.resolve_due < ctx.now:
        return _("否（已超期）")
    return ""


def _result(need: Need) -> str:
    if not need.outcome:
        return need.reply_text
    label = str(states.Outcome(need.outcome).label)
    return f"{label}：{need.reply_text}" if need.reply_text else label


def _remarks(need: Need) -> str:
    notes: list[str] = []
    if need.handling == states.Handling.ON_THE_SPOT:
        notes.append(str(states.Handling.ON_THE_SPOT.label))
    tags = [
        str(states.NatureTag(tag).label)
        for tag in need.nature_tags or []
        if tag in states.NatureTag.values
    ]
    if tags:
        notes.append(_("急难愁盼：%(tags)s") % {"tags": "".join(tags)})
    if need.supervised and need.status in states.ACTIVE:
        notes.append(_("督办中"))
    if need.extension_count:
        notes.append(_("延期 %(n)d 次") % {"n": need.extension_count})
    if need.reopen_count:
        notes.append(_("重办 %(n)d 次") % {"n": need.reopen_count})
    if need.outcome == states.Outcome.PLANNED and need.followup_date and not need.fulfilled_at:
        notes.append(_("计划跟进：%(d)s") % {"d": need.followup_date.isoformat()})
    if need.merged_into is not None:
        notes.append(_("已并入 %(n)s") % {"n": need.merged_into.number})
    return "；".join(notes)


def _label(choices: Any, value: str) -> str:
    if not value:
        return ""
    try:
        return str(choices(value).label)
    except ValueError:
        return value


def _content(need: Need) -> str:
    return f"{need.title}\n{need.description}" if need.description else need.title


Getter = Callable[[Need, RowContext], Value]

GETTERS: dict[str, Getter] = {
    "number": lambda n, c: n.number,
    "registered": lambda n, c: _local_date(n.registered_at),
    "source": lambda n, c: _label(states.Source, n.source),
    "township": lambda n, c: _area_levels(n, c)["township"],
    "village": lambda n, c: _area_levels(n, c)["village"],
    "grid": lambda n, c: _area_levels(n, c)["grid"],
    "requester": lambda n, c: _requester(n, c)[0],
    "phone": lambda n, c: _requester(n, c)[1],
    "address": lambda n, c: _requester(n, c)[2],
    "category": lambda n, c: n.category.name if n.category else "",
    "content": lambda n, c: _content(n),
    "urgency": lambda n, c: _label(Urgency, n.urgency),
    "units": lambda n, c: _units(n),
    "handler": lambda n, c: _handler(n),
    "assigned_at": lambda n, c: _local(n.assigned_at),
    "time_limit": _time_limit,
    "due_date": lambda n, c: _local_date(n.resolve_due),
    "progress": lambda n, c: _label(states.Status, n.status),
    "result": lambda n, c: _result(n),
    "closed_at": lambda n, c: _local(n.closed_at),
    "on_time": _on_time,
    "callback_at": lambda n, c: _local(n.callback_at),
    "callback_channel": lambda n, c: _label(states.CallbackChannel, n.callback_channel),
    "satisfaction": lambda n, c: _label(states.Satisfaction, n.callback_satisfaction),
    "remarks": lambda n, c: _remarks(n),
}


def rows(needs: Iterator[Need], columns: list[Column], ctx: RowContext) -> Iterator[list[Value]]:
    """Each need as its cells, in the columns' order; 序号 counts from 1."""
    getters = [GETTERS.get(column.key) for column in columns]
    for seq, need in enumerate(needs, start=1):
        yield [seq if getter is None else getter(need, ctx) for getter in getters]
