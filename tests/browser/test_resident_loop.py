"""Closing the loop with a resident (issue 5, acceptance): the resident follows the need at
/track on a phone, rates the reply 不满意 through the text message's link, and a dispatcher on a
desktop sees the reopen request, accepts it, and the resident's /track shows the need being
handled again with its new deadline."""

from urllib.parse import urlsplit

import pytest
from django.utils import timezone

from wenxu.needs import services
from wenxu.needs.models import Need, ReopenRequest
from wenxu.needs.rating import rating_token, rating_url
from wenxu.notify.models import Message

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 800}
NAME, NUMBER = "张三丰", "13812345678"
COMMENT = "村口还是黑的，只换了一盏灯，另外两盏还是不亮。"


def _login(page, base_url: str, username: str, next_path: str) -> None:
    page.goto(f"{base_url}/accounts/login/?next={next_path}")
    page.fill("#id_username", username)
    page.fill("#id_password", f"pw-{username}")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}{next_path}")


def _no_horizontal_scroll(page, viewport) -> None:
    assert page.evaluate("document.scrollingElement.scrollWidth") <= viewport["width"]


def _replied(world) -> Need:
    need: Need = world.in_progress(
        requester=services.RequesterInput(name=NAME, phone=NUMBER),
        address="东河村村口",
    )
    need = services.need_progress(
        actor=world.handler, need=need, version=need.version, note="内部：供电所老李负责"
    )
    return services.need_reply(
        actor=world.handler,
        need=need,
        version=need.version,
        outcome="resolved",
        reply_text="已更换村口路灯，恢复夜间照明。",
    )


def _private_words(world) -> list[str]:
    """The resident's own data and every staff member's display name and username."""
    staff = [world.handler, world.dispatcher, world.officer]
    names = [user.display_name for user in staff] + [user.username for user in staff]
    assert all(names)
    return [NAME, NUMBER, "老李", *names]


def _track(page, base_url: str, need: Need) -> None:
    page.goto(f"{base_url}/track")
    page.fill("#track-code", need.tracking_code)
    page.fill("#track-tail", NUMBER[-4:])
    page.get_by_role("button", name="查询").click()
    page.get_by_test_id("tracked").wait_for()


