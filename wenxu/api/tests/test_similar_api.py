"""`GET /api/v1/needs/{number}/similar`: scoped like every need endpoint."""

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from wenxu.insight.similar import similar_index_reset
from wenxu.insight.tests.test_similar_synth import planted_needs
from wenxu.lib import clock
from wenxu.needs import services
from wenxu.needs.models import Need
from wenxu.topics.models import Topic, TopicNeed

LAMP = "幸福里小区3号楼路灯不亮"
LAMP_TEXT = "幸福里小区3号楼门口的路灯坏了两个多月，晚上出门一片漆黑，老人走路容易摔倒。"
LAMP_AGAIN = "幸福里小区3号楼的路灯一直不亮，天黑以后看不清路，希望尽快修好。"


@pytest.fixture(autouse=True)
def fresh_index() -> Iterator[None]:
    similar_index_reset()
    yield
    similar_index_reset()


@pytest.fixture
def world(world: Any) -> Any:
    # a ledger's worth of other needs (none about street lights)
    for item in [n for n in planted_needs(groups=0, noise=30, seed=1) if n.category != 1]:
        world.register(actor=world.dispatcher, title=item.title, description=item.description)
    return world


def _lamp(world: Any, **overrides: Any) -> Need:
    values: dict[str, Any] = {"title": LAMP, "description": LAMP_TEXT}
    values.update(overrides)
    return world.register(**values)  # type: ignore[no-any-return]


def test_similar_needs_of_a_need(world: Any, api_as: Any) -> None:
    need = _lamp(world)
    twin = _lamp(world, description=LAMP_AGAIN)
    assigned = services.need_assign(
        actor=world.dispatcher, need=twin, version=twin.version, lead_unit=world.housing
    )
    topic = Topic.objects.create(title="幸福里小区照明整治", area=world.town_a)
    TopicNeed.objects.create(topic=topic, need=twin)

    response = api_as(world.dispatcher).get(f"/needs/{need.number}/similar")

    assert response.status_code == 200
    [item] = response.json()
    assert item["number"] == twin.number
    assert item["title"] == LAMP
    assert item["status"] == "assigned"
    assert item["area"] == {"id": world.grid_a.pk, "name": "东河村第一网格"}
    assert item["category"] == {"id": world.cat_roads.pk, "name": "道路与照明"}
    assert item["lead_unit"] == {"id": world.housing.pk, "name": "青山县住房和城乡建设局"}
    assert item["registered_at"].endswith("+08:00")
    assert 0.2 <= item["similarity"] <= 1
    assert item["topics"] == [{"id": topic.pk, "title": "幸福里小区照明整治"}]
    assert assigned.lead_unit == world.housing
    assert "requester" not in item
    assert "description" not in item


def test_limit_caps_the_answer_and_is_checked(world: Any, api_as: Any) -> None:
    need = _lamp(world)
    for _ in range(4):
        _lamp(world, description=LAMP_AGAIN)
    api = api_as(world.dispatcher)

    assert len(api.get(f"/needs/{need.number}/similar").json()) == 4
    assert len(api.get(f"/needs/{need.number}/similar", {"limit": 2}).json()) == 2
    assert api.get(f"/needs/{need.number}/similar", {"limit": 21}).status_code == 422
    assert api.get(f"/needs/{need.number}/similar", {"limit": 0}).status_code == 422


def test_a_need_out_of_scope_answers_404(world: Any, api_as: Any) -> None:
    theirs = _lamp(world, actor=world.officer_b, area=world.grid_b)

    response = api_as(world.officer).get(f"/needs/{theirs.number}/similar")

    assert response.status_code == 404
    assert api_as(world.officer).get("/needs/WX-2026-999999/similar").status_code == 404


def test_similar_needs_out_of_scope_are_not_returned(world: Any, api_as: Any) -> None:
    mine = _lamp(world)
    _lamp(world, actor=world.officer_b, area=world.grid_b)
    near = _lamp(world, description=LAMP_AGAIN)

    officer = api_as(world.officer).get(f"/needs/{mine.number}/similar").json()
    dispatcher = api_as(world.dispatcher).get(f"/needs/{mine.number}/similar").json()

    assert [item["number"] for item in officer] == [near.number]
    assert len(dispatcher) == 2


def test_anonymous_callers_are_refused(world: Any, api_as: Any) -> None:
    need = _lamp(world)

    assert api_as(None).get(f"/needs/{need.number}/similar").status_code == 401


def test_similar_needs_when_nothing_is_eligible_is_an_empty_list(world: Any, api_as: Any) -> None:
    need = _lamp(world)
    Need.objects.update(
        status="closed",
        outcome="resolved",
        replied_at=clock.now() - timedelta(days=401),
        closed_at=clock.now() - timedelta(days=400),
    )

    response = api_as(world.dispatcher).get(f"/needs/{need.number}/similar")

    assert response.status_code == 200
    assert response.json() == []
