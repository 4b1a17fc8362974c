"""专题 in a real browser: a dispatcher creates a topic, links two needs, adds a measure and a
milestone and completes it; each requester gets one message in the outbox. The pages do not
scroll sideways at phone or desktop width."""

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import PHONE, login, no_horizontal_scroll, shoot
from wenxu.insight.models import DailyCount
from wenxu.lib import clock
from wenxu.needs.services.register import RequesterInput
from wenxu.notify.models import Message
from wenxu.topics.models import Topic

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LONG_TITLE = "东河镇多个村组道路两侧路灯长期失修、夜间出行存在安全隐患的系统性问题专项治理"


@pytest.fixture(autouse=True)
def _no_sending(monkeypatch):
    monkeypatch.setattr("wenxu.notify.sending.send_due", lambda **kwargs: 0)


def _history(world, start):
    """Weekly rollups of roads needs in 东河镇: more before the measures, fewer after."""
    for week in range(-8, 4):
        day = start + timedelta(days=7 * week)
        DailyCount.objects.create(
            key=f"{day:%Y%m%d}|{world.grid_a.pk}|-|{world.cat_roads.pk}",
            day=day,
            area=world.grid_a,
            area_path=world.grid_a.path,
            category=world.cat_roads,
            registered=9 - week if week < 0 else 3,
        )


# At phone width only, the narrower layout; the same pages at desktop width are in
# tests/browser/test_desktop_layouts.py (CI time: the flow is the same at both widths).
@pytest.mark.parametrize("viewport", [PHONE], ids=["phone"])
def test_dispatcher_runs_a_topic_and_each_requester_is_told_once(
    browser, live_server, world, viewport, screenshot_dir
):
    name = "phone" if viewport is PHONE else "desktop"
    first = world.register(
        title="东河村村口路灯不亮",
        requester=RequesterInput(name="张三丰", phone="13812345678"),
    )
    second = world.register(
        title="东河村主干道路灯坏了一个多月",
        requester=RequesterInput(name="李四光", phone="13900001111"),
    )
    world.register(title="东河村小学门口路灯不亮，晚上接孩子看不清路")
    start = clock.today() - timedelta(days=28)
    _history(world, start)

    context = browser.new_context(viewport=viewport, locale="zh-CN")
    page = context.new_page()
    login(page, live_server.url, "dispatcher", "pw-dispatcher")

    # create
    page.goto(f"{live_server.url}/topics/new/")
    page.fill("#id_title", LONG_TITLE)
    page.select_option("#id_area", str(world.town_a.pk))
    page.select_option("#id_category", str(world.cat_roads.pk))
    page.select_option("#id_owner_unit", str(world.housing.pk))
    page.fill("#id_root_cause", "路灯建成后移交不清，维护经费和责任单位没有落实。")
    page.fill("#id_measures_from", start.isoformat())
    no_horizontal_scroll(page, viewport)
    shoot(page, screenshot_dir / f"topics-form-{name}.png")
    page.get_by_test_id("save").click()
    expect(page.get_by_test_id("topic-header")).to_contain_text(LONG_TITLE)
    topic = Topic.objects.get()

    # link two needs
    page.fill("#id_link_numbers", f"{first.number} {second.number}")
    page.get_by_test_id("link-form").get_by_role("button").click()
    expect(page.get_by_test_id("need-count")).to_have_text("2")
    # the suggestions arrive after the page (htmx): the third need reads like the two linked
    expect(page.get_by_test_id("suggestion-list")).to_be_visible()
    expect(page.locator("[data-suggestion]")).to_have_count(1)

    # a measure and a milestone
    form = page.get_by_test_id("measure-form")
    form.locator("#id_measure_title").fill("落实路灯维护责任单位和经费")
    form.locator("#id_measure_owner_unit").select_option(str(world.housing.pk))
    form.locator("#id_measure_due_date").fill((clock.today() + timedelta(days=60)).isoformat())
    form.get_by_role("button").click()
    expect(page.locator("[data-measure]")).to_have_count(1)
    form = page.get_by_test_id("milestone-form")
    form.locator("#id_milestone_title").fill("全镇路灯排查完毕")
    form.locator("#id_milestone_progress").fill("40")
    form.get_by_role("button").click()
    expect(page.locator("[data-milestone]")).to_have_count(1)

    # complete it
    complete = page.get_by_test_id("complete-form")
    complete.locator("input[name=note]").fill("共排查 126 盏，损坏 31 盏")
    complete.get_by_role("button").click()
    expect(page.locator("[data-completed]")).to_have_count(1)
    expect(page.get_by_test_id("progress")).to_contain_text("40%")
    expect(page.get_by_test_id("events")).to_contain_text("完成节点")
    expect(page.get_by_test_id("events")).to_contain_text("调度员：全镇路灯排查完毕（40%）")

    sent = Message.objects.filter(template="topic_milestone")
    assert {m.requester_id for m in sent} == {first.requester_id, second.requester_id}
    assert sent.count() == 2
    assert all("全镇路灯排查完毕" in m.body for m in sent)

    # the page: no personal data, the effect chart drawn, nothing sideways
    assert "张三丰" not in page.content()
    assert "13812345678" not in page.content()
    expect(page.locator("[data-wx-topic-chart] svg")).to_have_count(1)
    expect(page.get_by_test_id("effect-summary")).to_contain_text("%")
    no_horizontal_scroll(page, viewport)
    shoot(page, screenshot_dir / f"topics-detail-{name}.png")

    page.goto(f"{live_server.url}/topics/")
    expect(page.locator(f"[data-topic='{topic.pk}']")).to_contain_text("40%")
    no_horizontal_scroll(page, viewport)
    shoot(page, screenshot_dir / f"topics-list-{name}.png")

    page.goto(f"{live_server.url}/needs/{first.number}/")
    expect(page.get_by_test_id("need-topics")).to_contain_text(LONG_TITLE)
    no_horizontal_scroll(page, viewport)
    page.get_by_test_id("need-topics").screenshot(
        path=str(screenshot_dir / f"topics-need-card-{name}.png")
    )
    context.close()
