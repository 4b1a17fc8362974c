"""Behaviour of every lifecycle service (DESIGN §3).

Each action: the right role succeeds and writes exactly one event with the right from/to; the
wrong role gets NotPermitted, the wrong status IllegalTransition, a stale version StaleVersion,
invalid input InvalidInput naming the field — and a refusal changes nothing at all.
"""

import dataclasses
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from wenxu.accounts.models import Membership, User
from wenxu.accounts.selectors import scopes_for_user
from wenxu.lib import clock, ids
from wenxu.needs import deadlines, services
from wenxu.needs.exceptions import IllegalTransition, InvalidInput, NotPermitted, StaleVersion
from wenxu.needs.models import DeadlineRule, LedgerCounter, Need, NeedEvent
from wenxu.needs.services import RequesterInput
from wenxu.needs.tests.helpers import (
    assert_refused,
    at,
    closed,
    events_of,
    following,
    followup_in,
    state_of,
    with_pending_extension,
)
from wenxu.notify.models import Notification
from wenxu.notify.services import notify_for_event
from wenxu.notify.tasks import deliver_need_event

MONDAY = at(2026, 3, 2, 10)  # an ordinary working Monday, far from any holiday


@pytest.fixture
def frozen(time_machine):
    time_machine.move_to(MONDAY, tick=False)
    return time_machine


# --------------------------------------------------------------------------- the action table

Call = Callable[[Any, Any, Need, int | None], Need]


@dataclass(frozen=True)
class Case:
    action: str
    setup: Callable[[Any], Need]  # a need the action may start from
    call: Call  # the action with valid input
    actor: str  # a persona with the right role
    to: str | None  # status afterwards (None: unchanged)
    wrong: tuple[str, ...]  # personas who must be refused
    bad_status: Callable[[Any], Need]  # a need in a status the action may not start from

    def __str__(self) -> str:
        return self.action


def _merge(world: Any, actor: Any, need: Need, version: int | None) -> Need:
    target = world.register(title="同一路段路灯不亮")
    return services.need_merge(actor=actor, need=need, version=version, into=target)


NOBODY_BUT_DISPATCHER = ("officer", "officer_b", "handler", "handler_other", "leader", "outsider")
NOBODY_BUT_LEAD = ("dispatcher", "officer", "handler_other", "handler_roads", "leader", "outsider")

