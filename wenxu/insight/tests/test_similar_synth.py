"""Synthetic needs with planted duplicate groups, for the similar-needs tests and bench B7.

A group is one complaint (a kind of problem at one place, with one detail) told 3–4 times in
different words, as different residents would; the rest is noise: other complaints, some of
them at the same places as a group, some of the same kind elsewhere. Deterministic for a seed.

The tests in this file check the index alone (no database): every planted need finds its
twins in its top 5, and the pruned lookup agrees with the exact cosine.
"""

import random
from dataclasses import dataclass

import numpy as np

from wenxu.insight import similar_index as similar
from wenxu.insight.text import need_text


def _split(words: str) -> list[str]:
    return words.split()


# Place names: 2-character stems + a kind of place, so that most groups have a place of their own.
_STEMS = _split(
    "幸福 和平 光明 向阳 东风 胜利 团结 红星 新华 建设 长青 金桥 银杏 桃园 柳岸 松林 梅岭 竹溪 "
    "兰亭 荷塘 翠湖 碧水 青石 白沙 黄土 清河 南湖 北岭 西山 东岗 石桥 龙泉 凤凰 锦绣 丰收 富民 "
    "安康 永乐 长安 太平 福寿 康宁 吉祥 如意 晨光 朝阳 明珠 滨江 望江 临湖"
)
_PLACES = _split("小区 村 社区 新村 家园 花园 苑 里 路 街")
_DETAILS = _split(
    "3号楼 5号楼 7号楼 东门 西门 南门 北门 菜市场旁 学校门口 幼儿园附近 卫生室旁 村委会前 "
    "公交站 桥头 路口 广场 篮球场 停车场 老年活动中心 文化礼堂"
)

# Each kind of problem: titles, problem sentences and consequences, worded differently.
# {p} place, {d} detail, {n} a number.
_KINDS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "light": (
        ("{p}{d}路灯不亮", "{p}{d}的路灯坏了", "反映{p}路灯损坏", "{p}{d}晚上没有照明"),
        (
            "{p}{d}的路灯坏了{n}个多月",
            "{p}{d}一带路灯一直不亮",
            "{p}{d}附近{n}盏灯都不亮了",
            "晚上经过{p}{d}路灯全灭",
        ),
        ("晚上出门一片漆黑", "天黑以后看不清路", "夜里出行很不安全", "孩子放学回家要摸黑"),
    ),
    "water": (
        ("{p}{d}停水", "{p}{d}自来水水压低", "{p}供水不正常", "{p}{d}经常没水"),
        (
            "{p}{d}这{n}天经常停水",
            "{p}{d}的自来水时有时无",
            "{p}{d}供水不稳定，一周停了{n}次水",
            "{p}{d}的水压太低",
        ),
        ("楼上住户接不到水", "水龙头出水很小", "做饭洗衣都困难", "高层完全没水"),
    ),
    "noise": (
        ("{p}{d}夜间施工噪音扰民", "{p}工地半夜施工", "投诉{p}{d}施工噪声", "{p}{d}晚上太吵"),
        (
            "{p}{d}的工地每天晚上施工到凌晨{n}点",
            "{p}{d}旁边在搞建设，半夜还在打桩",
            "夜里{p}{d}一直有施工噪音",
            "{p}{d}工地夜间作业",
        ),
        ("机器声音很大", "吵得老人孩子睡不着觉", "已经持续{n}周", "噪声扰民严重"),
    ),
    "garbage": (
        ("{p}{d}垃圾没人清运", "{p}{d}垃圾堆积", "{p}垃圾桶满了没人管", "{p}{d}环境卫生差"),
        (
            "{p}{d}的垃圾堆了{n}天没人清运",
            "{p}{d}垃圾桶早就满了",
            "{p}{d}附近垃圾成堆",
            "{p}{d}的生活垃圾长期无人处理",
        ),
        ("天热发臭", "苍蝇蚊子很多", "垃圾散落一地", "气味难闻"),
    ),
    "road": (
        ("{p}{d}路面坑洼", "{p}{d}道路破损", "{p}的路坏了", "{p}{d}路面塌陷"),
        (
            "{p}{d}的路面坑坑洼洼",
            "{p}{d}这段路破损严重",
            "{p}{d}路面出现塌陷",
            "通往{p}{d}的道路年久失修",
        ),
        ("下雨天积水", "电动车经过摔倒了{n}次", "车辆通行颠簸", "晚上看不见很危险"),
    ),
    "parking": (
        ("{p}{d}乱停车", "{p}{d}车辆乱停堵路", "{p}停车难", "{p}{d}消防通道被占"),
        (
            "{p}{d}每天都有车乱停乱放",
            "{p}{d}的消防通道长期被私家车占用",
            "{p}{d}停车位太少",
            "{p}{d}乱停车现象严重",
        ),
        ("救护车都开不进来", "存在很大安全隐患", "早晚高峰堵{n}十分钟", "行人只能走到机动车道上"),
    ),
    "elevator": (
        ("{p}{d}电梯故障", "{p}{d}电梯经常坏", "{p}电梯停运", "{p}{d}电梯困人"),
        (
            "{p}{d}的电梯这个月坏了{n}次",
            "{p}{d}电梯经常停运",
            "{p}{d}电梯运行时异响很大",
            "{p}{d}的电梯停了{n}天",
        ),
        ("老人上下楼只能爬楼梯", "上周还困了人", "居民担心安全", "买菜看病都成问题"),
    ),
    "drain": (
        ("{p}{d}下水道堵塞", "{p}{d}污水外溢", "{p}排水不畅", "{p}{d}化粪池满溢"),
        (
            "{p}{d}的下水道堵了",
            "一下雨{p}{d}就积水",
            "{p}{d}化粪池满了往外冒",
            "{p}{d}下水管道堵塞",
        ),
        ("污水漫到路上", "臭味很大", "居民家里都进了水", "生活污水排不出去"),
    ),
    "pension": (
        ("{p}老人养老金没到账", "{p}{d}养老保险待遇问题", "{p}居民养老金发放延迟", "咨询{p}养老金"),
        (
            "{p}{d}有{n}位老人这个月的养老金还没有到账",
            "{p}{d}的老人咨询城乡居民养老保险待遇",
            "{p}{d}养老金发放推迟了",
            "{p}{d}老年人养老金迟迟未发",
        ),
        ("生活有困难", "去年调整后一直没有补发", "想了解什么时候能领到", "老人很着急"),
    ),
    "school": (
        ("{p}{d}孩子上学路远", "{p}校车停运", "{p}{d}上学交通不便", "{p}学生上学难"),
        (
            "{p}{d}的孩子每天要走{n}公里去上学",
            "{p}{d}原来的校车停了",
            "{p}{d}离学校太远",
            "{p}{d}的学生上学没有车",
        ),
        ("家长很担心安全", "路上很危险", "孩子上学经常迟到", "公交车班次少"),
    ),
}
_OPENERS = ("", "", "居民反映，", "群众来电称，", "走访中村民说，", "有住户反映：")
_ASKS = (
    "希望尽快解决。",
    "请有关部门尽快处理。",
    "多次反映没有结果。",
    "希望派人来看看。",
    "请安排人员核查。",
    "",
)


