"""诉求详情 in a real browser: a handler replies through the form at phone and desktop width, and
a stale form (two people on the same need) keeps everything typed under the conflict message."""

import pytest

from wenxu.needs import services
from wenxu.needs.models import Need

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 800}
STALE = "该记录已被他人修改，请刷新"
LONG_TITLE = (
    "东河村村口至镇中心小学的道路两侧路灯已经连续三个多月不亮，学生晚自习放学后出行存在安全隐患"
)


def _login(page, base_url, username, next_path):
    page.goto(f"{base_url}/accounts/login/?next={next_path}")
    page.fill("#id_username", username)
    page.fill("#id_password", f"pw-{username}")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}{next_path}")


def _no_horizontal_scroll(page, viewport) -> None:
    assert page.evaluate("document.scrollingElement.scrollWidth") <= viewport["width"]


def _small_touch_targets(page) -> list[str]:
    """Visible buttons, summaries and form controls of the action forms lower than 44 px."""
    small: list[str] = page.evaluate(
        """() => [...document.querySelectorAll(
              '.wx-action summary, .wx-action button, .wx-action select, .wx-action textarea,'
              + ' .wx-action input:not([type=hidden]):not(.btn-check):not(.form-check-input),'
              + ' .wx-action label.btn, .wx-action .form-check-label')]
            .filter(el => el.offsetParent !== null)
            .filter(el => el.getBoundingClientRect().height < 44)
            .map(el => el.outerHTML.slice(0, 100))"""
    )
    return small


