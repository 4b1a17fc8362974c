"""The generated city: areas, units, categories with deadline rules, and the benchmark accounts.

Scaled to the number of needs: about one community per 200 needs, 16 communities a street, 19
streets a district (at 1 M needs: ~16 districts, ~300 streets, ~5,000 communities, ~17,000 grids),
and never fewer than two districts, one of them suburban, so that the county's rural texts find
villages. Units: the city departments (the county's, renamed, and those only a city has), each
district's government, each street office or town government and each community or village
committee. Accounts (all with one password, hashed once):

- `gen_admin`, `gen_dispatcher`, `gen_leader`: administrator, dispatcher and leader of the city;
- `gen_handler_001`…: one handler per department, in unit order;
- `gen_officer_0001`…: one officer (走访干部) per street or town, in street order.
"""

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from random import Random
from typing import Any

from django.contrib.auth.hashers import make_password

from wenxu.accounts.models import Membership, Role, User
from wenxu.core.demo_texts import (
    CATEGORIES,
    DEADLINE_RULES,
    GIVEN,
    GRID_ORDINALS,
    SURNAMES,
    TEMPLATES,
    UNITS,
    LeafSpec,
    Template,
)
from wenxu.core.generate import names
from wenxu.core.generate.writer import COPIER, Table, next_id
from wenxu.needs import deadlines
from wenxu.needs.deadlines import RuleValues
from wenxu.needs.models import Category, DeadlineRule, Urgency
from wenxu.organisations.models import Area, Unit, path_segment

GRID_RANGE = (2, 5)


@dataclass
class Community:
    area_id: int
    path: str
    name: str
    urban: bool
    street: "Street"
    unit_id: int
    grids: list[tuple[int, str]]  # (area id, path)
    households: int
    places: tuple[str, ...]
    roads: tuple[str, ...]
    landmarks: tuple[str, ...]
    centre: tuple[float, float]


@dataclass
class Street:
    area_id: int
    path: str
    name: str
    district: str
    unit_id: int
    officer_id: int = 0
    communities: list[Community] = field(default_factory=list)


@dataclass
class Leaf:
    name: str
    category_id: int
    spec: LeafSpec
    leads: list[int]  # candidate lead units
    lead_weights: list[float]
    rules: dict[str, RuleValues]
    templates: list[Template]


@dataclass
class World:
    root_id: int
    root_path: str
    streets: list[Street]
    communities: list[Community]
    departments: list[int]
    unit_paths: dict[int, str]
    unit_short: dict[int, str]
    leaves: dict[str, Leaf]
    handler_of: dict[int, int]
    dispatcher_id: int
    leader_id: int
    admin_id: int
    calendar_version: str = ""
    counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Scale:
    districts: int
    streets: int
    communities: int

    @classmethod
    def for_needs(cls, needs: int) -> "Scale":
        communities = max(6, round(needs / 200))
        streets = max(3, round(communities / 16))
        districts = max(2, round(streets / 19))
        return cls(districts, streets, communities)


def _words(rng: Random, count: int, suffixes: tuple[str, ...], taken: set[str]) -> list[str]:
    """`count` names of two words and a suffix, none in `taken` (which they join)."""
    pool = list(dict.fromkeys(names.WORDS))
    made: list[str] = []
    attempts = 0
    while len(made) < count:
        attempts += 1
        word = rng.choice(pool) + rng.choice(pool)
        if word[0] == word[1] and attempts < 50 * count:
            continue
        name = word + rng.choice(suffixes)
        if name in taken:
            continue
        taken.add(name)
        made.append(name)
    return made


def _split(rng: Random, total: int, parts: int, *, least: int = 1) -> list[int]:
    """`total` split into `parts` positive shares of similar but not equal size."""
    weights = [rng.uniform(0.6, 1.4) for _ in range(parts)]
    spare = total - least * parts
    shares = [least + int(spare * w / sum(weights)) for w in weights]
    for index in range(total - sum(shares)):
        shares[index % parts] += 1
    return shares


