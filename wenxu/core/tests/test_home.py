"""我的工作台: each persona sees the sections of their roles, counted and listed within their scope
only, in a fixed number of queries; a user without a role is told whom to ask."""

import re
from datetime import timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
import time_machine
from django.urls import reverse

from wenxu.accounts.models import Membership, User
from wenxu.core.tests.workbench_helpers import T0, CountyDay, county_day, many_needs
from wenxu.lib import clock
from wenxu.needs import deadlines
from wenxu.needs.models import DeadlineRule, Need
from wenxu.needs.tests.helpers import at
from wenxu.needs.workbench import Workbench, workbench_for_user


@pytest.fixture
def day(world) -> CountyDay:
    return county_day(world, when=T0)


def _counts(bench: Workbench, *, primary: bool | None = None) -> dict[str, int]:
    return {s.key: s.count for s in bench.sections if primary is None or s.primary == primary}


def _listed(bench: Workbench, key: str) -> list[str]:
    return [n.number for n in next(s for s in bench.sections if s.key == key).needs]


def _all_listed(bench: Workbench) -> set[str]:
    return {n.number for s in bench.sections for n in s.needs}


# --------------------------------------------------------------------------- sections per role


def test_officer_sees_callbacks_promises_and_own_registrations_first(world, day):
    bench = workbench_for_user(user=world.officer, now=T0 + timedelta(hours=1))

    assert [s.key for s in bench.primary] == ["to_callback", "following", "mine"]
    assert bench.secondary == []
    assert _counts(bench) == {"to_callback": 1, "following": 1, "mine": 9}
    assert _listed(bench, "to_callback") == [day.replied.number]
    assert _listed(bench, "following") == [day.following.number]
    assert len(_listed(bench, "mine")) == 5  # the newest five of nine
    assert _listed(bench, "mine")[0] == day.extension.number
    assert not bench.show_status_counts


def test_officer_never_counts_or_lists_officer_b_needs(world, day):
    bench = workbench_for_user(user=world.officer, now=T0 + timedelta(hours=1))

    outside = {day.registered_b.number, day.replied_b.number}
    assert not outside & _all_listed(bench)
    assert bench.total == 9
    assert {v: n for v, _l, n in bench.by_status}["replied"] == 1
    # ... while officer_b sees exactly those two
    bench_b = workbench_for_user(user=world.officer_b, now=T0 + timedelta(hours=1))
    assert bench_b.total == 2
    assert _listed(bench_b, "to_callback") == [day.replied_b.number]
    assert _counts(bench_b) == {"to_callback": 1, "following": 0, "mine": 2}


def test_dispatcher_sees_triage_deadlines_extensions_and_supervision(world, day):
    bench = workbench_for_user(user=world.dispatcher, now=T0 + timedelta(hours=1))

    assert [s.key for s in bench.primary] == [
        "to_assign",
        "overdue",
        "due_soon",
        "extension_pending",
        "supervised",
    ]
    assert _counts(bench, primary=True) == {
        "to_assign": 2,
        "overdue": 0,
        "due_soon": 0,
        "extension_pending": 1,
        "supervised": 1,
    }
    # the whole county's queues, counted without lists
    assert _counts(bench, primary=False) == {
        "to_accept": 2,
        "in_progress": 4,
        "to_callback": 2,
        "following": 1,
    }
    assert all(not s.needs for s in bench.secondary)
    assert _listed(bench, "to_assign") == [day.registered.number, day.registered_b.number]
    assert _listed(bench, "extension_pending") == [day.extension.number]
    assert _listed(bench, "supervised") == [day.supervised.number]
    assert bench.total == 11


def test_handler_sees_own_units_queues_and_signs_only_for_the_lead_unit(world, day):
    bench = workbench_for_user(user=world.handler, now=T0 + timedelta(hours=1))

    assert [s.key for s in bench.primary] == [
        "to_accept",
        "in_progress",
        "due_soon",
        "overdue",
        "supervised",
    ]
    assert _counts(bench) == {
        "to_accept": 1,  # 交通局 leads assigned_transport: 住建局, a co unit, does not sign
        "in_progress": 4,
        "due_soon": 0,
        "overdue": 0,
        "supervised": 1,
        "following": 1,
    }
    assert _listed(bench, "to_accept") == [day.assigned.number]
    assert day.replied_b.number not in _all_listed(bench)
    assert day.registered.number not in _all_listed(bench)

    other = workbench_for_user(user=world.handler_other, now=T0 + timedelta(hours=1))
    assert _listed(other, "to_accept") == [day.assigned_transport.number]
    assert _counts(other)["in_progress"] == 0


