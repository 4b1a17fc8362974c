import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from wenxu.accounts.models import Membership, User
from wenxu.insight.models import HotTopicGroup
from wenxu.lib import clock
from wenxu.notify.models import Message
from wenxu.topics import services
from wenxu.topics.models import Milestone, Topic, TopicNeed

pytestmark = pytest.mark.django_db


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _detail(topic: Topic) -> str:
    return reverse("topics:detail", args=[topic.pk])


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("dispatcher", 200),
        ("leader", 200),
        ("officer", 200),  # town_a: the topic's area
        ("handler", 200),  # housing owns the topic
        ("officer_b", 404),
        ("handler_other", 404),
        ("outsider", 404),
    ],
)
def test_who_sees_a_topic(world: Any, topic: Topic, who: str, status: int) -> None:
    response = _client(getattr(world, who)).get(_detail(topic))
    assert response.status_code == status


def test_handler_of_a_measure_unit_sees_the_topic(world: Any, topic: Topic) -> None:
    assert _client(world.handler_roads).get(_detail(topic)).status_code == 404
    services.measure_add(
        actor=world.dispatcher,
        topic=topic,
        title="修复公路照明",
        owner_unit=world.transport_roads,
        due_date=clock.today(),
    )
    assert _client(world.handler_roads).get(_detail(topic)).status_code == 200


def test_township_dispatcher_sees_a_county_topic_but_cannot_manage_it(world: Any) -> None:
    county_topic = services.topic_create(
        actor=world.dispatcher, title="全县路灯", area=world.county
    )
    town_dispatcher = User.objects.create_user(username="td", password="x")
    Membership.objects.create(user=town_dispatcher, role="dispatcher", area=world.town_a)
    client = _client(town_dispatcher)
    page = client.get(_detail(county_topic))
    assert page.status_code == 200
    assert 'data-testid="topic-actions"' not in page.content.decode()
    response = client.post(
        reverse("topics:milestone_add", args=[county_topic.pk]), {"title": "x", "progress": 10}
    )
    assert response.status_code == 403
    assert not Milestone.objects.exists()


def test_officer_reads_the_topic_without_forms(world: Any, topic: Topic) -> None:
    page = _client(world.officer).get(_detail(topic)).content.decode()
    assert 'data-testid="link-form"' not in page
    assert 'data-testid="milestone-form"' not in page
    response = _client(world.officer).post(
        reverse("topics:link", args=[topic.pk]), {"numbers": world.register().number}
    )
    assert response.status_code == 403
    assert not TopicNeed.objects.exists()


def test_list_counts_and_filters(
    world: Any, topic: Topic, django_assert_max_num_queries: Any
) -> None:
    services.topic_link_needs(
        actor=world.dispatcher, topic=topic, needs=[world.register(), world.register()]
    )
    services.measure_add(
        actor=world.dispatcher,
        topic=topic,
        title="m",
        owner_unit=world.housing,
        due_date=clock.today(),
    )
    milestone = services.milestone_add(actor=world.dispatcher, topic=topic, title="a", progress=40)
    services.milestone_complete(actor=world.dispatcher, milestone=milestone)
    for i in range(5):
        services.topic_create(actor=world.dispatcher, title=f"专题{i}", area=world.town_b)
    client = _client(world.dispatcher)
    client.get(reverse("topics:list"))  # warm the session and the user
    with django_assert_max_num_queries(12):
        page = client.get(reverse("topics:list")).content.decode()
    assert page.count("data-topic=") == 6
    row = page.split(f'data-topic="{topic.pk}"')[1].split("</tr>")[0]
    assert 'data-count="needs">2<' in row
    assert 'data-count="measures">0/1<' in row
    assert "40%" in row
    filtered = client.get(reverse("topics:list"), {"area": world.town_b.pk}).content.decode()
    assert filtered.count("data-topic=") == 5
    closed = client.get(reverse("topics:list"), {"status": "closed"}).content.decode()
    assert "data-topic=" not in closed
    # officer_b (西岭乡) sees only the 西岭乡 topics
    page_b = _client(world.officer_b).get(reverse("topics:list")).content.decode()
    assert page_b.count("data-topic=") == 5


def test_create_through_the_form(world: Any) -> None:
    response = _client(world.dispatcher).post(
        reverse("topics:create"),
        {
            "title": "供水压力不足",
            "area": world.town_a.pk,
            "category": world.cat_water.pk,
            "owner_unit": world.housing.pk,
            "summary": "多个小区高峰时段水压低",
            "root_cause": "",
            "measures_from": "",
        },
    )
    topic = Topic.objects.get()
    assert response.status_code == 302
    assert response["Location"] == _detail(topic)
    assert topic.category == world.cat_water


