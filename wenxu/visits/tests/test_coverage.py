"""走访覆盖: period windows, scope, the page's states, CSV, query counts and area sentiment."""

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conftest import World, _user
from wenxu.accounts.models import User
from wenxu.organisations.models import Area
from wenxu.visits import coverage, periods
from wenxu.visits.models import Place, Visit, VisitPlan

# --------------------------------------------------------------------------- windows


def test_month_quarter_and_year_windows_run_in_local_time():
    window = periods.quarter_window(date(2026, 11, 29))
    assert (window.first_day, window.last_day) == (date(2026, 10, 1), date(2026, 12, 31))
    # Local midnight in Asia/Shanghai is 16:00 UTC the day before.
    assert window.start.astimezone(UTC) == datetime(2026, 9, 30, 16, tzinfo=UTC)
    assert window.end.astimezone(UTC) == datetime(2026, 12, 31, 16, tzinfo=UTC)
    assert periods.month_window(date(2024, 2, 10)).last_day == date(2024, 2, 29)
    assert periods.year_window(date(2026, 5, 1)).first_day == date(2026, 1, 1)


@pytest.mark.parametrize(
    ("choice", "first", "last"),
    [
        ("this_month", date(2026, 1, 1), date(2026, 1, 31)),
        ("last_month", date(2025, 12, 1), date(2025, 12, 31)),
        ("this_quarter", date(2026, 1, 1), date(2026, 3, 31)),
        ("last_quarter", date(2025, 10, 1), date(2025, 12, 31)),
        ("this_year", date(2026, 1, 1), date(2026, 12, 31)),
    ],
)
def test_period_choices_name_the_window_around_today(choice, first, last):
    window = periods.window_for_choice(choice, today=date(2026, 1, 15))
    assert (window.first_day, window.last_day) == (first, last)


def _spans(
    period: str, first: date, last: date, starts: date, ends: date | None = None
) -> list[tuple[str, str]]:
    """A plan's periods in the window first..last, as (first day, last day) of each part."""
    window = periods.Window(first, last)
    spans = periods.plan_spans(period=period, starts_on=starts, ends_on=ends, window=window)
    return [(f"{s.first_day:%m-%d}", f"{s.last_day:%m-%d}") for s in spans]


def test_a_plans_periods_are_those_its_part_of_the_window_touches():
    q3 = (date(2026, 7, 1), date(2026, 9, 30))
    jan = date(2026, 1, 1)
    assert len(_spans("month", *q3, jan)) == 3
    assert _spans("quarter", *q3, jan) == [("07-01", "09-30")]
    assert _spans("year", *q3, jan) == [("07-01", "09-30")]
    # Two days across a quarter's end: two quarters, each cut to its day.
    edge = (date(2026, 9, 30), date(2026, 10, 1))
    assert _spans("quarter", *edge, jan) == [("09-30", "09-30"), ("10-01", "10-01")]
    # A monthly plan from 15 August to 10 September: August and September, cut to its dates.
    assert _spans("month", *q3, date(2026, 8, 15), date(2026, 9, 10)) == [
        ("08-15", "08-31"),
        ("09-01", "09-10"),
    ]
    # Dates that miss the window: no periods at all.
    assert _spans("month", *q3, date(2026, 10, 1)) == []
    assert _spans("year", *q3, jan, date(2026, 6, 30)) == []


# --------------------------------------------------------------------------- helpers


def _place(area: Area, name: str, *, active: bool = True, kind: str = "household") -> Place:
    return Place.objects.create(
        area=area,
        kind=kind,
        name=name,
        active=active,
        contact_name="张三丰",
        contact_phone="13812345678",
    )