def _need(world) -> Need:
    need: Need = world.in_progress(
        title=LONG_TITLE,
        requester=services.RequesterInput(name="张三丰", phone="13812345678"),
        address="东河村村口",
        nature_tags=["urgent", "worrying"],
    )
    return services.need_progress(
        actor=world.handler, need=need, version=need.version, note="已联系供电所勘察线路"
    )


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_handler_replies_through_the_form_and_sees_the_timeline(
    browser, live_server, world, viewport, screenshot_dir
):
    need = _need(world)
    width = viewport["width"]
    page = browser.new_page(viewport=viewport, locale="zh-CN")
    _login(page, live_server.url, "handler", f"/needs/{need.number}/")

    # the page: masked requester, the timeline, the reply form open first
    assert "138****5678" in page.get_by_test_id("requester").inner_text()
    assert "13812345678" not in page.content()
    assert page.locator("details[data-action=reply]").get_attribute("open") is not None
    _no_horizontal_scroll(page, viewport)
    if width < 576:
        assert _small_touch_targets(page) == []
    page.screenshot(path=str(screenshot_dir / f"need-detail-{width}.png"), full_page=True)

    # the follow-up date appears only for 创造条件推动 (planned)
    reply = page.locator("form[data-form=reply]")
    assert not reply.locator("[data-followup]").is_visible()
    reply.get_by_text("创造条件推动", exact=True).click()
    assert reply.locator("[data-followup]").is_visible()
    reply.get_by_text("已解决", exact=True).click()
    assert not reply.locator("[data-followup]").is_visible()

    reply.locator("textarea[name=reply_text]").fill("已更换村口三盏路灯，恢复夜间照明。")
    page.screenshot(path=str(screenshot_dir / f"need-detail-reply-{width}.png"), full_page=True)
    reply.get_by_role("button", name="提交答复").click()

    page.wait_for_url(f"{live_server.url}/needs/{need.number}/")
    assert "已答复" in page.locator(".alert-success").inner_text()
    timeline = page.get_by_test_id("timeline").inner_text()
    assert "答复群众（已解决），答复内容：已更换村口三盏路灯，恢复夜间照明。" in timeline
    assert "办理进展：已联系供电所勘察线路" in timeline
    assert page.locator("[data-status=replied]").first.is_visible()
    # the handler has nothing more to do until the callback
    assert page.get_by_test_id("no-actions").is_visible()
    _no_horizontal_scroll(page, viewport)
    page.screenshot(path=str(screenshot_dir / f"need-detail-replied-{width}.png"), full_page=True)
    need.refresh_from_db()
    assert (need.status, need.outcome) == ("replied", "resolved")
    page.close()


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_second_submit_on_a_stale_page_keeps_the_typed_reply(
    browser, live_server, world, viewport, screenshot_dir
):
    need = _need(world)
    path = f"/needs/{need.number}/"
    # two people, two browsers, the same need
    first = browser.new_context(viewport=viewport, locale="zh-CN")
    second = browser.new_context(viewport=viewport, locale="zh-CN")
    leader = first.new_page()
    handler = second.new_page()
    _login(handler, live_server.url, "handler", path)
    _login(leader, live_server.url, "leader", path)

    # the handler starts typing the reply...
    typed = "已更换村口三盏路灯，恢复夜间照明。请群众放心。"
    handler_form = handler.locator("form[data-form=reply]")
    handler_form.get_by_text("已解决", exact=True).click()
    handler_form.locator("textarea[name=reply_text]").fill(typed)

    # ...while the leader supervises the need
    supervise = leader.locator("details[data-action=supervise]")
    if supervise.get_attribute("open") is None:
        supervise.locator("summary").click()
    supervise.locator("textarea[name=note]").fill("本周内解决")
    supervise.get_by_role("button", name="督办").click()
    leader.wait_for_url(f"{live_server.url}{path}")
    assert "已督办" in leader.locator(".alert-success").inner_text()

    # the handler's submit is refused, and nothing typed is lost
    handler_form.get_by_role("button", name="提交答复").click()
    handler.wait_for_load_state()
    alert = handler.get_by_test_id("action-alert")
    assert STALE in alert.inner_text()
    assert alert.is_visible()
    kept = handler.locator("form[data-form=reply]")
    assert kept.locator("textarea[name=reply_text]").input_value() == typed
    assert kept.locator("input[name=outcome][value=resolved]").is_checked()
    assert handler.get_by_test_id("supervised").is_visible()  # the need as it is now
    _no_horizontal_scroll(handler, viewport)
    width = viewport["width"]
    handler.screenshot(path=str(screenshot_dir / f"need-detail-stale-{width}.png"), full_page=True)
    need.refresh_from_db()
    assert need.status == "in_progress"

    # having seen the change, the handler submits the kept reply once more
    kept.get_by_role("button", name="提交答复").click()
    handler.wait_for_url(f"{live_server.url}{path}")
    assert "已答复" in handler.locator(".alert-success").inner_text()
    need.refresh_from_db()
    assert (need.status, need.reply_text) == ("replied", typed)
    first.close()
    second.close()


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_dispatcher_assigns_with_the_deadline_preview(
    browser, live_server, world, viewport, screenshot_dir
):
    need = world.register(title=LONG_TITLE, urgency="urgent")
    page = browser.new_page(viewport=viewport, locale="zh-CN")
    _login(page, live_server.url, "dispatcher", f"/needs/{need.number}/")
    width = viewport["width"]

    form = page.locator("form[data-form=assign]")
    preview = page.get_by_test_id("assign-preview")
    assert "2 小时" in preview.inner_text()
    assert "24 小时" in preview.inner_text()
    # choosing the unit asks the server for a fresh preview (htmx)
    with page.expect_response(lambda r: r.url.endswith(f"/needs/{need.number}/assign/")):
        form.locator("select[name=lead_unit]").select_option(label="青山县住房和城乡建设局")
    assert "24 小时" in page.get_by_test_id("assign-preview").inner_text()
    # the lead unit cannot be ticked as a co unit as well
    co = form.locator("[data-co-units]")
    assert co.get_by_label("青山县住房和城乡建设局").is_disabled()
    co.get_by_label("青山县交通运输局").check()
    _no_horizontal_scroll(page, viewport)
    if width < 576:
        assert _small_touch_targets(page) == []
    page.screenshot(path=str(screenshot_dir / f"need-detail-assign-{width}.png"), full_page=True)

    # merge: the suggestions come from the dispatcher's scope
    other = world.register(title="同一路段路灯不亮")
    merge = page.locator("details[data-action=merge]")
    merge.locator("summary").click()
    merge.locator("input[name=into]").fill("同一路段")
    suggestion = merge.locator(f"[data-merge-into='{other.number}']")
    suggestion.wait_for()
    page.screenshot(path=str(screenshot_dir / f"need-detail-merge-{width}.png"), full_page=True)
    suggestion.click()
    assert merge.locator("input[name=into]").input_value() == other.number

    form.get_by_role("button", name="确认交办").click()
    page.wait_for_url(f"{live_server.url}/needs/{need.number}/")
    assert "已交办给 县住建局" in page.locator(".alert-success").inner_text()
    assert "交办给 县住建局（协办：县交通局）" in page.get_by_test_id("timeline").inner_text()
    page.close()


def test_callback_unreachable_leaves_the_verdict_blank(browser, live_server, world, screenshot_dir):
    need = world.replied()
    page = browser.new_page(viewport=PHONE, locale="zh-CN")
    _login(page, live_server.url, "officer", f"/needs/{need.number}/")
    form = page.locator("form[data-form=callback]")
    form.locator("select[name=resolved]").select_option("yes")
    form.locator("select[name=channel]").select_option("unreachable")
    assert form.locator("select[name=resolved]").is_disabled()
    assert form.locator("select[name=resolved]").input_value() == ""
    page.screenshot(path=str(screenshot_dir / "need-detail-callback-375.png"), full_page=True)
    form.get_by_role("button", name="提交回访结果").click()
    page.wait_for_url(f"{live_server.url}/needs/{need.number}/")
    need.refresh_from_db()
    assert (need.status, need.callback_channel, need.callback_resolved) == (
        "closed",
        "unreachable",
        "",
    )
    page.close()
