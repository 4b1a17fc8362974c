"""The statistics page's builder (`dashboards.dashboard_for_user`) against a straightforward
reference, on the demo county, for several viewers, periods, filters and sorts.

The builder reads a few grouped rows per panel, sums and ranks them in one pass and names
things once per page (issue #10, B3). The reference here does each panel the plain way: the
daily rows of the viewer's scope summed by the ORM per bucket, per unit, per category and per
area, every rate through `measures.rates`, every word through gettext on the spot, the overdue
board through the needs' scoped selector with model instances. Both must show the same.

The tests run from wenxu/core/tests/test_demo.py, on the county it loads (its `demo`
fixture): loading the county is the slowest set-up of the suite, and once serves both.
"""

from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from wenxu.accounts.models import User
from wenxu.accounts.selectors import scopes_for_user
from wenxu.insight import dashboards, measures, periods
from wenxu.insight.models import COUNTERS
from wenxu.insight.ranking import MIN_DUE, RATE_NAMES, SEGMENT, rankable
from wenxu.insight.selectors import StatsFilters, daily_counts_for_user
from wenxu.lib import clock
from wenxu.needs import selectors as need_selectors
from wenxu.needs.models import Category, Need
from wenxu.organisations.models import Area


def _sum(rows: Any) -> dict[str, int]:
    found = rows.aggregate(**{name: Sum(name) for name in COUNTERS})
    return {name: int(found[name] or 0) for name in COUNTERS}


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _reference_trends(rows: Any, start: date, end: date, weekly: bool) -> dict[str, Any]:
    volume, rates = [], []
    first = _monday(start) if weekly else start
    while first <= end:
        last = first + timedelta(days=6 if weekly else 0)
        label = _("%(day)s 起一周") % {"day": first.isoformat()} if weekly else first.isoformat()
        sums = _sum(rows.filter(day__gte=first, day__lte=last))
        volume.append([label, *(str(sums[n]) for n in ("registered", "replies", "overdue"))])
        found = measures.rates(sums)
        rates.append([label, *(found[n].percent for n in RATE_NAMES)])
        first = last + timedelta(days=1)
    return {"trend_volume": volume, "trend_rates": rates}


def _reference_units(rows: Any, sort: str) -> tuple[list[list[str]], list[list[str]]]:
    grouped = (
        rows.filter(unit__isnull=False)
        .values("unit__name", "unit__short_name")
        .annotate(**{name: Sum(name) for name in COUNTERS})
        .order_by()
    )
    lines = []
    for row in grouped:
        totals = {name: int(row[name] or 0) for name in COUNTERS}
        if not any(totals.values()):
            continue  # nothing counted in the days: not listed
        lines.append((row["unit__short_name"] or row["unit__name"], totals, measures.rates(totals)))

    def key(line: Any) -> tuple[Any, ...]:
        name, totals, rates = line
        if sort == "volume":
            return (0, -totals["assigned"], -rates["ontime_rate"].denominator, name)
        value = rates[sort].value
        return (value is None, -(value or Decimal(0)), -totals["assigned"], name)

    def cells(line: Any) -> list[str]:
        name, totals, rates = line
        due = rates["ontime_rate"].denominator
        return [
            name,
            str(totals["assigned"]),
            str(due),
            *(rates[n].percent for n in RATE_NAMES),
            str(totals["overdue"]),
        ]

    ranked = sorted((u for u in lines if rankable(u[2], sort)), key=key)
    small = sorted((u for u in lines if not rankable(u[2], sort)), key=key)
    table = []
    for i, line in enumerate(ranked, start=1):
        rates = line[2]
        low = (
            rates["ontime_rate"].denominator >= MIN_DUE
            and rates["ontime_rate"].value is not None
            and rates["ontime_rate"].value < Decimal("0.80")
        )
        table.append([str(i), *cells(line), _("按期办结率低于 %(threshold)s") % {"threshold": "80%"}
                      if low else ""])  # fmt: skip
    return table, [cells(line) for line in small]


