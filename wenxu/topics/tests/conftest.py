from collections.abc import Callable
from typing import Any

import pytest

from wenxu.needs.models import Need
from wenxu.needs.services.register import RequesterInput
from wenxu.topics import services
from wenxu.topics.models import Topic


@pytest.fixture
def person_need(world: Any) -> Callable[..., Need]:
    """A need with a requester who gave a phone."""

    def make(phone: str = "13812345678", name: str = "张三丰", **overrides: Any) -> Need:
        need: Need = world.register(requester=RequesterInput(name=name, phone=phone), **overrides)
        return need

    return make


@pytest.fixture
def topic(world: Any) -> Topic:
    return services.topic_create(
        actor=world.dispatcher,
        title="东河镇路灯长期失修",
        area=world.town_a,
        category=world.cat_roads,
        owner_unit=world.housing,
        root_cause="路灯维护责任不清。",
    )