def test_create_form_shows_errors_and_keeps_input(world: Any) -> None:
    response = _client(world.dispatcher).post(
        reverse("topics:create"), {"title": "", "area": "", "summary": "留下的文字"}
    )
    assert response.status_code == 422
    assert "留下的文字" in response.content.decode()
    assert not Topic.objects.exists()


def test_officer_may_not_open_the_create_form(world: Any) -> None:
    assert _client(world.officer).get(reverse("topics:create")).status_code == 403


def _resident(world: Any, k: int, text: str, area: Any, category: Any = None) -> Any:
    from wenxu.needs.services import RequesterInput

    return world.register(
        actor=world.dispatcher,
        title=text[:20],
        description=text,
        area=area,
        category=category or world.cat_water,
        requester=RequesterInput(name=f"居民{k}", phone=f"1390000{k:04d}"),
    )


def _scheduled_group() -> HotTopicGroup:
    from wenxu.insight.hot_runs import hot_topics_scheduled

    hot_topics_scheduled()
    return HotTopicGroup.objects.get()


def test_create_from_a_hot_topic_group_prefills(world: Any) -> None:
    text = "幸福小区{k}号楼水压太低，早上洗澡都没水，热水器打不着火"
    inside = [_resident(world, k, text.format(k=k), world.grid_a) for k in range(4)]
    outside = _resident(world, 9, text.format(k=9), world.grid_b, category=world.cat_roads)
    group = _scheduled_group()
    assert group.size == 5
    town_dispatcher = User.objects.create_user(username="td", password="x")
    Membership.objects.create(user=town_dispatcher, role="dispatcher", area=world.town_a)

    page = _client(world.dispatcher).get(reverse("topics:create"), {"group": group.pk})
    form = page.context["form"]
    assert form.initial["title"] == group.label
    assert form.initial["area"] == world.county.pk  # the lowest area holding both grids
    assert form.initial["category"] == world.cat_water.pk  # four of five
    assert page.context["selected"] == {n.pk for n in [*inside, outside]}

    # a township dispatcher: the lowest area holding the needs they may see, and only those
    page = _client(town_dispatcher).get(reverse("topics:create"), {"group": group.pk})
    assert page.context["form"].initial["area"] == world.grid_a.pk
    assert page.context["selected"] == {n.pk for n in inside}
    assert outside.number not in page.content.decode()

    response = _client(town_dispatcher).post(
        reverse("topics:create"),
        {
            "group": group.pk,
            "title": "幸福小区水压",
            "area": world.town_a.pk,
            "needs": [inside[0].pk, outside.pk],
        },
    )
    assert response.status_code == 302
    topic = Topic.objects.get()
    assert topic.source_group == group
    assert list(topic.needs.values_list("pk", flat=True)) == [inside[0].pk]


def test_a_group_of_needs_out_of_scope_is_not_found(world: Any) -> None:
    for k in range(3):
        _resident(world, k, f"西岭花园{k}号楼水压太低，早上洗澡都没水", world.grid_b)
    group = _scheduled_group()
    town_dispatcher = User.objects.create_user(username="td", password="x")
    Membership.objects.create(user=town_dispatcher, role="dispatcher", area=world.town_a)
    response = _client(town_dispatcher).get(reverse("topics:create"), {"group": group.pk})
    assert response.status_code == 404


def test_a_group_with_too_few_visible_requesters_is_not_found(world: Any) -> None:
    text = "幸福小区{k}号楼水压太低，早上洗澡都没水"
    for k in range(2):
        _resident(world, k, text.format(k=k), world.grid_a)
    for k in range(2, 5):
        _resident(world, k, text.format(k=k), world.grid_b)
    group = _scheduled_group()
    town_dispatcher = User.objects.create_user(username="td", password="x")
    Membership.objects.create(user=town_dispatcher, role="dispatcher", area=world.town_a)
    response = _client(town_dispatcher).get(reverse("topics:create"), {"group": group.pk})
    assert response.status_code == 404  # two of its requesters are theirs: not a hot topic


