"""Rollups equal a direct computation from the raw rows (issue #6, item 1).

Random lifecycles are played through the real services over three weeks of frozen clock, the
sweep runs in between (reminders, 督办, unreachable callbacks), and then the rollups — filled
incrementally in small batches, and rebuilt — must equal counts taken directly from the events,
needs and visits.
"""

import contextlib
import random
import uuid
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from wenxu.insight.models import COUNTERS, DailyCount, RollupCursor
from wenxu.insight.rollups import rollup_catch_up, rollup_rebuild
from wenxu.lib import clock
from wenxu.needs import services
from wenxu.needs.exceptions import DomainError
from wenxu.needs.models import Need, NeedEvent
from wenxu.needs.sweeps import sweep
from wenxu.visits.models import Place, Visit

START = timezone.make_aware(datetime(2026, 9, 7, 9, 0))  # a Monday


@pytest.fixture(autouse=True)
def _no_sending(monkeypatch):
    monkeypatch.setattr("wenxu.notify.sending.send_due", lambda **kwargs: 0)


def _play(world: Any, rng: random.Random, traveller: Any) -> None:
    """Random needs through random lifecycles, the sweep running twice a day."""
    units = [(world.housing, world.handler), (world.transport, world.handler_other)]
    areas = [world.grid_a, world.grid_b]
    cats = [world.cat_roads, world.cat_water, None]
    open_needs: list[tuple[Need, Any]] = []
    for day in range(21):
        for hour in (9, 15):
            traveller.move_to(START + timedelta(days=day, hours=hour - 9))
            for _ in range(rng.randint(0, 3)):
                area = rng.choice(areas)
                officer = world.officer if area == world.grid_a else world.officer_b
                if rng.random() < 0.15:
                    services.need_register_on_the_spot(
                        actor=officer,
                        title="现场办结",
                        description="路灯当场修好。",
                        kind="help",
                        source="visit",
                        area=area,
                        reply_text="已修好。",
                        confirmed=rng.random() < 0.7,
                        satisfaction=rng.choice(["very_satisfied", "satisfied", "basic"]),
                        category=rng.choice(cats),
                    )
                    continue
                need = world.register(actor=officer, area=area, category=rng.choice(cats))
                unit, handler = rng.choice(units)
                need = services.need_assign(
                    actor=world.dispatcher, need=need, version=need.version, lead_unit=unit
                )
                open_needs.append((need, handler))
            for need, handler in list(open_needs):
                need = Need.objects.get(pk=need.pk)
                step = rng.random()
                # a random step the need's state refuses: as in life, nothing happens
                with contextlib.suppress(DomainError):
                    _step(world, rng, need, handler, step)
                if Need.objects.get(pk=need.pk).status in {"closed", "withdrawn", "merged"}:
                    open_needs.remove((need, handler))
            if rng.random() < 0.5:
                _visit(world, rng)
            sweep()


def _step(world: Any, rng: random.Random, need: Need, handler: Any, step: float) -> None:
    if need.status == "assigned" and step < 0.3:
        services.need_accept(actor=handler, need=need, version=need.version)
    elif need.status == "in_progress":
        if step < 0.1 and need.extension_pending_days is None:
            services.need_request_extension(
                actor=handler, need=need, version=need.version, days=3, reason="需要协调。"
            )
        elif step < 0.2 and need.extension_pending_days is not None:
            services.need_approve_extension(actor=world.dispatcher, need=need, version=need.version)
        elif step < 0.3:
            services.need_reply(
                actor=handler,
                need=need,
                version=need.version,
                outcome="resolved",
                reply_text="已处理。",
            )
    elif need.status == "replied":
        if step < 0.15:
            services.need_reopen(
                actor=world.dispatcher, need=need, version=need.version, reason="群众不满意。"
            )
        elif step < 0.6:
            services.need_callback(
                actor=world.dispatcher,
                need=need,
                version=need.version,
                channel="phone",
                resolved=rng.choice(["yes", "partly", "no"]),
                satisfaction=rng.choice(
                    ["very_satisfied", "satisfied", "basic", "dissatisfied", "very_dissatisfied"]
                ),
            )


def _visit(world: Any, rng: random.Random) -> None:
    place = Place.objects.filter(area=world.grid_a).first()
    if place is None:
        place = Place.objects.create(area=world.grid_a, kind="household", name="3组15号")
    Visit.objects.create(
        client_uuid=uuid.uuid4(),
        payload_hash="x",
        kind="home",
        area=world.grid_a,
        place=place if rng.random() < 0.7 else None,
        place_kind="household",
        started_at=clock.now(),
        mood=rng.randint(1, 5),
        recorded_by=world.officer,
        recorded_at=clock.now(),
    )


