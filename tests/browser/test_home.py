"""我的工作台 in a real browser: the dispatcher's and the handler's home at phone and desktop
width, without horizontal scrolling and with touch-sized links on the phone."""

from datetime import timedelta

import pytest
import time_machine

from wenxu.core.tests.workbench_helpers import county_day
from wenxu.lib import clock

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 800}
LONG_TITLE = (
    "东河村村口至镇中心小学的道路两侧路灯已经连续三个多月不亮，学生晚自习放学后出行存在安全隐患"
)


@pytest.fixture
def county(world):
    now = clock.now()
    # registered three days ago: the urgent one (24 h) is overdue, the normal ones are not due
    day = county_day(world, when=now - timedelta(days=3))
    # and an urgent one from 22 hours ago: due in 2 hours, within its 4-hour lead time
    with time_machine.travel(now - timedelta(hours=22), tick=False):
        world.in_progress(title=LONG_TITLE, urgency="urgent")
    return day


def _login(page, base_url, username):
    page.goto(f"{base_url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", f"pw-{username}")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/")


def _small_touch_targets(page) -> list[str]:
    """Links and buttons in the page body lower than 44 px (what a thumb needs)."""
    small: list[str] = page.evaluate(
        """() => [...document.querySelectorAll('main a, main button')]
            .filter(el => el.offsetParent !== null)
            .filter(el => el.getBoundingClientRect().height < 44)
            .map(el => el.outerHTML.slice(0, 80))"""
    )
    return small


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_dispatcher_home(browser, live_server, county, viewport, screenshot_dir):
    page = browser.new_page(viewport=viewport, locale="zh-CN")
    _login(page, live_server.url, "dispatcher")

    assert page.get_by_test_id("count-to_assign").inner_text() == "2"
    assert page.get_by_test_id("count-overdue").inner_text() == "1"
    assert page.get_by_test_id("count-due_soon").inner_text() == "1"
    assert page.get_by_test_id("count-extension_pending").inner_text() == "1"
    assert page.get_by_test_id("count-supervised").inner_text() == "1"
    assert page.get_by_test_id("card-overdue").get_attribute("href") == "/ledger/?overdue=true"
    overdue = page.get_by_test_id("list-overdue")
    assert county.urgent.number in overdue.inner_text()
    assert overdue.get_by_test_id("item").get_attribute("href") == (
        f"/needs/{county.urgent.number}/"
    )
    assert "已超期" in overdue.inner_text()
    assert LONG_TITLE in page.get_by_test_id("list-due_soon").inner_text()
    assert page.get_by_test_id("capture").is_visible()

    page.screenshot(
        path=str(screenshot_dir / f"home-dispatcher-{viewport['width']}.png"), full_page=True
    )
    assert page.evaluate("document.scrollingElement.scrollWidth") <= viewport["width"]
    if viewport is PHONE:
        assert _small_touch_targets(page) == []
        # two cards side by side
        boxes = [
            page.get_by_test_id(f"card-{key}").bounding_box() for key in ("to_assign", "overdue")
        ]
        assert boxes[0]["y"] == boxes[1]["y"]
        assert boxes[0]["x"] < boxes[1]["x"]
    page.close()


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_handler_home(browser, live_server, world, county, viewport, screenshot_dir):
    page = browser.new_page(viewport=viewport, locale="zh-CN")
    _login(page, live_server.url, "handler")

    assert page.get_by_test_id("count-to_accept").inner_text() == "1"
    assert page.get_by_test_id("count-in_progress").inner_text() == "5"
    assert page.get_by_test_id("count-due_soon").inner_text() == "1"
    assert page.get_by_test_id("count-overdue").inner_text() == "1"
    assert page.get_by_test_id("card-to_accept").get_attribute("href") == (
        f"/ledger/?status=assigned&unit={world.housing.pk}"
    )
    text = page.locator("main").inner_text()
    assert county.assigned.number in text
    # 西岭乡's need, handled by 交通局, is none of 住建局's business
    assert county.replied_b.number not in text
    assert page.get_by_test_id("capture").count() == 0  # handlers do not register needs

    page.screenshot(
        path=str(screenshot_dir / f"home-handler-{viewport['width']}.png"), full_page=True
    )
    assert page.evaluate("document.scrollingElement.scrollWidth") <= viewport["width"]
    if viewport is PHONE:
        assert _small_touch_targets(page) == []
    page.close()


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
@pytest.mark.parametrize("username", ["officer", "leader"])
def test_officer_and_leader_homes_fit_the_screen(
    browser, live_server, county, username, viewport, screenshot_dir
):
    page = browser.new_page(viewport=viewport, locale="zh-CN")
    _login(page, live_server.url, username)

    if username == "officer":
        assert page.get_by_test_id("count-to_callback").inner_text() == "1"
        assert county.replied.number in page.get_by_test_id("list-to_callback").inner_text()
        assert page.get_by_test_id("list-mine").get_by_test_id("item").count() == 5
    else:
        assert page.get_by_test_id("by-status").is_visible()
        assert page.get_by_test_id("count-overdue").inner_text() == "1"

    page.screenshot(
        path=str(screenshot_dir / f"home-{username}-{viewport['width']}.png"), full_page=True
    )
    assert page.evaluate("document.scrollingElement.scrollWidth") <= viewport["width"]
    if viewport is PHONE:
        assert _small_touch_targets(page) == []
    page.close()
