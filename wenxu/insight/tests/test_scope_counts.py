"""The scope rollups (ScopeCount, ADR 0023) always equal the daily rows summed, and the
statistics read from them equal the statistics read from the daily rows.

Lifecycles are played through the real services across a month's and a year's end, the rollups
caught up in small batches as the worker would; then a visit recorded late (started last
month), then the rebuilds. After each, every scope rollup must equal its daily rows summed,
computed here from the area tree, and the leaders' statistics read from the scope rollups must
show what the daily rows show.
"""

import random
import uuid
from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from wenxu.accounts.models import Membership, User
from wenxu.accounts.selectors import scopes_for_user
from wenxu.insight import dashboards, periods, selectors
from wenxu.insight.models import (
    COUNTERS,
    KIND_COUNTERS,
    KIND_GRAINS,
    SCOPE_DEPTH,
    DailyCount,
    ScopeCount,
)
from wenxu.insight.rollups import rollup_catch_up, rollup_rebuild, scope_counts_rebuild
from wenxu.insight.selectors import ScopeCounts, StatsCounts, StatsFilters, counts_for_user
from wenxu.insight.tests.planting import plant
from wenxu.lib import clock
from wenxu.needs import services
from wenxu.needs.exceptions import DomainError
from wenxu.organisations.models import Area
from wenxu.visits.models import Place, Visit

START = timezone.make_aware(datetime(2026, 12, 21, 9, 0))  # a Monday; the play ends in January
DAYS = 14
END = START + timedelta(days=DAYS + 1)


@pytest.fixture(autouse=True)
def _no_sending(monkeypatch):
    monkeypatch.setattr("wenxu.notify.sending.send_due", lambda **kwargs: 0)


def _visit(world: Any, *, area: Area, started: datetime, mood: int) -> None:
    place, _created = Place.objects.get_or_create(
        area=area, kind="household", defaults={"name": "3组15号"}
    )
    Visit.objects.create(
        client_uuid=uuid.uuid4(),
        payload_hash="x",
        kind="home",
        area=area,
        place=place,
        place_kind="household",
        started_at=started,
        mood=mood,
        recorded_by=world.officer,
        recorded_at=clock.now(),
    )


def _play(world: Any, traveller: Any, seed: int) -> None:
    """Needs in both towns' grids (and one at a town) through random steps, visits, the sweep
    twice a day and the catch-up every few days in small batches."""
    rng = random.Random(seed)
    units = [(world.housing, world.handler), (world.transport, world.handler_other)]
    areas = [world.grid_a, world.grid_b, world.town_a]
    cats = [world.cat_roads, world.cat_water, None]
    open_needs: list[Any] = []
    for day in range(DAYS):
        for hour in (9, 16):
            traveller.move_to(START + timedelta(days=day, hours=hour - 9))
            for _ in range(rng.randint(0, 3)):
                area = rng.choice(areas)
                officer = world.officer_b if area == world.grid_b else world.officer
                need = world.register(actor=officer, area=area, category=rng.choice(cats))
                if rng.random() < 0.8:
                    unit, handler = rng.choice(units)
                    need = services.need_assign(
                        actor=world.dispatcher, need=need, version=need.version, lead_unit=unit
                    )
                    open_needs.append((need, handler))
            for need, handler in list(open_needs):
                need.refresh_from_db()
                try:
                    if need.status == "assigned" and rng.random() < 0.4:
                        services.need_accept(actor=handler, need=need, version=need.version)
                    elif need.status == "in_progress" and rng.random() < 0.3:
                        services.need_reply(
                            actor=handler,
                            need=need,
                            version=need.version,
                            outcome="resolved",
                            reply_text="已处理。",
                        )
                    elif need.status == "replied" and rng.random() < 0.5:
                        services.need_callback(
                            actor=world.dispatcher,
                            need=need,
                            version=need.version,
                            channel="phone",
                            resolved=rng.choice(["yes", "partly", "no"]),
                            satisfaction=rng.choice(["very_satisfied", "basic", "dissatisfied"]),
                        )
                        open_needs.remove((need, handler))
                except DomainError:
                    pass
            if rng.random() < 0.6:
                grid = rng.choice([world.grid_a, world.grid_b])
                _visit(world, area=grid, started=clock.now(), mood=rng.randint(1, 5))
            from wenxu.needs.sweeps import sweep

            sweep()
        if day % 4 == 3:
            traveller.shift(timedelta(minutes=3))
            rollup_catch_up(limit=37)
    traveller.move_to(END)
    rollup_catch_up(limit=37)


def _block(day: date, grain: str) -> date:
    if grain == "y":
        return day.replace(month=1, day=1)
    if grain == "m":
        return day.replace(day=1)
    return day