CASES = [
    Case(
        "assign",
        lambda w: w.register(),
        lambda w, a, n, v: services.need_assign(actor=a, need=n, version=v, lead_unit=w.housing),
        "dispatcher",
        "assigned",
        NOBODY_BUT_DISPATCHER,
        lambda w: w.assigned(),
    ),
    Case(
        "accept",
        lambda w: w.assigned(),
        lambda w, a, n, v: services.need_accept(actor=a, need=n, version=v),
        "handler",
        "in_progress",
        NOBODY_BUT_LEAD,
        lambda w: w.in_progress(),
    ),
    Case(
        "return",
        lambda w: w.assigned(),
        lambda w, a, n, v: services.need_return(
            actor=a, need=n, version=v, reason="不属本单位职责"
        ),
        "handler",
        "registered",
        NOBODY_BUT_LEAD,
        lambda w: w.replied(),
    ),
    Case(
        "progress",
        lambda w: w.in_progress(),
        lambda w, a, n, v: services.need_progress(actor=a, need=n, version=v, note="已现场勘查"),
        "handler",
        None,
        NOBODY_BUT_LEAD,
        lambda w: w.assigned(),
    ),
    Case(
        "request_extension",
        lambda w: w.in_progress(),
        lambda w, a, n, v: services.need_request_extension(
            actor=a, need=n, version=v, days=3, reason="需协调电力部门"
        ),
        "handler",
        None,
        NOBODY_BUT_LEAD,
        lambda w: w.assigned(),
    ),
    Case(
        "approve_extension",
        with_pending_extension,
        lambda w, a, n, v: services.need_approve_extension(actor=a, need=n, version=v),
        "dispatcher",
        None,
        NOBODY_BUT_DISPATCHER,
        lambda w: w.replied(),
    ),
    Case(
        "deny_extension",
        with_pending_extension,
        lambda w, a, n, v: services.need_deny_extension(
            actor=a, need=n, version=v, reason="时限充足"
        ),
        "dispatcher",
        None,
        NOBODY_BUT_DISPATCHER,
        lambda w: w.replied(),
    ),
    Case(
        "reply",
        lambda w: w.in_progress(),
        lambda w, a, n, v: services.need_reply(
            actor=a, need=n, version=v, outcome="resolved", reply_text="已更换路灯。"
        ),
        "handler",
        "replied",
        NOBODY_BUT_LEAD,
        lambda w: w.assigned(),
    ),
    Case(
        "callback",
        lambda w: w.replied(),
        lambda w, a, n, v: services.need_callback(
            actor=a, need=n, version=v, resolved="yes", satisfaction="satisfied", channel="phone"
        ),
        "officer",
        "closed",
        ("officer_b", "handler", "handler_other", "leader", "outsider"),
        lambda w: w.in_progress(),
    ),
    Case(
        "fulfil",
        following,
        lambda w, a, n, v: services.need_fulfil(actor=a, need=n, version=v, note="道路已硬化"),
        "handler",
        "closed",
        ("officer", "handler_other", "leader", "outsider"),
        lambda w: w.replied(),
    ),
    Case(
        "reopen",
        lambda w: w.replied(),
        lambda w, a, n, v: services.need_reopen(
            actor=a, need=n, version=v, reason="群众反映未修好"
        ),
        "dispatcher",
        "in_progress",
        NOBODY_BUT_DISPATCHER,
        lambda w: w.in_progress(),
    ),
    Case(
        "supervise",
        lambda w: w.in_progress(),
        lambda w, a, n, v: services.need_supervise(actor=a, need=n, version=v, note="请加快办理"),
        "leader",
        None,
        ("officer", "officer_b", "handler", "handler_other", "outsider"),
        closed,
    ),
    Case(
        "remind",
        lambda w: w.in_progress(),
        lambda w, a, n, v: services.need_remind(actor=a, need=n, version=v),
        "dispatcher",
        None,
        ("officer", "officer_b", "handler", "handler_other", "outsider"),
        closed,
    ),
    Case(
        "merge",
        lambda w: w.register(),
        _merge,
        "dispatcher",
        "merged",
        NOBODY_BUT_DISPATCHER,
        closed,
    ),
    Case(
        "withdraw",
        lambda w: w.register(),
        lambda w, a, n, v: services.need_withdraw(actor=a, need=n, version=v, reason="群众撤回"),
        "dispatcher",
        "withdrawn",
        NOBODY_BUT_DISPATCHER,
        closed,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_right_role_writes_exactly_one_event(world, case):
    need = case.setup(world)
    before = need.events.count()
    from_status = need.status
    actor = getattr(world, case.actor)

    result = case.call(world, actor, need, need.version)

    result.refresh_from_db()
    expected_to = case.to or from_status
    assert result.status == expected_to
    assert result.version == need.version + 1
    new_events = list(result.events.filter(seq__gt=before))
    assert len(new_events) == 1
    (event,) = new_events
    assert (event.seq, event.action, event.actor, event.from_status, event.to_status) == (
        before + 1,
        case.action,
        actor,
        from_status,
        expected_to,
    )
    # The event names the lead unit it concerns: for a return, the unit that gave it back.
    concerned = need.lead_unit_id if case.action == "return" else result.lead_unit_id
    assert event.data["lead_unit"] == concerned


@pytest.mark.parametrize(
    ("case", "persona"), [(c, p) for c in CASES for p in c.wrong], ids=lambda x: str(x)
)
def test_wrong_role_is_not_permitted_and_changes_nothing(world, case, persona):
    need = case.setup(world)
    assert_refused(
        NotPermitted, need, lambda: case.call(world, getattr(world, persona), need, need.version)
    )


@pytest.mark.parametrize("case", CASES, ids=str)
def test_wrong_status_is_an_illegal_transition_and_changes_nothing(world, case):
    need = case.bad_status(world)
    actor = getattr(world, case.actor)
    error = assert_refused(
        IllegalTransition, need, lambda: case.call(world, actor, need, need.version)
    )
    assert str(Need.Status(need.status).label) in error.message


@pytest.mark.parametrize("case", CASES, ids=str)
def test_stale_version_is_refused_and_changes_nothing(world, case):
    need = case.setup(world)
    actor = getattr(world, case.actor)
    error = assert_refused(
        StaleVersion, need, lambda: case.call(world, actor, need, need.version - 1)
    )
    assert error.message == "该记录已被他人修改，请刷新"


@pytest.mark.parametrize("case", CASES, ids=str)
def test_inactive_user_is_not_permitted(world, case):
    need = case.setup(world)
    actor = getattr(world, case.actor)
    actor.is_active = False
    actor.save(update_fields=["is_active"])
    assert_refused(NotPermitted, need, lambda: case.call(world, actor, need, need.version))


# --------------------------------------------------------------------------- invalid input

INVALID: list[tuple[str, Callable[[Any], Need], Call, str]] = [
    (
        "assign without lead unit",
        lambda w: w.register(),
        lambda w, a, n, v: services.need_assign(actor=a, need=n, version=v, lead_unit=None),
        "lead_unit",
    ),
    (
        "assign co unit equal to lead",
        lambda w: w.register(),
        lambda w, a, n, v: services.need_assign(
            actor=a, need=n, version=v, lead_unit=w.housing, co_units=[w.housing]
        ),
        "co_units",
    ),
    (
        "return without reason",
        lambda w: w.assigned(),
        lambda w, a, n, v: services.need_return(actor=a, need=n, version=v, reason="  "),
        "reason",
    ),
    (
        "progress without note",
        lambda w: w.in_progress(),
        lambda w, a, n, v: services.need_progress(actor=a, need=n, version=v, note=""),
        "note",
    ),
    (
        "extension of zero days",
        lambda w: w.in_progress(),
        lambda w, a, n, v: services.need_request_extension(
            actor=a, need=n, version=v, days=0, reason="需协调"
        ),
        "days",
    ),
    (
        "extension longer than the rule allows",
        lambda w: w.in_progress(),
        lambda w, a, n, v: services.need_request_extension(
            actor=a, need=n, version=v, days=11, reason="需协调"
        ),
        "days",
    ),
    (
        "extension without reason",
        lambda w: w.in_progress(),
        lambda w, a, n, v: services.need_request_extension(
            actor=a, need=n, version=v, days=2, reason=""
        ),
        "reason",
    ),
    (
        "deny extension without reason",
        with_pending_extension,
        lambda w, a, n, v: services.need_deny_extension(actor=a, need=n, version=v, reason=""),
        "reason",
    ),
    (
        "reply with unknown outcome",
        lambda w: w.in_progress(),
        lambda w, a, n, v: services.need_reply(
            actor=a, need=n, version=v, outcome="done", reply_text="好了"
        ),
        "outcome",
    ),
    (
        "reply without text",
        lambda w: w.in_progress(),
        lambda w, a, n, v: services.need_reply(
            actor=a, need=n, version=v, outcome="resolved", reply_text=" \n"
        ),
        "reply_text",
    ),
    (
        "planned reply without follow-up date",
        lambda w: w.in_progress(),
        lambda w, a, n, v: services.need_reply(
            actor=a, need=n, version=v, outcome="planned", reply_text="明年纳入改造计划"
        ),
        "followup_date",
    ),
    (
        "planned reply with a past follow-up date",
        lambda w: w.in_progress(),
        lambda w, a, n, v: services.need_reply(
            actor=a,
            need=n,
            version=v,
            outcome="planned",
            reply_text="明年纳入改造计划",
            followup_date=followup_in(-1),
        ),
        "followup_date",
    ),
    (
        "callback with unknown resolved",
        lambda w: w.replied(),
        lambda w, a, n, v: services.need_callback(
            actor=a, need=n, version=v, resolved="maybe", satisfaction="satisfied", channel="phone"
        ),
        "resolved",
    ),
    (
        "callback with unknown satisfaction",
        lambda w: w.replied(),
        lambda w, a, n, v: services.need_callback(
            actor=a, need=n, version=v, resolved="yes", satisfaction="ok", channel="phone"
        ),
        "satisfaction",
    ),
    (
        "callback with unknown channel",
        lambda w: w.replied(),
        lambda w, a, n, v: services.need_callback(
            actor=a, need=n, version=v, resolved="yes", satisfaction="satisfied", channel="fax"
        ),
        "channel",
    ),
    (
        "callback reached without resolved",
        lambda w: w.replied(),
        lambda w, a, n, v: services.need_callback(
            actor=a, need=n, version=v, resolved="", satisfaction="satisfied", channel="phone"
        ),
        "resolved",
    ),
    (
        "callback reached without satisfaction",
        lambda w: w.replied(),
        lambda w, a, n, v: services.need_callback(
            actor=a, need=n, version=v, resolved="yes", channel="visit"
        ),
        "satisfaction",
    ),
    (
        "callback unreachable with an invented verdict",
        lambda w: w.replied(),
        lambda w, a, n, v: services.need_callback(
            actor=a, need=n, version=v, resolved="no", channel="unreachable"
        ),
        "resolved",
    ),
    (
        "callback unreachable with an invented satisfaction",
        lambda w: w.replied(),
        lambda w, a, n, v: services.need_callback(
            actor=a, need=n, version=v, satisfaction="basic", channel="unreachable"
        ),
        "satisfaction",
    ),
    (
        "fulfil without note",
        following,
        lambda w, a, n, v: services.need_fulfil(actor=a, need=n, version=v, note=""),
        "note",
    ),
    (
        "reopen without reason",
        lambda w: w.replied(),
        lambda w, a, n, v: services.need_reopen(actor=a, need=n, version=v, reason=""),
        "reason",
    ),
    (
        "supervise without note",
        lambda w: w.in_progress(),
        lambda w, a, n, v: services.need_supervise(actor=a, need=n, version=v, note=""),
        "note",
    ),
    (
        "merge without target",
        lambda w: w.register(),
        lambda w, a, n, v: services.need_merge(actor=a, need=n, version=v, into=None),
        "into",
    ),
    (
        "merge into itself",
        lambda w: w.register(),
        lambda w, a, n, v: services.need_merge(actor=a, need=n, version=v, into=n),
        "into",
    ),
    (
        "withdraw without reason",
        lambda w: w.register(),
        lambda w, a, n, v: services.need_withdraw(actor=a, need=n, version=v, reason=""),
        "reason",
    ),
]

_ACTOR_FOR = {
    "assign": "dispatcher",
    "return": "handler",
    "progress": "handler",
    "extension": "handler",
    "deny": "dispatcher",
    "reply": "handler",
    "planned": "handler",
    "callback": "officer",
    "fulfil": "handler",
    "reopen": "dispatcher",
    "supervise": "dispatcher",
    "merge": "dispatcher",
    "withdraw": "dispatcher",
}


@pytest.mark.parametrize(("name", "setup", "call", "field"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_input_names_the_field_and_changes_nothing(world, name, setup, call, field):
    need = setup(world)
    actor = getattr(world, _ACTOR_FOR[name.split()[0]])
    error = assert_refused(InvalidInput, need, lambda: call(world, actor, need, need.version))
    assert field in error.errors
    assert error.message


# --------------------------------------------------------------------------- register


def test_register_writes_the_need_and_one_register_event(world):
    need = world.register(
        nature_tags=["urgent", "urgent", "worrying"],
        requester=RequesterInput(name="张三", phone="13812345678"),
    )

    need.refresh_from_db()
    assert need.status == "registered"
    assert need.version == 1
    assert need.recorded_by == world.officer
    assert need.nature_tags == ["urgent", "worrying"]
    assert need.requester is not None
    assert need.requester.phone == "13812345678"
    assert len(need.tracking_code) == ids.TRACKING_LENGTH
    assert set(need.tracking_code) <= set(ids.TRACKING_ALPHABET)
    [event] = events_of(need)
    assert (event.seq, event.action, event.from_status, event.to_status, event.actor) == (
        1,
        "register",
        "",
        "registered",
        world.officer,
    )


def test_dispatcher_may_register_anywhere_in_the_county(world):
    need = world.register(actor=world.dispatcher, area=world.grid_b)
    assert need.status == "registered"


def test_ledger_numbers_are_sequential_within_a_year(world, frozen):
    numbers = [world.register(title=f"诉求{i}").number for i in range(3)]
    assert numbers == ["WX-2026-000001", "WX-2026-000002", "WX-2026-000003"]


def test_ledger_numbers_restart_with_the_local_new_year(world, time_machine):
    # 23:30 on New Year's Eve in Shanghai is still 2026; 00:10 is 2027 although UTC is not.
    time_machine.move_to(at(2026, 12, 31, 23, 30), tick=False)
    first = world.register()
    second = world.register()
    time_machine.move_to(at(2027, 1, 1, 0, 10), tick=False)
    third = world.register()

    assert [first.number, second.number, third.number] == [
        "WX-2026-000001",
        "WX-2026-000002",
        "WX-2027-000001",
    ]
    assert dict(LedgerCounter.objects.values_list("year", "last")) == {2026: 2, 2027: 1}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"title": " "}, "title"),
        ({"title": "长" * 201}, "title"),
        ({"description": ""}, "description"),
        ({"kind": "gossip"}, "kind"),
        ({"source": "rumour"}, "source"),
        ({"urgency": "someday"}, "urgency"),
        ({"nature_tags": ["urgent", "boring"]}, "nature_tags"),
        ({"area": None}, "area"),
        ({"handling": "magic"}, "handling"),
        ({"handling": "on_the_spot"}, "handling"),
        ({"address": "很" * 201}, "address"),
    ],
)
def test_register_refuses_invalid_input_and_writes_nothing(world, overrides, field):
    with pytest.raises(InvalidInput) as info:
        world.register(**overrides)
    assert field in info.value.errors
    assert Need.objects.count() == 0
    assert NeedEvent.objects.count() == 0
    assert not LedgerCounter.objects.filter(last__gt=0).exists()


