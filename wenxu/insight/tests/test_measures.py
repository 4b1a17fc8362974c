"""The three rates from hand-counted scenarios, their formulas, configuration and scoping."""

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from wenxu.insight import measures
from wenxu.insight.models import COUNTERS
from wenxu.insight.rollups import rollup_catch_up
from wenxu.needs import services
from wenxu.needs.models import Need
from wenxu.needs.sweeps import sweep

MONDAY = timezone.make_aware(datetime(2026, 9, 7, 9, 0))


@pytest.fixture(autouse=True)
def _no_sending(monkeypatch):
    monkeypatch.setattr("wenxu.notify.sending.send_due", lambda **kwargs: 0)


def _callback(world, need, resolved, satisfaction, channel="phone"):
    return services.need_callback(
        actor=world.dispatcher,
        need=need,
        version=need.version,
        channel=channel,
        resolved=resolved,
        satisfaction=satisfaction,
    )


def _reply(world, need, handler=None):
    return services.need_reply(
        actor=handler or world.handler,
        need=need,
        version=need.version,
        outcome="resolved",
        reply_text="已处理。",
    )


@pytest.fixture
def scenario(world):
    return build_scenario(world)


def build_scenario(world):
    """Four needs for 县住建局 and one for 县交通局 in one week, counted by hand below."""
    with time_machine.travel(MONDAY, tick=False) as t:
        # a: accepted and replied on time, resolved + very satisfied
        a = world.in_progress(title="a")
        a = _callback(world, _reply(world, a), "yes", "very_satisfied")
        # b: accepted on time, an extension approved, replied within the extended deadline,
        #    partly resolved + basic
        b = world.in_progress(title="b")
        b = services.need_request_extension(
            actor=world.handler, need=b, version=b.version, days=5, reason="需协调。"
        )
        b = services.need_approve_extension(actor=world.dispatcher, need=b, version=b.version)
        # c: never accepted (response overdue), then accepted late, never replied (overdue)
        c = world.assigned(title="c")
        # d: replied, callback unreachable, later reopened
        d = world.in_progress(title="d")
        d = _reply(world, d)
        # e: the transport unit's, replied on time, unresolved + dissatisfied
        e = world.assigned(title="e", lead=world.transport)
        e = services.need_accept(actor=world.handler_other, need=e, version=e.version)
        e = _callback(world, _reply(world, e, world.handler_other), "no", "dissatisfied")

        t.shift(timedelta(days=2, hours=6))  # Wednesday 15:00: c's response deadline passed
        sweep()  # (its reminders move versions on: read the needs again)
        b, c, d = (Need.objects.get(pk=n.pk) for n in (b, c, d))
        c = services.need_accept(actor=world.handler, need=c, version=c.version)
        d = _callback(world, d, "", "", channel="unreachable")
        t.shift(timedelta(days=7))  # a week later: c is overdue, b (extended) replied in time
        b = _reply(world, Need.objects.get(pk=b.pk))
        b = _callback(world, b, "partly", "basic")
        sweep()
        d = Need.objects.get(pk=d.pk)
        d = services.need_reopen(
            actor=world.dispatcher, need=d, version=d.version, reason="群众不满意。"
        )
        t.shift(timedelta(minutes=5))
        rollup_catch_up()
    return world


def _rates(world, **filters):
    from wenxu.insight.selectors import StatsFilters, daily_counts_for_user

    rows = daily_counts_for_user(
        user=world.leader,
        filters=StatsFilters(
            start=MONDAY.date(), end=MONDAY.date() + timedelta(days=30), **filters
        ),
    )
    return measures.totals(rows), measures.rates(measures.totals(rows))


def test_the_rates_match_the_hand_count(scenario):
    totals, rates = _rates(scenario)
    # accepted on time: a b d e (4); c went past its response deadline (1)
    assert (totals["accepted_on_time"], totals["response_overdue"]) == (4, 1)
    assert rates["response_rate"].value == Decimal("0.8000")
    # replied on time: a b (extended) d e (4); c overdue (1)
    assert (totals["replied_on_time"], totals["overdue"]) == (4, 1)
    assert rates["ontime_rate"].percent == "80.0%"
    # answered callbacks a b e (3): resolved 1 + ½ × partly 1 = 1.5 of 3
    assert rates["resolution_rate"].value == Decimal("0.5000")
    # satisfied (very, satisfied, basic): a b = 2 of 3
    assert rates["satisfaction_rate"].value == Decimal("0.6667")
    # callbacks answered 3, unreachable d 1
    assert rates["callback_rate"].value == Decimal("0.7500")
    assert (totals["extensions"], totals["reopened"]) == (1, 1)
    assert "部分解决" in rates["resolution_rate"].formula


def test_a_unit_filter_counts_only_that_units_events(scenario):
    totals, rates = _rates(scenario, unit=scenario.transport)
    assert totals["replies"] == 1
    assert rates["resolution_rate"].value == Decimal("0")
    assert rates["satisfaction_rate"].value == Decimal("0")
    assert rates["response_rate"].value == Decimal("1")


def test_formulas_follow_the_configuration(scenario, settings):
    settings.WENXU_RATES_PARTLY_WEIGHT = 1.0
    settings.WENXU_RATES_SATISFIED_LEVELS = ["very_satisfied", "satisfied"]
    _, rates = _rates(scenario)
    assert rates["resolution_rate"].value == Decimal("0.6667")  # (1 + 1) / 3
    assert rates["satisfaction_rate"].value == Decimal("0.3333")  # 1 / 3
    assert "非常满意 + 满意）" in rates["satisfaction_rate"].formula


def test_no_denominator_is_no_rate_not_zero(world):
    rates = measures.rates(dict.fromkeys(COUNTERS, 0))
    assert all(rate.value is None for rate in rates.values())
    assert rates["response_rate"].percent == "—"


def test_a_deadline_missed_between_sweeps_still_counts_once(world):
    """A late accept or reply that no sweep marked first records the miss itself; one the
    sweep marked is not counted again."""
    with time_machine.travel(MONDAY, tick=False) as t:
        late = world.assigned(title="late, no sweep")
        marked = world.assigned(title="late, marked by the sweep")
        t.shift(timedelta(days=10))  # both response and resolution deadlines long past
        sweep_marked = Need.objects.get(pk=marked.pk)
        services.need_remind(
            actor=None, need=sweep_marked, version=None, kind="response_overdue", note="督办"
        )
        for need in (late, marked):
            need = Need.objects.get(pk=need.pk)
            need = services.need_accept(actor=world.handler, need=need, version=need.version)
            _reply(world, need)
        t.shift(timedelta(minutes=5))
        rollup_catch_up()
    totals, rates = _rates(world)
    # two response deadlines missed (one marked by the sweep, one by the late accept)
    assert (totals["accepted_on_time"], totals["response_overdue"]) == (0, 2)
    # two resolution deadlines missed, marked by the late replies themselves
    assert (totals["replied_on_time"], totals["overdue"]) == (0, 2)
    assert rates["response_rate"].value == Decimal("0")
    assert rates["ontime_rate"].value == Decimal("0")
