"""The rows of an exported 台账: the ledger page's filters, scope and order, as cell values.

`export_queryset` is exactly what the ledger page shows the user (the same filter form, the
scoping selector, the same sort); `rows` streams it as cells. It reads plain values, not model
instances (an export of a million needs must not build seven objects a row): one query for the
needs with the columns of their area, category, lead unit, requester and merge target joined in,
read through a server-side cursor in chunks of `CHUNK_SIZE`, and per chunk one query for the co
units and one for the handlers' events (each only when its column is chosen). Only the fields
the chosen columns show are read. The number of queries depends on the number of chunks, never
on the rows inside one. Everything else (area names, labels, the working-day calendar, the
title) is read once per export, and what repeats from row to row (an area's township and
village, a deadline's working days) is worked out once.

Personal data is masked unless the export asks to reveal it (a ticked box and a reason on the
export form) and the user may (`may_reveal_personal_data`, the reveal permission of issue #9);
even then a confidential requester stays hidden from someone who sees the need only as staff of a
unit (`wenxu.residents.reveal.Viewer`'s rule, asked of the database for every row at once as
`selectors.requester_known_q`).
"""

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from itertools import islice
from typing import Any

from django.db.models import BooleanField, Case, F, QuerySet, When
from django.db.models import Value as V
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
from wenxu.residents.reveal import may_reveal_personal_data as may_reveal_personal_data

CHUNK_SIZE = 5000
# The ledger page's query-string keys that narrow or order the export (no cursor: all pages).
FILTER_KEYS = tuple(key for key in ledger_forms.LedgerFilterForm.base_fields if key != "cursor")

Value = str | int | date | datetime | None
Row = dict[str, Any]  # one need's values, as `QuerySet.values` reads them


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
    """The needs `user` sees with `filters`, in the ledger's order (`rows` reads their values).

    Raises `InvalidInput` for a filter naming something that does not exist (as the ledger)."""
    qs = selectors.apply_filters(selectors.need_queryset_for_user(user=user), filters, viewer=user)
    if sort == selectors.SORT_DEADLINE:
        return qs.order_by(F("resolve_due").asc(nulls_last=True), "id")
    return qs.order_by("-registered_at", "-id")


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


def _labels(choices: Any) -> dict[str, str]:
    return {value: str(label) for value, label in choices.choices}