def test_register_refuses_an_inactive_category(world):
    world.cat_water.active = False
    world.cat_water.save()
    with pytest.raises(InvalidInput) as info:
        world.register(category=world.cat_water)
    assert "category" in info.value.errors


def test_officer_cannot_register_outside_their_area(world):
    with pytest.raises(InvalidInput) as info:
        world.register(actor=world.officer_b, area=world.grid_a)
    assert "area" in info.value.errors
    assert Need.objects.count() == 0


@pytest.mark.parametrize("persona", ["handler", "outsider"])
def test_roles_that_never_register_are_not_permitted(world, persona):
    with pytest.raises(NotPermitted):
        world.register(actor=getattr(world, persona))
    assert Need.objects.count() == 0


# --------------------------------------------------------------------------- on the spot


def _on_the_spot(world: Any, **overrides: Any) -> Need:
    values: dict[str, Any] = {
        "actor": world.officer,
        "title": "低保申请材料咨询",
        "description": "村民询问低保申请需要哪些材料。",
        "kind": "consult",
        "source": "visit",
        "area": world.grid_a,
        "reply_text": "已现场讲解申请材料并发放清单。",
    }
    values.update(overrides)
    return services.need_register_on_the_spot(**values)


def test_on_the_spot_registers_as_replied_with_outcome_resolved(world):
    need = _on_the_spot(world)

    need.refresh_from_db()
    assert need.status == "replied"
    assert need.handling == "on_the_spot"
    assert need.outcome == "resolved"
    assert need.reply_text == "已现场讲解申请材料并发放清单。"
    assert need.replied_at is not None
    assert need.closed_at is None
    [event] = events_of(need)
    assert (event.action, event.from_status, event.to_status) == (
        "register_on_the_spot",
        "",
        "replied",
    )


def test_on_the_spot_confirmed_by_the_resident_closes_at_once(world):
    need = _on_the_spot(world, confirmed=True, satisfaction="very_satisfied")

    need.refresh_from_db()
    assert need.status == "closed"
    assert need.closed_at is not None
    assert (need.callback_resolved, need.callback_satisfaction, need.callback_channel) == (
        "yes",
        "very_satisfied",
        "on_site",
    )
    [event] = events_of(need)
    assert (event.from_status, event.to_status) == ("", "closed")


def test_on_the_spot_replied_need_closes_on_callback(world):
    need = _on_the_spot(world)
    need = services.need_callback(
        actor=world.officer,
        need=need,
        version=need.version,
        resolved="yes",
        satisfaction="satisfied",
        channel="phone",
    )
    assert need.status == "closed"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"confirmed": True}, "satisfaction"),
        ({"confirmed": True, "satisfaction": "great"}, "satisfaction"),
        ({"reply_text": " "}, "reply_text"),
        ({"title": ""}, "title"),
        ({"actor_name": "officer_b"}, "area"),
    ],
)
def test_on_the_spot_refuses_invalid_input(world, overrides, field):
    if "actor_name" in overrides:
        overrides = {"actor": getattr(world, overrides.pop("actor_name"))}
    with pytest.raises(InvalidInput) as info:
        _on_the_spot(world, **overrides)
    assert field in info.value.errors
    assert Need.objects.count() == 0


@pytest.mark.parametrize("persona", ["dispatcher", "handler", "leader"])
def test_only_officers_solve_on_the_spot(world, persona):
    with pytest.raises(NotPermitted):
        _on_the_spot(world, actor=getattr(world, persona))
    assert Need.objects.count() == 0


# --------------------------------------------------------------------------- assign


