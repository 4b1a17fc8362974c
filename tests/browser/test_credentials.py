"""我的令牌 and 接口密钥 in headless Chromium, on a phone and a desktop: issue, see the secret
once, revoke with confirmation (htmx), and no sideways scrolling."""

from pathlib import Path
from typing import Any

import pytest

from tests.browser.helpers import DESKTOP, PHONE, login, no_horizontal_scroll, shoot
from wenxu.accounts.models import ApiToken
from wenxu.accounts.services import api_token_issue
from wenxu.integrations.models import ApiClient
from wenxu.integrations.services import api_client_issue

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


# At phone width only, the narrower layout; the same pages at desktop width are in
# tests/browser/test_desktop_layouts.py (CI time: the flow is the same at both widths).
@pytest.mark.parametrize("viewport", [PHONE], ids=["phone"])
def test_admin_issues_and_revokes_a_token_and_a_key(
    browser: Any,
    live_server: Any,
    world: Any,
    viewport: dict[str, int],
    screenshot_dir: Path,
) -> None:
    from playwright.sync_api import expect

    name = "phone" if viewport is PHONE else "desktop"
    api_token_issue(user=world.admin, name="旧脚本", days=7)
    api_client_issue(name="西岭小程序", areas=[world.town_b], actions=["create"], source="online")
    api_client_issue(name="全县数据平台", actions=["read", "webhooks"], rate_limit=600)
    context = browser.new_context(viewport=viewport, locale="zh-CN")
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    login(page, live_server.url, "admin", "pw-admin")

    # 我的令牌: create one; the secret shows once, a reload does not show it again.
    page.goto(f"{live_server.url}/accounts/tokens/")
    page.fill("#id_name", "12345 对接脚本")
    page.select_option("#id_days", "30")
    page.click("[data-testid=token-form] button[type=submit]")
    secret = page.locator("[data-testid=secret-value]")
    expect(secret).to_be_visible()
    raw = secret.input_value()
    token = ApiToken.objects.get(name="12345 对接脚本")
    assert token.key_hash == ApiToken.hash_of(raw)
    no_horizontal_scroll(page, viewport)
    shoot(page, screenshot_dir / f"tokens-created-{name}.png")
    page.goto(f"{live_server.url}/accounts/tokens/")
    expect(page.locator("[data-testid=secret-once]")).to_have_count(0)
    expect(page.locator("[data-testid=tokens] tbody tr")).to_have_count(2)
    no_horizontal_scroll(page, viewport)
    shoot(page, screenshot_dir / f"tokens-{name}.png")
    # Revoke (htmx, after the browser's confirmation): the row changes in place.
    row = page.locator(f"#token-{token.pk}")
    row.locator("[data-testid=revoke]").click()
    expect(page.locator(f"#token-{token.pk} [data-field=state]")).to_have_text("已吊销")
    token.refresh_from_db()
    assert token.revoked_at is not None

    # 接口密钥: create one for 东河镇 with read only.
    page.goto(f"{live_server.url}/integrations/keys/")
    no_horizontal_scroll(page, viewport)
    page.click("[data-testid=new-key]")
    page.fill("#id_name", "12345 热线平台")
    page.select_option("#id_areas", [str(world.town_a.pk), str(world.village_b.pk)])
    page.uncheck("input[name=actions][value=create]")
    page.select_option("#id_source", "hotline")
    page.fill("#id_rate_limit", "60")
    no_horizontal_scroll(page, viewport)
    shoot(page, screenshot_dir / f"keys-form-{name}.png")
    page.click("[data-testid=key-form] button[type=submit]")
    key_secret = page.locator("[data-testid=secret-value]")
    expect(key_secret).to_be_visible()
    key = ApiClient.objects.get(name="12345 热线平台")
    assert key.key_hash == ApiClient.hash_of(key_secret.input_value())
    assert key.actions == ["read"]
    assert set(key.areas.all()) == {world.town_a, world.village_b}
    no_horizontal_scroll(page, viewport)
    shoot(page, screenshot_dir / f"keys-created-{name}.png")
    page.goto(f"{live_server.url}/integrations/keys/")
    expect(page.locator("[data-testid=keys] tbody tr")).to_have_count(3)
    no_horizontal_scroll(page, viewport)
    shoot(page, screenshot_dir / f"keys-{name}.png")
    page.locator(f"#key-{key.pk} [data-testid=revoke]").click()
    expect(page.locator(f"#key-{key.pk} [data-field=state]")).to_have_text("已吊销")
    key.refresh_from_db()
    assert key.revoked_at is not None
    context.close()


def test_a_dispatchers_menu_still_fits_with_my_tokens(
    browser: Any,
    live_server: Any,
    world: Any,
    screenshot_dir: Path,
) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    page = context.new_page()
    login(page, live_server.url, "dispatcher", "pw-dispatcher")
    # The account menu (修改密码, 两步验证, 我的令牌) opens under the user's name.
    page.get_by_test_id("nav-account").click()
    expect(page.locator("[data-testid=nav-tokens]")).to_be_visible()
    expect(page.locator("[data-testid=nav-password]")).to_be_visible()
    expect(page.locator("[data-testid=nav-keys]")).to_have_count(0)  # not an admin
    # One row of menu: the bar is no taller than a single line of items.
    assert page.locator("nav.wx-navbar").bounding_box()["height"] < 70
    no_horizontal_scroll(page, DESKTOP)
    page.screenshot(path=str(screenshot_dir / "nav-dispatcher-desktop.png"))
    context.close()