class _Builder:
    def __init__(self, rng: Random, scale: Scale, now: datetime, password_hash: str) -> None:
        self.rng = rng
        self.scale = scale
        self.now = now
        self.password_hash = password_hash
        self.area_id = next_id(Area)
        self.unit_id = next_id(Unit)
        self.category_id = next_id(Category)
        self.user_id = next_id(User)
        self.areas = Table(
            Area, ["id", "parent_id", "path", "depth", "name", "level", "code", "households"]
        )
        self.units = Table(
            Unit,
            ["id", "parent_id", "path", "depth", "name", "short_name", "kind", "phone", "active"],
        )
        self.unit_areas = Table(Unit.areas.through, ["unit_id", "area_id"])
        self.categories = Table(
            Category, ["id", "parent_id", "path", "depth", "name", "code", "default_unit_id"]
        )
        self.users = Table(
            User,
            [
                "id",
                "password",
                "is_superuser",
                "username",
                "first_name",
                "last_name",
                "email",
                "is_staff",
                "is_active",
                "date_joined",
                "display_name",
                "phone",
                "must_change_password",
            ],
        )
        self.memberships = Table(Membership, ["user_id", "role", "area_id", "unit_id"])
        self.unit_paths: dict[int, str] = {}
        self.unit_short: dict[int, str] = {}

    # ---- trees

    def _area(
        self,
        parent: str | None,
        name: str,
        level: str,
        code: str = "",
        households: int | None = None,
    ) -> tuple[int, str]:
        pk = self.area_id
        self.area_id += 1
        path = f"{parent or '/'}{path_segment(pk)}/"
        parent_id = int(parent.strip("/").split("/")[-1]) if parent else None
        self.areas.add(pk, parent_id, path, path.count("/") - 2, name, level, code, households)
        return pk, path

    def _unit(self, parent: int | None, name: str, short: str, kind: str, areas: list[int]) -> int:
        pk = self.unit_id
        self.unit_id += 1
        path = f"{self.unit_paths[parent] if parent else '/'}{path_segment(pk)}/"
        self.units.add(pk, parent, path, path.count("/") - 2, name, short[:30], kind, "", True)
        for area in areas:
            self.unit_areas.add(pk, area)
        self.unit_paths[pk] = path
        self.unit_short[pk] = short[:30]
        return pk

    def _user(self, username: str, display: str, *, staff: bool = False) -> int:
        pk = self.user_id
        self.user_id += 1
        joined = self.now - timedelta(days=400)
        self.users.add(
            pk,
            self.password_hash,
            staff,
            username,
            "",
            "",
            "",
            staff,
            True,
            joined,
            display,
            "",
            False,  # benchmark accounts: the password is published (ADR 0019)
        )
        return pk

    def _person(self) -> str:
        return self.rng.choice(SURNAMES) + self.rng.choice(GIVEN)

    # ---- the city

    def build(self) -> World:
        rng = self.rng
        scale = self.scale
        root_id, root_path = self._area(None, names.CITY_NAME, Area.Level.COUNTY, names.CITY_CODE)
        departments, by_slug = self._departments(root_id)
        district_names = [p + s for p in names.DISTRICT_PREFIXES for s in names.DISTRICT_SUFFIXES]
        rng.shuffle(district_names)
        streets_per_district = _split(rng, scale.streets, scale.districts)
        communities_per_street = _split(rng, scale.communities, scale.streets)
        streets: list[Street] = []
        communities: list[Community] = []
        street_index = 0
        for d_index, street_count in enumerate(streets_per_district):
            name = (
                district_names[d_index] if d_index < len(district_names) else f"第{d_index + 1}区"
            )
            code = f"{names.CITY_CODE[:4]}{d_index + 1:02d}" if d_index < 99 else ""
            d_id, d_path = self._area(root_path, name, Area.Level.COUNTY, code)
            suburban = d_index == len(streets_per_district) - 1 or (
                rng.random() < names.SUBURBAN_DISTRICT_SHARE
            )
            gov = self._unit(
                None, f"{names.CITY_NAME}{name}人民政府", f"{name}政府", Unit.Kind.OTHER, [d_id]
            )
            street_names = _words(rng, street_count, ("",), set())
            towns = [suburban and rng.random() < names.SUBURBAN_TOWN_SHARE for _ in street_names]
            if suburban and not any(towns):
                towns[-1] = True
            for s_index, (word, town) in enumerate(zip(street_names, towns, strict=True)):
                s_name = word + ("镇" if town else "街道")
                s_code = f"{code}{s_index + 1:03d}" if code and s_index < 999 else ""
                s_id, s_path = self._area(d_path, s_name, Area.Level.TOWNSHIP, s_code)
                office = self._unit(
                    gov,
                    f"{names.CITY_NAME}{name}{s_name}" + ("人民政府" if town else "办事处"),
                    s_name,
                    Unit.Kind.TOWNSHIP,
                    [s_id],
                )
                street = Street(s_id, s_path, s_name, name, office)
                streets.append(street)
                count = communities_per_street[street_index]
                street_index += 1
                taken: set[str] = set()
                for c_index in range(count):
                    urban = not town or rng.random() < 0.2
                    (c_word,) = _words(rng, 1, ("",), taken)
                    c_name = c_word + ("社区" if urban else "村")
                    communities.append(
                        self._community(street, c_name, urban, s_code, c_index, d_index)
                    )
        for table in (self.areas, self.units, self.unit_areas):
            table.flush()
        COPIER.drain()  # the ORM reads and writes below see the rows
        self._household_totals(root_id, streets)
        leaves = self._categories(by_slug)
        users = self._accounts(root_id, departments, streets)
        for table in (self.users, self.memberships):
            table.flush()
        COPIER.drain()
        world = World(
            root_id=root_id,
            root_path=root_path,
            streets=streets,
            communities=communities,
            departments=departments,
            unit_paths=self.unit_paths,
            unit_short=self.unit_short,
            leaves=leaves,
            **users,
        )
        world.counts = {
            "areas": self.areas.count,
            "units": self.units.count,
            "users": self.users.count,
            "categories": self.categories.count,
        }
        return world

    def _household_totals(self, root_id: int, streets: list[Street]) -> None:
        """Streets, districts and the city count the households of their communities."""
        totals: dict[int, int] = {}
        for street in streets:
            households = sum(c.households for c in street.communities)
            district_id = int(street.path.strip("/").split("/")[-2])
            totals[street.area_id] = households
            totals[district_id] = totals.get(district_id, 0) + households
            totals[root_id] = totals.get(root_id, 0) + households
        for pk, households in totals.items():
            Area.objects.filter(pk=pk).update(households=households)

    def _community(
        self, street: Street, name: str, urban: bool, s_code: str, c_index: int, d_index: int
    ) -> Community:
        rng = self.rng
        households = rng.randint(1500, 4500) if urban else rng.randint(300, 1200)
        code = f"{s_code}{c_index + 1:03d}" if s_code and c_index < 999 else ""
        c_id, c_path = self._area(street.path, name, Area.Level.VILLAGE, code, households)
        grid_count = rng.randint(*GRID_RANGE)
        grids = []
        for g_index, share in enumerate(_split(rng, households, grid_count)):
            grids.append(
                self._area(c_path, f"{name}{GRID_ORDINALS[g_index]}", Area.Level.GRID, "", share)
            )
        committee = self._unit(
            street.unit_id,
            f"{names.CITY_NAME}{street.district}{street.name}{name}"
            + ("居民委员会" if urban else "村民委员会"),
            name,
            Unit.Kind.VILLAGE,
            [c_id],
        )
        taken: set[str] = set()
        if urban:
            places = tuple(_words(rng, rng.randint(3, 5), names.COMPOUND_SUFFIXES, taken))
            landmarks = tuple(
                w + s
                for w, s in zip(
                    _words(rng, 3, ("",), taken),
                    rng.sample(names.URBAN_LANDMARKS, 3),
                    strict=True,
                )
            )
        else:
            places = tuple(_words(rng, rng.randint(3, 5), names.HAMLET_SUFFIXES, taken))
            landmarks = tuple(rng.sample(names.RURAL_LANDMARKS, 3))
        roads = tuple(_words(rng, rng.randint(2, 3), names.ROAD_SUFFIXES, taken))
        angle = rng.uniform(0, 6.283)
        reach = 0.02 + 0.05 * d_index / max(1, self.scale.districts) + rng.uniform(0, 0.08)
        centre = (
            names.CITY_CENTRE[0] + reach * math.cos(angle),
            names.CITY_CENTRE[1] + reach * math.sin(angle),
        )
        community = Community(
            c_id, c_path, name, urban, street, committee, grids, households, places, roads,
            landmarks, centre,
        )  # fmt: skip
        street.communities.append(community)
        return community

    def _departments(self, root_id: int) -> tuple[list[int], dict[str, int]]:
        """The city departments, the county's first (renamed), in creation order."""
        by_slug: dict[str, int] = {}
        departments: list[int] = []
        for spec in UNITS:
            if spec.kind == Unit.Kind.TOWNSHIP:
                continue
            name = spec.name.replace("青山分局", "").replace(
                "青山县", names.CITY_NAME
            )  # 市生态环境局青山分局 → 市生态环境局
            if name.startswith("市"):
                name = names.CITY_SHORT + name
            short = names.COUNTY_SHORT_NAMES.get(spec.short, spec.short)
            if short.startswith("县"):
                short = "市" + short[1:]
            parent = by_slug[spec.parent] if spec.parent else None
            by_slug[spec.slug] = self._unit(parent, name, short, spec.kind, [root_id])
            departments.append(by_slug[spec.slug])
        for extra in names.EXTRA_DEPARTMENTS:
            parent = by_slug[extra.parent] if extra.parent else None
            by_slug[extra.slug] = self._unit(
                parent, names.CITY_NAME + extra.name, extra.short, extra.kind, [root_id]
            )
            departments.append(by_slug[extra.slug])
        return departments, by_slug

    def _categories(self, by_slug: dict[str, int]) -> dict[str, Leaf]:
        takes: dict[str, list[str]] = {}
        for extra in names.EXTRA_DEPARTMENTS:
            for leaf in extra.leaves:
                takes.setdefault(leaf, []).append(extra.slug)
        leaf_ids: dict[str, tuple[int, LeafSpec]] = {}
        for top_index, (top_name, specs) in enumerate(CATEGORIES, start=1):
            top = self.category_id
            self.category_id += 1
            top_path = f"/{path_segment(top)}/"
            self.categories.add(top, None, top_path, 0, top_name, f"{top_index:02d}", None)
            for leaf_index, spec in enumerate(specs, start=1):
                pk = self.category_id
                self.category_id += 1
                self.categories.add(
                    pk,
                    top,
                    f"{top_path}{path_segment(pk)}/",
                    1,
                    spec.name,
                    f"{top_index:02d}{leaf_index:02d}",
                    by_slug[spec.unit],
                )
                leaf_ids[spec.name] = (pk, spec)
        self.categories.flush()
        COPIER.drain()
        for category, urgency, rv, ru, sv, su, remind, max_ext, max_days in DEADLINE_RULES:
            # A site's own rules for all categories are kept as they are (as the demo does).
            DeadlineRule.objects.get_or_create(
                category_id=leaf_ids[category][0] if category else None,
                urgency=urgency,
                defaults={
                    "response_value": rv,
                    "response_unit": ru,
                    "resolve_value": sv,
                    "resolve_unit": su,
                    "remind_before_hours": remind,
                    "max_extensions": max_ext,
                    "max_extension_days": max_days,
                },
            )
        templates: dict[str, list[Template]] = {}
        for template in TEMPLATES:
            templates.setdefault(template.leaf, []).append(template)
        leaves: dict[str, Leaf] = {}
        categories = Category.objects.in_bulk([pk for pk, _spec in leaf_ids.values()])
        for name, (pk, spec) in leaf_ids.items():
            leads = [by_slug[spec.unit]] + [by_slug[slug] for slug in takes.get(name, [])]
            weights = [2.0] + [1.0] * (len(leads) - 1)
            rules = {
                urgency: deadlines.rule_for(category=categories[pk], urgency=urgency)
                for urgency in Urgency.values
            }
            leaves[name] = Leaf(name, pk, spec, leads, weights, rules, templates.get(name, []))
        return leaves

    def _accounts(
        self, root_id: int, departments: list[int], streets: list[Street]
    ) -> dict[str, Any]:
        admin = self._user("gen_admin", "系统管理员", staff=True)
        dispatcher = self._user("gen_dispatcher", self._person())
        leader = self._user("gen_leader", self._person())
        self.memberships.add(admin, Role.ADMIN, root_id, None)
        self.memberships.add(dispatcher, Role.DISPATCHER, root_id, None)
        self.memberships.add(leader, Role.LEADER, root_id, None)
        handler_of: dict[int, int] = {}
        for index, unit in enumerate(departments, start=1):
            handler_of[unit] = self._user(f"gen_handler_{index:03d}", self._person())
            self.memberships.add(handler_of[unit], Role.HANDLER, None, unit)
        for index, street in enumerate(streets, start=1):
            street.officer_id = self._user(f"gen_officer_{index:04d}", self._person())
            self.memberships.add(street.officer_id, Role.OFFICER, street.area_id, None)
        return {
            "handler_of": handler_of,
            "dispatcher_id": dispatcher,
            "leader_id": leader,
            "admin_id": admin,
        }


def build_world(*, seed: int, needs: int, now: datetime, password: str) -> World:
    """Write the city (in the caller's transaction) and return what the needs are made of."""
    rng = Random(f"wenxu-generate-world-{seed}")  # noqa: S311 - made-up data, not secrets
    return _Builder(rng, Scale.for_needs(needs), now, make_password(password)).build()


def iter_grids(world: World) -> Iterator[tuple[int, str]]:
    for community in world.communities:
        yield from community.grids