def test_assign_stores_units_and_deadlines_from_the_rules(world, frozen):
    need = world.register()
    need = services.need_assign(
        actor=world.dispatcher,
        need=need,
        version=need.version,
        lead_unit=world.housing,
        co_units=[world.transport, world.transport],
    )

    need.refresh_from_db()
    calendar = deadlines.current_calendar()
    today = timezone.localdate(MONDAY)
    assert need.lead_unit == world.housing
    assert list(need.co_units.all()) == [world.transport]
    assert need.assigned_at == MONDAY
    # normal urgency: respond within 1 working day, resolve within 5 (DESIGN §4 defaults)
    assert need.response_due == deadlines.end_of_local_day(calendar.add_workdays(today, 1))
    assert need.resolve_due == deadlines.end_of_local_day(calendar.add_workdays(today, 5))
    assert need.resolve_due == at(2026, 3, 9, 23, 59, 59)
    assert need.original_resolve_due == need.resolve_due
    assert need.calendar_version == calendar.version
    [*_, event] = events_of(need)
    assert event.data["lead_unit"] == world.housing.pk
    assert event.data["co_units"] == [world.transport.pk]


def test_assign_urgent_need_counts_hours(world, frozen):
    need = world.assigned(urgency="urgent")
    assert need.response_due == MONDAY + timedelta(hours=2)
    assert need.resolve_due == MONDAY + timedelta(hours=24)


def test_assign_uses_the_most_specific_deadline_rule(world, frozen):
    DeadlineRule.objects.create(
        category=world.cat_roads.parent,
        urgency="normal",
        response_value=1,
        response_unit="workdays",
        resolve_value=2,
        resolve_unit="workdays",
    )
    need = world.assigned()
    assert need.resolve_due == at(2026, 3, 4, 23, 59, 59)


def test_assign_refuses_inactive_units(world):
    world.transport.active = False
    world.transport.save()
    need = world.register()
    cases: list[tuple[dict[str, Any], str]] = [
        ({"lead_unit": world.transport}, "lead_unit"),
        ({"lead_unit": world.housing, "co_units": [world.transport]}, "co_units"),
    ]
    for kwargs, field in cases:

        def assign(kwargs: dict[str, Any] = kwargs) -> Need:
            return services.need_assign(
                actor=world.dispatcher, need=need, version=need.version, **kwargs
            )

        error = assert_refused(InvalidInput, need, assign)
        assert field in error.errors


def test_dispatcher_of_another_township_cannot_assign(world):
    town_b_dispatcher = User.objects.create_user(username="disp_b", password="x")
    Membership.objects.create(user=town_b_dispatcher, role="dispatcher", area=world.town_b)
    need = world.register()
    assert_refused(
        NotPermitted,
        need,
        lambda: services.need_assign(
            actor=town_b_dispatcher, need=need, version=need.version, lead_unit=world.housing
        ),
    )


# --------------------------------------------------------------------------- accept and return


def test_accept_records_the_first_response_time(world, frozen):
    need = world.in_progress()
    assert need.responded_at == MONDAY
    assert need.status == "in_progress"


@pytest.mark.parametrize("start", ["assigned", "in_progress"])
def test_return_clears_unit_and_deadlines(world, start):
    need = getattr(world, start)()
    need.co_units.add(world.transport)  # co units go with the lead unit

    need = services.need_return(
        actor=world.handler, need=need, version=need.version, reason="应由交通局办理"
    )

    need.refresh_from_db()
    assert need.status == "registered"
    assert need.lead_unit is None
    assert list(need.co_units.all()) == []
    assert (need.assigned_at, need.response_due, need.resolve_due) == (None, None, None)
    assert (need.original_resolve_due, need.responded_at) == (None, None)
    [*_, event] = events_of(need)
    assert (event.action, event.from_status, event.to_status) == ("return", start, "registered")
    assert event.note == "应由交通局办理"
    assert event.data == {"lead_unit": world.housing.pk}


def test_returned_need_can_be_assigned_again_with_fresh_deadlines(world, time_machine):
    time_machine.move_to(MONDAY, tick=False)
    need = world.assigned()
    first_due = need.resolve_due
    need = services.need_return(actor=world.handler, need=need, version=need.version, reason="错派")
    time_machine.move_to(at(2026, 3, 4, 10), tick=False)
    need = services.need_assign(
        actor=world.dispatcher, need=need, version=need.version, lead_unit=world.transport
    )
    assert need.lead_unit == world.transport
    assert need.resolve_due == at(2026, 3, 11, 23, 59, 59)
    assert need.resolve_due != first_due


# --------------------------------------------------------------------------- co units, sub-units


def test_co_unit_handler_may_add_progress_but_not_reply(world):
    need = world.register()
    need = services.need_assign(
        actor=world.dispatcher,
        need=need,
        version=need.version,
        lead_unit=world.housing,
        co_units=[world.transport],
    )
    need = services.need_accept(actor=world.handler, need=need, version=need.version)

    need = services.need_progress(
        actor=world.handler_other, need=need, version=need.version, note="交通局已配合勘查"
    )
    assert events_of(need)[-1].actor == world.handler_other

    for action in (
        lambda: services.need_reply(
            actor=world.handler_other,
            need=need,
            version=need.version,
            outcome="resolved",
            reply_text="已处理",
        ),
        lambda: services.need_request_extension(
            actor=world.handler_other, need=need, version=need.version, days=2, reason="协调"
        ),
        lambda: services.need_return(
            actor=world.handler_other, need=need, version=need.version, reason="不归我们"
        ),
    ):
        assert_refused(NotPermitted, need, action)


def test_co_unit_handler_cannot_accept(world):
    need = world.register()
    need = services.need_assign(
        actor=world.dispatcher,
        need=need,
        version=need.version,
        lead_unit=world.housing,
        co_units=[world.transport],
    )
    assert_refused(
        NotPermitted,
        need,
        lambda: services.need_accept(actor=world.handler_other, need=need, version=need.version),
    )


def test_handler_of_a_parent_unit_acts_for_its_sub_unit(world):
    # 交通局 is the parent of 公路养护中心: its handlers see and act on the centre's needs.
    need = world.assigned(lead=world.transport_roads)
    need = services.need_accept(actor=world.handler_other, need=need, version=need.version)
    need = services.need_reply(
        actor=world.handler_other,
        need=need,
        version=need.version,
        outcome="resolved",
        reply_text="养护中心已修复路面。",
    )
    assert need.status == "replied"


def test_handler_of_the_sub_unit_acts_on_its_own_needs(world):
    need = world.assigned(lead=world.transport_roads)
    need = services.need_accept(actor=world.handler_roads, need=need, version=need.version)
    assert need.status == "in_progress"


def test_handler_of_a_sub_unit_cannot_act_for_the_parent_unit(world):
    need = world.assigned(lead=world.transport)
    assert_refused(
        NotPermitted,
        need,
        lambda: services.need_accept(actor=world.handler_roads, need=need, version=need.version),
    )


def _with_unit_scope(world, role):
    """A user holding `role` over 住建局, as a membership row written before the database
    refused such rows (accounts migration 0003) would give them."""
    user = User.objects.create_user(username=f"legacy_{role}", password="x")
    handler_scope = scopes_for_user(world.handler)[0]
    user._wenxu_scopes = [dataclasses.replace(handler_scope, role=role)]  # type: ignore[attr-defined]
    return user


@pytest.mark.parametrize("role", ["dispatcher", "officer", "admin"])
def test_area_role_held_over_a_unit_gives_no_rights_over_its_needs(world, role):
    need = world.replied()
    assert services.actor_roles(_with_unit_scope(world, role), need) == set()


def test_unit_scoped_dispatcher_row_cannot_approve_the_units_extensions(world):
    legacy = _with_unit_scope(world, "dispatcher")
    need = with_pending_extension(world)
    assert_refused(
        NotPermitted,
        need,
        lambda: services.need_approve_extension(actor=legacy, need=need, version=need.version),
    )


