"""The monthly report (月报, issue #6 item 5): what the page and the workbook show.

One `Report` per scope and calendar month (local dates, Asia/Shanghai), built in a constant
number of queries: the measures from the daily rollups through the scoped selector (so they
equal `GET /api/v1/stats/rates` for the month's first and last day), the overdue list from the
needs through the needs' own scoped selector, personal data always masked (a report is handed
on; nobody reveals in it).

The unit ranking uses the rule of /stats/ (`ranking.MIN_DUE`, `ranking.THRESHOLD`): units
with fewer deadlines due than the minimum are listed apart, ranked units below the on-time
threshold are flagged.
"""

import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import models
from django.db.models import Q, QuerySet, Sum
from django.db.models.functions import Substr
from django.utils import timezone
from django.utils.translation import gettext as _

from wenxu.accounts.models import User
from wenxu.accounts.selectors import scopes_for_user, user_roles
from wenxu.insight import measures
from wenxu.insight.models import COUNTERS, DailyCount
from wenxu.insight.ranking import (
    MIN_DUE,
    RATE_NAMES,
    SEGMENT,
    THRESHOLD,
    below_threshold,
    counter_label,
    rankable,
)
from wenxu.insight.selectors import StatsFilters, daily_counts_for_user
from wenxu.needs import selectors as need_selectors
from wenxu.needs import states
from wenxu.needs.models import Category, Need
from wenxu.organisations.models import Area, Unit, path_roots

RANK_BY = "ontime_rate"  # the report ranks units by 按期办结率
UNIT_RATES = ("response_rate", "ontime_rate", "resolution_rate", "satisfaction_rate")
# The counts the overview lists under the rates, in this order.
VOLUME_COUNTERS = (
    "registered",
    "on_the_spot",
    "assigned",
    "accepted",
    "replies",
    "overdue",
    "response_overdue",
    "extensions",
    "reopened",
    "callbacks",
    "unreachable",
    "visits",
    "households_reached",
)
OVERDUE_LIMIT = 500  # rows of the overdue list (the longest overdue first); the total is exact
CATEGORY_LIMIT = 10  # categories listed; the rest are summed as 其他
ROLES = frozenset({states.LEADER, states.DISPATCHER, states.HANDLER, "admin"})
EARLIEST_YEAR = 2000

_MONTH = re.compile(r"^\s*(\d{4})-(\d{1,2})\s*$")


class BadMonth(ValueError):
    """The month asked for cannot be reported; `message` says why, in the user's language."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --------------------------------------------------------------------------- the month


@dataclass(frozen=True)
class Month:
    year: int
    month: int

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last_day(self) -> date:
        return self.following.first_day - timedelta(days=1)

    @property
    def start(self) -> datetime:
        """Local midnight of the first day."""
        return _local_midnight(self.first_day)

    @property
    def end(self) -> datetime:
        """Local midnight after the last day (exclusive)."""
        return _local_midnight(self.following.first_day)

    @property
    def previous(self) -> "Month":
        return Month(self.year - 1, 12) if self.month == 1 else Month(self.year, self.month - 1)

    @property
    def following(self) -> "Month":
        return Month(self.year + 1, 1) if self.month == 12 else Month(self.year, self.month + 1)

    @property
    def value(self) -> str:
        """As the month picker and the URL write it: 2026-10."""
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def label(self) -> str:
        return _("%(year)s年%(month)s月") % {"year": self.year, "month": self.month}

    @classmethod
    def of(cls, day: date) -> "Month":
        return cls(day.year, day.month)


def _local_midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_default_timezone())


def default_month(today: date) -> Month:
    """Last month: the report people hand in at the start of a month."""
    return Month.of(today).previous


def parse_month(text: str, *, today: date) -> Month:
    """A month as "YYYY-MM" (what `<input type="month">` sends); BadMonth with the reason."""
    found = _MONTH.match(text)
    if not found:
        raise BadMonth(_("月份格式不正确，请按“年-月”填写，例如 2026-10。"))
    year, month = int(found[1]), int(found[2])
    if not 1 <= month <= 12:
        raise BadMonth(_("月份应在 1 到 12 之间，例如 2026-10。"))
    if year < EARLIEST_YEAR:
        raise BadMonth(_("只能生成 %(year)s 年以后的月报。") % {"year": EARLIEST_YEAR})
    chosen = Month(year, month)
    if chosen.first_day > today:
        raise BadMonth(
            _("%(month)s 还没有开始，请选择本月或以前的月份。") % {"month": chosen.label}
        )
    return chosen


# --------------------------------------------------------------------------- who may read it


def may_read_report(user: User) -> bool:
    return bool(user_roles(user) & ROLES)


def has_scope(user: User) -> bool:
    return any(s.area_path or s.unit_path for s in scopes_for_user(user))


def area_in_scope(user: User, area: Area) -> bool:
    """An area the user may narrow to: inside one of their area scopes; a user scoped by unit
    only may narrow their unit's work to any area."""
    scopes = scopes_for_user(user)
    if any(s.area_path and area.path.startswith(s.area_path) for s in scopes):
        return True
    return not any(s.area_path for s in scopes) and any(s.unit_path for s in scopes)


