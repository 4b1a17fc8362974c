"""Routing suggestions (issue #7 §4): training, keyword rules, the feedback loop, storage."""

import io
from typing import Any

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from conftest import World
from wenxu.insight.models import RouterModel, RoutingRule, RoutingSuggestion
from wenxu.insight.routing import features
from wenxu.insight.routing.store import clear_cache
from wenxu.insight.routing.suggest import routing_suggest
from wenxu.insight.routing.training import (
    CORRECTION_WEIGHT,
    NotEnoughData,
    decided_samples,
    router_train,
)
from wenxu.needs import services
from wenxu.needs.models import Category, Need
from wenxu.organisations.models import Unit

PLACES = ["东河村", "西岭村", "幸福里小区", "光明街", "南山组", "北坡组", "新华路", "桥头村"]

WATER = [
    "{p}自来水停水三天了，做饭洗衣都没水",
    "{p}水压太低，楼上接不到自来水",
    "{p}自来水管爆裂，水流了一地",
    "{p}自来水浑浊发黄，不敢喝",
]
ROADS = [
    "{p}路灯坏了，晚上路上一片漆黑",
    "{p}道路坑洼不平，下雨积水车辆难行",
    "{p}路灯不亮一个多月，夜里出行不便",
    "{p}公路边护栏撞坏了，道路有安全隐患",
]
SCHOOL = [
    "{p}孩子上幼儿园没有学位，学校太远",
    "{p}学校门口上学放学时段太拥挤",
    "{p}小学校车停运，孩子上学没人接送",
    "{p}幼儿园收费太高，学校食堂饭菜差",
]


@pytest.fixture(autouse=True)
def _fresh_model_cache() -> Any:
    clear_cache()
    yield
    clear_cache()


@pytest.fixture
def cat_school(world: World) -> Category:
    return Category.objects.create(name="教育")


def _decided(world: World, template: str, category: Category, unit: Unit, n: int) -> list[Need]:
    needs = []
    for i in range(n):
        text = template.format(p=PLACES[i % len(PLACES)]) if "{p}" in template else template
        need = world.register(title=text[:30], description=text, category=category)
        routing_suggest(need=need)  # shown at triage, as in the assign form
        needs.append(
            services.need_assign(
                actor=world.dispatcher, need=need, version=need.version, lead_unit=unit
            )
        )
    return needs


def _ledger(world: World, cat_school: Category, per_template: int = 3) -> None:
    for templates, category, unit in (
        (WATER, world.cat_water, world.housing),
        (ROADS, world.cat_roads, world.transport),
        (SCHOOL, cat_school, world.town_a_gov),
    ):
        for template in templates:
            _decided(world, template, category, unit, per_template)


def test_router_train_learns_category_and_unit_from_the_ledgers_decisions(
    world: World, cat_school: Category
) -> None:
    _ledger(world, cat_school)

    models = router_train(actor=world.admin)

    assert {m.target for m in models} == {"category", "unit"}
    assert all(m.active and m.samples == 36 and m.classes == 3 for m in models)
    assert all(m.metrics["macro_f1"] > 0.8 for m in models)
    need = world.register(
        title="自来水没水", description="城关镇自来水停水两天，水压也低。", category=None
    )
    suggestion = routing_suggest(need=need)
    assert suggestion.source == "model"
    assert suggestion.category == world.cat_water
    assert suggestion.unit == world.housing
    assert suggestion.category_confidence is not None
    assert suggestion.category_confidence > 0.5
    assert suggestion.unit_confidence is not None
    assert suggestion.unit_confidence > 0.5
    stored = RoutingSuggestion.objects.get(need=need)
    assert (stored.category, stored.unit, stored.source) == (
        world.cat_water,
        world.housing,
        "model",
    )
    assert stored.unit_model_id == next(m.pk for m in models if m.target == "unit")

    school = world.register(
        title="幼儿园学位", description="孩子上幼儿园报不上名，学校没学位。", category=None
    )
    assert routing_suggest(need=school).category == cat_school


def test_withdrawn_and_unassigned_needs_are_not_training_samples(
    world: World, cat_school: Category
) -> None:
    _ledger(world, cat_school, per_template=1)
    withdrawn = _decided(world, WATER[0], world.cat_water, world.housing, 1)[0]
    services.need_withdraw(
        actor=world.dispatcher, need=withdrawn, version=withdrawn.version, reason="重复登记"
    )
    world.register(title="未交办", description="自来水停水")

    models = router_train()

    assert all(m.samples == 12 for m in models)


