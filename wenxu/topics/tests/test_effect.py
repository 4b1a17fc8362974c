from datetime import date, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from wenxu.insight.models import DailyCount
from wenxu.needs.models import Category
from wenxu.organisations.models import Area
from wenxu.topics import effect, services
from wenxu.topics.models import Topic

pytestmark = pytest.mark.django_db

START = date(2026, 9, 1)  # a Tuesday: weeks run Tuesday to Monday


def _count(day: date, area: Area, category: Category | None, registered: int) -> None:
    DailyCount.objects.create(
        key=f"{day:%Y%m%d}|{area.pk}|-|{category.pk if category else '-'}",
        day=day,
        area=area,
        area_path=area.path,
        category=category,
        registered=registered,
    )


def test_weeks_before_and_after_the_measures(world: Any, topic: Topic) -> None:
    Topic.objects.filter(pk=topic.pk).update(measures_from=START)
    topic.refresh_from_db()
    other = Category.objects.create(name="教育")
    _count(START - timedelta(days=1), world.grid_a, world.cat_roads, 6)  # last week before
    _count(START - timedelta(days=7 * 12), world.grid_a, world.cat_roads, 4)  # first week
    _count(START - timedelta(days=7 * 13), world.grid_a, world.cat_roads, 50)  # too early
    _count(START, world.grid_a, world.cat_roads, 2)  # first week after
    _count(START + timedelta(days=8), world.village_a, world.cat_roads, 1)
    _count(START, world.grid_b, world.cat_roads, 30)  # another township
    _count(START, world.grid_a, other, 30)  # another kind
    _count(START, world.grid_a, world.cat_water, 30)  # a sibling category

    result = effect.topic_effect(
        user=world.dispatcher, topic=topic, today=START + timedelta(days=15)
    )

    assert result.start == START
    assert len(result.before) == 12
    assert len(result.after) == 2  # the third week has not ended
    assert result.before[0].registered == 4
    assert result.before[-1].registered == 6
    assert [w.registered for w in result.after] == [2, 1]
    assert result.mean_before == pytest.approx(10 / 12)
    assert result.mean_after == pytest.approx(1.5)
    assert result.change_percent == pytest.approx(80.0)


def test_a_topic_without_a_category_counts_every_kind(world: Any) -> None:
    topic = services.topic_create(
        actor=world.dispatcher, title="x", area=world.town_a, measures_from=START
    )
    _count(START, world.grid_a, world.cat_water, 3)
    _count(START + timedelta(days=1), world.grid_a, None, 2)
    result = effect.topic_effect(
        user=world.dispatcher, topic=topic, today=START + timedelta(days=7)
    )
    assert [w.registered for w in result.after] == [5]
    assert result.change_percent is None  # nothing before: no percentage


def test_the_first_measure_sets_the_start_when_none_is_given(world: Any, topic: Topic) -> None:
    assert effect.topic_effect(user=world.dispatcher, topic=topic).start is None
    moment = timezone.make_aware(datetime(2026, 9, 3, 23, 30))  # Shanghai time
    with time_machine.travel(moment, tick=False):
        services.measure_add(
            actor=world.dispatcher,
            topic=topic,
            title="m",
            owner_unit=world.housing,
            due_date=date(2026, 12, 1),
        )
    assert effect.measures_start(topic) == date(2026, 9, 3)


def test_linked_needs_are_counted_per_week(world: Any, topic: Topic) -> None:
    Topic.objects.filter(pk=topic.pk).update(measures_from=START)
    topic.refresh_from_db()
    with time_machine.travel(timezone.make_aware(datetime(2026, 8, 31, 10, 0)), tick=False):
        before = world.register()
    with time_machine.travel(timezone.make_aware(datetime(2026, 9, 2, 10, 0)), tick=False):
        after = world.register()
    services.topic_link_needs(actor=world.dispatcher, topic=topic, needs=[before, after])
    result = effect.topic_effect(
        user=world.dispatcher, topic=topic, today=START + timedelta(days=7)
    )
    assert result.before[-1].linked == 1
    assert result.after[0].linked == 1
    chart = result.chart(label_registered="a", label_linked="b")
    assert chart["after"] == [False] * 12 + [True]


def test_counts_stay_within_the_viewers_scope(world: Any, topic: Topic) -> None:
    county = services.topic_create(
        actor=world.dispatcher, title="全县", area=world.county, measures_from=START
    )
    _count(START, world.grid_a, world.cat_roads, 3)
    _count(START, world.grid_b, world.cat_roads, 4)
    today = START + timedelta(days=7)
    assert (
        effect.topic_effect(user=world.dispatcher, topic=county, today=today).after[0].registered
        == 7
    )
    assert (
        effect.topic_effect(user=world.officer, topic=county, today=today).after[0].registered == 3
    )


def test_weeks_before_the_ledger_had_data_are_left_out_of_the_before_mean(
    world: Any, topic: Topic
) -> None:
    Topic.objects.filter(pk=topic.pk).update(measures_from=START)
    topic.refresh_from_db()
    first_data = START - timedelta(days=7 * 8) + timedelta(days=3)  # inside the 8th week before
    _count(first_data, world.grid_a, world.cat_water, 1)  # data of another kind: the ledger began
    for k in range(1, 8):  # 7 weeks of 4 roads needs each, and 4 in the week data began
        _count(START - timedelta(days=7 * k), world.grid_a, world.cat_roads, 4)
    _count(first_data + timedelta(days=1), world.grid_a, world.cat_roads, 4)
    _count(START, world.grid_a, world.cat_roads, 2)
    _count(START - timedelta(days=7 * 20), world.grid_b, world.cat_roads, 9)  # elsewhere, earlier

    result = effect.topic_effect(
        user=world.dispatcher, topic=topic, today=START + timedelta(days=7)
    )

    assert result.data_from == first_data
    assert len(result.before) == 8
    assert result.before[0].start == START - timedelta(days=7 * 8)
    assert result.mean_before == pytest.approx(4.0)
    assert result.change_percent == pytest.approx(-50.0)


def test_the_page_says_when_the_before_weeks_start_later(world: Any, topic: Topic) -> None:
    from django.test import Client

    Topic.objects.filter(pk=topic.pk).update(measures_from=START - timedelta(days=14))
    _count(START - timedelta(days=21), world.grid_a, world.cat_roads, 3)
    client = Client()
    client.force_login(world.dispatcher)
    with time_machine.travel(timezone.make_aware(datetime(2026, 9, 10, 12, 0)), tick=False):
        page = client.get(f"/topics/{topic.pk}/").content.decode()
    assert 'data-testid="data-from"' in page
    assert "2026-08-11" in page.split('data-testid="data-from"')[1].split("</span>")[0]


def test_a_ledger_with_data_from_long_ago_keeps_all_twelve_weeks(world: Any, topic: Topic) -> None:
    Topic.objects.filter(pk=topic.pk).update(measures_from=START)
    topic.refresh_from_db()
    _count(START - timedelta(days=7 * 30), world.grid_a, world.cat_water, 1)
    result = effect.topic_effect(
        user=world.dispatcher, topic=topic, today=START + timedelta(days=7)
    )
    assert result.data_from is None
    assert len(result.before) == 12