def test_leader_of_a_unit_keeps_the_leader_role_over_its_needs(world):
    leader = User.objects.create_user(username="unit_leader", password="x")
    Membership.objects.create(user=leader, role="leader", unit=world.housing)
    need = world.in_progress()
    assert services.actor_roles(leader, need) == {"leader"}
    services.need_supervise(actor=leader, need=need, version=need.version, note="请加快办理")


# --------------------------------------------------------------------------- extensions


def test_approved_extension_moves_resolve_due_by_working_days(world, frozen):
    need = world.in_progress()
    original = need.resolve_due
    assert original is not None

    need = services.need_request_extension(
        actor=world.handler, need=need, version=need.version, days=3, reason="需协调电力部门"
    )
    assert (need.extension_pending_days, need.extension_pending_reason) == (3, "需协调电力部门")
    assert need.resolve_due == original
    need = services.need_approve_extension(
        actor=world.dispatcher, need=need, version=need.version, note="同意"
    )

    need.refresh_from_db()
    calendar = deadlines.current_calendar()
    expected = deadlines.end_of_local_day(calendar.add_workdays(timezone.localdate(original), 3))
    assert need.resolve_due == expected == at(2026, 3, 12, 23, 59, 59)
    assert need.original_resolve_due == original
    assert need.extension_count == 1
    assert (need.extension_pending_days, need.extension_pending_reason) == (None, "")
    request, approve = events_of(need)[-2:]
    assert (request.action, request.data) == (
        "request_extension",
        {"days": 3, "lead_unit": world.housing.pk},
    )
    assert approve.action == "approve_extension"
    assert approve.data["from"] == original.isoformat()


def test_extension_skips_holidays_and_counts_adjusted_working_weekends(world, time_machine):
    # Assigned Mon 2026-09-21: Fri 09-25 is Mid-Autumn, so due Tue 09-29; four more working
    # days skip the National Day week and land on Sat 10-10, an adjusted working day (调休上班).
    time_machine.move_to(at(2026, 9, 21, 9), tick=False)
    need = world.in_progress()
    assert need.resolve_due == at(2026, 9, 29, 23, 59, 59)
    need = services.need_request_extension(
        actor=world.handler, need=need, version=need.version, days=4, reason="国庆假期"
    )
    need = services.need_approve_extension(actor=world.dispatcher, need=need, version=need.version)
    assert need.resolve_due == at(2026, 10, 10, 23, 59, 59)


def test_denied_extension_keeps_the_deadline_and_allows_a_new_request(world, frozen):
    need = with_pending_extension(world)
    due = need.resolve_due

    need = services.need_deny_extension(
        actor=world.dispatcher, need=need, version=need.version, reason="时限充足"
    )

    need.refresh_from_db()
    assert need.resolve_due == due == need.original_resolve_due
    assert need.extension_count == 0
    assert need.extension_pending_days is None
    assert events_of(need)[-1].note == "时限充足"
    need = services.need_request_extension(
        actor=world.handler, need=need, version=need.version, days=2, reason="确需延期"
    )
    assert need.extension_pending_days == 2


def test_extension_may_be_requested_only_before_the_deadline(world, time_machine):
    time_machine.move_to(MONDAY, tick=False)
    need = world.in_progress()
    assert need.resolve_due is not None

    time_machine.move_to(need.resolve_due - timedelta(seconds=1), tick=False)
    with_one_second_left = services.need_request_extension(
        actor=world.handler, need=need, version=need.version, days=1, reason="赶不及"
    )
    assert with_one_second_left.extension_pending_days == 1

    late = world.in_progress()
    assert late.resolve_due is not None
    time_machine.move_to(late.resolve_due, tick=False)
    error = assert_refused(
        IllegalTransition,
        late,
        lambda: services.need_request_extension(
            actor=world.handler, need=late, version=late.version, days=1, reason="赶不及"
        ),
    )
    assert "办结时限" in error.message


def test_only_one_pending_extension_at_a_time(world, frozen):
    need = with_pending_extension(world)
    assert_refused(
        IllegalTransition,
        need,
        lambda: services.need_request_extension(
            actor=world.handler, need=need, version=need.version, days=1, reason="再延"
        ),
    )


def test_at_most_max_extensions_by_default_once(world, frozen):
    need = with_pending_extension(world)
    need = services.need_approve_extension(actor=world.dispatcher, need=need, version=need.version)
    error = assert_refused(
        IllegalTransition,
        need,
        lambda: services.need_request_extension(
            actor=world.handler, need=need, version=need.version, days=1, reason="再延"
        ),
    )
    assert "上限" in error.message


def test_a_rule_may_allow_more_extensions(world, frozen):
    DeadlineRule.objects.create(
        urgency="normal",
        response_value=1,
        response_unit="workdays",
        resolve_value=5,
        resolve_unit="workdays",
        max_extensions=2,
        max_extension_days=4,
    )
    need = world.in_progress()
    for _ in range(2):
        need = services.need_request_extension(
            actor=world.handler, need=need, version=need.version, days=4, reason="工程量大"
        )
        need = services.need_approve_extension(
            actor=world.dispatcher, need=need, version=need.version
        )
    assert need.extension_count == 2
    assert_refused(
        IllegalTransition,
        need,
        lambda: services.need_request_extension(
            actor=world.handler, need=need, version=need.version, days=1, reason="第三次"
        ),
    )


def test_extension_may_be_approved_only_before_the_deadline(world, time_machine):
    time_machine.move_to(MONDAY, tick=False)
    in_time = with_pending_extension(world)
    lapsed = with_pending_extension(world)
    assert in_time.resolve_due is not None
    assert lapsed.resolve_due == in_time.resolve_due

    time_machine.move_to(in_time.resolve_due - timedelta(seconds=1), tick=False)
    in_time = services.need_approve_extension(
        actor=world.dispatcher, need=in_time, version=in_time.version
    )
    assert in_time.extension_count == 1

    time_machine.move_to(lapsed.resolve_due, tick=False)
    error = assert_refused(
        IllegalTransition,
        lapsed,
        lambda: services.need_approve_extension(
            actor=world.dispatcher, need=lapsed, version=lapsed.version
        ),
    )
    assert error.message == "已超过办结时限，延期申请已失效，不能再批准。"


def test_lapsed_extension_request_may_still_be_denied(world, time_machine):
    time_machine.move_to(MONDAY, tick=False)
    need = with_pending_extension(world)
    assert need.resolve_due is not None
    time_machine.move_to(need.resolve_due + timedelta(days=1), tick=False)

    need = services.need_deny_extension(
        actor=world.dispatcher, need=need, version=need.version, reason="已超过办结时限"
    )

    assert need.extension_pending_days is None
    assert need.resolve_due == need.original_resolve_due
    assert need.extension_count == 0


def _extend(world, need, handler, days=2):
    need = services.need_request_extension(
        actor=handler, need=need, version=need.version, days=days, reason="需协调其他部门"
    )
    return services.need_approve_extension(actor=world.dispatcher, need=need, version=need.version)


