from datetime import timedelta
from typing import Any

import pytest

from wenxu.accounts.models import Membership, User
from wenxu.lib import clock
from wenxu.needs.exceptions import IllegalTransition, InvalidInput, NotPermitted, StaleVersion
from wenxu.needs.models import Need
from wenxu.notify.models import Message
from wenxu.topics import services
from wenxu.topics.models import Measure, Topic, TopicNeed

pytestmark = pytest.mark.django_db


def _messages(prefix: str) -> list[Message]:
    return list(Message.objects.filter(key__startswith=prefix).order_by("key"))


def test_dispatcher_creates_a_topic_with_the_needs_they_may_see(world: Any) -> None:
    a = world.register()
    b = world.register(title="村道路灯坏了")
    topic = services.topic_create(
        actor=world.dispatcher, title=" 路灯 ", area=world.town_a, needs=[a, b]
    )
    assert topic.title == "路灯"
    assert topic.created_by == world.dispatcher
    assert set(topic.needs.values_list("pk", flat=True)) == {a.pk, b.pk}


def test_officer_cannot_create_a_topic(world: Any) -> None:
    with pytest.raises(NotPermitted):
        services.topic_create(actor=world.officer, title="路灯", area=world.town_a)
    assert not Topic.objects.exists()


def test_topic_area_outside_the_dispatchers_scope_is_refused(world: Any) -> None:
    town_dispatcher = User.objects.create_user(username="td", password="x")
    Membership.objects.create(user=town_dispatcher, role="dispatcher", area=world.town_a)
    with pytest.raises(InvalidInput) as exc:
        services.topic_create(actor=town_dispatcher, title="路灯", area=world.town_b)
    assert "area" in exc.value.errors
    assert not Topic.objects.exists()


def test_linking_a_need_the_actor_cannot_see_changes_nothing(world: Any, topic: Topic) -> None:
    town_dispatcher = User.objects.create_user(username="td", password="x")
    Membership.objects.create(user=town_dispatcher, role="dispatcher", area=world.town_a)
    mine = world.register()
    theirs = world.register(area=world.grid_b, actor=world.officer_b)
    with pytest.raises(InvalidInput):
        services.topic_link_needs(actor=town_dispatcher, topic=topic, needs=[mine, theirs])
    assert not TopicNeed.objects.exists()


def test_a_stale_edit_is_refused_and_changes_nothing(world: Any, topic: Topic) -> None:
    services.topic_update(
        actor=world.dispatcher,
        topic=topic,
        version=topic.version,
        title="新名称",
        area=world.town_a,
        summary="",
        root_cause="",
        category=None,
        owner_unit=None,
        measures_from=None,
    )
    with pytest.raises(StaleVersion) as exc:
        services.topic_update(
            actor=world.dispatcher,
            topic=topic,
            version=1,
            title="旧页面上的修改",
            area=world.town_a,
            summary="",
            root_cause="",
            category=None,
            owner_unit=None,
            measures_from=None,
        )
    assert exc.value.message == "该记录已被他人修改，请刷新"
    topic.refresh_from_db()
    assert topic.title == "新名称"
    assert topic.version == 2


def test_a_stale_close_is_refused(world: Any, topic: Topic) -> None:
    services.topic_set_status(actor=world.dispatcher, topic=topic, version=1, status="acting")
    with pytest.raises(StaleVersion):
        services.topic_close(actor=world.dispatcher, topic=topic, version=1)
    topic.refresh_from_db()
    assert topic.status == "acting"
    assert topic.closed_at is None


