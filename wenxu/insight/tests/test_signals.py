"""Early signals (未诉先办): detection from the rollups, and turning a signal into a visit task.

Most tests plant `DailyCount` rows directly (one row per day and place); one goes from real
registered needs through the rollups. "Today" is Monday 2026-11-30, so the period compared is
Mon 11-23 … Sun 11-29 and the 8-week baseline Mon 09-28 … Sun 11-22.
"""

import math
from datetime import date, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.db.models import Sum
from django.test import override_settings
from django.utils import timezone
from scipy.stats import poisson

from wenxu.insight import signals as sg
from wenxu.insight.models import DailyCount, RollupCursor, Signal
from wenxu.insight.rollups import rollup_catch_up
from wenxu.needs.exceptions import InvalidInput, NotPermitted, StaleVersion
from wenxu.organisations.models import Area
from wenxu.visits.models import VisitPlan

NOW = timezone.make_aware(datetime(2026, 11, 30, 9, 0))
TODAY = date(2026, 11, 30)
PERIOD_START, PERIOD_END = date(2026, 11, 23), date(2026, 11, 29)


def _plant(area: Area, category: Any, day: date, n: int) -> None:
    DailyCount.objects.create(
        key=f"{day:%Y%m%d}|{area.pk}||{category.pk if category else ''}",
        day=day,
        area=area,
        area_path=area.path,
        category=category,
        registered=n,
    )


def _weeks(area: Area, category: Any, *, last_monday: date, counts: list[int]) -> None:
    """One week per count, the last one starting `last_monday`: the week's needs on its
    Wednesday."""
    for back, n in enumerate(reversed(counts)):
        if n:
            _plant(area, category, last_monday - timedelta(weeks=back) + timedelta(days=2), n)


def _ready(at: datetime = NOW) -> None:
    """The rollups caught up until `at` (what the sweep's rollup stage leaves behind)."""
    RollupCursor.objects.update_or_create(name="main", defaults={"updated_at": at})


@pytest.fixture
def planted(world: Any) -> Any:
    # 8 quiet weeks of 3 water needs a week in 东河村, then 12 in the last week.
    _weeks(world.grid_a, world.cat_water, last_monday=PERIOD_START, counts=[3] * 8 + [12])
    _ready()
    return world


def test_a_planted_rise_gives_one_signal_with_its_numbers(planted: Any) -> None:
    world = planted

    assert sg.signals_detect(at=NOW) == 1

    signal = Signal.objects.get()
    # The village, not also its township: the rise is all the village's.
    assert signal.area == world.village_a
    assert signal.category == world.cat_water
    assert (signal.period_start, signal.period_end) == (PERIOD_START, PERIOD_END)
    assert signal.count == 12
    assert signal.baseline == pytest.approx(3.0)
    assert signal.last_year is None  # the rollups do not reach back a year
    assert signal.ratio == pytest.approx(4.0)
    assert signal.score == pytest.approx(-math.log10(poisson.sf(11, 3.0)), abs=1e-3)
    assert signal.state == Signal.State.NEW


def test_the_township_is_flagged_when_the_rise_is_spread_over_its_villages(world: Any) -> None:
    other = Area.objects.create(name="东河社区", level="village", parent=world.town_a)
    for village in (world.village_a, other):
        _weeks(village, world.cat_water, last_monday=PERIOD_START, counts=[2] * 8 + [5])
    _ready()

    sg.signals_detect(at=NOW)

    # Neither village alone is improbable (5 against 2), the township (10 against 4) is.
    assert list(Signal.objects.values_list("area__name", "count")) == [("东河镇", 10)]


def test_a_flat_series_gives_no_signal(world: Any) -> None:
    _weeks(
        world.grid_a, world.cat_water, last_monday=PERIOD_START, counts=[4, 5, 3, 4, 6, 4, 3, 5, 5]
    )
    _ready()

    assert sg.signals_detect(at=NOW) == 0
    assert not Signal.objects.exists()


def test_fewer_needs_than_the_minimum_give_no_signal(world: Any) -> None:
    # Five needs where there were none: improbable (floored baseline 1), so a signal ...
    _plant(world.grid_a, world.cat_water, date(2026, 9, 1), 1)  # the rollups' first day
    _plant(world.grid_a, world.cat_water, PERIOD_END, 5)
    _ready()
    with override_settings(WENXU_SIGNALS_MIN_COUNT=6):
        assert sg.signals_detect(at=NOW) == 0
    # ... once the minimum allows it (the next day: the five are still in the period).
    _ready(NOW + timedelta(days=1))
    assert sg.signals_detect(at=NOW + timedelta(days=1)) == 1