def test_leader_sees_overdue_supervision_and_counts_by_status(world, day):
    bench = workbench_for_user(user=world.leader, now=T0 + timedelta(hours=1))

    assert [s.key for s in bench.primary] == ["overdue", "supervised"]
    assert [s.key for s in bench.secondary] == ["due_soon", "in_progress"]
    assert bench.show_status_counts
    by_status = {value: n for value, _label, n in bench.by_status}
    assert by_status == {
        "registered": 2,
        "assigned": 2,
        "in_progress": 4,
        "replied": 2,
        "following": 1,
        "closed": 0,
        "withdrawn": 0,
        "merged": 0,
    }
    assert (bench.total, bench.active) == (11, 11)


def test_user_with_several_roles_sees_the_union_in_role_order(world, day):
    Membership.objects.create(user=world.officer, role="dispatcher", area=world.town_a)
    user = User.objects.get(pk=world.officer.pk)  # fresh: memberships are cached per object

    bench = workbench_for_user(user=user, now=T0 + timedelta(hours=1))

    assert [s.key for s in bench.primary] == [
        "to_assign",
        "overdue",
        "due_soon",
        "extension_pending",
        "supervised",
        "to_callback",
        "following",
        "mine",
    ]
    assert [s.key for s in bench.secondary] == ["to_accept", "in_progress"]
    assert _counts(bench)["to_assign"] == 1  # 东河镇 only: not officer_b's
    assert _counts(bench)["to_accept"] == 2  # a dispatcher sees every unit's queue


def test_user_without_membership_gets_an_empty_workbench(world, day):
    bench = workbench_for_user(user=world.outsider, now=T0)
    assert not bench.has_scope
    assert (bench.sections, bench.total) == ([], 0)


# --------------------------------------------------------------------------- deadlines


def test_urgent_need_is_due_soon_within_its_lead_time_then_overdue(world, day):
    due = day.urgent.resolve_due
    assert due == T0 + timedelta(hours=24)

    for user in (world.dispatcher, world.handler):
        early = workbench_for_user(user=user, now=due - timedelta(hours=5))  # urgent lead: 4 h
        assert (_counts(early)["due_soon"], _counts(early)["overdue"]) == (0, 0)
        soon = workbench_for_user(user=user, now=due - timedelta(hours=3))
        assert (_counts(soon)["due_soon"], _counts(soon)["overdue"]) == (1, 0)
        assert _listed(soon, "due_soon") == [day.urgent.number]
        late = workbench_for_user(user=user, now=due + timedelta(minutes=1))
        assert (_counts(late)["due_soon"], _counts(late)["overdue"]) == (0, 1)
        assert _listed(late, "overdue") == [day.urgent.number]
    # leaders see the overdue one; officers do not have the section
    late = workbench_for_user(user=world.leader, now=due + timedelta(minutes=1))
    assert _counts(late)["overdue"] == 1
    assert "overdue" not in _counts(workbench_for_user(user=world.officer, now=due))


def test_normal_needs_turn_due_soon_a_day_before_their_deadline(world, day):
    due = day.in_progress.resolve_due
    assert due == at(2026, 3, 9, 23, 59, 59)

    bench = workbench_for_user(user=world.dispatcher, now=at(2026, 3, 9, 8))
    # running and within 24 h: both assigned, three in progress (the one awaiting an extension
    # too); the urgent one is long overdue, the replied ones have stopped their clock
    assert _counts(bench)["due_soon"] == 5
    assert _counts(bench)["overdue"] == 1
    assert day.replied.number not in _listed(bench, "due_soon")
    handler = workbench_for_user(user=world.handler, now=at(2026, 3, 9, 8))
    assert _counts(handler)["due_soon"] == 5  # assigned_transport counts: 住建局 is a co unit
    # a day and more before: not yet
    assert (
        _counts(workbench_for_user(user=world.dispatcher, now=at(2026, 3, 8, 23)))["due_soon"] == 0
    )


