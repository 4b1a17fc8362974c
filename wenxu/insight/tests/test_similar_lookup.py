"""Similar needs through the ledger: scope, statuses, the index's upkeep and the two partials."""

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from django.test import Client
from django.urls import reverse

from conftest import World
from wenxu.insight import similar
from wenxu.insight import similar_index as index_module
from wenxu.insight.similar import similar_index, similar_index_reset, similar_needs, similar_to_need
from wenxu.insight.tests.test_similar_synth import planted_needs, twins_of
from wenxu.insight.text import need_text
from wenxu.lib import clock
from wenxu.needs import services
from wenxu.needs.models import Category, Need
from wenxu.needs.services.register import RequesterInput
from wenxu.organisations.models import Area
from wenxu.topics.models import Topic, TopicNeed

LAMP = "幸福里小区3号楼路灯不亮"
LAMP_TEXT = "幸福里小区3号楼门口的路灯坏了两个多月，晚上出门一片漆黑，老人走路容易摔倒。"
LAMP_AGAIN = "幸福里小区3号楼的路灯一直不亮，天黑以后看不清路，希望尽快修好。"
# What an officer types about the same lamp: the words the lookups are asked with.
ASK = need_text("幸福里小区3号楼路灯坏了", LAMP_AGAIN)
OTHER = "西岭村卫生室药品不全"
OTHER_TEXT = "西岭村卫生室常用药经常缺货，老人看慢性病要跑到镇上去拿药。"


# Other needs of the ledger (none about street lights), so that the IDF is that of a ledger
# and not of the two or three needs a test registers.
BACKGROUND = [n for n in planted_needs(groups=0, noise=40, seed=1) if n.category != 1][:24]


@pytest.fixture
def world(world: World) -> World:
    for i, item in enumerate(BACKGROUND):
        world.register(
            actor=world.dispatcher,
            title=item.title,
            description=item.description,
            area=world.grid_a if i % 2 else world.grid_b,
        )
    return world


@pytest.fixture(autouse=True)
def fresh_index() -> Iterator[None]:
    # The index lives in the process; each test has its own database.
    similar_index_reset()
    yield
    similar_index_reset()


def _lamp(world: World, **overrides: Any) -> Need:
    values: dict[str, Any] = {"title": LAMP, "description": LAMP_TEXT}
    values.update(overrides)
    return world.register(**values)


def _numbers(items: list[similar.SimilarNeed]) -> list[str]:
    return [item.number for item in items]


# --------------------------------------------------------------------------- finding twins


def test_planted_twins_are_found_in_the_ledger(world: World) -> None:
    # (the background needs of `world` stay: they are noise as well)
    # given several hundred needs: duplicate groups told in different words, and noise
    synth = planted_needs(groups=50, noise=120, seed=5)
    grids = [
        Area.objects.create(name=f"第{i}网格", level="grid", parent=world.village_a)
        for i in range(1, 8)
    ]
    categories = [Category.objects.create(name=f"类别{i}") for i in range(1, 11)]
    by_synth: dict[int, Need] = {}
    for item in synth:
        by_synth[item.id] = world.register(
            actor=world.dispatcher,
            title=item.title,
            description=item.description,
            area=grids[item.area - 1],
            category=categories[item.category - 1],
        )
    synth_of = {need.pk: synth_id for synth_id, need in by_synth.items()}

    # when each planted need asks for its five most similar
    twins = twins_of(synth)
    shares = []
    for synth_id, group in twins.items():
        found = similar_to_need(user=world.dispatcher, need=by_synth[synth_id], limit=5)
        found_synth = {synth_of.get(item.id) for item in found}
        shares.append(len(found_synth & group) / len(group))

    # then at least 90 % of the twins are there
    assert np.mean(shares) >= 0.9


def test_a_need_is_never_similar_to_itself(world: World) -> None:
    need = _lamp(world)
    twin = _lamp(world, description=LAMP_AGAIN)

    assert _numbers(similar_to_need(user=world.dispatcher, need=need)) == [twin.number]


def test_unrelated_needs_are_not_suggested(world: World) -> None:
    _lamp(world)
    world.register(title=OTHER, description=OTHER_TEXT)

    found = similar_needs(user=world.dispatcher, text=ASK)

    assert [item.title for item in found] == [LAMP]
    assert 0.2 <= found[0].similarity <= 1


def test_nothing_is_looked_up_for_a_few_characters(world: World) -> None:
    _lamp(world)

    assert similar_needs(user=world.dispatcher, text="路灯") == []
    assert similar_needs(user=world.dispatcher, text="  \n ") == []


