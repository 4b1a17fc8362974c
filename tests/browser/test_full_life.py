"""The whole life of a need through the UI alone (issue 3, item 7): the officer registers it on
a phone, the dispatcher assigns it to 县住建局 and the handler accepts it, notes progress and
replies at desktop width, and the officer calls the resident back on the phone; the need ends
closed with every step on its timeline. Each person works in their own browser context, on the
device their work is done on, and logs out at the end. (The need page's actions at the other
width are in test_need_detail.py.)

And the other side of scope: a need outside a user's areas and units answers the 404 page.
Screenshots of each step go to var/screenshots/ (life-*.png, out of git).
"""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, ViewportSize, expect

from wenxu.needs.models import Need

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE: ViewportSize = {"width": 375, "height": 812}
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
NUMBER = re.compile(r"WX-\d{4}-\d{6}")
TITLE = "东河村三组自来水每天下午停水"
DESCRIPTION = (
    "东河村三组 12 户村民反映，最近一个月自来水每天下午停两三个小时，老人做饭困难，"
    "希望尽快查明原因、恢复正常供水。"
)


class Step:
    """Numbered screenshots of one run: life-01-officer-capture-375.png, …"""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.n = 0

    def shot(self, page: Page, name: str) -> None:
        self.n += 1
        page.evaluate("window.scrollTo(0, 0)")  # the sticky navbar belongs at the top
        width = page.viewport_size["width"] if page.viewport_size else 0
        path = self.directory / f"life-{self.n:02d}-{name}-{width}.png"
        page.screenshot(path=str(path), full_page=True)


@contextmanager
def _session(
    browser: Browser, base_url: str, viewport: ViewportSize, username: str
) -> Iterator[Page]:
    """One person's own browser: logged in on entry, logged out through the menu on exit."""
    context = browser.new_context(viewport=viewport, locale="zh-CN")
    page = context.new_page()
    page.goto(f"{base_url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", f"pw-{username}")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/")
    try:
        yield page
        _open_menu(page)
        page.get_by_role("button", name="退出").click()
        page.wait_for_url(re.compile(r"/accounts/login/"))
        expect(page.locator("#id_username")).to_be_visible()
    finally:
        context.close()


def _open_menu(page: Page) -> None:
    """On a phone the navigation is folded behind the menu button."""
    toggler = page.locator(".navbar-toggler")
    if toggler.is_visible() and toggler.get_attribute("aria-expanded") != "true":
        toggler.click()
        expect(page.locator("#wx-nav")).to_have_class(re.compile(r"\bshow\b"))


def _no_horizontal_scroll(page: Page, viewport: ViewportSize) -> None:
    width = page.evaluate("document.scrollingElement.scrollWidth")
    assert width <= viewport["width"], f"the page scrolls sideways: {width} px"


def _action(page: Page, action: str) -> Locator:
    """The form of one action on the detail page, its panel unfolded."""
    panel = page.locator(f"details[data-action={action}]")
    expect(panel).to_have_count(1)
    if panel.get_attribute("open") is None:
        panel.locator("summary").click()
    form = page.locator(f"form[data-form={action}]")
    expect(form).to_be_visible()
    return form


def _submit(page: Page, form: Locator, button: str, number: str, message: str) -> None:
    form.get_by_role("button", name=button).click()
    page.wait_for_url(re.compile(rf"/needs/{number}/$"))
    expect(page.locator(".alert-success")).to_contain_text(message)