def test_milestone_tells_each_requester_once_per_milestone(
    world: Any, topic: Topic, person_need: Any
) -> None:
    # given two needs of the same requester and one of another, and one without a phone
    first = person_need()
    second = person_need(title="又一处路灯不亮")
    Need.objects.filter(pk=second.pk).update(requester=first.requester)
    other = person_need(phone="13900001111", name="李四")
    silent = world.register()
    services.topic_link_needs(
        actor=world.dispatcher, topic=topic, needs=[first, second, other, silent]
    )
    milestone = services.milestone_add(
        actor=world.dispatcher, topic=topic, title="排查完成", progress=30
    )

    # when it is completed, and completed again
    services.milestone_complete(actor=world.dispatcher, milestone=milestone, note="共排查 40 盏")
    with pytest.raises(IllegalTransition):
        services.milestone_complete(actor=world.dispatcher, milestone=milestone)

    # then one message per requester
    sent = _messages(f"topic-milestone:{milestone.pk}:")
    assert [m.key for m in sent] == sorted(
        [
            f"topic-milestone:{milestone.pk}:requester:{first.requester_id}",
            f"topic-milestone:{milestone.pk}:requester:{other.requester_id}",
        ]
    )
    body = sent[0].body
    assert "东河镇路灯长期失修" in body
    assert "排查完成" in body
    assert "30%" in body
    assert "/track?code=" in body
    assert sent[0].to_masked in {"138****5678", "139****1111"}
    assert all(m.channel == "sms" and m.template == "topic_milestone" for m in sent)
    assert "13812345678" not in body


def test_a_need_linked_after_the_milestone_is_not_told_of_it(
    world: Any, topic: Topic, person_need: Any
) -> None:
    early = person_need()
    services.topic_link_needs(actor=world.dispatcher, topic=topic, needs=[early])
    first = services.milestone_add(actor=world.dispatcher, topic=topic, title="排查", progress=30)
    services.milestone_complete(actor=world.dispatcher, milestone=first)
    late = person_need(phone="13900001111", name="李四")
    services.topic_link_needs(actor=world.dispatcher, topic=topic, needs=[late])
    second = services.milestone_add(actor=world.dispatcher, topic=topic, title="更换", progress=80)
    services.milestone_complete(actor=world.dispatcher, milestone=second)

    assert {m.requester_id for m in _messages(f"topic-milestone:{first.pk}:")} == {
        early.requester_id
    }
    assert {m.requester_id for m in _messages(f"topic-milestone:{second.pk}:")} == {
        early.requester_id,
        late.requester_id,
    }


def test_requesters_of_needs_merged_into_a_linked_need_are_told(
    world: Any, topic: Topic, person_need: Any
) -> None:
    from wenxu.needs import services as need_services

    target = person_need()
    copy = person_need(phone="13900001111", name="李四")
    need_services.need_merge(actor=world.dispatcher, need=copy, version=copy.version, into=target)
    services.topic_link_needs(actor=world.dispatcher, topic=topic, needs=[target])
    milestone = services.milestone_add(
        actor=world.dispatcher, topic=topic, title="排查", progress=10
    )
    services.milestone_complete(actor=world.dispatcher, milestone=milestone)
    assert {m.requester_id for m in _messages("topic-milestone:")} == {
        target.requester_id,
        copy.requester_id,
    }


def test_closing_tells_each_requester_once(world: Any, topic: Topic, person_need: Any) -> None:
    need = person_need()
    services.topic_link_needs(actor=world.dispatcher, topic=topic, needs=[need])
    closed = services.topic_close(actor=world.dispatcher, topic=topic, version=topic.version)
    assert closed.status == "closed"
    assert closed.closed_at is not None
    # reopened and closed again: the residents were told already
    reopened = services.topic_set_status(
        actor=world.dispatcher, topic=closed, version=closed.version, status="acting"
    )
    assert reopened.closed_at is None
    services.topic_close(actor=world.dispatcher, topic=reopened, version=reopened.version)
    sent = _messages("topic-closed:")
    assert [m.key for m in sent] == [f"topic-closed:{topic.pk}:requester:{need.requester_id}"]
    assert sent[0].template == "topic_closed"


def test_a_closed_topic_takes_no_more_links_or_milestones(world: Any, topic: Topic) -> None:
    services.topic_close(actor=world.dispatcher, topic=topic, version=topic.version)
    with pytest.raises(IllegalTransition):
        services.topic_link_needs(actor=world.dispatcher, topic=topic, needs=[world.register()])
    with pytest.raises(IllegalTransition):
        services.milestone_add(actor=world.dispatcher, topic=topic, title="x", progress=5)


