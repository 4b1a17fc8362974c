"""The hot-topic engine on planted data (issue #7 acceptance): no database."""

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from wenxu.insight import hot
from wenxu.insight import text as tx

WATER = [
    "{p}{b}号楼高层水压太低，早上洗澡都没水",
    "{p}自来水水压不足，楼上住户用水困难",
    "反映{p}供水水压低，{b}楼以上经常停水",
    "{p}水压一直很小，高层家里水龙头出水很细",
    "{p}高层住户反映水压不够，热水器都打不着火",
    "我住在{p}{b}栋，自来水水压低，晚上用水高峰基本没水",
    "{p}二次供水设备老化，高层水压低，请尽快维修",
    "{p}楼上水压低的问题持续半年了，希望加装增压泵",
]
PARKING = [
    "{p}停车位太少，晚上车都停到消防通道上",
    "{p}停车位紧张，乱停车堵塞道路",
    "{p}{b}号楼门口乱停车，停车位不够",
    "{p}停车位不够，业主只能路边停车",
    "希望{p}增加停车位，解决停车难",
    "{p}停车难，外来车辆占用业主车位",
]
NOISE = [
    "东河村村口路灯坏了一个多月",
    "西岭乡卫生院看病排队太长",
    "学校门口早晚高峰交通拥堵",
    "菜市场垃圾清运不及时气味很大",
    "公交车班次太少，等车要一个小时",
    "社保卡补办手续太复杂",
    "河道里有人倾倒建筑垃圾",
    "广场舞噪音扰民到晚上十点",
    "农村危房改造补贴什么时候发放",
    "小学放学后没有托管服务",
    "电动车充电桩不够用",
    "养老金发放时间推迟",
]
ESTATES = ["金桂苑", "翠湖小区", "东风新村", "和平里", "滨江花园", "桃源村", "建设路", "红星社区"]
OTHER = [
    "{p}路灯坏了好几盏，晚上出行不安全",
    "{p}垃圾桶满了没人清运，夏天很臭",
    "{p}电梯经常故障，老人上下楼困难",
    "{p}门口道路破损坑洼，雨天积水",
    "{p}附近工地夜间施工噪音扰民",
    "{p}物业服务差，收费不透明",
    "{p}楼道堆放杂物存在消防隐患",
    "{p}燃气管道老化有异味",
]


def planted(seed: int = 1) -> list[tuple[str, str, str]]:
    """(kind, text, author): 40 about 幸福小区's water pressure, 40 about 阳光花园's, 30 about
    parking in 幸福小区, each by a different resident in varied words; 12 unrelated messages
    and 200 about other estates' other problems (a ledger is mostly such)."""
    rnd = random.Random(seed)
    rows: list[tuple[str, str, str]] = []

    def add(kind: str, templates: list[str], place: str, count: int) -> None:
        for k in range(count):
            text = rnd.choice(templates).format(p=place, b=rnd.randint(1, 20))
            rows.append((kind, text, f"{kind}-{k}"))

    add("xw", WATER, "幸福小区", 40)
    add("yw", WATER, "阳光花园", 40)
    add("xp", PARKING, "幸福小区", 30)
    rows += [("noise", text, f"noise-{k}") for k, text in enumerate(NOISE)]
    for k in range(200):
        text = rnd.choice(OTHER).format(p=rnd.choice(ESTATES))
        rows.append(("bg", text, f"bg-{k}"))
    rnd.shuffle(rows)
    return rows


def _run(rows: list[tuple[str, str, str]], **kwargs: object) -> list[hot.HotGroup]:
    corpus = hot.Corpus(texts=[r[1] for r in rows], authors=[r[2] for r in rows])
    return hot.hot_topics(corpus, **kwargs)  # type: ignore[arg-type]