def test_a_need_from_registration_to_closed_through_the_ui(
    browser, live_server, world, screenshot_dir
):
    base = live_server.url
    step = Step(screenshot_dir)

    # --- the officer registers what a resident said, on the capture form
    viewport = PHONE
    with _session(browser, base, viewport, "officer") as page:
        page.get_by_test_id("capture").click()
        page.wait_for_url(f"{base}/needs/new/")
        page.fill("#id_title", TITLE)
        page.fill("#id_description", DESCRIPTION)
        page.get_by_text("求助", exact=True).click()
        page.get_by_text("急", exact=True).click()
        # the category found by its pinyin initials: one match is chosen at once
        page.get_by_label("搜索分类").fill("gs")
        expect(page.locator("#id_category")).to_have_value(str(world.cat_water.pk))
        page.get_by_label("搜索区域").fill("dhc")
        expect(page.locator("#id_area option").first).to_have_text("找到 2 个，请选择")
        page.select_option("#id_area", label="东河村第一网格（东河镇 / 东河村）")
        page.fill("#id_address", "东河村三组水塔旁")
        page.fill("#id_requester_name", "张桂英")
        page.fill("#id_requester_phone", "13812345678")
        _no_horizontal_scroll(page, viewport)
        step.shot(page, "officer-capture")
        page.get_by_role("button", name="提交登记").click()
        page.wait_for_url(re.compile(r"/needs/WX-\d{4}-\d{6}/$"))
        number = page.get_by_test_id("number").inner_text()
        assert NUMBER.fullmatch(number)
        expect(page.locator(".alert-success")).to_contain_text(f"已登记，台账编号 {number}")
        expect(page.locator("[data-status=registered]").first).to_be_visible()
        # the resident's phone is masked even for the officer who typed it
        expect(page.get_by_test_id("requester")).to_contain_text("138****5678")
        assert "13812345678" not in page.content()
        step.shot(page, "officer-registered")

    # --- the dispatcher finds it by its number and assigns it to 县住建局
    viewport = DESKTOP
    with _session(browser, base, viewport, "dispatcher") as page:
        _open_menu(page)
        search = page.get_by_role("searchbox", name="搜索诉求")
        search.fill(number)
        search.press("Enter")
        page.wait_for_url(f"{base}/needs/{number}/")
        form = _action(page, "assign")
        with page.expect_response(lambda r: r.url.endswith(f"/needs/{number}/assign/")):
            form.locator("select[name=lead_unit]").select_option(label="青山县住房和城乡建设局")
        expect(page.get_by_test_id("assign-preview")).to_contain_text("办结时限")
        _no_horizontal_scroll(page, viewport)
        step.shot(page, "dispatcher-assign")
        _submit(page, form, "确认交办", number, "已交办给 县住建局")
        expect(page.get_by_test_id("lead-unit")).to_have_text("青山县住房和城乡建设局")
        expect(page.locator("[data-status=assigned]").first).to_be_visible()
        step.shot(page, "dispatcher-assigned")

    # --- the handler sees it waiting on the workbench, accepts, notes progress and replies
    with _session(browser, base, viewport, "handler") as page:
        expect(page.get_by_test_id("count-to_accept")).to_have_text("1")
        waiting = page.get_by_test_id("list-to_accept").get_by_test_id("item")
        expect(waiting).to_have_count(1)
        expect(waiting).to_contain_text(number)
        step.shot(page, "handler-home")
        waiting.click()
        page.wait_for_url(f"{base}/needs/{number}/")

        _submit(page, _action(page, "accept"), "签收", number, "已签收")
        expect(page.locator("[data-status=in_progress]").first).to_be_visible()

        form = _action(page, "progress")
        form.locator("textarea[name=note]").fill("已到现场查看，三组供水管道老化漏水，正在抢修。")
        _submit(page, form, "记录进展", number, "已记录办理进展")

        form = _action(page, "reply")
        form.get_by_text("已解决", exact=True).click()
        form.locator("textarea[name=reply_text]").fill(
            "已更换三组老化供水管道 80 米，供水恢复正常，并告知村民。"
        )
        _no_horizontal_scroll(page, viewport)
        step.shot(page, "handler-reply")
        _submit(page, form, "提交答复", number, "已答复，等待回访")
        expect(page.locator("[data-status=replied]").first).to_be_visible()
        expect(page.get_by_test_id("no-actions")).to_be_visible()
        step.shot(page, "handler-replied")

    # --- the officer calls the resident back: resolved, satisfied
    viewport = PHONE
    with _session(browser, base, viewport, "officer") as page:
        expect(page.get_by_test_id("count-to_callback")).to_have_text("1")
        page.get_by_test_id("list-to_callback").get_by_test_id("item").filter(
            has_text=number
        ).click()
        page.wait_for_url(f"{base}/needs/{number}/")
        form = _action(page, "callback")
        form.locator("select[name=channel]").select_option("phone")
        form.locator("select[name=resolved]").select_option("yes")
        form.locator("select[name=satisfaction]").select_option("satisfied")
        step.shot(page, "officer-callback")
        _submit(page, form, "提交回访结果", number, "已记录回访结果，诉求办结")

        # then the need is closed and its timeline tells every step, in order
        expect(page.locator("[data-status=closed]").first).to_have_text("已办结")
        expect(page.get_by_test_id("callback")).to_contain_text("电话回访")
        steps = page.get_by_test_id("timeline").locator("li")
        assert steps.evaluate_all("items => items.map(li => li.dataset.action)") == [
            "register",
            "assign",
            "accept",
            "progress",
            "reply",
            "callback",
        ]
        timeline = page.get_by_test_id("timeline").inner_text()
        for words in [
            "王网格",
            "登记诉求",
            "调度员",
            "交办给 县住建局",
            "住建承办人",
            "签收，开始办理",
            "办理进展：已到现场查看，三组供水管道老化漏水，正在抢修。",
            "答复群众（已解决），答复内容：已更换三组老化供水管道 80 米",
            "回访（电话回访）：已解决，满意；诉求办结",
        ]:
            assert words in timeline
        expect(page.get_by_test_id("no-actions")).to_be_visible()
        _no_horizontal_scroll(page, viewport)
        step.shot(page, "officer-closed")

    need = Need.objects.get(number=number)
    assert (need.status, need.lead_unit, need.outcome) == ("closed", world.housing, "resolved")
    assert (need.callback_resolved, need.callback_satisfaction, need.callback_channel) == (
        "yes",
        "satisfied",
        "phone",
    )
    assert (need.area, need.category) == (world.grid_a, world.cat_water)
    assert need.events.count() == 6