def _expected() -> dict[tuple[Any, ...], Counter[str]]:
    """Every scope rollup as the daily rows summed, from the area tree (not from paths' ids)."""
    scopes = list(Area.objects.filter(depth__lte=SCOPE_DEPTH))
    children = {a.pk: list(Area.objects.filter(parent=a)) for a in scopes}
    out: dict[tuple[Any, ...], Counter[str]] = {}
    for row in DailyCount.objects.all():
        for scope in scopes:
            if not row.area_path.startswith(scope.path):
                continue
            child = next((c for c in children[scope.pk] if row.area_path.startswith(c.path)), scope)
            members = {
                "total": None,
                "unit": row.unit_id,
                "category": row.category_id,
                "area": row.area_id,
                "child": child.pk,
            }
            for kind, member in members.items():
                if kind == "unit" and member is None:
                    continue
                counts = Counter({n: getattr(row, n) for n in KIND_COUNTERS[kind]})
                if not +counts:
                    continue
                for grain in KIND_GRAINS[kind]:
                    key = (kind, grain, _block(row.day, grain), scope.pk, member)
                    out.setdefault(key, Counter()).update(counts)
    return {key: +counts for key, counts in out.items()}


def _stored() -> dict[tuple[Any, ...], Counter[str]]:
    out = {}
    for row in ScopeCount.objects.all():
        member = {
            "total": None,
            "unit": row.unit_id,
            "category": row.category_id,
            "area": row.place_id,
            "child": row.place_id,
        }[row.kind]
        out[row.kind, row.grain, row.period, row.area_id, member] = +Counter(
            {n: getattr(row, n) for n in COUNTERS}
        )
    return out


def _dashboard(user: User, filters: StatsFilters, period: str) -> dict[str, Any]:
    dash = dashboards.dashboard_for_user(user=user, filters=filters, period=period, now=END)
    out: dict[str, Any] = {
        "totals": dash.totals,
        "cards": [(c.rate.percent, c.previous.percent, c.change) for c in dash.cards],
        "small": dash.units_small.csv_rows(),
    }
    for name, panel in dash.panels.items():
        out[name] = (panel.table.csv_rows(), panel.chart)
    return out


def _from_daily_rows(monkeypatch: Any) -> None:
    monkeypatch.setattr(
        dashboards,
        "counts_for_user",
        lambda *, user, filters: StatsCounts(user=user, filters=filters),
    )


@pytest.mark.parametrize("seed", [1, 2])
def test_scope_rollups_equal_the_daily_rows_summed_after_catch_up_late_events_and_rebuilds(
    world, seed
):
    with time_machine.travel(START, tick=False) as traveller:
        # given lifecycles over a month's and a year's end, caught up in small batches
        _play(world, traveller, seed)
        expected = _expected()
        assert {key[2].year for key in expected} == {2026, 2027}
        assert sum(c["registered"] for k, c in expected.items() if k[:2] == ("total", "y")) > 10
        # then every scope rollup is its daily rows summed
        assert _stored() == expected

        # when a visit that started in December is recorded in January and caught up
        december = ("total", "m", date(2026, 12, 1), world.county.pk, None)
        before = expected[december]["visits"]
        _visit(world, area=world.grid_b, started=START + timedelta(days=3), mood=4)
        traveller.shift(timedelta(minutes=3))
        rollup_catch_up()
        # then December's rows take it, and still equal the daily rows
        assert _stored() == _expected()
        assert _stored()[december]["visits"] == before + 1

        # and a rebuild of the daily rows, or of the scope rollups from them, gives the same
        caught_up = _stored()
        rollup_rebuild()
        assert _stored() == caught_up == _expected()
        scope_counts_rebuild()
        assert _stored() == caught_up


def test_a_scope_rollups_rebuild_writes_nothing_for_nothing(world):
    assert scope_counts_rebuild() == 0
    assert not ScopeCount.objects.exists()


@pytest.fixture
def played(world):
    with time_machine.travel(START, tick=False) as traveller:
        _play(world, traveller, 3)
        yield world


CASES = [
    ("this_month", None),
    ("last_month", None),
    ("last_30_days", None),
    ("this_year", None),
    ("custom", (date(2026, 12, 24), date(2027, 1, 3))),  # odd days at both ends
    ("custom", (date(2026, 1, 7), date(2027, 1, 6))),  # twelve months
]


VIEWERS = ["leader", "officer", "town_filter", "village_filter"]