def _visit(
    world: World,
    *,
    at: datetime,
    area: Area | None = None,
    place: Place | None = None,
    officers: tuple[User, ...] = (),
    kind: str = "home",
    mood: int = 3,
    **senses: int | None,
) -> Visit:
    visit = Visit.objects.create(
        client_uuid=uuid.uuid4(),
        payload_hash="x",
        kind=kind,
        area=area or (place.area if place else world.grid_a),
        place=place,
        started_at=at,
        mood=mood,
        recorded_by=world.officer,
        recorded_at=at,
        **senses,
    )
    visit.officers.set(officers or (world.officer,))
    return visit


NOW = datetime(2026, 11, 20, 10, tzinfo=timezone.get_default_timezone())


# --------------------------------------------------------------------------- scope


def test_handler_and_users_without_area_role_get_403(world: World, client: Client):
    for user in (world.handler, world.outsider):
        client.force_login(user)
        for url in ("/coverage/", "/coverage/plans/"):
            assert client.get(url).status_code == 403, (user, url)


def test_anonymous_is_sent_to_login(client: Client):
    response = client.get("/coverage/")
    assert response.status_code == 302
    assert "login" in response["Location"]


def test_area_outside_the_viewers_areas_answers_404(world: World, client: Client):
    client.force_login(world.officer)
    assert client.get("/coverage/", {"area": world.town_b.pk}).status_code == 404
    assert client.get("/coverage/", {"area": 999999}).status_code == 404
    assert client.get("/coverage/", {"area": "abc"}).status_code == 404
    assert client.get("/coverage/", {"grid": world.grid_b.pk}).status_code == 404
    assert client.get("/coverage/", {"area": world.village_a.pk}).status_code == 200


@time_machine.travel(NOW, tick=False)
def test_officer_sees_only_own_township_figures(world: World, client: Client):
    mine = _place(world.grid_a, "1号")
    theirs = _place(world.grid_b, "2号")
    _visit(world, at=NOW - timedelta(days=1), place=mine)
    _visit(world, at=NOW - timedelta(days=1), place=theirs, officers=(world.officer_b,))
    client.force_login(world.officer)
    report = client.get("/coverage/").context["report"]
    assert [row.area for row in report.grids] == [world.grid_a]
    assert (report.total.places, report.total.reached, report.total.visits) == (1, 1, 1)
    assert world.officer_b.pk not in {row.user.pk for row in report.officers}
    client.force_login(world.leader)
    report = client.get("/coverage/").context["report"]
    assert {row.area for row in report.grids} == {world.grid_a, world.grid_b}
    assert report.total.visits == 2


@time_machine.travel(NOW, tick=False)
def test_the_area_filter_narrows_to_a_subtree(world: World, client: Client):
    _place(world.grid_a, "1号")
    _place(world.grid_b, "2号")
    client.force_login(world.dispatcher)
    report = client.get("/coverage/", {"area": world.town_b.pk}).context["report"]
    assert [row.area for row in report.grids] == [world.grid_b]
    assert report.total.places == 1


# --------------------------------------------------------------------------- the page


@time_machine.travel(NOW, tick=False)
def test_empty_scope_shows_clear_empty_states(world: World, client: Client):
    client.force_login(world.officer)
    html = client.get("/coverage/").content.decode()
    assert "本期尚无走访计划" in html
    assert 'data-testid="no-officers"' not in html  # the officer of the township is listed
    assert "统计口径" in html


@time_machine.travel(NOW, tick=False)
def test_grid_rows_are_sorted_worst_first_and_open_the_unreached_list(world: World, client: Client):
    good = Area.objects.create(name="东河村第二网格", level="grid", parent=world.village_a)
    done = _place(good, "甲")
    missing = [_place(world.grid_a, f"{n}号") for n in range(3)]
    _place(world.grid_a, "已注销", active=False)
    _visit(world, at=NOW - timedelta(days=2), place=done)
    _visit(world, at=NOW - timedelta(days=1), place=missing[0])
    _visit(world, at=NOW - timedelta(days=200), place=missing[1])  # last quarter: not reached now
    client.force_login(world.officer)
    response = client.get("/coverage/")
    rows = response.context["report"].grids
    assert [(r.area, r.places, r.reached) for r in rows] == [(world.grid_a, 3, 1), (good, 1, 1)]
    assert rows[0].last_visit == NOW - timedelta(days=1)
    page = client.get("/coverage/", {"grid": world.grid_a.pk})
    html = page.content.decode()
    assert [p.pk for p in page.context["unreached"]] == [missing[1].pk, missing[2].pk]
    assert f'href="/places/{missing[1].pk}/"' in html
    assert "张**" in html
    assert "138****5678" in html
    assert "张三丰" not in html
    assert "13812345678" not in html
    all_done = client.get("/coverage/", {"grid": good.pk}).content.decode()
    assert "本期已全部走访" in all_done


