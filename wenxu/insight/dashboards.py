"""The statistics page (/stats/, issue #6 item 3): what it shows, read from the rollups.

Every number comes from the rollups through the scoped selector (`counts_for_user`: the scope
rollups for leaders' area scopes, the daily rows otherwise, ADR 0023), one grouped aggregate
per panel, so the page costs the same few queries however many days, areas or units it covers
and reads a number of rows bounded by what it shows, not by the ledger. The one exception is
the overdue board, which lists the live overdue needs through the needs' own scoped selector
(and counts them in the same query). The panels are built from plain rows in one pass, with
the words they repeat looked up once per page (`_Words`): at 100 k needs the page's Python,
not its queries, was most of its cost (issue #10, B3).

Each chart is a `Table` (what the page shows under the chart and what its CSV holds, from the
same rows) plus a small `chart` dict that the page hands to ECharts through `json_script`.
"""

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import connection
from django.db.models import F, Func, Subquery
from django.utils.translation import gettext as _

from wenxu.accounts.models import User
from wenxu.accounts.selectors import scopes_for_user
from wenxu.insight import measures
from wenxu.insight.models import COUNTERS
from wenxu.insight.periods import (
    WEEKLY_AFTER_DAYS,
    previous_period,
)
from wenxu.insight.ranking import (
    MIN_DUE,
    RATE_NAMES,
    SEGMENT,
    THRESHOLD,
    below_threshold,
    counter_label,
    counter_labels,
    rankable,
)
from wenxu.insight.selectors import (
    StatsFilters,
    counts_for_user,
    scope_q,
    top_areas_and,
)
from wenxu.lib import clock
from wenxu.lib.planned import planned_rows
from wenxu.needs import selectors as need_selectors
from wenxu.needs import states
from wenxu.needs.models import Category, Need
from wenxu.organisations.models import Area, Unit, path_roots

SORTS = (*RATE_NAMES, "volume")
DEFAULT_SORT = "ontime_rate"
AREA_LIMIT = 50  # areas in each ranked list
BOARD_LIMIT = 50  # needs on the overdue board
# What the board shows of each need (stats.html), read as plain values.
BOARD_FIELDS = (
    "number",
    "title",
    "resolve_due",
    "area__name",
    "lead_unit__name",
    "lead_unit__short_name",
)


# --------------------------------------------------------------------------- tables


@dataclass(frozen=True)
class Row:
    cells: list[str]
    flagged: bool = False


@dataclass
class Table:
    """One chart's numbers as shown under it and as its CSV: the same cells, as text."""

    name: str
    title: str
    headers: list[str]
    rows: list[Row] = field(default_factory=list)
    note: str = ""

    def csv_rows(self) -> list[list[str]]:
        return [self.headers, *(row.cells for row in self.rows)]


@dataclass
class Panel:
    table: Table
    chart: dict[str, Any]  # handed to stats.js: kind, x, series, percent…

    @property
    def name(self) -> str:
        return self.table.name

    @property
    def chart_id(self) -> str:
        return f"chart-{self.table.name}"


def _pct(value: Decimal | None) -> float | None:
    """A rate as a percentage for the charts (one decimal, like `Rate.percent`)."""
    if value is None:
        return None
    return float((value * 100).quantize(Decimal("0.1"), ROUND_HALF_UP))


# --------------------------------------------------------------------------- the overview


@dataclass(frozen=True)
class RateCard:
    rate: measures.Rate
    previous: measures.Rate
    change: Decimal | None  # percentage points against the previous period

    @property
    def direction(self) -> str:
        if self.change is None or self.change == 0:
            return "flat"
        return "up" if self.change > 0 else "down"

    @property
    def counts_text(self) -> str:
        return counts_text(self.rate)

    @property
    def change_text(self) -> str:
        if self.change is None:
            return str(_("上期无可比数据"))
        if self.change == 0:
            return str(_("与上期持平"))
        arrow = "▲" if self.change > 0 else "▼"
        return _("%(arrow)s %(points)s 个百分点") % {"arrow": arrow, "points": abs(self.change)}