def test_leaders_statistics_from_the_scope_rollups_equal_those_from_the_daily_rows(
    played, monkeypatch
):
    world = played
    today = clock.today()
    for period, days in CASES:
        for viewer in VIEWERS:
            start, end = days or periods.period_dates(period, today=today)
            user = world.officer if viewer == "officer" else world.leader
            area = {"town_filter": world.town_b, "village_filter": world.village_a}.get(viewer)
            filters = StatsFilters(start, end, area=area)
            assert isinstance(counts_for_user(user=user, filters=filters), ScopeCounts)

            fast = _dashboard(user, filters, period)
            with monkeypatch.context() as patch:
                _from_daily_rows(patch)
                slow = _dashboard(user, filters, period)

            assert fast == slow, (period, viewer)
            assert fast["totals"]["registered"] > 0, (period, viewer)


def test_the_rates_api_reads_the_same_numbers_from_either(played, client, monkeypatch):
    filters = {"start": "2026-12-24", "end": "2027-01-03"}
    client.force_login(played.leader)
    fast = client.get("/api/v1/stats/rates", filters).json()
    monkeypatch.setattr(
        "wenxu.api.stats.counts_for_user",
        lambda *, user, filters: StatsCounts(user=user, filters=filters),
    )
    slow = client.get("/api/v1/stats/rates", filters).json()
    assert fast == slow
    assert fast["counts"]["registered"] > 0


def test_who_reads_the_scope_rollups_and_who_the_daily_rows(world):
    days = StatsFilters(date(2026, 12, 1), date(2026, 12, 31))
    grid_officer = User.objects.create_user(username="grid_officer", password="pw-grid")
    Membership.objects.create(user=grid_officer, role="officer", area=world.grid_a)

    def reads(user: User, **filters: Any) -> type:
        return type(
            counts_for_user(user=user, filters=StatsFilters(days.start, days.end, **filters))
        )

    # leaders and dispatchers of the county or a town, also with an area chosen
    assert reads(world.leader) is ScopeCounts
    assert reads(world.officer) is ScopeCounts
    assert reads(world.leader, area=world.village_a) is ScopeCounts
    # the daily rows: a unit scope, a scope or area below SCOPE_DEPTH, a unit or category
    assert reads(world.handler) is StatsCounts
    assert reads(grid_officer) is StatsCounts
    assert reads(world.leader, area=world.grid_a) is StatsCounts
    assert reads(world.leader, unit=world.housing) is StatsCounts
    assert reads(world.leader, category=world.cat_roads) is StatsCounts
    # an area outside the officer's town: nothing to add up, from the rollups
    outside = counts_for_user(
        user=world.officer, filters=StatsFilters(days.start, days.end, area=world.town_b)
    )
    assert isinstance(outside, ScopeCounts)
    assert outside.totals(days.start, days.end) == dict.fromkeys(COUNTERS, 0)