def test_a_group_of_someone_elses_run_is_not_found(world: Any) -> None:
    from wenxu.insight.hot_runs import hot_topic_run_create, hot_topic_run_execute

    for k in range(3):
        _resident(world, k, f"幸福小区{k}号楼水压太低，早上洗澡都没水", world.grid_a)
    run = hot_topic_run_create(actor=world.leader, days=30)
    hot_topic_run_execute(run_id=run.pk)
    group = HotTopicGroup.objects.get(run=run)
    response = _client(world.dispatcher).get(reverse("topics:create"), {"group": group.pk})
    assert response.status_code == 404


def test_the_title_is_the_label_of_the_visible_needs(world: Any) -> None:
    text = "{k}号楼水压太低，早上洗澡都没水，热水器打不着火"
    for k in range(4):
        _resident(world, k, text.format(k=k), world.grid_a)
    for k in range(4, 10):
        _resident(world, k, "西岭花园" + text.format(k=k), world.grid_b)
    group = _scheduled_group()
    assert "西岭花园" in group.label
    town_dispatcher = User.objects.create_user(username="td", password="x")
    Membership.objects.create(user=town_dispatcher, role="dispatcher", area=world.town_a)
    page = _client(town_dispatcher).get(reverse("topics:create"), {"group": group.pk})
    title = page.context["form"].initial["title"]
    assert "西岭花园" not in title
    assert "水压" in title


def test_a_stale_edit_shows_the_message_and_keeps_the_input(world: Any, topic: Topic) -> None:
    client = _client(world.dispatcher)
    data = {
        "title": "改名",
        "area": world.town_a.pk,
        "summary": "我写的概述",
        "version": topic.version,
    }
    services.topic_set_status(actor=world.dispatcher, topic=topic, version=1, status="acting")
    response = client.post(reverse("topics:edit", args=[topic.pk]), data)
    assert response.status_code == 409
    text = response.content.decode()
    assert "该记录已被他人修改，请刷新" in text
    assert "我写的概述" in text
    topic.refresh_from_db()
    assert topic.title == "东河镇路灯长期失修"
    # submitting again applies it to the current version
    data["version"] = topic.version
    assert client.post(reverse("topics:edit", args=[topic.pk]), data).status_code == 302
    topic.refresh_from_db()
    assert topic.title == "改名"


def test_stale_status_change_is_a_409(world: Any, topic: Topic) -> None:
    response = _client(world.dispatcher).post(
        reverse("topics:status", args=[topic.pk]), {"status": "acting", "version": 7}
    )
    assert response.status_code == 409
    assert "该记录已被他人修改，请刷新" in response.content.decode()


def test_detail_page_flow(world: Any, topic: Topic, person_need: Any) -> None:
    client = _client(world.dispatcher)
    a, b = person_need(), person_need(phone="13900001111", name="李四")
    response = client.post(
        reverse("topics:link", args=[topic.pk]), {"numbers": f"{a.number}, {b.number}"}
    )
    assert response.status_code == 302
    bad = client.post(reverse("topics:link", args=[topic.pk]), {"numbers": "WX-2000-000001"})
    assert bad.status_code == 422
    assert "WX-2000-000001" in bad.content.decode()
    client.post(
        reverse("topics:measure_add", args=[topic.pk]),
        {"title": "建立巡查制度", "owner_unit": world.housing.pk, "due_date": "2030-01-01"},
    )
    client.post(
        reverse("topics:milestone_add", args=[topic.pk]), {"title": "排查完成", "progress": "30"}
    )
    milestone = Milestone.objects.get()
    url = reverse("topics:milestone_complete", args=[topic.pk, milestone.pk])
    assert client.post(url, {"note": "完成"}).status_code == 302
    assert client.post(url, {"note": "完成"}).status_code == 409
    assert Message.objects.filter(template="topic_milestone").count() == 2

    page = client.get(_detail(topic)).content.decode()
    assert a.number in page
    assert b.number in page
    assert "张三丰" not in page
    assert "13812345678" not in page
    assert "30%" in page
    assert 'data-testid="effect-table"' in page  # the measure started today
    measure = topic.measures.get()
    handler = _client(world.handler)
    response = handler.post(
        reverse("topics:measure_status", args=[topic.pk, measure.pk]),
        {"status": "done", "seen": "planned"},
    )
    assert response.status_code == 302
    measure.refresh_from_db()
    assert measure.done_at is not None
    response = client.post(reverse("topics:unlink", args=[topic.pk]), {"need": a.number})
    assert response.status_code == 302
    assert list(topic.needs.all()) == [b]


def test_without_measures_the_page_says_so(world: Any, topic: Topic) -> None:
    page = _client(world.dispatcher).get(_detail(topic)).content.decode()
    assert 'data-testid="no-measures"' in page
    assert "echarts" not in page