def test_router_train_refuses_with_too_few_decided_needs_and_changes_nothing(
    world: World,
) -> None:
    _decided(world, WATER[0], world.cat_water, world.housing, 4)

    with pytest.raises(NotEnoughData, match="太少"):
        router_train()
    with pytest.raises(CommandError, match="至少需要"):
        call_command("router_train", stdout=io.StringIO())
    assert not RouterModel.objects.exists()


def test_router_train_command_prints_what_it_learned_and_replaces_the_active_model(
    world: World, cat_school: Category
) -> None:
    _ledger(world, cat_school, per_template=2)
    first = router_train()
    out = io.StringIO()

    call_command("router_train", "--target", "unit", stdout=out)

    assert "主办单位模型" in out.getvalue()
    assert "24 条样本" in out.getvalue()
    assert RouterModel.objects.filter(active=True).count() == 2
    old_unit = next(m for m in first if m.target == "unit")
    old_unit.refresh_from_db()
    assert not old_unit.active
    assert RouterModel.objects.get(target="unit", active=True).pk > old_unit.pk


def test_rare_classes_are_left_out_of_training(world: World, cat_school: Category) -> None:
    _ledger(world, cat_school, per_template=1)
    # Two needs of a fourth unit: too few to learn, and never suggested.
    _decided(world, "{p}住房补贴没发放", world.cat_water, world.transport_roads, 2)

    unit_model = next(m for m in router_train() if m.target == "unit")

    assert unit_model.classes == 3
    assert unit_model.samples == 12


def test_a_keyword_rule_suggests_when_no_model_is_trained(world: World) -> None:
    RoutingRule.objects.create(
        name="供水", keywords="停水\n水压、 自来水", category=world.cat_water, unit=world.housing
    )
    need = world.register(title="小区停水", description="幸福里小区从昨天起停水。")

    suggestion = routing_suggest(need=need)

    assert suggestion.source == "rule"
    assert (suggestion.category, suggestion.unit) == (world.cat_water, world.housing)
    assert suggestion.category_confidence is None
    assert suggestion.unit_percent is None
    assert RoutingSuggestion.objects.get(need=need).rule is not None


def test_rule_keywords_match_whatever_the_width_and_spacing(world: World) -> None:
    RoutingRule.objects.create(name="网络", keywords="WiFi，宽带", unit=world.town_a_gov)
    need = world.register(title="村里没有ＷＩＦＩ", description="村委会的 Ｗｉ Ｆｉ 坏了")

    assert routing_suggest(need=need).unit == world.town_a_gov


def test_without_rule_or_model_there_is_no_suggestion(world: World) -> None:
    RoutingRule.objects.create(name="供水", keywords="停水", category=world.cat_water)
    need = world.register(title="路灯不亮", description="村口路灯坏了")

    suggestion = routing_suggest(need=need)

    assert suggestion.empty
    assert suggestion.source == "none"
    assert RoutingSuggestion.objects.get(need=need).source == "none"


def test_higher_priority_rule_wins_and_area_restricted_rules_apply_only_inside(
    world: World,
) -> None:
    RoutingRule.objects.create(name="路灯-县", keywords="路灯", unit=world.transport, priority=0)
    RoutingRule.objects.create(
        name="路灯-东河镇", keywords="路灯", unit=world.town_a_gov, priority=10, area=world.town_a
    )
    RoutingRule.objects.create(
        name="停用", keywords="路灯", unit=world.housing, priority=99, active=False
    )
    in_town_a = world.register(title="路灯不亮", description="村口路灯坏了", area=world.grid_a)
    in_town_b = world.register(
        actor=world.officer_b, title="路灯不亮", description="村口路灯坏了", area=world.grid_b
    )

    assert routing_suggest(need=in_town_a).unit == world.town_a_gov
    assert routing_suggest(need=in_town_b).unit == world.transport


def test_a_rule_overrides_the_model_for_what_it_names_and_the_model_fills_the_rest(
    world: World, cat_school: Category
) -> None:
    _ledger(world, cat_school)
    router_train()
    RoutingRule.objects.create(name="水-交给镇", keywords="停水", unit=world.town_a_gov)
    need = world.register(title="停水", description="东河村自来水停水三天了", category=None)

    suggestion = routing_suggest(need=need)

    assert suggestion.source == "rule"
    assert suggestion.unit == world.town_a_gov
    assert suggestion.unit_confidence is None
    assert suggestion.category == world.cat_water
    assert suggestion.category_confidence


