"""Plan progress on hand-computed examples: periods of the plan inside the window, the plan's own
dates, partial periods, custom windows across quarters, inactive plans.

Every expected number below is worked out by hand in the comment next to it (2026; all times are
local, Asia/Shanghai).
"""

import uuid
from datetime import date, datetime

import time_machine
from django.test import Client
from django.utils import timezone

from conftest import World, _user
from wenxu.accounts.models import User
from wenxu.organisations.models import Area
from wenxu.visits import coverage
from wenxu.visits.models import Place, Visit, VisitPlan
from wenxu.visits.periods import Window

YEAR = Window(date(2026, 1, 1), date(2026, 12, 31))
Q1 = Window(date(2026, 1, 1), date(2026, 3, 31))
Q2 = Window(date(2026, 4, 1), date(2026, 6, 30))
Q3 = Window(date(2026, 7, 1), date(2026, 9, 30))
FEBRUARY = Window(date(2026, 2, 1), date(2026, 2, 28))


def _at(month: int, day: int, hour: int = 12, minute: int = 0) -> datetime:
    return timezone.make_aware(datetime(2026, month, day, hour, minute))


def _place(area: Area, name: str, *, kind: str = "household", active: bool = True) -> Place:
    return Place.objects.create(area=area, kind=kind, name=name, active=active)


def _visit(
    world: World,
    at: datetime,
    *,
    place: Place | None = None,
    kind: str = "home",
    officers: tuple[User, ...] = (),
) -> Visit:
    visit = Visit.objects.create(
        client_uuid=uuid.uuid4(),
        payload_hash="x",
        kind=kind,
        area=place.area if place else world.grid_a,
        place=place,
        started_at=at,
        mood=3,
        recorded_by=world.officer,
        recorded_at=at,
    )
    visit.officers.set(officers or (world.officer,))
    return visit


def _plan(world: World, name: str, **fields: object) -> VisitPlan:
    values: dict[str, object] = {"area": world.town_a, "starts_on": date(2026, 1, 1)}
    values.update(fields)
    return VisitPlan.objects.create(name=name, **values)


def _progress(world: World, window: Window) -> dict[str, tuple[int, int]]:
    report = coverage.coverage_report(paths=[world.town_a.path], window=window)
    return {p.plan.name: (p.done, p.planned) for p in report.plans}


def _planned(world: World, window: Window, user: User) -> int:
    report = coverage.coverage_report(paths=[world.town_a.path], window=window)
    return next(row.planned for row in report.officers if row.user.pk == user.pk)


# --------------------------------------------------------------------------- coverage plans


def test_quarterly_coverage_plan_over_a_year_asks_for_every_quarter(world: World):
    # The reviewer's case: one household, "every household once a quarter", one visit in
    # February. Over the year that is 1 of 4 household-quarters, not 1 of 1.
    _plan(world, "季度全覆盖", kind="coverage", period="quarter")
    _visit(world, _at(2, 10), place=_place(world.grid_a, "1号"))
    assert _progress(world, YEAR) == {"季度全覆盖": (1, 4)}
    assert _progress(world, Q1) == {"季度全覆盖": (1, 1)}
    assert _progress(world, Q2) == {"季度全覆盖": (0, 1)}


def test_coverage_plan_counts_each_place_once_per_quarter_it_was_reached(world: World):
    a, b = _place(world.grid_a, "户A"), _place(world.grid_a, "户B")
    company = _place(world.grid_a, "企业C", kind="enterprise")
    closed = _place(world.grid_a, "户D", active=False)
    _plan(world, "住户季度全覆盖", kind="coverage", period="quarter", place_kind="household")
    _visit(world, _at(2, 10), place=a)
    _visit(world, _at(2, 20), place=a)  # twice in Q1: still one for Q1
    _visit(world, _at(5, 5), place=a)  # and one for Q2
    _visit(world, _at(11, 3), place=b)  # Q4
    _visit(world, _at(2, 11), place=company)  # not a household
    _visit(world, _at(2, 12), place=closed)  # not active
    # Year: 2 households × 4 quarters = 8; reached Q1 {A} + Q2 {A} + Q3 {} + Q4 {B} = 3.
    assert _progress(world, YEAR) == {"住户季度全覆盖": (3, 8)}
    # One quarter: reached ÷ households.
    assert _progress(world, Q1) == {"住户季度全覆盖": (1, 2)}
    # A month inside Q1 touches one quarter: 2 planned; only February's visits count.
    assert _progress(world, FEBRUARY) == {"住户季度全覆盖": (1, 2)}