@pytest.mark.parametrize(
    ("username", "viewport"),
    [("outsider", PHONE), ("officer_b", DESKTOP)],
    ids=["outsider-phone", "officer_b-desktop"],
)
def test_a_need_out_of_scope_answers_the_404_page(
    browser, live_server, world, username, viewport, screenshot_dir
):
    # given a need in 东河镇, which neither a user without roles nor 西岭乡's officer may see
    need = world.register(title="东河村村口路灯不亮")
    context = browser.new_context(viewport=viewport, locale="zh-CN")
    page = context.new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", f"pw-{username}")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")

    # when they open its address
    response = page.goto(f"{live_server.url}/needs/{need.number}/")

    # then the 404 page says so in Chinese, and gives nothing of the need away
    assert response is not None
    assert response.status == 404
    expect(page.locator("h1")).to_have_text("未找到该页面或诉求")
    expect(page.locator("main")).to_contain_text("它可能不存在，或不在您的权限范围内。")
    assert need.title not in page.content()
    _no_horizontal_scroll(page, viewport)
    page.screenshot(
        path=str(screenshot_dir / f"life-404-{username}-{viewport['width']}.png"), full_page=True
    )
    # the search box does not find it either: the ledger shows no result
    _open_menu(page)
    search = page.get_by_role("searchbox", name="搜索诉求")
    search.fill(need.number)
    search.press("Enter")
    page.wait_for_url(re.compile(r"/search/\?q="))
    expect(page.get_by_test_id("count")).to_have_text("共 0 条")
    context.close()