@dataclass(frozen=True)
class SynthNeed:
    id: int
    title: str
    description: str
    area: int
    category: int
    group: int | None  # planted duplicate group, None for noise

    @property
    def text(self) -> str:
        return need_text(self.title, self.description)


def _fill(template: str, place: str, detail: str, rng: random.Random) -> str:
    return template.format(p=place, d=detail, n=rng.randint(2, 9))


def _complaint(
    kind: str, place: str, detail: str, variant: int, rng: random.Random
) -> tuple[str, str]:
    """One resident's telling: `variant` picks the title and the first consequence, so the
    members of a group differ there; the rest is chosen at random, as people's words overlap."""
    titles, problems, consequences = _KINDS[kind]
    title = _fill(titles[variant % len(titles)], place, detail, rng)
    second = consequences[(variant + rng.randrange(1, len(consequences))) % len(consequences)]
    description = (
        rng.choice(_OPENERS)
        + _fill(rng.choice(problems), place, detail, rng)
        + "，"
        + _fill(consequences[variant % len(consequences)], place, detail, rng)
        + ("，" + _fill(second, place, detail, rng) if rng.random() < 0.5 else "")
        + "。"
        + rng.choice(_ASKS)
    )
    return title, description


def planted_needs(*, groups: int = 60, noise: int = 200, seed: int = 7) -> list[SynthNeed]:
    """`groups` duplicate groups of 3–4 needs each, and `noise` unrelated needs."""
    rng = random.Random(seed)
    places = [f"{stem}{kind}" for stem in _STEMS for kind in _PLACES]
    rng.shuffle(places)
    if groups > len(places) // 2:  # large sets (the benchmark): two stems make a place
        more = [f"{a}{b}{kind}" for a in _STEMS for b in _STEMS if a != b for kind in _PLACES]
        rng.shuffle(more)
        places += more
    kinds = list(_KINDS)
    needs: list[SynthNeed] = []
    next_id = 1
    group_places: list[str] = []
    for group in range(groups):
        place = places[group % len(places)]
        group_places.append(place)
        kind = kinds[group % len(kinds)]
        detail = rng.choice(_DETAILS)
        area = group % 7 + 1
        category = kinds.index(kind) + 1
        size = rng.choice((3, 4))
        first = rng.randrange(4)
        for member in range(size):
            title, description = _complaint(kind, place, detail, first + member, rng)
            needs.append(SynthNeed(next_id, title, description, area, category, group))
            next_id += 1
    for _ in range(noise):
        # Half the noise is at a group's place (another problem there), half anywhere.
        place = (
            rng.choice(group_places) if group_places and rng.random() < 0.5 else rng.choice(places)
        )
        kind = rng.choice(kinds)
        title, description = _complaint(kind, place, rng.choice(_DETAILS), rng.randrange(4), rng)
        needs.append(
            SynthNeed(next_id, title, description, rng.randint(1, 7), kinds.index(kind) + 1, None)
        )
        next_id += 1
    rng.shuffle(needs)
    return needs