@time_machine.travel(NOW, tick=False)
def test_custom_period_and_bad_dates(world: World, client: Client):
    place = _place(world.grid_a, "1号")
    _visit(world, at=NOW - timedelta(days=200), place=place)
    client.force_login(world.officer)
    start = timezone.localdate(NOW - timedelta(days=201)).isoformat()
    report = client.get(
        "/coverage/", {"period": "custom", "start": start, "end": "2026-11-20"}
    ).context["report"]
    assert report.total.reached == 1
    bad = client.get("/coverage/", {"period": "custom", "start": "2026-11-20", "end": "2026-01-01"})
    assert "结束日期不能早于开始日期" in bad.content.decode()
    assert bad.context["choice"] == "this_quarter"
    assert client.get("/coverage/", {"period": "nonsense"}).status_code == 200


@time_machine.travel(NOW, tick=False)
def test_csv_export_of_the_grid_table(world: World, client: Client):
    _visit(world, at=NOW - timedelta(days=1), place=_place(world.grid_a, "1号"), mood=4)
    _place(world.grid_a, "2号")
    client.force_login(world.officer)
    response = client.get("/coverage/", {"format": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    lines = response.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("网格,上级,在册对象")
    assert lines[1] == "东河村第一网格,东河村,2,1,1,50.0,1,2026-11-19,4.00"


@time_machine.travel(NOW, tick=False)
def test_plan_progress_bars_and_count_plan_by_officer(world: World, client: Client):
    helper = _user("officer_c", "张网格", ("officer", world.town_a))
    places = [_place(world.grid_a, f"{n}号") for n in range(4)]
    _visit(world, at=NOW - timedelta(days=3), place=places[0])
    _visit(world, at=NOW - timedelta(days=3), kind="forum", officers=(helper,))
    _visit(world, at=NOW - timedelta(days=2), kind="forum", officers=(world.officer, helper))
    cover = VisitPlan.objects.create(
        name="季度全覆盖",
        kind="coverage",
        period="quarter",
        area=world.town_a,
        starts_on=date(2026, 1, 1),
    )
    forums = VisitPlan.objects.create(
        name="每月座谈",
        kind="count",
        period="month",
        target=2,
        visit_kind="forum",
        area=world.town_a,
        officer=helper,
        starts_on=date(2026, 1, 1),
    )
    VisitPlan.objects.create(
        name="已停用",
        kind="count",
        period="month",
        target=2,
        area=world.town_a,
        active=False,
        starts_on=date(2026, 1, 1),
    )
    VisitPlan.objects.create(
        name="已结束",
        kind="count",
        period="month",
        target=2,
        area=world.town_a,
        starts_on=date(2026, 1, 1),
        ends_on=date(2026, 6, 30),
    )
    client.force_login(world.officer)
    response = client.get("/coverage/")
    progress = {p.plan.name: (p.done, p.planned) for p in response.context["report"].plans}
    assert progress == {"季度全覆盖": (1, 4), "每月座谈": (2, 6)}
    officers = {r.user.pk: r for r in response.context["report"].officers}
    assert officers[helper.pk].planned == 6
    assert officers[helper.pk].visits == 2
    html = response.content.decode()
    assert 'aria-valuenow="25"' in html
    assert 'aria-valuenow="33"' in html
    month = client.get("/coverage/", {"period": "this_month"}).context["report"].plans
    assert {p.plan.pk: (p.done, p.planned) for p in month} == {cover.pk: (1, 4), forums.pk: (2, 2)}


# --------------------------------------------------------------------------- performance


def _bulk(world: World, *, grids: int, per_grid: int, officers: int) -> None:
    users = [_user(f"o{grids}_{n}", f"干部{n}", ("officer", world.town_a)) for n in range(officers)]
    for g in range(grids):
        grid = Area.objects.create(name=f"网格{grids}-{g}", level="grid", parent=world.village_a)
        for n in range(per_grid):
            place = _place(grid, f"{n}号", kind=["household", "enterprise"][n % 2])
            if n % 3:
                _visit(
                    world,
                    at=NOW - timedelta(days=n + 1),
                    place=place,
                    officers=(users[(g + n) % officers],),
                )
        VisitPlan.objects.create(
            name=f"计划{g}",
            kind=["coverage", "count"][g % 2],
            period="month",
            area=grid,
            target=2,
            officer=users[g % officers],
            starts_on=date(2026, 1, 1),
        )


@time_machine.travel(NOW, tick=False)
def test_coverage_page_uses_a_constant_number_of_queries(
    world: World, client: Client, django_assert_max_num_queries
):
    client.force_login(world.dispatcher)
    _bulk(world, grids=2, per_grid=3, officers=2)
    with CaptureQueriesContext(connection) as small:
        assert client.get("/coverage/", {"grid": world.grid_a.pk}).status_code == 200
    _bulk(world, grids=12, per_grid=9, officers=7)
    with django_assert_max_num_queries(len(small)):
        response = client.get("/coverage/", {"grid": world.grid_a.pk})
    assert len(response.context["report"].grids) > 14
    with django_assert_max_num_queries(len(small)):
        client.get("/coverage/", {"format": "csv"})


# --------------------------------------------------------------------------- sentiment


def test_area_sentiment_averages_each_subtree_ignoring_blanks(world: World):
    at = NOW - timedelta(days=1)
    _visit(world, at=at, mood=5, sense_gain=4, sense_happiness=None, sense_security=5)
    _visit(world, at=at, mood=2, sense_gain=2, sense_happiness=3, sense_security=None)
    _visit(world, at=at, area=world.grid_b, mood=1, officers=(world.officer_b,))
    _visit(world, at=at - timedelta(days=400), mood=1)  # outside the window
    areas = [world.county, world.town_a, world.grid_a, world.town_b, world.village_b]
    found = coverage.area_sentiment(
        areas=areas, start=at - timedelta(days=30), end=at + timedelta(hours=1)
    )
    town_a = found[world.town_a.pk]
    assert (town_a.visits, town_a.mood, town_a.mood_n) == (2, 3.5, 2)
    assert (town_a.gain, town_a.gain_n) == (3.0, 2)
    assert (town_a.happiness, town_a.happiness_n) == (3.0, 1)
    assert (town_a.security, town_a.security_n) == (5.0, 1)
    assert found[world.grid_a.pk].visits == 2
    assert found[world.county.pk].visits == 3
    assert found[world.county.pk].mood == pytest.approx(8 / 3)
    assert found[world.village_b.pk].mood == 1.0
    assert coverage.area_sentiment(areas=[], start=at, end=at) == {}


@time_machine.travel(NOW, tick=False)
def test_coverage_page_shows_the_sentiment_of_the_scope_and_its_parts(world: World, client: Client):
    _visit(world, at=NOW - timedelta(days=1), mood=4, sense_gain=5)
    client.force_login(world.officer)
    response = client.get("/coverage/")
    rows = {item["area"].pk: item["s"] for item in response.context["sentiments"]}
    assert set(rows) == {world.town_a.pk, world.village_a.pk}
    assert rows[world.town_a.pk].gain == 5.0
    assert "获得感" in response.content.decode()
