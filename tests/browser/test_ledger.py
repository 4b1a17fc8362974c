"""台账 in a real browser: a dispatcher filters and bulk-assigns, on a phone and on a desktop."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import DESKTOP, PHONE
from tests.browser.helpers import login as _login
from tests.browser.helpers import no_horizontal_scroll as _no_horizontal_scroll
from wenxu.needs import services
from wenxu.needs.models import Need

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _shoot(page, path):
    # From the top: a full-page shot taken while scrolled shows the sticky navigation mid-page.
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(path), full_page=True)


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_dispatcher_filters_the_ledger_and_assigns_in_bulk(
    browser, live_server, world, viewport, screenshot_dir
):
    # given registered and assigned needs, one with a long title and a Latin string without
    # spaces, one with a requester whose name the page must mask
    world.register(
        title="东河村三组通往镇上的机耕路在雨后严重积水，"
        "村民反映https://example.com/very/long/path/without/any/spaces/at/all",
        requester=services.RequesterInput(name="张三丰", phone="13812345678"),
        urgency="urgent",
    )
    world.register(title="村口路灯不亮", source="hotline")
    world.register(actor=world.officer_b, area=world.grid_b, title="西岭村道路破损")
    for i in range(3):
        world.assigned(title=f"已交办诉求{i}")
    width = viewport["width"]
    page = browser.new_page(viewport=viewport, locale="zh-CN")
    _login(page, live_server.url, "dispatcher", "pw-dispatcher")

    # when the dispatcher opens the ledger
    page.goto(f"{live_server.url}/ledger/")
    count = page.get_by_test_id("count")
    expect(count).to_have_text("共 6 条")
    expect(page.locator("body")).to_contain_text("张*")
    expect(page.locator("body")).not_to_contain_text("张三丰")
    _no_horizontal_scroll(page, viewport)
    _shoot(page, screenshot_dir / f"ledger-{width}.png")

    # and keeps only the registered needs (on a phone the filters are folded away first)
    if viewport is PHONE:
        expect(page.locator("#ledger-more")).to_be_hidden()
        page.get_by_role("button", name="更多筛选").click()
        expect(page.locator("#ledger-more")).to_have_class(re.compile(r"\bcollapse show\b"))
        _no_horizontal_scroll(page, viewport)
        _shoot(page, screenshot_dir / f"ledger-filters-{width}.png")
    page.locator("label[for=ledger-status-registered]").click()

    # then htmx swaps in the results and the address bar keeps the filter
    expect(count).to_have_text("共 3 条")
    expect(page).to_have_url(f"{live_server.url}/ledger/?status=registered")
    _no_horizontal_scroll(page, viewport)
    _shoot(page, screenshot_dir / f"ledger-registered-{width}.png")

    # when the dispatcher ticks two of them and assigns them to 县住建局 (once htmx has settled:
    # a swap still in flight would replace the boxes just ticked)
    page.wait_for_function("() => !document.querySelector('.htmx-request, .htmx-settling')")
    boxes = page.locator('input[name="need"]:visible')
    expect(boxes).to_have_count(3)
    boxes.nth(0).check()
    boxes.nth(1).check()
    expect(page.locator("[data-selected-count]")).to_have_text("2")
    # (on a phone the unit pickers unfold once something is ticked; wider screens show them)
    if viewport is PHONE:
        expect(page.locator("#bulk-units")).to_have_class(re.compile(r"\bcollapse show\b"))
    expect(page.locator("#bulk-units")).to_be_visible()
    _shoot(page, screenshot_dir / f"ledger-ticked-{width}.png")
    page.select_option("#bulk-lead", str(world.housing.pk))
    page.get_by_test_id("bulk-submit").click()

    # then both are assigned, the page says so, and the filter is still applied
    page.wait_for_url("**/ledger/?status=registered")
    expect(page.locator(".alert-success")).to_contain_text("已交办 2 条诉求给县住建局")
    expect(count).to_have_text("共 1 条")
    assert Need.objects.filter(status="assigned", lead_unit=world.housing).count() == 5
    _no_horizontal_scroll(page, viewport)
    _shoot(page, screenshot_dir / f"ledger-assigned-{width}.png")
    page.close()


def test_officer_sees_no_bulk_assign_and_search_finds_a_number(browser, live_server, world):
    need = world.register(title="村口路灯不亮")
    page = browser.new_page(viewport=DESKTOP, locale="zh-CN")
    _login(page, live_server.url, "officer", "pw-officer")
    page.goto(f"{live_server.url}/ledger/")
    expect(page.get_by_test_id("count")).to_have_text("共 1 条")
    expect(page.locator('input[name="need"]')).to_have_count(0)
    # typing a keyword filters after a short pause, without pressing Enter
    page.locator("#ledger-q").press_sequentially("自来水")
    expect(page.get_by_test_id("count")).to_have_text("共 0 条")
    expect(page.get_by_test_id("empty")).to_contain_text("没有符合条件的诉求")
    expect(page).to_have_url(re.compile(r"/ledger/\?q=%E8%87%AA%E6%9D%A5%E6%B0%B4$"))
    # the search box in the navigation opens the need by its number, typed in lower case
    with page.expect_request(lambda request: f"/needs/{need.number}/" in request.url):
        page.get_by_role("searchbox", name="搜索诉求").fill(need.number.lower())
        page.get_by_role("searchbox", name="搜索诉求").press("Enter")
    page.close()
