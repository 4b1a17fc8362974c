"""The demo county 青山县: a fictional county, its people and six months of needs.

Everything is written through the real services: areas, units, categories and accounts with the
ORM (they have no lifecycle), and every need through `wenxu.needs.services`, each action inside
`clock.travel(at)` so that the ledger shows honest times. Nothing assigns a status directly. The
daily sweep (reminders, escalation, unreachable callbacks) runs as it would have, once a day.

The story of each need is planned first (a *flow*: which actions, how far apart), then all
actions of all needs are replayed in time order, so that ledger numbers follow registration time
and a duplicate is merged into a need that is still open at that moment.

`random.Random(seed)` drives every choice: the same seed gives the same county and the same
stories (their dates are relative to the moment of loading).

Names, phone numbers (1xx0000xxxx) and the division code 339901 are made up.
"""

import hashlib
import logging
import os
import secrets
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from random import Random
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from threadpoolctl import threadpool_limits

from wenxu.accounts.models import Membership, Role, User
from wenxu.core.demo_texts import (
    APPROVE_NOTES,
    BASIC_COMMENTS,
    BURSTS,
    CATEGORIES,
    CLOSINGS,
    COMPANIONS,
    COUNTY_CENTRE,
    COUNTY_CODE,
    COUNTY_NAME,
    DEADLINE_RULES,
    DENY_REASONS,
    ELDER_SUFFIX,
    ENTERPRISE_NAMES,
    EXTENSION_REASONS,
    FULFIL_DEFAULT,
    FULFIL_NOTE,
    GIVEN,
    GRID_ORDINALS,
    HOUSEHOLDS_PER_GRID,
    MOBILE_PREFIXES,
    MOOD_NOTES,
    PLANS,
    PROGRESS_NOTES,
    PUBLIC_PLACE_NOTE,
    REMIND_NOTES,
    REOPEN_REASONS,
    RETURN_REASON,
    ROUTING_RULES,
    RURAL_DOOR,
    SATISFIED_COMMENTS,
    SUPERVISE_NOTES,
    SURNAMES,
    TEMPLATES,
    TOPIC,
    TOPIC_MEASURES,
    TOPIC_MILESTONE_NOTE,
    TOPIC_MILESTONES,
    TOWNSHIPS,
    UNHAPPY_COMMENTS,
    UNITS,
    URBAN_DOOR,
    VISIT_MIX,
    VISIT_SUMMARIES,
    VISIT_VILLAGES,
    VISIT_WITH_NEED,
    WITHDRAW_REASONS,
    BurstSpec,
    LeafSpec,
    Template,
    TownshipSpec,
    VillageSpec,
)
from wenxu.insight.hot_runs import hot_topic_run_create, hot_topic_run_execute
from wenxu.insight.models import HotTopicGroup, HotTopicRun, RouterModel, RoutingRule, Signal
from wenxu.insight.rollups import rollup_catch_up
from wenxu.insight.routing.training import NotEnoughData, router_train
from wenxu.insight.signals import signals_detect
from wenxu.lib import clock
from wenxu.needs import services, sweeps
from wenxu.needs.exceptions import IllegalTransition
from wenxu.needs.models import Category, DeadlineRule, Need
from wenxu.organisations.models import Area, Unit
from wenxu.topics import services as topics
from wenxu.topics.models import MeasureStatus, Topic, TopicStatus
from wenxu.visits import plans as visit_plans
from wenxu.visits.models import Place, PlaceKind, Visit, VisitKind
from wenxu.visits.services import NeedDraft, VisitDraft, visit_record

DEFAULT_SEED = 2019
VISIT_DAYS = 125  # visits reach back about four months
PASSWORD_ENV = "WENXU_DEMO_PASSWORD"  # noqa: S105 - the variable's name, not a password
PASSWORD_FILE = "demo_password"  # noqa: S105 - a file name
HISTORY_DAYS = 182
HOT_DAYS = 30  # the hot topics' window, as the scheduled run's default

# --------------------------------------------------------------------------- password


def demo_password(data_dir: Path) -> tuple[str, str]:
    """The demo accounts' password and where it came from.

    `WENXU_DEMO_PASSWORD` wins; otherwise one is generated once and kept (mode 600) in the data
    folder, so that every later run prints the same one.
    """
    configured = os.environ.get(PASSWORD_ENV, "").strip()
    if configured:
        return configured, f"环境变量 {PASSWORD_ENV}"
    path = data_dir / PASSWORD_FILE
    if path.exists():
        stored = path.read_text(encoding="utf-8").strip()
        if stored:
            return stored, str(path)
        path.unlink()
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    password = "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(3))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(password + "\n")
    path.chmod(0o600)
    return password, str(path)


# --------------------------------------------------------------------------- accounts


@dataclass(frozen=True)
class Account:
    username: str
    name: str
    role: str
    scope: str  # an area name or a unit slug
    main: bool = False  # one of the five accounts printed first

    @property
    def role_label(self) -> str:
        return str(Role(self.role).label)


def accounts() -> list[Account]:
    """Every demo account: the five printed first, then one officer per other township and one
    handler per other unit (same password)."""
    result = [
        Account("admin", "系统管理员", Role.ADMIN, COUNTY_NAME, main=True),
        Account("dispatcher", "周敏", Role.DISPATCHER, COUNTY_NAME, main=True),
        Account("officer", "王建军", Role.OFFICER, "东河镇", main=True),
        Account("handler", "陈立新", Role.HANDLER, "zhujian", main=True),
        Account("leader", "李卫东", Role.LEADER, COUNTY_NAME, main=True),
    ]
    officers = {"chengguan": "赵晓燕", "xiling": "孙长生", "nanhu": "何美玲"}
    for township in TOWNSHIPS:
        if township.slug in officers:
            result.append(
                Account(f"officer_{township.slug}", officers[township.slug], Role.OFFICER,
                        township.name)
            )  # fmt: skip
    rng = Random(7)  # fixed: the staff do not change with the seed
    for spec in UNITS:
        if spec.slug != "zhujian":
            name = rng.choice(SURNAMES) + rng.choice(GIVEN)
            result.append(Account(f"handler_{spec.slug}", name, Role.HANDLER, spec.slug))
    return result


def scope_label(account: Account) -> str:
    for spec in UNITS:
        if spec.slug == account.scope:
            return spec.short
    return account.scope


def is_loaded() -> bool:
    return Area.objects.filter(code=COUNTY_CODE).exists()


def sync_passwords(password: str) -> bool:
    """Make the demo accounts answer to `password` (it may come from a new env value).

    Returns True when passwords had to change.
    """
    admin = User.objects.filter(username="admin").first()
    if admin is None or admin.check_password(password):
        return False
    User.objects.filter(username__in=[a.username for a in accounts()]).update(
        password=make_password(password), must_change_password=True
    )
    return True


# --------------------------------------------------------------------------- the world


@dataclass
class _Village:
    spec: VillageSpec
    township: TownshipSpec
    town: Area
    area: Area
    grids: list[Area]
    centre: tuple[float, float]


@dataclass
class _World:
    county: Area
    villages: list[_Village]
    units: dict[str, Unit]
    leaves: dict[str, Category]
    leaf_specs: dict[str, LeafSpec]
    users: dict[str, User]
    officer_of: dict[str, User]  # township name → officer
    handler_of: dict[int, User]  # unit id → handler


def _build_areas(rng: Random) -> tuple[Area, list[_Village]]:
    county = Area.objects.create(name=COUNTY_NAME, level=Area.Level.COUNTY, code=COUNTY_CODE)
    villages: list[_Village] = []
    county_households = 0
    for t_index, township in enumerate(TOWNSHIPS):
        town = Area.objects.create(
            name=township.name,
            level=Area.Level.TOWNSHIP,
            parent=county,
            code=f"{COUNTY_CODE}{township.code}000",
        )
        town_centre = (
            COUNTY_CENTRE[0] + (0.06 if t_index % 2 else -0.05) * (1 + t_index / 3),
            COUNTY_CENTRE[1] + (0.07 if t_index > 1 else -0.04) * (1 + t_index / 4),
        )
        if t_index == 0:
            town_centre = COUNTY_CENTRE
        community_no = village_no = 0
        for spec in township.villages:
            if spec.urban:
                community_no += 1
                serial = community_no
            else:
                village_no += 1
                serial = 200 + village_no
            village = Area.objects.create(
                name=spec.name,
                level=Area.Level.VILLAGE,
                parent=town,
                code=f"{COUNTY_CODE}{township.code}{serial:03d}",
                households=spec.households,
            )
            shares = [rng.uniform(0.8, 1.2) for _ in range(spec.grids)]
            grids = []
            left = spec.households
            for g_index, share in enumerate(shares):
                count = (
                    left
                    if g_index == spec.grids - 1
                    else round(spec.households * share / sum(shares))
                )
                left -= count
                grids.append(
                    Area.objects.create(
                        name=f"{spec.name}{GRID_ORDINALS[g_index]}",
                        level=Area.Level.GRID,
                        parent=village,
                        households=count,
                    )
                )
            centre = (
                town_centre[0] + rng.uniform(-0.03, 0.03),
                town_centre[1] + rng.uniform(-0.03, 0.03),
            )
            villages.append(_Village(spec, township, town, village, grids, centre))
        town.households = sum(v.spec.households for v in villages if v.township is township)
        town.save(update_fields=["households"])
        county_households += town.households
    county.households = county_households
    county.save(update_fields=["households"])
    return county, villages


