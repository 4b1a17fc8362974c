"""登记诉求 in a real browser, at phone and desktop width: an officer finds the grid by pinyin
initials, sees the precision hint, attaches a photo and submits; an empty form shows what is
missing. Screenshots go to var/screenshots/ (capture-*.png)."""

import re
from io import BytesIO
from urllib.parse import parse_qs

import pytest
from django.urls import reverse
from PIL import Image
from playwright.sync_api import expect

from wenxu.needs.models import Need

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 800}


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _login(page, base_url, username):
    page.goto(f"{base_url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", f"pw-{username}")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/")


def _no_horizontal_scroll(page, viewport):
    assert page.evaluate("document.scrollingElement.scrollWidth") <= viewport["width"]


def _small_touch_targets(page) -> list[str]:
    """Buttons, fields and switches of the form lower than 44 px (what a thumb needs)."""
    small: list[str] = page.evaluate(
        """() => [...document.querySelectorAll(
                '#wx-capture .btn, #wx-capture .form-control, #wx-capture .form-select,'
                + ' #wx-capture .wx-switch')]
            .filter(el => el.offsetParent !== null)
            .filter(el => el.getBoundingClientRect().height < 44)
            .map(el => el.outerHTML.slice(0, 80))"""
    )
    return small


def _photo() -> bytes:
    out = BytesIO()
    Image.new("RGB", (2400, 1800), (90, 140, 60)).save(out, "JPEG")
    return out.getvalue()


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_officer_registers_a_need(browser, live_server, world, viewport, screenshot_dir):
    page = browser.new_page(viewport=viewport, locale="zh-CN")
    _login(page, live_server.url, "officer")
    page.goto(f"{live_server.url}/needs/new/")
    expect(page.locator("h1")).to_have_text("登记诉求")
    _no_horizontal_scroll(page, viewport)
    if viewport is PHONE:
        assert _small_touch_targets(page) == []
    page.screenshot(
        path=str(screenshot_dir / f"capture-empty-{viewport['width']}.png"), full_page=True
    )

    # a photo of the site, chosen first: the hints that follow must not upload it
    page.set_input_files(
        "#id_photos", files=[{"name": "水塔.jpg", "mimeType": "image/jpeg", "buffer": _photo()}]
    )

    # what: a vague first version gets the precision hint when the field is left
    page.fill("#id_title", "自来水经常停水")
    page.fill("#id_description", "经常停水")
    page.locator("#id_description").blur()
    hints = page.get_by_test_id("precision-hints")
    expect(hints).to_be_visible()
    expect(hints).to_contain_text("在哪里")
    expect(hints).to_contain_text("影响到谁")
    page.screenshot(path=str(screenshot_dir / f"capture-hint-{viewport['width']}.png"))
    # ... and goes away once the text says where, since when and who
    page.fill(
        "#id_description",
        "东河村三组 12 户村民反映，最近一个月自来水每天下午停两三个小时，老人做饭困难。",
    )
    with page.expect_request("**/needs/new/precision/") as sent:
        page.locator("#id_description").blur()
    assert sorted(parse_qs(sent.value.post_data or "")) == ["description", "title"]
    expect(page.get_by_test_id("precision-ok")).to_be_visible()
    page.get_by_text("求助", exact=True).click()
    page.get_by_text("愁", exact=True).click()

    # where: the grid found by its pinyin initials
    page.get_by_label("搜索区域").fill("dhc")
    expect(page.locator("#id_area option").first).to_have_text("找到 2 个，请选择")
    page.select_option("#id_area", label="东河村第一网格（东河镇 / 东河村）")
    page.fill("#id_address", "东河村三组水塔旁")

    # who
    page.fill("#id_requester_name", "张桂英")
    page.fill("#id_requester_phone", "13812345678")
    _no_horizontal_scroll(page, viewport)
    page.screenshot(
        path=str(screenshot_dir / f"capture-filled-{viewport['width']}.png"), full_page=True
    )

    page.get_by_role("button", name="提交登记").click()
    page.wait_for_url(re.compile(r"/needs/WX-\d{4}-\d{6}/$"))

    need = Need.objects.get()
    assert page.url == f"{live_server.url}{reverse('needs:detail', args=[need.number])}"
    assert need.area == world.grid_a
    assert need.nature_tags == ["worrying"]
    assert need.requester is not None
    assert need.attachments.get().kind == "photo"
    expect(page.locator(".alert-success")).to_contain_text(f"已登记，台账编号 {need.number}")
    page.screenshot(
        path=str(screenshot_dir / f"capture-done-{viewport['width']}.png"), full_page=True
    )
    # the photo opens in the browser, downscaled, from the scoped URL
    photo = need.attachments.get()
    page.goto(live_server.url + reverse("needs:attachment", args=[need.number, photo.pk]))
    assert page.evaluate("document.images[0].naturalWidth") == 1600
    page.close()


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_empty_form_shows_what_is_missing(browser, live_server, world, viewport, screenshot_dir):
    page = browser.new_page(viewport=viewport, locale="zh-CN")
    _login(page, live_server.url, "officer")
    page.goto(f"{live_server.url}/needs/new/")

    # the on-the-spot section opens with its switch
    expect(page.locator("#id_reply_text")).to_be_hidden()
    page.get_by_text("现场已解决", exact=True).click()
    expect(page.locator("#id_reply_text")).to_be_visible()
    page.get_by_role("button", name="提交登记").click()
    page.wait_for_load_state()

    expect(page.get_by_test_id("form-errors")).to_contain_text("还没有登记")
    for field, message in [
        ("title", "请填写标题"),
        ("description", "请填写诉求内容"),
        ("kind", "请选择诉求类型"),
        ("area", "请选择诉求所属的区域"),
        ("reply_text", "请填写现场办理情况"),
    ]:
        expect(page.locator(f"[data-error-for={field}]")).to_contain_text(message)
    expect(page.locator("#id_title")).to_have_class(re.compile("is-invalid"))
    # the switch stays on and its section open after the round trip
    expect(page.locator("#id_reply_text")).to_be_visible()
    _no_horizontal_scroll(page, viewport)
    page.screenshot(
        path=str(screenshot_dir / f"capture-errors-{viewport['width']}.png"), full_page=True
    )
    assert not Need.objects.exists()
    page.close()


def test_location_button_fills_latitude_and_longitude(browser, live_server, world):
    context = browser.new_context(
        viewport=PHONE,
        locale="zh-CN",
        geolocation={"latitude": 30.2740851, "longitude": 120.1550704, "accuracy": 12},
        permissions=["geolocation"],
    )
    page = context.new_page()
    _login(page, live_server.url, "officer")
    page.goto(f"{live_server.url}/needs/new/")

    page.get_by_role("button", name="获取当前位置").click()

    expect(page.locator("#id_latitude")).to_have_value("30.274085")
    expect(page.locator("#id_longitude")).to_have_value("120.155070")
    expect(page.locator("[data-wx-locate-status]")).to_contain_text("已定位，精度约 12 米")
    page.get_by_role("button", name="清除位置").click()
    expect(page.locator("#id_latitude")).to_have_value("")
    context.close()