def unit_in_scope(user: User, unit: Unit) -> bool:
    """A unit the user may narrow to: inside one of their unit scopes; a user with an area scope
    may look at any unit's work in their areas."""
    scopes = scopes_for_user(user)
    if any(s.area_path for s in scopes):
        return True
    return any(s.unit_path and unit.path.startswith(s.unit_path) for s in scopes)


# --------------------------------------------------------------------------- the report


@dataclass(frozen=True)
class RateLine:
    rate: measures.Rate
    previous: measures.Rate

    @property
    def change(self) -> Decimal | None:
        """Percentage points against the previous month (one decimal)."""
        if self.rate.value is None or self.previous.value is None:
            return None
        return ((self.rate.value - self.previous.value) * 100).quantize(
            Decimal("0.1"), ROUND_HALF_UP
        )

    @property
    def change_text(self) -> str:
        change = self.change
        if change is None:
            return "—"
        if change == 0:
            return _("持平")
        return f"{change:+}"


@dataclass(frozen=True)
class CountLine:
    name: str
    label: str
    value: int
    previous: int

    @property
    def change(self) -> int:
        return self.value - self.previous


@dataclass(frozen=True)
class UnitLine:
    name: str
    totals: dict[str, int]
    rates: dict[str, measures.Rate]
    rank: int | None = None

    @property
    def assigned(self) -> int:
        return self.totals["assigned"]

    @property
    def due(self) -> int:
        return self.rates["ontime_rate"].denominator

    @property
    def overdue(self) -> int:
        return self.totals["overdue"]

    @property
    def flagged(self) -> bool:
        return self.rank is not None and below_threshold(self.rates)

    def cells(self) -> list[measures.Rate]:
        return [self.rates[name] for name in UNIT_RATES]


@dataclass(frozen=True)
class OverdueLine:
    number: str
    title: str
    area: str
    unit: str
    category: str
    requester: str  # masked
    phone: str  # masked
    resolve_due: datetime  # local
    replied_at: datetime | None  # local; None: still without a reply at the end of the month
    days: int  # whole days late, a part day counting as one

    @property
    def situation(self) -> str:
        return _("本月逾期答复") if self.replied_at is not None else _("月末超期未答复")


@dataclass(frozen=True)
class ShareLine:
    name: str
    count: int
    total: int  # what the share is of
    share: Decimal | None  # 0…1, four decimals; None without a total

    @property
    def percent(self) -> str:
        return _percent(self.share)


@dataclass(frozen=True)
class TopicLine:
    """One 专题 in the month: where it stands and what it reached this month."""

    pk: int
    title: str
    status: str
    owner: str
    needs: int
    measures_done: int
    measures_total: int
    progress: int
    milestones: list[str]  # completed within the month