def test_monthly_coverage_plan_over_a_quarter(world: World):
    a, b = _place(world.grid_a, "户A"), _place(world.grid_a, "户B")
    _plan(world, "月度全覆盖", kind="coverage", period="month")
    _visit(world, _at(1, 5), place=a)
    _visit(world, _at(1, 6), place=b)
    _visit(world, _at(3, 31, 23, 59), place=a)  # last minute of Q1
    _visit(world, _at(4, 1, 0, 0), place=b)  # Q2
    # 2 places × 3 months = 6; January {A, B} + February {} + March {A} = 3.
    assert _progress(world, Q1) == {"月度全覆盖": (3, 6)}


def test_coverage_plan_starting_mid_quarter_counts_the_quarter_but_not_earlier_visits(
    world: World,
):
    a, b = _place(world.grid_a, "户A"), _place(world.grid_a, "户B")
    _plan(world, "二月中起", kind="coverage", period="quarter", starts_on=date(2026, 2, 15))
    _visit(world, _at(2, 1), place=a)  # before the plan started
    _visit(world, _at(3, 1), place=b)
    # Q1: the plan is in force from 15 Feb, so Q1 counts whole: 2 places; reached since: {B}.
    assert _progress(world, Q1) == {"二月中起": (1, 2)}
    # Year: Q1..Q4 = 4 quarters × 2 = 8; reached {B} in Q1 only.
    assert _progress(world, YEAR) == {"二月中起": (1, 8)}


def test_coverage_plan_ending_mid_quarter_ignores_later_visits(world: World):
    a = _place(world.grid_a, "户A")
    _plan(
        world,
        "到二月中",
        kind="coverage",
        period="quarter",
        ends_on=date(2026, 2, 15),
    )
    _visit(world, _at(2, 20), place=a)  # after the plan ended
    assert _progress(world, Q1) == {"到二月中": (0, 1)}
    # Over the year only Q1 counts: 1 place × 1 quarter.
    assert _progress(world, YEAR) == {"到二月中": (0, 1)}
    assert _progress(world, Q2) == {}


# --------------------------------------------------------------------------- count plans


def test_count_plan_starting_in_march_is_clipped_to_its_dates(world: World):
    helper = _user("officer_c", "张网格", ("officer", world.town_a))
    _plan(world, "三月起每月两次", kind="count", period="month", target=2,
          starts_on=date(2026, 3, 1))  # fmt: skip
    _plan(world, "三月起张网格每月一次", kind="count", period="month", target=1,
          starts_on=date(2026, 3, 1), officer=helper)  # fmt: skip
    _visit(world, _at(2, 20), officers=(helper,))  # before the plans started
    _visit(world, _at(3, 5), officers=(helper, world.officer))
    _visit(world, _at(3, 6))
    _visit(world, _at(4, 2))
    # Q1: only March is in force: 2 × 1 = 2 planned; done: 5 and 6 March (not 20 Feb).
    # The officer's plan: 1 × 1; done: 5 March only (6 March was without them).
    assert _progress(world, Q1) == {"三月起每月两次": (2, 2), "三月起张网格每月一次": (1, 1)}
    # Year: March..December = 10 months: 20 and 10 planned; done adds 2 April.
    assert _progress(world, YEAR) == {"三月起每月两次": (3, 20), "三月起张网格每月一次": (1, 10)}
    # February: neither plan is in force.
    assert _progress(world, FEBRUARY) == {}
    # The officer's row plans what their plan asks.
    assert _planned(world, Q1, helper) == 1
    assert _planned(world, YEAR, helper) == 10