def test_unit_given_the_need_after_a_return_may_have_its_own_extension(world, frozen):
    need = _extend(world, world.in_progress(), world.handler)
    need = services.need_return(
        actor=world.handler, need=need, version=need.version, reason="不属本单位职责"
    )
    need = services.need_assign(
        actor=world.dispatcher, need=need, version=need.version, lead_unit=world.transport
    )
    need = services.need_accept(actor=world.handler_other, need=need, version=need.version)

    need = _extend(world, need, world.handler_other)

    assert need.extension_count == 2  # the lifetime total, a reported measure
    assert need.resolve_due != need.original_resolve_due
    # The new cycle has its own limit, and it holds.
    error = assert_refused(
        IllegalTransition,
        need,
        lambda: services.need_request_extension(
            actor=world.handler_other, need=need, version=need.version, days=1, reason="再延"
        ),
    )
    assert "上限" in error.message


def test_reopened_need_may_have_an_extension_again(world, frozen):
    need = _extend(world, world.in_progress(), world.handler)
    need = services.need_reply(
        actor=world.handler, need=need, version=need.version, outcome="resolved", reply_text="已修"
    )
    need = services.need_reopen(
        actor=world.dispatcher, need=need, version=need.version, reason="群众反映又坏了"
    )

    need = _extend(world, need, world.handler)

    assert need.extension_count == 2
    assert need.extension_pending_days is None


@pytest.mark.parametrize("action", ["approve", "deny"])
def test_no_decision_without_a_pending_request(world, action):
    need = world.in_progress()
    call = {
        "approve": lambda: services.need_approve_extension(
            actor=world.dispatcher, need=need, version=need.version
        ),
        "deny": lambda: services.need_deny_extension(
            actor=world.dispatcher, need=need, version=need.version, reason="不同意"
        ),
    }[action]
    assert_refused(IllegalTransition, need, call)


# --------------------------------------------------------------------------- reply


def test_reply_records_outcome_text_and_time(world, frozen):
    need = world.in_progress()
    need = services.need_reply(
        actor=world.handler,
        need=need,
        version=need.version,
        outcome="explained",
        reply_text="  该路段属省道，已向群众解释并转告公路部门。 ",
    )
    need.refresh_from_db()
    assert need.status == "replied"
    assert need.outcome == "explained"
    assert need.reply_text == "该路段属省道，已向群众解释并转告公路部门。"
    assert need.replied_at == MONDAY
    event = events_of(need)[-1]
    assert event.data["on_time"] is True
    assert event.note == need.reply_text


def test_planned_reply_keeps_the_followup_date(world, frozen):
    need = world.replied("planned")
    assert need.outcome == "planned"
    assert need.followup_date == followup_in(30)


def test_late_reply_is_recorded_as_not_on_time(world, time_machine):
    time_machine.move_to(MONDAY, tick=False)
    need = world.in_progress()
    assert need.resolve_due is not None
    time_machine.move_to(need.resolve_due + timedelta(hours=1), tick=False)
    need = services.need_reply(
        actor=world.handler, need=need, version=need.version, outcome="resolved", reply_text="已修"
    )
    assert events_of(need)[-1].data["on_time"] is False


def test_reply_withdraws_a_pending_extension_request(world, frozen):
    need = with_pending_extension(world)
    need = services.need_reply(
        actor=world.handler, need=need, version=need.version, outcome="resolved", reply_text="已修"
    )
    assert need.extension_pending_days is None


# --------------------------------------------------------------------------- callback, fulfil


def test_callback_closes_a_resolved_need(world, frozen):
    need = closed(world)
    need.refresh_from_db()
    assert need.status == "closed"
    assert need.closed_at == MONDAY
    assert (need.callback_resolved, need.callback_satisfaction, need.callback_channel) == (
        "yes",
        "satisfied",
        "phone",
    )
    event = events_of(need)[-1]
    assert (event.action, event.from_status, event.to_status) == ("callback", "replied", "closed")


def test_callback_on_a_planned_reply_keeps_following(world):
    need = following(world)
    need.refresh_from_db()
    assert need.status == "following"
    assert need.closed_at is None
    event = events_of(need)[-1]
    assert (event.from_status, event.to_status) == ("replied", "following")


def test_dispatcher_may_do_the_callback(world):
    need = world.replied()
    need = services.need_callback(
        actor=world.dispatcher,
        need=need,
        version=need.version,
        resolved="no",
        satisfaction="dissatisfied",
        channel="visit",
        comment="路灯又坏了",
    )
    assert need.status == "closed"
    assert need.callback_comment == "路灯又坏了"


def test_unreachable_callback_records_no_verdict(world, frozen):
    need = world.replied()
    need = services.need_callback(
        actor=world.officer,
        need=need,
        version=need.version,
        channel="unreachable",
        comment="三次电话均未接通",
    )
    need.refresh_from_db()
    assert need.status == "closed"
    assert (need.callback_resolved, need.callback_satisfaction, need.callback_channel) == (
        "",
        "",
        "unreachable",
    )
    assert need.callback_at == need.closed_at == MONDAY
    assert events_of(need)[-1].data["resolved"] == ""


def test_unreachable_callback_on_a_planned_reply_goes_on_following(world):
    need = world.replied("planned")
    need = services.need_callback(
        actor=world.dispatcher,
        need=need,
        version=need.version,
        resolved="",
        satisfaction="",
        channel="unreachable",
    )
    assert need.status == "following"
    assert need.callback_satisfaction == ""


@pytest.mark.parametrize("persona", ["handler", "dispatcher"])
def test_fulfil_closes_a_followed_promise(world, frozen, persona):
    need = following(world)
    need = services.need_fulfil(
        actor=getattr(world, persona), need=need, version=need.version, note="道路已硬化并告知群众"
    )
    need.refresh_from_db()
    assert need.status == "closed"
    assert need.fulfilled_at == need.closed_at == MONDAY
    event = events_of(need)[-1]
    assert (event.action, event.from_status, event.to_status) == ("fulfil", "following", "closed")


def test_a_planned_need_cannot_be_closed_by_callback_twice(world):
    need = following(world)
    assert_refused(
        IllegalTransition,
        need,
        lambda: services.need_callback(
            actor=world.officer,
            need=need,
            version=need.version,
            resolved="yes",
            satisfaction="satisfied",
            channel="phone",
        ),
    )


def test_expired_callback_closes_as_unreachable(world, frozen):
    need = world.replied()
    later = MONDAY + timedelta(days=10, seconds=1)
    frozen.move_to(later, tick=False)
    need = services.need_expire_callback(need=need)
    need.refresh_from_db()
    assert need.status == "closed"
    assert need.callback_channel == "unreachable"
    assert need.closed_at == need.callback_at == later
    assert (need.callback_resolved, need.callback_satisfaction) == ("", "")
    event = events_of(need)[-1]
    assert (event.action, event.actor, event.from_status, event.to_status) == (
        "callback",
        None,
        "replied",
        "closed",
    )


def test_expired_callback_on_a_planned_reply_goes_on_following(world, time_machine):
    need = world.replied("planned")
    time_machine.move_to(clock.now() + timedelta(days=11), tick=False)
    need = services.need_expire_callback(need=need)
    need.refresh_from_db()
    assert need.status == "following"
    assert need.closed_at is None


def test_expired_callback_is_refused_inside_the_callback_window(world, frozen, settings):
    settings.WENXU_CALLBACK_WINDOW_DAYS = 10
    need = world.replied()
    frozen.move_to(MONDAY + timedelta(days=10), tick=False)  # the window's last moment
    error = assert_refused(
        IllegalTransition, need, lambda: services.need_expire_callback(need=need)
    )
    assert "10 天" in error.message