def _reference_categories(rows: Any) -> list[list[str]]:
    by_group: dict[str, int] = defaultdict(int)
    grouped = rows.values("category_id").annotate(n=Sum("registered")).order_by()
    for row in grouped:
        if not row["n"]:
            continue
        category = Category.objects.filter(pk=row["category_id"]).first()
        if category is None:
            by_group[_("未分类")] += row["n"]
            continue
        top = Category.objects.filter(path=category.path[: 1 + SEGMENT]).first()
        by_group[top.name if top is not None else category.name] += row["n"]
    total = sum(by_group.values())
    ordered = sorted(by_group.items(), key=lambda item: (-item[1], item[0]))
    return [[name, str(n), f"{Decimal(n * 100) / total:.1f}%"] for name, n in ordered]


def _reference_areas(rows: Any) -> dict[str, list[list[str]]]:
    grouped = rows.values("area_id").annotate(r=Sum("registered"), o=Sum("overdue")).order_by()
    lines = []
    for row in grouped:
        area = Area.objects.get(pk=row["area_id"])
        parent = Area.objects.filter(children=area).first()
        name = f"{parent.name} · {area.name}" if parent is not None else area.name
        lines.append((name, int(row["r"] or 0), int(row["o"] or 0)))
    volume = sorted((a for a in lines if a[1]), key=lambda a: (-a[1], -a[2], a[0]))[:50]
    overdue = sorted((a for a in lines if a[2]), key=lambda a: (-a[2], -a[1], a[0]))[:50]
    return {
        "areas_volume": [[str(i), a[0], str(a[1]), str(a[2])] for i, a in enumerate(volume, 1)],
        "areas_overdue": [[str(i), a[0], str(a[1]), str(a[2])] for i, a in enumerate(overdue, 1)],
    }


