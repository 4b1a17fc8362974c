"""/stats/: the leader overview, its scoping, the unit ranking rules, CSVs and query counts.

Most tests write rollup rows directly (what the rollups hold is tested in test_rollups.py):
the page must show exactly those rows, whoever looks, for any period.
"""

import csv
import io
import re
from datetime import date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from wenxu.insight import dashboards, periods, ranking
from wenxu.insight.tests.planting import plant
from wenxu.needs.services import need_assign
from wenxu.needs.sweeps import sweep
from wenxu.organisations.models import Area, Unit

TODAY = date(2026, 11, 18)  # a Wednesday
NOON = timezone.make_aware(datetime(2026, 11, 18, 12, 0))
CHARTS = (
    "rates",
    "trend_volume",
    "trend_rates",
    "units",
    "units_small",
    "categories",
    "areas_volume",
    "areas_overdue",
    "satisfaction",
    "mood",
    "coverage",
)


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(NOON, tick=False):
        yield


@pytest.fixture(autouse=True)
def _no_sending(monkeypatch):
    monkeypatch.setattr("wenxu.notify.sending.send_due", lambda **kwargs: 0)


def count(day, area, unit=None, category=None, **counters):
    """One rollup row, as the sweep would have written it (with its scope rollups)."""
    return plant(day, area, unit, category, **counters)


def stats(client, user, **params):
    client.force_login(user)
    response = client.get("/stats/", params)
    assert response.status_code == 200
    return response


def rate_values(response):
    """{rate name: the percentage shown on its card}."""
    html = response.content.decode()
    return dict(
        re.findall(r'data-testid="rate-(\w+)".*?data-rate-value="([^"]+)"', html, flags=re.S)
    )


class _Tables(HTMLParser):
    """The cells of every <table data-table="…"> (rows marked data-empty left out)."""

    def __init__(self):
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._name: str | None = None
        self._row: list[str] | None = None
        self._cell: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table" and "data-table" in a:
            self._name = a["data-table"]
            self.tables[self._name] = []
        elif self._name and tag == "tr" and "data-empty" not in a:
            self._row = []
        elif self._row is not None and tag in ("td", "th"):
            self._cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(self._cell.strip())
            self._cell = None
        elif tag == "tr" and self._row is not None and self._name is not None:
            self.tables[self._name].append(self._row)
            self._row = None
        elif tag == "table":
            self._name = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


def tables(response):
    parser = _Tables()
    parser.feed(response.content.decode())
    return parser.tables


def custom(start, end, **more):
    return {"period": "custom", "start": start.isoformat(), "end": end.isoformat(), **more}


# --------------------------------------------------------------------------- scope


def test_leader_counts_the_county_a_handler_only_their_unit_and_an_outsider_nothing(client, world):
    # given on-time work by 住建局 in 东河镇 and by 交通局 in 西岭乡
    day = TODAY - timedelta(days=3)
    count(day, world.grid_a, world.housing, replied_on_time=8, overdue=2, callbacks=4, satisfied=4)
    count(day, world.grid_b, world.transport, replied_on_time=1, overdue=3, callbacks=1)
    # then the leader sees both units, the housing handler only 住建局, the outsider nothing
    assert rate_values(stats(client, world.leader))["ontime_rate"] == "64.3%"  # 9 / 14
    assert rate_values(stats(client, world.handler))["ontime_rate"] == "80.0%"  # 8 / 10
    assert rate_values(stats(client, world.handler_other))["ontime_rate"] == "25.0%"  # 1 / 4
    assert rate_values(stats(client, world.officer_b))["satisfaction_rate"] == "0.0%"  # 0 / 1
    outsider = stats(client, world.outsider)
    assert set(rate_values(outsider).values()) == {"—"}
    assert "还没有负责的区域或单位" in outsider.content.decode()
    assert "县住建局" not in "".join(
        "".join(row) for rows in tables(outsider).values() for row in rows
    )


