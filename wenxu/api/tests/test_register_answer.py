"""`POST /needs` answers with the need built from what the service wrote, without reading it
again: that answer must be exactly what reading the need returns, and stay cheap."""

from typing import Any

import pytest

from wenxu.needs.models import Need


def _body(world: Any, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "村道坑洼",
        "description": "东河村到镇上的村道有多处坑洼，雨天积水。赵六电话 13612345678。",
        "kind": "help",
        "source": "visit",
        "area": world.grid_a.pk,
        "category": world.cat_roads.pk,
        "nature_tags": ["urgent"],
        "address": "东河村村口",
        "latitude": "30.1234567",
        "longitude": "120.7654321",
        "requester": {"name": "赵六", "phone": "13612345678", "confidential": False},
    }
    body.update(overrides)
    return body


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"requester": {"name": "赵六", "phone": "13612345678", "confidential": True}},
        {"requester": None, "category": None, "latitude": None, "longitude": None},
        {"handling": "on_the_spot", "reply_text": "已现场解释政策。"},
        {
            "handling": "on_the_spot",
            "reply_text": "现场联系养护队填平坑洼。",
            "confirmed": True,
            "satisfaction": "very_satisfied",
        },
        {"client_uuid": "0b7d7f3e-4a55-4c7e-9d0e-2f1f3c1f9a10"},
    ],
)
def test_register_answer_is_the_need_as_read_again(world, api_as, overrides):
    api = api_as(world.officer)

    created = api.post("/needs", _body(world, **overrides))

    assert created.status_code == 201
    again = api.get(f"/needs/{created.json()['number']}")
    assert again.status_code == 200
    assert created.json() == again.json()
    if overrides.get("requester", True) is not None:  # the requester's own number is masked
        assert "13612345678" not in created.content.decode()


def test_a_replayed_register_answers_the_same_need(world, api_as):
    api = api_as(world.officer)
    body = _body(world, client_uuid="5a0c2d8e-1f7b-4f43-8a57-0c4d2e9b7f11")

    first = api.post("/needs", body)
    replay = api.post("/needs", body)

    assert (first.status_code, replay.status_code) == (201, 200)
    assert first.json() == replay.json()
    assert Need.objects.count() == 1


def test_register_costs_a_fixed_number_of_queries(world, api_as, django_assert_max_num_queries):
    api = api_as(world.officer)
    assert api.post("/needs", _body(world)).status_code == 201  # the token's use is noted once

    # Token (with the check for a forced password change), reference ids, roles, tracking code,
    # requester, number, need, event; the answer reads nothing back.
    with django_assert_max_num_queries(11):
        assert api.post("/needs", _body(world, title="路灯不亮")).status_code == 201