def test_resident_rates_unsatisfied_and_the_dispatcher_reopens(
    browser, live_server, world, screenshot_dir
):
    need = _replied(world)
    # The link the reply's text message carries (queued in the outbox by the reply itself)
    message = Message.objects.get(need=need, template="replied")
    assert message.rating_link is not None
    assert "{link}" in message.body  # filled in with this link when sent
    sms_url = rating_url(message.rating_link)
    path = urlsplit(sms_url).path
    token = rating_token(message.rating_link)
    assert path.endswith(f"/r/{token}")
    base = live_server.url
    resident = browser.new_page(viewport=PHONE, locale="zh-CN")

    # The resident follows the need with the code and the phone's last four digits
    _track(resident, base, need)
    assert "已更换村口路灯，恢复夜间照明。" in resident.get_by_test_id("tracked-reply").inner_text()
    for word in _private_words(world):
        assert word not in resident.content()

    # ... opens the rating link from the text message (also seen at desktop width)
    wide = browser.new_page(viewport=DESKTOP, locale="zh-CN")
    wide.goto(f"{base}{path}")
    wide.get_by_test_id("rate-form").wait_for()
    wide.screenshot(path=str(screenshot_dir / "rate-1280.png"), full_page=True)
    wide.close()
    resident.goto(f"{base}{path}")
    assert need.tracking_code in resident.get_by_test_id("rate-code").inner_text()
    assert "已更换村口路灯" in resident.get_by_test_id("rate-reply").inner_text()
    assert "青山县住房和城乡建设局" in resident.get_by_test_id("rate-unit").inner_text()
    for word in _private_words(world):
        assert word not in resident.content()
    _no_horizontal_scroll(resident, PHONE)
    small = resident.evaluate(
        """() => [...document.querySelectorAll('.wx-rate-choice, [data-testid=rate-form] button')]
            .filter(el => el.getBoundingClientRect().height < 44)
            .map(el => el.outerHTML.slice(0, 80))"""
    )
    assert small == []
    resident.screenshot(path=str(screenshot_dir / "rate-375.png"), full_page=True)

    # ... rates it 不满意 with a comment
    form = resident.get_by_test_id("rate-form")
    form.get_by_text("未解决", exact=True).click()
    form.get_by_text("不满意", exact=True).click()
    form.locator("textarea[name=comment]").fill(COMMENT)
    form.get_by_role("button", name="提交评价").click()
    resident.get_by_test_id("rate-done").wait_for()
    assert resident.get_by_test_id("rate-reopen-sent").is_visible()
    resident.screenshot(path=str(screenshot_dir / "rate-done-375.png"), full_page=True)
    request = ReopenRequest.objects.get(need=need)
    assert (request.state, request.satisfaction, request.comment) == (
        "pending",
        "dissatisfied",
        COMMENT,
    )
    # the link worked once
    resident.goto(f"{base}{path}")
    assert "您已经评价过" in resident.get_by_test_id("rate-closed").inner_text()
    _track(resident, base, need)
    assert "您已申请重办，等待处理" in resident.get_by_test_id("tracked-reopen").inner_text()

    # The dispatcher sees the request on the list (desktop, and a look at phone width)
    phone_desk = browser.new_page(viewport=PHONE, locale="zh-CN")
    _login(phone_desk, base, "dispatcher", "/reopen-requests/")
    phone_desk.get_by_test_id("reopen-request").first.wait_for()
    _no_horizontal_scroll(phone_desk, PHONE)
    phone_desk.locator("details[data-decision=accept] summary").click()
    phone_desk.screenshot(path=str(screenshot_dir / "reopen-requests-375.png"), full_page=True)
    phone_desk.close()

    desk = browser.new_page(viewport=DESKTOP, locale="zh-CN")
    _login(desk, base, "dispatcher", "/reopen-requests/")
    item = desk.get_by_test_id("reopen-request")
    assert item.count() == 1
    assert COMMENT in item.get_by_test_id("reopen-comment").inner_text()
    assert need.number in item.inner_text()
    assert NUMBER not in desk.content()
    item.locator("details[data-decision=accept] summary").click()
    assert item.get_by_test_id("reopen-new-due").is_visible()
    desk.screenshot(path=str(screenshot_dir / "reopen-requests-1280.png"), full_page=True)
    # the decline form warns that the resident reads the reason word for word
    item.locator("details[data-decision=decline] summary").click()
    decline = item.locator("form[data-form=decline]")
    assert "原样显示在群众的查询页面和短信里" in decline.inner_text()
    desk.screenshot(path=str(screenshot_dir / "reopen-decline-1280.png"), full_page=True)

    # ... and on the need page, where the forms load into the panel; accepts it there
    desk.get_by_test_id("reopen-need").click()
    desk.wait_for_url(f"{base}/needs/{need.number}/")
    panel = desk.get_by_test_id("need-reopen-request")
    assert COMMENT in panel.get_by_test_id("reopen-comment").inner_text()
    panel.locator("details[data-decision=accept] summary").click()
    desk.screenshot(path=str(screenshot_dir / "need-reopen-request-1280.png"), full_page=True)
    panel.get_by_role("button", name="确认重办").click()
    desk.wait_for_url(f"{base}/needs/{need.number}/")
    assert "已同意重办" in desk.locator(".alert-success").inner_text()
    assert desk.get_by_test_id("need-reopen-request").count() == 0
    need.refresh_from_db()
    request.refresh_from_db()
    assert (need.status, need.reopen_count, request.state) == ("in_progress", 1, "accepted")
    assert need.resolve_due is not None
    desk.close()

    # The resident's /track shows the need back in 办理中 with the new deadline
    _track(resident, base, need)
    assert resident.get_by_test_id("tracked-status").inner_text() == "办理中"
    due = f"{timezone.localtime(need.resolve_due):%Y-%m-%d %H:%M}"
    assert due in resident.get_by_test_id("tracked").inner_text()
    assert resident.get_by_test_id("tracked-reopen").count() == 0
    assert "重新办理" in resident.get_by_test_id("tracked-steps").inner_text()
    for word in _private_words(world):
        assert word not in resident.content()
    resident.screenshot(path=str(screenshot_dir / "track-reopened-375.png"), full_page=True)
    resident.close()