def test_attach_a_need_from_its_page(world: Any, topic: Topic) -> None:
    need = world.register()
    client = _client(world.dispatcher)
    need_page = client.get(reverse("needs:detail", args=[need.number])).content.decode()
    assert reverse("topics:attach") in need_page
    page = client.get(reverse("topics:attach"), {"need": need.number})
    assert page.status_code == 200
    assert topic.title in page.content.decode()
    response = client.post(reverse("topics:attach"), {"need": need.number, "topic": topic.pk})
    assert response.status_code == 302
    assert response["Location"] == reverse("needs:detail", args=[need.number])
    need_page = client.get(reverse("needs:detail", args=[need.number])).content.decode()
    assert 'data-testid="need-topics"' in need_page
    assert reverse("topics:detail", args=[topic.pk]) in need_page


def test_attach_for_a_need_out_of_scope_is_404_and_for_an_officer_403(world: Any) -> None:
    theirs = world.register(area=world.grid_b, actor=world.officer_b)
    assert (
        _client(world.officer).get(reverse("topics:attach"), {"need": theirs.number}).status_code
        == 404
    )
    mine = world.register()
    assert (
        _client(world.officer).get(reverse("topics:attach"), {"need": mine.number}).status_code
        == 403
    )


def test_officer_sees_the_topic_card_without_the_attach_link(world: Any, topic: Topic) -> None:
    need = world.register()
    services.topic_link_needs(actor=world.dispatcher, topic=topic, needs=[need])
    page = _client(world.officer).get(reverse("needs:detail", args=[need.number])).content.decode()
    assert topic.title in page
    assert reverse("topics:attach") not in page


def test_create_with_a_need_from_attach(world: Any) -> None:
    need = world.register()
    client = _client(world.dispatcher)
    page = client.get(reverse("topics:create"), {"need": need.number})
    assert page.context["form"].initial["area"] == world.grid_a.pk
    response = client.post(
        reverse("topics:create"),
        {"need": need.number, "title": "路灯", "area": world.town_a.pk, "needs": [need.pk]},
    )
    assert response.status_code == 302
    assert list(Topic.objects.get().needs.all()) == [need]


def test_measures_from_cannot_be_in_the_future(world: Any) -> None:
    response = _client(world.dispatcher).post(
        reverse("topics:create"),
        {
            "title": "x",
            "area": world.town_a.pk,
            "measures_from": (clock.today() + timedelta(days=400)).isoformat(),
        },
    )
    assert response.status_code == 422


def test_list_counts_only_the_linked_needs_the_viewer_may_see(
    world: Any, django_assert_max_num_queries: Any
) -> None:
    mine = world.register(area=world.grid_b, actor=world.officer_b)
    others = [world.register(), world.register()]  # 东河镇: officer_b may not see them
    county = services.topic_create(
        actor=world.dispatcher, title="全县路灯", area=world.county, needs=[mine, *others]
    )
    for i in range(4):
        services.topic_create(
            actor=world.dispatcher, title=f"县{i}", area=world.county, needs=[mine, *others]
        )
    client = _client(world.officer_b)
    client.get(reverse("topics:list"))

    with django_assert_max_num_queries(12):
        page = client.get(reverse("topics:list")).content.decode()

    row = page.split(f'data-topic="{county.pk}"')[1].split("</tr>")[0]
    assert 'data-count="needs">1<' in row
    assert page.count('data-count="needs">1<') == 5
    detail = _client(world.officer_b).get(_detail(county)).content.decode()
    assert 'data-testid="need-count">1<' in detail
    dispatcher_page = _client(world.dispatcher).get(reverse("topics:list")).content.decode()
    assert 'data-count="needs">3<' in dispatcher_page.split(f'data-topic="{county.pk}"')[1]


def test_a_measure_changed_since_the_page_was_shown_is_a_409_and_unchanged(
    world: Any, topic: Topic
) -> None:
    measure = services.measure_add(
        actor=world.dispatcher,
        topic=topic,
        title="落实维护经费",
        owner_unit=world.housing,
        due_date=clock.today(),
    )
    url = reverse("topics:measure_status", args=[topic.pk, measure.pk])
    assert (
        'name="seen" value="planned"' in _client(world.handler).get(_detail(topic)).content.decode()
    )
    first = _client(world.handler).post(url, {"status": "done", "seen": "planned"})

    second = _client(world.dispatcher).post(url, {"status": "dropped", "seen": "planned"})

    assert first.status_code == 302
    assert second.status_code == 409
    assert "该记录已被他人修改，请刷新" in second.content.decode()
    measure.refresh_from_db()
    assert measure.status == "done"