def _queries(user: User, filters: StatsFilters, period: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        dashboards.dashboard_for_user(user=user, filters=filters, period=period, now=END)
    return len(ctx.captured_queries)


def test_the_dashboard_costs_seven_queries_from_the_scope_rollups_however_much_they_hold(played):
    # given a leader whose scopes are already known (the page loads them for the menu)
    leader = User.objects.get(pk=played.leader.pk)
    scopes_for_user(leader)
    today = clock.today()
    month = StatsFilters(*periods.period_dates("this_month", today=today))
    year = StatsFilters(today - timedelta(days=364), today)
    # then: by day with the previous period's totals, the focus area, units, categories with
    # their names, areas, visits and the overdue board with its count: one query each
    assert _queries(leader, month, "this_month") == 7
    assert _queries(leader, year, "custom") == 7
    # and as many after a year's more rows
    for day in range(0, 360, 3):
        ScopeCount.objects.create(
            key=f"more-{day}",
            kind="unit",
            grain="m",
            period=(today - timedelta(days=day)).replace(day=1),
            area=played.county,
            unit=played.transport,
            replied_on_time=1,
        )
    assert _queries(leader, year, "custom") == 7


def _days(spans: list[periods.Span]) -> Counter[date]:
    """How many times each day counts in a cover."""
    out: Counter[date] = Counter()
    for span in spans:
        block = span.first
        while block <= span.last:
            first = block
            if span.grain == "y":
                last = block.replace(month=12, day=31)
                following = date(block.year + 1, 1, 1)
            elif span.grain == "m":
                following = (block.replace(day=28) + timedelta(days=4)).replace(day=1)
                last = following - timedelta(days=1)
            else:
                last, following = block, block + timedelta(days=1)
            day = first
            while day <= last:
                out[day] += span.sign
                day += timedelta(days=1)
            block = following
    return +out


def test_a_cover_counts_every_day_of_its_period_once_and_no_other(settings):
    rng = random.Random(7)
    today = date(2026, 11, 29)
    for _ in range(300):
        start = today - timedelta(days=rng.randint(-40, 1200))
        end = start + timedelta(days=rng.randint(0, 3 * 366))
        for costs in (selectors.TOTAL_COSTS, selectors.EDGE_COSTS):
            days = _days(periods.cover(start, end, today=today, costs=costs))
            assert days == Counter(
                start + timedelta(days=n) for n in range((end - start).days + 1)
            ), (start, end)


def test_a_cover_reads_few_blocks_for_the_periods_people_choose():
    today = date(2026, 11, 29)

    def blocks(start: date, end: date) -> list[tuple[str, str, int]]:
        spans = periods.cover(start, end, today=today, costs=selectors.EDGE_COSTS)
        return [(s.grain, f"{s.first}…{s.last}", s.sign) for s in spans]

    # this month: November less the days after today (nothing is counted there yet)
    assert blocks(date(2026, 11, 1), today) == [
        ("d", "2026-11-30…2026-11-30", -1),
        ("m", "2026-11-01…2026-11-01", 1),
    ]
    # the same days of last month: October less its last two days
    assert blocks(date(2026, 10, 1), date(2026, 10, 29)) == [
        ("d", "2026-10-30…2026-10-31", -1),
        ("m", "2026-10-01…2026-10-01", 1),
    ]
    # twelve months: a day, a month and this year so far
    assert blocks(today - timedelta(days=364), today) == [
        ("d", "2025-11-30…2025-11-30", 1),
        ("d", "2026-11-30…2026-11-30", -1),
        ("m", "2025-12-01…2025-12-01", 1),
        ("m", "2026-12-01…2026-12-01", -1),
        ("y", "2026-01-01…2026-01-01", 1),
    ]
    # at the ends of the calendar, no overflow
    assert blocks(date(9999, 12, 1), date(9999, 12, 31)) == [("m", "9999-12-01…9999-12-01", 1)]
    assert blocks(date(1, 1, 1), date(1, 1, 5)) == [("d", "0001-01-01…0001-01-05", 1)]


@pytest.mark.parametrize("tied", [True, False])
def test_the_area_ranking_reads_the_top_areas_and_every_area_tied_with_the_last(
    world, monkeypatch, tied
):
    # given seven grids with needs this month, all with as many (or each with more)
    grids = [
        Area.objects.create(name=f"网格{i}", level="grid", parent=world.village_a) for i in range(7)
    ]
    day = date(2026, 11, 10)
    for i, grid in enumerate(grids):
        plant(day, grid, registered=5 if tied else 5 + i, overdue=1)
    filters = StatsFilters(date(2026, 11, 1), date(2026, 11, 30))
    counts = counts_for_user(user=world.leader, filters=filters)
    assert isinstance(counts, ScopeCounts)

    # when the page ranks the top one by volume and by overdue needs
    found = counts.by_area(filters.start, filters.end, top=1)

    # then the areas tied with the first come too (the page orders ties by name); without
    # ties the first alone
    assert len(found) == (7 if tied else 1)
    monkeypatch.setattr(dashboards, "AREA_LIMIT", 1)
    with time_machine.travel(timezone.make_aware(datetime(2026, 11, 20, 9)), tick=False):
        fast = _dashboard(world.leader, filters, "custom")
        _from_daily_rows(monkeypatch)
        slow = _dashboard(world.leader, filters, "custom")
    assert fast["areas_volume"] == slow["areas_volume"]
    assert fast["areas_overdue"] == slow["areas_overdue"]
    assert fast["areas_volume"][0][1] == [
        "1",
        "东河村 · 网格0" if tied else "东河村 · 网格6",
        "5" if tied else "11",
        "1",
    ]


def test_a_unit_with_nothing_in_the_days_is_not_listed(world, monkeypatch):
    # given two units with needs in November: the roads unit's on the 2nd only
    plant(date(2026, 11, 2), world.grid_a, world.transport_roads, assigned=2, registered=2)
    plant(date(2026, 11, 10), world.grid_a, world.housing, assigned=1, registered=1)
    # when a leader reads the days from the 3rd to the end of the month (November's rollup
    # less its first two days, whose daily rows are read to be taken off)
    filters = StatsFilters(date(2026, 11, 3), date(2026, 11, 30))
    with time_machine.travel(timezone.make_aware(datetime(2026, 12, 5, 9)), tick=False):
        fast = _dashboard(world.leader, filters, "custom")
        _from_daily_rows(monkeypatch)
        slow = _dashboard(world.leader, filters, "custom")

    # then only the unit with a need in those days is listed, whichever rows are read
    def listed(dash: dict[str, Any]) -> list[str]:
        return [row[1] for row in dash["units"][0][1:]] + [row[0] for row in dash["small"][1:]]

    assert listed(fast) == listed(slow) == [world.housing.short_name or world.housing.name]