def _kinds(rows: list[tuple[str, str, str]], group: hot.HotGroup) -> Counter[str]:
    return Counter(rows[i][0] for i in group.members)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_planted_topics_form_their_own_groups(seed: int) -> None:
    rows = planted(seed)
    groups = _run(rows)

    def home(kind: str) -> hot.HotGroup:
        return max(groups, key=lambda g: _kinds(rows, g)[kind])

    water, sunny, parking = home("xw"), home("yw"), home("xp")
    assert len({id(water), id(sunny), id(parking)}) == 3
    # most of each planted topic lands in one group ...
    assert _kinds(rows, water)["xw"] >= 30
    assert _kinds(rows, sunny)["yw"] >= 30
    assert _kinds(rows, parking)["xp"] >= 25
    # ... and nothing else: place names and the problem both matter
    for group, kind in ((water, "xw"), (sunny, "yw"), (parking, "xp")):
        assert set(_kinds(rows, group)) == {kind}
    # no group mixes the two estates' water complaints
    for group in groups:
        kinds = _kinds(rows, group)
        assert not (kinds["xw"] and kinds["yw"])
        assert not (kinds["xw"] and kinds["xp"])
    # the planted topics are the hottest
    assert {id(g) for g in groups[:3]} == {id(water), id(sunny), id(parking)}


def test_labels_name_the_estate_and_the_problem() -> None:
    rows = planted(1)
    groups = _run(rows)
    water = max(groups, key=lambda g: _kinds(rows, g)["xw"])
    parking = max(groups, key=lambda g: _kinds(rows, g)["xp"])
    assert water.terms[0] == "幸福小区"
    assert {"水压", "压低", "没水", "供水", "用水"} & set(water.terms[1:])
    assert 2 <= len(water.terms) <= 4
    assert water.label == " · ".join(water.terms)
    assert parking.terms[0] == "幸福小区"
    assert any("停车" in term or "车位" in term for term in parking.terms[1:])


def test_noise_stays_out_of_hot_topics() -> None:
    rows = [("noise", text, f"n{k}") for k, text in enumerate(NOISE)]
    assert _run(rows) == []


def test_one_prolific_writer_does_not_beat_ten_residents() -> None:
    rows = [("copy", "幸福小区门口的垃圾站太臭了，天天闻臭味", "same-person")] * 30
    rows += [
        ("many", f"阳光花园{k + 1}号楼电梯又坏了，{k + 2}楼老人下不了楼", f"resident-{k}")
        for k in range(10)
    ]
    groups = _run(rows)
    assert groups, "the ten residents' lift is a hot topic"
    top = groups[0]
    assert _kinds(rows, top) == Counter({"many": 10})
    assert top.authors == 10
    # thirty copies from one person are one voice: below the minimum, not a topic at all
    assert all(_kinds(rows, g)["copy"] == 0 for g in groups)


def test_one_writer_telling_it_in_thirty_ways_is_one_author() -> None:
    rows = [
        ("one", f"幸福小区{k + 1}号楼水压太低，高层没水，第{k + 1}次反映", "same-person")
        for k in range(30)
    ]
    rows.append(("other", "幸福小区水压太低，高层没水", "r1"))
    assert _run(rows) == []  # 31 needs, but only two people: not a hot topic
    rows.append(("other", "幸福小区高层水压低，经常没水", "r2"))
    groups = _run(rows)
    assert len(groups) == 1
    assert groups[0].authors == 3
    assert groups[0].size == 32


def test_copies_join_the_group_but_count_once() -> None:
    texts = [f"翠湖小区{k}号楼下水道堵塞，污水漫到路面" for k in range(1, 6)]
    rows = [("t", text, f"r{k}") for k, text in enumerate(texts)]
    # resident r0 sends the same message four more times (spacing and punctuation differ)
    rows += [("t", texts[0].replace("，", " , "), "r0")] * 4
    groups = _run(rows)
    assert len(groups) == 1
    assert groups[0].size == 9
    assert groups[0].authors == 5
    assert groups[0].copies == 4
    # without authors, the same words are one voice
    corpus = hot.Corpus(texts=[r[1] for r in rows])
    (group,) = hot.hot_topics(corpus)
    assert (group.size, group.authors, group.copies) == (9, 5, 4)