def test_count_plan_ending_mid_year(world: World):
    _plan(world, "到五月中座谈", kind="count", period="month", target=3, visit_kind="forum",
          ends_on=date(2026, 5, 15))  # fmt: skip
    _visit(world, _at(5, 10), kind="forum")
    _visit(world, _at(5, 11), kind="home")  # another kind
    _visit(world, _at(5, 20), kind="forum")  # after the plan ended
    # Year: January..May = 5 months × 3 = 15; done: 10 May.
    assert _progress(world, YEAR) == {"到五月中座谈": (1, 15)}
    # Q2: April and May (in force on 1..15 May) = 2 × 3 = 6.
    assert _progress(world, Q2) == {"到五月中座谈": (1, 6)}
    assert _progress(world, Q3) == {}


def test_custom_window_across_two_quarters(world: World):
    a, b = _place(world.grid_a, "户A"), _place(world.grid_a, "户B")
    _plan(world, "季度全覆盖", kind="coverage", period="quarter")
    _plan(world, "每月座谈", kind="count", period="month", target=1, visit_kind="forum")
    window = Window(date(2026, 2, 15), date(2026, 4, 15))
    _visit(world, _at(1, 20), place=a)  # before the window
    _visit(world, _at(3, 1), place=a)  # Q1
    _visit(world, _at(4, 10), place=a)  # Q2
    _visit(world, _at(4, 20), place=b)  # after the window
    _visit(world, _at(2, 10), kind="forum")  # before the window
    _visit(world, _at(2, 16), kind="forum")
    _visit(world, _at(4, 15, 23, 59), kind="forum")  # the window's last minute
    _visit(world, _at(4, 16, 0, 0), kind="forum")  # after the window
    # Coverage: Q1 and Q2 touched: 2 places × 2 = 4; reached {A} in Q1 + {A} in Q2 = 2.
    # Count: February, March, April touched: 1 × 3 = 3; done: 16 Feb and 15 Apr = 2.
    assert _progress(world, window) == {"季度全覆盖": (2, 4), "每月座谈": (2, 3)}


def test_inactive_plans_and_plans_outside_the_window_are_left_out(world: World):
    _place(world.grid_a, "户A")
    _plan(world, "停用", kind="coverage", period="quarter", active=False)
    _plan(world, "已结束", kind="count", period="month", target=2, ends_on=date(2026, 3, 31))
    _plan(world, "未开始", kind="count", period="month", target=2, starts_on=date(2026, 7, 1))
    _plan(world, "在用", kind="count", period="quarter", target=5, officer=world.officer)
    assert _progress(world, Q2) == {"在用": (0, 5)}
    # The officer's planned figure counts only the plan in force: 5, not 5 + 2 × 3 + ...
    assert _planned(world, Q2, world.officer) == 5


def test_officer_planned_sums_coverage_and_count_plans(world: World):
    for n in range(3):
        _place(world.grid_a, f"{n}号")
    _plan(world, "季度全覆盖", kind="coverage", period="quarter", officer=world.officer)
    _plan(world, "每月两次", kind="count", period="month", target=2, officer=world.officer)
    # Year: 3 places × 4 quarters + 2 × 12 months = 12 + 24.
    assert _planned(world, YEAR, world.officer) == 36


# --------------------------------------------------------------------------- the page


@time_machine.travel(_at(11, 20), tick=False)
def test_page_shows_the_plans_part_of_the_window_and_its_periods(world: World, client: Client):
    _plan(world, "季度全覆盖", kind="coverage", period="quarter")
    _plan(world, "三月起每月两次", kind="count", period="month", target=2,
          starts_on=date(2026, 3, 1))  # fmt: skip
    _visit(world, _at(2, 10), place=_place(world.grid_a, "1号"))
    client.force_login(world.officer)
    html = client.get("/coverage/", {"period": "this_year"}).content.decode()
    assert 'data-done="1" data-planned="4"' in html
    assert "按 4 个周期计" in html
    assert 'data-done="0" data-planned="20"' in html
    assert "计划期内：2026-03-01 至 2026-12-31" in html
    assert "按 10 个周期计" in html
    # This quarter: the quarterly plan has one period over the whole window, so no note; the
    # monthly one counts 3 months.
    quarter = client.get("/coverage/").content.decode()
    assert quarter.count('data-testid="plan-part"') == 1
    assert "按 3 个周期计" in quarter
    assert "只要在该区间内有一天，就按一个完整周期计入计划数" in quarter  # 统计口径
