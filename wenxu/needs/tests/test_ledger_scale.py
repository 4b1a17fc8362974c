"""The ledger's city-scale path, by its rules (ADR 0021): the narrow scope's hint, the count in
two parts and its cap, keyset pages while needs are added, and the keyset helper the other lists
use. How fast it is, is measured by bench/b2_ledger.py, not here.

Every viewer is checked against the plain scoped query (`need_queryset_for_user` and
`apply_filters`), which says which needs they may see: the faster path must list and count
exactly those.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from conftest import World
from wenxu.accounts.models import User
from wenxu.lib import clock
from wenxu.needs import selectors, services, states
from wenxu.needs.exceptions import InvalidInput
from wenxu.needs.models import Need
from wenxu.needs.selectors import NeedFilters

ACTIVE: list[str] = sorted(states.ACTIVE)
PERSONAS = (
    "dispatcher",
    "leader",
    "officer",
    "officer_b",
    "handler",
    "handler_other",
    "handler_roads",
    "outsider",
)


def _fresh(user: User) -> User:
    """The user as a new request has it (memberships not cached yet)."""
    return User.objects.get(pk=user.pk)


@pytest.fixture
def mixed(world: World) -> list[Need]:
    """Needs that reach their viewers by every path the scope has: an area, a lead unit, a
    sub-unit, a co unit; recorded by the viewer outside their area; no lead unit yet; a
    criticism of a unit that co-handles it; closed, and overdue."""
    needs = [world.register(title="未交办") for _ in range(3)]
    needs += [world.assigned(title="住建主办") for _ in range(3)]
    needs += [world.assigned(lead=world.transport_roads, title="养护主办") for _ in range(2)]
    for i in range(3):
        need = world.register(area=world.grid_b, actor=world.officer_b, title=f"协办{i}")
        needs.append(
            services.need_assign(
                actor=world.dispatcher,
                need=need,
                version=need.version,
                lead_unit=world.transport,
                co_units=[world.housing, world.town_a_gov],
            )
        )
    moved = world.register(title="登记后移出本镇")
    Need.objects.filter(pk=moved.pk).update(area=world.grid_b)
    needs.append(moved)
    critic = world.register(kind="criticism", about_unit=world.housing, title="批评住建")
    critic = services.need_assign(
        actor=world.dispatcher, need=critic, version=critic.version, lead_unit=world.transport
    )
    # co-handled by the unit it criticises, as an import or older data may have it (the
    # services refuse to give it to that unit)
    Need.co_units.through.objects.create(need=critic, unit=world.housing)
    needs.append(critic)
    with clock.travel(clock.now() - timedelta(days=40)):
        needs.append(world.assigned(title="早已超期"))
    closed = world.replied(title="已答复")
    needs.append(closed)
    return needs


def _expected(user: User, filters: NeedFilters) -> set[int]:
    qs = selectors.apply_filters(selectors.need_queryset_for_user(user=user), filters)
    return set(qs.values_list("pk", flat=True))


def _walk(
    user: User, filters: NeedFilters, sort: str, limit: int, between: Any = None
) -> tuple[list[Need], int, bool]:
    seen: list[Need] = []
    cursor = None
    first = None
    while True:
        page = selectors.need_ledger_page_for_user(
            user=user, filters=filters, sort=sort, cursor=cursor, limit=limit
        )
        first = first or page
        seen.extend(page.needs)
        if between is not None:
            between()
        cursor = page.next_cursor
        if cursor is None:
            return seen, first.count, first.count_capped


FILTERS = {
    "all": NeedFilters(),
    "open": NeedFilters(status=ACTIVE),
    "housing": NeedFilters(unit=None),  # replaced by the unit's id in the test
    "transport": NeedFilters(unit=None),
    "town_b": NeedFilters(area=None),
    "overdue": NeedFilters(overdue=True),
}


def _filters(world: World, name: str) -> NeedFilters:
    if name == "housing":
        return NeedFilters(unit=world.housing.pk, status=ACTIVE)
    if name == "transport":
        return NeedFilters(unit=world.transport.pk)
    if name == "town_b":
        return NeedFilters(area=world.town_b.pk, status=ACTIVE)
    return FILTERS[name]


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("name", list(FILTERS))
@pytest.mark.parametrize("sort", list(selectors.LEDGER_SORTS))
def test_every_viewer_pages_and_counts_exactly_the_needs_in_scope(
    world: World, mixed: list[Need], persona: str, name: str, sort: str
) -> None:
    filters = _filters(world, name)
    user = _fresh(getattr(world, persona))
    expected = _expected(user, filters)

    seen, count, capped = _walk(user, filters, sort, limit=2)

    assert [n.pk for n in seen if n.pk not in expected] == []
    assert len(seen) == len({n.pk for n in seen}) == len(expected)
    assert (count, capped) == (len(expected), False)


def test_the_handler_of_a_unit_does_not_see_the_criticism_of_it_it_co_handles(
    world: World, mixed: list[Need]
) -> None:
    seen, count, _capped = _walk(_fresh(world.handler), NeedFilters(), "time", limit=50)
    titles = {n.title for n in seen}
    assert "批评住建" not in titles
    assert {"住建主办", "协办0", "协办1", "协办2"} <= titles
    assert count == len(seen)


@pytest.mark.parametrize("persona", PERSONAS)
def test_the_narrow_scope_hint_leaves_out_no_need_in_scope(
    world: World, mixed: list[Need], persona: str
) -> None:
    user = _fresh(getattr(world, persona))
    scoped = selectors.need_queryset_for_user(user=user)
    narrow = selectors.narrow_scope_q(user)
    assert narrow is not None  # the county's few areas and units are a narrow scope
    hinted = set(scoped.filter(narrow.q).values_list("pk", flat=True))
    assert hinted == set(scoped.values_list("pk", flat=True))


def test_a_scope_above_the_limit_of_nodes_gets_no_hint(
    world: World, mixed: list[Need], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(selectors, "NARROW_SCOPE_MAX_NODES", 3)
    assert selectors.narrow_scope_q(_fresh(world.dispatcher)) is None  # 7 areas
    assert selectors.narrow_scope_q(_fresh(world.officer_b)) is not None  # 3 areas
    seen, count, _capped = _walk(_fresh(world.dispatcher), NeedFilters(), "deadline", 3)
    assert len(seen) == count == len(_expected(world.dispatcher, NeedFilters()))


@pytest.mark.parametrize("persona", ["dispatcher", "handler", "handler_other"])
@pytest.mark.parametrize("sort", list(selectors.LEDGER_SORTS))
def test_past_the_cap_the_count_says_so_and_every_need_is_still_listed(
    world: World, mixed: list[Need], monkeypatch: pytest.MonkeyPatch, persona: str, sort: str
) -> None:
    monkeypatch.setattr(selectors, "COUNT_CAP", 2)
    user = _fresh(getattr(world, persona))
    expected = _expected(user, NeedFilters())
    assert len(expected) > 2

    seen, count, capped = _walk(user, NeedFilters(), sort, limit=2)

    assert (count, capped) == (2, True)
    assert len(seen) == len({n.pk for n in seen}) == len(expected)


def test_the_ledger_page_says_n_plus_past_the_cap(
    world: World, mixed: list[Need], client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(selectors, "COUNT_CAP", 2)
    client.force_login(world.dispatcher)
    html = client.get(reverse("needs:ledger")).content.decode()
    assert 'data-count="2" data-capped="true"' in html
    assert "共 2+ 条" in html


@pytest.mark.parametrize("sort", list(selectors.LEDGER_SORTS))
def test_paging_while_needs_are_registered_and_assigned_shows_each_need_once(
    world: World, mixed: list[Need], sort: str
) -> None:
    # Given the dispatcher's ledger, read 3 needs a page
    user = _fresh(world.dispatcher)
    before = _expected(user, NeedFilters())
    added: list[Need] = []

    # When, after each page, a need is registered and another assigned (a later deadline)
    def meanwhile() -> None:
        added.append(world.register(title="新登记"))
        added.append(world.assigned(title="新交办"))

    seen, _count, _capped = _walk(user, NeedFilters(), sort, limit=3, between=meanwhile)

    # Then every need of the first reading is listed exactly once, and none twice
    pks = [n.pk for n in seen]
    assert len(pks) == len(set(pks))
    assert before <= set(pks)
    assert set(pks) <= before | {n.pk for n in added}


def test_the_ledger_page_asks_a_fixed_number_of_queries_for_a_handler(
    world: World, mixed: list[Need], django_assert_max_num_queries: Any
) -> None:
    def queries() -> int:
        user = _fresh(world.handler)
        with CaptureQueriesContext(connection) as ctx:
            selectors.need_ledger_page_for_user(
                user=user, filters=NeedFilters(status=ACTIVE), sort="deadline", limit=50
            )
        return len(ctx.captured_queries)

    few = queries()
    for i in range(12):
        need = world.register(area=world.grid_b, actor=world.officer_b, title=f"再协办{i}")
        services.need_assign(
            actor=world.dispatcher,
            need=need,
            version=need.version,
            lead_unit=world.transport,
            co_units=[world.housing],
        )
        world.assigned(title=f"再主办{i}")
    user = _fresh(world.handler)
    # memberships, the unit ids, the list (the led needs counted, read, then the others), the
    # page, its co units, and (outside a request nothing is kept, ADR 0026) its areas,
    # categories and units, one query each
    with django_assert_max_num_queries(10):
        page = selectors.need_ledger_page_for_user(
            user=user, filters=NeedFilters(status=ACTIVE), sort="deadline"
        )
    assert queries() == few
    assert page.count == len(page.needs) == len(_expected(world.handler, NeedFilters(ACTIVE)))


# --------------------------------------------------------------------------- the keyset helper


def test_keyset_pages_walk_a_list_once_in_its_order(world: World, mixed: list[Need]) -> None:
    order = ("-registered_at", "title", "pk")
    seen: list[Need] = []
    cursor = None
    while True:
        page, cursor = selectors.keyset_page(Need.objects.all(), order, cursor, 4)
        seen += page
        if cursor is None:
            break
    expected = list(Need.objects.order_by(*order))
    assert seen == expected


@pytest.mark.parametrize(
    "cursor",
    [
        "not base64 at all!",
        "eyJhIjoxfQ",  # {"a":1}
        # another list's order (a fixed moment: xdist workers must collect the same ids)
        selectors.keyset_cursor(
            Need(pk=1, registered_at=datetime(2026, 1, 1, tzinfo=UTC)), ("-registered_at", "pk")
        ),
        # the right order, but a naive time
        "WyItcmVnaXN0ZXJlZF9hdCxpZCIsWyIyMDI2LTAxLTAxVDAwOjAwOjAwIiwxXV0",
    ],
)
def test_a_keyset_cursor_of_another_list_or_tampered_with_is_refused(
    world: World, cursor: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        selectors.keyset_after(Need.objects.all(), ("-registered_at", "id"), cursor)
    assert "分页游标无效" in str(refused.value.errors["cursor"])


def test_any_of_nothing_matches_no_need_and_its_negation_every_need(
    world: World, mixed: list[Need]
) -> None:
    assert Need.objects.filter(selectors.AnyOf(F("pk"), [])).count() == 0
    assert Need.objects.exclude(selectors.AnyOf(F("pk"), [])).count() == len(mixed)
    some = [mixed[0].pk, mixed[1].pk]
    assert set(
        Need.objects.filter(selectors.AnyOf(F("pk"), some)).values_list("pk", flat=True)
    ) == set(some)