def test_the_page_shows_the_numbers_the_api_gives_for_the_same_filters(client, world):
    day = TODAY - timedelta(days=40)
    count(
        day,
        world.grid_a,
        world.housing,
        world.cat_roads,
        accepted_on_time=7,
        response_overdue=2,
        replied_on_time=5,
        overdue=1,
        callbacks=6,
        resolved=3,
        partly_resolved=1,
        unresolved=2,
        very_satisfied=2,
        satisfied=1,
        basic_satisfied=1,
        dissatisfied=2,
        unreachable=2,
    )
    count(
        day,
        world.grid_b,
        world.transport,
        world.cat_water,
        accepted_on_time=1,
        replied_on_time=2,
        callbacks=1,
        very_satisfied=1,
    )
    for user, params in (
        (world.leader, {}),
        (world.leader, {"area": world.town_a.pk}),
        (world.leader, {"unit": world.transport.pk}),
        (world.dispatcher, {"category": world.cat_roads.pk}),
        (world.handler, {}),
    ):
        filters = custom(day - timedelta(days=1), day + timedelta(days=1), **params)
        page = rate_values(stats(client, user, **filters))
        api_params = {k: v for k, v in filters.items() if k != "period"}
        api = client.get("/api/v1/stats/rates", api_params).json()
        assert page == {name: api[name]["percent"] for name in ranking.RATE_NAMES}, params


# --------------------------------------------------------------------------- change


def test_each_rate_shows_its_change_against_the_previous_period_of_the_same_length(client, world):
    # given the 10 days up to today, and the 10 days before them
    count(
        TODAY - timedelta(days=2),
        world.grid_a,
        world.housing,
        replied_on_time=9,
        overdue=1,
        accepted_on_time=5,
        response_overdue=5,
    )
    count(
        TODAY - timedelta(days=12),
        world.grid_a,
        world.housing,
        replied_on_time=6,
        overdue=4,
        accepted_on_time=8,
        response_overdue=2,
    )
    # a day just outside both periods counts in neither
    count(TODAY - timedelta(days=20), world.grid_a, world.housing, overdue=50)
    # when the leader looks at the last 10 days
    response = stats(client, world.leader, **custom(TODAY - timedelta(days=9), TODAY))
    html = response.content.decode()
    # then 按期办结率 rose from 60 % to 90 % and 响应率 fell from 80 % to 50 %
    assert re.search(r'data-testid="change-ontime_rate">▲ 30.0 个百分点<', html)
    assert re.search(r'data-testid="change-response_rate">▼ 30.0 个百分点<', html)
    assert re.search(r'data-testid="change-satisfaction_rate">上期无可比数据<', html)
    assert "2026-10-30 至 2026-11-08" in html  # the previous period is named
    assert tables(response)["rates"][2][1:6] == ["90.0%", "9", "10", "60.0%", "+30.0"]


# --------------------------------------------------------------------------- ranking


def _units(world):
    extra = {
        name: Unit.objects.create(name=name, short_name=name, kind="department")
        for name in ("县水利局", "县民政局", "县教育局")
    }
    day = TODAY - timedelta(days=5)
    # 住建局: 7 of 10 on time → below 80 %, flagged
    count(day, world.grid_a, world.housing, assigned=12, replied_on_time=7, overdue=3)
    # 水利局: 9 of 10 → first
    count(day, world.grid_a, extra["县水利局"], assigned=10, replied_on_time=9, overdue=1)
    # 民政局: 4 of 5 (80 %): exactly at the threshold, not flagged
    count(day, world.grid_a, extra["县民政局"], assigned=30, replied_on_time=4, overdue=1)
    # 交通局: 0 of 1, and 教育局: 4 of 4: too few to rank either way
    count(day, world.grid_b, world.transport, assigned=1, overdue=1)
    count(day, world.grid_b, extra["县教育局"], assigned=4, replied_on_time=4)
    return custom(day, day)


def test_units_are_ranked_flagged_below_the_threshold_and_small_ones_listed_apart(client, world):
    response = stats(client, world.leader, **_units(world))
    found = tables(response)
    ranked = found["units"][1:]
    assert [(row[0], row[1], row[5], row[-1]) for row in ranked] == [
        ("1", "县水利局", "90.0%", ""),
        ("2", "县民政局", "80.0%", ""),
        ("3", "县住建局", "70.0%", "按期办结率低于 80%"),
    ]
    assert response.content.decode().count("data-flagged") == 1
    small = found["units_small"][1:]
    assert sorted(row[0] for row in small) == ["县交通局", "县教育局"]
    assert "件数较少，暂不排名" in response.content.decode()


def test_the_ranking_sorts_by_the_chosen_measure_on_the_server(client, world):
    filters = _units(world)
    by_volume = tables(stats(client, world.leader, sort="volume", **filters))["units"][1:]
    assert [row[1] for row in by_volume] == ["县民政局", "县住建局", "县水利局"]
    # an unknown sort says so and keeps the default order
    response = stats(client, world.leader, sort="nonsense", **filters)
    assert "未知的排序方式" in response.content.decode()
    assert tables(response)["units"][1][1] == "县水利局"


