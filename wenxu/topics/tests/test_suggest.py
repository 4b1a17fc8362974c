from datetime import datetime
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from wenxu.accounts.models import Membership, User
from wenxu.topics import services, suggest
from wenxu.topics.models import Topic

pytestmark = pytest.mark.django_db


def test_similar_recent_needs_of_the_topics_kind_are_suggested(world: Any, topic: Topic) -> None:
    linked = [
        world.register(title="村口路灯不亮", description="东河村村口路灯坏了，晚上看不见路"),
        world.register(title="路灯坏了没人修", description="东河村主干道路灯不亮已经一个月"),
    ]
    services.topic_link_needs(actor=world.dispatcher, topic=topic, needs=linked)
    close = world.register(title="东河村路灯不亮", description="村里路灯晚上不亮，出行不便")
    far = world.register(title="低保申请进度", description="想了解低保审批什么时候有结果")
    other_kind = world.register(
        title="路灯不亮", description="东河村路灯坏了", category=world.cat_water
    )
    other_town = world.register(
        title="西岭村路灯不亮", description="路灯坏了", area=world.grid_b, actor=world.officer_b
    )
    with time_machine.travel(timezone.make_aware(datetime(2025, 1, 1, 9)), tick=False):
        old = world.register(title="村口路灯不亮", description="东河村村口路灯坏了")

    found = suggest.suggestions_for_topic(user=world.dispatcher, topic=topic)

    numbers = [s.need.number for s in found]
    assert numbers[0] == close.number
    assert far.number not in numbers  # below the minimum similarity
    for excluded in (other_kind, other_town, old, *linked):
        assert excluded.number not in numbers
    assert all(0 < s.similarity <= 1.0001 for s in found)


def test_no_linked_needs_no_suggestions(world: Any, topic: Topic) -> None:
    world.register()
    assert suggest.suggestions_for_topic(user=world.dispatcher, topic=topic) == []


def test_suggestions_are_needs_the_viewer_may_see(world: Any) -> None:
    topic = services.topic_create(actor=world.dispatcher, title="路灯", area=world.county)
    services.topic_link_needs(actor=world.dispatcher, topic=topic, needs=[world.register()])
    theirs = world.register(title="村口路灯不亮", area=world.grid_b, actor=world.officer_b)
    town_dispatcher = User.objects.create_user(username="td", password="x")
    Membership.objects.create(user=town_dispatcher, role="dispatcher", area=world.town_a)
    assert theirs.number in [
        s.need.number for s in suggest.suggestions_for_topic(user=world.dispatcher, topic=topic)
    ]
    assert theirs.number not in [
        s.need.number for s in suggest.suggestions_for_topic(user=town_dispatcher, topic=topic)
    ]
