"""Acceptance: every number the coverage page shows equals a direct count over the raw rows.

Random areas, places, visits and plans (several grids, several officers, visits inside and
outside the window and on its edges, inactive places, places in another township out of the
viewer's scope; plans starting and ending inside the window, monthly, quarterly and yearly), over
a whole quarter and over a custom run of days across two quarters. The expected figures are
computed below in plain Python from the rows, one definition at a time, without any grouping by
the database and without the code under test (local days and period keys are worked out here).
"""

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from html.parser import HTMLParser
from random import Random
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from conftest import World, _user
from wenxu.accounts.models import User
from wenxu.organisations.models import Area
from wenxu.visits import coverage
from wenxu.visits.models import Place, PlaceKind, Visit, VisitKind, VisitPlan

# Windows: a whole quarter, and a custom run of days across two quarters.
WINDOWS = {
    "quarter": (date(2026, 7, 1), date(2026, 9, 30)),
    "across": (date(2026, 8, 15), date(2026, 11, 10)),
}


@dataclass
class Seeded:
    officers: list[User]
    grids: list[Area]


def _aware(day: date, hour: int = 0) -> datetime:
    return timezone.make_aware(datetime(day.year, day.month, day.day, hour))


def seed(world: World, rng: Random, first: date, last: date) -> Seeded:
    # Areas: more grids under 东河镇, a second village, and an un-gridded village with places.
    village_c = Area.objects.create(name="石桥村", level="village", parent=world.town_a)
    flat = Area.objects.create(name="杨柳村", level="village", parent=world.town_a)
    grids = [world.grid_a, world.grid_b]
    for i in range(rng.randint(2, 4)):
        grids.append(
            Area.objects.create(name=f"东河村网格{i + 2}", level="grid", parent=world.village_a)
        )
    for i in range(rng.randint(1, 3)):
        grids.append(Area.objects.create(name=f"石桥村网格{i + 1}", level="grid", parent=village_c))
    grids.append(Area.objects.create(name="西岭村第二网格", level="grid", parent=world.village_b))
    empty_grid = Area.objects.create(name="石桥村空网格", level="grid", parent=village_c)
    holders = [*grids, flat]

    officers = [
        world.officer,
        world.officer_b,
        _user("officer_c", "张网格", ("officer", world.town_a)),
        _user("officer_d", "赵网格", ("officer", world.village_a)),
        world.dispatcher,
    ]
    places: list[Place] = []
    for area in holders:
        for n in range(rng.randint(0, 7)):
            places.append(
                Place.objects.create(
                    area=area,
                    kind=rng.choice(PlaceKind.values),
                    name=f"{area.name}-{n}",
                    contact_name="张三",
                    contact_phone="13800001234",
                    active=rng.random() > 0.15,
                )
            )
    all_areas = list(Area.objects.all())
    start, end = _aware(first), _aware(last + timedelta(days=1))
    edges = [start, end - timedelta(microseconds=1), end]
    for i in range(rng.randint(60, 140)):
        place = rng.choice(places) if places and rng.random() < 0.75 else None
        if place is not None:
            parent = Area.objects.get(pk=place.area.parent_id or place.area_id)
            area = place.area if rng.random() < 0.8 else parent
        else:
            area = rng.choice(all_areas)
        if rng.random() < 0.1:
            started = rng.choice(edges)
        else:
            started = start + timedelta(hours=rng.uniform(-24 * 80, 24 * 130))
        visit = Visit.objects.create(
            client_uuid=uuid.UUID(int=rng.getrandbits(128)),
            payload_hash="x",
            kind=rng.choice(VisitKind.values),
            area=area,
            place=place,
            started_at=started,
            mood=rng.randint(1, 5),
            sense_gain=rng.choice([None, 1, 2, 3, 4, 5]),
            sense_happiness=rng.choice([None, 3, 4, 5]),
            sense_security=rng.choice([None, None, 2, 5]),
            recorded_by=world.officer,
            recorded_at=started,
        )
        visit.officers.set(rng.sample(officers, rng.randint(1, 2)))
        del i
    # Plans: in and out of scope, active or not, overlapping the window or not.
    plan_areas = [world.town_a, world.village_a, village_c, flat, world.town_b, *grids[:3]]
    for i in range(rng.randint(6, 12)):
        kind = rng.choice(["coverage", "count"])
        starts = first + timedelta(days=rng.randint(-200, 120))
        VisitPlan.objects.create(
            name=f"计划{i}",
            kind=kind,
            period=rng.choice(["month", "quarter", "year"]),
            area=rng.choice(plan_areas),
            place_kind=rng.choice(["", *PlaceKind.values]) if kind == "coverage" else "",
            visit_kind=rng.choice(["", *VisitKind.values]) if kind == "count" else "",
            target=rng.randint(1, 9) if kind == "count" else None,
            officer=rng.choice([None, *officers[:4]]),
            starts_on=starts,
            ends_on=rng.choice([None, starts + timedelta(days=rng.randint(0, 90))]),
            active=rng.random() > 0.2,
        )
    del empty_grid
    return Seeded(officers, grids)