def test_expired_callback_is_refused_for_a_need_replied_again_after_a_reopen(world, time_machine):
    # The sweep lists a need whose window has passed; before it gets to the need, the need is
    # reopened and replied again, which starts a fresh window.
    time_machine.move_to(MONDAY, tick=False)
    need = world.replied()
    time_machine.move_to(MONDAY + timedelta(days=11), tick=False)
    need = services.need_reopen(
        actor=world.dispatcher, need=need, version=need.version, reason="群众反映未修好"
    )
    need = services.need_reply(
        actor=world.handler, need=need, version=need.version, outcome="resolved", reply_text="已修"
    )

    assert_refused(IllegalTransition, need, lambda: services.need_expire_callback(need=need.pk))
    need.refresh_from_db()
    assert need.status == "replied"


@pytest.mark.parametrize("builder", [lambda w: w.in_progress(), closed, following])
def test_expired_callback_only_applies_to_replied_needs(world, builder):
    need = builder(world)
    assert_refused(IllegalTransition, need, lambda: services.need_expire_callback(need=need))


# --------------------------------------------------------------------------- reopen


def test_reopen_a_replied_need_gives_a_new_deadline(world, time_machine):
    time_machine.move_to(MONDAY, tick=False)
    need = world.replied()
    time_machine.move_to(at(2026, 3, 16, 9), tick=False)

    need = services.need_reopen(
        actor=world.dispatcher, need=need, version=need.version, reason="群众反映路灯仍不亮"
    )

    need.refresh_from_db()
    assert need.status == "in_progress"
    assert need.reopen_count == 1
    assert need.resolve_due == need.original_resolve_due == at(2026, 3, 23, 23, 59, 59)
    assert (need.outcome, need.reply_text, need.replied_at) == ("", "", None)
    event = events_of(need)[-1]
    assert (event.action, event.from_status, event.to_status) == (
        "reopen",
        "replied",
        "in_progress",
    )
    assert event.data["previous_outcome"] == "resolved"
    assert event.data["previous_reply"] == "已更换路灯，恢复照明。"


def test_reopen_a_closed_need_within_the_window(world, time_machine):
    time_machine.move_to(MONDAY, tick=False)
    need = closed(world)
    time_machine.move_to(MONDAY + timedelta(days=30), tick=False)
    need = services.need_reopen(
        actor=world.dispatcher, need=need, version=need.version, reason="群众不满意"
    )
    need.refresh_from_db()
    assert need.status == "in_progress"
    assert need.closed_at is None
    assert (need.callback_resolved, need.callback_satisfaction) == ("", "")


def test_reopen_after_the_window_is_refused(world, time_machine):
    time_machine.move_to(MONDAY, tick=False)
    need = closed(world)
    time_machine.move_to(MONDAY + timedelta(days=30, seconds=1), tick=False)
    error = assert_refused(
        IllegalTransition,
        need,
        lambda: services.need_reopen(
            actor=world.dispatcher, need=need, version=need.version, reason="群众不满意"
        ),
    )
    assert "30" in error.message


def test_reopen_window_follows_the_setting(world, time_machine, settings):
    settings.WENXU_REOPEN_WINDOW_DAYS = 7
    time_machine.move_to(MONDAY, tick=False)
    need = closed(world)
    time_machine.move_to(MONDAY + timedelta(days=8), tick=False)
    assert_refused(
        IllegalTransition,
        need,
        lambda: services.need_reopen(
            actor=world.dispatcher, need=need, version=need.version, reason="群众不满意"
        ),
    )


def test_reopen_may_hand_the_need_to_another_unit(world):
    need = world.replied()
    need = services.need_reopen(
        actor=world.dispatcher,
        need=need,
        version=need.version,
        reason="应由交通局办理",
        lead_unit=world.transport,
    )
    assert need.lead_unit == world.transport
    need = services.need_reply(
        actor=world.handler_other,
        need=need,
        version=need.version,
        outcome="resolved",
        reply_text="已修复",
    )
    assert need.status == "replied"


def test_reopen_of_an_on_the_spot_need_needs_a_lead_unit(world):
    need = _on_the_spot(world, confirmed=True, satisfaction="satisfied")
    error = assert_refused(
        InvalidInput,
        need,
        lambda: services.need_reopen(
            actor=world.dispatcher, need=need, version=need.version, reason="问题复发"
        ),
    )
    assert "lead_unit" in error.errors
    need = services.need_reopen(
        actor=world.dispatcher,
        need=need,
        version=need.version,
        reason="问题复发",
        lead_unit=world.town_a_gov,
    )
    assert need.status == "in_progress"
    assert need.resolve_due is not None


# --------------------------------------------------------------------------- oversight


@pytest.mark.parametrize("persona", ["dispatcher", "leader"])
def test_supervise_flags_the_need_without_changing_status(world, persona):
    need = world.assigned()
    need = services.need_supervise(
        actor=getattr(world, persona), need=need, version=need.version, note="请三日内办结"
    )
    need.refresh_from_db()
    assert need.supervised is True
    assert need.status == "assigned"


def test_system_may_remind(world):
    need = world.assigned()
    need = services.need_remind(actor=None, need=need, version=None)
    event = events_of(need)[-1]
    assert (event.action, event.actor, event.note) == ("remind", None, "请抓紧办理。")


def test_system_may_not_take_human_actions(world):
    need = world.register()
    assert_refused(
        NotPermitted,
        need,
        lambda: services.need_withdraw(actor=None, need=need, version=None, reason="系统"),  # type: ignore[arg-type]
    )


# --------------------------------------------------------------------------- merge, withdraw


def test_merge_moves_the_need_and_notes_it_on_the_target(world):
    source = world.register(title="路灯坏了")
    target = world.in_progress(title="东河村路灯维修")
    target_version = target.version

    source = services.need_merge(
        actor=world.dispatcher, need=source, version=source.version, into=target
    )

    source.refresh_from_db()
    target.refresh_from_db()
    assert source.status == "merged"
    assert source.merged_into == target
    assert events_of(source)[-1].data == {"into": target.number, "lead_unit": None}
    assert target.status == "in_progress"
    assert target.version == target_version + 1
    merged_from = events_of(target)[-1]
    assert (merged_from.action, merged_from.from_status, merged_from.to_status) == (
        "merged_from",
        "in_progress",
        "in_progress",
    )
    assert merged_from.data == {"from": source.number, "lead_unit": world.housing.pk}
    assert merged_from.actor == world.dispatcher


@pytest.mark.parametrize("target_state", ["closed", "withdrawn", "merged"])
def test_cannot_merge_into_an_inactive_need(world, target_state):
    source = world.register()
    if target_state == "closed":
        target = closed(world)
    else:
        target = world.register(title="另一条")
        if target_state == "withdrawn":
            target = services.need_withdraw(
                actor=world.dispatcher, need=target, version=target.version, reason="重复"
            )
        else:
            third = world.register(title="第三条")
            target = services.need_merge(
                actor=world.dispatcher, need=target, version=target.version, into=third
            )
    error = assert_refused(
        InvalidInput,
        source,
        lambda: services.need_merge(
            actor=world.dispatcher, need=source, version=source.version, into=target
        ),
        target,
    )
    assert "into" in error.errors


def test_cannot_merge_into_a_need_outside_the_dispatchers_scope(world):
    town_a_dispatcher = User.objects.create_user(username="disp_a", password="x")
    Membership.objects.create(user=town_a_dispatcher, role="dispatcher", area=world.town_a)
    source = world.register()
    target = world.register(actor=world.officer_b, area=world.grid_b)
    error = assert_refused(
        InvalidInput,
        source,
        lambda: services.need_merge(
            actor=town_a_dispatcher, need=source, version=source.version, into=target
        ),
        target,
    )
    assert "into" in error.errors