@dataclass
class RowContext:
    """What every row needs, read once per export, and what rows share, worked out once."""

    reveal: bool
    user: User | None = None  # who reads the rows: decides on confidential requesters
    now: datetime = field(default_factory=clock.now)
    calendar: WorkCalendar = field(default_factory=deadlines.current_calendar)
    # Townships and villages by id: a need's area path names its ancestors by id.
    places: dict[int, tuple[str, str]] = field(default_factory=dict)
    zone: tzinfo = field(default_factory=timezone.get_default_timezone)
    # Set from the above: choice labels and fixed words in the export's language, by field,
    # and what rows share (an area's places, a deadline's working days).
    labels: dict[str, dict[str, str]] = field(init=False)
    confidential: str = field(init=False)
    on_the_spot: str = field(init=False)
    yes: str = field(init=False)
    no: str = field(init=False)
    overdue: str = field(init=False)
    _levels: dict[int, tuple[str, str, str]] = field(default_factory=dict, init=False)
    _workdays: dict[tuple[date, date], int] = field(default_factory=dict, init=False)
    _texts: dict[tuple[str, int], str] = field(default_factory=dict, init=False)

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
        return cls(reveal=reveal, user=user, places=places)

    def __post_init__(self) -> None:
        self.labels = {
            "source": _labels(states.Source),
            "urgency": _labels(Urgency),
            "status": _labels(states.Status),
            "outcome": _labels(states.Outcome),
            "callback_channel": _labels(states.CallbackChannel),
            "callback_satisfaction": _labels(states.Satisfaction),
            "nature_tags": _labels(states.NatureTag),
        }
        self.confidential = str(_("（保密）"))
        self.on_the_spot = str(states.Handling.ON_THE_SPOT.label)
        self.yes, self.no, self.overdue = _("是"), _("否"), _("否（已超期）")

    def label(self, name: str, value: str) -> str:
        """A choice's label; "" for none, the value itself for one no longer offered."""
        if not value:
            return ""
        return self.labels[name].get(value, value)

    def local(self, moment: datetime | None) -> datetime | None:
        """Local (Asia/Shanghai) wall time without zone: what Excel shows and CSV prints."""
        if moment is None:
            return None
        return moment.astimezone(self.zone).replace(tzinfo=None)

    def local_date(self, moment: datetime | None) -> date | None:
        return None if moment is None else moment.astimezone(self.zone).date()

    def area_levels(self, row: Row) -> tuple[str, str, str]:
        """所属街道, 所属社区, 所属网格 of the row's area."""
        found = self._levels.get(row["area_id"])
        if found is None:
            levels = {"township": "", "village": "", "grid": ""}
            ids = [int(part) for part in row["area__path"].strip("/").split("/") if part]
            for pk in ids[:-1]:
                place = self.places.get(pk)
                if place is not None:
                    levels[place[1]] = place[0]
            if row["area__level"] in levels:
                levels[row["area__level"]] = row["area__name"]
            found = (levels["township"], levels["village"], levels["grid"])
            self._levels[row["area_id"]] = found
        return found

    def workdays(self, start: datetime, end: datetime) -> int:
        key = (start.astimezone(self.zone).date(), end.astimezone(self.zone).date())
        days = self._workdays.get(key)
        if days is None:
            days = self._workdays[key] = self.calendar.workdays_between(*key)
        return days

    def text(self, kind: str, n: int) -> str:
        """办理时限's words for `n` (working days, hours, extension days), translated once."""
        found = self._texts.get((kind, n))
        if found is None:
            if kind == "days":
                found = ngettext("%(n)d 个工作日", "%(n)d 个工作日", n) % {"n": n}
            elif kind == "hours":
                found = ngettext("%(n)d 小时", "%(n)d 小时", n) % {"n": n}
            else:
                found = _("（延期 %(n)d 个工作日）") % {"n": n}
            self._texts[(kind, n)] = found
        return found


def _requester(row: Row, ctx: RowContext, part: str) -> str:
    """诉求人 / 联系电话 / 住址 as this reader may see them."""
    if row["requester_id"] is None:
        return ""
    hidden = not row["identity_known"]
    if ctx.reveal and not hidden:
        return str(row[f"requester__{part}"])
    if row["requester__confidential"] or hidden:
        return ctx.confidential if part == "name" else ""
    value = row[f"requester__{part}"]
    if part == "name":
        return masking.mask_name(value)
    if part == "phone":
        return masking.mask_phone(value)
    return masking.mask_address(value)


def _units(row: Row, ctx: RowContext) -> str:
    lead = row["lead_unit__name"]
    if lead is None:
        return ""
    co = row["co_units"]
    if not co:
        return str(lead)
    return _("%(lead)s；协办：%(co)s") % {"lead": lead, "co": "、".join(co)}


def _time_limit(row: Row, ctx: RowContext) -> str:
    """办理时限 as the rule gave it when assigned ("5 个工作日", "24 小时"), and any extension."""
    start = row["assigned_at"]
    original, resolve_due = row["original_resolve_due"], row["resolve_due"]
    due = original or resolve_due
    if start is None or due is None:
        return ""
    if due.astimezone(ctx.zone).time() == deadlines.END_OF_DAY:
        text = ctx.text("days", ctx.workdays(start, due))
    else:
        text = ctx.text("hours", round((due - start).total_seconds() / 3600))
    if resolve_due and original and resolve_due > due:
        text += ctx.text("extension", ctx.workdays(due, resolve_due))
    return text


