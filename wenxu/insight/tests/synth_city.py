"""A city's worth of synthetic needs for benches B6 and B8 (and the tests that check the
generator): deterministic for a seed, no database.

What a city ledger over a few weeks looks like, as far as text goes:
- most needs are one resident's matter: the demo county's kinds of need
  (`wenxu.core.demo_texts.TEMPLATES`, 74 kinds in 43 categories) and the planted kinds of
  `test_similar_synth`, told with the openers and closing requests residents use, at one of
  thousands of places (estates, villages, roads, landmarks named from a pool of stems);
- some matters are told by 3–4 residents in different words (`group`, as in
  `test_similar_synth.planted_needs`);
- a few are hot: dozens of residents about one problem at one place (`group` too);
- about one in a hundred is a repeated copy of an earlier need by the same person.

Each need carries the category and the responsible unit the demo county's rules give it (the
routing labels of B6), an area (a village, under one of eight townships) and its author.
"""

import random
from dataclasses import dataclass
from typing import Any

from wenxu.insight.tests import test_similar_synth as planted
from wenxu.insight.text import need_text

_FIRST = (
    "金银翠碧青红绿紫东西南北上下新老大长永安康福寿和平"
    + "泰兴华盛阳光明春秋龙凤鹤松竹梅兰桃杏柳杨桂荷莲"
)
_SECOND = "湖山河江溪泉岭峰园林桥港湾洲塘坪坡岗庄亭台阁城屯店堡坝营滩沟田原川池井门口源"
_ESTATES = ("小区", "花园", "家园", "新村", "苑", "公寓", "华府", "山庄")
_HAMLETS = ("组", "湾", "坞")
_ROADS = ("路", "街", "大道")
_LANDMARKS = ("小学", "菜市场", "公园", "卫生院", "幼儿园", "广场", "中学", "汽车站")
_OPENERS = (
    "",
    "",
    "",
    "居民反映，",
    "群众来电称：",
    "走访中了解到，",
    "有住户反映：",
    "网格员报告，",
)
_ASKS = ("", "", "希望尽快解决。", "请有关部门尽快处理。", "多次反映没有结果。", "盼早日答复。")
TOWNSHIPS = 8
# The planted kinds as the demo county's categories.
_KIND_LEAF = {
    "light": "路灯照明",
    "water": "供水",
    "noise": "噪声扰民",
    "garbage": "垃圾清运",
    "road": "道路破损",
    "parking": "交通秩序",
    "elevator": "物业管理",
    "drain": "排水防涝",
    "pension": "养老保险",
    "school": "校车与上学",
}
_LOCAL_UNITS = ("chengguan", "donghe", "xiling", "nanhu")


@dataclass(frozen=True)
class CityNeed:
    id: int
    title: str
    description: str
    area: int  # a village: TOWNSHIPS + 1 …
    township: int  # 1 … TOWNSHIPS
    category: int  # 1 … (the demo county's leaf categories)
    unit: int  # 1 … (the demo county's units)
    author: str
    group: int | None  # a matter several residents told (planted or hot), None otherwise

    @property
    def text(self) -> str:
        return need_text(self.title, self.description)

    @property
    def area_path(self) -> str:
        return f"/{self.township}/{self.area}/"


@dataclass(frozen=True)
class _Village:
    id: int
    township: int
    name: str
    urban: bool
    places: tuple[str, ...]
    roads: tuple[str, ...]
    landmarks: tuple[str, ...]