def test_handler_of_the_owner_unit_updates_the_measure_status(world: Any, topic: Topic) -> None:
    measure = services.measure_add(
        actor=world.dispatcher,
        topic=topic,
        title="建立路灯巡查制度",
        owner_unit=world.housing,
        due_date=clock.today() + timedelta(days=30),
    )
    with pytest.raises(NotPermitted):
        services.measure_update(actor=world.handler_other, measure=measure, status="done")
    with pytest.raises(NotPermitted):
        services.measure_add(
            actor=world.handler,
            topic=topic,
            title="x",
            owner_unit=world.housing,
            due_date=clock.today(),
        )
    done = services.measure_update(actor=world.handler, measure=measure, status="done")
    assert done.status == "done"
    assert done.done_at is not None
    again = services.measure_update(actor=world.handler, measure=measure, status="in_progress")
    assert again.done_at is None


def test_measure_needs_an_owner_unit_and_a_due_date(world: Any, topic: Topic) -> None:
    with pytest.raises(InvalidInput) as exc:
        services.measure_add(
            actor=world.dispatcher, topic=topic, title="", owner_unit=None, due_date=None
        )
    assert set(exc.value.errors) == {"title", "owner_unit", "due_date"}
    assert not Measure.objects.exists()


def test_milestone_progress_must_be_a_percentage(world: Any, topic: Topic) -> None:
    with pytest.raises(InvalidInput):
        services.milestone_add(actor=world.dispatcher, topic=topic, title="x", progress=120)


def test_unlinking_a_need(world: Any, topic: Topic) -> None:
    need = world.register()
    services.topic_link_needs(actor=world.dispatcher, topic=topic, needs=[need, need])
    assert TopicNeed.objects.count() == 1
    services.topic_unlink_need(actor=world.dispatcher, topic=topic, need=need)
    assert not TopicNeed.objects.exists()
    with pytest.raises(InvalidInput):
        services.topic_unlink_need(actor=world.dispatcher, topic=topic, need=need)


def test_a_residents_name_typed_into_the_title_is_masked_for_every_requester(
    world: Any, person_need: Any
) -> None:
    wang = person_need(phone="13812345678", name="王小明")
    li = person_need(phone="13900001111", name="李四")
    quiet = person_need(phone="", name="赵钱孙")  # no phone: not told, but the name is masked
    topic = services.topic_create(
        actor=world.dispatcher,
        title="王小明家门口路灯",
        area=world.town_a,
        needs=[wang, li, quiet],
    )
    milestone = services.milestone_add(
        actor=world.dispatcher, topic=topic, title="赵钱孙反映的路段已修复", progress=50
    )

    services.milestone_complete(actor=world.dispatcher, milestone=milestone)

    sent = _messages(f"topic-milestone:{milestone.pk}:")
    assert len(sent) == 2
    for message in sent:
        assert "王小明" not in message.body
        assert "赵钱孙" not in message.body
        assert "王**家门口路灯" in message.body
        assert "赵**反映的路段已修复" in message.body


def test_requesters_of_withdrawn_needs_are_not_told(
    world: Any, topic: Topic, person_need: Any
) -> None:
    kept = person_need()
    gone = person_need(phone="13900001111", name="李四")
    services.topic_link_needs(actor=world.dispatcher, topic=topic, needs=[kept, gone])
    Need.objects.filter(pk=gone.pk).update(status=Need.Status.WITHDRAWN)

    assert [need for _r, need in services.requesters_of(topic)] == [kept]
    services.topic_close(actor=world.dispatcher, topic=topic, version=topic.version)
    assert [m.requester_id for m in _messages(f"topic-closed:{topic.pk}:")] == [kept.requester_id]