@dataclass
class Report:
    month: Month
    scope: str  # 青山县 / 县住建局 / 东河镇 · 县住建局
    area: Area | None
    unit: Unit | None
    generated_at: datetime  # local
    totals: dict[str, int]
    previous_totals: dict[str, int]
    rates: list[RateLine]
    counts: list[CountLine]
    units: list[UnitLine]
    units_small: list[UnitLine]
    overdue: list[OverdueLine]
    overdue_total: int
    categories: list[ShareLine]
    registered: int
    spot: list[ShareLine]
    spot_total: ShareLine
    min_due: int = MIN_DUE
    threshold: Decimal = THRESHOLD
    overdue_limit: int = OVERDUE_LIMIT
    topics: list[TopicLine] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        return _("%(month)s问需工作月报") % {"month": self.month.label}

    @property
    def threshold_percent(self) -> str:
        return f"{int(self.threshold * 100)}%"

    @property
    def period_text(self) -> str:
        return _("%(first)s 至 %(last)s") % {
            "first": self.month.first_day.isoformat(),
            "last": self.month.last_day.isoformat(),
        }


def _percent(value: Decimal | None) -> str:
    if value is None:
        return "—"
    return f"{(value * 100).quantize(Decimal('0.1'), ROUND_HALF_UP)}%"


def _share(count: int, total: int) -> Decimal | None:
    if total <= 0:
        return None
    return (Decimal(count) / Decimal(total)).quantize(Decimal("0.0001"), ROUND_HALF_UP)


def _ints(row: dict[str, Any]) -> dict[str, int]:
    return {name: int(row.get(name) or 0) for name in COUNTERS}


def report_for_user(
    *, user: User, month: Month, area: Area | None, unit: Unit | None, now: datetime
) -> Report:
    """The month's report over the user's scope narrowed to `area` and `unit` (both subtrees).

    Queries: the scopes (cached per user), the scope's names, the month's and the previous
    month's totals, the units, the categories (and their names), the on-the-spot areas (and
    their names), and the overdue list (and its count when it is longer than the list).
    """
    filters = StatsFilters(start=month.first_day, end=month.last_day, area=area, unit=unit)
    rows = daily_counts_for_user(user=user, filters=filters)
    before = daily_counts_for_user(
        user=user,
        filters=StatsFilters(
            start=month.previous.first_day, end=month.previous.last_day, area=area, unit=unit
        ),
    )
    totals = measures.totals(rows)
    previous_totals = measures.totals(before)
    current, past = measures.rates(totals), measures.rates(previous_totals)
    units, units_small = _units(rows)
    categories, registered = _categories(rows)
    spot, spot_total = _spot(user, rows, area)
    overdue, overdue_total = _overdue(user, month, area, unit)
    topics = _topics(user, month, area, unit)
    notes: list[str] = []
    if month.end > now:
        notes.append(_("本月尚未结束，数字截至生成时间。"))
    return Report(
        month=month,
        scope=_scope_text(user, area, unit),
        area=area,
        unit=unit,
        generated_at=timezone.localtime(now),
        totals=totals,
        previous_totals=previous_totals,
        rates=[RateLine(current[name], past[name]) for name in RATE_NAMES],
        counts=[
            CountLine(name, counter_label(name), totals[name], previous_totals[name])
            for name in VOLUME_COUNTERS
        ],
        units=units,
        units_small=units_small,
        overdue=overdue,
        overdue_total=overdue_total,
        topics=topics,
        categories=categories,
        registered=registered,
        spot=spot,
        spot_total=spot_total,
        notes=notes,
    )


def _scope_text(user: User, area: Area | None, unit: Unit | None) -> str:
    parts: list[str] = []
    if area is not None:
        parts.append(area.name)
    if unit is not None:
        parts.append(str(unit))
    if parts:
        return " · ".join(parts)
    scopes = scopes_for_user(user)
    area_roots = path_roots(s.area_path for s in scopes if s.area_path)
    unit_roots = path_roots(s.unit_path for s in scopes if s.unit_path)
    names = [a.name for a in Area.objects.filter(path__in=area_roots).order_by("path")]
    names += [str(u) for u in Unit.objects.filter(path__in=unit_roots).order_by("path")]
    return "、".join(names)


def _units(rows: "QuerySet[DailyCount]") -> tuple[list[UnitLine], list[UnitLine]]:
    lines = [
        UnitLine(
            row["unit__short_name"] or row["unit__name"],
            _ints(row),
            measures.rates(_ints(row)),
        )
        for row in rows.filter(unit__isnull=False)
        .values("unit_id", "unit__name", "unit__short_name")
        .annotate(**{name: Sum(name) for name in COUNTERS})
        .order_by()
    ]

    def key(u: UnitLine) -> tuple[int, Decimal, int, str]:
        value = u.rates[RANK_BY].value
        return (1 if value is None else 0, -(value or Decimal(0)), -u.assigned, u.name)

    ranked = sorted((u for u in lines if rankable(u.rates, RANK_BY)), key=key)
    small = sorted(
        (u for u in lines if not rankable(u.rates, RANK_BY)), key=lambda u: (-u.assigned, u.name)
    )
    return (
        [UnitLine(u.name, u.totals, u.rates, rank=i) for i, u in enumerate(ranked, start=1)],
        small,
    )