def _on_time(row: Row, ctx: RowContext) -> str:
    replied_at, due = row["replied_at"], row["resolve_due"]
    if row["handling"] == states.Handling.ON_THE_SPOT and replied_at is not None:
        return ctx.yes
    if due is None:
        return ""
    if replied_at is not None:
        return ctx.yes if replied_at <= due else ctx.no
    if row["status"] in states.ACTIVE and due < ctx.now:
        return ctx.overdue
    return ""


def _result(row: Row, ctx: RowContext) -> str:
    outcome, text = row["outcome"], row["reply_text"]
    if not outcome:
        return str(text)
    label = ctx.label("outcome", outcome)
    return f"{label}：{text}" if text else label


def _remarks(row: Row, ctx: RowContext) -> str:
    notes: list[str] = []
    if row["handling"] == states.Handling.ON_THE_SPOT:
        notes.append(ctx.on_the_spot)
    tag_labels = ctx.labels["nature_tags"]
    tags = [tag_labels[tag] for tag in row["nature_tags"] or [] if tag in tag_labels]
    if tags:
        notes.append(_("急难愁盼：%(tags)s") % {"tags": "".join(tags)})
    active = row["status"] in states.ACTIVE
    if row["supervised"] and active:
        notes.append(_("督办中"))
    if row["extension_count"]:
        notes.append(_("延期 %(n)d 次") % {"n": row["extension_count"]})
    if row["reopen_count"]:
        notes.append(_("重办 %(n)d 次") % {"n": row["reopen_count"]})
    if (
        row["outcome"] == states.Outcome.PLANNED
        and row["followup_date"]
        and not row["fulfilled_at"]
    ):
        notes.append(_("计划跟进：%(d)s") % {"d": row["followup_date"].isoformat()})
    if row["merged_into__number"] is not None:
        notes.append(_("已并入 %(n)s") % {"n": row["merged_into__number"]})
    return "；".join(notes)


def _content(row: Row, ctx: RowContext) -> str:
    title, description = row["title"], row["description"]
    return f"{title}\n{description}" if description else str(title)


Getter = Callable[[Row, RowContext], Value]

_AREA = ("area_id", "area__name", "area__level", "area__path")
_REQUESTER = ("requester_id", "requester__confidential", "identity_known")

# Each column: what it reads (`QuerySet.values` names) and how it makes the cell.
READS: dict[str, tuple[str, ...]] = {
    "seq": (),
    "number": ("number",),
    "registered": ("registered_at",),
    "source": ("source",),
    "township": _AREA,
    "village": _AREA,
    "grid": _AREA,
    "requester": (*_REQUESTER, "requester__name"),
    "phone": (*_REQUESTER, "requester__phone"),
    "address": (*_REQUESTER, "requester__address"),
    "category": ("category__name",),
    "content": ("title", "description"),
    "urgency": ("urgency",),
    "units": ("lead_unit__name",),  # and the co units, a query per chunk
    "handler": (),  # the handlers' events, a query per chunk
    "assigned_at": ("assigned_at",),
    "time_limit": ("assigned_at", "original_resolve_due", "resolve_due"),
    "due_date": ("resolve_due",),
    "progress": ("status",),
    "result": ("outcome", "reply_text"),
    "closed_at": ("closed_at",),
    "on_time": ("handling", "replied_at", "resolve_due", "status"),
    "callback_at": ("callback_at",),
    "callback_channel": ("callback_channel",),
    "satisfaction": ("callback_satisfaction",),
    "remarks": (
        "handling",
        "nature_tags",
        "supervised",
        "status",
        "extension_count",
        "reopen_count",
        "outcome",
        "followup_date",
        "fulfilled_at",
        "merged_into__number",
    ),
}

