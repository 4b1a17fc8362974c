"""Coverage (走访覆盖): how far visit plans got in a period, per grid and per officer.

Pure computation over the ORM; the caller decides the scope (a list of area paths the viewer may
read) and the period. Every figure is aggregated in the database with a fixed number of queries,
whatever the number of grids, officers or plans, then rolled up in Python by area path. Windows
and plan periods live in `wenxu.visits.periods`.

Definitions (also shown as the coverage page's 统计口径):

- **Window**: a month, quarter or year in Asia/Shanghai local time, from local midnight of its
  first day (inclusive) to local midnight after its last day (exclusive); or custom dates.
- **Where a visit happened**: its place's area when it has a place, else its own area
  (`Coalesce(place area, area)`). Scope, grids and plan areas all test that one area ("a visit
  belongs to the household's grid"), so each visit counts in exactly one place of the tree.
  `visit_queryset_for_user` lets a viewer see a visit when its area *or* its place's area is in
  their scope; the area coverage tests is one of those two, so every visit coverage counts is
  one the viewer can open. The converse does not hold: a visit recorded under the viewer's area
  at a place outside it is in their visit list but counts in the place's grid, not theirs.
- **Reached**: a place is reached in a window when it has at least one visit (`Visit.place`)
  started in the window. Grid rows and totals use the whole window, whatever the plans.
- **A plan's part of the window**: the window cut to the plan's starts_on / ends_on; a plan
  counts only when it is active and that part has at least one day. Its **periods** are its
  months, quarters or years that the part touches on at least one day; each counts whole in the
  planned figure (a monthly plan starting 15 March counts March), and only visits started in the
  part count as done.
- **Coverage plan** (全覆盖走访, "every place once per period"): planned = active places of the
  plan's place kind (blank = all kinds) in the plan's area subtree × its periods; done = the sum
  over its periods of those places reached in that period (a place visited twice in a quarter
  counts once for the quarter; visited in Q1 and in Q2, once in each). With one period this is
  reached ÷ places.
- **Count plan** (走访次数): planned = target × its periods (a monthly target of 2 asks for 6 in a
  quarter); done = visits of the plan's visit kind (blank = any) in the plan's area subtree, and
  by the plan's officer (`Visit.officers`) when set, started in the plan's part of the window.
- **Grid rows**: every area of level grid inside the scope, and every leaf area that holds places
  (an un-gridded village). A row counts active places and visits in its subtree; its last visit
  is the latest ever (not only in the window); its mood is the average 民情温度 in the window.
- **Officer rows**: users who went on visits in the scope (ever), officers named on plans in the
  scope, and users holding the officer role over an area that overlaps the scope. Visits and
  distinct places in the window; planned = the sum of the planned figures of the plans naming
  them; last visit in the scope, any time.
- **Area sentiment** (民情温度, 获得感, 幸福感, 安全感): averages over the visits in the window in
  each area's subtree, blanks ignored, with the number of answers behind each average.
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Count, Exists, F, Max, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from wenxu.accounts.models import Membership, Role, User
from wenxu.organisations.models import Area, path_roots, under_q
from wenxu.visits.models import Place, PlanKind, Visit, VisitPlan
from wenxu.visits.periods import Window, plan_spans

# --------------------------------------------------------------------------- results


@dataclass
class Sentiment:
    """民情温度 and 获得感 / 幸福感 / 安全感 over some visits: sums and answer counts."""

    visits: int = 0
    mood_sum: int = 0
    mood_n: int = 0
    gain_sum: int = 0
    gain_n: int = 0
    happiness_sum: int = 0
    happiness_n: int = 0
    security_sum: int = 0
    security_n: int = 0

    def add(self, other: "Sentiment") -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @staticmethod
    def _avg(total: int, n: int) -> float | None:
        return total / n if n else None

    @property
    def mood(self) -> float | None:
        return self._avg(self.mood_sum, self.mood_n)

    @property
    def gain(self) -> float | None:
        return self._avg(self.gain_sum, self.gain_n)

    @property
    def happiness(self) -> float | None:
        return self._avg(self.happiness_sum, self.happiness_n)

    @property
    def security(self) -> float | None:
        return self._avg(self.security_sum, self.security_n)


@dataclass
class GridRow:
    area: Area
    places: int = 0
    reached: int = 0
    visits: int = 0
    last_visit: datetime | None = None
    sentiment: Sentiment = field(default_factory=Sentiment)

    @property
    def not_reached(self) -> int:
        return self.places - self.reached

    @property
    def coverage(self) -> float | None:
        """Reached ÷ active places, 0–1; None for a grid without places."""
        return self.reached / self.places if self.places else None

    @property
    def coverage_percent(self) -> int | None:
        return None if self.coverage is None else int(self.coverage * 100)

    @property
    def mood(self) -> float | None:
        return self.sentiment.mood


@dataclass
class OfficerRow:
    user: User
    visits: int = 0
    places: int = 0
    planned: int = 0
    last_visit: datetime | None = None


@dataclass
class PlanProgress:
    plan: VisitPlan
    done: int
    planned: int
    part: Window  # the window cut to the plan's dates
    periods: int  # the plan's periods counted in `part`

    @property
    def ratio(self) -> float | None:
        return self.done / self.planned if self.planned else None

    @property
    def percent(self) -> int | None:
        return None if self.ratio is None else int(self.ratio * 100)

    @property
    def bar_percent(self) -> int:
        return min(self.percent or 0, 100)


@dataclass
class Report:
    window: Window
    paths: list[str]
    grids: list[GridRow]
    officers: list[OfficerRow]
    plans: list[PlanProgress]
    total: GridRow  # the whole scope (places in no grid row included)


# --------------------------------------------------------------------------- helpers


def _where_under(paths: Iterable[str]) -> Q:
    """The `where` annotation (a path, see `_where_path`) lies in one of the subtrees `paths`:
    `under_q` for a path that is not an area's own field."""
    q = Q(pk__in=[])
    for path in path_roots(paths):
        q |= Q(where__startswith=path)
    return q