def _categories(rows: "QuerySet[DailyCount]") -> tuple[list[ShareLine], int]:
    """Registered needs per category, the most first; past CATEGORY_LIMIT summed as 其他."""
    counts = {
        row["category_id"]: int(row["registered"] or 0)
        for row in rows.values("category_id").annotate(registered=Sum("registered")).order_by()
        if row["registered"]
    }
    names = {
        c.pk: f"{c.parent} · {c.name}" if c.parent else c.name
        for c in Category.objects.filter(
            pk__in=[k for k in counts if k is not None]
        ).select_related("parent")
    }
    total = sum(counts.values())
    by_name: dict[str, int] = defaultdict(int)
    for category_id, n in counts.items():
        by_name[names.get(category_id, _("未分类")) if category_id else _("未分类")] += n
    ordered = sorted(by_name.items(), key=lambda item: (-item[1], item[0]))
    shown, rest = ordered[:CATEGORY_LIMIT], ordered[CATEGORY_LIMIT:]
    if rest:
        shown.append((_("其他 %(n)s 类") % {"n": len(rest)}, sum(n for _name, n in rest)))
    return [ShareLine(name, n, total, _share(n, total)) for name, n in shown], total


def _focus(user: User, chosen: Area | None) -> Area | None:
    """The area whose children the on-the-spot table compares: the chosen one, else the
    user's one area scope, else the one top-level area."""
    if chosen is not None:
        return chosen
    roots = path_roots(s.area_path for s in scopes_for_user(user) if s.area_path)
    if len(roots) == 1:
        return Area.objects.filter(path=roots[0]).first()
    tops = list(Area.objects.filter(depth=0)[:2])
    return tops[0] if len(tops) == 1 else None


def _spot(
    user: User, rows: "QuerySet[DailyCount]", chosen: Area | None
) -> tuple[list[ShareLine], ShareLine]:
    """马上就办 share (on the spot ÷ registered) per child area of the focus area."""
    focus = _focus(user, chosen)
    prefix = focus.path if focus is not None else "/"
    grouped = list(
        rows.annotate(segment=Substr("area_path", 1, len(prefix) + SEGMENT))
        .values("segment")
        .annotate(registered=Sum("registered"), spot=Sum("on_the_spot"))
        .filter(Q(registered__gt=0) | Q(spot__gt=0))
        .order_by()
    )
    segments = [row["segment"] for row in grouped]
    names = {a.path: a.name for a in Area.objects.filter(path__in=segments).only("name", "path")}

    def name(segment: str) -> str:
        if focus is not None and segment == focus.path:
            return _("%(name)s（本级）") % {"name": focus.name}
        return names.get(segment, segment)

    lines = [
        ShareLine(
            name(row["segment"]),
            int(row["spot"] or 0),
            int(row["registered"] or 0),
            _share(int(row["spot"] or 0), int(row["registered"] or 0)),
        )
        for row in grouped
    ]
    lines.sort(key=lambda s: (-(s.share or Decimal(-1)), -s.total, s.name))
    spot = sum(s.count for s in lines)
    registered = sum(s.total for s in lines)
    return lines, ShareLine(_("合计"), spot, registered, _share(spot, registered))