# --------------------------------------------------------------------------- CSV


def test_every_charts_csv_holds_exactly_its_table(client, world):
    filters = _units(world)
    day = TODAY - timedelta(days=5)
    count(
        day,
        world.grid_b,
        None,
        world.cat_water,
        registered=3,
        visits=2,
        households_reached=2,
        mood_total=7,
    )
    count(
        day,
        world.grid_a,
        None,
        world.cat_roads,
        registered=5,
        visits=1,
        households_reached=1,
        mood_total=4,
        callbacks=2,
        very_satisfied=1,
        dissatisfied=1,
    )
    shown = tables(stats(client, world.leader, **filters))
    for name in CHARTS:
        response = client.get("/stats/", {**filters, "format": "csv", "chart": name})
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        body = response.content.decode("utf-8")
        assert body.startswith("\ufeff"), name
        rows = list(csv.reader(io.StringIO(body[1:])))
        assert rows == shown[name], name
        assert len(rows) > 1, f"{name} has no data rows: the test would prove little"
    assert client.get("/stats/", {"format": "csv", "chart": "nope"}).status_code == 404


# --------------------------------------------------------------------------- periods


@pytest.mark.parametrize(
    ("period", "start", "end", "previous"),
    [
        # the same number of days just before
        (
            "last_30_days",
            date(2026, 10, 20),
            date(2026, 11, 18),
            (date(2026, 9, 20), date(2026, 10, 19)),
        ),
        # calendar periods: the calendar period before, cut to as many days
        (
            "this_month",
            date(2026, 11, 1),
            date(2026, 11, 18),
            (date(2026, 10, 1), date(2026, 10, 18)),
        ),
        (
            "last_month",
            date(2026, 10, 1),
            date(2026, 10, 31),
            (date(2026, 9, 1), date(2026, 9, 30)),
        ),
        (
            "this_quarter",
            date(2026, 10, 1),
            date(2026, 11, 18),
            (date(2026, 7, 1), date(2026, 8, 18)),
        ),
        (
            "this_year",
            date(2026, 1, 1),
            date(2026, 11, 18),
            (date(2025, 1, 1), date(2025, 11, 18)),
        ),
    ],
)
def test_period_presets_name_their_days_and_the_period_they_compare_with(
    client, world, period, start, end, previous
):
    html = stats(client, world.leader, period=period).content.decode()
    assert f'data-start="{start:%Y-%m-%d}"' in html
    assert f'data-end="{end:%Y-%m-%d}"' in html
    assert f"{previous[0]:%Y-%m-%d} 至 {previous[1]:%Y-%m-%d}" in html
    assert periods.previous_period(start, end, period) == previous


def test_a_calendar_period_is_compared_with_the_one_before_cut_to_fit():
    # 本月 on 31 March: all of February (it has no 29th–31st)
    assert periods.previous_period(date(2026, 3, 1), date(2026, 3, 31), "this_month") == (
        date(2026, 2, 1),
        date(2026, 2, 28),
    )
    # a custom period keeps "the same length just before"
    assert periods.previous_period(date(2026, 10, 1), date(2026, 10, 31), "custom") == (
        date(2026, 8, 31),
        date(2026, 9, 30),
    )


def test_last_month_on_stats_shows_the_same_changes_as_that_months_report(client, world):
    # given October, September, and 31 August (in "the 31 days before" but not in September)
    count(date(2026, 10, 5), world.grid_a, world.housing, replied_on_time=9, overdue=1,
          accepted_on_time=6, response_overdue=4, callbacks=4, satisfied=3,
          dissatisfied=1)  # fmt: skip
    count(date(2026, 9, 5), world.grid_a, world.housing, replied_on_time=6, overdue=4,
          accepted_on_time=8, response_overdue=2, callbacks=2, satisfied=2)  # fmt: skip
    count(date(2026, 8, 31), world.grid_a, world.housing, overdue=40, callbacks=10, dissatisfied=10)
    # when the leader opens /stats/ for last month and the report of October
    shown = tables(stats(client, world.leader, period="last_month"))["rates"][1:]
    report = tables(client.get("/stats/report/", {"month": "2026-10"}))["rates"][1:]
    # then both compare with September: the same previous rates and changes, rate by rate
    same = {"持平": "+0.0"}  # the report words no change
    assert [(row[0], row[1], row[4], row[5]) for row in shown] == [
        (row[0], row[1], row[3], same.get(row[4], row[4])) for row in report
    ]
    assert shown[1][4:6] == ["60.0%", "+30.0"]  # 按期办结率 90 % against September's 60 %