def test_a_first_case_in_a_quiet_place_is_no_signal(world: Any) -> None:
    _plant(world.grid_b, world.cat_roads, date(2026, 9, 1), 1)
    _plant(world.grid_a, world.cat_water, PERIOD_START, 3)
    _ready()

    assert sg.signals_detect(at=NOW) == 0


def _seasonal(world: Any, *, this_year_peak: int) -> None:
    """Flat 3 a week for a year and more, with a peak of 12 in the same week last year."""
    last_year_monday = PERIOD_START - timedelta(days=364)
    weeks = (PERIOD_START - last_year_monday).days // 7 + 10
    counts = [3] * (weeks - 1) + [this_year_peak]
    _weeks(world.grid_a, world.cat_water, last_monday=PERIOD_START, counts=counts)
    DailyCount.objects.filter(day=last_year_monday + timedelta(days=2)).update(registered=12)
    _ready()


def test_a_peak_that_came_last_year_too_is_no_signal(world: Any) -> None:
    _seasonal(world, this_year_peak=12)

    assert sg.signals_detect(at=NOW) == 0


def test_a_peak_clearly_above_last_years_is_a_signal_with_last_year_shown(world: Any) -> None:
    _seasonal(world, this_year_peak=30)

    assert sg.signals_detect(at=NOW) == 1
    signal = Signal.objects.get()
    assert (signal.count, signal.last_year) == (30, 12)
    assert signal.baseline == pytest.approx(3.0)
    # Expected: the larger of 3 a week × last year's seasonal factor (12 + 1) / (3 + 1) = 9.75
    # and last year's 12.
    assert signal.ratio == pytest.approx(30 / 12, abs=1e-3)
    assert signal.score == pytest.approx(-math.log10(poisson.sf(29, 12.0)), abs=1e-3)


def test_the_seasonal_expectation_scales_with_this_years_level() -> None:
    # Last year 2 → 8 in the season (factor 3); this year the level is 5, so 15 is expected.
    found = sg.assess(count=16, baseline=5.0, last_year=(2, 8, 3), last_year_baseline=2.0)
    assert found.expected == pytest.approx(5.0 * 3.0)
    assert found.tail > sg.ALPHA
    plain = sg.assess(count=16, baseline=5.0)
    assert plain.tail < sg.ALPHA


def test_a_huge_rise_has_a_finite_score() -> None:
    found = sg.assess(count=5000, baseline=0.0)
    assert found.score == sg.MAX_SCORE
    assert found.ratio == 5000.0


def test_too_little_history_gives_no_signal(world: Any) -> None:
    _weeks(world.grid_a, world.cat_water, last_monday=PERIOD_START, counts=[1, 20])
    _ready()

    assert sg.signals_detect(at=NOW) == 0


def test_detection_runs_once_a_day_and_does_not_repeat_a_rise(planted: Any) -> None:
    world = planted
    assert sg.signals_detect(at=NOW) == 1

    # Again the same day: nothing is even computed.
    _plant(world.grid_b, world.cat_roads, PERIOD_END, 9)
    assert sg.signals_detect(at=NOW + timedelta(hours=3)) == 0

    # The next day, the rise is still inside the period: no second signal for it; the new
    # rise in 西岭村 is found.
    tomorrow = NOW + timedelta(days=1)
    _ready(tomorrow)
    assert sg.signals_detect(at=tomorrow) == 1
    assert sorted(Signal.objects.values_list("area__name", flat=True)) == ["东河村", "西岭村"]
    assert Signal.objects.get(area=world.village_b).period_start == date(2026, 11, 24)


def test_detection_waits_for_the_rollups_to_reach_the_period_end(planted: Any) -> None:
    # The rollups last ran before midnight: yesterday is not complete in them.
    _ready(timezone.make_aware(datetime(2026, 11, 29, 23, 59)))
    assert sg.signals_detect(at=NOW) == 0
    assert not RollupCursor.objects.filter(name=sg.MARKER).exists()

    # The cursor moved on, but an event of yesterday still waits behind it (a batch left over).
    with time_machine.travel(NOW - timedelta(hours=10), tick=False):
        planted.register()
    _ready()
    assert sg.signals_detect(at=NOW) == 0

    with time_machine.travel(NOW, tick=False):
        rollup_catch_up()
    assert sg.signals_detect(at=NOW) == 1


