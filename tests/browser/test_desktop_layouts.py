"""The pages whose flows the browser tests drive at phone width only (topics, signals, tokens and
client keys, the routing suggestion), opened once at desktop width with real content: they fit
the screen and break no Content-Security-Policy (the autouse check in conftest.py). Driving each
flow a second time at 1280 px cost CI about a minute and proved nothing the phone run did not."""

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import DESKTOP, login, no_horizontal_scroll, shoot
from wenxu.accounts.services import api_token_issue
from wenxu.integrations.services import api_client_issue
from wenxu.topics.services import topic_create

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LONG_TITLE = "东河镇多个村组道路两侧路灯长期失修、夜间出行存在安全隐患的系统性问题专项治理"


def test_dispatchers_pages_fit_a_desktop_screen(browser, live_server, world, screenshot_dir):
    # given a topic with a long title and two needs, and a personal token
    needs = [
        world.register(title="东河村村口路灯不亮"),
        world.register(title="东河村主干道路灯坏了"),
    ]
    topic = topic_create(
        actor=world.dispatcher, title=LONG_TITLE, area=world.town_a, summary="夜间照明", needs=needs
    )
    api_token_issue(user=world.dispatcher, name="12345 对接脚本", days=30)
    context = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    page = context.new_page()
    login(page, live_server.url, "dispatcher", "pw-dispatcher")

    # when the dispatcher opens each page, then it fits the screen
    for path, shown, name in [
        ("/topics/", LONG_TITLE, "topics"),
        (f"/topics/{topic.pk}/", LONG_TITLE, "topic"),
        ("/topics/new/", "", "topic-new"),
        ("/signals/", "", "signals"),
        ("/accounts/tokens/", "12345 对接脚本", "tokens"),
        (f"/needs/{needs[0].number}/", "东河村村口路灯不亮", "need"),
    ]:
        response = page.goto(f"{live_server.url}{path}")
        assert response is not None
        assert response.status == 200, path
        if shown:
            expect(page.locator("main")).to_contain_text(shown)
        no_horizontal_scroll(page, DESKTOP)
        shoot(page, screenshot_dir / f"desktop-{name}-1280.png")
    context.close()


def test_client_keys_page_fits_a_desktop_screen(
    browser: Any, live_server: Any, world: Any, screenshot_dir: Any
) -> None:
    api_client_issue(name="全县数据平台", actions=["read", "webhooks"], rate_limit=600)
    context = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    page = context.new_page()
    login(page, live_server.url, "admin", "pw-admin")
    page.goto(f"{live_server.url}/integrations/keys/")
    expect(page.locator("main")).to_contain_text("全县数据平台")
    no_horizontal_scroll(page, DESKTOP)
    shoot(page, screenshot_dir / "desktop-keys-1280.png")
    context.close()
