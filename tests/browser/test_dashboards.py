"""统计 in a real browser: a leader opens /stats/ on a desktop and on a phone, every chart draws,
and the rates on the page are the API's for the same scope and period."""

import uuid
from datetime import timedelta

import pytest
import time_machine
from playwright.sync_api import expect

from tests.browser.helpers import DESKTOP, PHONE
from tests.browser.helpers import login as _login
from tests.browser.helpers import no_horizontal_scroll as _no_horizontal_scroll
from wenxu.insight.rollups import rollup_catch_up
from wenxu.lib import clock
from wenxu.needs import services
from wenxu.needs.models import Need
from wenxu.needs.sweeps import sweep
from wenxu.visits import services as visit_services
from wenxu.visits.services import VisitDraft

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

RATES = ("response_rate", "ontime_rate", "resolution_rate", "satisfaction_rate", "callback_rate")


@pytest.fixture(autouse=True)
def _no_sending(monkeypatch):
    monkeypatch.setattr("wenxu.notify.sending.send_due", lambda **kwargs: 0)


def _handled(world, *, handler, lead, resolved, satisfaction, title, area=None):
    """A need assigned, accepted, replied and called back, all at the travelled time."""
    area = area or world.grid_a
    officer = world.officer_b if area == world.grid_b else world.officer
    need = world.assigned(title=title, lead=lead, area=area, actor=officer)
    need = services.need_accept(actor=handler, need=need, version=need.version)
    need = services.need_reply(
        actor=handler, need=need, version=need.version, outcome="resolved", reply_text="已处理。"
    )
    return services.need_callback(
        actor=world.dispatcher,
        need=need,
        version=need.version,
        channel="phone",
        resolved=resolved,
        satisfaction=satisfaction,
    )


def _visit(world, *, officer, area, mood):
    visit_services.visit_record(
        actor=officer,
        draft=VisitDraft(
            client_uuid=uuid.uuid4(),
            payload_hash="h",
            kind="home",
            area=area,
            started_at=clock.now(),
            mood=mood,
            summary="入户了解群众诉求。",
            officers=(officer,),
        ),
    )


def _county_month(world):
    """Three weeks of work across two townships, rolled up as the worker would."""
    now = clock.now()
    verdicts = [
        ("yes", "very_satisfied"),
        ("yes", "satisfied"),
        ("partly", "basic"),
        ("yes", "very_satisfied"),
        ("no", "dissatisfied"),
        ("yes", "satisfied"),
    ]
    for week, days_ago in enumerate((21, 14, 7)):
        with time_machine.travel(now - timedelta(days=days_ago), tick=False):
            for i, (resolved, satisfaction) in enumerate(verdicts[week * 2 : week * 2 + 2]):
                _handled(
                    world,
                    handler=world.handler,
                    lead=world.housing,
                    resolved=resolved,
                    satisfaction=satisfaction,
                    title=f"住建诉求{week}-{i}",
                )
            for i in range(2):
                _handled(
                    world,
                    handler=world.handler_roads,
                    lead=world.transport_roads,
                    resolved="yes",
                    satisfaction="very_satisfied",
                    title=f"公路诉求{week}-{i}",
                    area=world.grid_b,
                )
            world.register(title=f"待交办诉求{week}", category=world.cat_water)
            world.assigned(title=f"住建局未办诉求{week}")  # overdue a week later
            _visit(world, officer=world.officer, area=world.grid_a, mood=4 - week % 2)
            _visit(world, officer=world.officer_b, area=world.grid_b, mood=3 + week % 2)
    with time_machine.travel(now - timedelta(days=16), tick=False):
        # a unit with one need only: listed apart, not ranked
        _handled(
            world,
            handler=world.handler_other,
            lead=world.transport,
            resolved="yes",
            satisfaction="satisfied",
            title="交通诉求",
        )
    sweep()  # marks the overdue ones (督办)
    rollup_catch_up(lag=timedelta(0))
    assert Need.objects.count() == 19


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_leader_reads_the_statistics_and_they_match_the_api(
    browser, live_server, world, viewport, screenshot_dir
):
    # given three weeks of needs, callbacks and visits, rolled up
    _county_month(world)
    page = browser.new_page(viewport=viewport, locale="zh-CN")
    _login(page, live_server.url, "leader", "pw-leader")

    # when the leader follows 统计 in the navigation
    if viewport is PHONE:
        page.get_by_role("button", name="菜单").click()
    page.get_by_role("link", name="统计", exact=True).click()
    page.wait_for_url(f"{live_server.url}/stats/")

    # then every chart drew
    containers = page.locator("[data-wx-chart]")
    assert containers.count() == 9
    for i in range(containers.count()):
        expect(containers.nth(i).locator("svg, canvas").first).to_be_attached()

    # and the rates on the cards are the API's for the same period
    start = page.locator("[data-start]").get_attribute("data-start")
    end = page.locator("[data-end]").get_attribute("data-end")
    api = page.request.get(f"{live_server.url}/api/v1/stats/rates?start={start}&end={end}").json()
    for name in RATES:
        shown = page.get_by_test_id(f"rate-{name}").locator("[data-rate-value]")
        expect(shown).to_have_text(api[name]["percent"])
    assert api["ontime_rate"]["denominator"] > 0  # the comparison has numbers to compare
    assert api["satisfaction_rate"]["percent"] != "—"

    # and the ranking lists two units, the single-need unit apart; the board shows the overdue
    expect(page.locator("table[data-table=units] tbody tr")).to_have_count(2)
    expect(page.get_by_test_id("units-small")).to_contain_text("县交通局")
    overdue = Need.objects.filter(
        status__in=["assigned", "in_progress"], resolve_due__lt=clock.now()
    ).count()
    assert overdue >= 2
    expect(page.get_by_test_id("overdue-total")).to_have_text(str(overdue))

    # and nothing scrolls the page sideways; tables scroll inside their cards
    _no_horizontal_scroll(page, viewport)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(screenshot_dir / f"stats-{viewport['width']}.png"), full_page=True)

    # when the leader narrows to 东河镇, the page still agrees with the API
    page.select_option("#st-area", str(world.town_a.pk))
    page.get_by_role("button", name="查看").click()
    page.wait_for_url(f"**/stats/?*area={world.town_a.pk}*")
    api = page.request.get(
        f"{live_server.url}/api/v1/stats/rates?start={start}&end={end}&area={world.town_a.pk}"
    ).json()
    for name in RATES:
        shown = page.get_by_test_id(f"rate-{name}").locator("[data-rate-value]")
        expect(shown).to_have_text(api[name]["percent"])
    _no_horizontal_scroll(page, viewport)