def test_heat_counts_authors_weighs_recency_and_growth() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    end = start + timedelta(days=30)
    assert hot.recency_weight(start, start, end) == pytest.approx(0.5)
    assert hot.recency_weight(end, start, end) == pytest.approx(1.0)
    assert hot.recency_weight(start + timedelta(days=15), start, end) == pytest.approx(0.75)
    assert hot.growth_of(6, 2) == pytest.approx(2.0)
    assert hot.growth_of(6, 0) is None
    assert hot.heat_of(10.0, None, compared=False) == 10.0
    assert hot.heat_of(10.0, None, compared=True) == 15.0  # new: +100 %
    assert hot.heat_of(10.0, 0.4, compared=True) == 12.0
    assert hot.heat_of(10.0, 5.0, compared=True) == 20.0  # growth capped at 200 %
    assert hot.heat_of(10.0, -0.5, compared=True) == 10.0  # falling: no bonus, no penalty


def test_growth_against_the_previous_window() -> None:
    now = [f"滨江花园{k}号楼电梯经常故障，老人上下楼困难" for k in range(1, 7)]
    before = [f"滨江花园{k}号楼电梯故障，老人上下楼困难" for k in range(1, 3)]
    before.append("西岭乡卫生院看病排队太长")
    groups = hot.hot_topics(
        hot.Corpus(texts=now, authors=[f"r{k}" for k in range(6)]),
        previous=hot.Corpus(texts=before, authors=["p1", "p2", "p3"]),
    )
    (group,) = groups
    assert group.previous == 2
    assert group.growth == pytest.approx(2.0)
    assert group.heat == pytest.approx(6 * 2.0)


def test_places_are_names_before_a_place_word() -> None:
    assert hot.places_in("幸福小区3号楼高层水压太低") == {"幸福小区"}
    assert hot.places_in("阳光花园自来水压力不足") == {"阳光花园"}
    assert hot.places_in("我们小区停车难") == set()
    tx.add_words(["东河村"])  # hot_topics teaches the names it is given
    assert "东河村" in hot.places_in("东河村村口路灯不亮", frozenset({"东河村"}))


def test_neighbour_graph_is_sparse_and_bounded() -> None:
    texts = [f"第{k}件：{random.Random(k).choice(OTHER).format(p='金桂苑')}" for k in range(300)]
    matrix = tx.Featuriser().fit_transform(texts)
    graph = hot.neighbour_graph(matrix, threshold=0.2, neighbours=5, chunk=64)
    assert graph.shape == (300, 300)
    assert graph.diagonal().sum() == 0
    assert (abs(graph - graph.T) > 1e-6).nnz == 0  # symmetric
    # each row keeps at most 5 of its own, plus rows that chose it
    assert graph.nnz <= 2 * 5 * 300
    assert np.all(graph.data >= 0.2)


def test_top_limits_and_orders_by_heat() -> None:
    rows = planted(2)
    groups = _run(rows, top=2)
    assert len(groups) == 2
    assert groups[0].heat >= groups[1].heat


def test_texts_without_terms_never_form_a_topic() -> None:
    texts = ["", "   ", "😀😀", "！！！", "?!", "👍", "……", "。。", "😡"]
    texts += [f"幸福小区{k}号楼水压太低，早上洗澡都没水" for k in range(3)]
    groups = hot.hot_topics(hot.Corpus(texts=texts))
    assert len(groups) == 1
    assert sorted(groups[0].members) == [9, 10, 11]
    assert groups[0].label
    assert hot.hot_topics(hot.Corpus(texts=["", "😀", "!!!", "👍👍"])) == []


def test_generic_place_words_stay_out_of_labels() -> None:
    texts = [f"阳光里小区{k}号楼门前路灯坏了，小区里晚上很黑" for k in range(3)]
    (group,) = hot.hot_topics(hot.Corpus(texts=texts), known_places=["阳光里"])
    assert "小区" not in group.terms
    assert "路灯" in group.terms


def test_label_of_reads_only_the_texts_given() -> None:
    texts = [f"{k}号楼水压太低，早上洗澡都没水" for k in range(3)]
    label = hot.label_of(texts)
    assert "水压" in label
    assert "西岭花园" not in label
    assert hot.label_of([]) == ""