def _where_path(prefix: str = "") -> Coalesce:
    """Where a visit happened: its place's area, else its own area. Always one of the two areas
    `visit_queryset_for_user` tests, so what coverage counts the viewer may open."""
    return Coalesce(f"{prefix}place__area__path", f"{prefix}area__path")


def visits_in_scope(paths: Iterable[str]) -> QuerySet[Any]:
    """Visits that happened under `paths`, annotated with `where` (the path of that area)."""
    return Visit.objects.annotate(where=_where_path()).filter(_where_under(paths))


def _in_window(window: Window, prefix: str = "") -> Q:
    return Q(**{f"{prefix}started_at__gte": window.start, f"{prefix}started_at__lt": window.end})


def ancestor_paths(path: str) -> list[str]:
    parts = [part for part in path.split("/") if part]
    return ["/" + "/".join(parts[: i + 1]) + "/" for i in range(len(parts))]


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


_SENTIMENT_AGGREGATES: dict[str, Any] = {
    "visits": Count("id"),
    "mood_sum": Sum("mood"),
    "mood_n": Count("mood"),
    "gain_sum": Sum("sense_gain"),
    "gain_n": Count("sense_gain"),
    "happiness_sum": Sum("sense_happiness"),
    "happiness_n": Count("sense_happiness"),
    "security_sum": Sum("sense_security"),
    "security_n": Count("sense_security"),
}


def _sentiment(row: dict[str, Any]) -> Sentiment:
    return Sentiment(**{name: row[name] or 0 for name in _SENTIMENT_AGGREGATES})


# --------------------------------------------------------------------------- area sentiment


def area_sentiment(
    *, areas: Iterable[Area], start: datetime, end: datetime
) -> dict[int, Sentiment]:
    """Per area (its whole subtree): 民情温度 and 获得感/幸福感/安全感 of the visits started in
    [start, end). One query, whatever the number of areas.

    Not scoped by user: pass only areas the viewer may read (e.g. from `areas_for_user`).
    """
    chosen = list(areas)
    result = {area.pk: Sentiment() for area in chosen}
    if not chosen:
        return result
    by_path: dict[str, list[int]] = defaultdict(list)
    for area in chosen:
        by_path[area.path].append(area.pk)
    rows = (
        visits_in_scope(by_path)
        .filter(started_at__gte=start, started_at__lt=end)
        .order_by()
        .values("where")
        .annotate(**_SENTIMENT_AGGREGATES)
    )
    for row in rows:
        found = _sentiment(row)
        for ancestor in ancestor_paths(row["where"]):
            for pk in by_path.get(ancestor, ()):
                result[pk].add(found)
    return result


# --------------------------------------------------------------------------- the report


def grid_areas(paths: Sequence[str]) -> QuerySet[Area]:
    """The grid rows of a scope: grids, and leaf areas that hold places."""
    has_places = Exists(Place.objects.filter(area=OuterRef("pk")))
    has_children = Exists(Area.objects.filter(parent=OuterRef("pk")))
    return (
        Area.objects.filter(under_q(paths))
        .filter(Q(level=Area.Level.GRID) | (Q(has_places) & ~Q(has_children)))
        .select_related("parent")
        .order_by("path")
    )