def _change(current: Decimal | None, previous: Decimal | None) -> Decimal | None:
    if current is None or previous is None:
        return None
    return ((current - previous) * 100).quantize(Decimal("0.1"), ROUND_HALF_UP)


def counts_text(rate: measures.Rate) -> str:
    """The counts behind a rate, in words: "按时签收 12 · 超时未签收 3"."""
    return " · ".join(f"{counter_label(name)} {value}" for name, value in rate.counts.items())


# --------------------------------------------------------------------------- the whole page


@dataclass
class Dashboard:
    start: date
    end: date
    previous_start: date
    previous_end: date
    weekly: bool
    has_scope: bool
    totals: dict[str, int]
    cards: list[RateCard]
    panels: dict[str, Panel]
    rates_table: Table
    units_small: Table
    overdue: list["BoardLine"]
    overdue_total: int
    focus: Area | None
    sort: str
    min_due: int = MIN_DUE
    threshold_percent: int = int(THRESHOLD * 100)

    def table(self, name: str) -> Table | None:
        for table in (self.rates_table, self.units_small):
            if name == table.name:
                return table
        panel = self.panels.get(name)
        return panel.table if panel is not None else None


@dataclass(frozen=True)
class _Words:
    """What the page says over and over (the rates' and counters' names, the configuration
    of the rates), looked up once per page rather than once per unit, week or cell."""

    measures: measures.Measures
    rates: dict[str, str]  # "响应率" …
    counters: dict[str, str]  # "按时签收" …

    @classmethod
    def current(cls) -> "_Words":
        found = measures.Measures.current()
        return cls(found, found.labels(), counter_labels())


def _summed(rows: Iterable[tuple[int, ...]]) -> dict[str, int]:
    """Every counter summed over rows of counters in the order of COUNTERS."""
    sums = [sum(column) for column in zip(*rows, strict=True)]
    return dict(zip(COUNTERS, sums or [0] * len(COUNTERS), strict=True))


def dashboard_for_user(
    *,
    user: User,
    filters: StatsFilters,
    sort: str = DEFAULT_SORT,
    period: str = "custom",
    now: datetime,
) -> Dashboard:
    """Everything /stats/ shows for `user` over `filters` (a constant number of queries, one
    per panel); `period` is the period choice the days came from (what they are compared
    with)."""
    counts = counts_for_user(user=user, filters=filters)
    words = _Words.current()
    start, end = filters.start, filters.end
    previous_start, previous_end = previous_period(start, end, period)
    weekly = (end - start).days + 1 > WEEKLY_AFTER_DAYS

    # every counter per day (the period's totals are their sum), and the previous period's
    # totals: one query from the scope rollups, two from the daily rows
    by_day, previous = counts.by_day_and_totals(
        start, end, previous_start, previous_end, weeks=weekly
    )
    totals = _summed(by_day.values())
    current = words.measures.rates(totals)
    before = words.measures.rates(previous)
    cards = [
        RateCard(current[name], before[name], _change(current[name].value, before[name].value))
        for name in RATE_NAMES
    ]

    focus, sees_all = _focus_area(user, filters.area)
    panels: dict[str, Panel] = {}
    trend_volume, trend_rates = _trend_panels(by_day, start, end, weekly, words)
    panels["trend_volume"] = trend_volume
    panels["trend_rates"] = trend_rates
    sort = sort if sort in SORTS else DEFAULT_SORT
    panels["units"], units_small = _unit_panels(counts.by_unit(start, end), sort, words)
    panels["categories"] = _category_panel(*counts.by_category_named(start, end), filters.category)
    panels["areas_volume"], panels["areas_overdue"] = _area_panels(
        counts.by_area(start, end, top=AREA_LIMIT)
    )
    panels["satisfaction"] = _satisfaction_panel(totals, words)
    visits, names = counts.visits(start, end, focus)
    panels["mood"], panels["coverage"] = _visit_panels(visits, names, focus, start, end)

    overdue, overdue_total = _overdue_board(user, filters, now, sees_all=sees_all)  # 1 query
    return Dashboard(
        start=filters.start,
        end=filters.end,
        previous_start=previous_start,
        previous_end=previous_end,
        weekly=weekly,
        has_scope=scope_q(user) is not None,
        totals=totals,
        cards=cards,
        panels=panels,
        rates_table=_rates_table(cards),
        units_small=units_small,
        overdue=overdue,
        overdue_total=overdue_total,
        focus=focus,
        sort=sort,
    )


