"""Reading the rollups in the caller's scope (DESIGN §2): area scopes by the need's area, unit
scopes by the lead unit, like the ledger.

`counts_for_user` is what the statistics read (/stats/, the API's rates). For a viewer whose
scopes are areas at depth ≤ SCOPE_DEPTH (leaders and dispatchers of the city, a district, a
street) and no unit or category filter, it reads the scope rollups (`ScopeCount`, ADR 0023): a
few rows per scope and period whatever the size of the ledger. Anyone else (handlers, whose
scope is a unit; grid and community staff; a unit or category filter) reads the daily rows of
their scope, which are few for them, or which the filter narrows. Both give the same numbers.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db import connection
from django.db.models import Case, F, IntegerField, Q, QuerySet, Sum, Value, When
from django.db.models.functions import Substr

from wenxu.accounts.models import User
from wenxu.accounts.selectors import scopes_for_user
from wenxu.insight.models import COUNTERS, SCOPE_DEPTH, DailyCount, ScopeCount
from wenxu.insight.periods import Span, cover
from wenxu.insight.ranking import SEGMENT
from wenxu.lib import clock
from wenxu.needs.models import Category
from wenxu.organisations.models import Area, Unit, path_roots

# The rows one block of each grain reads, roughly, for the kinds kept in months and years:
# a day at the edge of a period comes from the daily rows (every area, unit and category of
# the scope that day), a month or a year from the scope rollups (one row per unit …).
EDGE_COSTS = {"y": 1.0, "m": 1.0, "d": 20.0}
# The totals are kept in days too: every block is one row.
TOTAL_COSTS = {"y": 1.0, "m": 1.0, "d": 1.0}


@dataclass(frozen=True)
class StatsFilters:
    start: date
    end: date  # inclusive
    area: Area | None = None
    unit: Unit | None = None
    category: Category | None = None


def scope_q(user: User) -> Q | None:
    """Rows the user may count, or None when they may count nothing."""
    if not user.is_active:
        return None
    q = Q()
    found = False
    for scope in scopes_for_user(user):
        if scope.area_path:
            q |= Q(area_path__startswith=scope.area_path)
            found = True
        elif scope.unit_path:
            q |= Q(unit_path__startswith=scope.unit_path)
            found = True
    return q if found else None


def daily_counts_for_user(*, user: User, filters: StatsFilters) -> "QuerySet[DailyCount]":
    scope = scope_q(user)
    if scope is None:
        return DailyCount.objects.none()
    rows = DailyCount.objects.filter(scope, day__gte=filters.start, day__lte=filters.end)
    if filters.area is not None:
        rows = rows.filter(area_path__startswith=filters.area.path)
    if filters.unit is not None:
        rows = rows.filter(unit_path__startswith=filters.unit.path)
    if filters.category is not None:
        rows = rows.filter(
            category__in=Category.objects.filter(path__startswith=filters.category.path)
        )
    return rows


def scope_roots(user: User, filters: StatsFilters) -> list[str] | None:
    """The area subtrees (paths) the user's statistics over `filters` add up, when the scope
    rollups hold them: area scopes only, no unit or category filter, every subtree at depth
    ≤ SCOPE_DEPTH. None when the daily rows must be read instead."""
    if not user.is_active or filters.unit is not None or filters.category is not None:
        return None
    scopes = scopes_for_user(user)
    if not scopes or any(not s.area_path and s.unit_path for s in scopes):
        return None
    roots = path_roots(s.area_path for s in scopes if s.area_path)
    if not roots:
        return None
    if filters.area is not None:
        chosen = filters.area.path
        if any(chosen.startswith(root) for root in roots):
            roots = [chosen]
        else:
            roots = [root for root in roots if root.startswith(chosen)]
    if any(root.count("/") - 2 > SCOPE_DEPTH for root in roots):
        return None
    return roots


def _ints(row: dict[str, Any], names: Iterable[str] = COUNTERS) -> dict[str, int]:
    return {name: int(row.get(name) or 0) for name in names}


def _sums(names: Iterable[str], negative: Q | None = None) -> dict[str, Any]:
    """Sum(name) for each counter, taking away the rows `negative` matches."""
    if negative is None:
        return {name: Sum(name) for name in names}
    sign = Case(When(negative, then=Value(-1)), default=Value(1), output_field=IntegerField())
    return {name: Sum(F(name) * sign) for name in names}


def _span_q(spans: Iterable[Span], *, day_field: str | None = None) -> tuple[Q, Q | None]:
    """(all the spans' rows, the rows to take away or None): ScopeCount blocks, or days of the
    daily rows when `day_field` is given."""
    every, negative = Q(pk__in=[]), None
    for span in spans:
        if day_field is not None:
            q = Q(**{f"{day_field}__gte": span.first, f"{day_field}__lte": span.last})
        else:
            q = Q(grain=span.grain, period__gte=span.first, period__lte=span.last)
        every |= q
        if span.sign < 0:
            negative = q if negative is None else negative | q
    return every, negative


class StatsCounts:
    """What the statistics read over the days start…end (inclusive), in the viewer's scope and
    the filters' area, unit and category: from the daily rows. `ScopeCounts` reads the same
    numbers from the scope rollups."""

    def __init__(self, *, user: User, filters: StatsFilters) -> None:
        self.user = user
        self.filters = filters

    def rows(self, start: date, end: date) -> "QuerySet[DailyCount]":
        f = self.filters
        return daily_counts_for_user(
            user=self.user,
            filters=StatsFilters(start, end, area=f.area, unit=f.unit, category=f.category),
        )

    def by_day(self, start: date, end: date) -> dict[date, dict[str, int]]:
        """Every counter per day (one query)."""
        grouped = self.rows(start, end).values("day").annotate(**_sums(COUNTERS)).order_by("day")
        return {row["day"]: _ints(row) for row in grouped}

    def totals(self, start: date, end: date) -> dict[str, int]:
        """Every counter summed (one query)."""
        return _ints(self.rows(start, end).aggregate(**_sums(COUNTERS)))

    def by_unit(self, start: date, end: date) -> list[dict[str, Any]]:
        """Every counter per lead unit, with the unit's names (one query)."""
        return list(
            self.rows(start, end)
            .filter(unit__isnull=False)
            .values("unit_id", "unit__name", "unit__short_name")
            .annotate(**_sums(COUNTERS))
            .order_by()
        )

    def by_category(self, start: date, end: date) -> dict[int | None, int]:
        """Needs registered per category (one query)."""
        grouped = self.rows(start, end).values("category_id").annotate(**_sums(["registered"]))
        return {row["category_id"]: int(row["registered"] or 0) for row in grouped.order_by()}

    def by_area(
        self, start: date, end: date, *, top: int | None = None
    ) -> list[tuple[int, str, str | None, int, int]]:
        """(area, its name, its parent's name, registered, overdue) per area (one query); all
        of them here, whatever `top` (the panels choose)."""
        grouped = (
            self.rows(start, end)
            .values("area_id", "area__name", "area__parent__name")
            .annotate(**_sums(["registered", "overdue"]))
            .order_by()
        )
        return [
            (
                row["area_id"],
                row["area__name"],
                row["area__parent__name"],
                int(row["registered"] or 0),
                int(row["overdue"] or 0),
            )
            for row in grouped
        ]

    def visits(
        self, start: date, end: date, focus: Area | None
    ) -> tuple[list[dict[str, Any]], dict[str, str]]:
        """Visits, households reached and the moods' sum per day and child of `focus` (the
        whole tree's top areas without one; the focus itself when counted there), and the
        children's names by path (two queries)."""
        prefix = focus.path if focus is not None else "/"
        grouped = list(
            self.rows(start, end)
            .filter(area_path__startswith=prefix)
            .annotate(segment=Substr("area_path", 1, len(prefix) + SEGMENT))
            .values("segment", "day")
            .annotate(
                visits=Sum("visits"),
                households=Sum("households_reached"),
                mood=Sum("mood_total"),
            )
            .filter(visits__gt=0)
            .order_by()
        )
        segments = {row["segment"] for row in grouped}
        names = {
            a.path: a.name for a in Area.objects.filter(path__in=segments).only("name", "path")
        }
        return grouped, names


class ScopeCounts(StatsCounts):
    """The same numbers from the scope rollups of `roots` (scope_roots): blocks of days,
    months and years added or taken away (periods.cover); the odd days at a period's edges,
    for the kinds kept in months, from the daily rows, in the same query.

    Plain SQL (portable: IN lists, CASE, UNION ALL, RANK() OVER), one statement per panel:
    these are the reads a city's leaders make all day, and building them through the ORM cost
    several times the few hundred rows they read (ADR 0023)."""

    def __init__(self, *, user: User, filters: StatsFilters, roots: list[str]) -> None:
        super().__init__(user=user, filters=filters)
        self.roots = roots
        self.root_ids = [int(path.rstrip("/").rsplit("/", 1)[1]) for path in roots]

    def _cover(self, start: date, end: date, costs: dict[str, float]) -> list[Span]:
        return cover(start, end, today=clock.today(), costs=costs)

    def _where(self, kind: str, spans: list[Span], params: list[Any]) -> str:
        """The scope rollups of `kind` in the roots and the spans' blocks."""
        if not self.root_ids or not spans:
            return "1 = 0"
        blocks = " OR ".join("(s.grain = %s AND s.period BETWEEN %s AND %s)" for _ in spans)
        for span in spans:
            params += [span.grain, span.first.isoformat(), span.last.isoformat()]
        params += [kind, *self.root_ids]
        roots = ", ".join(["%s"] * len(self.root_ids))
        return f"({blocks}) AND s.kind = %s AND s.area_id IN ({roots})"

    @staticmethod
    def _signed(names: Iterable[str], column: str, spans: list[Span], params: list[Any]) -> str:
        """SUM(name) AS name for each counter, the rows of negative spans taken away (the
        block's first day in `column`)."""
        negative = [s for s in spans if s.sign < 0]
        if not negative:
            return ", ".join(f"SUM({name}) AS {name}" for name in names)
        taken = " OR ".join(f"({column} BETWEEN %s AND %s)" for _ in negative)
        if column == "s.period":
            taken = " OR ".join(f"(s.grain = %s AND {column} BETWEEN %s AND %s)" for _ in negative)
        out = []
        for name in names:
            out.append(f"SUM(CASE WHEN {taken} THEN -{name} ELSE {name} END) AS {name}")
            for span in negative:
                if column == "s.period":
                    params.append(span.grain)
                params += [span.first.isoformat(), span.last.isoformat()]
        return ", ".join(out)

    def _parts(
        self,
        start: date,
        end: date,
        kind: str,
        *,
        column: str,
        daily_column: str,
        names: tuple[str, ...],
        daily_only: Q | None = None,
    ) -> tuple[str, list[Any], bool]:
        """SQL of (k, counters…) groups over start…end: the months and years from the scope
        rollups of `kind` grouped by `column`, UNION ALL the days at the edges from the daily
        rows grouped by `daily_column`; and whether there are both, so that a k may come twice
        (once from each) and the caller must sum again."""
        spans = self._cover(start, end, EDGE_COSTS)
        blocks = [s for s in spans if s.grain != "d"]
        days = [s for s in spans if s.grain == "d"]
        params: list[Any] = []
        single = len(blocks) == 1 and blocks[0].first == blocks[0].last and blocks[0].sign > 0
        if single and len(self.root_ids) == 1:
            # one scope, one block: a row per key already
            where = self._where(kind, blocks, params)
            sql = (
                f"SELECT s.{column} AS k, {', '.join(f's.{n} AS {n}' for n in names)} "  # noqa: S608
                f"FROM {ScopeCount._meta.db_table} s WHERE {where}"
            )
        else:
            sums = self._signed(names, "s.period", blocks, params)
            where = self._where(kind, blocks, params)
            sql = (
                f"SELECT s.{column} AS k, {sums} FROM {ScopeCount._meta.db_table} s "  # noqa: S608
                f"WHERE {where} GROUP BY s.{column}"
            )
        if days:
            rows = self.rows(min(s.first for s in days), max(s.last for s in days))
            every, _negative = _span_q(days, day_field="day")
            rows = rows.filter(every)
            if daily_only is not None:
                rows = rows.filter(daily_only)
            daily, daily_params = rows.values_list(
                daily_column, "day", *names
            ).query.sql_with_params()
            day_params: list[Any] = []
            day_sums = self._signed(names, "d.day", days, day_params)
            sql += (
                f" UNION ALL SELECT d.{daily_column} AS k, {day_sums} "  # noqa: S608
                f"FROM ({daily}) d GROUP BY d.{daily_column}"
            )
            params += day_params + list(daily_params)
        return sql, params, bool(days)

    @staticmethod
    def _fetch(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return list(cursor.fetchall())

    def by_day(self, start: date, end: date) -> dict[date, dict[str, int]]:
        params: list[Any] = []
        where = self._where(ScopeCount.Kind.TOTAL, [Span("d", start, end, 1)], params)
        sums = ", ".join(f"SUM({name})" for name in COUNTERS)
        found = self._fetch(
            f"SELECT s.period, {sums} FROM {ScopeCount._meta.db_table} s "  # noqa: S608
            f"WHERE {where} GROUP BY s.period ORDER BY s.period",
            params,
        )
        return {_day(row[0]): dict(zip(COUNTERS, map(int, row[1:]), strict=True)) for row in found}

    def totals(self, start: date, end: date) -> dict[str, int]:
        spans = self._cover(start, end, TOTAL_COSTS)
        params: list[Any] = []
        sums = self._signed(COUNTERS, "s.period", spans, params)
        where = self._where(ScopeCount.Kind.TOTAL, spans, params)
        found = self._fetch(
            f"SELECT {sums} FROM {ScopeCount._meta.db_table} s WHERE {where}",  # noqa: S608
            params,
        )
        return dict(zip(COUNTERS, (int(v or 0) for v in found[0]), strict=True))

    def by_unit(self, start: date, end: date) -> list[dict[str, Any]]:
        parts, params, _twice = self._parts(
            start,
            end,
            ScopeCount.Kind.UNIT,
            column="unit_id",
            daily_column="unit_id",
            names=COUNTERS,
            daily_only=Q(unit__isnull=False),
        )
        sums = ", ".join(f"SUM(g.{name})" for name in COUNTERS)
        found = self._fetch(
            f"SELECT u.id, u.name, u.short_name, {sums} FROM ({parts}) g "  # noqa: S608
            f"JOIN {Unit._meta.db_table} u ON u.id = g.k GROUP BY u.id, u.name, u.short_name",
            params,
        )
        head = ("unit_id", "unit__name", "unit__short_name")
        return [
            {
                **dict(zip(head, row[:3], strict=True)),
                **dict(zip(COUNTERS, map(int, row[3:]), strict=True)),
            }
            for row in found
        ]

    def by_category(self, start: date, end: date) -> dict[int | None, int]:
        parts, params, _twice = self._parts(
            start,
            end,
            ScopeCount.Kind.CATEGORY,
            column="category_id",
            daily_column="category_id",
            names=("registered",),
        )
        found = self._fetch(
            f"SELECT g.k, SUM(g.registered) FROM ({parts}) g GROUP BY g.k",  # noqa: S608
            params,
        )
        return {row[0]: int(row[1]) for row in found}

    def by_area(
        self, start: date, end: date, *, top: int | None = None
    ) -> list[tuple[int, str, str | None, int, int]]:
        """With `top`, only the areas that may be among the `top` by volume or by overdue
        needs: the first 4 × `top` by each (a top-N sort, not a sort of every area), or every
        area when ties at the `top`-th reach past them."""
        parts, params, twice = self._parts(
            start,
            end,
            ScopeCount.Kind.AREA,
            column="place_id",
            daily_column="area_id",
            names=("registered", "overdue"),
        )
        if twice:
            parts = (
                "SELECT g.k, SUM(g.registered) AS registered, SUM(g.overdue) AS overdue "  # noqa: S608
                f"FROM ({parts}) g GROUP BY g.k"
            )
        if top is None:
            chosen = f"SELECT r.*, 'all' AS list FROM ({parts}) r"  # noqa: S608
        else:
            reach = 4 * top
            chosen = (
                f"WITH r AS ({parts}) "  # noqa: S608
                "SELECT * FROM (SELECT r.*, 'volume' AS list FROM r WHERE r.registered > 0 "
                f"ORDER BY r.registered DESC, r.overdue DESC LIMIT {reach}) v UNION ALL "
                "SELECT * FROM (SELECT r.*, 'overdue' AS list FROM r WHERE r.overdue > 0 "
                f"ORDER BY r.overdue DESC, r.registered DESC LIMIT {reach}) o"
            )
        area = Area._meta.db_table
        # the names by key, row by row: a join would read every area of a city
        found = self._fetch(
            f"SELECT c.k, (SELECT a.name FROM {area} a WHERE a.id = c.k), "  # noqa: S608
            f"(SELECT p.name FROM {area} a JOIN {area} p ON p.id = a.parent_id WHERE a.id = c.k), "
            f"c.registered, c.overdue, c.list FROM ({chosen}) c",
            params,
        )
        if top is not None:
            for name, key in (("volume", (3, 4)), ("overdue", (4, 3))):
                keys = sorted(
                    ((int(row[key[0]]), int(row[key[1]])) for row in found if row[5] == name),
                    reverse=True,
                )
                if len(keys) == 4 * top and keys[-1] == keys[top - 1]:
                    return self.by_area(start, end)  # ties reach past: every area
        rows = {row[0]: (row[0], row[1], row[2], int(row[3]), int(row[4])) for row in found}
        return list(rows.values())

    def visits(
        self, start: date, end: date, focus: Area | None
    ) -> tuple[list[dict[str, Any]], dict[str, str]]:
        if focus is None or self.root_ids != [focus.pk]:
            return super().visits(start, end, focus)
        params: list[Any] = []
        where = self._where(ScopeCount.Kind.CHILD, [Span("d", start, end, 1)], params)
        area = Area._meta.db_table
        found = self._fetch(
            f"SELECT a.path, a.name, g.period, g.visits, g.households, g.mood "  # noqa: S608
            f"FROM (SELECT s.place_id, s.period, SUM(s.visits) AS visits, "
            f"SUM(s.households_reached) AS households, SUM(s.mood_total) AS mood "
            f"FROM {ScopeCount._meta.db_table} s WHERE {where} GROUP BY s.place_id, s.period "
            f"HAVING SUM(s.visits) > 0) g JOIN {area} a ON a.id = g.place_id "
            # the focus and its children only: not every area of the city
            f"AND (a.parent_id = %s OR a.id = %s)",
            [*params, focus.pk, focus.pk],
        )
        rows = [
            {
                "segment": path,
                "day": _day(day),
                "visits": int(visits),
                "households": int(households),
                "mood": int(mood),
            }
            for path, _name, day, visits, households, mood in found
        ]
        return rows, {row[0]: row[1] for row in found}


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def counts_for_user(*, user: User, filters: StatsFilters) -> StatsCounts:
    """What the statistics read for `user` over `filters`' area, unit and category (any days):
    the scope rollups when they hold it, else the daily rows."""
    roots = scope_roots(user, filters)
    if roots is None:
        return StatsCounts(user=user, filters=filters)
    return ScopeCounts(user=user, filters=filters, roots=roots)