def test_telling_many_requesters_takes_a_constant_number_of_queries(
    world: Any, topic: Topic, person_need: Any, django_assert_max_num_queries: Any
) -> None:
    needs = [person_need(phone=f"1380000{i:04d}", name=f"居民{i}") for i in range(30)]
    services.topic_link_needs(actor=world.dispatcher, topic=topic, needs=needs)
    milestone = services.milestone_add(actor=world.dispatcher, topic=topic, title="a", progress=10)
    already = f"topic-milestone:{milestone.pk}:requester:{needs[0].requester_id}"
    Message.objects.create(
        key=already,
        channel="sms",
        template="topic_milestone",
        to_masked="x",
        body="earlier",
        created_at=clock.now(),
        next_attempt_at=clock.now(),
    )

    with django_assert_max_num_queries(20):
        services.milestone_complete(actor=world.dispatcher, milestone=milestone)

    sent = _messages(f"topic-milestone:{milestone.pk}:")
    assert len(sent) == 30  # one each, the one written earlier kept as it was
    assert Message.objects.get(key=already).body == "earlier"
    services.topic_close(actor=world.dispatcher, topic=topic, version=topic.version)
    assert len(_messages(f"topic-closed:{topic.pk}:")) == 30


def test_a_measure_changed_since_the_user_saw_it_is_not_overwritten(
    world: Any, topic: Topic
) -> None:
    measure = services.measure_add(
        actor=world.dispatcher,
        topic=topic,
        title="m",
        owner_unit=world.housing,
        due_date=clock.today(),
    )
    services.measure_update(
        actor=world.handler, measure=measure, status="in_progress", seen_status="planned"
    )

    with pytest.raises(StaleVersion):
        services.measure_update(
            actor=world.dispatcher, measure=measure, status="dropped", seen_status="planned"
        )

    measure.refresh_from_db()
    assert measure.status == "in_progress"


def test_every_change_leaves_one_record_naming_the_actor(world: Any, person_need: Any) -> None:
    from wenxu.topics.models import TopicEvent

    def actions() -> list[str]:
        return list(TopicEvent.objects.order_by("id").values_list("action", flat=True))

    a, b = world.register(), world.register()
    topic = services.topic_create(actor=world.dispatcher, title="t", area=world.town_a, needs=[a])
    assert actions() == ["created", "linked"]
    steps = [
        lambda: services.topic_update(
            actor=world.dispatcher,
            topic=topic,
            version=1,
            title="t2",
            area=world.town_a,
            summary="",
            root_cause="",
            category=None,
            owner_unit=None,
            measures_from=None,
        ),
        lambda: services.topic_set_status(
            actor=world.dispatcher, topic=topic, version=2, status="acting"
        ),
        lambda: services.topic_link_needs(actor=world.dispatcher, topic=topic, needs=[b]),
        lambda: services.topic_unlink_need(actor=world.dispatcher, topic=topic, need=b),
        lambda: services.measure_add(
            actor=world.dispatcher,
            topic=topic,
            title="m",
            owner_unit=world.housing,
            due_date=clock.today(),
        ),
        lambda: services.measure_update(
            actor=world.handler, measure=Measure.objects.get(), status="done"
        ),
        lambda: services.milestone_add(actor=world.dispatcher, topic=topic, title="n", progress=5),
        lambda: services.milestone_complete(
            actor=world.dispatcher, milestone=topic.milestones.get()
        ),
        lambda: services.topic_close(actor=world.dispatcher, topic=topic, version=3),
    ]
    expected = [
        "updated",
        "status",
        "linked",
        "unlinked",
        "measure_added",
        "measure_updated",
        "milestone_added",
        "milestone_completed",
        "closed",
    ]
    for step, action in zip(steps, expected, strict=True):
        before = TopicEvent.objects.count()
        step()
        assert TopicEvent.objects.count() == before + 1
        assert actions()[-1] == action
    event = TopicEvent.objects.get(action="measure_updated")
    assert event.actor == world.handler
    assert event.note == "“m”改为“已完成”"
    unlinked = TopicEvent.objects.get(action="unlinked")
    assert (unlinked.need_ids, unlinked.note) == ([b.pk], "")  # numbers shown per viewer
