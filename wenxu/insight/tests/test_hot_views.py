"""The 热点 page: who may see it, what they see of it, and computing on demand."""

import re

import pytest
from django.test import Client
from django.urls import NoReverseMatch, reverse

from conftest import World
from wenxu.accounts.models import Membership, User
from wenxu.insight import hot_runs, hot_views
from wenxu.insight.models import HotTopicGroup, HotTopicRun
from wenxu.insight.tests.test_hot_runs import water
from wenxu.needs import services
from wenxu.needs.models import Need

HOT = "/hot/"


def _in(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


@pytest.fixture
def town_a_dispatcher(world: World) -> User:
    """A dispatcher of 东河镇 only: 西岭乡's needs are out of their scope."""
    user = User.objects.create_user(username="dispatcher_a", password="pw-dispatcher_a")
    Membership.objects.create(user=user, role="dispatcher", area=world.town_a)
    return user


@pytest.fixture
def split_topic(world: World) -> HotTopicGroup:
    """One topic told by four residents of 东河镇 and three of 西岭乡 (the same estate name:
    a group that straddles two townships), computed by the scheduled run."""
    for k in range(4):
        water(world, k)
    for k in range(4, 7):
        water(world, k, area=world.grid_b)
    hot_runs.hot_topics_scheduled()
    return HotTopicGroup.objects.get()


def test_reverse_names() -> None:
    assert reverse("insight:hot") == HOT
    assert reverse("insight:hot_group", args=[3]) == "/hot/3/"


@pytest.mark.parametrize("persona", ["leader", "dispatcher"])
def test_leaders_and_dispatchers_may_open_the_page(
    world: World, client: Client, persona: str
) -> None:
    response = _in(client, getattr(world, persona)).get(HOT)
    assert response.status_code == 200
    assert "还没有热点结果" in response.content.decode()


@pytest.mark.parametrize("persona", ["handler", "officer", "admin"])
def test_others_are_refused(world: World, client: Client, persona: str) -> None:
    assert _in(client, getattr(world, persona)).get(HOT).status_code == 403


def test_user_without_scope_gets_404(world: World, client: Client) -> None:
    assert _in(client, world.outsider).get(HOT).status_code == 404


def test_anonymous_is_sent_to_login(client: Client) -> None:
    response = client.get(HOT)
    assert response.status_code == 302
    assert "login" in response["Location"]


def test_page_lists_groups_with_counts(
    world: World, client: Client, split_topic: HotTopicGroup, django_assert_max_num_queries: object
) -> None:
    _in(client, world.leader)
    client.get(HOT)  # warm: what pages keep between requests (ADR 0026)
    with django_assert_max_num_queries(11):  # type: ignore[operator]
        response = client.get(HOT)
    page = response.content.decode()
    assert response.status_code == 200
    assert split_topic.label in page
    assert 'data-testid="hot-group"' in page
    assert "7 件" in page
    assert "7 位诉求人" in page
    assert "新出现" not in page  # the ledger began in this window: nothing to compare with
    assert "增长 —" in page
    assert "东河村第一网格" in page
    assert "西岭村第一网格" in page
    assert "居民" not in page
    assert "1380000" not in page


def test_page_query_count_does_not_grow_with_groups(
    world: World, client: Client, django_assert_max_num_queries: object
) -> None:
    for k in range(4):
        water(world, k)
    for k in range(4):
        world.register(
            actor=world.dispatcher,
            title=f"阳光花园{k}号楼电梯坏了",
            description=f"阳光花园{k}号楼电梯又坏了，老人下不了楼",
            area=world.grid_b,
        )
    hot_runs.hot_topics_scheduled()
    assert HotTopicGroup.objects.count() == 2
    _in(client, world.leader)
    client.get(HOT)  # warm: what pages keep between requests (ADR 0026)
    with django_assert_max_num_queries(11):  # type: ignore[operator]
        response = client.get(HOT)
    assert response.content.decode().count('data-testid="hot-group"') == 2


def test_needs_out_of_scope_are_never_counted_or_listed(
    world: World, client: Client, split_topic: HotTopicGroup, town_a_dispatcher: User
) -> None:
    _in(client, town_a_dispatcher)
    page = client.get(HOT).content.decode()
    assert "4 件" in page
    assert "4 位诉求人" in page
    assert "7 件" not in page
    assert "西岭村第一网格" not in page
    assert "增长 —" in page  # the growth is the whole group's: not shown on a part

    detail = client.get(f"/hot/{split_topic.pk}/").content.decode()
    inside = Need.objects.filter(area=world.grid_a).values_list("number", flat=True)
    outside = Need.objects.filter(area=world.grid_b).values_list("number", flat=True)
    assert all(number in detail for number in inside)
    assert not any(number in detail for number in outside)
    assert detail.count('data-testid="hot-need"') == 4


def test_group_under_the_minimum_in_scope_is_hidden(
    world: World, client: Client, town_a_dispatcher: User
) -> None:
    for k in range(2):
        water(world, k)
    for k in range(2, 6):
        water(world, k, area=world.grid_b)
    hot_runs.hot_topics_scheduled()
    group = HotTopicGroup.objects.get()
    _in(client, town_a_dispatcher)
    assert 'data-testid="hot-group"' not in client.get(HOT).content.decode()
    assert client.get(f"/hot/{group.pk}/").status_code == 404


def test_group_page_lists_needs_and_offers_a_topic(
    world: World, client: Client, split_topic: HotTopicGroup
) -> None:
    response = _in(client, world.dispatcher).get(f"/hot/{split_topic.pk}/")
    page = response.content.decode()
    assert response.status_code == 200
    assert page.count('data-testid="hot-need"') == 7
    assert "已登记" in page
    assert "居民" not in page
    assert "1380000" not in page
    try:
        expected: str | None = f"{reverse('topics:create')}?group={split_topic.pk}"
    except NoReverseMatch:
        expected = None
    if expected is None:
        assert "立为专题" not in page
    else:
        assert f'href="{expected}"' in page.replace("&amp;", "&")


def test_group_of_someone_elses_run_is_not_found(world: World, client: Client) -> None:
    for k in range(3):
        water(world, k)
    run = hot_runs.hot_topic_run_create(actor=world.leader, days=30)
    hot_runs.hot_topic_run_execute(run_id=run.pk)
    group = HotTopicGroup.objects.get(run=run)
    assert _in(client, world.dispatcher).get(f"/hot/{group.pk}/").status_code == 404
    assert client.get(f"{HOT}?run={run.pk}").status_code == 404
    client.force_login(world.leader)
    assert client.get(f"/hot/{group.pk}/").status_code == 200


def test_compute_now_queues_a_run_and_says_so(world: World, client: Client) -> None:
    for k in range(3):
        water(world, k)
    _in(client, world.leader)
    # the worker is not running: on-commit callbacks are not executed here
    response = client.post(HOT, {"days": "7", "area": world.town_a.pk, "category": ""})
    assert response.status_code == 302
    run = HotTopicRun.objects.get()
    assert response["Location"] == f"{HOT}?run={run.pk}"
    assert run.requested_by == world.leader
    assert run.area == world.town_a
    assert (run.window_end - run.window_start).days == 7
    page = client.get(response["Location"]).content.decode()
    assert "计算中" in page
    assert f'hx-get="/hot/runs/{run.pk}/"' in page
    # the scheduled page also shows the user's run in progress
    assert "计算中" in client.get(HOT).content.decode()

    status = client.get(f"/hot/runs/{run.pk}/", headers={"HX-Request": "true"})
    assert "HX-Redirect" not in status
    hot_runs.hot_topic_run_execute(run_id=run.pk)
    status = client.get(f"/hot/runs/{run.pk}/", headers={"HX-Request": "true"})
    assert status["HX-Redirect"] == f"{HOT}?run={run.pk}"
    page = client.get(response["Location"]).content.decode()
    assert 'data-testid="hot-group"' in page
    assert "按需计算" in page


def test_compute_now_runs_in_the_background(
    world: World, client: Client, django_capture_on_commit_callbacks: object
) -> None:
    for k in range(3):
        water(world, k)
    _in(client, world.dispatcher)
    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        response = client.post(HOT, {"days": "30", "area": "", "category": world.cat_water.pk})
    run = HotTopicRun.objects.get()
    assert run.state == HotTopicRun.State.DONE
    assert run.category == world.cat_water
    assert 'data-testid="hot-group"' in client.get(response["Location"]).content.decode()


def test_area_out_of_scope_or_bad_window_is_refused(
    world: World, client: Client, town_a_dispatcher: User
) -> None:
    _in(client, town_a_dispatcher)
    response = client.post(HOT, {"days": "30", "area": world.town_b.pk})
    assert response.status_code == 422
    assert "不在你的权限范围内" in response.content.decode()
    response = client.post(HOT, {"days": "45"})
    assert response.status_code == 422
    assert "请选择 7、30 或 90 天" in response.content.decode()
    assert not HotTopicRun.objects.exists()


def test_page_shows_the_newest_scheduled_run(world: World, client: Client) -> None:
    for k in range(3):
        water(world, k)
    hot_runs.hot_topics_scheduled()
    older = HotTopicRun.objects.get()
    newer = hot_runs.hot_topic_run_create(actor=None, days=30)
    hot_runs.hot_topic_run_execute(run_id=newer.pk)
    page = _in(client, world.leader).get(HOT).content.decode()
    group = HotTopicGroup.objects.get(run=newer)
    assert f'data-group="{group.pk}"' in page
    assert not re.search(rf'data-group="{HotTopicGroup.objects.get(run=older).pk}"', page)


def _resident(world: World, k: int, text: str, area: object) -> Need:
    return world.register(
        actor=world.dispatcher,
        title=text[:20],
        description=text,
        area=area,
        category=world.cat_water,
        requester=services.RequesterInput(name=f"居民{k}", phone=f"1390000{k:04d}"),
    )


@pytest.fixture
def leaning_topic(world: World) -> HotTopicGroup:
    """Four residents of 东河镇 and six of 西岭乡 (two of whom sent their message twice) about
    low water pressure; only 西岭乡's name their estate, 西岭花园."""
    for k in range(4):
        _resident(world, k, f"{k + 1}号楼水压太低，早上洗澡都没水，热水器打不着火", world.grid_a)
    for k in range(4, 10):
        need = _resident(
            world, k, f"西岭花园{k + 1}号楼水压太低，早上洗澡都没水，热水器打不着火", world.grid_b
        )
        if k < 6:
            again = world.register(
                actor=world.dispatcher,
                title=need.title,
                description=need.description,
                area=world.grid_b,
                category=world.cat_water,
            )
            Need.objects.filter(pk=again.pk).update(requester=need.requester)
    hot_runs.hot_topics_scheduled()
    return HotTopicGroup.objects.get()


def test_a_partial_viewer_sees_heat_copies_and_label_of_their_part(
    world: World, client: Client, leaning_topic: HotTopicGroup, town_a_dispatcher: User
) -> None:
    group = leaning_topic
    assert group.requesters == 10
    assert group.copies == 2
    assert group.heat == pytest.approx(10.0, abs=0.05)
    assert "西岭花园" in group.label

    page = _in(client, town_a_dispatcher).get(HOT).content.decode()
    assert "4 位诉求人" in page
    heat = re.search(r'data-testid="hot-heat">([\d.]+)<', page)
    assert heat is not None
    assert float(heat.group(1)) == pytest.approx(4.0, abs=0.05)
    assert 'data-testid="hot-copies"' not in page  # the copies are 西岭乡's
    assert "西岭花园" not in page
    label = re.search(r'data-testid="hot-label">([^<]*)<', page)
    assert label is not None
    assert "水压" in label.group(1)

    detail = client.get(f"/hot/{group.pk}/").content.decode()
    assert "西岭花园" not in detail
    assert re.search(r'data-testid="hot-heat">4\.0<', detail)

    # the whole-ledger viewer sees what the run stored
    page = _in(client, world.leader).get(HOT).content.decode()
    assert "10.0" in page
    assert "西岭花园" in page
    assert "重复提交 2 件" in page


def test_partial_groups_are_ordered_by_the_heat_shown(
    world: World, client: Client, town_a_dispatcher: User
) -> None:
    # 幸福小区's water: 3 residents of 东河镇 and 5 of 西岭乡; 东河村's lamps: 4 of 东河镇
    for k in range(3):
        water(world, k)
    for k in range(3, 8):
        water(world, k, area=world.grid_b)
    for k in range(4):
        _resident(world, 20 + k, f"东河村村口{k + 1}号路灯坏了，晚上出行看不见路", world.grid_a)
    hot_runs.hot_topics_scheduled()
    hottest = HotTopicGroup.objects.get(rank=1)
    assert hottest.requesters == 8
    page = _in(client, town_a_dispatcher).get(HOT).content.decode()
    order = re.findall(r'data-group="(\d+)"', page)
    assert len(order) == 2
    assert order[0] != str(hottest.pk)  # 4 visible lamp requesters before 3 visible water ones


def test_page_query_count_is_constant_for_a_partial_viewer(
    world: World,
    client: Client,
    town_a_dispatcher: User,
    django_assert_max_num_queries: object,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    texts = ["幸福小区{k}号楼水压太低，早上洗澡都没水", "阳光花园{k}号楼电梯坏了，老人下不了楼"]
    texts += ["金桂苑{k}栋门口垃圾没人清运，臭气熏天"]
    for t, text in enumerate(texts):
        for k in range(3):
            _resident(world, 10 * t + k, text.format(k=k + 1), world.grid_a)
        _resident(world, 10 * t + 5, text.format(k=9), world.grid_b)
    hot_runs.hot_topics_scheduled()
    assert HotTopicGroup.objects.count() == 3
    _in(client, town_a_dispatcher)
    monkeypatch.setattr(hot_views, "PAGE_SIZE", 2)
    client.get(HOT)  # warm: what pages keep between requests (ADR 0026)
    with django_assert_max_num_queries(13):  # type: ignore[operator]
        page = client.get(HOT).content.decode()
    assert page.count('data-testid="hot-group"') == 2
    assert 'data-testid="hot-more"' in page
    with django_assert_max_num_queries(13):  # type: ignore[operator]
        page = client.get(f"{HOT}?page=2").content.decode()
    assert page.count('data-testid="hot-group"') == 1
    assert ">3<" in page  # numbered on from the first page


def test_the_page_does_not_read_the_groups_need_ids(
    world: World, client: Client, split_topic: HotTopicGroup, town_a_dispatcher: User
) -> None:
    # the member rows are what the page counts: need_ids is kept only for other readers
    HotTopicGroup.objects.filter(pk=split_topic.pk).update(need_ids=[])
    page = _in(client, town_a_dispatcher).get(HOT).content.decode()
    assert "4 位诉求人" in page


def test_a_topic_absent_from_the_previous_window_is_new(world: World, client: Client) -> None:
    from datetime import timedelta

    from wenxu.lib import clock

    with clock.travel(clock.now() - timedelta(days=65)):
        world.register()  # the ledger reaches back before the previous window
    for k in range(3):
        water(world, k)
    hot_runs.hot_topics_scheduled()
    group = HotTopicGroup.objects.get()
    page = _in(client, world.leader).get(HOT).content.decode()
    assert "新出现" in page
    assert "新出现" in client.get(f"/hot/{group.pk}/").content.decode()
