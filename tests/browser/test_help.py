"""帮助 in a real browser: from the navigation to a role's page of the guide (docs/guide/), its
screenshots loaded, at phone and desktop width. Screenshots go to var/screenshots/ (help-*.png)."""

import re

import pytest
from playwright.sync_api import ViewportSize, expect

from wenxu.core import guide

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE: ViewportSize = {"width": 375, "height": 812}
DESKTOP: ViewportSize = {"width": 1280, "height": 800}


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_the_help_menu_opens_the_guide_with_its_screenshots(
    browser, live_server, world, viewport, screenshot_dir
):
    if not guide.pages():
        pytest.skip("docs/guide/ is not in this checkout")
    width = viewport["width"]
    context = browser.new_context(viewport=viewport, locale="zh-CN")
    page = context.new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "handler")
    page.fill("#id_password", "pw-handler")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")

    # the help menu lists the guide's pages
    toggler = page.locator(".navbar-toggler")
    if toggler.is_visible():
        toggler.click()
    page.get_by_role("link", name="帮助").click()
    page.wait_for_url(f"{live_server.url}/help/")
    expect(page.get_by_test_id("guide-pages").locator("a")).to_have_count(len(guide.pages()))
    page.screenshot(path=str(screenshot_dir / f"help-{width}.png"), full_page=True)

    # the handler's page, with every screenshot it shows loaded from /help/img/
    page.get_by_test_id("guide-handler").click()
    page.wait_for_url(f"{live_server.url}/help/handler/")
    expect(page.locator("h1")).to_have_text("承办人")
    images = page.locator("[data-testid=guide-page] img")
    assert images.count() >= 3
    for i in range(images.count()):
        image = images.nth(i)
        assert re.fullmatch(r"/help/img/[a-z0-9-]+\.png", image.get_attribute("src") or "")
        image.scroll_into_view_if_needed()
        expect(image).to_have_js_property("complete", True)
        assert image.evaluate("img => img.naturalWidth") > 0, image.get_attribute("src")
        # no screenshot wider than the screen
        box = image.bounding_box()
        assert box is not None
        assert box["width"] <= width
    # the links between pages lead to the app's pages
    page.locator("[data-testid=guide-page] a", has_text="使用指南首页").first.click()
    page.wait_for_url(f"{live_server.url}/help/index/")
    assert page.evaluate("document.scrollingElement.scrollWidth") <= width
    page.evaluate("window.scrollTo({top: 0, behavior: 'instant'})")
    page.screenshot(path=str(screenshot_dir / f"help-index-{width}.png"), full_page=True)
    context.close()