def test_lead_times_follow_the_rules_nearest_category_first(world):
    # given rules: 72 h for all 城乡建设 (so 供水), 12 h for 道路与照明, 6 h for every urgent need
    infra = world.cat_roads.parent
    rule = {"response_value": 1, "response_unit": "workdays", "resolve_value": 5}
    DeadlineRule.objects.create(
        category=infra, urgency="normal", remind_before_hours=72, resolve_unit="workdays", **rule
    )
    DeadlineRule.objects.create(
        category=world.cat_roads,
        urgency="normal",
        remind_before_hours=12,
        resolve_unit="workdays",
        **rule,
    )
    DeadlineRule.objects.create(
        category=None, urgency="urgent", remind_before_hours=6, resolve_unit="workdays", **rule
    )
    with time_machine.travel(T0, tick=False):
        needs = [
            world.assigned(category=world.cat_roads),
            world.assigned(category=world.cat_water),
            world.assigned(category=None),
            world.assigned(category=world.cat_roads, urgency="urgent"),
            world.assigned(category=None, urgency="complex"),
        ]
    book = deadlines.RuleBook()
    assert [book.remind_hours(n) for n in needs] == [12, 72, 24, 6, 48]

    # then the single filter agrees with the per-need answer at every moment
    for hours_before in (80, 70, 47, 30, 20, 10, 5):
        now = needs[0].resolve_due - timedelta(hours=hours_before)
        expected = {
            n.pk for n in needs if n.resolve_due - timedelta(hours=book.remind_hours(n)) <= now
        }
        matched = set(
            Need.objects.filter(pk__in=[n.pk for n in needs])
            .filter(book.within_lead_time_q(now=now))
            .values_list("pk", flat=True)
        )
        assert matched == expected, hours_before


def test_sweep_and_workbench_share_the_rule_book(world):
    # the sweep still reminds by the rule's lead time after the rule book moved to deadlines
    from wenxu.needs.sweeps import sweep

    with time_machine.travel(T0, tick=False):
        need = world.in_progress()
    with time_machine.travel(need.resolve_due - timedelta(hours=20)):
        assert sweep().due_soon == 1
        bench = workbench_for_user(user=world.handler, now=clock.now())
    assert _counts(bench)["due_soon"] == 1


# --------------------------------------------------------------------------- the page


def _get_home(client, user):
    client.force_login(user)
    return client.get(reverse("home"))


def _hrefs(html: str) -> list[str]:
    return re.findall(r'href="([^"]+)"', html)


def test_home_links_cards_to_the_filtered_ledger_and_items_to_their_detail(client, world, day):
    with time_machine.travel(day.urgent.resolve_due + timedelta(hours=1), tick=False):
        response = _get_home(client, world.dispatcher)
    assert response.status_code == 200
    html = response.content.decode()
    ledger = reverse("needs:ledger")
    links = {
        tuple(sorted(parse_qsl(urlsplit(href).query)))
        for href in _hrefs(html.replace("&amp;", "&"))
        if urlsplit(href).path == ledger
    }
    for query in (
        ("status", "registered"),
        ("overdue", "true"),
        ("due_soon", "true"),
        ("extension_pending", "true"),
        ("supervised", "true"),
        ("status", "assigned"),
        ("status", "in_progress"),
        ("status", "replied"),
        ("status", "following"),
    ):
        assert (query,) in links, query
    for need in (day.registered, day.registered_b, day.urgent, day.extension, day.supervised):
        assert reverse("needs:detail", args=[need.number]) in html
    assert 'data-testid="count-overdue">1<' in html
    assert 'data-testid="count-to_assign">2<' in html
    assert 'data-testid="total">11<' in html
    assert "已超期" in html  # the deadline badge of the overdue urgent need