def twins_of(needs: list[SynthNeed]) -> dict[int, set[int]]:
    """Each planted need's id → the ids of the other needs of its group."""
    groups: dict[int, set[int]] = {}
    for need in needs:
        if need.group is not None:
            groups.setdefault(need.group, set()).add(need.id)
    return {need.id: groups[need.group] - {need.id} for need in needs if need.group is not None}


def index_of(needs: list[SynthNeed]) -> similar.SimilarIndex:
    return similar.SimilarIndex.build(
        ids=np.array([n.id for n in needs], dtype=np.int64),
        texts=[n.text for n in needs],
        area_ids=np.array([n.area for n in needs], dtype=np.int64),
        category_ids=np.array([n.category for n in needs], dtype=np.int64),
    )


def twin_recall(needs: list[SynthNeed], found: dict[int, list[int]]) -> float:
    """Share of planted twins found, averaged over planted needs."""
    twins = twins_of(needs)
    shares = [len(set(found[i]) & twins[i]) / len(twins[i]) for i in twins]
    return float(np.mean(shares))


# --------------------------------------------------------------------------- the index alone


def _top5(
    index: similar.SimilarIndex, needs: list[SynthNeed], *, exact: bool, boosts: bool = True
) -> dict[int, list[int]]:
    """Each need's five most similar others, as `similar_to_need` ranks them (with the area
    and category boosts), or by the plain exact cosine over every row."""
    found: dict[int, list[int]] = {}
    for need in needs:
        query = index.query_vector(need.text)
        if exact:
            ranked = index.exact_top(query, limit=5, exclude_ids={need.id})
        else:
            area, category = (need.area, need.category) if boosts else (None, None)
            candidates = index.candidates(
                query, area_id=area, category_id=category, exclude_ids={need.id}
            )
            ranked = index.rerank(query, candidates, limit=5, area_id=area, category_id=category)
        found[need.id] = [need_id for need_id, _score in ranked]
    return found


def test_planted_twins_are_in_each_needs_top_five() -> None:
    needs = planted_needs(groups=80, noise=300)
    index = index_of(needs)

    found = _top5(index, needs, exact=False)

    twins = twins_of(needs)
    shares = [len(set(found[i]) & twins[i]) / len(twins[i]) for i in twins]
    assert float(np.mean(shares)) >= 0.9
    # and nearly every need finds most of its group (the misses are needs told in the very
    # words of a same-kind need elsewhere)
    assert np.mean([share >= 0.6 for share in shares]) >= 0.9


def test_pruned_lookup_agrees_with_exact_cosine_top_five() -> None:
    needs = planted_needs(groups=80, noise=300, seed=11)
    index = index_of(needs)

    pruned = _top5(index, needs, exact=False, boosts=False)
    exact = _top5(index, needs, exact=True)

    recall = np.mean([len(set(pruned[i]) & set(exact[i])) / len(exact[i]) for i in exact])
    assert recall >= 0.9


def test_pruned_candidates_read_far_fewer_postings_than_the_whole_matrix() -> None:
    needs = planted_needs(groups=150, noise=1500, seed=3)
    index = index_of(needs)
    query = index.query_vector(needs[0].text)

    postings = index.postings_read(query)

    assert postings < index.nnz * 0.2
