"""Similar needs on an empty ledger: an empty answer, never an error."""

from collections.abc import Iterator

import pytest
from django.test import Client
from django.urls import reverse

from conftest import World
from wenxu.insight.similar import similar_index, similar_index_reset, similar_needs
from wenxu.needs.models import Need

ASK = "幸福里小区3号楼路灯坏了，天黑以后看不清路，希望尽快修好。"


@pytest.fixture(autouse=True)
def fresh_index() -> Iterator[None]:
    similar_index_reset()
    yield
    similar_index_reset()


def test_a_lookup_on_an_empty_ledger_finds_nothing(world: World) -> None:
    assert not Need.objects.exists()

    assert similar_needs(user=world.dispatcher, text=ASK) == []
    assert similar_index().size == 0


def test_the_capture_partial_on_an_empty_ledger_is_empty(world: World) -> None:
    client = Client()
    client.force_login(world.officer)

    response = client.post(
        reverse("insight:similar_capture"), {"title": "路灯坏了", "description": ASK}
    )

    assert response.status_code == 200
    assert response.content.decode().strip() == ""


def test_the_first_need_registered_on_an_empty_ledger_is_found(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wenxu.insight import similar

    monkeypatch.setattr(similar, "REFRESH_SECONDS", 0.0)
    assert similar_needs(user=world.dispatcher, text=ASK) == []

    need = world.register(title="幸福里小区3号楼路灯不亮", description=ASK)

    assert [item.number for item in similar_needs(user=world.dispatcher, text=ASK)] == [need.number]