def test_dispatchers_corrections_teach_the_next_model(world: World, cat_school: Category) -> None:
    # Given a model that routes 路灯 needs to the transport bureau (6 decided so),
    _ledger(world, cat_school)
    router_train()
    probe = world.register(title="路灯坏了", description=ROADS[2].format(p="新村"))
    assert routing_suggest(need=probe).unit == world.transport
    # when dispatchers now give such needs to the township (the suggestion shown each time
    # said 交通局), as often as the old decisions were made,
    corrected = _decided(world, ROADS[0], world.cat_roads, world.town_a_gov, 3)
    corrected += _decided(world, ROADS[2], world.cat_roads, world.town_a_gov, 3)
    assert all(n.routing_suggestion.unit == world.transport for n in corrected)

    unit_model = next(m for m in router_train() if m.target == "unit")

    # then the corrections are counted and weigh more: the next suggestion follows them.
    assert unit_model.corrections == 6
    probe2 = world.register(title="路灯坏了", description=ROADS[2].format(p="新村"))
    assert routing_suggest(need=probe2).unit == world.town_a_gov
    # (the other kinds of need are still routed as before)
    water = world.register(title="停水", description=WATER[0].format(p="新村"), category=None)
    assert routing_suggest(need=water).unit == world.housing


def test_corrected_decisions_weigh_more_in_training(world: World) -> None:
    # The rule suggests 住建局 for 停水; the dispatcher follows it 3 times and corrects it to
    # 交通局 3 times; 3 路灯 needs had no suggestion at all.
    RoutingRule.objects.create(name="供水", keywords="停水", unit=world.housing)
    _decided(world, "{p}停水了", world.cat_water, world.housing, 3)
    _decided(world, "{p}停水了", world.cat_water, world.transport, 3)
    for _i in range(3):
        need = world.register(title="路灯", description="路灯坏了")
        services.need_assign(
            actor=world.dispatcher, need=need, version=need.version, lead_unit=world.town_a_gov
        )

    samples = decided_samples("unit")

    assert samples.corrections == 3
    weights = dict.fromkeys(samples.labels, 0.0)
    for label, weight in zip(samples.labels, samples.weights, strict=True):
        weights[label] += weight
    assert weights == {
        world.housing.pk: 3.0,
        world.transport.pk: 3 * CORRECTION_WEIGHT,
        world.town_a_gov.pk: 3.0,
    }
    assert CORRECTION_WEIGHT > 1


def test_suggestion_is_kept_as_shown_at_triage_not_rewritten_later(
    world: World,
) -> None:
    RoutingRule.objects.create(name="供水", keywords="停水", unit=world.housing)
    need = world.register(title="停水", description="停水了")
    routing_suggest(need=need)
    need = services.need_assign(
        actor=world.dispatcher, need=need, version=need.version, lead_unit=world.transport
    )
    RoutingRule.objects.update(unit=world.transport)

    routing_suggest(need=need)

    assert RoutingSuggestion.objects.get(need=need).unit == world.housing


def test_model_round_trips_through_npz_without_pickle() -> None:
    texts = ["自来水停水", "水压低没水", "路灯不亮", "道路坑洼", "学校学位", "幼儿园太远"] * 2
    labels = [1, 1, 2, 2, 3, 3] * 2
    router = features.fit(texts, labels, extras=[[features.area_key(5)]] * len(texts))

    data = router.to_bytes()
    loaded = features.Router.from_bytes(data)

    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        assert all(archive[name].dtype != object for name in archive.files)
    assert loaded.classes.tolist() == [1, 2, 3]
    probe = ["东河村停水了", "路灯坏了"]
    assert loaded.predict(probe) == router.predict(probe)
    assert [label for label, _p in loaded.predict(probe)] == [1, 2]
    assert len(data) < 20_000


def test_a_stored_archive_that_needs_pickle_is_refused() -> None:
    buffer = io.BytesIO()
    np.savez(buffer, format=np.array([1]), columns=np.array([object()], dtype=object))

    with pytest.raises(features.FormatError):
        features.Router.from_bytes(buffer.getvalue())


def test_two_class_models_give_the_same_probabilities_as_scikit_learn() -> None:
    texts = ["自来水停水", "水压低没水", "水管爆裂", "路灯不亮", "道路坑洼", "路面塌陷"]
    labels = ["水", "水", "水", "路", "路", "路"]
    router = features.fit(texts, labels)

    ((label, p),) = router.predict(["停水三天"])

    assert label == "水"
    assert 0.5 < p < 1
