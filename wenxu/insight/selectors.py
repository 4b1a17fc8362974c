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
from datetime import date, timedelta
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
from wenxu.lib.planned import planned_rows
from wenxu.needs.models import Category
from wenxu.organisations.models import Area, Unit, path_roots

# The rows one block of each grain reads, roughly, for the kinds kept in months and years:
# a day at the edge of a period comes from the daily rows (every area, unit and category of
# the scope that day), a month or a year from the scope rollups (one row per unit …).
EDGE_COSTS = {"y": 1.0, "m": 1.0, "d": 20.0}
# The totals are kept in days too: every block is one row.
TOTAL_COSTS = {"y": 1.0, "m": 1.0, "d": 1.0}


def _int(total: str) -> str:
    """SQL of the sum `total` as an integer. PostgreSQL sums integers as bigints and bigints as
    numerics: a sum of sums (the rollups' blocks, then a key's blocks and edge days) would add
    and sort arbitrary-precision numbers, which cost the 12-month area ranking more than
    reading its rows (issue #10, B3). A counter summed over a page's period, for one key or a
    whole scope, is far below 2³¹ (a megacity registers ~21 M needs a year); past it the
    statement fails rather than being wrong."""
    return f"CAST({total} AS INTEGER)"


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

    def by_day(self, start: date, end: date) -> dict[date, tuple[int, ...]]:
        """Every counter per day, in the order of COUNTERS (one query; plain tuples, as a
        year's trend adds up hundreds of days)."""
        grouped = self.rows(start, end).values("day").annotate(**_sums(COUNTERS)).order_by("day")
        return {row["day"]: tuple(_ints(row).values()) for row in grouped}

    def totals(self, start: date, end: date) -> dict[str, int]:
        """Every counter summed (one query)."""
        return _ints(self.rows(start, end).aggregate(**_sums(COUNTERS)))

    def by_day_and_totals(
        self, start: date, end: date, before_start: date, before_end: date, *, weeks: bool = False
    ) -> tuple[dict[date, tuple[int, ...]], dict[str, int]]:
        """`by_day(start, end)` and `totals(before_start, before_end)`: a period's trend and
        the period it is compared with (two queries here, one from the scope rollups). With
        `weeks` the days may come summed per week, keyed by its Monday (the scope rollups do:
        a year's trend then reads 53 rows, not 365)."""
        return self.by_day(start, end), self.totals(before_start, before_end)

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

    def by_category_named(
        self, start: date, end: date
    ) -> tuple[dict[int | None, int], dict[int, tuple[str, str]]]:
        """`by_category` and every category's name and path (`category_names`), which the
        panel groups them by: two queries here, one from the scope rollups."""
        return self.by_category(start, end), category_names()

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
        self._covers: dict[tuple[date, date, tuple[tuple[str, float], ...]], list[Span]] = {}

    def _cover(self, start: date, end: date, costs: dict[str, float]) -> list[Span]:
        # the panels of a page read the same period: its cover is worked out once
        key = (start, end, tuple(sorted(costs.items())))
        found = self._covers.get(key)
        if found is None:
            found = self._covers[key] = cover(start, end, today=clock.today(), costs=costs)
        return found

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
    def _signed(
        names: Iterable[str], alias: str, column: str, spans: list[Span], params: list[Any]
    ) -> tuple[str, str]:
        """(SUM(name) AS name for each counter of the rows named `alias`, the rows of negative
        spans taken away; what the rows' SELECT adds for it): the sign is worked out once
        per row, in the rows' own SELECT (as `sg`, from the block's first day in `column`),
        not once per counter. Each sum is an integer (`_int`), so that a sum of sums is too."""
        negative = [s for s in spans if s.sign < 0]
        if not negative:
            return ", ".join(f"{_int(f'SUM({alias}.{name})')} AS {name}" for name in names), ""
        if column == "s.period":
            taken = " OR ".join(f"(s.grain = %s AND {column} BETWEEN %s AND %s)" for _ in negative)
        else:
            taken = " OR ".join(f"({column} BETWEEN %s AND %s)" for _ in negative)
        for span in negative:
            if column == "s.period":
                params.append(span.grain)
            params += [span.first.isoformat(), span.last.isoformat()]
        sums = ", ".join(f"{_int(f'SUM({alias}.{name} * {alias}.sg)')} AS {name}" for name in names)
        return sums, f", CASE WHEN {taken} THEN -1 ELSE 1 END AS sg"

    def _parts(
        self,
        start: date,
        end: date,
        kind: str,
        *,
        column: str,
        daily_column: str,
        names: tuple[str, ...],
        led_only: bool = False,
    ) -> tuple[str, list[Any], bool]:
        """SQL of (k, counters…) groups over start…end: the months and years from the scope
        rollups of `kind` grouped by `column`, UNION ALL the days at the edges from the daily
        rows grouped by `daily_column` (`led_only`: the rows with a lead unit); and whether
        there are both, so that a k may come twice (once from each) and the caller must sum
        again."""
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
            sums, sign = self._signed(names, "s", "s.period", blocks, params)
            where = self._where(kind, blocks, params)
            sql = (
                f"SELECT s.{column} AS k, {sums} FROM (SELECT s.*{sign} "  # noqa: S608
                f"FROM {ScopeCount._meta.db_table} s WHERE {where}) s GROUP BY s.{column}"
            )
        if days:
            daily, daily_params = self._daily_rows(days, daily_column, names, led_only=led_only)
            day_params: list[Any] = []
            day_sums, sign = self._signed(names, "d", "d.day", days, day_params)
            sql += (
                f" UNION ALL SELECT d.{daily_column} AS k, {day_sums} "  # noqa: S608
                f"FROM (SELECT d.*{sign} FROM ({daily}) d) d GROUP BY d.{daily_column}"
            )
            params += day_params + list(daily_params)
        return sql, params, bool(days)

    def _daily_rows(
        self, days: list[Span], column: str, names: tuple[str, ...], *, led_only: bool
    ) -> tuple[str, list[Any]]:
        """SQL of the daily rows of the roots' subtrees on the days of `days`: `column`, the
        day and the counters `names`. What `rows()` selects (the roots are the viewer's area
        scopes cut by the chosen area, and there is no unit or category filter here), in
        plain SQL: built through the ORM it cost more than the few rows it reads."""
        params: list[Any] = []
        ranges = " OR ".join("(d.day BETWEEN %s AND %s)" for _ in days)
        for span in days:
            params += [span.first.isoformat(), span.last.isoformat()]
        under = " OR ".join("d.area_path LIKE %s" for _ in self.roots) or "1 = 0"
        params += [f"{root}%" for root in self.roots]
        led = " AND d.unit_id IS NOT NULL" if led_only else ""
        counters = ", ".join(f"d.{name} AS {name}" for name in names)
        sql = (
            f"SELECT d.{column} AS {column}, d.day AS day, {counters} "  # noqa: S608
            f"FROM {DailyCount._meta.db_table} d WHERE ({ranges}) AND ({under}){led}"
        )
        return sql, params

    @staticmethod
    def _fetch(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        # planned once per connection: planning these cost more than running them (ADR 0035)
        return planned_rows(sql, params)

    def by_day(self, start: date, end: date) -> dict[date, tuple[int, ...]]:
        params: list[Any] = []
        where = self._where(ScopeCount.Kind.TOTAL, [Span("d", start, end, 1)], params)
        sums = ", ".join(f"SUM({name})" for name in COUNTERS)
        found = self._fetch(
            f"SELECT s.period, {sums} FROM {ScopeCount._meta.db_table} s "  # noqa: S608
            f"WHERE {where} GROUP BY s.period ORDER BY s.period",
            params,
        )
        return {_day(row[0]): tuple(map(int, row[1:])) for row in found}

    def totals(self, start: date, end: date) -> dict[str, int]:
        spans = self._cover(start, end, TOTAL_COSTS)
        params: list[Any] = []
        sums, sign = self._signed(COUNTERS, "s", "s.period", spans, params)
        where = self._where(ScopeCount.Kind.TOTAL, spans, params)
        found = self._fetch(
            f"SELECT {sums} FROM (SELECT s.*{sign} "  # noqa: S608
            f"FROM {ScopeCount._meta.db_table} s WHERE {where}) s",
            params,
        )
        return dict(zip(COUNTERS, (int(v or 0) for v in found[0]), strict=True))

    @staticmethod
    def _week(column: str, monday: date, params: list[Any]) -> str:
        """SQL of the week (0, 1, …, counted from `monday`) that the day in `column` falls in."""
        params.append(monday)
        if connection.vendor == "sqlite":
            return f"CAST((julianday({column}) - julianday(%s)) / 7 AS INTEGER)"
        return f"(({column} - %s) / 7)"  # PostgreSQL: date - date is a number of days

    def by_day_and_totals(
        self, start: date, end: date, before_start: date, before_end: date, *, weeks: bool = False
    ) -> tuple[dict[date, tuple[int, ...]], dict[str, int]]:
        """`by_day` (per week with `weeks`) and `totals` in one statement (UNION ALL: the
        totals are the row without a day), one round trip fewer on every page; the days in
        no particular order."""
        table = ScopeCount._meta.db_table
        params: list[Any] = []
        monday = start - timedelta(days=start.weekday())
        key = self._week("s.period", monday, params) if weeks else "s.period"
        days = self._where(ScopeCount.Kind.TOTAL, [Span("d", start, end, 1)], params)
        spans = self._cover(before_start, before_end, TOTAL_COSTS)
        sums, sign = self._signed(COUNTERS, "s", "s.period", spans, params)
        before = self._where(ScopeCount.Kind.TOTAL, spans, params)
        plain = ", ".join(f"SUM(s.{name})" for name in COUNTERS)
        found = self._fetch(
            f"SELECT {key}, {plain} FROM {table} s WHERE {days} "  # noqa: S608
            f"GROUP BY 1 UNION ALL SELECT NULL, {sums} "
            f"FROM (SELECT s.*{sign} FROM {table} s WHERE {before}) s",
            params,
        )
        by_day: dict[date, tuple[int, ...]] = {}
        totals = dict.fromkeys(COUNTERS, 0)
        for row in found:
            if row[0] is None:
                totals = dict(zip(COUNTERS, (int(v or 0) for v in row[1:]), strict=True))
            else:
                day = monday + timedelta(days=7 * int(row[0])) if weeks else _day(row[0])
                by_day[day] = tuple(map(int, row[1:]))
        return by_day, totals

    def by_unit(self, start: date, end: date) -> list[dict[str, Any]]:
        parts, params, twice = self._parts(
            start,
            end,
            ScopeCount.Kind.UNIT,
            column="unit_id",
            daily_column="unit_id",
            names=COUNTERS,
            led_only=True,
        )
        unit = Unit._meta.db_table
        if twice:  # a unit may come from the rollups and from the days: sum again
            sums = ", ".join(f"SUM(g.{name})" for name in COUNTERS)
            sql = (
                f"SELECT u.id, u.name, u.short_name, {sums} FROM ({parts}) g "  # noqa: S608
                f"JOIN {unit} u ON u.id = g.k GROUP BY u.id, u.name, u.short_name"
            )
        else:  # a row per unit already
            counters = ", ".join(f"g.{name}" for name in COUNTERS)
            sql = (
                f"SELECT u.id, u.name, u.short_name, {counters} FROM ({parts}) g "  # noqa: S608
                f"JOIN {unit} u ON u.id = g.k"
            )
        found = self._fetch(sql, params)
        keys = ("unit_id", "unit__name", "unit__short_name", *COUNTERS)
        return [dict(zip(keys, (*row[:3], *map(int, row[3:])), strict=True)) for row in found]

    def _category_parts(self, start: date, end: date) -> tuple[str, list[Any]]:
        parts, params, _twice = self._parts(
            start,
            end,
            ScopeCount.Kind.CATEGORY,
            column="category_id",
            daily_column="category_id",
            names=("registered",),
        )
        return parts, params

    def by_category(self, start: date, end: date) -> dict[int | None, int]:
        parts, params = self._category_parts(start, end)
        found = self._fetch(
            f"SELECT g.k, SUM(g.registered) FROM ({parts}) g GROUP BY g.k",  # noqa: S608
            params,
        )
        return {row[0]: int(row[1]) for row in found}

    def by_category_named(
        self, start: date, end: date
    ) -> tuple[dict[int | None, int], dict[int, tuple[str, str]]]:
        """The counts and the categories in one statement (UNION ALL: a category's row has
        its name, a count's row none), one round trip fewer on every page."""
        parts, params = self._category_parts(start, end)
        found = self._fetch(
            f"SELECT g.k, SUM(g.registered), NULL, NULL FROM ({parts}) g GROUP BY g.k "  # noqa: S608
            f"UNION ALL SELECT c.id, NULL, c.name, c.path FROM {Category._meta.db_table} c",
            params,
        )
        counts: dict[int | None, int] = {}
        names: dict[int, tuple[str, str]] = {}
        for k, registered, name, path in found:
            if name is None:
                counts[k] = int(registered)
            else:
                names[k] = (name, path)
        return counts, names

    def by_area(
        self, start: date, end: date, *, top: int | None = None
    ) -> list[tuple[int, str, str | None, int, int]]:
        """With `top`, only the areas that may be among the `top` by volume or by overdue
        needs: those ranked `top` or better by each (RANK: every area tied with the `top`-th
        comes too, as the panels order ties by name), named; not every area of the scope."""
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
            chosen = f"SELECT r.k, r.registered, r.overdue FROM ({parts}) r"  # noqa: S608
        else:
            chosen = (
                f"WITH r AS ({parts}) "  # noqa: S608
                "SELECT v.k, v.registered, v.overdue FROM (SELECT r.*, RANK() OVER "
                "(ORDER BY r.registered DESC, r.overdue DESC) AS n FROM r "
                f"WHERE r.registered > 0) v WHERE v.n <= {int(top)} UNION "
                "SELECT o.k, o.registered, o.overdue FROM (SELECT r.*, RANK() OVER "
                "(ORDER BY r.overdue DESC, r.registered DESC) AS n FROM r "
                f"WHERE r.overdue > 0) o WHERE o.n <= {int(top)}"
            )
        area = Area._meta.db_table
        # the names by key, row by row: a join would read every area of a city
        found = self._fetch(
            f"SELECT c.k, (SELECT a.name FROM {area} a WHERE a.id = c.k), "  # noqa: S608
            f"(SELECT p.name FROM {area} a JOIN {area} p ON p.id = a.parent_id "
            f"WHERE a.id = c.k), c.registered, c.overdue FROM ({chosen}) c{serial_plan()}",
            params,
        )
        return [(row[0], row[1], row[2], int(row[3]), int(row[4])) for row in found]

    def visits(
        self, start: date, end: date, focus: Area | None
    ) -> tuple[list[dict[str, Any]], dict[str, str]]:
        if focus is None or self.root_ids != [focus.pk]:
            return super().visits(start, end, focus)
        # summed per week (keyed by its Monday), which is all the panels show: the days
        # with visits first, as the daily rows count them
        params: list[Any] = []
        monday = start - timedelta(days=start.weekday())
        week = self._week("d.period", monday, params)
        where = self._where(ScopeCount.Kind.CHILD, [Span("d", start, end, 1)], params)
        area = Area._meta.db_table
        found = self._fetch(
            f"SELECT a.path, a.name, g.week, g.visits, g.households, g.mood "  # noqa: S608
            f"FROM (SELECT d.place_id, {week} AS week, SUM(d.visits) AS visits, "
            f"SUM(d.households) AS households, SUM(d.mood) AS mood "
            f"FROM (SELECT s.place_id, s.period, {_int('SUM(s.visits)')} AS visits, "
            f"{_int('SUM(s.households_reached)')} AS households, "
            f"{_int('SUM(s.mood_total)')} AS mood "
            f"FROM {ScopeCount._meta.db_table} s WHERE {where} GROUP BY s.place_id, s.period "
            f"HAVING SUM(s.visits) > 0) d GROUP BY d.place_id, 2) g "
            f"JOIN {area} a ON a.id = g.place_id "
            # the focus and its children only: not every area of the city
            f"AND (a.parent_id = %s OR a.id = %s)",
            [*params, focus.pk, focus.pk],
        )
        rows = [
            {
                "segment": path,
                "day": monday + timedelta(days=7 * int(week)),
                "visits": int(visits),
                "households": int(households),
                "mood": int(mood),
            }
            for path, _name, week, visits, households, mood in found
        ]
        return rows, {row[0]: row[1] for row in found}


def serial_plan() -> str:
    """A WHERE clause that keeps the statement it ends without parallel workers, on
    PostgreSQL (nothing elsewhere): `wenxu_serial_plan()` is marked PARALLEL UNSAFE, and
    PostgreSQL plans a statement that calls such a function serially (ADR 0040).

    The area ranking reads a few thousand rollup rows through an index; when its days start or
    end within a month it adds those edge days from the daily rows, and the planner gave the
    two parts to two parallel workers, which cost more to start than the work: ~10 ms for
    ~1.5 ms (B3's 12-month dashboard at 100 k: the ranking 21 ms on 1 December, 4 ms the day
    before). The generic plan of a prepared statement may choose them as well at a larger
    scale (its estimates grow with the tables, not with the days read)."""
    return " WHERE wenxu_serial_plan()" if connection.vendor == "postgresql" else ""


def category_names() -> dict[int, tuple[str, str]]:
    """Every category's name and path by id (one query; plain SQL, as the ORM's building of
    it cost several times the reading)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, name, path FROM {Category._meta.db_table}")  # noqa: S608
        return {pk: (name, path) for pk, name, path in cursor.fetchall()}


def top_areas_and(path: str | None) -> list[Area]:
    """The top-level areas and the area at `path` (when there is one), in tree order (one
    query; plain SQL, as the ORM's building of the OR cost several times the reading).

    A top-level area is one without a parent (depth 0, the same rows): `parent_id IS NULL`
    reads them through the parent index where `depth = 0` read every area of the city (a
    city's thousands of grids). Planned once per connection, like the rollup reads."""
    fields = list(Area._meta.concrete_fields)
    columns = ", ".join(f.column for f in fields)
    sql = f"SELECT {columns} FROM {Area._meta.db_table} WHERE parent_id IS NULL"  # noqa: S608
    params: list[Any] = []
    if path is not None:
        sql += " OR path = %s"
        params.append(path)
    names = [f.attname for f in fields]
    rows = planned_rows(f"{sql} ORDER BY path", params)
    return [Area.from_db(connection.alias, names, row) for row in rows]


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def counts_for_user(*, user: User, filters: StatsFilters) -> StatsCounts:
    """What the statistics read for `user` over `filters`' area, unit and category (any days):
    the scope rollups when they hold it, else the daily rows."""
    roots = scope_roots(user, filters)
    if roots is None:
        return StatsCounts(user=user, filters=filters)
    return ScopeCounts(user=user, filters=filters, roots=roots)