def test_the_topic_page_shows_who_did_what(world: Any, topic: Topic) -> None:
    services.milestone_add(actor=world.dispatcher, topic=topic, title="排查完毕", progress=40)

    page = _client(world.officer).get(_detail(topic)).content.decode()

    events = page.split('data-testid="events"')[1].split("</section>")[0]
    assert "办理记录" in page
    assert "建立专题" in events
    assert "添加节点" in events
    assert "调度员：排查完毕（40%）" in events
    assert events.index("添加节点") < events.index("建立专题")  # newest first


def test_the_record_names_only_the_needs_the_viewer_may_see(world: Any) -> None:
    mine = world.register(area=world.grid_b, actor=world.officer_b)
    theirs = world.register()
    county = services.topic_create(
        actor=world.dispatcher, title="全县路灯", area=world.county, needs=[mine, theirs]
    )
    services.topic_link_needs(actor=world.dispatcher, topic=county, needs=[world.register()])

    page = _client(world.officer_b).get(_detail(county)).content.decode()
    full = _client(world.dispatcher).get(_detail(county)).content.decode()

    events = page.split('data-testid="events"')[1].split("</section>")[0]
    assert mine.number in events
    assert theirs.number not in page
    assert events.count('data-event="linked"') == 1  # the second link concerns none of theirs
    assert full.split('data-testid="events"')[1].count('data-event="linked"') == 2
    assert f"{mine.number}、{theirs.number}" in full


def test_suggestions_are_loaded_after_the_page(
    world: Any, topic: Topic, monkeypatch: pytest.MonkeyPatch
) -> None:
    services.topic_link_needs(
        actor=world.dispatcher, topic=topic, needs=[world.register(title="村口路灯不亮")]
    )
    similar = world.register(title="村口路灯又不亮了")

    def refuse(**kwargs: Any) -> list[Any]:
        raise AssertionError("the page must not rank suggestions itself")

    real = views_module().suggest.suggestions_for_topic
    monkeypatch.setattr(views_module().suggest, "suggestions_for_topic", refuse)
    page = _client(world.dispatcher).get(_detail(topic)).content.decode()
    monkeypatch.setattr(views_module().suggest, "suggestions_for_topic", real)
    fragment = _client(world.dispatcher).get(reverse("topics:suggestions", args=[topic.pk]))

    assert f'hx-get="{reverse("topics:suggestions", args=[topic.pk])}"' in page
    assert 'hx-trigger="load"' in page
    assert fragment.status_code == 200
    assert f'data-suggestion="{similar.number}"' in fragment.content.decode()
    assert (
        _client(world.officer).get(reverse("topics:suggestions", args=[topic.pk])).status_code
        == 403
    )
    assert (
        _client(world.officer_b).get(reverse("topics:suggestions", args=[topic.pk])).status_code
        == 404
    )


def views_module() -> Any:
    from wenxu.topics import views

    return views


def test_list_pages_by_cursor_newest_first_and_keeps_the_filters(
    world: Any, django_assert_max_num_queries: Any, monkeypatch: Any
) -> None:
    from wenxu.topics import views

    monkeypatch.setattr(views, "PAGE_SIZE", 4)
    made = [
        services.topic_create(actor=world.dispatcher, title=f"专题{i}", area=world.town_b)
        for i in range(10)
    ]
    client = _client(world.dispatcher)
    client.get(reverse("topics:list"))  # warm the session and the user
    seen: list[int] = []
    url: str | None = reverse("topics:list") + f"?area={world.town_b.pk}"
    while url:
        with django_assert_max_num_queries(12):
            response = client.get(url)
        page = response.content.decode()
        seen += [int(pk) for pk in re.findall(r'data-topic="(\d+)"', page)]
        found = re.search(r'href="([^"]+)" data-testid="next-page"', page)
        url = reverse("topics:list") + found.group(1).replace("&amp;", "&") if found else None
        if url:
            assert f"area={world.town_b.pk}" in url
    assert seen == sorted((t.pk for t in made), reverse=True)


def test_list_with_a_bad_cursor_says_so_and_shows_the_first_page(world: Any) -> None:
    services.topic_create(actor=world.dispatcher, title="专题", area=world.town_b)
    response = _client(world.dispatcher).get(reverse("topics:list"), {"cursor": "@@"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "分页游标无效" in page
    assert page.count("data-topic=") == 1