def test_same_area_and_same_category_rank_first(world: World) -> None:
    # given the same words in two areas and two categories
    in_b = _lamp(world, actor=world.dispatcher, area=world.grid_b)
    in_a = _lamp(world, area=world.grid_a)
    water = _lamp(world, category=world.cat_water, area=world.grid_b, actor=world.dispatcher)

    # then the one in the asker's area comes first, and the same category before the other
    by_area = similar_needs(user=world.dispatcher, text=ASK, area_id=world.grid_a.pk)
    assert _numbers(by_area)[0] == in_a.number
    by_b = similar_needs(
        user=world.dispatcher,
        text=ASK,
        area_id=world.grid_b.pk,
        category_id=world.cat_roads.pk,
    )
    assert _numbers(by_b) == [in_b.number, water.number, in_a.number]
    # the similarity shown is the plain text similarity, the same for all three
    assert len({item.similarity for item in by_b}) == 1


# --------------------------------------------------------------------------- scope and status


def test_needs_out_of_the_viewers_scope_are_never_returned(world: World) -> None:
    mine = _lamp(world)
    theirs = _lamp(world, actor=world.officer_b, area=world.grid_b)

    assert _numbers(similar_needs(user=world.officer, text=ASK)) == [mine.number]
    assert _numbers(similar_needs(user=world.officer_b, text=ASK)) == [theirs.number]
    assert _numbers(similar_needs(user=world.handler, text=ASK)) == []
    assert similar_needs(user=world.outsider, text=ASK) == []
    assert set(_numbers(similar_needs(user=world.dispatcher, text=ASK))) == {
        mine.number,
        theirs.number,
    }


def test_withdrawn_and_merged_needs_are_not_suggested(world: World) -> None:
    kept = _lamp(world)
    withdrawn = _lamp(world)
    merged = _lamp(world)
    similar_index()  # indexed while still active
    services.need_withdraw(
        actor=world.dispatcher, need=withdrawn, version=withdrawn.version, reason="重复登记"
    )
    services.need_merge(actor=world.dispatcher, need=merged, version=merged.version, into=kept)

    assert _numbers(similar_needs(user=world.dispatcher, text=ASK)) == [kept.number]
    # and a fresh index does not hold them at all
    similar_index_reset()
    assert not {withdrawn.pk, merged.pk} & set(similar_index().ids)
    assert kept.pk in similar_index().ids


def _closed(world: World, **overrides: Any) -> Need:
    need = world.replied(title=LAMP, description=LAMP_TEXT, **overrides)
    return services.need_callback(
        actor=world.officer,
        need=need,
        version=need.version,
        channel="phone",
        resolved="yes",
        satisfaction="satisfied",
    )


def test_needs_closed_long_ago_are_not_suggested_recently_closed_ones_are(
    world: World, settings: Any
) -> None:
    settings.WENXU_SIMILAR_RECENT_DAYS = 180
    recent = _closed(world)
    old = _closed(world)
    assert recent.status == old.status == "closed"
    Need.objects.filter(pk=old.pk).update(closed_at=clock.now() - timedelta(days=181))

    assert _numbers(similar_needs(user=world.dispatcher, text=ASK)) == [recent.number]