def test_handler_home_links_to_accept_to_the_ledger_of_their_unit(client, world, day):
    with time_machine.travel(T0 + timedelta(hours=1), tick=False):
        html = _get_home(client, world.handler).content.decode()
    ledger = reverse("needs:ledger")
    assert f'href="{ledger}?status=assigned&amp;unit={world.housing.pk}"' in html
    assert reverse("needs:detail", args=[day.assigned.number]) in html
    # 交通局 leads it: not on 住建局's list to sign
    assert reverse("needs:detail", args=[day.assigned_transport.number]) not in html
    assert reverse("needs:capture") not in html.split("<main", 1)[1]  # handlers do not register


def test_officer_home_lists_only_own_scope_and_offers_capture(client, world, day):
    with time_machine.travel(T0 + timedelta(hours=1), tick=False):
        html = _get_home(client, world.officer).content.decode()
    assert reverse("needs:detail", args=[day.replied.number]) in html
    for need in (day.registered_b, day.replied_b):
        assert need.number not in html
        assert need.title not in html
    assert 'data-testid="capture"' in html
    assert 'data-testid="total">9<' in html
    assert 'data-testid="by-status"' not in html


def test_leader_home_shows_counts_by_status_linked_to_the_ledger(client, world, day):
    with time_machine.travel(T0 + timedelta(hours=1), tick=False):
        html = _get_home(client, world.leader).content.decode()
    assert 'data-testid="by-status"' in html
    assert f'href="{reverse("needs:ledger")}?status=in_progress"' in html
    assert 'data-testid="capture"' not in html


def test_user_without_membership_is_asked_to_contact_the_admin(client, world, day):
    html = _get_home(client, world.outsider).content.decode()
    assert 'data-testid="no-scope"' in html
    assert "请联系系统管理员" in html
    assert 'data-testid="total"' not in html
    assert "WX-" not in html


def test_everything_clear_says_so(client, world):
    html = _get_home(client, world.handler).content.decode()
    assert 'data-testid="all-clear"' in html


# --------------------------------------------------------------------------- queries


@pytest.mark.parametrize("username", ["dispatcher", "handler", "officer", "leader"])
def test_home_asks_the_same_number_of_queries_for_5_and_30_needs(
    client, world, username, django_assert_max_num_queries
):
    user = User.objects.get(username=username)
    client.force_login(user)
    # 30 hours in: the urgent ones are overdue, so the overdue list is shown too
    viewing = T0 + timedelta(hours=30)
    # warm (what pages keep between requests is read once, ADR 0026): session, user, the
    # configuration generation, the rules (for 临期; the officer has none), one aggregate, then
    # one per list shown:
    # dispatcher to_assign, overdue, supervised; handler to_accept, in_progress, overdue,
    # supervised; officer to_callback, following, mine;
    # leader overdue, supervised
    limit = {"dispatcher": 10, "handler": 10, "officer": 9, "leader": 9}[username]

    many_needs(world, 5)
    with time_machine.travel(viewing, tick=False):
        deadlines.cached_calendar()  # the badges' calendar is cached process-wide: warm it
        client.get(reverse("home"))  # and what the page keeps between requests
        with django_assert_max_num_queries(limit):
            small = client.get(reverse("home"))
    many_needs(world, 25)
    with time_machine.travel(viewing, tick=False):
        deadlines.cached_calendar()
        with django_assert_max_num_queries(limit):
            large = client.get(reverse("home"))

    assert small.status_code == large.status_code == 200
    assert large.content.decode().count('data-testid="item"') >= small.content.decode().count(
        'data-testid="item"'
    )


def test_workbench_counts_in_one_query_and_lists_in_one_each(world, django_assert_num_queries):
    many_needs(world, 10)
    user = User.objects.get(pk=world.dispatcher.pk)
    # memberships (for the page, and again for the scope), the rules, the ids of the areas in
    # scope, one aggregate for every count, then one per list with needs: to_assign, overdue,
    # supervised
    with django_assert_num_queries(2 + 1 + 1 + 1 + 3):
        bench = workbench_for_user(user=user, now=T0 + timedelta(hours=30))
    assert [s.key for s in bench.primary if s.needs] == ["to_assign", "overdue", "supervised"]
