"""The paths that keep 举一反三 fast at city scale (bench B6–B8) give what the plain ones give:
one text featurised without scikit-learn's overhead, the similar-needs index read from its rows,
routing from counts shared by both models, the hot-topic neighbour search restricted by places
and pruned for texts naming none, and the city generator the benches read. No database."""

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from wenxu.insight import hot
from wenxu.insight import similar_index as similar
from wenxu.insight.models import RoutingRule, RoutingTarget
from wenxu.insight.routing import features
from wenxu.insight.routing import rules as rules_mod
from wenxu.insight.routing.suggest import suggest_many
from wenxu.insight.tests.synth_city import city_needs
from wenxu.insight.tests.test_similar_synth import index_of, planted_needs
from wenxu.insight.text import Featuriser, normalize
from wenxu.needs.models import Need
from wenxu.organisations.models import Area


def test_one_text_featurised_alone_is_the_row_of_the_batch_featuriser() -> None:
    needs = planted_needs(groups=20, noise=100, seed=4)
    texts = [n.text for n in needs] + ["", "😀！！", "Ｗｉｆｉ 信号差 3号楼", "a b"]
    featuriser = Featuriser().fit(texts)

    for text in texts:
        batch = featuriser.transform([text])
        alone = featuriser.transform_one(text)
        assert alone.shape == batch.shape
        assert alone.indices.tolist() == batch.indices.tolist()
        np.testing.assert_allclose(alone.data, batch.data, rtol=1e-6)


def test_index_cosines_read_from_rows_are_the_brute_force_cosines() -> None:
    needs = planted_needs(groups=40, noise=200, seed=9)
    index = index_of(needs[:200]).appended(
        ids=np.array([n.id for n in needs[200:]], dtype=np.int64),
        texts=[n.text for n in needs[200:]],
        area_ids=np.array([n.area for n in needs[200:]], dtype=np.int64),
        category_ids=np.array([n.category for n in needs[200:]], dtype=np.int64),
        scanned_max_id=max(n.id for n in needs),
    )
    query = index.query_vector(needs[3].text)

    exact = dict(index.exact_top(query, limit=len(needs)))
    found = index.cosines(query, [n.id for n in needs])

    assert set(found) == {n.id for n in needs}
    for need_id, cosine in found.items():
        assert cosine == pytest.approx(max(exact[need_id], 0.0), abs=1e-5)


def test_the_column_index_holds_each_need_under_its_heaviest_ngrams_only() -> None:
    needs = planted_needs(groups=30, noise=100, seed=2)
    index = index_of(needs)

    per_row = np.bincount(index.base.indices, minlength=index.size)
    assert per_row.max() <= similar.INDEX_TERMS
    assert index.nnz > index.base.nnz  # the rows themselves keep every n-gram


def _router_inputs() -> tuple[list[str], list[int], list[list[int]]]:
    texts = ["自来水停水", "水压低没水", "路灯不亮", "道路坑洼", "学校学位", "幼儿园太远"] * 3
    labels = [1, 1, 2, 2, 3, 3] * 3
    extras = [[features.area_key(5 + k % 2), features.category_key(1)] for k in range(18)]
    return texts, labels, extras


def test_predicting_from_shared_counts_is_predicting_from_texts() -> None:
    texts, labels, extras = _router_inputs()
    router = features.fit(texts, labels, extras=extras)
    asked = ["楼上停水三天", "村口路灯坏了", "孩子上学路远", "无关的话"]
    asked_extras = [[features.area_key(5)], [features.area_key(99)], [], [features.area_key(6)]]

    assert router.predict_counts(features.text_counts(asked), asked_extras) == router.predict(
        asked, asked_extras
    )
    # texts normalised once (for the rules too) give the same counts
    raw = ["Ｗｉｆｉ 信号差！", "路 灯  不亮", "楼上停水三天"]
    once = features.text_counts([normalize(t) for t in raw], normalized=True)
    assert (once != features.text_counts(raw)).nnz == 0
    # an area the model never saw adds nothing; a known one adds its weight
    known = router._compact(features.text_counts(["停水"]), [[features.area_key(5)]])
    unknown = router._compact(features.text_counts(["停水"]), [[features.area_key(99)]])
    assert known.sum() == pytest.approx(unknown.sum() + features.EXTRA_WEIGHT)