def test_the_index_picks_up_needs_registered_after_it_was_built(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _lamp(world)
    assert _numbers(similar_needs(user=world.dispatcher, text=ASK)) == [first.number]
    built = similar_index()

    later = _lamp(world, description=LAMP_AGAIN)
    monkeypatch.setattr(similar, "REFRESH_SECONDS", 0.0)

    assert set(_numbers(similar_needs(user=world.dispatcher, text=ASK))) == {
        first.number,
        later.number,
    }
    # appended, not rebuilt: the build's IDF is kept
    assert similar_index().featuriser is built.featuriser


def test_the_index_asks_the_database_at_most_every_few_seconds(
    world: World, django_assert_num_queries: Any
) -> None:
    _lamp(world)
    similar_index()
    _lamp(world, description=LAMP_AGAIN)

    with django_assert_num_queries(0):
        index = similar_index()

    assert index.size == len(BACKGROUND) + 1


def test_the_index_is_rebuilt_when_it_has_grown_by_a_fifth(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(similar, "REFRESH_SECONDS", 0.0)
    for _ in range(26):
        _lamp(world)
    built = similar_index()
    assert built.size == 50
    for _ in range(11):
        _lamp(world, description=LAMP_AGAIN)

    grown = similar_index()

    assert grown.size == 61
    assert grown.base_size == 61  # rebuilt: every row in the base, IDF fitted again
    assert grown.featuriser is not built.featuriser


class _LaterThread:
    """Stands in for `threading.Thread`: runs its target when the test says so."""

    started: list["_LaterThread"] = []

    def __init__(self, target: Any, args: tuple[Any, ...], **_kwargs: Any) -> None:
        self.target, self.args = target, args

    def start(self) -> None:
        self.started.append(self)

    def run_now(self) -> None:
        self.target(*self.args)


class _NoConnections:
    def close_all(self) -> None:  # the test's own connection must stay open
        pass


def test_a_large_index_is_rebuilt_in_the_background_while_the_old_one_serves(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(similar, "REFRESH_SECONDS", 0.0)
    monkeypatch.setattr(similar, "BACKGROUND_REBUILD_ROWS", 10)
    monkeypatch.setattr(similar, "Thread", _LaterThread)
    monkeypatch.setattr(similar, "connections", _NoConnections())
    _LaterThread.started = []
    for _ in range(26):
        _lamp(world)
    built = similar_index()
    for _ in range(11):
        _lamp(world, description=LAMP_AGAIN)

    # when the grown index is asked for, the old one, with the new needs appended, serves
    serving = similar_index()
    assert (serving.size, serving.base_size) == (61, 50)
    assert serving.featuriser is built.featuriser
    [rebuild] = _LaterThread.started

    # and once the rebuild is done, the next lookup gets the new index
    rebuild.run_now()
    assert (similar_index().size, similar_index().base_size) == (61, 61)
    assert not similar._rebuilding


def test_a_rebuild_started_before_a_reset_does_not_install_its_index(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(similar, "connections", _NoConnections())
    _lamp(world)
    similar_index()
    generation = similar._generation

    similar_index_reset()
    similar._rebuild(generation)

    assert similar._index is None


# --------------------------------------------------------------------------- topics


def test_the_topics_a_similar_need_is_in_are_listed_if_the_viewer_may_see_them(
    world: World,
) -> None:
    need = _lamp(world, actor=world.officer_b, area=world.grid_b)
    topic = Topic.objects.create(title="幸福里小区照明整治", area=world.town_a)
    TopicNeed.objects.create(topic=topic, need=need)

    for_dispatcher = similar_needs(user=world.dispatcher, text=ASK)
    for_officer_b = similar_needs(user=world.officer_b, text=ASK)

    assert [t.title for t in for_dispatcher[0].topics] == ["幸福里小区照明整治"]
    # officer_b sees the need, but not the topic of another township
    assert _numbers(for_officer_b) == [need.number]
    assert for_officer_b[0].topics == ()


# --------------------------------------------------------------------------- the partials


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_capture_partial_shows_similar_needs_in_chinese(
    world: World, django_assert_max_num_queries: Any
) -> None:
    need = _lamp(world)
    similar_index()  # built outside the counted request
    client = _client(world.officer)
    url = reverse("insight:similar_capture")

    with django_assert_max_num_queries(8):
        response = client.post(
            url,
            {
                "title": "3号楼路灯坏了",
                "description": LAMP_AGAIN,
                "area": str(world.grid_a.pk),
                "category": "",
            },
            headers={"HX-Request": "true"},
        )

    body = response.content.decode()
    assert response.status_code == 200
    assert "可能相同或相似的诉求" in body
    assert need.number in body
    assert f'href="{reverse("needs:detail", args=[need.number])}"' in body
    assert 'target="_blank"' in body
    assert "相似" in body
    assert "%" in body
    assert "王网格" not in body  # no names: not even the recorder's


def test_the_capture_partial_is_empty_when_nothing_is_similar(world: World) -> None:
    world.register(title=OTHER, description=OTHER_TEXT)

    response = _client(world.officer).post(
        reverse("insight:similar_capture"), {"title": LAMP, "description": LAMP_AGAIN}
    )

    assert response.status_code == 200
    assert response.content.decode().strip() == ""


def test_the_capture_partial_never_shows_the_requesters_details(world: World) -> None:
    _lamp(world, requester=RequesterInput(name="张三丰", phone="13812345678"))

    body = (
        _client(world.officer)
        .post(reverse("insight:similar_capture"), {"title": LAMP, "description": LAMP_AGAIN})
        .content.decode()
    )

    assert LAMP in body
    assert "张三丰" not in body
    assert "张*" not in body
    assert "1381" not in body


def test_only_staff_may_ask_for_similar_needs(world: World) -> None:
    _lamp(world)
    url = reverse("insight:similar_capture")

    assert _client(world.outsider).post(url, {"title": LAMP}).status_code == 403
    assert Client().post(url, {"title": LAMP}).status_code == 302  # to the login page


def test_the_need_partial_offers_merge_and_topics_to_a_dispatcher(
    world: World, django_assert_max_num_queries: Any
) -> None:
    need = _lamp(world)
    twin = _lamp(world, description=LAMP_AGAIN)
    topic = Topic.objects.create(title="幸福里小区照明整治", area=world.town_a)
    TopicNeed.objects.create(topic=topic, need=twin)
    similar_index()
    client = _client(world.dispatcher)

    with django_assert_max_num_queries(14):
        response = client.get(reverse("insight:similar_need", args=[need.number]))

    body = response.content.decode()
    assert response.status_code == 200
    assert "相似诉求" in body
    assert twin.number in body
    assert f">{need.number}<" not in body
    merge = reverse("needs:detail", args=[need.number]) + f"?open=merge&amp;into={twin.number}"
    assert f'href="{merge}#act-merge"' in body
    assert f'data-wx-similar-merge="{twin.number}"' in body
    assert f"{reverse('topics:attach')}?need={twin.number}" in body
    assert "已在专题：" in body
    assert reverse("topics:detail", args=[topic.pk]) in body


def test_the_need_partial_offers_no_merge_to_an_officer(world: World) -> None:
    need = _lamp(world)
    twin = _lamp(world, description=LAMP_AGAIN)

    body = _client(world.officer).get(reverse("insight:similar_need", args=[need.number]))

    text = body.content.decode()
    assert twin.number in text
    assert "data-wx-similar-merge" not in text
    assert "topics/attach" not in text


def test_the_need_partial_offers_no_merge_into_a_closed_need(world: World) -> None:
    need = _lamp(world)
    closed = _closed(world)

    body = _client(world.dispatcher).get(reverse("insight:similar_need", args=[need.number]))

    text = body.content.decode()
    assert closed.number in text
    assert "data-wx-similar-merge" not in text


def test_the_need_partial_of_a_need_out_of_scope_is_404(world: World) -> None:
    theirs = _lamp(world, actor=world.officer_b, area=world.grid_b)

    response = _client(world.officer).get(reverse("insight:similar_need", args=[theirs.number]))

    assert response.status_code == 404


def test_the_need_page_loads_the_partial_and_the_capture_form_asks_while_typing(
    world: World,
) -> None:
    need = _lamp(world)

    page = _client(world.dispatcher).get(reverse("needs:detail", args=[need.number]))
    capture = _client(world.officer).get(reverse("needs:capture"))

    assert reverse("insight:similar_need", args=[need.number]) in page.content.decode()
    form = capture.content.decode()
    assert reverse("insight:similar_capture") in form
    assert "keyup changed delay:600ms from:#id_title" in form
    assert "change from:#id_area" in form


# --------------------------------------------------------------------------- review fixes


def test_nothing_eligible_gives_an_empty_answer_not_an_error(world: World) -> None:
    need = _lamp(world)
    Need.objects.update(
        status="closed",
        outcome="resolved",
        replied_at=clock.now() - timedelta(days=401),
        closed_at=clock.now() - timedelta(days=400),
    )
    need.refresh_from_db()

    assert similar_needs(user=world.dispatcher, text=ASK) == []
    assert similar_to_need(user=world.dispatcher, need=need) == []
    assert similar_index().size == 0


# A weaker match of ASK (cosine about 0.37): one character less in the title, and the pieces
# across title and description that this gives are found nowhere else, so they weigh a lot.
WEAK = "幸福里小区3号楼路灯坏"
WEAK_TEXT = LAMP_AGAIN
STRONG_OUT_OF_SCOPE = index_module.CANDIDATES + 5


def _strong(world: World, **overrides: Any) -> Need:
    return _lamp(world, title="幸福里小区3号楼路灯坏了", description=LAMP_AGAIN, **overrides)


def _crowded(world: World) -> tuple[Need, Need]:
    """More than CANDIDATES strong matches that the officer (东河镇) and the housing handler may
    not see, and for each of them one weaker match they may see."""
    for _ in range(STRONG_OUT_OF_SCOPE):
        _strong(world, actor=world.officer_b, area=world.grid_b)
    by_area = _lamp(world, actor=world.dispatcher, title=WEAK, description=WEAK_TEXT)
    by_unit = world.assigned(
        actor=world.officer_b, area=world.grid_b, title=WEAK, description=WEAK_TEXT
    )
    index = similar_index()
    query = index.query_vector(ASK)
    # the premise: the weak ones are similar enough to be shown, but city-wide the strong ones
    # fill every candidate place
    assert min(index.cosines(query, [by_area.pk, by_unit.pk]).values()) > 0.3
    assert not {by_area.pk, by_unit.pk} & set(index.candidates(query))
    return by_area, by_unit


def test_an_area_scoped_viewer_finds_a_weaker_match_behind_many_out_of_scope_ones(
    world: World,
) -> None:
    by_area, _by_unit = _crowded(world)

    assert _numbers(similar_needs(user=world.officer, text=ASK)) == [by_area.number]


def test_a_unit_scoped_handler_finds_a_weaker_match_behind_many_out_of_scope_ones(
    world: World,
) -> None:
    _by_area, by_unit = _crowded(world)

    assert _numbers(similar_needs(user=world.handler, text=ASK)) == [by_unit.number]


def test_a_viewer_finds_what_they_recorded_outside_their_areas(world: World) -> None:
    for _ in range(STRONG_OUT_OF_SCOPE):
        _strong(world, actor=world.dispatcher, area=world.grid_b)
    mine = _lamp(world, actor=world.officer, title=WEAK, description=WEAK_TEXT)
    # moved by a dispatcher to an area the officer does not cover: they still see it
    Need.objects.filter(pk=mine.pk).update(area=world.grid_b)

    assert _numbers(similar_needs(user=world.officer, text=ASK)) == [mine.number]


def test_a_need_committed_after_a_higher_id_was_indexed_is_taken_in(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(similar, "REFRESH_SECONDS", 0.0)
    similar_index()
    # given a registration whose transaction commits after a later one's: it is not there yet
    late = _lamp(world)
    status = late.status
    Need.objects.filter(pk=late.pk).update(status="withdrawn")
    early = _lamp(world, description=LAMP_AGAIN)
    assert _numbers(similar_needs(user=world.dispatcher, text=ASK)) == [early.number]
    assert similar_index().scanned_max_id >= early.pk > late.pk

    # when it commits
    Need.objects.filter(pk=late.pk).update(status=status)

    # then the next refresh takes it in, once, and finds it by id although it is out of order
    assert set(_numbers(similar_needs(user=world.dispatcher, text=ASK))) == {
        early.number,
        late.number,
    }
    index = similar_index()
    assert list(index.ids).count(late.pk) == 1
    assert index.size == len(BACKGROUND) + 2
    late.refresh_from_db()
    assert _numbers(similar_to_need(user=world.dispatcher, need=late)) == [early.number]
    assert index.cosines(index.query_vector(ASK), [late.pk])


def test_a_large_first_build_runs_in_the_background_and_lookups_wait_for_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch, django_assert_num_queries: Any
) -> None:
    monkeypatch.setattr(similar, "BACKGROUND_FIRST_BUILD_ROWS", 10)
    monkeypatch.setattr(similar, "Thread", _LaterThread)
    monkeypatch.setattr(similar, "connections", _NoConnections())
    _LaterThread.started = []
    need = _lamp(world)

    # while it is being built, lookups answer at once with nothing
    assert similar_needs(user=world.dispatcher, text=ASK) == []
    [build] = _LaterThread.started
    with django_assert_num_queries(0):
        assert similar_index().size == 0
    assert len(_LaterThread.started) == 1

    # and once it is built, they find
    build.run_now()
    assert _numbers(similar_needs(user=world.dispatcher, text=ASK)) == [need.number]
    assert similar_index().size == len(BACKGROUND) + 1


def test_a_small_first_build_is_done_at_once(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(similar, "Thread", _LaterThread)
    _LaterThread.started = []
    need = _lamp(world)

    assert _numbers(similar_needs(user=world.dispatcher, text=ASK)) == [need.number]
    assert _LaterThread.started == []


def test_the_capture_partial_takes_no_get_so_typed_text_stays_out_of_access_logs(
    world: World,
) -> None:
    _lamp(world)

    response = _client(world.officer).get(
        reverse("insight:similar_capture"), {"title": LAMP, "description": LAMP_AGAIN}
    )

    assert response.status_code == 405


def test_the_capture_form_posts_only_the_text_area_and_category_with_the_csrf_header(
    world: World,
) -> None:
    need = _lamp(world)
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.officer)
    form = client.get(reverse("needs:capture")).content.decode()
    url = reverse("insight:similar_capture")
    assert f'hx-post="{url}"' in form
    assert 'hx-params="title,description,area,category"' in form
    assert "X-CSRFToken" in form
    data = {"title": LAMP, "description": LAMP_AGAIN}

    assert client.post(url, data).status_code == 403  # without the token
    token = client.cookies["csrftoken"].value
    response = client.post(url, data, headers={"X-CSRFToken": token})
    assert response.status_code == 200
    assert need.number in response.content.decode()