def test_presets_follow_the_clock_over_a_year_end():
    today = date(2027, 1, 5)
    assert periods.period_dates("last_month", today=today) == (
        date(2026, 12, 1),
        date(2026, 12, 31),
    )
    assert periods.period_dates("this_quarter", today=today) == (date(2027, 1, 1), today)
    assert periods.previous_period(date(2027, 1, 1), date(2027, 1, 5), "this_month") == (
        date(2026, 12, 1),
        date(2026, 12, 5),
    )
    assert periods.previous_period(date(2027, 1, 1), date(2027, 1, 5)) == (
        date(2026, 12, 27),
        date(2026, 12, 31),
    )


def test_the_default_is_the_last_30_days_like_the_api(client, world):
    html = stats(client, world.leader).content.decode()
    assert 'data-start="2026-10-20"' in html


def test_bad_period_and_unknown_filters_are_explained_and_the_page_still_shows(client, world):
    response = stats(client, world.leader, **custom(TODAY, TODAY - timedelta(days=3)))
    html = response.content.decode()
    assert "开始日期不能晚于结束日期" in html
    assert 'data-start="2026-10-20"' in html  # fell back to the default
    html = stats(client, world.leader, period="custom", start="2026-13-01").content.decode()
    assert "日期格式不正确" in html
    html = stats(client, world.leader, area=999999, unit="x").content.decode()
    assert "没有这个区域" in html
    assert "责任单位参数无效" in html


def test_an_area_or_unit_outside_the_viewers_scope_is_dropped_and_never_named(client, world):
    # given an area of 西岭乡 (outside the 东河镇 officer's areas) and a unit no handler of
    secret = Area.objects.create(name="保密片区", level="village", parent=world.town_b)
    far = Unit.objects.create(name="外县机关", short_name="外县机关", kind="department")
    count(TODAY, secret, world.housing, registered=4)
    # when the 东河镇 officer asks for that area, and the housing handler for another unit
    html = stats(client, world.officer, area=secret.pk).content.decode()
    # then the area is dropped with a reason, and its name appears nowhere on the page
    assert "没有这个区域，或它不在你的权限范围内" in html
    assert "保密片区" not in html
    assert f'value="{secret.pk}" selected' not in html
    html = stats(client, world.handler, unit=far.pk).content.decode()
    assert "没有这个责任单位，或它不在你的权限范围内" in html
    title = found_h1(html)
    assert "外县机关" not in title  # (the unit picker lists every unit, as the ledger's does)
    assert "县住建局" not in title


def found_h1(html):
    match = re.search(r"<h1[^>]*>(.*?)</h1>", html, flags=re.S)
    assert match is not None
    return match[1]


def test_long_periods_trend_per_week(client, world):
    count(date(2026, 3, 4), world.grid_a, world.housing, registered=2)  # a Wednesday
    found = tables(stats(client, world.leader, period="this_year"))
    weeks = found["trend_volume"][1:]
    assert weeks[0][0] == "2025-12-29 起一周"  # the week 1 January falls in
    assert ["2026-03-02 起一周", "2", "0", "0"] in weeks
    daily = tables(stats(client, world.leader, period="last_month"))["trend_volume"][1:]
    assert len(daily) == 31


# --------------------------------------------------------------------------- the other panels


