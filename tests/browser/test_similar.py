"""相似诉求 in a real browser: while an officer types a need on a phone the similar needs appear
under the text; on a need's page a dispatcher picks one to merge into. Screenshots go to
var/screenshots/ (similar-*.png)."""

from urllib.parse import parse_qsl, unquote_plus

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import DESKTOP, PHONE, login, no_horizontal_scroll, shoot
from wenxu.insight.similar import similar_index_reset
from wenxu.insight.tests.test_similar_synth import planted_needs
from wenxu.needs import services
from wenxu.topics.models import Topic, TopicNeed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LAMP = "幸福里小区3号楼路灯不亮"
LAMP_TEXT = "幸福里小区3号楼门口的路灯坏了两个多月，晚上出门一片漆黑，老人走路容易摔倒。"
LAMP_AGAIN = "幸福里小区3号楼的路灯一直不亮，天黑以后看不清路，希望尽快修好。"


@pytest.fixture(autouse=True)
def fresh_index():
    similar_index_reset()  # the live server runs in this process
    yield
    similar_index_reset()


def _ledger(world):
    for item in [n for n in planted_needs(groups=0, noise=30, seed=1) if n.category != 1]:
        world.register(actor=world.dispatcher, title=item.title, description=item.description)
    first = world.register(title=LAMP, description=LAMP_TEXT)
    second = world.register(title="幸福里3号楼晚上没有照明", description=LAMP_AGAIN)
    third = services.need_assign(
        actor=world.dispatcher,
        need=world.register(
            title="反映幸福里小区路灯损坏", description=LAMP_AGAIN + "已经两个月了。"
        ),
        version=1,
        lead_unit=world.housing,
    )
    return first, second, third


def test_similar_needs_appear_while_typing_on_a_phone(browser, live_server, world, screenshot_dir):
    first, second, _third = _ledger(world)
    page = browser.new_page(viewport=PHONE, locale="zh-CN")
    login(page, live_server.url, "officer", "pw-officer")
    asked = []
    page.on(
        "request",
        lambda request: asked.append(request) if "/similar/capture/" in request.url else None,
    )
    page.goto(f"{live_server.url}/needs/new/")

    page.locator("#id_requester_name").fill("张三丰")
    page.locator("#id_title").press_sequentially("幸福里小区3号楼路灯坏了")
    page.locator("#id_description").press_sequentially("路灯一直不亮，晚上看不清路")

    box = page.get_by_test_id("similar-list")
    expect(box).to_contain_text("可能相同或相似的诉求")
    expect(box).to_contain_text(first.number)
    expect(box).to_contain_text(second.number)
    # asked by POST (typed text stays out of URLs and access logs), with only the four fields
    assert asked
    for request in asked:
        assert request.method == "POST"
        assert "?" not in request.url
        fields = {name for name, _value in parse_qsl(request.post_data or "", True)}
        assert fields <= {"title", "description", "area", "category"}
        assert "title" in fields
        assert "张三丰" not in unquote_plus(request.post_data or "")
    assert box.locator("a[target=_blank]").count() >= 2
    no_horizontal_scroll(page, PHONE)
    box.scroll_into_view_if_needed()
    page.screenshot(path=str(screenshot_dir / "similar-capture-375.png"), full_page=False)
    shoot(page, screenshot_dir / "similar-capture-375-full.png")


def test_a_dispatcher_merges_into_a_similar_need(browser, live_server, world, screenshot_dir):
    first, second, third = _ledger(world)
    topic = Topic.objects.create(title="幸福里小区照明整治", area=world.town_a)
    TopicNeed.objects.create(topic=topic, need=third)
    page = browser.new_page(viewport=DESKTOP, locale="zh-CN")
    login(page, live_server.url, "dispatcher", "pw-dispatcher")
    page.goto(f"{live_server.url}/needs/{first.number}/")

    card = page.get_by_test_id("similar-need")
    expect(card).to_contain_text("相似诉求")
    expect(card).to_contain_text(second.number)
    expect(card).to_contain_text("已在专题：幸福里小区照明整治")
    no_horizontal_scroll(page, DESKTOP)
    shoot(page, screenshot_dir / "similar-need-1280.png")

    card.locator(f"[data-wx-similar-merge='{third.number}']").click()

    expect(page.locator("#act-merge")).to_have_attribute("open", "")
    expect(page.locator("#act-merge input[name=into]")).to_have_value(third.number)
    page.locator("#act-merge button[type=submit]").click()
    expect(page.locator(".alert-success, [role=alert]").first).to_contain_text(third.number)
    first.refresh_from_db()
    assert first.status == "merged"
    assert first.merged_into == third