# --------------------------------------------------------------------------- panels


def _rates_table(cards: list[RateCard]) -> Table:
    table = Table(
        "rates",
        _("三率概览"),
        [_("指标"), _("本期"), _("分子"), _("分母"), _("上期"), _("变化（百分点）"), _("公式")],
    )
    for card in cards:
        rate = card.rate
        table.rows.append(
            Row(
                [
                    str(rate.label),
                    rate.percent,
                    _number(rate.numerator),
                    str(rate.denominator),
                    card.previous.percent,
                    "—" if card.change is None else f"{card.change:+}",
                    str(rate.formula),
                ]
            )
        )
    return table


def _number(value: Decimal) -> str:
    return str(value.normalize()) if value != value.to_integral() else str(int(value))


def _bucket(day: date, weekly: bool) -> date:
    return day - timedelta(days=day.weekday()) if weekly else day


def _buckets(start: date, end: date, weekly: bool) -> list[date]:
    out: list[date] = []
    day = _bucket(start, weekly)
    step = timedelta(days=7 if weekly else 1)
    while day <= end:
        out.append(day)
        day += step
    return out


def _bucket_labels(buckets: list[date], weekly: bool) -> list[str]:
    """Each bucket's name: its day, or "<Monday> 起一周" (the words translated once)."""
    if not weekly:
        return [b.isoformat() for b in buckets]
    week = _("%(day)s 起一周")
    return [week % {"day": b.isoformat()} for b in buckets]


