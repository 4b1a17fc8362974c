"""Personas and a small county shared by every test (DESIGN §2).

The world: 青山县 with two townships. `officer` works 东河镇's grids, `officer_b` 西岭乡's;
`dispatcher` and `leader` cover the county; `handler` works at 住建局, `handler_other` at
交通局; `admin` configures. Each test that reads needs should name who must get 404.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.utils import translation

from wenxu.accounts.models import Membership, User
from wenxu.needs import services
from wenxu.needs.models import Category, Need
from wenxu.organisations.models import Area, Unit


@dataclass
class World:
    county: Area
    town_a: Area
    town_b: Area
    village_a: Area
    grid_a: Area
    village_b: Area
    grid_b: Area
    housing: Unit
    transport: Unit
    transport_roads: Unit
    town_a_gov: Unit
    cat_roads: Category
    cat_water: Category
    admin: User
    dispatcher: User
    officer: User
    officer_b: User
    handler: User
    handler_other: User
    handler_roads: User
    leader: User
    outsider: User

    def register(self, *, actor: User | None = None, **overrides: Any) -> Need:
        values: dict[str, Any] = {
            "title": "村口路灯不亮",
            "description": "东河村村口三盏路灯坏了一个多月，晚上出行不便。",
            "kind": "help",
            "source": "visit",
            "area": self.grid_a,
            "category": self.cat_roads,
        }
        values.update(overrides)
        return services.need_register(actor=actor or self.officer, **values)

    def assigned(self, *, lead: Unit | None = None, **overrides: Any) -> Need:
        need = self.register(**overrides)
        return services.need_assign(
            actor=self.dispatcher, need=need, version=need.version, lead_unit=lead or self.housing
        )

    def in_progress(self, **overrides: Any) -> Need:
        need = self.assigned(**overrides)
        return services.need_accept(actor=self.handler, need=need, version=need.version)

    def replied(self, outcome: str = "resolved", **overrides: Any) -> Need:
        from datetime import timedelta

        from wenxu.lib import clock

        need = self.in_progress(**overrides)
        return services.need_reply(
            actor=self.handler,
            need=need,
            version=need.version,
            outcome=outcome,
            reply_text="已更换路灯，恢复照明。",
            followup_date=clock.today() + timedelta(days=30) if outcome == "planned" else None,
        )


def _membership(user: User, role: str, scope: Area | Unit) -> Membership:
    if isinstance(scope, Area):
        return Membership(user=user, role=role, area=scope)
    return Membership(user=user, role=role, unit=scope)


def _user(username: str, name: str, *memberships: tuple[str, Area | Unit]) -> User:
    """One user (password "pw-" + the username) with any number of memberships."""
    user = User.objects.create_user(username=username, password="pw-" + username, display_name=name)
    Membership.objects.bulk_create(_membership(user, *m) for m in memberships)
    return user


def _users(*specs: tuple[str, str, tuple[str, Area | Unit] | None]) -> list[User]:
    """Users (username, display name, one membership or none) in one INSERT and their
    memberships in another: `world` sets them up for most of the suite's tests, on both
    databases. The password of each is "pw-" + the username."""
    users = User.objects.bulk_create(
        User(username=username, display_name=name, password=make_password("pw-" + username))
        for username, name, _scope in specs
    )
    Membership.objects.bulk_create(
        _membership(user, *spec[2]) for user, spec in zip(users, specs, strict=True) if spec[2]
    )
    return users


@pytest.fixture(autouse=True)
def _default_language() -> Iterator[None]:
    """Each test starts and ends in the default language: Django's LocaleMiddleware leaves a
    request's language active in the thread, so a test that asked for English left the next
    test in its worker in English (test_backup's Chinese messages, after test_security_headers)."""
    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture(autouse=True)
def _no_random_rate_counter_sweep(monkeypatch: pytest.MonkeyPatch) -> None:
    """The rate limiter deletes ended counters on about one hit in `SWEEP_ONE_IN` (at random):
    one statement more on about one request in a hundred behind it, which made a query-counted
    test fail now and then (the Open311 listing's, in CI). Its own tests set it as they need."""
    from wenxu.lib import ratelimit

    monkeypatch.setattr(ratelimit, "SWEEP_ONE_IN", 10**9)


@pytest.fixture
def world(db: None) -> World:
    # the trees a few statements each (TreeNode.create_tree), not four statements a node
    county = Area(name="青山县", level="county", code="330100")
    town_a = Area(name="东河镇", level="township", parent=county)
    town_b = Area(name="西岭乡", level="township", parent=county)
    village_a = Area(name="东河村", level="village", parent=town_a)
    grid_a = Area(name="东河村第一网格", level="grid", parent=village_a)
    village_b = Area(name="西岭村", level="village", parent=town_b)
    grid_b = Area(name="西岭村第一网格", level="grid", parent=village_b)
    Area.create_tree([county, town_a, town_b, village_a, grid_a, village_b, grid_b])
    housing = Unit(name="青山县住房和城乡建设局", short_name="县住建局", kind="department")
    transport = Unit(name="青山县交通运输局", short_name="县交通局", kind="department")
    roads = Unit(
        name="青山县公路养护中心", short_name="公路养护中心", kind="department", parent=transport
    )
    town_a_gov = Unit(name="东河镇人民政府", short_name="东河镇", kind="township")
    Unit.create_tree([housing, transport, roads, town_a_gov])
    cat_infra = Category(name="城乡建设")
    cat_roads = Category(name="道路与照明", parent=cat_infra)
    cat_water = Category(name="供水", parent=cat_infra)
    Category.create_tree([cat_infra, cat_roads, cat_water])
    (
        admin,
        dispatcher,
        officer,
        officer_b,
        handler,
        handler_other,
        handler_roads,
        leader,
        outsider,
    ) = _users(
        ("admin", "管理员", ("admin", county)),
        ("dispatcher", "调度员", ("dispatcher", county)),
        ("officer", "王网格", ("officer", town_a)),
        ("officer_b", "李网格", ("officer", town_b)),
        ("handler", "住建承办人", ("handler", housing)),
        ("handler_other", "交通承办人", ("handler", transport)),
        ("handler_roads", "养护承办人", ("handler", roads)),
        ("leader", "县领导", ("leader", county)),
        ("outsider", "无权限用户", None),
    )
    return World(
        county=county,
        town_a=town_a,
        town_b=town_b,
        village_a=village_a,
        grid_a=grid_a,
        village_b=village_b,
        grid_b=grid_b,
        housing=housing,
        transport=transport,
        transport_roads=roads,
        town_a_gov=town_a_gov,
        cat_roads=cat_roads,
        cat_water=cat_water,
        admin=admin,
        dispatcher=dispatcher,
        officer=officer,
        officer_b=officer_b,
        handler=handler,
        handler_other=handler_other,
        handler_roads=handler_roads,
        leader=leader,
        outsider=outsider,
    )


# Fixtures through which a test reaches the database (directly or through `world`). Not
# django_db_blocker: pytest-django's autouse fixtures request it for every test; a fixture that
# unblocks the database for a module also requests django_db_setup.
_DATABASE_FIXTURES = frozenset(
    {
        "db",
        "transactional_db",
        "django_db_setup",
        "django_db_reset_sequences",
        "django_db_serialized_rollback",
        "live_server",
    }
)


def _uses_database(item: pytest.Item) -> bool:
    names = set(getattr(item, "fixturenames", ()))
    return bool(names & _DATABASE_FIXTURES) or item.get_closest_marker("django_db") is not None


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On PostgreSQL, leave out the tests that never touch a database.

    pytest-django refuses database access to a test without a database fixture, so such a test
    does exactly the same on both databases; CI runs the suite on SQLite first, with them.

    Under `--dist loadgroup` (pyproject.toml), a test marked `xdist_group` must carry its group
    in its node id by now (pytest-xdist adds it), or the group's expensive module fixtures (the
    demo county, the generated city) are built once per worker instead of once.
    """
    if getattr(config.option, "loadgroup", False):
        ungrouped = [
            item.nodeid
            for item in items
            if item.get_closest_marker("xdist_group") and "@" not in item.nodeid
        ]
        if ungrouped:
            raise pytest.UsageError(
                "pytest-xdist did not group the tests marked xdist_group (a pytest it does not "
                f"support?), e.g. {ungrouped[0]}: check the pytest pin in pyproject.toml"
            )
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        return
    kept = [item for item in items if _uses_database(item)]
    if len(kept) < len(items):
        config.hook.pytest_deselected(items=[item for item in items if not _uses_database(item)])
        items[:] = kept
