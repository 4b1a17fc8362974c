"""预警信号 in a real browser: a dispatcher on a phone and at a desk finds the rises the daily
detection flagged, turns one into a visit task and dismisses another with a reason."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.browser.helpers import PHONE, login, no_horizontal_scroll, shoot
from wenxu.insight.models import DailyCount, RollupCursor, Signal
from wenxu.insight.signals import signals_detect
from wenxu.lib import clock
from wenxu.visits.models import VisitPlan

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _rises(world):
    """Ten quiet weeks, then a rise of water needs in 东河村 and of road needs in 西岭村."""
    end = clock.today() - timedelta(days=1)
    for area, category, quiet, now in (
        (world.grid_a, world.cat_water, [3, 2, 4, 3, 3, 2, 4, 3, 3, 2], 14),
        (world.grid_b, world.cat_roads, [1, 2, 1, 0, 2, 1, 1, 2, 1, 1], 8),
    ):
        for back, n in enumerate(reversed([*quiet, now])):
            if n:
                day = end - timedelta(weeks=back, days=back % 3)
                DailyCount.objects.create(
                    key=f"{day:%Y%m%d}|{area.pk}||{category.pk}",
                    day=day,
                    area=area,
                    area_path=area.path,
                    category=category,
                    registered=n,
                )
    RollupCursor.objects.create(name="main", updated_at=timezone.now())
    assert signals_detect() == 2


# At phone width only, the narrower layout; the same pages at desktop width are in
# tests/browser/test_desktop_layouts.py (CI time: the flow is the same at both widths).
@pytest.mark.parametrize("viewport", [PHONE], ids=["375"])
def test_a_dispatcher_tasks_and_dismisses_signals(
    live_server, browser, world, screenshot_dir, viewport
):
    _rises(world)
    context = browser.new_context(
        viewport=viewport, locale="zh-CN", is_mobile=viewport["width"] < 500
    )
    page = context.new_page()
    login(page, live_server.url, "dispatcher", "pw-dispatcher")
    page.goto(f"{live_server.url}/signals/")
    expect(page.get_by_test_id("signal")).to_have_count(2)
    expect(page.get_by_test_id("signal").first).to_contain_text("东河镇 · 东河村 · 供水")
    expect(page.get_by_test_id("signal").first).to_contain_text("共 14 件，近 8 周平均 3.0 件")
    no_horizontal_scroll(page, viewport)
    shoot(page, screenshot_dir / f"signals-{viewport['width']}.png")

    # 东河村's water: a visit task for its officers
    page.get_by_test_id("signal").first.get_by_role("link", name="研判处理").click()
    expect(page.get_by_test_id("task-form")).to_be_visible()
    no_horizontal_scroll(page, viewport)
    shoot(page, screenshot_dir / f"signals-detail-{viewport['width']}.png")
    page.get_by_label("走访次数").fill("2")
    page.get_by_test_id("task-form").get_by_role("button", name="安排走访").click()
    expect(page.get_by_role("alert")).to_contain_text(
        "已安排走访任务“未诉先办：东河村供水诉求上升”"
    )
    expect(page.get_by_test_id("signal")).to_have_count(1)
    plan = VisitPlan.objects.get()
    assert (plan.area, plan.target) == (world.village_a, 2)

    # 西岭村's roads: dismissing needs a reason
    page.get_by_role("link", name="研判处理").click()
    page.get_by_test_id("dismiss-form").get_by_role("button", name="忽略").click()
    expect(page.get_by_test_id("note-error")).to_have_text("请填写忽略的理由。")
    page.get_by_label("理由（必填）").fill("道路改造施工期间的临时绕行，已告知村民")
    page.get_by_test_id("dismiss-form").get_by_role("button", name="忽略").click()
    expect(page.get_by_test_id("empty")).to_be_visible()
    assert set(Signal.objects.values_list("state", flat=True)) == {"tasked", "dismissed"}

    page.goto(f"{live_server.url}/signals/?state=all")
    expect(page.get_by_test_id("signal")).to_have_count(2)
    no_horizontal_scroll(page, viewport)
    shoot(page, screenshot_dir / f"signals-handled-{viewport['width']}.png")
    context.close()