def test_category_mix_areas_satisfaction_mood_and_coverage(client, world):
    day = TODAY - timedelta(days=2)
    count(
        day,
        world.grid_a,
        None,
        world.cat_roads,
        registered=4,
        visits=2,
        households_reached=2,
        mood_total=9,
    )
    count(
        day,
        world.grid_b,
        None,
        world.cat_water,
        registered=1,
        visits=1,
        households_reached=1,
        mood_total=2,
    )
    count(day, world.village_b, None, None, registered=2)
    count(
        day,
        world.grid_b,
        world.housing,
        world.cat_water,
        overdue=3,
        callbacks=3,
        very_satisfied=1,
        basic_satisfied=2,
    )
    found = tables(stats(client, world.leader, period="this_month"))
    # both sub-categories count under their top-level category; needs without one apart
    assert found["categories"][1:] == [["城乡建设", "5", "71.4%"], ["未分类", "2", "28.6%"]]
    # with a category chosen, its own sub-categories
    chosen = tables(stats(client, world.leader, period="this_month", category=world.cat_roads.pk))
    assert chosen["categories"][1:] == [["道路与照明", "4", "100.0%"]]
    assert found["areas_volume"][1:] == [
        ["1", "东河村 · 东河村第一网格", "4", "0"],
        ["2", "西岭乡 · 西岭村", "2", "0"],
        ["3", "西岭村 · 西岭村第一网格", "1", "3"],
    ]
    assert found["areas_overdue"][1:] == [["1", "西岭村 · 西岭村第一网格", "1", "3"]]
    assert found["satisfaction"][1] == ["非常满意", "1", "33.3%"]
    assert found["satisfaction"][3] == ["基本满意", "2", "66.7%"]
    # 民情温度 and coverage per township of the leader's county
    assert found["coverage"][1:] == [["东河镇", "2", "2", "4.50"], ["西岭乡", "1", "1", "2.00"]]
    assert found["mood"][0] == ["周", "东河镇", "西岭乡"]
    assert ["2026-11-16 起一周", "4.50", "2.00"] in found["mood"]


def test_the_overdue_board_lists_live_overdue_needs_in_scope_oldest_first(client, world):
    # given two needs of 住建局 past their deadline (the older first) and one of 交通局
    with time_machine.travel(NOON - timedelta(days=30), tick=False):
        older = world.assigned(title="较早超期")
    with time_machine.travel(NOON - timedelta(days=20), tick=False):
        newer = world.assigned(title="较晚超期")
        other = world.assigned(title="交通局超期", lead=world.transport)
    world.assigned(title="尚未到期")
    sweep()
    html = stats(client, world.leader).content.decode()
    board = html[html.index('data-testid="overdue-board"') :]
    assert board.index(older.number) < board.index(newer.number) < board.index(other.number)
    assert "尚未到期" not in board
    assert f'href="/needs/{older.number}/"' in board
    assert "超期 " in board
    mine = stats(client, world.handler_other).content.decode()
    board = mine[mine.index('data-testid="overdue-board"') :]
    assert other.number in board
    assert older.number not in board


def test_the_nav_links_statistics_for_leaders_dispatchers_and_admins(client, world):
    for user, shown in (
        (world.leader, True),
        (world.dispatcher, True),
        (world.admin, True),
        (world.handler, False),
        (world.officer, False),
    ):
        client.force_login(user)
        html = client.get("/ledger/").content.decode()
        assert ('href="/stats/"' in html) is shown, user.username


