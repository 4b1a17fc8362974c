"""月报 in a real browser: a leader opens September's report, it prints as an A4 document
without the navigation and controls, and the PDF Chromium makes of it has the report's pages."""

import re
from datetime import date, datetime

import pytest
import time_machine
from django.utils import timezone
from playwright.sync_api import expect

from tests.browser.helpers import PHONE
from tests.browser.helpers import login as _login
from wenxu.insight.models import DailyCount
from wenxu.needs.services.register import RequesterInput

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DESKTOP = {"width": 1280, "height": 900}
A4_CONTENT_PX = round((210 - 2 * 14) / 25.4 * 96)  # 688 px: what an A4 page prints across


@pytest.fixture(autouse=True)
def _no_sending(monkeypatch):
    monkeypatch.setattr("wenxu.notify.sending.send_due", lambda **kwargs: 0)


def _count(day, area, unit, category, **counters):
    DailyCount.objects.create(
        key=f"{day:%Y%m%d}|{area.pk}|{unit.pk}|{category.pk}",
        day=day,
        area=area,
        area_path=area.path,
        unit=unit,
        unit_path=unit.path,
        category=category,
        **counters,
    )


def _september(world):
    """September's rollups for three units and a few needs still overdue at its end."""
    _count(date(2026, 9, 10), world.grid_a, world.housing, world.cat_roads, registered=18,
           on_the_spot=5, assigned=13, accepted_on_time=12, response_overdue=1,
           replied_on_time=9, overdue=3, callbacks=8, resolved=6, partly_resolved=1,
           unresolved=1, very_satisfied=3, satisfied=3, basic_satisfied=1, dissatisfied=1,
           unreachable=1)  # fmt: skip
    _count(date(2026, 9, 20), world.grid_b, world.transport, world.cat_water, registered=9,
           on_the_spot=1, assigned=8, accepted_on_time=8, replied_on_time=7, callbacks=6,
           resolved=5, partly_resolved=1, very_satisfied=4, satisfied=2)  # fmt: skip
    _count(date(2026, 9, 25), world.grid_b, world.transport_roads, world.cat_roads,
           registered=2, assigned=2, accepted_on_time=2, replied_on_time=1, overdue=1)  # fmt: skip
    _count(date(2026, 8, 20), world.grid_a, world.housing, world.cat_roads, registered=12,
           replied_on_time=8, overdue=1, accepted_on_time=9, callbacks=5, resolved=4,
           satisfied=5)  # fmt: skip
    with time_machine.travel(timezone.make_aware(datetime(2026, 9, 7, 9, 0)), tick=False):
        for i, title in enumerate(("村口路灯不亮", "小区下水道堵塞", "农贸市场占道经营")):
            world.assigned(
                title=title,
                requester=RequesterInput(name="张三丰", phone=f"1381234567{i}"),
            )
        world.assigned(
            title="西岭村通村公路破损",
            lead=world.transport,
            area=world.grid_b,
            actor=world.officer_b,
        )


def test_the_monthly_report_prints_as_an_a4_document(live_server, browser, world, screenshot_dir):
    _september(world)
    context = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    page = context.new_page()
    _login(page, live_server.url, "leader", "pw-leader")
    page.goto(f"{live_server.url}/stats/report/?month=2026-09")
    expect(page.get_by_test_id("report-title")).to_have_text("2026年9月问需工作月报")
    expect(page.get_by_test_id("report-scope")).to_have_text("青山县")
    expect(page.locator("[data-table=overdue] tr[data-need]")).to_have_count(4)
    expect(page.locator("tr[data-flagged]")).to_have_count(1)  # 县住建局: 9 of 12 on time
    assert "张三丰" not in page.content()
    page.screenshot(path=str(screenshot_dir / "report-1280.png"), full_page=True)

    # print: no navigation, no controls; the report fills the page
    page.emulate_media(media="print")
    expect(page.locator("nav.wx-navbar")).to_be_hidden()
    expect(page.get_by_test_id("report-controls")).to_be_hidden()
    expect(page.get_by_test_id("report")).to_be_visible()
    page.screenshot(path=str(screenshot_dir / "report-print-1280.png"), full_page=True)
    _fits_a4(page)
    pdf = page.pdf(format="A4", print_background=True, prefer_css_page_size=True)
    (screenshot_dir / "report.pdf").write_bytes(pdf)
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    assert 1 <= pages <= 4, pages
    context.close()


def _fits_a4(page):
    """In print, at A4's content width (210 mm less 2 × 14 mm margins), no table runs past the
    page (the overdue list's nine columns wrap their headings and cells instead)."""
    page.set_viewport_size({"width": A4_CONTENT_PX, "height": 1100})
    widths = page.evaluate(
        """() => [...document.querySelectorAll('.wx-report-table')].map(t => [
            t.dataset.table, Math.ceil(t.getBoundingClientRect().right)])"""
    )
    page_width = page.evaluate("document.documentElement.clientWidth")
    assert len(widths) >= 5
    too_wide = [(name, right) for name, right in widths if right > page_width]
    assert not too_wide, f"tables wider than the A4 page ({page_width} px): {too_wide}"


def test_the_english_report_fits_a4_portrait_too(live_server, browser, world, screenshot_dir):
    # English headings and cells are longer than Chinese ones: the widest case for the page
    _september(world)
    context = browser.new_context(viewport=DESKTOP, locale="en-US")
    context.add_cookies([{"name": "django_language", "value": "en", "url": live_server.url}])
    page = context.new_page()
    _login(page, live_server.url, "leader", "pw-leader")
    page.goto(f"{live_server.url}/stats/report/?month=2026-09")
    expect(page.locator("[data-table=overdue] tr[data-need]")).to_have_count(4)
    page.emulate_media(media="print")
    _fits_a4(page)
    page.screenshot(path=str(screenshot_dir / "report-print-en-a4.png"), full_page=True)
    context.close()


def test_the_monthly_report_on_a_phone(live_server, browser, world, screenshot_dir):
    _september(world)
    context = browser.new_context(viewport=PHONE, locale="zh-CN", is_mobile=True)
    page = context.new_page()
    _login(page, live_server.url, "leader", "pw-leader")
    page.goto(f"{live_server.url}/stats/report/?month=2026-09")
    expect(page.get_by_test_id("report-title")).to_be_visible()
    width = page.evaluate("document.scrollingElement.scrollWidth")
    assert width <= PHONE["width"], f"the page scrolls sideways: {width} px"
    page.screenshot(path=str(screenshot_dir / "report-375.png"), full_page=True)
    # a bad month: the form says why, in Chinese
    page.goto(f"{live_server.url}/stats/report/?month=2026-13")
    expect(page.get_by_test_id("problems")).to_contain_text("月份应在 1 到 12 之间")
    context.close()
