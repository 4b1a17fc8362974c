"""Role × scope × endpoint, through HTTP (issue #2, acceptance).

Each need lives in one of two scopes of the world (see `Lifecycle`): "a" is 东河镇 with 住建局
as lead unit, "b" is 西岭乡 with 交通局. For every persona the expectation follows from two
questions only: can they see the need (else 404, and it is absent from their list), and does
their role over it allow the action (else 403)? Refusals change nothing.
"""

from datetime import timedelta

import pytest

from wenxu.api.tests.conftest import Lifecycle
from wenxu.lib import clock
from wenxu.needs.models import Need, NeedEvent

PERSONAS = [
    "officer",
    "officer_b",
    "dispatcher",
    "handler",
    "handler_other",
    "handler_roads",
    "leader",
    "admin",
    "outsider",
]
SCOPES = ["a", "b"]

# What each persona is to a need of each scope; absent: the need is out of their scope.
# (handler_roads works at a sub-unit of 交通局 and so does not see 交通局's own needs.)
STANDING = {
    "a": {
        "officer": "local_officer",
        "dispatcher": "dispatcher",
        "leader": "leader",
        "admin": "admin",
        "handler": "lead_handler",
    },
    "b": {
        "officer_b": "local_officer",
        "dispatcher": "dispatcher",
        "leader": "leader",
        "admin": "admin",
        "handler_other": "lead_handler",
    },
}


def _followup():
    return (clock.today() + timedelta(days=10)).isoformat()


# action: (state the need is in, request body without version, standings allowed to act)
ACTIONS = {
    "assign": ("registered", lambda lc: {"lead_unit": lc.unit.pk}, {"dispatcher"}),
    "accept": ("assigned", lambda lc: {}, {"lead_handler"}),
    "return": ("in_progress", lambda lc: {"reason": "分办有误"}, {"lead_handler"}),
    "progress": ("in_progress", lambda lc: {"note": "已派人查看"}, {"lead_handler"}),
    "request-extension": (
        "in_progress",
        lambda lc: {"days": 2, "reason": "需等待配件"},
        {"lead_handler"},
    ),
    "approve-extension": ("extension_pending", lambda lc: {"note": "同意"}, {"dispatcher"}),
    "deny-extension": ("extension_pending", lambda lc: {"reason": "时限够用"}, {"dispatcher"}),
    "reply": (
        "in_progress",
        lambda lc: {"outcome": "planned", "reply_text": "已列入计划", "followup_date": _followup()},
        {"lead_handler"},
    ),
    "callback": (
        "replied",
        lambda lc: {"resolved": "yes", "satisfaction": "satisfied", "channel": "phone"},
        {"local_officer", "dispatcher"},
    ),
    "fulfil": ("following", lambda lc: {"note": "承诺已兑现"}, {"lead_handler", "dispatcher"}),
    "reopen": ("replied", lambda lc: {"reason": "群众不认可"}, {"dispatcher"}),
    "supervise": ("in_progress", lambda lc: {"note": "请加快"}, {"dispatcher", "leader"}),
    "remind": ("assigned", lambda lc: {}, {"dispatcher", "leader"}),
    "merge": (
        "in_progress",
        lambda lc: {"into": lc.in_progress(title="同一件事").number},
        {"dispatcher"},
    ),
    "withdraw": ("in_progress", lambda lc: {"reason": "群众撤回"}, {"dispatcher"}),
}


def _standing(persona: str, scope: str, state: str) -> str | None:
    standing = STANDING[scope].get(persona)
    if standing == "lead_handler" and state == "registered":
        return None  # not yet assigned to their unit
    return standing


def _expected(persona: str, scope: str, state: str, allowed: set[str]) -> int:
    standing = _standing(persona, scope, state)
    if standing is None:
        return 404
    return 200 if standing in allowed else 403


def _snapshot(need):
    fresh = Need.objects.get(pk=need.pk)
    return fresh.version, fresh.status, NeedEvent.objects.filter(need=fresh).count()


def test_matrix_covers_every_action_of_the_issue_and_remind():
    issue = [
        "assign",
        "accept",
        "return",
        "progress",
        "request-extension",
        "approve-extension",
        "deny-extension",
        "reply",
        "callback",
        "fulfil",
        "reopen",
        "supervise",
        "merge",
        "withdraw",
    ]
    # 催办 (remind) is in DESIGN §3 though not in the issue's list; the API offers it too.
    assert sorted(ACTIONS) == sorted([*issue, "remind"])


@pytest.mark.parametrize("action", list(ACTIONS))
@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("persona", PERSONAS)
def test_action_permission_matrix(world, api_as, persona, scope, action):
    state, make_body, allowed = ACTIONS[action]
    lc = Lifecycle(world, scope)
    need = lc.state(state)
    body = make_body(lc)
    before = _snapshot(need)
    expected = _expected(persona, scope, state, allowed)
    client = api_as(getattr(world, persona))

    response = client.act(need, action, version=need.version, **body)

    assert response.status_code == expected, response.content.decode()
    if expected == 200:
        assert response.json()["version"] > before[0]
        assert _snapshot(need)[2] > before[2]
        return
    assert _snapshot(need) == before
    assert response.json()["code"] == {403: "not_permitted", 404: "not_found"}[expected]
    if expected == 404:
        listed = [item["number"] for item in client.get("/needs", {"limit": 200}).json()["items"]]
        assert need.number not in listed


@pytest.mark.parametrize("state", ["registered", "in_progress", "replied"])
@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("persona", PERSONAS)
def test_read_permission_matrix(world, api_as, persona, scope, state):
    need = Lifecycle(world, scope).state(state)
    client = api_as(getattr(world, persona))
    visible = _standing(persona, scope, state) is not None

    detail = client.get(f"/needs/{need.number}")
    listed = [item["number"] for item in client.get("/needs").json()["items"]]

    assert detail.status_code == (200 if visible else 404)
    assert (need.number in listed) is visible


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("persona", PERSONAS)
def test_register_permission_matrix(world, api_as, persona, scope):
    # For registering, "scope" is the area: out of it the area field is refused (422).
    lc = Lifecycle(world, scope)
    body = {
        "title": "垃圾清运不及时",
        "description": "小区垃圾三天没人清运。",
        "kind": "complaint",
        "source": "visit",
        "area": lc.area.pk,
    }
    if persona in {"dispatcher"} or STANDING[scope].get(persona) == "local_officer":
        expected = 201
    elif persona in {"officer", "officer_b"}:
        expected = 422
    else:
        expected = 403

    response = api_as(getattr(world, persona)).post("/needs", body)

    assert response.status_code == expected, response.content.decode()
    assert Need.objects.count() == (1 if expected == 201 else 0)
    if expected == 422:
        assert list(response.json()["errors"]) == ["area"]


@pytest.mark.parametrize("persona", PERSONAS)
def test_reference_lists_are_open_to_every_signed_in_user(world, api_as, persona):
    client = api_as(getattr(world, persona))

    for path in ("/areas", "/units", "/categories"):
        assert client.get(path).status_code == 200


def test_reference_lists_need_sign_in(world, api_as):
    for path in ("/areas", "/units", "/categories"):
        assert api_as(None).get(path).status_code == 401