# --------------------------------------------------------------------------- direct counts
# Written from the definitions in plain Python, without wenxu.visits.coverage or .periods.


def _inside(path: str, root: str) -> bool:
    return path.startswith(root)


def _period_key(period: str, day: date) -> tuple[int, ...]:
    """Which of the plan's periods a day falls in."""
    if period == "month":
        return (day.year, day.month)
    if period == "quarter":
        return (day.year, (day.month - 1) // 3)
    return (day.year,)


def expected(viewer_paths: list[str], first: date, last: date) -> dict[str, Any]:
    areas = {a.pk: a for a in Area.objects.all()}
    places = list(Place.objects.all())
    visits = list(Visit.objects.prefetch_related("officers"))
    plans = list(VisitPlan.objects.all())

    def in_scope(path: str) -> bool:
        return any(_inside(path, p) for p in viewer_paths)

    def where(v: Visit) -> str:
        return areas[v.place.area_id].path if v.place is not None else areas[v.area_id].path

    def day_of(v: Visit) -> date:
        return timezone.localdate(v.started_at)

    def in_window(v: Visit) -> bool:
        return first <= day_of(v) <= last

    scoped_visits = [v for v in visits if in_scope(where(v))]
    window_visits = [v for v in scoped_visits if in_window(v)]
    reached_ids = {v.place_id for v in visits if v.place_id and in_window(v)}
    active_places = [p for p in places if p.active and in_scope(areas[p.area_id].path)]

    has_children = {a.parent_id for a in areas.values() if a.parent_id}
    holds_places = {p.area_id for p in places}
    grid_ids = [
        a.pk
        for a in areas.values()
        if in_scope(a.path)
        and (a.level == "grid" or (a.pk in holds_places and a.pk not in has_children))
    ]
    grids: dict[int, dict[str, Any]] = {}
    unreached: dict[int, set[int]] = {}
    for pk in grid_ids:
        path = areas[pk].path
        mine = [p for p in active_places if _inside(areas[p.area_id].path, path)]
        reached = [p for p in mine if p.pk in reached_ids]
        vs = [v for v in window_visits if _inside(where(v), path)]
        ever = [v.started_at for v in scoped_visits if _inside(where(v), path)]
        grids[pk] = {
            "places": len(mine),
            "reached": len(reached),
            "not_reached": len(mine) - len(reached),
            "visits": len(vs),
            "last_visit": max(ever) if ever else None,
            "mood": sum(v.mood for v in vs) / len(vs) if vs else None,
        }
        unreached[pk] = {p.pk for p in mine if p.pk not in reached_ids}

    plan_rows: dict[int, tuple[int, int]] = {}
    for plan in plans:
        path = areas[plan.area_id].path
        if not (plan.active and in_scope(path)):
            continue
        # The plan's part of the window: the days of the window it is in force.
        days = [
            first + timedelta(days=n)
            for n in range((last - first).days + 1)
            if plan.starts_on <= first + timedelta(days=n)
            and (plan.ends_on is None or first + timedelta(days=n) <= plan.ends_on)
        ]
        if not days:
            continue
        keys = {_period_key(plan.period, day) for day in days}
        counted = [v for v in visits if days[0] <= day_of(v) <= days[-1]]
        if plan.kind == "coverage":
            targets = {
                p.pk
                for p in active_places
                if _inside(areas[p.area_id].path, path)
                and (not plan.place_kind or p.kind == plan.place_kind)
            }
            # (period, place) pairs: a place counts once in each period it was reached in.
            done_pairs = {
                (_period_key(plan.period, day_of(v)), v.place_id)
                for v in counted
                if v.place_id in targets
            }
            plan_rows[plan.pk] = (len(done_pairs), len(targets) * len(keys))
        else:
            done = [
                v
                for v in counted
                if _inside(where(v), path)
                and (not plan.visit_kind or v.kind == plan.visit_kind)
                and (plan.officer_id is None or plan.officer_id in {u.pk for u in v.officers.all()})
            ]
            plan_rows[plan.pk] = (len(done), (plan.target or 0) * len(keys))

    officer_ids = {u.pk for v in scoped_visits for u in v.officers.all()}
    officer_ids |= {
        plans_by.officer_id
        for plans_by in plans
        if plans_by.pk in plan_rows and plans_by.officer_id
    }
    for user in User.objects.prefetch_related("memberships__area"):
        for m in user.memberships.all():
            if (
                m.role == "officer"
                and m.area is not None
                and any(_inside(m.area.path, p) or _inside(p, m.area.path) for p in viewer_paths)
            ):
                officer_ids.add(user.pk)
    officers: dict[int, dict[str, Any]] = {}
    for uid in officer_ids:
        went = [v for v in scoped_visits if uid in {u.pk for u in v.officers.all()}]
        in_win = [v for v in went if in_window(v)]
        officers[uid] = {
            "visits": len(in_win),
            "places": len({v.place_id for v in in_win if v.place_id}),
            "planned": sum(
                plan_rows[p.pk][1] for p in plans if p.pk in plan_rows and p.officer_id == uid
            ),
            "last_visit": max((v.started_at for v in went), default=None),
        }
    total_places = len(active_places)
    return {
        "grids": grids,
        "unreached": unreached,
        "plans": plan_rows,
        "officers": officers,
        "total": {
            "places": total_places,
            "reached": sum(p.pk in reached_ids for p in active_places),
            "visits": len(window_visits),
        },
    }


class _Cells(HTMLParser):
    """Rows of `data-grid` / `data-officer` table rows: {id: {col: text}}."""

    def __init__(self, attr: str) -> None:
        super().__init__()
        self.attr = attr
        self.rows: dict[int, dict[str, str]] = {}
        self.row: int | None = None
        self.col: str | None = None
        self.depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "tr" and found.get(self.attr):
            self.row = int(found[self.attr] or 0)
            self.rows[self.row] = {}
        elif self.row is not None and found.get("data-col") and tag in ("td", "a"):
            col = found["data-col"] or ""
            self.col = col
            self.rows[self.row][col] = ""
            self.tag = tag

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr":
            self.row = None
        if self.col and tag == getattr(self, "tag", None):
            self.col = None

    def handle_data(self, data: str) -> None:
        if self.row is not None and self.col:
            self.rows[self.row][self.col] += data.strip()


def _cells(html: str, attr: str) -> dict[int, dict[str, str]]:
    parser = _Cells(attr)
    parser.feed(html)
    return parser.rows


def _day(at: datetime | None) -> str:
    return timezone.localdate(at).isoformat() if at else "—"


@pytest.mark.parametrize(
    ("seed_value", "window"), [(1, "quarter"), (2, "across"), (3, "quarter"), (4, "across")]
)
@pytest.mark.parametrize("viewer", ["officer", "dispatcher"])
def test_coverage_page_equals_a_direct_count_with_random_data(
    world: World, client: Client, seed_value: int, window: str, viewer: str
) -> None:
    # Given random grids, places, visits and plans
    first, last = WINDOWS[window]
    query = {"period": "custom", "start": first.isoformat(), "end": last.isoformat()}
    seeded = seed(world, Random(seed_value), first, last)
    user = getattr(world, viewer)
    paths = [world.town_a.path] if viewer == "officer" else [world.county.path]
    want = expected(paths, first, last)
    assert want["grids"]
    assert want["plans"]
    assert want["officers"]

    # When the viewer opens the coverage page for the window
    client.force_login(user)
    response = client.get("/coverage/", query)
    assert response.status_code == 200
    report: coverage.Report = response.context["report"]

    # Then every grid row, officer row, plan and total equals the direct count
    got_grids = {
        row.area.pk: {
            "places": row.places,
            "reached": row.reached,
            "not_reached": row.not_reached,
            "visits": row.visits,
            "last_visit": row.last_visit,
            "mood": row.mood,
        }
        for row in report.grids
    }
    assert got_grids.keys() == want["grids"].keys()
    for pk, row in want["grids"].items():
        got = got_grids[pk]
        assert got["mood"] == pytest.approx(row["mood"]), pk
        assert {**got, "mood": 0} == {**row, "mood": 0}, pk
    coverages = [r.coverage for r in report.grids if r.coverage is not None]
    assert coverages == sorted(coverages)  # worst first
    assert {p.plan.pk: (p.done, p.planned) for p in report.plans} == want["plans"]
    assert {
        r.user.pk: {
            "visits": r.visits,
            "places": r.places,
            "planned": r.planned,
            "last_visit": r.last_visit,
        }
        for r in report.officers
    } == want["officers"]
    total = report.total
    assert (total.places, total.reached, total.visits) == (
        want["total"]["places"],
        want["total"]["reached"],
        want["total"]["visits"],
    )

    # And the HTML table shows the same numbers
    html = response.content.decode()
    shown = _cells(html, "data-grid")
    assert shown.keys() == want["grids"].keys()
    for pk, row in want["grids"].items():
        cells = shown[pk]
        assert cells["places"] == str(row["places"])
        assert cells["reached"] == str(row["reached"])
        assert cells["not_reached"] == str(row["not_reached"])
        assert cells["visits"] == str(row["visits"])
        assert cells["last_visit"] == _day(row["last_visit"])
        assert cells["mood"] == ("—" if row["mood"] is None else f"{row['mood']:.1f}")
    officers_shown = _cells(html, "data-officer")
    for uid, row in want["officers"].items():
        assert officers_shown[uid]["visits"] == str(row["visits"])
        assert officers_shown[uid]["places"] == str(row["places"])
        assert officers_shown[uid]["planned"] == (str(row["planned"]) if row["planned"] else "—")
    for pk, (done, planned) in want["plans"].items():
        assert f'data-plan="{pk}" data-done="{done}" data-planned="{planned}"' in html

    # And each grid's "not reached" list is exactly its active places without a visit
    for pk, ids in want["unreached"].items():
        page = client.get("/coverage/", {**query, "grid": pk})
        listed = {int(x) for x in _place_ids(page.content.decode())}
        assert listed == ids, pk
    del seeded


def _place_ids(html: str) -> list[str]:
    import re

    return re.findall(r'data-place="(\d+)"', html)
