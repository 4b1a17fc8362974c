"""What the ledger and need pages cost (issue #10, B9), and that the cheaper paths show exactly
what the plain ones did: the ledger's rows built in Python against the template loop they
replace, the deadline rule read in one query, the extension count taken from loaded events.
"""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.template import engines
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from wenxu.lib import clock
from wenxu.needs import deadlines, selectors, services
from wenxu.needs.models import DeadlineRule, Need
from wenxu.needs.selectors import NeedFilters
from wenxu.needs.services.handling import _extensions_this_cycle
from wenxu.needs.tests.helpers import closed

# The ledger's rows as the template wrote them before `needs_ledger.ledger_rows` (both layouts,
# separated by "|").
_TEMPLATE_ROWS = (Path(__file__).parent / "ledger_rows_before.html").read_text(encoding="utf-8")
_ROWS = (
    "{% load needs_ledger %}{% ledger_rows page.needs assignable as rows %}"
    "{{ rows.table }}|{{ rows.cards }}"
)


def _plain(html: str) -> str:
    """Markup without the whitespace between tags (the template's indentation)."""
    html = re.sub(r">\s+", ">", html)
    html = re.sub(r"\s+<", "<", html)
    return re.sub(r"\s+", " ", html).strip()


@pytest.fixture
def varied(world):
    """Needs that use every part of a row: urgency, supervision, co units, a deadline today and
    overdue, a masked requester, a criticism of the viewer's own unit, markup in a title."""
    world.register(
        title="<b>路灯</b> & “引号” 'x'",
        requester=services.RequesterInput(name="张三丰", phone="13812345678"),
        urgency="urgent",
    )
    world.register(title="无分类", category=None, urgency="complex")
    co = world.assigned(title="协办的诉求")
    services.need_supervise(actor=world.leader, need=co, version=co.version, note="督办")
    Need.objects.get(pk=co.pk).co_units.add(world.transport, world.town_a_gov)
    late = world.in_progress(title="已超期")
    Need.objects.filter(pk=late.pk).update(resolve_due=clock.now() - timedelta(days=3))
    world.in_progress(title="今日到期")
    world.replied(title="已答复")
    world.register(
        title="批评住建局",
        kind="criticism",
        about_unit=world.housing,
        requester=services.RequesterInput(name="李四", phone="13900001111"),
    )
    return world


@pytest.mark.parametrize("persona", ["dispatcher", "handler", "officer"])
@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_ledger_rows_are_the_markup_the_template_loop_wrote(varied, persona, language):
    user = getattr(varied, persona)
    page = selectors.need_ledger_page_for_user(user=user, filters=NeedFilters(), limit=20)
    assert page.needs
    request = RequestFactory().get("/ledger/")
    request.user = user
    engine = engines["django"]
    for assignable in (set(), {need.number for need in page.needs[::2]}):
        context = {"page": page, "assignable": assignable, "user": user}
        with translation.override(language):
            old = engine.from_string(_TEMPLATE_ROWS).render(context, request)
            new = engine.from_string(_ROWS).render(context, request)
        assert _plain(new) == _plain(old)
    assert "&lt;b&gt;路灯&lt;/b&gt;" in new or persona == "handler"


def test_ledger_page_shows_each_need_in_both_layouts(varied, client):
    client.force_login(varied.dispatcher)
    html = client.get("/ledger/").content.decode()
    table = re.findall(r'<tr data-need="([^"]+)"', html)
    cards = re.findall(r'<li class="card" data-need="([^"]+)"', html)
    assert table == cards
    assert len(table) == Need.objects.count()
    assert "张*" in html
    assert "张三丰" not in html


def test_a_deadline_rule_is_read_in_one_query(world):
    DeadlineRule.objects.create(
        category=None,
        urgency="normal",
        response_value=2,
        response_unit="workdays",
        resolve_value=7,
        resolve_unit="workdays",
    )
    parent = world.cat_roads.parent
    DeadlineRule.objects.create(
        category=parent,
        urgency="normal",
        response_value=1,
        response_unit="workdays",
        resolve_value=9,
        resolve_unit="workdays",
    )
    with CaptureQueriesContext(connection) as ctx:
        nearest = deadlines.rule_for(category=world.cat_roads, urgency="normal")
        general = deadlines.rule_for(category=None, urgency="normal")
        default = deadlines.rule_for(category=world.cat_roads, urgency="urgent")
    assert len(ctx.captured_queries) == 3
    assert nearest.resolve_value == 9  # the ancestor's rule wins over the general one
    assert general.resolve_value == 7
    assert default == deadlines.DEFAULT_RULES["urgent"]


def test_the_rule_for_a_need_is_read_once_per_need_object(world):
    need = world.in_progress()
    with CaptureQueriesContext(connection) as ctx:
        first = deadlines.rule_for_need(need)
        again = deadlines.rule_for_need(need)
    assert first == again == deadlines.rule_for(category=need.category, urgency=need.urgency)
    assert len(ctx.captured_queries) == 1
    need.urgency = "urgent"  # another rule applies: read again
    assert deadlines.rule_for_need(need) == deadlines.DEFAULT_RULES["urgent"]


def _counted_both_ways(world, need) -> tuple[int, int]:
    loaded = selectors.need_get_for_user(user=world.handler, number=need.number)
    with CaptureQueriesContext(connection) as ctx:
        from_events = _extensions_this_cycle(loaded)
    assert len(ctx.captured_queries) == 0
    return from_events, _extensions_this_cycle(Need.objects.get(pk=need.pk))


def test_extensions_counted_from_loaded_events_match_the_query(world):
    need = world.in_progress()
    assert _counted_both_ways(world, need) == (0, 0)
    need = services.need_request_extension(
        actor=world.handler, need=need, version=need.version, days=2, reason="需要协调"
    )
    need = services.need_approve_extension(actor=world.dispatcher, need=need, version=need.version)
    assert _counted_both_ways(world, need) == (1, 1)
    # a new deadline cycle (returned, assigned again) starts the count afresh
    need = services.need_return(actor=world.handler, need=need, version=need.version, reason="错派")
    need = services.need_assign(
        actor=world.dispatcher, need=need, version=need.version, lead_unit=world.housing
    )
    assert _counted_both_ways(world, need) == (0, 0)


@pytest.mark.parametrize(
    ("setup", "persona", "limit"),
    [
        (lambda w: w.in_progress(), "handler", 5),
        (lambda w: w.replied(), "officer", 5),
        (closed, "officer", 5),
    ],
)
def test_need_page_query_count(world, client, django_assert_max_num_queries, setup, persona, limit):
    # The session with the generation, the need's id in the viewer's scope, the need with its
    # requester, visit and recorder, whether it has co-units, attachments, merged needs, topic
    # links or a pending reopen request (one statement), its events. The rest is kept between
    # requests (the user, memberships, permissions, rules, areas, units, the action panels) or
    # read from the events (the extensions granted).
    need = setup(world)
    client.force_login(getattr(world, persona))
    client.get(f"/needs/{need.number}/")  # warm the display calendar cache
    with django_assert_max_num_queries(limit):
        assert client.get(f"/needs/{need.number}/").status_code == 200