def test_the_page_needs_a_login(client, world):
    response = client.get("/stats/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_charts_carry_their_data_as_json_and_no_inline_script(client, world):
    count(TODAY, world.grid_a, world.housing, registered=1)
    html = stats(client, world.leader).content.decode()
    for name in CHARTS:
        if name in ("rates", "units_small"):
            continue
        assert f'data-wx-chart="chart-{name}"' in html, name
        assert f'<script id="chart-{name}" type="application/json">' in html, name
    inline = re.findall(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", html)
    assert inline == []
    assert "style=" not in html


# --------------------------------------------------------------------------- queries


def _spread(world, *, days, areas, units, tag):
    """Rows over many days, grids and units."""
    grids = [
        Area.objects.create(name=f"网格{tag}{i}", level="grid", parent=world.village_a)
        for i in range(areas)
    ]
    more = [
        Unit.objects.create(name=f"单位{tag}{i}", short_name=f"单位{tag}{i}", kind="department")
        for i in range(units)
    ]
    for d in range(days):
        for i, grid in enumerate(grids):
            unit = more[(d + i) % len(more)]
            count(
                TODAY - timedelta(days=d),
                grid,
                unit,
                world.cat_roads,
                registered=1,
                replied_on_time=2,
                overdue=1,
                visits=1,
                households_reached=1,
                mood_total=3,
            )


def _queries(client, user, **params):
    client.force_login(user)
    client.get("/stats/", params)  # warm: the session, the site's caches
    with CaptureQueriesContext(connection) as ctx:
        assert client.get("/stats/", params).status_code == 200
    return len(ctx.captured_queries)


def test_the_page_costs_the_same_queries_however_many_days_areas_and_units(
    client, world, django_assert_max_num_queries
):
    _spread(world, days=2, areas=1, units=1, tag="甲")
    few = _queries(client, world.leader, period="this_year")
    _spread(world, days=40, areas=6, units=5, tag="乙")
    many = _queries(client, world.leader, period="this_year")
    assert many == few
    filtered = {
        "period": "last_month",
        "area": world.town_a.pk,
        "unit": world.housing.pk,
        "category": world.cat_water.pk,
    }
    # each filter is looked up by the page and again by the needs' selector for the board
    assert _queries(client, world.leader, **filtered) <= few + 6
    client.force_login(world.leader)
    with django_assert_max_num_queries(24):
        client.get("/stats/", {"period": "this_year"})
    with django_assert_max_num_queries(24):
        client.get("/stats/", {"period": "this_year", "format": "csv", "chart": "units"})


# --------------------------------------------------------------------------- review fixes


def test_a_unit_is_ranked_by_a_rate_only_with_enough_cases_behind_that_rate(client, world):
    # given 水利局 with 6 deadlines but a single (satisfied) callback, and 住建局 with 5 callbacks
    water = Unit.objects.create(name="县水利局", short_name="县水利局", kind="department")
    day = TODAY - timedelta(days=5)
    count(day, world.grid_a, water, assigned=6, replied_on_time=6, callbacks=1, satisfied=1)
    count(day, world.grid_a, world.housing, assigned=6, replied_on_time=5, overdue=1,
          callbacks=5, satisfied=4, dissatisfied=1)  # fmt: skip
    # when the ranking is sorted by 满意率
    response = stats(client, world.leader, sort="satisfaction_rate", **custom(day, day))
    found = tables(response)
    # then 水利局's 100 % on one callback is not ranked: it is listed apart
    assert [row[1] for row in found["units"][1:]] == ["县住建局"]
    assert [row[0] for row in found["units_small"][1:]] == ["县水利局"]
    assert "满意率的分母不足 5 件的单位另列" in response.content.decode()
    # and by 按期办结率 both have 6 deadlines: both ranked, 水利局 first
    found = tables(stats(client, world.leader, **custom(day, day)))
    assert [row[1] for row in found["units"][1:]] == ["县水利局", "县住建局"]


def test_the_overdue_board_filtered_by_unit_lists_only_what_the_unit_led(client, world):
    # given an overdue need led by 交通局 with 住建局 as co unit, and one 住建局 led
    with time_machine.travel(NOON - timedelta(days=30), tick=False):
        led = world.assigned(title="住建局牵头")
        need = world.register(title="交通局牵头")
        need = need_assign(actor=world.dispatcher, need=need, version=need.version,
                           lead_unit=world.transport, co_units=[world.housing])  # fmt: skip
    sweep()
    # when the leader filters /stats/ by 住建局
    html = stats(client, world.leader, unit=world.housing.pk).content.decode()
    board = html[html.index('data-testid="overdue-board"') :]
    # then the board holds what 住建局 led only, as the ranking counts, and says so
    assert led.number in board
    assert need.number not in board
    assert 'data-testid="overdue-total">1<' in board
    assert "牵头办理的诉求" in board


def test_names_that_look_like_formulas_or_markup_stay_text(client, world):
    # given a unit named like a formula and an area named like markup, both with numbers
    unit = Unit.objects.create(name='=HYPERLINK("x")', short_name="", kind="department")
    area = Area.objects.create(name="</style><script>x</script>", level="village",
                               parent=world.town_a)  # fmt: skip
    day = TODAY - timedelta(days=2)
    count(day, area, unit, registered=3, assigned=3, replied_on_time=5, visits=1, mood_total=3)
    filters = custom(day, day)
    # then the page escapes the area's name, and the CSV cell cannot run as a formula
    html = stats(client, world.leader, **filters).content.decode()
    assert "<script>x" not in html
    assert "&lt;script&gt;x" in html
    html = stats(client, world.leader, area=area.pk, **filters).content.decode()
    assert "<script>x" not in html
    body = client.get("/stats/", {**filters, "format": "csv", "chart": "units"}).content
    rows = list(csv.reader(io.StringIO(body.decode("utf-8")[1:])))
    assert rows[1][1] == '\'=HYPERLINK("x")'


def test_the_charts_words_come_from_the_page_in_its_language(client, world):
    html = stats(client, world.leader).content.decode()
    assert re.search(r'data-wx-stats-text data-week="周" data-no-data="本期暂无数据"', html)
    # and stats.js itself holds no Chinese outside its comments
    script = (Path(dashboards.__file__).parent / "static/insight/stats.js").read_text()
    code = re.sub(r"/\*.*?\*/|//[^\n]*", "", script, flags=re.S)
    assert not re.search(r"[\u4e00-\u9fff]", code)
