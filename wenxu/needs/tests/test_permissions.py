"""`permissions.available_actions`: what each role may do now, checked against the services."""

import pytest

from wenxu.lib import clock
from wenxu.needs import permissions, selectors, services
from wenxu.needs.models import Need
from wenxu.needs.tests.detail_helpers import (
    NOW,
    PERSONAS,
    STATES,
    actions_services_accept,
    service_accepts,
)
from wenxu.needs.tests.helpers import closed


@pytest.fixture
def now(time_machine):
    time_machine.move_to(NOW, tick=False)
    return time_machine


def _available(world, persona, need):
    return permissions.available_actions(getattr(world, persona), need)


EXPECTED = [
    # (state, persona, actions in page order)
    ("registered", "dispatcher", ["assign", "supervise", "remind", "merge", "withdraw"]),
    ("registered", "leader", ["supervise", "remind"]),
    ("registered", "officer", []),
    ("registered", "handler", []),
    ("registered", "admin", []),
    ("assigned", "handler", ["accept", "return"]),
    ("assigned", "handler_other", []),
    ("in_progress", "handler", ["reply", "progress", "request_extension", "return"]),
    ("in_progress", "dispatcher", ["supervise", "remind", "merge", "withdraw"]),
    ("in_progress_with_co_unit", "handler_other", ["progress"]),
    ("in_progress_with_co_unit", "handler_roads", []),
    ("extension_pending", "handler", ["reply", "progress", "return"]),
    (
        "extension_pending",
        "dispatcher",
        ["approve_extension", "deny_extension", "supervise", "remind", "merge", "withdraw"],
    ),
    ("extension_used", "handler", ["reply", "progress", "return"]),
    ("overdue", "handler", ["reply", "progress", "return"]),
    (
        "overdue_extension_pending",
        "dispatcher",
        ["deny_extension", "supervise", "remind", "merge", "withdraw"],
    ),
    ("replied", "officer", ["callback"]),
    ("replied", "dispatcher", ["callback", "reopen", "supervise", "remind", "merge", "withdraw"]),
    ("replied", "handler", []),
    ("following", "handler", ["fulfil"]),
    ("following", "dispatcher", ["fulfil", "reopen", "supervise", "remind", "merge", "withdraw"]),
    ("closed", "dispatcher", ["reopen"]),
    ("closed", "leader", []),
    ("closed_long_ago", "dispatcher", []),
    ("withdrawn", "dispatcher", []),
    ("merged", "dispatcher", []),
    ("merge_target", "dispatcher", ["assign", "supervise", "remind", "merge"]),
]


@pytest.mark.parametrize(("state", "persona", "expected"), EXPECTED)
def test_each_role_gets_the_actions_of_design_section_3(world, now, state, persona, expected):
    need = STATES[state](world, now)
    assert _available(world, persona, need) == expected


@pytest.mark.parametrize("state", list(STATES))
def test_available_actions_are_exactly_what_the_services_accept(world, now, state):
    # given a need in `state` and another active need it could be merged into
    need = STATES[state](world, now)
    target = world.register(title="另一条诉求")
    for persona in PERSONAS:
        user = getattr(world, persona)
        if not selectors.need_queryset_for_user(user=user).filter(pk=need.pk).exists():
            continue  # out of scope: the page answers 404 (test_detail_views)
        # when the page asks, then the services agree, action by action
        assert permissions.available_actions(user, need) == actions_services_accept(
            user, need, target
        ), persona


def test_may_take_ignores_the_status_but_not_the_role(world, now):
    need = STATES["closed"](world, now)
    assert permissions.may_take(world.dispatcher, need, "assign")
    assert not permissions.may_take(world.leader, need, "assign")
    assert not permissions.may_take(world.handler, need, "no_such_action")


# --------------------------------------------------------------------------- 望闻问切


def _observed(world, build):
    """A need in the state `build` makes, noticed by the officer (望闻问切), not yet confirmed."""
    need = build(world)
    Need.objects.filter(pk=need.pk).update(source="observed")
    return selectors.need_get_for_user(user=world.dispatcher, number=need.number)


OBSERVED = {
    "registered": lambda w: w.register(),
    "replied": lambda w: w.replied(),
    "closed": closed,
    "withdrawn": lambda w: services.need_withdraw(
        actor=w.dispatcher, need=(n := w.register()), version=n.version, reason="重复"
    ),
}


@pytest.mark.parametrize(
    ("state", "persona", "expected"),
    [
        ("registered", "officer", ["confirm_observed"]),
        (
            "registered",
            "dispatcher",
            ["assign", "confirm_observed", "supervise", "remind", "merge", "withdraw"],
        ),
        ("registered", "leader", ["supervise", "remind"]),
        ("replied", "officer", ["callback", "confirm_observed"]),
        ("replied", "handler", []),
        ("closed", "officer", ["confirm_observed"]),
        ("closed", "dispatcher", ["confirm_observed", "reopen"]),
        ("withdrawn", "dispatcher", []),
    ],
)
def test_observed_needs_offer_the_residents_confirmation(world, now, state, persona, expected):
    need = _observed(world, OBSERVED[state])
    assert _available(world, persona, need) == expected


@pytest.mark.parametrize("state", list(OBSERVED))
@pytest.mark.parametrize("confirmed", [False, True])
def test_confirmation_is_offered_exactly_when_the_service_takes_it(world, now, state, confirmed):
    need = _observed(world, OBSERVED[state])
    if confirmed:
        Need.objects.filter(pk=need.pk).update(observed_confirmed_at=clock.now())
        need = selectors.need_get_for_user(user=world.dispatcher, number=need.number)
    target = world.register(title="另一条诉求")
    for persona in PERSONAS:
        user = getattr(world, persona)
        if not selectors.need_queryset_for_user(user=user).filter(pk=need.pk).exists():
            continue
        offered = "confirm_observed" in permissions.available_actions(user, need)
        assert offered == service_accepts("confirm_observed", user, need, target), persona
        assert offered == (
            not confirmed and persona in {"officer", "dispatcher"} and state != "withdrawn"
        ), persona