def _build_units(county: Area, villages: list[_Village]) -> dict[str, Unit]:
    units: dict[str, Unit] = {}
    towns = {v.township.slug: v.town for v in villages}
    for spec in UNITS:
        unit = Unit.objects.create(
            name=spec.name,
            short_name=spec.short,
            kind=spec.kind,
            parent=units[spec.parent] if spec.parent else None,
        )
        town = towns.get(spec.slug)
        unit.areas.add(town if town is not None else county)
        units[spec.slug] = unit
    return units


def _build_categories(units: dict[str, Unit]) -> tuple[dict[str, Category], dict[str, LeafSpec]]:
    leaves: dict[str, Category] = {}
    specs: dict[str, LeafSpec] = {}
    for top_index, (top_name, leaf_specs) in enumerate(CATEGORIES, start=1):
        top = Category.objects.create(name=top_name, code=f"{top_index:02d}")
        for leaf_index, leaf in enumerate(leaf_specs, start=1):
            leaves[leaf.name] = Category.objects.create(
                name=leaf.name,
                code=f"{top_index:02d}{leaf_index:02d}",
                parent=top,
                default_unit=units[leaf.unit],
            )
            specs[leaf.name] = leaf
    for category, urgency, rv, ru, sv, su, remind, max_ext, max_days in DEADLINE_RULES:
        # An administrator's own default rules (for all categories) are kept as they are.
        DeadlineRule.objects.get_or_create(
            category=leaves[category] if category else None,
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
    return leaves, specs


def _build_users(
    password: str, county: Area, villages: list[_Village], units: dict[str, Unit]
) -> dict[str, User]:
    hashed = make_password(password)  # one hash for all: hashing is slow on purpose
    towns = {v.township.name: v.town for v in villages}
    taken = sorted(
        User.objects.filter(username__in=[a.username for a in accounts()]).values_list(
            "username", flat=True
        )
    )
    if taken:
        raise DemoConflict(taken)
    users: dict[str, User] = {}
    for account in accounts():
        user = User(
            username=account.username,
            display_name=account.name,
            password=hashed,
            is_staff=account.role == Role.ADMIN,
            is_superuser=account.role == Role.ADMIN,
            must_change_password=True,  # outside `wenxu demo` (ADR 0017)
        )
        user.save()
        if account.scope in units:
            Membership.objects.create(user=user, role=account.role, unit=units[account.scope])
        else:
            area = county if account.scope == COUNTY_NAME else towns[account.scope]
            Membership.objects.create(user=user, role=account.role, area=area)
        users[account.username] = user
    return users


class DemoConflict(Exception):
    """The database already holds accounts with the demo usernames but no demo county."""

    def __init__(self, usernames: list[str]) -> None:
        super().__init__(", ".join(usernames))
        self.usernames = usernames


def _build_world(rng: Random, password: str) -> _World:
    county, villages = _build_areas(rng)
    units = _build_units(county, villages)
    leaves, leaf_specs = _build_categories(units)
    users = _build_users(password, county, villages, units)
    officer_of = {a.scope: users[a.username] for a in accounts() if a.role == Role.OFFICER}
    handler_of = {
        units[a.scope].pk: users[a.username] for a in accounts() if a.role == Role.HANDLER
    }
    return _World(county, villages, units, leaves, leaf_specs, users, officer_of, handler_of)


# --------------------------------------------------------------------------- stories


@dataclass
class _Op:
    action: str
    gap: timedelta  # after the previous action of the same need
    args: dict[str, Any] = field(default_factory=dict)
    optional: bool = False  # may be refused (e.g. an extension asked too late): then skipped
    final: bool = False  # the need leaves the active set here
    at: datetime | None = None


@dataclass
class _Story:
    index: int
    flow: str
    template: Template
    village: _Village
    grid: Area
    ctx: dict[str, Any]
    kind: str
    urgency: str
    tags: list[str]
    source: str
    by_officer: bool
    requester: services.RequesterInput | None
    handling: str
    address: str
    coords: tuple[Decimal, Decimal] | None
    nudge: bool = True  # keep actions in office hours
    ops: list[_Op] = field(default_factory=list)
    outcome: str = ""
    need_id: int | None = None

    @property
    def title(self) -> str:
        return self.template.title.format(**self.ctx)

    @property
    def description(self) -> str:
        return self.template.text.format(**self.ctx)

    def text(self, pattern: str) -> str:
        return pattern.format(**self.ctx)

    def active_until(self) -> datetime | None:
        for op in self.ops:
            if op.final:
                return op.at
        if self.flow == "unreachable" and self.ops[-1].at is not None:
            return self.ops[-1].at + timedelta(days=settings.WENXU_CALLBACK_WINDOW_DAYS)
        return None


def _hours(rng: Random, low: float, high: float) -> timedelta:
    return timedelta(hours=rng.uniform(low, high))


def _days(rng: Random, low: float, high: float) -> timedelta:
    return timedelta(days=rng.uniform(low, high))


def _fit_settings(flow: str, window: tuple[float, float]) -> tuple[float, float]:
    """Keep the open needs inside this site's triage and callback windows (hours of age), so
    that the ledger check passes and the daily sweep does not close what a story still needs."""
    low, high = window
    triage = settings.WENXU_TRIAGE_HOURS * 0.8
    callback = settings.WENXU_CALLBACK_WINDOW_DAYS * 24
    if flow in ("fresh", "returned", "spot_replied"):
        high = min(high, triage)
    elif flow in ("replied_routine", "replied_planned"):
        high = min(high, callback - 30)
    elif flow == "unreachable":
        low = max(low, callback + 24)
    return min(low, high / 2), high


def _can_answer(t: Template) -> bool:
    return bool(t.fix or t.explain)


def _serious(t: Template) -> bool:
    return _can_answer(t) and "praise" not in t.kinds


FILTERS: dict[str, Callable[[Template], bool]] = {
    "any": _can_answer,
    "serious": _serious,
    "slow": lambda t: _serious(t) and t.urgency != "urgent",
    "spot": lambda t: bool(t.spot),
    "plan": lambda t: bool(t.plan),
}

# flow → (how many, which templates, age of the last action in hours (min, max), office hours)
FLOWS: dict[str, tuple[int, str, tuple[float, float], bool]] = {
    # registered: all within the triage window
    "fresh": (9, "any", (0.3, 20), False),
    "returned": (3, "serious", (0.2, 6), False),
    # assigned
    "assigned_recent": (12, "any", (0.5, 30), True),
    "assigned_overdue": (4, "slow", (2, 6 * 24), True),
    # in progress
    "working": (14, "any", (1, 3 * 24), True),
    "ext_pending": (4, "slow", (1, 36), True),
    "ext_approved": (5, "slow", (1, 4 * 24), True),
    "ext_denied": (3, "slow", (1, 3 * 24), True),
    "overdue_supervised": (8, "slow", (1, 6 * 24), True),
    "reopened_active": (6, "serious", (1, 4 * 24), True),
    "complex_long": (4, "slow", (2, 3 * 24), True),
    # replied, waiting for the callback
    "replied_routine": (16, "any", (2, 8 * 24), True),
    "replied_planned": (5, "plan", (2, 8 * 24), True),
    "spot_replied": (3, "spot", (0.5, 16), False),
    # following a promise
    "following": (20, "plan", (2, 50 * 24), True),
    # closed
    "closed_routine": (105, "any", (24, 176 * 24), True),
    "spot_confirmed": (35, "spot", (24, 178 * 24), True),
    "spot_callback": (10, "spot", (24, 176 * 24), True),
    "planned_fulfilled": (14, "plan", (24, 150 * 24), True),
    "unreachable": (6, "any", (11 * 24, 170 * 24), True),
    "reopened_closed": (8, "serious", (24, 150 * 24), True),
    "ext_closed": (8, "slow", (24, 160 * 24), True),
    "late_closed": (6, "slow", (24, 160 * 24), True),
    "returned_closed": (6, "serious", (24, 170 * 24), True),
    # withdrawn
    "withdrawn": (12, "serious", (1, 176 * 24), True),
}
MERGED_DUPLICATES = 12
MERGE_TARGET_FLOWS = frozenset(
    {
        "closed_routine",
        "working",
        "overdue_supervised",
        "following",
        "replied_routine",
        "complex_long",
        "planned_fulfilled",
        "ext_closed",
        "late_closed",
    }
)


class _Planner:
    """Decides every story: who asks what where, and which actions follow how far apart."""

    def __init__(self, rng: Random, world: _World, now: datetime) -> None:
        self.rng = rng
        self.world = world
        self.now = now
        self.limit = now - timedelta(minutes=10)
        self.earliest = now - timedelta(days=HISTORY_DAYS)
        self.stories: list[_Story] = []

    # ---- choosing what and where

    def _template(self, kind: str) -> Template:
        pool = [t for t in TEMPLATES if FILTERS[kind](t)]
        return self.rng.choices(pool, weights=[t.weight for t in pool])[0]

    def _village(self, template: Template) -> _Village:
        def fits(v: _Village) -> bool:
            return template.where == "any" or v.spec.urban == (template.where == "urban")

        pool = [v for v in self.world.villages if fits(v)]
        totals: dict[str, float] = {}
        for v in pool:
            totals[v.township.name] = totals.get(v.township.name, 0) + v.spec.households**0.5
        weights = [
            v.township.weight * v.spec.households**0.5 / totals[v.township.name] for v in pool
        ]
        return self.rng.choices(pool, weights=weights)[0]

    def _person(self) -> str:
        return self.rng.choice(SURNAMES) + self.rng.choice(GIVEN)

    def _phone(self) -> str:
        return f"{self.rng.choice(MOBILE_PREFIXES)}0000{self.rng.randrange(10000):04d}"

    def _requester(
        self, template: Template, kind: str, ctx: dict[str, Any]
    ) -> services.RequesterInput | None:
        rng = self.rng
        confidential = rng.random() < (0.5 if kind in ("report", "criticism") else 0.04)
        name = self._person()
        address = f"{ctx['t']}{ctx['v']}{ctx['p']}"
        if template.requester == "enterprise":
            return services.RequesterInput(
                name=rng.choice(ENTERPRISE_NAMES).format(**ctx),
                phone=self._phone(),
                kind="enterprise",
                address=f"{ctx['t']}{ctx['v']}",
            )
        if template.requester == "group":
            return services.RequesterInput(
                name=f"{name}等{ctx['n']}人",
                phone=self._phone(),
                kind="group",
                confidential=confidential,
                address=address,
            )
        return services.RequesterInput(
            name=name,
            phone=self._phone(),
            kind=template.requester,
            confidential=confidential,
            address=address if rng.random() < 0.7 else "",
        )

    def new_story(self, flow: str, filter_name: str, nudge: bool) -> _Story:
        rng = self.rng
        template = self._template(filter_name)
        village = self._village(template)
        spec = village.spec
        ctx: dict[str, Any] = {
            "t": village.township.name,
            "v": spec.name,
            "p": rng.choice(spec.places),
            "r": rng.choice(spec.roads),
            "l": rng.choice(spec.landmarks),
            "n": rng.randint(2, 8),
            "m": rng.randint(2, 5),
            "money": f"{rng.randint(12, 96) / 10:.1f}万",
            "elder": rng.choice(SURNAMES) + rng.choice(ELDER_SUFFIX),
            "clinic": f"{spec.name}卫生服务站" if spec.urban else f"{village.township.name}卫生院",
        }
        kind = rng.choice(template.kinds)
        spot = filter_name == "spot"
        by_officer = spot or rng.random() < 0.55
        if spot:
            source = "visit" if rng.random() < 0.85 else "patrol"
        elif by_officer:
            source = rng.choices(
                ["visit", "patrol", "observed", "walk_in"], weights=[55, 15, 12, 18]
            )[0]
        else:
            source = rng.choices(["phone", "hotline", "online"], weights=[35, 45, 20])[0]
        no_requester = source == "observed" or (source == "patrol" and rng.random() < 0.6)
        urgency = template.urgency
        if urgency == "normal" and "urgent" in template.tags and filter_name in ("any", "serious"):
            urgency = "urgent" if rng.random() < 0.4 else urgency
        if flow == "complex_long" or (
            filter_name == "plan" and urgency == "normal" and rng.random() < 0.4
        ):
            urgency = "complex"
        tags = list(template.tags)
        if rng.random() < 0.1:
            tags.append(rng.choice(["urgent", "difficult", "worrying", "hoped_for"]))
        handling = "on_the_spot" if spot else "routine"
        if filter_name == "plan" and rng.random() < 0.3:
            handling = "systemic"
        if "{p}" in template.title + template.text:
            address = f"{ctx['t']}{ctx['v']}{ctx['p']}"
        elif "{r}" in template.title + template.text:
            address = f"{ctx['t']}{ctx['v']}{ctx['r']}"
        else:
            address = f"{ctx['t']}{ctx['v']}"
        coords = None
        if rng.random() < 0.7:
            lat = village.centre[0] + rng.uniform(-0.004, 0.004)
            lon = village.centre[1] + rng.uniform(-0.004, 0.004)
            coords = (Decimal(f"{lat:.6f}"), Decimal(f"{lon:.6f}"))
        story = _Story(
            index=len(self.stories),
            flow=flow,
            template=template,
            village=village,
            grid=rng.choice(village.grids),
            ctx=ctx,
            kind=kind,
            urgency=urgency,
            tags=list(dict.fromkeys(tags)),
            source=source,
            by_officer=by_officer,
            requester=None if no_requester else self._requester(template, kind, ctx),
            handling=handling,
            address=address,
            coords=coords,
            nudge=nudge,
        )
        self.stories.append(story)
        return story

    # ---- units

    def lead_and_co(self, s: _Story) -> tuple[Unit, list[Unit]]:
        leaf = self.world.leaf_specs[s.template.leaf]
        units = self.world.units
        township_gov = units[s.village.township.slug]
        if leaf.local:
            return township_gov, [units[leaf.unit]]
        co = [township_gov] if self.rng.random() < 0.2 else []
        return units[leaf.unit], co

    def wrong_unit(self, s: _Story) -> Unit:
        right, _ = self.lead_and_co(s)
        pool = [
            u
            for spec, u in zip(UNITS, self.world.units.values(), strict=True)
            if spec.kind == Unit.Kind.DEPARTMENT and u.pk != right.pk and not spec.parent
        ]
        return self.rng.choice(pool)

    # ---- building blocks

    def _add(self, s: _Story, action: str, gap: timedelta, **args: Any) -> _Op:
        op = _Op(action, max(gap, timedelta(minutes=3)), args)
        s.ops.append(op)
        return op

    def register(self, s: _Story) -> None:
        self._add(s, "register", timedelta(0))

    def assign(self, s: _Story, *, wrong: bool = False, gap: timedelta | None = None) -> None:
        rng = self.rng
        lead, co = self.lead_and_co(s)
        if wrong:
            lead, co = self.wrong_unit(s), []
        if gap is None:
            gap = _hours(rng, 0.2, 1.5) if s.urgency == "urgent" else _hours(rng, 0.5, 20)
        self._add(s, "assign", gap, lead=lead, co=co)

    def accept(self, s: _Story) -> None:
        rng = self.rng
        gap = _hours(rng, 0.1, 1) if s.urgency == "urgent" else _hours(rng, 0.5, 7)
        self._add(s, "accept", gap)

    def work(self) -> timedelta:
        return _days(self.rng, 0.8, 4.5)

    def work_for(self, s: _Story) -> timedelta:
        if s.urgency == "urgent":
            return _hours(self.rng, 2, 14)
        if s.urgency == "complex":
            return _days(self.rng, 4, 14)
        return self.work()

    def progress(self, s: _Story, gap: timedelta) -> None:
        self._add(s, "progress", gap, note=self.rng.choice(PROGRESS_NOTES))

    def choose_outcome(self, s: _Story) -> str:
        t = s.template
        options = [("resolved", 70 if t.fix else 0), ("explained", 25 if t.explain else 0)]
        options.append(("referred", 5 if t.refer else 0))
        outcomes, weights = zip(*[o for o in options if o[1]], strict=True)
        return str(self.rng.choices(outcomes, weights=weights)[0])

    def reply_text(self, s: _Story, outcome: str) -> str:
        t = s.template
        closing = self.rng.choice(CLOSINGS)
        if outcome == "resolved":
            return s.text(t.fix) + closing
        if outcome == "explained":
            return s.text(t.explain) + closing
        if outcome == "planned":
            return s.text(t.plan) + "下次跟进时向群众通报进展。"
        return f"经核实，该事项由{t.refer}负责，已转交{t.refer}办理，并将联系方式告知群众。"

    def reply(
        self,
        s: _Story,
        *,
        outcome: str = "",
        gap: timedelta | None = None,
        followup_days: int | None = None,
        followup_date: date | None = None,
    ) -> None:
        outcome = outcome or self.choose_outcome(s)
        s.outcome = outcome
        if outcome == "planned" and followup_date is None and followup_days is None:
            followup_days = self.rng.randint(14, 45)
        self._add(
            s,
            "reply",
            gap if gap is not None else self.work_for(s),
            outcome=outcome,
            text=self.reply_text(s, outcome),
            followup_days=followup_days,
            followup_date=followup_date,
        )

    def callback(self, s: _Story, *, verdict: str = "", gap: timedelta | None = None) -> None:
        rng = self.rng
        if not verdict:
            if s.outcome == "resolved":
                verdict = rng.choices(["yes", "partly", "no"], weights=[86, 10, 4])[0]
            elif s.outcome == "planned":
                verdict = rng.choices(["partly", "yes", "no"], weights=[70, 20, 10])[0]
            else:
                verdict = rng.choices(["yes", "partly", "no"], weights=[55, 33, 12])[0]
        if verdict == "yes":
            satisfaction = rng.choices(
                ["very_satisfied", "satisfied", "basic"], weights=[45, 45, 10]
            )[0]
            comment = rng.choice(SATISFIED_COMMENTS)
        elif verdict == "partly":
            satisfaction = rng.choices(
                ["satisfied", "basic", "dissatisfied"], weights=[25, 55, 20]
            )[0]
            comment = rng.choice(BASIC_COMMENTS)
        else:
            satisfaction = rng.choice(["dissatisfied", "very_dissatisfied"])
            comment = rng.choice(UNHAPPY_COMMENTS)
        channel = rng.choices(["phone", "visit", "sms", "online"], weights=[60, 25, 10, 5])[0]
        op = self._add(
            s,
            "callback",
            gap if gap is not None else self.callback_gap(),
            resolved=verdict,
            satisfaction=satisfaction,
            channel=channel,
            comment=comment,
            by_officer=s.by_officer or rng.random() < 0.5,
        )
        op.final = s.outcome != "planned"

    def callback_gap(self) -> timedelta:
        """Days until the callback: within this site's callback window, or the sweep closes it."""
        most = min(5.0, settings.WENXU_CALLBACK_WINDOW_DAYS - 1.5)
        return _days(self.rng, min(0.5, most / 2), most)

    def spot(self, s: _Story, *, confirmed: bool) -> None:
        s.outcome = "resolved"
        satisfaction = self.rng.choices(["very_satisfied", "satisfied"], weights=[60, 40])[0]
        op = self._add(
            s,
            "spot",
            timedelta(0),
            text=s.text(s.template.spot),
            confirmed=confirmed,
            satisfaction=satisfaction if confirmed else "",
        )
        op.final = confirmed

    def supervise(self, s: _Story, gap: timedelta) -> None:
        self._add(
            s,
            "supervise",
            gap,
            note=self.rng.choice(SUPERVISE_NOTES),
            by_leader=self.rng.random() < 0.35,
        )

    def remind(self, s: _Story, gap: timedelta) -> None:
        self._add(s, "remind", gap, note=self.rng.choice(REMIND_NOTES))

    def request_extension(self, s: _Story) -> None:
        days = self.rng.randint(3, 10 if s.urgency == "normal" else 15)
        op = self._add(
            s,
            "request_extension",
            _days(self.rng, 0.6, 1.8),
            days=days,
            reason=self.rng.choice(EXTENSION_REASONS),
        )
        op.optional = True

    def decide_extension(self, s: _Story, *, approve: bool) -> None:
        if approve:
            op = self._add(
                s, "approve_extension", _hours(self.rng, 2, 20), note=self.rng.choice(APPROVE_NOTES)
            )
        else:
            op = self._add(
                s, "deny_extension", _hours(self.rng, 2, 20), reason=self.rng.choice(DENY_REASONS)
            )
        op.optional = True

    def reopen(self, s: _Story, gap: timedelta) -> None:
        s.outcome = ""
        self._add(s, "reopen", gap, reason=self.rng.choice(REOPEN_REASONS))

    def withdraw(self, s: _Story, gap: timedelta) -> None:
        op = self._add(s, "withdraw", gap, reason=self.rng.choice(WITHDRAW_REASONS))
        op.final = True

    def fulfil(self, s: _Story, gap: timedelta) -> None:
        done = s.text(s.template.done) if s.template.done else FULFIL_DEFAULT
        op = self._add(
            s,
            "fulfil",
            gap,
            note=FULFIL_NOTE.format(done=done),
            by_dispatcher=self.rng.random() < 0.2,
        )
        op.final = True

    def until_accepted(self, s: _Story) -> None:
        self.register(s)
        self.assign(s)
        self.accept(s)

    def until_replied(self, s: _Story, **reply: Any) -> None:
        self.until_accepted(s)
        if self.rng.random() < 0.35:
            self.progress(s, self.work_for(s) / 2)
        if s.urgency != "urgent" and "praise" not in s.template.kinds and self.rng.random() < 0.06:
            self.supervise(s, _hours(self.rng, 2, 24))
        self.reply(s, **reply)

    # ---- flows

    def build(self, flow: str, s: _Story) -> None:
        rng = self.rng
        if flow == "fresh":
            self.register(s)
        elif flow == "returned":
            self.register(s)
            self.assign(s, wrong=True, gap=_hours(rng, 0.3, 2))
            self._return(s, _hours(rng, 0.5, 3))
        elif flow == "assigned_recent":
            self.register(s)
            self.assign(s)
        elif flow == "assigned_overdue":
            self.register(s)
            self.assign(s)
            self.remind(s, _days(rng, 2.5, 6))
            if rng.random() < 0.4:
                self.supervise(s, _days(rng, 1, 3))
        elif flow == "working":
            self.until_accepted(s)
            for _ in range(rng.randint(0, 2)):
                self.progress(s, _hours(rng, 3, 30))
        elif flow in ("ext_pending", "ext_approved", "ext_denied"):
            self.until_accepted(s)
            self.request_extension(s)
            if flow != "ext_pending":
                self.decide_extension(s, approve=flow == "ext_approved")
            if flow == "ext_approved":
                self.progress(s, _days(rng, 0.5, 2))
        elif flow == "overdue_supervised":
            self.until_accepted(s)
            self.progress(s, _days(rng, 1, 3))
            self.supervise(s, _days(rng, 6, 15))
            if rng.random() < 0.5:
                self.remind(s, _days(rng, 1, 3))
        elif flow == "reopened_active":
            self.until_replied(s)
            if rng.random() < 0.6:
                self.callback(s, verdict="no")
            self.reopen(s, _days(rng, 0.5, 3))
            if rng.random() < 0.5:
                self.progress(s, _hours(rng, 4, 30))
        elif flow == "complex_long":
            self.until_accepted(s)
            self.progress(s, _days(rng, 2, 5))
            self.progress(s, _days(rng, 2, 6))
        elif flow == "replied_routine":
            self.until_replied(s)
        elif flow == "replied_planned":
            self.until_replied(s, outcome="planned")
        elif flow == "spot_replied":
            self.spot(s, confirmed=False)
        elif flow == "following":
            later = timezone.localdate(self.now) + timedelta(days=rng.randint(3, 50))
            self.until_replied(s, outcome="planned", followup_date=later)
            self.callback(s)
        elif flow == "closed_routine":
            self.until_replied(s)
            self.callback(s)
        elif flow == "spot_confirmed":
            self.spot(s, confirmed=True)
        elif flow == "spot_callback":
            self.spot(s, confirmed=False)
            self.callback(s, gap=self.callback_gap())
        elif flow == "planned_fulfilled":
            days = rng.randint(10, 40)
            self.until_replied(s, outcome="planned", followup_days=days)
            callback_gap = self.callback_gap()
            self.callback(s, gap=callback_gap)
            fulfil_gap = timedelta(days=days) - callback_gap - _days(rng, 0, 3)
            self.fulfil(s, max(fulfil_gap, timedelta(hours=12)))
        elif flow == "unreachable":
            self.until_replied(s)  # the daily sweep closes it as unreachable ten days later
        elif flow == "reopened_closed":
            self.until_replied(s)
            self.callback(s, verdict="no")
            self.reopen(s, _days(rng, 0.5, 4))
            self.reply(s)
            self.callback(s, verdict="yes")
        elif flow == "ext_closed":
            self.until_accepted(s)
            self.request_extension(s)
            self.decide_extension(s, approve=rng.random() < 0.75)
            self.reply(s, gap=_days(rng, 4, 9))
            self.callback(s)
        elif flow == "late_closed":
            self.until_accepted(s)
            self.supervise(s, _days(rng, 7, 12))
            self.reply(s, gap=_days(rng, 1, 4))
            self.callback(s)
        elif flow == "returned_closed":
            self.register(s)
            self.assign(s, wrong=True)
            self._return(s, _hours(rng, 1, 20))
            self.assign(s, gap=_hours(rng, 0.5, 8))
            self.accept(s)
            self.reply(s)
            self.callback(s)
        elif flow == "withdrawn":
            self.register(s)
            roll = rng.random()
            if roll < 0.5:
                self.withdraw(s, _hours(rng, 1, 20))
            elif roll < 0.8:
                self.assign(s)
                self.withdraw(s, _hours(rng, 2, 48))
            else:
                self.assign(s)
                self.accept(s)
                self.withdraw(s, _days(rng, 1, 4))
        else:  # pragma: no cover - a typo in FLOWS
            raise ValueError(flow)

    def _return(self, s: _Story, gap: timedelta) -> None:
        right, _ = self.lead_and_co(s)
        self._add(s, "return", gap, reason=RETURN_REASON.format(unit=right.short_name))

    # ---- time

    def _office(self, at: datetime) -> datetime:
        local = timezone.localtime(at)
        if 8 <= local.hour < 20:
            return at
        day = local.date() + timedelta(days=1 if local.hour >= 20 else 0)
        morning = datetime.combine(day, datetime.min.time()) + timedelta(
            hours=8, minutes=self.rng.randint(0, 100), seconds=self.rng.uniform(0, 60)
        )
        return timezone.make_aware(morning)

    def _times(self, s: _Story, start: datetime) -> list[datetime]:
        times = [start]
        for op in s.ops[1:]:
            at = times[-1] + op.gap
            times.append(self._office(at) if s.nudge else at)
        return times

    def schedule(self, s: _Story, window: tuple[float, float]) -> None:
        rng = self.rng
        total = sum((op.gap for op in s.ops[1:]), timedelta(0))
        end = self.now - _hours(rng, *window)
        start = end - total
        if s.nudge:
            local = timezone.localtime(start)
            start = timezone.make_aware(
                datetime.combine(local.date(), datetime.min.time())
                + timedelta(
                    minutes=rng.randint(8 * 60 + 20, 17 * 60 + 40), seconds=rng.uniform(0, 60)
                )
            )
        times = self._times(s, start)
        if times[-1] > self.limit:
            excess = times[-1] - self.limit
            step = (
                timedelta(days=excess.days + 1)
                if s.nudge
                else excess + timedelta(minutes=rng.randint(1, 20))
            )
            times = [t - step for t in times]
        while s.nudge and times[0] < self.earliest and times[-1] + timedelta(days=1) < self.limit:
            times = [t + timedelta(days=1) for t in times]
        for op, at in zip(s.ops, times, strict=True):
            op.at = at

    # ---- all of it

    def plan(self) -> list[_Story]:
        for flow, (count, filter_name, window, nudge) in FLOWS.items():
            for _ in range(count):
                story = self.new_story(flow, filter_name, nudge)
                self.build(flow, story)
                assert all(op.action not in ("register", "spot") for op in story.ops[1:]), flow
                self.schedule(story, _fit_settings(flow, window))
        self._plan_duplicates()
        return self.stories

    def _plan_duplicates(self) -> None:
        """Residents who call about a need already in the ledger: merged into it (合并)."""
        rng = self.rng
        targets = [s for s in self.stories if s.flow in MERGE_TARGET_FLOWS]
        rng.shuffle(targets)
        made = 0
        for target in targets:
            if made == MERGED_DUPLICATES:
                break
            registered = target.ops[0].at
            assert registered is not None
            dup_at = registered + _hours(rng, 2, 30)
            merge_at = dup_at + _hours(rng, 0.5, 8)
            until = target.active_until()
            if merge_at >= self.limit or (
                until is not None and merge_at >= until - timedelta(hours=1)
            ):
                continue
            dup = _Story(
                index=len(self.stories),
                flow="merged",
                template=target.template,
                village=target.village,
                grid=target.grid,
                ctx=target.ctx,
                kind=target.kind,
                urgency=target.urgency,
                tags=target.tags,
                source=rng.choice(["hotline", "phone"]),
                by_officer=False,
                requester=services.RequesterInput(name=self._person(), phone=self._phone()),
                handling="routine",
                address=target.address,
                coords=target.coords,
                nudge=False,
            )
            self.stories.append(dup)
            self.register(dup)
            dup.ops[0].at = dup_at
            self._add(dup, "merge", merge_at - dup_at, into=target).at = merge_at
            dup.ops[-1].final = True
            made += 1


# --------------------------------------------------------------------------- bursts (举一反三)


class _BurstPlanner(_Planner):
    """Residents who, in the last weeks, raise one problem at one place (`BURSTS`): the demo's
    hot topic, early signal and topic (专题). Each need's story depends on its age, like the
    others': the newest just registered, then assigned, accepted, one answered with an
    explanation, the older ones waiting on an extension while the fix is prepared, and a couple
    answered and closed a month or two before (the problem came back). Its own `Random`, so the
    other stories stay what they were."""

    def __init__(self, rng: Random, world: _World, now: datetime, stories: list[_Story]) -> None:
        super().__init__(rng, world, now)
        self.stories = stories  # appended to: the indices run on
        self.phones: set[str] = set()

    def plant(self) -> dict[str, list[_Story]]:
        """Each burst's stories, by the burst's leaf category."""
        return {spec.leaf: self._burst(spec) for spec in BURSTS}

    def _days_back(self, spec: BurstSpec) -> list[int]:
        """How many days before today each need came: one today (once the office has been open
        an hour), `recent` in the last seven complete days, the rest before them."""
        rng = self.rng
        local = timezone.localtime(self.now)
        today = 1 if local.hour * 60 + local.minute >= 9 * 60 + 30 else 0
        older = len(spec.phrasings) - spec.earlier - spec.recent - today
        backs = sorted(rng.sample(range(HOT_DAYS + 5, 2 * HOT_DAYS), spec.earlier), reverse=True)
        backs += sorted(rng.sample(range(8, spec.days + 1), older), reverse=True)
        backs += sorted(rng.sample(range(1, 8), spec.recent), reverse=True)
        return backs + [0] * today

    def _registered(self, back: int) -> datetime:
        rng = self.rng
        day = timezone.localdate(self.now) - timedelta(days=back)
        at = timezone.make_aware(
            datetime.combine(day, datetime.min.time())
            + timedelta(minutes=rng.randint(8 * 60 + 20, 17 * 60 + 40), seconds=rng.uniform(0, 60))
        )
        return min(at, self.now - timedelta(minutes=rng.randint(40, 60)))

    def _resident(self, address: str) -> services.RequesterInput:
        phone = self._phone()
        while phone in self.phones:
            phone = self._phone()
        self.phones.add(phone)
        return services.RequesterInput(name=self._person(), phone=phone, address=address)

    def _burst(self, spec: BurstSpec) -> list[_Story]:
        village = next(v for v in self.world.villages if v.spec.name == spec.village)
        made = []
        answered = False
        for phrasing, back in zip(spec.phrasings, self._days_back(spec), strict=True):
            s = self._story(spec, village, phrasing)
            start = self._registered(back)
            age = self.now - start
            if age > timedelta(days=HOT_DAYS):  # answered, the resident half content
                self.until_replied(s, outcome="explained")
                self.callback(s, verdict="partly")
            elif age < timedelta(hours=settings.WENXU_TRIAGE_HOURS * 0.8):
                self.register(s)
            elif age < timedelta(days=3):
                self.register(s)
                self.assign(s, gap=_hours(self.rng, 0.5, 6))
            elif age < timedelta(days=8) and not answered:
                answered = True
                self.until_accepted(s)
                self.reply(s, outcome="explained", gap=_days(self.rng, 0.5, 1.5))
            elif age < timedelta(days=8):
                self.until_accepted(s)
                self.progress(s, _hours(self.rng, 3, 30))
            else:
                self.until_accepted(s)
                self.progress(s, _days(self.rng, 0.5, 2))
                self.request_extension(s)
                self.decide_extension(s, approve=True)
            times = self._times(s, start)
            while len(times) > 1 and times[-1] > self.limit:  # keep what has happened by now
                times.pop()
                s.ops.pop()
            for op, at in zip(s.ops, times, strict=True):
                op.at = at
            made.append(s)
        return made

    def _story(self, spec: BurstSpec, village: _Village, phrasing: tuple[str, str]) -> _Story:
        rng = self.rng
        title, text = phrasing
        ctx: dict[str, Any] = {
            "t": village.township.name,
            "v": village.spec.name,
            "p": spec.place,
            "r": spec.road,
            "l": spec.landmark,
            "b": rng.randint(1, 12),
            "f": rng.randint(6, 11),
        }
        template = Template(
            spec.leaf, title, text, spec.kinds, where="urban", tags=spec.tags,
            fix=spec.fix, explain=spec.explain,
        )  # fmt: skip
        at_place = "{p}" in title + text
        address = f"{ctx['t']}{ctx['v']}{spec.place if at_place else spec.road}"
        source = rng.choices(["phone", "hotline", "online", "walk_in", "visit"], [3, 4, 2, 1, 1])[0]
        lat = village.centre[0] + rng.uniform(-0.001, 0.001)
        lon = village.centre[1] + rng.uniform(-0.001, 0.001)
        story = _Story(
            index=len(self.stories),
            flow="burst",
            template=template,
            village=village,
            grid=village.grids[0],
            ctx=ctx,
            kind=rng.choice(spec.kinds),
            urgency="normal",
            tags=list(spec.tags),
            source=source,
            by_officer=source in ("walk_in", "visit"),
            requester=self._resident(f"{address}{ctx['b']}栋" if at_place else ""),
            handling="routine",
            address=address,
            coords=(Decimal(f"{lat:.6f}"), Decimal(f"{lon:.6f}")),
        )
        self.stories.append(story)
        return story


# --------------------------------------------------------------------------- visits (走访)


@dataclass
class _VisitSpec:
    """One visit to record: by an officer, at a place (or just in a grid)."""

    at: datetime
    officer: User
    kind: str
    area: Area
    place: Place | None
    summary: str
    mood: int
    mood_note: str
    people_met: int
    companions: str
    senses: tuple[int | None, int | None, int | None]
    client_uuid: uuid.UUID

    def draft(self, needs: tuple[NeedDraft, ...] = ()) -> VisitDraft:
        return VisitDraft(
            client_uuid=self.client_uuid,
            payload_hash=hashlib.sha256(str(self.client_uuid).encode()).hexdigest(),
            kind=self.kind,
            area=self.area,
            place=self.place,
            started_at=self.at,
            ended_at=self.at + timedelta(minutes=20 if self.kind == "phone" else 50),
            mood=self.mood,
            mood_note=self.mood_note,
            people_met=self.people_met,
            companions=self.companions,
            summary=self.summary,
            sense_gain=self.senses[0],
            sense_happiness=self.senses[1],
            sense_security=self.senses[2],
            needs=needs,
        )


class _VisitPlanner:
    """Places in the demo officers' villages, and some four months of visits there: most raise
    no need; some stories' needs are registered during a visit (马上就办 among them, and one
    望闻问切). Its own `Random`, so the needs' stories stay what they were without visits."""

    MOODS = (1, 2, 3, 4, 5)
    MOOD_WEIGHTS = (3, 8, 30, 42, 17)

    def __init__(self, rng: Random, world: _World, now: datetime) -> None:
        self.rng = rng
        self.world = world
        self.now = now
        self.villages = [v for v in world.villages if v.spec.name in VISIT_VILLAGES]
        self.households: dict[int, list[Place]] = {}  # grid id → households
        self.others: dict[str, list[Place]] = {}  # village name → enterprises, public places

    # ---- places

    def _door(self, village: _Village, taken: set[str]) -> str:
        rng, spec = self.rng, village.spec
        while True:
            if spec.urban:
                name = URBAN_DOOR.format(
                    p=rng.choice(spec.places),
                    b=rng.randint(1, 12),
                    u=rng.randint(1, 3),
                    r=f"{rng.randint(1, 6)}0{rng.randint(1, 2)}",
                )
            else:
                name = RURAL_DOOR.format(p=rng.choice(spec.places), n=rng.randint(1, 88))
            if name not in taken:
                taken.add(name)
                return name

    def _phone(self) -> str:
        return f"{self.rng.choice(MOBILE_PREFIXES)}0000{self.rng.randrange(10000):04d}"

    def build_places(self) -> int:
        rng = self.rng
        made: list[Place] = []
        for village in self.villages:
            where = f"{village.township.name}{village.spec.name}"
            for grid in village.grids:
                taken: set[str] = set()
                for _ in range(HOUSEHOLDS_PER_GRID):
                    name = self._door(village, taken)
                    made.append(
                        Place(
                            area=grid,
                            kind=PlaceKind.HOUSEHOLD,
                            name=name,
                            address=f"{where}{name}",
                            contact_name=rng.choice(SURNAMES) + rng.choice(GIVEN),
                            contact_phone=self._phone(),
                            members=rng.randint(1, 6),
                        )
                    )
            landmarks = village.spec.landmarks[:2]
            for index, landmark in enumerate(landmarks):
                made.append(
                    Place(
                        area=village.grids[index % len(village.grids)],
                        kind=PlaceKind.PUBLIC,
                        name=landmark,
                        address=f"{where}{landmark}",
                        note=PUBLIC_PLACE_NOTE,
                    )
                )
            if not village.spec.urban:
                name = rng.choice(ENTERPRISE_NAMES).format(v=village.spec.name)
                made.append(
                    Place(
                        area=rng.choice(village.grids),
                        kind=PlaceKind.ENTERPRISE,
                        name=name,
                        address=where,
                        contact_name=rng.choice(SURNAMES) + rng.choice(GIVEN),
                        contact_phone=self._phone(),
                    )
                )
        # One household moved away: it stays on record but no longer counts (在册 unticked).
        made[1].active = False
        Place.objects.bulk_create(made)
        for place in Place.objects.filter(area__in=[g for v in self.villages for g in v.grids]):
            if place.kind == PlaceKind.HOUSEHOLD and place.active:
                self.households.setdefault(place.area_id, []).append(place)
            elif place.kind != PlaceKind.HOUSEHOLD:
                village = next(v for v in self.villages if place.area in v.grids)
                self.others.setdefault(village.spec.name, []).append(place)
        return len(made)

    # ---- visits

    def _uuid(self) -> uuid.UUID:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    def _at(self) -> datetime:
        """Office hours on a day of the last four months, more of them recent."""
        rng = self.rng
        days = rng.uniform(0.5, VISIT_DAYS) * rng.random() ** 0.4
        day = timezone.localdate(self.now - timedelta(days=days))
        at = timezone.make_aware(
            datetime.combine(day, datetime.min.time())
            + timedelta(minutes=rng.randint(8 * 60 + 30, 17 * 60))
        )
        while at > self.now - timedelta(minutes=30):
            at -= timedelta(days=1)
        return at

    def _senses(self, mood: int) -> tuple[int | None, int | None, int | None]:
        rng = self.rng
        if rng.random() < 0.35:
            return (None, None, None)

        def near() -> int:
            return min(5, max(1, mood + rng.choice((-1, 0, 0, 1))))

        return (near(), near(), min(5, near() + 1))

    def _mood(self, low: int = 1, high: int = 5) -> int:
        pool = [
            (m, w) for m, w in zip(self.MOODS, self.MOOD_WEIGHTS, strict=True) if low <= m <= high
        ]
        return self.rng.choices([m for m, _ in pool], weights=[w for _, w in pool])[0]

    def _elder(self, place: Place | None) -> str:
        title = self.rng.choice(SURNAMES) + self.rng.choice(ELDER_SUFFIX)
        return f"{place.name}{title}" if place is not None else title

    def _spec(
        self, *, at: datetime, village: _Village, kind: str, area: Area, place: Place | None,
        summary: str, mood: int, people: int,
    ) -> _VisitSpec:  # fmt: skip
        rng = self.rng
        return _VisitSpec(
            at=at,
            officer=self.world.officer_of[village.township.name],
            kind=kind,
            area=area,
            place=place,
            summary=summary,
            mood=mood,
            mood_note=rng.choice(MOOD_NOTES[mood]),
            people_met=people,
            companions="" if kind == "phone" else rng.choice(COMPANIONS),
            senses=self._senses(mood) if kind in ("home", "forum", "phone") else (None,) * 3,
            client_uuid=self._uuid(),
        )

    def standalone(self) -> list[_VisitSpec]:
        rng = self.rng
        specs: list[_VisitSpec] = []
        for kind, count in VISIT_MIX:
            for _ in range(count):
                village = rng.choice(self.villages)
                place: Place | None = None
                area = rng.choice(village.grids)
                people = rng.randint(1, 4)
                if kind in ("home", "phone"):
                    place = rng.choice(self.households[area.pk])
                    name = self._elder(place)
                elif kind in ("enterprise", "forum"):
                    wanted = PlaceKind.ENTERPRISE if kind == "enterprise" else PlaceKind.PUBLIC
                    pool = [
                        p for v in self.villages for p in self.others.get(v.spec.name, ())
                        if p.kind == wanted
                    ]  # fmt: skip
                    place = rng.choice(pool)
                    village = next(v for v in self.villages if place.area in v.grids)
                    area = place.area
                    name = place.name
                    people = rng.randint(8, 26) if kind == "forum" else rng.randint(2, 5)
                else:
                    rural = kind == "field"
                    village = rng.choice([v for v in self.villages if v.spec.urban != rural])
                    area = rng.choice(village.grids)
                    name = ""
                    people = rng.randint(3, 9)
                summary = rng.choice(VISIT_SUMMARIES[kind]).format(
                    name=name, n=people, place=rng.choice(village.spec.places)
                )
                specs.append(
                    self._spec(at=self._at(), village=village, kind=kind, area=area,
                               place=place, summary=summary, mood=self._mood(), people=people)
                )  # fmt: skip
        return specs

    def attach(self, stories: Sequence[_Story]) -> int:
        """Some stories' first action becomes a visit that raised the need."""
        rng = self.rng
        wanted = {"spot": 4, "observed": 1, "routine": 4}
        attached = 0
        for s in stories:
            first = s.ops[0]
            if (
                first.at is None
                or first.at < self.now - timedelta(days=VISIT_DAYS)
                or not s.nudge
                or s.village.spec.name not in VISIT_VILLAGES
                or s.grid.pk not in self.households
            ):
                continue
            if first.action == "spot":
                how = "spot"
            elif first.action == "register" and s.by_officer and s.source in ("visit", "observed"):
                how = "observed" if s.source == "observed" else "routine"
            else:
                continue
            if wanted[how] == 0:
                continue
            wanted[how] -= 1
            place = rng.choice(self.households[s.grid.pk])
            mood = {"spot": self._mood(4, 5), "observed": 3, "routine": self._mood(2, 4)}[how]
            summary = VISIT_WITH_NEED[how].format(name=self._elder(place), title=s.title)
            first.args["visit"] = self._spec(
                at=first.at, village=s.village, kind=VisitKind.HOME, area=s.grid, place=place,
                summary=summary, mood=mood, people=rng.randint(1, 3),
            )  # fmt: skip
            attached += 1
        return attached


def _record_visit(spec: _VisitSpec, needs: tuple[NeedDraft, ...] = ()) -> Visit:
    return visit_record(actor=spec.officer, draft=spec.draft(needs)).visit


def _build_plans(world: _World, now: datetime) -> int:
    """The standing duties of the demo township: created by the dispatcher, half a year ago."""
    start = timezone.localdate(now) - timedelta(days=HISTORY_DAYS)
    start = start.replace(month=(start.month - 1) // 3 * 3 + 1, day=1)
    within = Area.objects.filter(path__startswith=world.county.path)
    for name, kind, period, area, place_kind, visit_kind, target, officer in PLANS:
        visit_plans.plan_create(
            actor=world.users["dispatcher"],
            data=visit_plans.PlanInput(
                name=name,
                kind=kind,
                period=period,
                area=within.get(name=area),
                starts_on=start,
                place_kind=place_kind,
                visit_kind=visit_kind,
                target=target,
                officer=world.users[officer] if officer else None,
            ),
        )
    return len(PLANS)


# --------------------------------------------------------------------------- replay


class _Replay:
    """Plays every action of every story, and the daily sweep, in time order."""

    def __init__(self, world: _World) -> None:
        self.world = world
        self.skipped = 0

    def run(
        self,
        stories: Sequence[_Story],
        sweep_times: Iterable[datetime],
        progress: Callable[[str], None],
        visits: Sequence[_VisitSpec] = (),
    ) -> None:
        entries: list[tuple[datetime, int, int, int]] = [(at, 0, -1, 0) for at in sweep_times]
        for s in stories:
            for i, op in enumerate(s.ops):
                assert op.at is not None
                entries.append((op.at, 1, s.index, i))
        entries += [(spec.at, 2, index, 0) for index, spec in enumerate(visits)]
        entries.sort()
        quarters = {len(entries) * k // 4: k for k in (1, 2, 3)}
        for n, (at, kind, index, i) in enumerate(entries, start=1):
            with clock.travel(at):
                if kind == 0:
                    sweeps.sweep(insight=False)  # hot topics and signals: once, at the end
                elif kind == 1:
                    self._play(stories[index], stories[index].ops[i])
                else:
                    _record_visit(visits[index])
            if n in quarters:
                progress(f"  …已回放 {quarters[n] * 25}%")

    def _play(self, s: _Story, op: _Op) -> None:
        try:
            self._apply(s, op)
        except IllegalTransition:
            if not op.optional:
                raise
            self.skipped += 1

    def _raised_in_visit(self, s: _Story, op: _Op, common: dict[str, Any]) -> int:
        """Register the story's need through the visit that raised it (`visit_record`)."""
        a = op.args
        spot = op.action == "spot"
        draft = NeedDraft(
            title=common["title"],
            description=common["description"],
            kind=common["kind"],
            area=common["area"],
            source=common["source"],
            category=common["category"],
            urgency=common["urgency"],
            nature_tags=tuple(common["nature_tags"]),
            address=common["address"],
            latitude=common["latitude"],
            longitude=common["longitude"],
            requester=common["requester"],
            handling="on_the_spot" if spot else s.handling,
            reply_text=a["text"] if spot else "",
            confirmed=bool(a["confirmed"]) if spot else False,
            satisfaction=a["satisfaction"] if spot else "",
        )
        visit = _record_visit(a["visit"], (draft,))
        return Need.objects.values_list("pk", flat=True).get(visit=visit)

    def _officer(self, s: _Story) -> User:
        return self.world.officer_of[s.village.township.name]

    def _apply(self, s: _Story, op: _Op) -> None:
        users = self.world.users
        a = op.args
        if op.action in ("register", "spot"):
            common: dict[str, Any] = {
                "title": s.title,
                "description": s.description
                if s.flow != "merged"
                else f"{s.description}（又有群众来电反映同一问题）",
                "kind": s.kind,
                "source": s.source,
                "area": s.grid,
                "category": self.world.leaves[s.template.leaf],
                "urgency": s.urgency,
                "nature_tags": s.tags,
                "address": s.address,
                "latitude": s.coords[0] if s.coords else None,
                "longitude": s.coords[1] if s.coords else None,
                "requester": s.requester,
            }
            if "visit" in a:
                s.need_id = self._raised_in_visit(s, op, common)
                return
            if op.action == "spot":
                need = services.need_register_on_the_spot(
                    actor=self._officer(s),
                    reply_text=a["text"],
                    confirmed=a["confirmed"],
                    satisfaction=a["satisfaction"],
                    **common,
                )
            else:
                need = services.need_register(
                    actor=self._officer(s) if s.by_officer else users["dispatcher"],
                    handling=s.handling,
                    **common,
                )
            s.need_id = need.pk
            return
        assert s.need_id is not None
        # Like a person who opens the need and acts: the version they saw is the current one.
        row = Need.objects.values("version", "lead_unit_id").get(pk=s.need_id)
        ref: dict[str, Any] = {"need": s.need_id, "version": row["version"]}
        handler = self.world.handler_of.get(row["lead_unit_id"] or 0)
        dispatcher = users["dispatcher"]
        if op.action == "assign":
            services.need_assign(actor=dispatcher, lead_unit=a["lead"], co_units=a["co"], **ref)
        elif op.action == "accept":
            services.need_accept(actor=_required(handler), **ref)
        elif op.action == "return":
            services.need_return(actor=_required(handler), reason=a["reason"], **ref)
        elif op.action == "progress":
            services.need_progress(actor=_required(handler), note=a["note"], **ref)
        elif op.action == "request_extension":
            services.need_request_extension(
                actor=_required(handler), days=a["days"], reason=a["reason"], **ref
            )
        elif op.action == "approve_extension":
            services.need_approve_extension(actor=dispatcher, note=a["note"], **ref)
        elif op.action == "deny_extension":
            services.need_deny_extension(actor=dispatcher, reason=a["reason"], **ref)
        elif op.action == "reply":
            followup = a["followup_date"]
            if a["followup_days"] is not None:
                followup = clock.today() + timedelta(days=a["followup_days"])
            services.need_reply(
                actor=_required(handler),
                outcome=a["outcome"],
                reply_text=a["text"],
                followup_date=followup,
                **ref,
            )
        elif op.action == "callback":
            services.need_callback(
                actor=self._officer(s) if a["by_officer"] else dispatcher,
                resolved=a["resolved"],
                satisfaction=a["satisfaction"],
                channel=a["channel"],
                comment=a["comment"],
                **ref,
            )
        elif op.action == "fulfil":
            actor = dispatcher if a["by_dispatcher"] else _required(handler)
            services.need_fulfil(actor=actor, note=a["note"], **ref)
        elif op.action == "reopen":
            services.need_reopen(actor=dispatcher, reason=a["reason"], **ref)
        elif op.action == "supervise":
            actor = users["leader"] if a["by_leader"] else dispatcher
            services.need_supervise(actor=actor, note=a["note"], **ref)
        elif op.action == "remind":
            services.need_remind(actor=dispatcher, note=a["note"], **ref)
        elif op.action == "withdraw":
            services.need_withdraw(actor=dispatcher, reason=a["reason"], **ref)
        elif op.action == "merge":
            target: _Story = a["into"]
            assert target.need_id is not None
            services.need_merge(actor=dispatcher, into=Need.objects.get(pk=target.need_id), **ref)
        else:  # pragma: no cover - a typo in the planner
            raise ValueError(op.action)


def _required(user: User | None) -> User:
    if user is None:  # pragma: no cover - every unit has a demo handler
        raise LookupError("no demo handler for the lead unit")
    return user


def _sweep_times(now: datetime) -> list[datetime]:
    """07:00 every morning of the six months, as the periodic sweep would have run."""
    today = timezone.localdate(now)
    times = []
    for back in range(HISTORY_DAYS, -1, -1):
        day = today - timedelta(days=back)
        at = timezone.make_aware(datetime.combine(day, datetime.min.time()) + timedelta(hours=7))
        if at < now - timedelta(minutes=5):
            times.append(at)
    return times


# --------------------------------------------------------------------------- entry point


@dataclass
class Summary:
    seconds: float
    areas: dict[str, int]
    units: int
    categories: int
    accounts: int
    needs: int
    events: int
    by_status: dict[str, int]
    skipped: int
    places: int = 0
    visits: int = 0
    hot_topics: int = 0  # groups of the latest scheduled hot-topic run
    hottest: str = ""  # its hottest group's label
    signals: int = 0
    topics: int = 0
    router_models: int = 0  # active routing models
    routing_rules: int = 0


def load(
    *,
    password: str,
    seed: int = DEFAULT_SEED,
    progress: Callable[[str], None] | None = None,
) -> Summary:
    """Create the demo county in one transaction: a failure half-way leaves nothing behind.

    Raises `DemoConflict` when demo usernames are taken in a database without the county.
    """
    say = progress or (lambda _message: None)
    started = time.monotonic()
    rng = Random(seed)
    now = timezone.now()
    # The replayed sweeps send six months of text messages through the console backend: kept in
    # the outbox, not printed over the progress lines.
    with _quiet("wenxu.notify"), transaction.atomic():
        say("建立区划网格、责任单位、诉求分类、办理时限和演示账号……")
        world = _build_world(rng, password)
        stories = _Planner(rng, world, now).plan()
        visits = _VisitPlanner(Random(seed + 1), world, now)
        places = visits.build_places()
        raised = visits.attach(stories)
        standalone = visits.standalone()
        planted = _BurstPlanner(Random(seed + 2), world, now, stories).plant()
        say(
            f"模拟近六个月的问需办理：{len(stories)} 条诉求，逐条走完登记、交办、签收、答复、回访；"
            f"{places} 个走访对象，{len(standalone) + raised} 次走访……"
        )
        replay = _Replay(world)
        replay.run(stories, _sweep_times(now), say, standalone)
        _build_plans(world, now)
        say("举一反三：训练分派模型、计算热点、发现预警、建立专题……")
        notes = _insight(world, planted, now)
    for note in notes:
        say(note)
    return summary(time.monotonic() - started, skipped=replay.skipped)


def _insight(world: _World, planted: dict[str, list[_Story]], now: datetime) -> list[str]:
    """举一反三 at the end of the history, as the worker and the county dispatcher would have
    done: routing models trained on the ledger's decisions and a few keyword rules, the hot
    topics of the last 30 days, today's early signals, and a topic (专题) opened from the
    hottest group. Returns notes for the progress output."""
    notes: list[str] = []
    try:
        # One BLAS thread: on a few hundred samples more threads only wait for each other, and
        # on a busy machine they make the training many times slower.
        with threadpool_limits(limits=1):
            router_train(actor=world.users["admin"])
    except NotEnoughData as refused:  # pragma: no cover - the demo ledger is big enough
        notes.append(f"未训练分派模型：{refused.message}")
    for name, words, leaf, unit in ROUTING_RULES:
        rule = RoutingRule(
            name=name, keywords=words, category=world.leaves[leaf], unit=world.units[unit]
        )
        rule.full_clean()
        rule.save()
    run = hot_topic_run_create(actor=None, days=HOT_DAYS, now=now)
    hot_topic_run_execute(run_id=run.pk)
    rollup_catch_up()
    if not signals_detect(at=now):
        notes.append("今天没有发现新的预警（统计口径未满一天时，后台程序稍后会再发现）。")
    water = {s.need_id for s in planted.get(BURSTS[0].leaf, [])}
    group = next(
        (g for g in run.groups.order_by("rank") if water & set(g.need_ids)),
        None,
    )
    if group is None:  # pragma: no cover - the planted burst is the hottest topic
        notes.append("热点中没有找到演示的集中诉求，未建立专题。")
    else:
        _open_topic(world, group, now)
    return notes


def _open_topic(world: _World, group: HotTopicGroup, now: datetime) -> Topic:
    spec = BURSTS[0]
    village = next(v for v in world.villages if v.spec.name == spec.village)
    names = {"p": spec.place, "v": spec.village}
    dispatcher = world.users["dispatcher"]
    start = timezone.localdate(now) - timedelta(days=3)
    topic = topics.topic_create(
        actor=dispatcher,
        title=TOPIC["title"].format(**names),
        area=village.area,
        summary=TOPIC["summary"].format(**names),
        root_cause=TOPIC["root_cause"],
        category=world.leaves[spec.leaf],
        owner_unit=world.units[TOPIC["owner_unit"]],
        measures_from=start,
        source_group_id=group.pk,
        needs=Need.objects.filter(pk__in=group.need_ids),
    )
    topic = topics.topic_set_status(
        actor=dispatcher, topic=topic, version=topic.version, status=TopicStatus.ACTING
    )
    for title, description, unit, days, started in TOPIC_MEASURES:
        measure = topics.measure_add(
            actor=dispatcher,
            topic=topic,
            title=title.format(**names),
            description=description,
            owner_unit=world.units[unit],
            due_date=start + timedelta(days=days),
        )
        if started:
            topics.measure_update(
                actor=dispatcher, measure=measure, status=MeasureStatus.IN_PROGRESS
            )
    for title, progress, days, done in TOPIC_MILESTONES:
        milestone = topics.milestone_add(
            actor=dispatcher,
            topic=topic,
            title=title,
            progress=progress,
            due_date=start + timedelta(days=days),
        )
        if done:  # each linked requester is told by text message (the outbox)
            topics.milestone_complete(
                actor=dispatcher, milestone=milestone, note=TOPIC_MILESTONE_NOTE
            )
    return topic


@contextmanager
def _quiet(name: str) -> Iterator[None]:
    log = logging.getLogger(name)
    level = log.level
    log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        log.setLevel(level)


def summary(seconds: float = 0.0, *, skipped: int = 0) -> Summary:
    county = Area.objects.get(code=COUNTY_CODE)
    areas = Area.objects.filter(path__startswith=county.path)
    needs = Need.objects.filter(area__path__startswith=county.path)
    by_status = dict(
        needs.order_by().values_list("status").annotate(n=Count("id")).values_list("status", "n")
    )
    run = (
        HotTopicRun.objects.filter(requested_by__isnull=True, state=HotTopicRun.State.DONE)
        .order_by("-id")
        .first()
    )
    groups = list(run.groups.order_by("rank").values_list("label", flat=True)) if run else []
    return Summary(
        seconds=seconds,
        areas=dict(
            areas.order_by().values_list("level").annotate(n=Count("id")).values_list("level", "n")
        ),
        units=Unit.objects.filter(name__in=[u.name for u in UNITS]).count(),
        categories=Category.objects.count(),
        accounts=User.objects.filter(username__in=[a.username for a in accounts()]).count(),
        needs=sum(by_status.values()),
        events=sum(needs.annotate(n=Count("events")).values_list("n", flat=True)),
        by_status=by_status,
        skipped=skipped,
        places=Place.objects.filter(area__path__startswith=county.path).count(),
        visits=Visit.objects.filter(area__path__startswith=county.path).count(),
        hot_topics=len(groups),
        hottest=groups[0] if groups else "",
        signals=Signal.objects.filter(area__path__startswith=county.path).count(),
        topics=Topic.objects.filter(area__path__startswith=county.path).count(),
        router_models=RouterModel.objects.filter(active=True).count(),
        routing_rules=RoutingRule.objects.filter(active=True).count(),
    )