GETTERS: dict[str, Getter] = {
    "number": lambda r, c: r["number"],
    "registered": lambda r, c: c.local_date(r["registered_at"]),
    "source": lambda r, c: c.label("source", r["source"]),
    "township": lambda r, c: c.area_levels(r)[0],
    "village": lambda r, c: c.area_levels(r)[1],
    "grid": lambda r, c: c.area_levels(r)[2],
    "requester": lambda r, c: _requester(r, c, "name"),
    "phone": lambda r, c: _requester(r, c, "phone"),
    "address": lambda r, c: _requester(r, c, "address"),
    "category": lambda r, c: r["category__name"] or "",
    "content": _content,
    "urgency": lambda r, c: c.label("urgency", r["urgency"]),
    "units": _units,
    "handler": lambda r, c: r["handler"],
    "assigned_at": lambda r, c: c.local(r["assigned_at"]),
    "time_limit": _time_limit,
    "due_date": lambda r, c: c.local_date(r["resolve_due"]),
    "progress": lambda r, c: c.label("status", r["status"]),
    "result": _result,
    "closed_at": lambda r, c: c.local(r["closed_at"]),
    "on_time": _on_time,
    "callback_at": lambda r, c: c.local(r["callback_at"]),
    "callback_channel": lambda r, c: c.label("callback_channel", r["callback_channel"]),
    "satisfaction": lambda r, c: c.label("callback_satisfaction", r["callback_satisfaction"]),
    "remarks": _remarks,
}


def _co_units(ids: list[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    links = (
        Need.co_units.through.objects.filter(need_id__in=ids)
        .order_by("unit__path")
        .values_list("need_id", "unit__name")
    )
    for need_id, name in links:
        found.setdefault(need_id, []).append(name)
    return found


def _handlers(ids: list[int]) -> dict[int, str]:
    """Who answered for the unit: the last reply's author, else who accepted it."""
    last: dict[int, dict[str, str]] = {}
    events = (
        NeedEvent.objects.filter(
            need_id__in=ids,
            action__in=[states.Action.ACCEPT, states.Action.REPLY],
            actor__isnull=False,
        )
        .order_by("need_id", "seq")
        .values_list("need_id", "action", "actor__display_name", "actor__username")
    )
    for need_id, action, display_name, username in events:
        last.setdefault(need_id, {})[action] = display_name or username
    return {
        need_id: by.get(states.Action.REPLY) or by.get(states.Action.ACCEPT) or ""
        for need_id, by in last.items()
    }


def _chunks(items: Iterator[Row], size: int) -> Iterator[list[Row]]:
    while chunk := list(islice(items, size)):
        yield chunk


def rows(
    needs: QuerySet[Need],
    columns: Iterable[Column],
    ctx: RowContext,
    *,
    chunk_size: int | None = None,
) -> Iterator[list[Value]]:
    """Each need as its cells, in the columns' order; 序号 counts from 1."""
    keys = [column.key for column in columns]
    size = chunk_size or CHUNK_SIZE
    fields = {"id"} | {name for key in keys for name in READS.get(key, ())}
    if "identity_known" in fields:
        fields.discard("identity_known")
        needs = needs.annotate(
            identity_known=Case(
                When(selectors.requester_known_q(ctx.user), then=V(True)),
                default=V(False),
                output_field=BooleanField(),
            )
        )
        fields.add("identity_known")
    getters = [GETTERS.get(key) for key in keys]
    with_units, with_handlers = "units" in keys, "handler" in keys
    seq = 0
    for chunk in _chunks(needs.values(*sorted(fields)).iterator(chunk_size=size), size):
        ids = [row["id"] for row in chunk]
        co = _co_units(ids) if with_units else {}
        handlers = _handlers(ids) if with_handlers else {}
        for row in chunk:
            seq += 1
            if with_units:
                row["co_units"] = co.get(row["id"])
            if with_handlers:
                row["handler"] = handlers.get(row["id"], "")
            yield [seq if getter is None else getter(row, ctx) for getter in getters]
