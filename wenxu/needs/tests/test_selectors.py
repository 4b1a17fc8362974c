"""The one scoping selector: who sees which need (DESIGN §2)."""

import pytest

from wenxu.accounts.models import Membership
from wenxu.needs import selectors
from wenxu.needs.exceptions import InvalidInput, NotFound
from wenxu.needs.selectors import NeedFilters


def _visible(user):
    return set(selectors.need_queryset_for_user(user=user).values_list("number", flat=True))


def test_area_scope_sees_its_subtree_only(world):
    mine = world.register()
    theirs = world.register(actor=world.officer_b, area=world.grid_b)
    assert _visible(world.officer) == {mine.number}
    assert _visible(world.officer_b) == {theirs.number}
    assert _visible(world.dispatcher) == {mine.number, theirs.number}
    assert _visible(world.leader) == {mine.number, theirs.number}


def test_unit_scope_sees_needs_it_leads_or_co_handles(world):
    from wenxu.needs import services

    led = world.assigned(lead=world.housing)
    need = world.register()
    co = services.need_assign(
        actor=world.dispatcher,
        need=need,
        version=need.version,
        lead_unit=world.town_a_gov,
        co_units=[world.housing],
    )
    unrelated = world.assigned(lead=world.transport)
    assert _visible(world.handler) == {led.number, co.number}
    assert unrelated.number not in _visible(world.handler)


def test_parent_unit_sees_needs_of_its_sub_units_but_not_the_reverse(world):
    roads_need = world.assigned(lead=world.transport_roads)
    transport_need = world.assigned(lead=world.transport)
    assert _visible(world.handler_other) == {roads_need.number, transport_need.number}
    assert _visible(world.handler_roads) == {roads_need.number}


def test_recorder_keeps_seeing_a_need_moved_out_of_their_area(world):
    need = world.register()
    type(need).objects.filter(pk=need.pk).update(area=world.grid_b)
    assert need.number in _visible(world.officer)
    assert need.number in _visible(world.officer_b)  # it is in their area now


def test_user_without_membership_sees_nothing_and_gets_not_found(world):
    need = world.register()
    assert _visible(world.outsider) == set()
    with pytest.raises(NotFound):
        selectors.need_get_for_user(user=world.outsider, number=need.number)


def test_inactive_user_sees_nothing(world):
    world.register()
    world.dispatcher.is_active = False
    assert _visible(world.dispatcher) == set()


def test_memberships_are_cached_on_the_user_object(world, django_assert_num_queries):
    world.register()
    user = type(world.officer).objects.get(pk=world.officer.pk)
    with django_assert_num_queries(2):  # memberships once, then the needs
        list(selectors.need_queryset_for_user(user=user))
    with django_assert_num_queries(1):
        list(selectors.need_queryset_for_user(user=user))


def test_list_pages_with_keyset_cursor_and_no_duplicates(world):
    numbers = {world.register(title=f"诉求{i}").number for i in range(7)}
    seen: list[str] = []
    cursor = None
    while True:
        page, cursor = selectors.need_list_for_user(
            user=world.dispatcher, filters=NeedFilters(), cursor=cursor, limit=3
        )
        seen.extend(n.number for n in page)
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 7
    assert set(seen) == numbers
    assert seen == sorted(seen, reverse=True)


def test_list_query_count_does_not_grow_with_the_page(world, django_assert_max_num_queries):
    for i in range(30):
        world.assigned(title=f"诉求{i}")
    user = type(world.dispatcher).objects.get(pk=world.dispatcher.pk)
    with django_assert_max_num_queries(3):
        page, _ = selectors.need_list_for_user(user=user, filters=NeedFilters(), limit=50)
        for need in page:
            _ = (need.area.name, need.lead_unit and need.lead_unit.name, list(need.co_units.all()))


def test_filters_area_subtree_category_subtree_and_chinese_text(world):
    lamp = world.register(title="村口路灯不亮")
    water = world.register(
        title="自来水浑浊", description="家里自来水发黄有异味。", category=world.cat_water
    )
    west = world.register(actor=world.officer_b, area=world.grid_b, title="西岭村道路破损")

    def numbers(**kw):
        page, _ = selectors.need_list_for_user(user=world.dispatcher, filters=NeedFilters(**kw))
        return {n.number for n in page}

    assert numbers(area=world.town_a.pk) == {lamp.number, water.number}
    assert numbers(category=world.cat_water.parent_id) == {lamp.number, water.number, west.number}
    assert numbers(category=world.cat_water.pk) == {water.number}
    assert numbers(q="发黄") == {water.number}
    assert numbers(status=["registered"]) == {lamp.number, water.number, west.number}


def test_unknown_filter_values_are_refused_in_chinese(world):
    with pytest.raises(InvalidInput) as error:
        selectors.need_list_for_user(
            user=world.dispatcher, filters=NeedFilters(status=["bogus"], area=999999)
        )
    assert set(error.value.errors) == {"status", "area"}
    assert "未知的状态" in error.value.errors["status"][0]
    with pytest.raises(InvalidInput):
        selectors.need_list_for_user(
            user=world.dispatcher, filters=NeedFilters(), cursor="%%%not-a-cursor"
        )


def test_membership_needs_exactly_one_scope(world):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        Membership(user=world.outsider, role="officer").full_clean()


def test_requesters_of_merged_needs_follow_the_target_through_chains(world):
    from wenxu.needs import services
    from wenxu.needs.services import RequesterInput

    def person(name, phone):
        return RequesterInput(name=name, phone=phone)

    target = world.register(requester=person("张三", "13800001111"))
    middle = world.register(requester=person("李四", "13800002222"))
    first = world.register(requester=person("王五", "13800003333"))
    anonymous = world.register()
    services.need_merge(actor=world.dispatcher, need=first, version=first.version, into=middle)
    middle.refresh_from_db()
    services.need_merge(actor=world.dispatcher, need=middle, version=middle.version, into=target)
    services.need_merge(
        actor=world.dispatcher, need=anonymous, version=anonymous.version, into=target
    )
    target.refresh_from_db()

    names = {r.name for r in selectors.need_requesters(need=target)}

    assert names == {"张三", "李四", "王五"}
    assert {r.name for r in selectors.need_requesters(need=first)} == {"王五"}