def _trend_panels(
    by_day: dict[date, tuple[int, ...]], start: date, end: date, weekly: bool, words: _Words
) -> tuple[Panel, Panel]:
    buckets = _buckets(start, end, weekly)
    first, step = buckets[0], 7 if weekly else 1
    grouped: list[list[tuple[int, ...]]] = [[] for _b in buckets]
    for day, counts in by_day.items():
        grouped[(day - first).days // step].append(counts)
    # most buckets hold one row (a day; a week when the rollups summed it): no sum needed
    sums = [
        dict(zip(COUNTERS, rows[0], strict=True)) if len(rows) == 1 else _summed(rows)
        for rows in grouped
    ]
    labels = _bucket_labels(buckets, weekly)
    x = [b.isoformat() for b in buckets]
    period = _("周") if weekly else _("日期")
    counter_name = words.counters.__getitem__

    volume_names = ("registered", "replies", "overdue")
    volume = Table(
        "trend_volume",
        _("登记、答复与超期走势"),
        [period, *(counter_name(name) for name in volume_names)],
        [
            Row([label, *(str(t[n]) for n in volume_names)])
            for t, label in zip(sums, labels, strict=True)
        ],
    )
    volume_chart = {
        "kind": "line",
        "x": x,
        "weekly": weekly,
        "series": [{"name": counter_name(n), "data": [t[n] for t in sums]} for n in volume_names],
    }

    # each bucket's rates as the table shows them ("87.5%", "—"); the chart plots the same
    # numbers (`_pct`), read back from the text rather than computed twice
    values = words.measures.values
    texts = [[rate.percent for rate in map(values(t).__getitem__, RATE_NAMES)] for t in sums]
    labels_of = words.rates
    rates_table = Table(
        "trend_rates",
        _("三率走势"),
        [period, *(labels_of[n] for n in RATE_NAMES)],
        [Row([label, *cells]) for cells, label in zip(texts, labels, strict=True)],
    )
    rates_chart = {
        "kind": "line",
        "percent": True,
        "x": x,
        "weekly": weekly,
        "series": [
            {"name": labels_of[n], "data": [_percent_number(cells[i]) for cells in texts]}
            for i, n in enumerate(RATE_NAMES)
        ],
    }
    return Panel(volume, volume_chart), Panel(rates_table, rates_chart)


def _percent_number(text: str) -> float | None:
    """A rate's percentage from its text ("87.5%" → 87.5, "—" → None): what `_pct` gives of
    the rate's value."""
    return None if text == "—" else float(text[:-1])


@dataclass(frozen=True)
class UnitLine:
    name: str
    totals: dict[str, int]
    rates: dict[str, measures.RateValue]

    @property
    def due(self) -> int:
        return self.rates["ontime_rate"].denominator

    def key(self, sort: str) -> tuple[int, Decimal, int, str]:
        """Best first: the chosen measure high, no value last, then volume, then name."""
        if sort == "volume":
            return (0, Decimal(-self.totals["assigned"]), -self.due, self.name)
        value = self.rates[sort].value
        return (
            1 if value is None else 0,
            -(value or Decimal(0)),
            -self.totals["assigned"],
            self.name,
        )


def _unit_panels(by_unit: list[dict[str, Any]], sort: str, words: _Words) -> tuple[Panel, Table]:
    values = words.measures.values
    # a row's counters are ints already (sums over the unit's rows): the row is the totals. A
    # unit with nothing counted in the days is left out: read from the scope rollups, a month
    # less its days outside the period leaves a row of zeros for a unit whose needs all fell
    # on those days, where the daily rows have no row at all
    lines = [
        UnitLine(row["unit__short_name"] or row["unit__name"], row, values(row))
        for row in by_unit
        if any(row[name] for name in COUNTERS)
    ]
    lines.sort(key=lambda u: u.key(sort))
    ranked: list[UnitLine] = []
    small: list[UnitLine] = []
    for u in lines:
        (ranked if rankable(u.rates, sort) else small).append(u)
    labels_of = words.rates
    rate_headers = [labels_of[n] for n in RATE_NAMES]
    headers = [_("责任单位"), _("交办"), _("到期应办结"), *rate_headers, _("超期未答复")]
    threshold = f"{int(THRESHOLD * 100)}%"

    def cells(u: UnitLine) -> list[str]:
        return [
            u.name,
            str(u.totals["assigned"]),
            str(u.due),
            *(u.rates[n].percent for n in RATE_NAMES),
            str(u.totals["overdue"]),
        ]

    flag = _("按期办结率低于 %(threshold)s") % {"threshold": threshold}
    table = Table(
        "units",
        _("责任单位排名"),
        [_("名次"), *headers, _("提示")],
        [
            Row([str(i), *cells(u), flag if low else ""], flagged=low)
            for i, u in enumerate(ranked, start=1)
            for low in (below_threshold(u.rates),)
        ],
        note=(
            _("到期应办结不足 %(n)s 件的单位另列，暂不排名。") % {"n": MIN_DUE}
            if sort in ("ontime_rate", "volume")
            else _("%(measure)s的分母不足 %(n)s 件的单位另列，暂不排名。")
            % {"measure": labels_of[sort], "n": MIN_DUE}
        ),
    )
    small_table = Table(
        "units_small",
        _("件数较少，暂不排名"),
        headers,
        [Row(cells(u)) for u in small],
    )
    top = ranked[:15]
    data: list[Any]
    if sort == "volume":
        series_name, data = _("交办"), [u.totals["assigned"] for u in top]
    else:
        series_name = rate_headers[RATE_NAMES.index(sort)]
        data = [_pct(u.rates[sort].value) for u in top]
    chart = {
        "kind": "hbar",
        "percent": sort != "volume",
        "x": [u.name for u in top],
        "series": [{"name": series_name, "data": data}],
        "threshold": float(THRESHOLD * 100) if sort == "ontime_rate" else None,
    }
    return Panel(table, chart), small_table


def _category_panel(
    counts: dict[int | None, int],
    categories: dict[int, tuple[str, str]],
    chosen: Category | None,
) -> Panel:
    """Registered needs per top-level category (per sub-category when one is chosen);
    `categories`: every category's name and path by id."""
    by_path = {path: name for name, path in categories.values()}
    prefix = chosen.path if chosen is not None else "/"
    by_group: dict[str, int] = defaultdict(int)
    for category_id, registered in counts.items():
        if not registered:
            continue
        found = categories.get(category_id) if category_id is not None else None
        if found is None:
            by_group[_("未分类")] += registered
            continue
        name, path = found
        by_group[by_path.get(path[: len(prefix) + SEGMENT], name)] += registered
    ordered = sorted(by_group.items(), key=lambda item: (-item[1], item[0]))
    total = sum(by_group.values())
    table = Table(
        "categories",
        _("诉求类别分布（登记件数）"),
        [_("类别"), _("登记"), _("占比")],
        [Row([name, str(n), f"{Decimal(n * 100) / total:.1f}%"]) for name, n in ordered],
    )
    chart = {
        "kind": "pie",
        "x": [name for name, _n in ordered],
        "series": [{"name": _("登记"), "data": [n for _name, n in ordered]}],
    }
    return Panel(table, chart)


def _area_panels(by_area: list[tuple[int, str, str | None, int, int]]) -> tuple[Panel, Panel]:
    lines = [
        (f"{parent} · {name}" if parent else name, registered, overdue)
        for _area, name, parent, registered, overdue in by_area
    ]
    headers = [_("名次"), _("区域（网格 / 村社区）"), _("登记"), _("超期未答复")]
    note = _("只列前 %(n)s 个。") % {"n": AREA_LIMIT}
    by_volume = sorted((a for a in lines if a[1]), key=lambda a: (-a[1], -a[2], a[0]))[:AREA_LIMIT]
    by_overdue = sorted((a for a in lines if a[2]), key=lambda a: (-a[2], -a[1], a[0]))[:AREA_LIMIT]

    def panel(name: str, title: str, chosen: list[tuple[str, int, int]], index: int) -> Panel:
        table = Table(
            name,
            title,
            headers,
            [Row([str(i), a[0], str(a[1]), str(a[2])]) for i, a in enumerate(chosen, start=1)],
            note=note,
        )
        top = chosen[:15]
        chart = {
            "kind": "hbar",
            "x": [a[0] for a in top],
            "series": [{"name": headers[index + 1], "data": [a[index] for a in top]}],
        }
        return Panel(table, chart)

    return (
        panel("areas_volume", _("各区域登记件数排名"), by_volume, 1),
        panel("areas_overdue", _("各区域超期件数排名"), by_overdue, 2),
    )


def _satisfaction_panel(totals: dict[str, int], words: _Words) -> Panel:
    names = list(measures.SATISFACTION_FIELDS.values())
    label = words.counters.__getitem__
    answered = sum(totals[n] for n in names)
    table = Table(
        "satisfaction",
        _("满意度分布（有评价的回访）"),
        [_("满意度"), _("件数"), _("占比")],
        [
            Row(
                [
                    label(n),
                    str(totals[n]),
                    f"{Decimal(totals[n] * 100) / answered:.1f}%" if answered else "—",
                ]
            )
            for n in names
        ],
    )
    chart = {
        "kind": "pie",
        "donut": True,
        "colors": ["#2e7d32", "#66bb6a", "#c0ca33", "#fb8c00", "#c62828"],
        "x": [label(n) for n in names],
        "series": [{"name": _("回访"), "data": [totals[n] for n in names]}],
    }
    return Panel(table, chart)


def _focus_area(user: User, chosen: Area | None) -> tuple[Area | None, bool]:
    """The area whose children the 民情温度 and coverage panels compare: the chosen one, else
    the viewer's one area scope, else the one top-level area (the county). And whether the
    viewer may see every need: active, with area scopes over every top-level area (every need
    lies in an area, so the scope then leaves none out). One query, none with an area chosen
    (the board's area filter narrows it then)."""
    if chosen is not None:
        return chosen, False
    roots = path_roots(s.area_path for s in scopes_for_user(user) if s.area_path)
    found = top_areas_and(roots[0] if len(roots) == 1 else None)
    tops = [a for a in found if a.depth == 0]
    sees_all = user.is_active and bool(tops) and all(a.path in roots for a in tops)
    if len(roots) == 1:
        return next((a for a in found if a.path == roots[0]), None), sees_all
    return (tops[0] if len(tops) == 1 else None), sees_all


def _visit_panels(
    grouped: list[dict[str, Any]],
    names: dict[str, str],
    focus: Area | None,
    start: date,
    end: date,
) -> tuple[Panel, Panel]:
    """民情温度 per week and visit coverage, per child of the focus area (`grouped`: visits,
    households reached and the moods' sum per day and child, `StatsCounts.visits`)."""
    segments = sorted({row["segment"] for row in grouped})

    def name(segment: str) -> str:
        if focus is not None and segment == focus.path:
            return _("%(name)s（本级）") % {"name": focus.name}
        return names.get(segment, segment)

    weeks = _buckets(start, end, weekly=True)
    mood: dict[str, dict[date, list[int]]] = {s: {w: [0, 0] for w in weeks} for s in segments}
    reach: dict[str, list[int]] = {s: [0, 0, 0] for s in segments}
    week_of = {day: _bucket(day, weekly=True) for day in {row["day"] for row in grouped}}
    for row in grouped:
        seg, visits, moods = row["segment"], int(row["visits"] or 0), int(row["mood"] or 0)
        cell = mood[seg][week_of[row["day"]]]
        cell[0] += visits
        cell[1] += moods
        sums = reach[seg]
        sums[0] += visits
        sums[1] += int(row["households"] or 0)
        sums[2] += moods

    def mean(visits: int, total: int) -> str:
        return f"{Decimal(total) / visits:.2f}" if visits else "—"

    labelled = sorted(segments, key=name)
    mood_table = Table(
        "mood",
        _("民情温度走势（每周平均）"),
        [_("周"), *(name(s) for s in labelled)],
        [
            Row([label, *(mean(*mood[s][w]) for s in labelled)])
            for w, label in zip(weeks, _bucket_labels(weeks, True), strict=True)
        ],
    )
    mood_chart = {
        "kind": "line",
        "weekly": True,
        "min": 1,
        "max": 5,
        "x": [w.isoformat() for w in weeks],
        "series": [
            {
                "name": name(s),
                "data": [
                    round(mood[s][w][1] / mood[s][w][0], 2) if mood[s][w][0] else None
                    for w in weeks
                ],
            }
            for s in labelled
        ],
    }
    ordered = sorted(segments, key=lambda s: (-reach[s][0], name(s)))
    coverage_table = Table(
        "coverage",
        _("走访覆盖"),
        [_("区域"), _("走访次数"), _("走访到户"), _("平均民情温度")],
        [
            Row([name(s), str(reach[s][0]), str(reach[s][1]), mean(reach[s][0], reach[s][2])])
            for s in ordered
        ],
    )
    coverage_chart = {
        "kind": "bar",
        "x": [name(s) for s in ordered],
        "series": [
            {"name": _("走访次数"), "data": [reach[s][0] for s in ordered]},
            {"name": _("走访到户"), "data": [reach[s][1] for s in ordered]},
        ],
    }
    return Panel(mood_table, mood_chart), Panel(coverage_table, coverage_chart)


@dataclass(frozen=True)
class BoardLine:
    """One need on the overdue board: what stats.html shows of it."""

    number: str
    title: str
    resolve_due: datetime | None
    area_name: str
    lead_unit: str | None  # its short name (else its name); None when not assigned
    late: str  # "超期 3 天"


def _lateness(now: datetime) -> Callable[[datetime | None], str]:
    """How long ago each need's deadline passed, in words ("超期 3 天"; at least an hour),
    for many needs (the words translated once)."""
    hours_late, days_late = _("超期 %(n)s 小时"), _("超期 %(n)s 天")

    def late(since: datetime | None) -> str:
        if since is None:
            return ""
        hours = max(int((now - since).total_seconds() // 3600), 0)
        if hours < 24:
            return hours_late % {"n": max(hours, 1)}
        return days_late % {"n": hours // 24}

    return late


def _overdue_board(
    user: User, filters: StatsFilters, now: datetime, *, sees_all: bool
) -> tuple[list[BoardLine], int]:
    """The live overdue needs in scope (and the filters), the longest overdue first, and how
    many there are (one query: the count rides along as a subquery). A unit filter keeps the
    needs the unit (or a sub-unit) leads, as the rollups count them. For a viewer who sees
    every need (`sees_all`) the scope's test is left out: it selects every need anyway, and
    testing it on every overdue need of a city costs more than counting them."""
    if sees_all and filters.area is None and filters.unit is None and filters.category is None:
        board = _overdue_rows_of_all()
    else:
        board = _overdue_rows_in_scope(user, filters, sees_all=sees_all)
    late = _lateness(now)
    lines = [
        BoardLine(
            number=number,
            title=title,
            resolve_due=due,
            area_name=area,
            lead_unit=None if unit_id is None else (short or name),
            late=late(due),
        )
        for number, title, due, area, name, short, unit_id, _total in board
    ]
    return lines, int(board[0][-1]) if board else 0


def _overdue_rows_in_scope(
    user: User, filters: StatsFilters, *, sees_all: bool
) -> list[tuple[Any, ...]]:
    """The board's rows (BOARD_FIELDS, the lead unit's id, the count) through the needs'
    scoped selector and its filters."""
    in_scope = Need.objects.all() if sees_all else need_selectors.need_queryset_for_user(user=user)
    needs = need_selectors.apply_filters(
        in_scope,
        need_selectors.NeedFilters(
            overdue=True,
            area=filters.area.pk if filters.area is not None else None,
            category=filters.category.pk if filters.category is not None else None,
        ),
    )
    if filters.unit is not None:
        needs = needs.filter(lead_unit__path__startswith=filters.unit.path)
    total = Subquery(needs.order_by().values(n=Func(F("pk"), function="COUNT")))
    return list(
        needs.annotate(total=total)
        .order_by("resolve_due", "id")
        .values_list(*BOARD_FIELDS, "lead_unit_id", "total")[:BOARD_LIMIT]
    )


def _overdue_rows_of_all() -> list[tuple[Any, ...]]:
    """`_overdue_rows_in_scope` for a viewer who sees every need, with no filter (the city's
    leaders, the page's most frequent reader): the same statement in plain SQL, as building
    it through the ORM cost about as much as running it (issue #10, B3). Overdue as the
    needs' selector says (`NeedFilters.overdue`: active, not replied, resolve_due passed),
    which the partial index need_running_due answers. The statuses are written into the SQL,
    not passed as values: the statement's plan is made once for every run (ADR 0035), and
    only with them in its text can it use that index."""
    need, area, unit = Need._meta.db_table, Area._meta.db_table, Unit._meta.db_table
    active = sorted(str(status.value) for status in states.ACTIVE)
    assert all(status.isidentifier() for status in active)  # our own names, safe as SQL text
    statuses = ", ".join(f"'{status}'" for status in active)
    overdue = f"n.replied_at IS NULL AND n.resolve_due < %s AND n.status IN ({statuses})"
    params = [connection.ops.adapt_datetimefield_value(clock.now())]
    sql = (
        "SELECT n.number, n.title, n.resolve_due, a.name, u.name, u.short_name, "  # noqa: S608
        f"n.lead_unit_id, (SELECT COUNT(*) FROM {need} n WHERE {overdue}) "
        f"FROM {need} n JOIN {area} a ON a.id = n.area_id "
        f"LEFT JOIN {unit} u ON u.id = n.lead_unit_id "
        f"WHERE {overdue} ORDER BY n.resolve_due, n.id LIMIT {int(BOARD_LIMIT)}"
    )
    rows = planned_rows(sql, params + params)
    # the deadline as the ORM reads it (SQLite hands back text; PostgreSQL needs nothing)
    column = Need._meta.get_field("resolve_due").get_col(need)
    converters = connection.ops.get_db_converters(column)
    if not converters:
        return rows
    out = []
    for row in rows:
        value = row[2]
        for convert in converters:
            value = convert(value, column, connection)
        out.append((*row[:2], value, *row[3:]))
    return out