def _overdue(
    user: User, month: Month, area: Area | None, unit: Unit | None
) -> tuple[list[OverdueLine], int]:
    """Needs overdue at the end of the month (resolution deadline passed, no reply by then) or
    replied late during the month, in scope; the longest overdue first.

    Judged by the needs' current deadlines (an extension approved later moves a need out) and
    current state (a need since withdrawn or merged has left the ledger).
    """
    needs = need_selectors.apply_filters(
        need_selectors.need_queryset_for_user(user=user),
        need_selectors.NeedFilters(area=area.pk if area is not None else None),
    )
    if unit is not None:  # the needs the unit leads, as the ranking counts them
        needs = needs.filter(lead_unit__path__startswith=unit.path)
    open_at_end = (
        Q(resolve_due__lt=month.end)
        & (Q(replied_at__isnull=True) | Q(replied_at__gte=month.end))
        & ~Q(status__in=[states.Status.WITHDRAWN, states.Status.MERGED])
    )
    late_in_month = Q(
        replied_at__gte=month.start,
        replied_at__lt=month.end,
        replied_at__gt=models.F("resolve_due"),
    )
    needs = needs.filter(open_at_end | late_in_month)
    found = list(
        needs.select_related(
            "area", "area__parent", "lead_unit", "category", "requester", "about_unit"
        ).order_by("resolve_due", "id")[:OVERDUE_LIMIT]
    )
    total = len(found) if len(found) < OVERDUE_LIMIT else needs.count()
    return [_overdue_line(need, month, viewer=user) for need in found], total


def _overdue_line(need: Need, month: Month, *, viewer: User) -> OverdueLine:
    assert need.resolve_due is not None
    replied = (
        need.replied_at if need.replied_at is not None and need.replied_at < month.end else None
    )
    until = replied if replied is not None else month.end
    days = max(1, math.ceil((until - need.resolve_due).total_seconds() / 86400))
    # Masked, and （保密） to staff of a unit the need criticises (issue #9).
    requester = need_selectors.requester_for_viewer(viewer, need) or {}
    name = str(requester.get("name") or "")
    phone = str(requester.get("phone") or "")
    area = need.area
    return OverdueLine(
        number=need.number,
        title=need.title,
        area=f"{area.parent} · {area.name}" if area.parent else area.name,
        unit=str(need.lead_unit) if need.lead_unit else "",
        category=need.category.name if need.category else "",
        requester=name,
        phone=phone,
        resolve_due=timezone.localtime(need.resolve_due),
        replied_at=timezone.localtime(replied) if replied is not None else None,
        days=days,
    )


TOPIC_LIMIT = 50  # topics listed in a report


def _topics(user: User, month: Month, area: Area | None, unit: Unit | None) -> list[TopicLine]:
    """The 专题 the user sees that were open at some time in the month (created before its end,
    not closed before its start), narrowed to `area` (topics in or above it) and `unit` (topics
    it leads or holds a measure of). Three or four queries: the topics with their counts, the
    completed milestones (twice: progress and this month's), and the measures for a unit."""
    from wenxu.topics import selectors as topic_selectors
    from wenxu.topics.models import Measure, Milestone

    topics = [
        t
        for t in topic_selectors.topic_list_for_user(
            user=user, filters=topic_selectors.TopicFilters(area=area)
        )
        if t.created_at < month.end and (t.closed_at is None or t.closed_at >= month.start)
    ]
    if unit is not None:
        ids = [t.pk for t in topics]
        mine = {
            t.pk
            for t in topics
            if t.owner_unit is not None and t.owner_unit.path.startswith(unit.path)
        }
        mine.update(
            Measure.objects.filter(
                topic_id__in=ids, owner_unit__path__startswith=unit.path
            ).values_list("topic_id", flat=True)
        )
        topics = [t for t in topics if t.pk in mine]
    topics = topics[:TOPIC_LIMIT]
    reached: dict[int, list[str]] = {}
    for topic_id, title, progress in (
        Milestone.objects.filter(
            topic_id__in=[t.pk for t in topics],
            completed_at__gte=month.start,
            completed_at__lt=month.end,
        )
        .order_by("topic_id", "progress", "id")
        .values_list("topic_id", "title", "progress")
    ):
        reached.setdefault(topic_id, []).append(f"{title}（{progress}%）")
    return [
        TopicLine(
            pk=t.pk,
            title=t.title,
            status=t.get_status_display(),
            owner=str(t.owner_unit) if t.owner_unit else "—",
            needs=getattr(t, "need_count", 0),
            measures_done=getattr(t, "measures_done", 0),
            measures_total=getattr(t, "measures_total", 0),
            progress=getattr(t, "progress", 0),
            milestones=reached.get(t.pk, []),
        )
        for t in topics
    ]
