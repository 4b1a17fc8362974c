"""网上反映诉求 and 回音墙 in a real browser, at phone and desktop width.

Screenshots go to var/screenshots/ (submit-*.png, wall-*.png).
"""

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import DESKTOP, PHONE
from tests.browser.helpers import no_horizontal_scroll as _no_horizontal_scroll
from wenxu.lib import clock
from wenxu.needs import services
from wenxu.needs.models import Need

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def public_on(settings, tmp_path):
    # The live server runs in this process: the settings fixture reaches it.
    settings.WENXU_PUBLIC_SUBMIT = True
    settings.WENXU_PUBLIC_WALL = True
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings


def test_a_resident_submits_a_need_on_a_phone_and_gets_the_tracking_code(
    browser, live_server, world, public_on, screenshot_dir
):
    page = browser.new_page(viewport=PHONE, locale="zh-CN")
    page.goto(f"{live_server.url}/submit")
    expect(page.get_by_test_id("privacy-notice")).to_contain_text("谁能看到")
    _no_horizontal_scroll(page, PHONE)
    page.screenshot(path=str(screenshot_dir / "submit-375.png"), full_page=True)

    # when the resident searches for their village (htmx lists the choices as they type)
    page.get_by_role("radio", name="求助").check(force=True)
    page.locator("#id_category").select_option(label="道路与照明")
    page.locator("#id_area_q").fill("东河")
    options = page.get_by_test_id("area-options")
    expect(options).to_contain_text("东河村第一网格")
    options.get_by_text("东河村", exact=True).click()
    page.locator("#id_description").fill(
        "东河村村口的路灯坏了一个多月，晚上老人孩子出门看不清路，希望尽快修好。"
    )
    page.locator("#id_name").fill("张先生")
    page.locator("#id_phone").fill("13812345678")

    # and forgets the consent box: the page says so and keeps what was typed
    page.get_by_test_id("submit-send").click()
    expect(page.locator("[data-error-for=consent]")).to_be_visible()
    expect(page.locator("#id_description")).to_have_value(re.compile("路灯坏了"))
    expect(page.locator(f"input[name=area][value='{world.village_a.pk}']")).to_be_checked()
    assert Need.objects.count() == 0
    page.screenshot(path=str(screenshot_dir / "submit-errors-375.png"), full_page=True)

    # then ticks it and submits
    page.locator("#id_consent").check()
    page.get_by_test_id("submit-send").click()

    # the tracking code is shown prominently, with a link to follow the need
    code = page.get_by_test_id("submit-code")
    expect(code).to_be_visible()
    need = Need.objects.get()
    expect(code).to_have_text(need.tracking_code)
    assert need.source == "online"
    assert need.area == world.village_a
    _no_horizontal_scroll(page, PHONE)
    page.screenshot(path=str(screenshot_dir / "submit-done-375.png"), full_page=True)
    page.get_by_test_id("submit-track").click()
    expect(page.get_by_test_id("track-form")).to_be_visible()
    expect(page.locator("#track-code")).to_have_value(need.tracking_code)


def test_the_submission_form_at_desktop_width(
    browser, live_server, world, public_on, screenshot_dir
):
    page = browser.new_page(viewport=DESKTOP, locale="zh-CN")
    page.goto(f"{live_server.url}/submit")
    page.locator("#id_area_q").fill("xl")
    expect(page.get_by_test_id("area-options")).to_contain_text("西岭村")
    _no_horizontal_scroll(page, DESKTOP)
    page.screenshot(path=str(screenshot_dir / "submit-1280.png"), full_page=True)


def _close(world, need, resolved="yes"):
    need = services.need_callback(
        actor=world.dispatcher,
        need=need,
        version=need.version,
        channel="phone",
        resolved=resolved,
        satisfaction="satisfied",
    )
    Need.objects.filter(pk=need.pk).update(public_consent=True)
    return need


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_the_wall_shows_anonymised_replies_and_fair_rankings(
    browser, live_server, world, public_on, viewport, screenshot_dir
):
    # given needs replied by two units, some closed with the requester's consent
    for n in range(6):
        need = world.replied(
            description=f"西岭村第{n + 1}组的机耕路被雨水冲坏，农机下不了田，"
            "联系人张三丰 13812345678。",
            requester=services.RequesterInput(name="张三丰", phone="13812345678"),
            area=world.grid_b,
            actor=world.officer_b,
        )
        if n < 3:
            _close(world, need)
    other = world.assigned(lead=world.transport)
    other = services.need_accept(actor=world.handler_other, need=other, version=other.version)
    services.need_reply(
        actor=world.handler_other,
        need=other,
        version=other.version,
        outcome="explained",
        reply_text="该路段已列入明年养护计划，先设置警示标志。",
    )
    Need.objects.filter(lead_unit=world.housing).update(
        assigned_at=clock.now() - timedelta(hours=30)
    )
    # and one need 住建局 has left past its deadline without a reply: counted as late
    late = world.in_progress(description="逾期未答复的诉求，不应上墙。")
    Need.objects.filter(pk=late.pk).update(resolve_due=clock.now() - timedelta(days=1))
    page = browser.new_page(viewport=viewport, locale="zh-CN")

    page.goto(f"{live_server.url}/wall")

    expect(page.get_by_test_id("wall-entry")).to_have_count(3)
    expect(page.get_by_test_id("wall-ranked")).to_contain_text("县住建局")
    expect(page.get_by_test_id("wall-few")).to_contain_text("县交通局")
    expect(page.get_by_test_id("wall-overdue")).to_have_text("1")
    body = page.locator("body")
    expect(body).not_to_contain_text("张三丰")
    expect(body).not_to_contain_text("13812345678")
    _no_horizontal_scroll(page, viewport)
    page.screenshot(path=str(screenshot_dir / f"wall-{viewport['width']}.png"), full_page=True)