def _direct() -> dict[str, Counter[str]]:
    """The counters per row key, straight from events, needs and visits."""
    out: dict[str, Counter[str]] = {}

    def key(moment: Any, area_id: int, unit_id: Any, category_id: Any) -> str:
        day = timezone.localtime(moment).date()
        return f"{day:%Y%m%d}|{area_id}|{unit_id or ''}|{category_id or ''}"

    sat = {
        "very_satisfied": "very_satisfied",
        "satisfied": "satisfied",
        "basic": "basic_satisfied",
        "dissatisfied": "dissatisfied",
        "very_dissatisfied": "very_dissatisfied",
    }
    verdict = {"yes": "resolved", "partly": "partly_resolved", "no": "unresolved"}
    for e in NeedEvent.objects.select_related("need").order_by("pk"):
        k = key(e.created_at, e.need.area_id, e.data.get("lead_unit"), e.need.category_id)
        c = out.setdefault(k, Counter())
        d = e.data
        if e.action in ("register", "register_on_the_spot"):
            c["registered"] += 1
        if e.action == "register_on_the_spot":
            c["on_the_spot"] += 1
            if d.get("confirmed"):
                c.update(["callbacks", "resolved", sat[d["satisfaction"]]])
        if e.action == "assign":
            c["assigned"] += 1
        if e.action == "accept":
            c["accepted"] += 1
            c["accepted_on_time"] += bool(d["on_time"])
            c["response_overdue"] += bool(d.get("missed_unmarked"))
        if e.action == "remind" and d.get("kind") in ("overdue", "response_overdue"):
            c[d["kind"]] += 1
        if e.action == "reply":
            c["replies"] += 1
            c["replied_on_time"] += bool(d["on_time"])
            c["overdue"] += bool(d.get("missed_unmarked"))
        if e.action == "approve_extension":
            c["extensions"] += 1
        if e.action == "reopen":
            c["reopened"] += 1
        if e.action == "callback":
            if d["channel"] == "unreachable":
                c["unreachable"] += 1
            else:
                c.update(["callbacks", verdict[d["resolved"]], sat[d["satisfaction"]]])
    seen: set[tuple[int | None, Any]] = set()
    for v in Visit.objects.select_related("place").order_by("pk"):
        c = out.setdefault(key(v.started_at, v.area_id, None, None), Counter())
        c["visits"] += 1
        c["mood_total"] += v.mood
        day = timezone.localtime(v.started_at).date()
        if v.place and v.place.kind == "household" and (v.place_id, day) not in seen:
            seen.add((v.place_id, day))
            c["households_reached"] += 1
    return {k: +c for k, c in out.items() if +c}


def _stored() -> dict[str, Counter[str]]:
    return {
        row.key: +Counter({name: getattr(row, name) for name in COUNTERS})
        for row in DailyCount.objects.all()
        if any(getattr(row, name) for name in COUNTERS)
    }


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rollups_equal_a_direct_count_of_the_raw_rows(world, seed):
    rng = random.Random(seed)
    with time_machine.travel(START, tick=False) as traveller:
        # given three weeks of random lifecycles, the rollups caught up in small batches as the
        # worker would, every few days (settled events only)
        _play(world, rng, traveller)
        traveller.move_to(START + timedelta(days=22))
        rollup_catch_up(limit=37)
        assert rollup_catch_up(limit=37) == 0  # nothing left: a second run adds nothing

        # then every counter of every day, area, unit and category equals the direct count
        direct = _direct()
        assert sum(c["registered"] for c in direct.values()) > 10
        assert sum(c["overdue"] for c in direct.values()) > 0
        assert _stored() == direct
        cursor = RollupCursor.objects.get(name="main")
        assert (
            cursor.last_event_id
            == NeedEvent.objects.order_by("-pk").values_list("pk", flat=True)[0]
        )

        # and a rebuild gives the same rows
        rollup_rebuild()
        assert _stored() == direct


def test_recent_events_wait_for_the_lag_and_are_counted_once(world):
    with time_machine.travel(START, tick=False) as traveller:
        need = world.assigned()
        rollup_catch_up()  # the events are younger than the lag: not read yet
        assert not DailyCount.objects.exists()
        traveller.shift(timedelta(minutes=3))
        rollup_catch_up()
        rollup_catch_up()
        # (registration counts before any unit has the need; the assignment for the unit)
        registered = DailyCount.objects.get(unit=None)
        assigned = DailyCount.objects.get(unit=world.housing)
        assert (registered.registered, registered.assigned) == (1, 0)
        assert (assigned.registered, assigned.assigned) == (0, 1)
        assert assigned.area_path == need.area.path
        assert assigned.unit_path == world.housing.path


def _by_category() -> set[tuple[Any, int, int]]:
    return {
        (row.category_id, row.registered, row.assigned)
        for row in DailyCount.objects.filter(registered__gt=0)
        | DailyCount.objects.filter(assigned__gt=0)
    }


@pytest.mark.parametrize("caught_up_before_the_change", [True, False])
def test_a_category_corrected_at_assignment_keeps_earlier_events_where_they_were_filed(
    world, caught_up_before_the_change
):
    # given a need registered as 道路与照明, rolled up before or only after the dispatcher
    with time_machine.travel(START, tick=False) as traveller:
        need = world.register(category=world.cat_roads)
        traveller.shift(timedelta(minutes=3))
        if caught_up_before_the_change:
            rollup_catch_up()
        # when the dispatcher corrects it to 供水 while assigning
        need.refresh_from_db()
        services.need_assign(
            actor=world.dispatcher,
            need=need,
            version=need.version,
            lead_unit=world.housing,
            category=world.cat_water,
        )
        traveller.shift(timedelta(minutes=3))
        rollup_catch_up()
        caught_up = _by_category()
        rollup_rebuild()
        rebuilt = _by_category()

    # then the registration stays under 道路与照明 and the assignment counts under 供水,
    # whenever the catch-up ran, and a rebuild agrees
    assert (
        caught_up
        == rebuilt
        == {
            (world.cat_roads.pk, 1, 0),
            (world.cat_water.pk, 0, 1),
        }
    )