class _City:
    def __init__(self, villages: int, rng: random.Random) -> None:
        from wenxu.core import demo_texts

        self.rng = rng
        self.templates = demo_texts.TEMPLATES
        self.weights = [t.weight for t in self.templates]
        leaves = [leaf for _name, group in demo_texts.CATEGORIES for leaf in group]
        self.leaf_ids = {leaf.name: k + 1 for k, leaf in enumerate(leaves)}
        self.leaf_specs = {leaf.name: leaf for leaf in leaves}
        self.unit_ids = {unit.slug: k + 1 for k, unit in enumerate(demo_texts.UNITS)}
        self.surnames = demo_texts.SURNAMES
        self.elders = demo_texts.ELDER_SUFFIX
        stems = [a + b for a in _FIRST for b in _SECOND]
        rng.shuffle(stems)
        self.villages: list[_Village] = []
        for k in range(villages):
            urban = k % 3 != 0
            name = stems[k % len(stems)]

            def some(kinds: tuple[str, ...], count: int, name: str = name) -> tuple[str, ...]:
                picked = rng.sample(stems, count)
                return tuple(f"{stem}{rng.choice(kinds)}" for stem in picked if stem != name)

            self.villages.append(
                _Village(
                    id=TOWNSHIPS + 1 + k,
                    township=k % TOWNSHIPS + 1,
                    name=f"{name}{'社区' if urban else '村'}",
                    urban=urban,
                    places=some(_ESTATES if urban else _HAMLETS, 4),
                    roads=some(_ROADS, 2),
                    landmarks=some(_LANDMARKS, 3),
                )
            )

    def unit_of(self, leaf: str, village: _Village) -> int:
        spec = self.leaf_specs[leaf]
        slug = _LOCAL_UNITS[village.township % len(_LOCAL_UNITS)] if spec.local else spec.unit
        return self.unit_ids[slug]

    def template_text(self, template: Any, village: _Village, place: str | None) -> tuple[str, str]:
        rng = self.rng
        ctx = {
            "v": village.name,
            "p": place or rng.choice(village.places),
            "r": rng.choice(village.roads),
            "l": rng.choice(village.landmarks),
            "n": rng.randint(2, 9),
            "m": rng.randint(2, 5),
            "money": f"{rng.randint(12, 96) / 10:.1f}万",
            "elder": rng.choice(self.surnames) + rng.choice(self.elders),
            "clinic": f"{village.name}卫生服务站",
        }
        title = template.title.format(**ctx)
        text = rng.choice(_OPENERS) + template.text.format(**ctx) + rng.choice(_ASKS)
        return title, text

    def template_for(self, village: _Village) -> Any:
        while True:
            template = self.rng.choices(self.templates, weights=self.weights)[0]
            if template.where == "any" or (template.where == "urban") == village.urban:
                return template


def city_needs(count: int, *, seed: int = 10) -> list[CityNeed]:
    """`count` needs (see the module docstring), shuffled, ids 1 … count."""
    rng = random.Random(seed)
    city = _City(max(50, count // 100), rng)
    made: list[tuple[str, str, int, int, int, str, int | None]] = []
    # (title, description, village index, category, unit, author, group)
    group = 0

    def resident() -> str:
        return f"r{len(made)}"

    # matters told by 3–4 residents (about 17 % of the needs)
    for _ in range(count // 20):
        village_index = rng.randrange(len(city.villages))
        village = city.villages[village_index]
        kind = rng.choice(list(_KIND_LEAF))
        place = rng.choice(village.places + village.roads)
        detail = rng.choice(planted._DETAILS)
        first = rng.randrange(4)
        for member in range(rng.choice((3, 4))):
            title, text = planted._complaint(kind, place, detail, first + member, rng)
            leaf = _KIND_LEAF[kind]
            made.append(
                (
                    title,
                    text,
                    village_index,
                    city.leaf_ids[leaf],
                    city.unit_of(leaf, village),
                    resident(),
                    group,
                )
            )
        group += 1
    # hot matters: one problem at one place, 8–60 residents (about 2 %)
    for _ in range(max(1, count // 2000)):
        village_index = rng.randrange(len(city.villages))
        village = city.villages[village_index]
        template = city.template_for(village)
        place = rng.choice(village.places)
        for _member in range(rng.randint(8, 60)):
            title, text = city.template_text(template, village, place)
            made.append(
                (
                    title,
                    text,
                    village_index,
                    city.leaf_ids[template.leaf],
                    city.unit_of(template.leaf, village),
                    resident(),
                    group,
                )
            )
        group += 1
    # everything else: one resident's matter, a demo kind (60 %) or a planted kind elsewhere
    while len(made) < count:
        village_index = rng.randrange(len(city.villages))
        village = city.villages[village_index]
        if made and rng.random() < 0.01:
            # the same person sends an earlier message again, spaced differently
            title, text, village_index, category, unit, author, old = rng.choice(made)
            made.append(
                (title, text.replace("，", " , "), village_index, category, unit, author, old)
            )
            continue
        if rng.random() < 0.6:
            template = city.template_for(village)
            title, text = city.template_text(template, village, None)
            leaf = template.leaf
        else:
            kind = rng.choice(list(_KIND_LEAF))
            place = rng.choice(village.places + village.roads + village.landmarks)
            title, text = planted._complaint(
                kind, place, rng.choice(planted._DETAILS), rng.randrange(4), rng
            )
            leaf = _KIND_LEAF[kind]
        made.append(
            (
                title,
                text,
                village_index,
                city.leaf_ids[leaf],
                city.unit_of(leaf, village),
                resident(),
                None,
            )
        )
    made = made[:count]
    rng.shuffle(made)
    return [
        CityNeed(
            id=k + 1,
            title=title,
            description=text,
            area=city.villages[village_index].id,
            township=city.villages[village_index].township,
            category=category,
            unit=unit,
            author=author,
            group=found,
        )
        for k, (title, text, village_index, category, unit, author, found) in enumerate(made)
    ]
