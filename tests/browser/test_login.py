"""The login page and the home page in a real browser, desktop and phone sized."""

import pytest

from wenxu.accounts.models import Membership, User

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 800}


@pytest.fixture
def officer(world):
    return world.officer


def _login(page, base_url, username, password):
    page.goto(f"{base_url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_officer_logs_in_and_sees_counts_of_own_scope(
    browser, live_server, world, viewport, screenshot_dir
):
    # given one need in the officer's township and one outside it
    world.register()
    world.register(actor=world.officer_b, area=world.grid_b)
    page = browser.new_page(viewport=viewport, locale="zh-CN")

    page.goto(f"{live_server.url}/accounts/login/")
    assert page.title().startswith("登录")
    page.screenshot(path=str(screenshot_dir / f"login-{viewport['width']}.png"), full_page=True)
    # the form fits a phone screen: no horizontal scrolling
    assert page.evaluate("document.scrollingElement.scrollWidth") <= viewport["width"]

    _login(page, live_server.url, "officer", "pw-officer")

    page.wait_for_url(f"{live_server.url}/")
    assert page.get_by_test_id("total").inner_text() == "1"
    page.screenshot(path=str(screenshot_dir / f"home-{viewport['width']}.png"), full_page=True)
    assert page.evaluate("document.scrollingElement.scrollWidth") <= viewport["width"]
    page.close()


def test_wrong_password_is_refused_in_chinese(browser, live_server, world):
    page = browser.new_page(viewport=DESKTOP)
    _login(page, live_server.url, "officer", "wrong-password")
    assert "/accounts/login/" in page.url
    assert "请输入一个正确的" in page.locator(".alert-danger").inner_text()
    page.close()


def test_language_switch_to_english(browser, live_server, world):
    page = browser.new_page(viewport=DESKTOP)
    page.goto(f"{live_server.url}/accounts/login/")
    page.click("button[value=en]")
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.title().startswith("Log in")
    page.close()


def test_user_without_membership_sees_nothing_and_whom_to_ask(browser, live_server, world):
    world.register()
    user = User.objects.get(username="outsider")
    assert not Membership.objects.filter(user=user).exists()
    page = browser.new_page(viewport=DESKTOP)
    _login(page, live_server.url, "outsider", "pw-outsider")
    page.wait_for_url(f"{live_server.url}/")
    assert "请联系系统管理员" in page.get_by_test_id("no-scope").inner_text()
    assert page.get_by_test_id("total").count() == 0
    assert page.locator("[data-testid=item]").count() == 0
    page.close()