def test_a_rise_in_registered_needs_is_found_through_the_rollups(world: Any) -> None:
    # Given needs registered over nine weeks, 1 a week and then 7 in the last one
    monday = PERIOD_START - timedelta(weeks=8)
    with time_machine.travel(timezone.make_aware(datetime(2026, 9, 20, 10)), tick=False):
        world.register(category=world.cat_roads)  # the ledger's first day
    for week in range(9):
        for n in range(7 if week == 8 else 1):
            at = timezone.make_aware(datetime.combine(monday, datetime.min.time()))
            at += timedelta(weeks=week, days=n % 5, hours=9 + n)
            with time_machine.travel(at, tick=False):
                world.register(area=world.grid_a, category=world.cat_water, title=f"停水 {n}")
    # When the sweep's rollups run in the morning and then the signals
    with time_machine.travel(NOW, tick=False):
        rollup_catch_up()
        found = sg.signals_detect()

    # Then
    assert found == 1
    signal = Signal.objects.get()
    assert (signal.area, signal.category, signal.count) == (world.village_a, world.cat_water, 7)
    assert signal.baseline == pytest.approx(1.0)
    total = DailyCount.objects.filter(category=world.cat_water).aggregate(n=Sum("registered"))
    assert total["n"] == 15


def test_the_sweep_runs_the_detection(planted: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from wenxu.needs.sweeps import sweep

    monkeypatch.setattr("wenxu.notify.sending.send_due", lambda **kwargs: 0)
    with time_machine.travel(NOW, tick=False):
        sweep()

    assert Signal.objects.filter(area=planted.village_a).count() == 1


# --------------------------------------------------------------------------- actions


@pytest.fixture
def signal(planted: Any) -> Signal:
    sg.signals_detect(at=NOW)
    return Signal.objects.get()


def test_tasking_a_signal_creates_one_visit_plan_for_its_area(world: Any, signal: Signal) -> None:
    with time_machine.travel(NOW, tick=False):
        plan = sg.signal_task(actor=world.dispatcher, signal=signal)

    assert VisitPlan.objects.get() == plan
    assert plan.area == world.village_a
    assert (plan.kind, plan.period, plan.target) == ("count", "month", 1)
    assert (plan.starts_on, plan.ends_on) == (TODAY, TODAY + timedelta(days=14))
    assert plan.officer is None  # the area's officers together
    assert plan.name == "未诉先办：东河村供水诉求上升"
    signal.refresh_from_db()
    assert signal.state == Signal.State.TASKED
    assert (signal.visit_plan, signal.decided_by) == (plan, world.dispatcher)


def test_a_signal_is_tasked_only_once(world: Any, signal: Signal) -> None:
    sg.signal_task(actor=world.dispatcher, signal=signal)

    with pytest.raises(StaleVersion, match="已由调度员处理"):
        sg.signal_task(actor=world.admin, signal=signal)
    with pytest.raises(StaleVersion):
        sg.signal_dismiss(actor=world.admin, signal=signal, note="重复")
    assert VisitPlan.objects.count() == 1


def test_a_leader_cannot_task_a_signal(world: Any, signal: Signal) -> None:
    with pytest.raises(NotPermitted):
        sg.signal_task(actor=world.leader, signal=signal)
    assert not VisitPlan.objects.exists()


def test_a_bad_plan_leaves_the_signal_new(world: Any, signal: Signal) -> None:
    with pytest.raises(InvalidInput):
        sg.signal_task(
            actor=world.dispatcher,
            signal=signal,
            starts_on=TODAY,
            ends_on=TODAY - timedelta(days=1),
        )
    signal.refresh_from_db()
    assert signal.state == Signal.State.NEW
    assert not VisitPlan.objects.exists()


def test_dismissing_needs_a_reason(world: Any, signal: Signal) -> None:
    with pytest.raises(InvalidInput, match="请填写忽略的理由"):
        sg.signal_dismiss(actor=world.dispatcher, signal=signal, note="  ")
    signal.refresh_from_db()
    assert signal.state == Signal.State.NEW

    sg.signal_dismiss(actor=world.dispatcher, signal=signal, note="水厂检修，已公告")
    signal.refresh_from_db()
    assert (signal.state, signal.note) == (Signal.State.DISMISSED, "水厂检修，已公告")
