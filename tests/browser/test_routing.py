"""Routing suggestion in the assign form (issue #7 §4), in a real browser at phone and desktop
width: the suggestion loads, "采用建议" fills in the category and the lead unit, the deadline
preview follows, and the dispatcher's submit assigns."""

import pytest

from tests.browser.helpers import DESKTOP, PHONE, no_horizontal_scroll, shoot
from wenxu.insight.routing.store import clear_cache
from wenxu.insight.routing.training import router_train
from wenxu.needs import services
from wenxu.needs.models import Category, DeadlineRule, Need

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PLACES = ["东河村", "西岭村", "幸福里小区", "光明街"]
KINDS = [
    ("供水", "{p}自来水停水三天了，做饭洗衣都没水", "housing"),
    ("供水", "{p}水压太低，楼上接不到自来水", "housing"),
    ("道路与照明", "{p}路灯坏了，晚上路上一片漆黑", "transport"),
    ("道路与照明", "{p}道路坑洼不平，下雨积水车辆难行", "transport"),
    ("教育", "{p}孩子上幼儿园没有学位，学校太远", "town_a_gov"),
    ("教育", "{p}学校门口上学放学时段太拥挤", "town_a_gov"),
]


def _trained(world) -> None:
    school = Category.objects.create(name="教育")
    categories = {"供水": world.cat_water, "道路与照明": world.cat_roads, "教育": school}
    for category, template, unit in KINDS:
        for place in PLACES:
            text = template.format(p=place)
            need = world.register(title=text[:20], description=text, category=categories[category])
            services.need_assign(
                actor=world.dispatcher,
                need=need,
                version=need.version,
                lead_unit=getattr(world, unit),
            )
    router_train()
    clear_cache()


def _login(page, base_url, username, next_path):
    page.goto(f"{base_url}/accounts/login/?next={next_path}")
    page.fill("#id_username", username)
    page.fill("#id_password", f"pw-{username}")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}{next_path}")


# At phone width only, the narrower layout; the same pages at desktop width are in
# tests/browser/test_desktop_layouts.py (CI time: the flow is the same at both widths).
@pytest.mark.parametrize("viewport", [PHONE], ids=["phone"])
def test_dispatcher_takes_the_routing_suggestion_and_assigns(
    browser, live_server, world, viewport, screenshot_dir
):
    _trained(world)
    DeadlineRule.objects.create(
        category=world.cat_water,
        urgency="normal",
        response_value=2,
        response_unit="hours",
        resolve_value=24,
        resolve_unit="hours",
    )
    # Registered by the officer under the wrong category (道路与照明).
    need = world.register(
        title="幸福里小区停水两天",
        description="幸福里小区自来水停水两天了，水压也很低，老人做饭没水。",
    )
    page = browser.new_page(viewport=viewport)
    _login(page, live_server.url, "dispatcher", f"/needs/{need.number}/")

    form = page.locator("form[data-form=assign]")
    suggestion = form.get_by_test_id("routing-suggestion")
    suggestion.wait_for()
    assert "建议分类：供水" in suggestion.inner_text().replace("\n", "")
    assert "县住房和城乡建设局" in suggestion.inner_text()
    assert "把握" in suggestion.inner_text()
    no_horizontal_scroll(page, viewport)
    name = "phone" if viewport is PHONE else "desktop"
    shoot(page, screenshot_dir / f"routing-{name}.png")

    form.get_by_role("button", name="采用建议").click()
    assert form.locator("select[name=category]").input_value() == str(world.cat_water.pk)
    assert form.locator("select[name=lead_unit]").input_value() == str(world.housing.pk)
    page.get_by_test_id("preview-resolve").wait_for()
    page.wait_for_function(
        # A function, not an expression: Playwright evaluates a bare expression with eval, which
        # the Content-Security-Policy refuses.
        "() => document.querySelector('#assign-preview').innerText.includes('24 小时')"
    )
    shoot(page, screenshot_dir / f"routing-{name}-accepted.png")
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()

    need = Need.objects.get(pk=need.pk)
    assert need.status == "assigned"
    assert (need.category, need.lead_unit) == (world.cat_water, world.housing)
    assert need.routing_suggestion.source == "model"
    page.close()


def test_taking_a_suggestion_says_which_part_could_not_be_filled_in(
    browser, live_server, world, screenshot_dir
):
    _trained(world)
    need = world.register(
        title="幸福里小区停水两天",
        description="幸福里小区自来水停水两天了，水压也很低，老人做饭没水。",
    )
    page = browser.new_page(viewport=DESKTOP)
    _login(page, live_server.url, "dispatcher", f"/needs/{need.number}/")
    form = page.locator("form[data-form=assign]")
    suggestion = form.get_by_test_id("routing-suggestion")
    suggestion.wait_for()
    unit = form.locator("select[name=lead_unit]")
    before = unit.input_value()
    # As if the suggested unit were not one this dispatcher may choose.
    unit.locator(f"option[value='{world.housing.pk}']").evaluate("option => option.remove()")

    form.get_by_role("button", name="采用建议").click()

    assert form.locator("select[name=category]").input_value() == str(world.cat_water.pk)
    assert unit.input_value() == before
    note = suggestion.locator("[data-routing-note]").inner_text()
    assert "建议主办单位“青山县住房和城乡建设局”不在可选列表中" in note
    assert "其余建议已采用" in note
    assert "已采用建议，请核对" not in note
    shoot(page, screenshot_dir / "routing-desktop-unit-missing.png")
    page.close()