def _reference_board(user: User, now: datetime) -> tuple[list[tuple[Any, ...]], int]:
    needs = need_selectors.apply_filters(
        need_selectors.need_queryset_for_user(user=user),
        need_selectors.NeedFilters(overdue=True),
    )
    lines = []
    for need in needs.select_related("area", "lead_unit").order_by("resolve_due", "id")[:50]:
        assert need.resolve_due is not None
        hours = max(int((now - need.resolve_due).total_seconds() // 3600), 0)
        late = (
            _("超期 %(n)s 小时") % {"n": max(hours, 1)}
            if hours < 24
            else _("超期 %(n)s 天") % {"n": hours // 24}
        )
        unit = str(need.lead_unit) if need.lead_unit is not None else None
        lines.append((need.number, need.title, need.area.name, unit, late))
    return lines, needs.count()


def _cases(today: date) -> list[tuple[str, tuple[date, date]]]:
    return [
        ("this_month", periods.period_dates("this_month", today=today)),
        ("last_month", periods.period_dates("last_month", today=today)),
        ("last_30_days", periods.period_dates("last_30_days", today=today)),
        ("this_year", periods.period_dates("this_year", today=today)),
        ("custom", (today - timedelta(days=364), today)),
    ]


@pytest.mark.parametrize("language", ["zh-hans", "en"])
@pytest.mark.parametrize("username", ["leader", "dispatcher", "officer", "handler"])
def test_the_dashboard_shows_what_the_plain_reference_computes(demo, username, language):
    user = User.objects.get(username=username)
    now = clock.now()
    today = timezone.localdate(now)
    with translation.override(language):
        for period, (start, end) in _cases(today):
            filters = StatsFilters(start, end)
            rows = daily_counts_for_user(user=user, filters=filters)
            for sort in ("ontime_rate", "volume", "satisfaction_rate"):
                dash = dashboards.dashboard_for_user(
                    user=user, filters=filters, sort=sort, period=period, now=now
                )
                units, small = _reference_units(rows, sort)
                assert dash.panels["units"].table.rows == [
                    dashboards.Row(cells, flagged=bool(cells[-1])) for cells in units
                ], (username, period, sort)
                assert [row.cells for row in dash.units_small.rows] == small, (username, period)
            found = {name: [row.cells for row in p.table.rows] for name, p in dash.panels.items()}
            weekly = (end - start).days + 1 > periods.WEEKLY_AFTER_DAYS
            expected = {
                **_reference_trends(rows, start, end, weekly),
                **_reference_areas(rows),
                "categories": _reference_categories(rows),
            }
            for name, cells in expected.items():
                assert found[name] == cells, (username, period, name)
            # not a vacuous comparison: the county's periods that reach back hold needs (this
            # month and this year hold none in their first hours)
            if username == "leader" and period in ("last_30_days", "custom"):
                assert units
                assert expected["areas_volume"]
                assert expected["categories"]
            assert dash.totals == _sum(rows)
            previous = StatsFilters(*periods.previous_period(start, end, period))
            before = measures.rates(_sum(daily_counts_for_user(user=user, filters=previous)))
            assert [card.previous.percent for card in dash.cards] == [
                before[n].percent for n in RATE_NAMES
            ]
            board, total = _reference_board(user, now)
            assert [
                (line.number, line.title, line.area_name, line.lead_unit, line.late)
                for line in dash.overdue
            ] == board, (username, period)
            assert dash.overdue_total == total
    if username == "leader":
        assert total > 0


def test_the_board_of_a_viewer_who_sees_every_need_leaves_the_scope_test_out(demo):
    # given the county's leader (their area scope holds the one top-level area)
    leader = User.objects.get(username="leader")
    now = clock.now()
    today = timezone.localdate(now)
    filters = StatsFilters(today, today)
    assert Area.objects.filter(depth=0).count() == 1
    # then the board's query does not test the scope, and shows every overdue need
    with CaptureQueriesContext(connection) as ctx:
        dash = dashboards.dashboard_for_user(user=leader, filters=filters, now=now)
    board = [q["sql"] for q in ctx.captured_queries if "resolve_due" in q["sql"]]
    assert len(board) == 1
    assert 'organisations_area" U0' not in board[0]
    overdue = need_selectors.apply_filters(
        Need.objects.all(), need_selectors.NeedFilters(overdue=True)
    )
    assert dash.overdue_total == overdue.count() > 0
    # with the deadlines as the ORM reads them (the board's plain SQL converts them)
    first = overdue.order_by("resolve_due", "id")[: dashboards.BOARD_LIMIT]
    assert [(line.number, line.resolve_due) for line in dash.overdue] == list(
        first.values_list("number", "resolve_due")
    )
    # and a second top-level area outside the leader's scope brings the scope's test back
    Area.objects.create(name="邻县", level="county")
    with CaptureQueriesContext(connection) as ctx:
        dashboards.dashboard_for_user(user=leader, filters=filters, now=now)
    board = [q["sql"] for q in ctx.captured_queries if "resolve_due" in q["sql"]]
    assert "recorded_by_id" in board[0]


def test_a_full_overdue_board_and_its_count_cost_one_query(demo):
    # given a leader whose scopes are already known (the page loads them for the menu)
    leader = User.objects.get(username="leader")
    scopes_for_user(leader)
    now = clock.now()
    overdue = need_selectors.apply_filters(
        Need.objects.all(), need_selectors.NeedFilters(overdue=True)
    )
    # when more needs are overdue than the board lists
    open_needs = Need.objects.filter(status__in=["assigned", "in_progress"], replied_at=None)
    open_needs.update(resolve_due=now - timedelta(days=2))
    assert overdue.count() > dashboards.BOARD_LIMIT
    filters = StatsFilters(*periods.period_dates("this_month", today=timezone.localdate(now)))
    with CaptureQueriesContext(connection) as ctx:
        dash = dashboards.dashboard_for_user(user=leader, filters=filters, now=now)
    # then the page costs seven queries, the board's count riding along with its rows (the
    # trend with the previous period's totals, and the categories with their names, are
    # one query each)
    assert len(ctx.captured_queries) == 7
    assert len(dash.overdue) == dashboards.BOARD_LIMIT
    assert dash.overdue_total == overdue.count()