@pytest.mark.django_db
def test_suggestions_with_rules_and_models_handed_in_read_no_database() -> None:
    texts, labels, extras = _router_inputs()
    routers = {
        RoutingTarget.CATEGORY.value: (1, features.fit(texts, labels)),
        RoutingTarget.UNIT.value: (2, features.fit(texts, [10 + x for x in labels], extras=extras)),
    }
    rule = RoutingRule(pk=7, name="路灯", keywords="路灯", category_id=2, unit_id=12)
    rules = [rules_mod.CompiledRule(rule, ("路灯",), "")]
    area = Area(pk=5, name="东河村", path="/1/5/")
    needs = [
        Need(title="楼上停水", description="三天没水了", area=area),
        Need(title="村口路灯", description="路灯不亮", area=area),
    ]

    with CaptureQueriesContext(connection) as queries:
        water, light = suggest_many(needs, rules=rules, routers=routers)

    assert len(queries) == 0
    assert (water.category_id, water.source) == (1, "model")
    assert water.unit_id == 11
    assert (light.category_id, light.unit_id, light.rule_id, light.source) == (2, 12, 7, "rule")


def test_a_texts_neighbours_at_its_own_place_are_found_among_many_elsewhere_worded_alike() -> None:
    # three residents of 幸福小区 in their own words, fifty of 阳光花园 all in the first one's
    here = [
        "幸福小区3号楼水压太低，早上洗澡都没水",
        "幸福小区7号楼水压太低，早上洗澡没水",
        "幸福小区水压太低，早上都没水",
    ]
    elsewhere = ["阳光花园3号楼水压太低，早上洗澡都没水"] * 50
    analysed = [hot.analyse(t) for t in here + elsewhere]
    matrix = hot.TermFeaturiser().fit_terms([a.terms for a in analysed])
    places, _names = hot._place_matrix([a.places for a in analysed])

    graph = hot.neighbour_graph(matrix, places=places, neighbours=5)

    assert graph[0, 1] > 0
    assert graph[0, 2] > 0
    assert graph[0, 3:].nnz == 0  # the other estate is never a neighbour


def test_texts_naming_no_place_find_the_same_neighbours_through_their_heaviest_terms(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    texts = [n.text for n in city_needs(600, seed=3)]
    texts += [
        "养老金这个月还没到账，老人很着急",
        "这个月养老金迟迟没有到账，生活有困难",
        "养老金发放推迟了，还没到账",
    ]
    analysed = [hot.analyse(t) for t in texts]
    matrix = hot.TermFeaturiser().fit_terms([a.terms for a in analysed])
    places, _names = hot._place_matrix([a.places for a in analysed])
    exact = hot.neighbour_graph(matrix, places=places)

    monkeypatch.setattr(hot, "EXACT_PAIRS", 0)
    pruned = hot.neighbour_graph(matrix, places=places)

    last = len(texts) - 1
    assert exact[last, last - 2] > 0  # 还没到账: the first of the three
    assert pruned[last, last - 2] == pytest.approx(exact[last, last - 2])
    differing = (abs(exact - pruned) > 1e-6).nnz
    assert differing <= 0.05 * exact.nnz  # nearly every edge is the exact search's


def test_city_needs_are_the_same_for_a_seed_and_carry_routing_labels() -> None:
    first = city_needs(2000, seed=5)
    again = city_needs(2000, seed=5)

    assert first == again
    assert [n.id for n in first] == list(range(1, 2001))
    assert len({n.category for n in first}) > 30
    assert len({n.unit for n in first}) > 10
    told = [n for n in first if n.group is not None]
    assert 0.1 < len(told) / len(first) < 0.4
    assert all(n.area_path == f"/{n.township}/{n.area}/" for n in first)