def plans_in_scope(paths: Sequence[str]) -> QuerySet[VisitPlan]:
    """Every plan whose area lies inside the scope (active or not, any dates)."""
    return VisitPlan.objects.filter(under_q(paths, "area")).select_related("area", "officer")


def unreached_places(*, area: Area, window: Window) -> QuerySet[Place]:
    """Active places in the area's subtree without a visit started in the window."""
    visited = Visit.objects.filter(place=OuterRef("pk")).filter(_in_window(window))
    return (
        Place.objects.filter(area__path__startswith=area.path, active=True)
        .filter(~Exists(visited))
        .select_related("area")
        .order_by("area__path", "kind", "name")
    )


def coverage_report(*, paths: Sequence[str], window: Window) -> Report:
    """Everything the coverage page shows for the areas under `paths`, in `window`."""
    paths = path_roots(paths)
    grids = [GridRow(area=area) for area in grid_areas(paths)]
    grid_by_path = {row.area.path: row for row in grids}
    total = GridRow(area=Area(name=_("合计")))

    def rows_for(path: str) -> list[GridRow]:
        return [grid_by_path[p] for p in ancestor_paths(path) if p in grid_by_path]

    # The plans in force on some day of the window, each with its periods there.
    plans: list[tuple[VisitPlan, list[Window]]] = []
    for plan in plans_in_scope(paths).filter(active=True).order_by("area__path", "name"):
        spans = plan_spans(
            period=plan.period, starts_on=plan.starts_on, ends_on=plan.ends_on, window=window
        )
        if spans:
            plans.append((plan, spans))
    # One aggregate column per distinct stretch of days a plan counts over: each period of a
    # coverage plan, the whole part of a count plan. Plans sharing dates share columns.
    reach_spans = _Columns("reach")
    count_spans = _Columns("count")
    for plan, spans in plans:
        if plan.kind == PlanKind.COVERAGE:
            for span in spans:
                reach_spans.add(span)
        else:
            count_spans.add(_part(spans))

    # Active places and how many were reached, per (area, kind).
    visited = Visit.objects.filter(place=OuterRef("pk")).filter(_in_window(window))
    place_groups = list(
        Place.objects.filter(under_q(paths, "area"), active=True)
        .annotate(hit=Exists(visited))
        .order_by()
        .values("area__path", "kind")
        .annotate(total=Count("id"), reached=Count("id", filter=Q(hit=True)))
    )
    for group in place_groups:
        for row in [*rows_for(group["area__path"]), total]:
            row.places += group["total"]
            row.reached += group["reached"]

    # Active places reached in each coverage plan period, per (area, kind).
    reach_groups: list[dict[str, Any]] = []
    if reach_spans:
        reach_groups = list(
            Visit.objects.filter(under_q(paths, "place__area"), place__active=True)
            .filter(_in_window(window))
            .order_by()
            .values("place__area__path", "place__kind")
            .annotate(
                **{
                    name: Count("place_id", distinct=True, filter=_in_window(span))
                    for span, name in reach_spans.items()
                }
            )
        )

    # Visits in the window, per (where, kind): counts, mood and the three senses, and the
    # visits in each count plan's part.
    scoped = visits_in_scope(paths)
    visit_groups = list(
        scoped.filter(_in_window(window))
        .order_by()
        .values("where", "kind")
        .annotate(
            **_SENTIMENT_AGGREGATES,
            **{name: Count("id", filter=_in_window(span)) for span, name in count_spans.items()},
        )
    )
    for group in visit_groups:
        found = _sentiment(group)
        for row in [*rows_for(group["where"]), total]:
            row.visits += found.visits
            row.sentiment.add(found)

    # The latest visit ever, per area.
    for group in scoped.order_by().values("where").annotate(last=Max("started_at")):
        for row in [*rows_for(group["where"]), total]:
            row.last_visit = _later(row.last_visit, group["last"])

    officers, officer_groups = _officer_rows(paths, window, plans, count_spans)
    progress = [
        _plan_progress(
            plan,
            spans,
            places=place_groups,
            reached=reach_groups,
            reach_spans=reach_spans,
            visits=officer_groups if plan.officer_id is not None else visit_groups,
            count_spans=count_spans,
        )
        for plan, spans in plans
    ]
    _add_planned(officers, progress)

    grids.sort(key=lambda r: (r.coverage is None, r.coverage or 0.0, r.area.path))
    officer_rows = sorted(
        officers.values(),
        key=lambda r: (-r.visits, -r.places, r.user.display_name or r.user.username),
    )
    return Report(window, paths, grids, officer_rows, progress, total)