def test_withdraw_records_the_reason(world):
    need = world.in_progress()
    need = services.need_withdraw(
        actor=world.dispatcher, need=need, version=need.version, reason="群众已自行解决"
    )
    event = events_of(need)[-1]
    assert (event.from_status, event.to_status, event.note) == (
        "in_progress",
        "withdrawn",
        "群众已自行解决",
    )


def test_need_others_were_merged_into_cannot_be_withdrawn(world):
    source = world.register(title="路灯坏了")
    target = world.in_progress(title="东河村路灯维修")
    services.need_merge(actor=world.dispatcher, need=source, version=source.version, into=target)
    target.refresh_from_db()

    error = assert_refused(
        IllegalTransition,
        target,
        lambda: services.need_withdraw(
            actor=world.dispatcher, need=target, version=target.version, reason="重复"
        ),
        source,
    )

    assert error.message == "有诉求已并入本诉求，不能撤销；请先办理本诉求。"


def test_merge_target_may_be_merged_on_and_its_requesters_follow(world):
    # Merges chain (selectors.need_requesters): the first need's requester follows to the last.
    first = world.register(title="路灯坏了")
    middle = world.register(title="村口路灯不亮")
    last = world.in_progress(title="东河村路灯维修")
    services.need_merge(actor=world.dispatcher, need=first, version=first.version, into=middle)
    middle.refresh_from_db()

    middle = services.need_merge(
        actor=world.dispatcher, need=middle, version=middle.version, into=last
    )

    assert middle.status == "merged"
    last.refresh_from_db()
    assert_refused(
        IllegalTransition,
        last,
        lambda: services.need_withdraw(
            actor=world.dispatcher, need=last, version=last.version, reason="重复"
        ),
    )


# --------------------------------------------------------------------------- notifications


def test_assign_notifies_the_lead_units_handlers_once(world, django_capture_on_commit_callbacks):
    need = world.register()
    with django_capture_on_commit_callbacks(execute=True):
        need = services.need_assign(
            actor=world.dispatcher,
            need=need,
            version=need.version,
            lead_unit=world.housing,
            co_units=[world.transport],
        )
    event = events_of(need)[-1]

    notes = list(Notification.objects.filter(event=event))
    assert [n.recipient for n in notes] == [world.handler]
    assert notes[0].need == need
    assert need.number in notes[0].message

    # Delivery is retried: no duplicate.
    assert deliver_need_event.call(event.pk) == 0
    assert deliver_need_event.call(event.pk) == 0
    assert Notification.objects.filter(event=event).count() == 1


def test_reply_notifies_dispatchers_and_the_recorder(world, django_capture_on_commit_callbacks):
    need = world.in_progress()
    with django_capture_on_commit_callbacks(execute=True):
        need = services.need_reply(
            actor=world.handler,
            need=need,
            version=need.version,
            outcome="resolved",
            reply_text="修好",
        )
    event = events_of(need)[-1]
    recipients = set(Notification.objects.filter(event=event).values_list("recipient", flat=True))
    assert recipients == {world.dispatcher.pk, world.officer.pk}


def test_register_notifies_the_dispatchers_covering_the_area(
    world, django_capture_on_commit_callbacks
):
    town_b_dispatcher = User.objects.create_user(username="disp_b", password="x")
    Membership.objects.create(user=town_b_dispatcher, role="dispatcher", area=world.town_b)
    with django_capture_on_commit_callbacks(execute=True):
        need = world.register()  # in 东河镇, by the officer
    event = events_of(need)[-1]
    recipients = set(Notification.objects.filter(event=event).values_list("recipient", flat=True))
    assert recipients == {world.dispatcher.pk}


def test_delayed_delivery_reaches_the_unit_the_event_was_about(
    world, django_capture_on_commit_callbacks
):
    need = world.register()
    with django_capture_on_commit_callbacks(execute=False) as queued:
        need = services.need_assign(
            actor=world.dispatcher, need=need, version=need.version, lead_unit=world.housing
        )
    assert len(queued) == 1  # the delivery is queued, not yet run
    assigned_to_housing = events_of(need)[-1]
    # Before it runs, 住建局 returns the need and it goes to 交通局.
    need = services.need_return(
        actor=world.handler, need=need, version=need.version, reason="不属本单位职责"
    )
    need = services.need_assign(
        actor=world.dispatcher, need=need, version=need.version, lead_unit=world.transport
    )

    assert notify_for_event(event_id=assigned_to_housing.pk) == 1
    recipients = Notification.objects.filter(event=assigned_to_housing).values_list(
        "recipient", flat=True
    )
    assert list(recipients) == [world.handler.pk]


def test_event_without_a_recorded_lead_unit_reaches_the_current_one(world):
    # Events written before events carried their lead unit.
    need = world.in_progress()
    older = NeedEvent.objects.create(
        need=need,
        seq=need.events.count() + 1,
        actor=world.dispatcher,
        action="supervise",
        from_status=need.status,
        to_status=need.status,
        data={},
        created_at=clock.now(),
    )
    assert notify_for_event(event_id=older.pk) == 1
    assert Notification.objects.get(event=older).recipient == world.handler


def test_refused_action_notifies_nobody(world, django_capture_on_commit_callbacks):
    need = world.register()
    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(NotPermitted):
        services.need_assign(
            actor=world.handler, need=need, version=need.version, lead_unit=world.housing
        )
    assert callbacks == []
    assert Notification.objects.count() == 0


# --------------------------------------------------------------------------- concurrency


def test_second_of_two_stale_writers_is_refused(world):
    # Two people open the same need (version N) and both save.
    need = world.in_progress()
    seen = need.version
    services.need_progress(actor=world.handler, need=need.pk, version=seen, note="第一人的进展")

    error = assert_refused(
        StaleVersion,
        need,
        lambda: services.need_reply(
            actor=world.handler, need=need.pk, version=seen, outcome="resolved", reply_text="已修"
        ),
    )
    assert error.code == "stale_version"
    need.refresh_from_db()
    assert need.status == "in_progress"
    assert need.version == seen + 1
    assert events_of(need)[-1].note == "第一人的进展"


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_in_separate_transactions_one_wins(world):
    """Two threads, two connections, the same version: exactly one write lands."""
    need = world.in_progress()
    seen = need.version
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def write(note: str) -> None:
        try:
            barrier.wait(timeout=10)
            services.need_progress(actor=world.handler, need=need.pk, version=seen, note=note)
            outcomes.append("ok")
        except StaleVersion:
            outcomes.append("stale")
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(f"写者{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(outcomes) == ["ok", "stale"]
    need.refresh_from_db()
    assert need.version == seen + 1
    assert [e.action for e in events_of(need)][-2:] == ["accept", "progress"]


# --------------------------------------------------------------------------- misc


def test_state_of_sees_every_column(world):
    # A guard for the helper the refusal tests rely on: a change to any column is noticed.
    need = world.register()
    before = state_of(need)
    Need.objects.filter(pk=need.pk).update(supervised=True)
    assert state_of(need) != before


def test_services_read_the_domain_clock(world):
    with clock.travel(at(2025, 6, 1, 12)):
        need = world.register()
    assert need.number.startswith("WX-2025-")
    assert timezone.localdate(need.registered_at) == at(2025, 6, 1).date()