class _Columns(dict[Window, str]):
    """Names for the aggregate columns of distinct stretches of days."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def add(self, span: Window) -> None:
        self.setdefault(span, f"{self.prefix}_{len(self)}")


def _part(spans: list[Window]) -> Window:
    """The stretch of days a plan's periods cover (its part of the window)."""
    return Window(spans[0].first_day, spans[-1].last_day)


def _officer_rows(
    paths: Sequence[str],
    window: Window,
    plans: list[tuple[VisitPlan, list[Window]]],
    count_spans: dict[Window, str],
) -> tuple[dict[int, OfficerRow], list[dict[str, Any]]]:
    """The officer rows, and the window's visits per (officer, where, kind) of the officers
    named on count plans, with the visits in each count plan's part."""
    went: QuerySet[Any] = Visit.officers.through.objects.annotate(
        where=_where_path("visit__")
    ).filter(_where_under(paths))
    stats = {
        row["user_id"]: row
        for row in went.order_by()
        .values("user_id")
        .annotate(
            visits=Count("visit_id", filter=_in_window(window, "visit__"), distinct=True),
            places=Count("visit__place_id", filter=_in_window(window, "visit__"), distinct=True),
            last=Max("visit__started_at"),
        )
    }
    overlap = under_q(paths, "area")
    for path in paths:
        overlap |= Q(area__path__in=ancestor_paths(path))
    members = Membership.objects.filter(overlap, role=Role.OFFICER).values("user_id")
    ids = set(stats) | {plan.officer_id for plan, _spans in plans if plan.officer_id is not None}
    users = User.objects.filter(Q(pk__in=ids) | Q(pk__in=members)).filter(
        Q(is_active=True) | Q(pk__in=ids)
    )
    rows: dict[int, OfficerRow] = {}
    for user in users:
        found = stats.get(user.pk, {})
        rows[user.pk] = OfficerRow(
            user=user,
            visits=found.get("visits", 0),
            places=found.get("places", 0),
            last_visit=found.get("last"),
        )
    named = {
        plan.officer_id
        for plan, _spans in plans
        if plan.officer_id is not None and plan.kind == PlanKind.COUNT
    }
    groups: list[dict[str, Any]] = []
    if named:
        groups = list(
            went.filter(_in_window(window, "visit__"), user_id__in=named)
            .order_by()
            .values("user_id", "where", kind=F("visit__kind"))
            .annotate(
                **{
                    name: Count("visit_id", distinct=True, filter=_in_window(span, "visit__"))
                    for span, name in count_spans.items()
                }
            )
        )
    return rows, groups


def _plan_progress(
    plan: VisitPlan,
    spans: list[Window],
    *,
    places: list[dict[str, Any]],
    reached: list[dict[str, Any]],
    reach_spans: dict[Window, str],
    visits: list[dict[str, Any]],
    count_spans: dict[Window, str],
) -> PlanProgress:
    """One plan's progress from the grouped rows (see the module docstring for the rules)."""
    path = plan.area.path
    part = _part(spans)
    if plan.kind == PlanKind.COVERAGE:

        def fits(area_path: str, kind: str) -> bool:
            return area_path.startswith(path) and (not plan.place_kind or kind == plan.place_kind)

        places_now = sum(g["total"] for g in places if fits(g["area__path"], g["kind"]))
        done = sum(
            g[reach_spans[span]]
            for g in reached
            if fits(g["place__area__path"], g["place__kind"])
            for span in spans
        )
        planned = places_now * len(spans)
    else:
        column = count_spans[part]
        done = sum(
            g[column]
            for g in visits
            if g["where"].startswith(path)
            and (not plan.visit_kind or g["kind"] == plan.visit_kind)
            and (plan.officer_id is None or g["user_id"] == plan.officer_id)
        )
        planned = (plan.target or 0) * len(spans)
    return PlanProgress(plan=plan, done=done, planned=planned, part=part, periods=len(spans))


def _add_planned(officers: dict[int, OfficerRow], progress: list[PlanProgress]) -> None:
    for item in progress:
        officer_id = item.plan.officer_id
        if officer_id is not None and officer_id in officers:
            officers[officer_id].planned += item.planned
