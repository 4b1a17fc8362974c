"""热点 in a real browser: a leader opens the hot topics, a group's needs, and computes anew;
the pages fit a phone and a desktop."""

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import DESKTOP, PHONE, no_horizontal_scroll, shoot
from tests.browser.helpers import login as _login
from wenxu.insight.hot_runs import hot_topics_scheduled
from wenxu.lib import clock
from wenxu.needs import services
from wenxu.needs.services.register import RequesterInput

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TOPICS = [
    # (area attribute, how many residents, wordings)
    (
        "grid_a",
        9,
        [
            "幸福小区{k}号楼高层水压太低，早上洗澡都没水",
            "幸福小区自来水水压不足，{k}楼住户用水困难",
            "反映幸福小区供水水压低，{k}楼以上经常停水",
        ],
    ),
    ("grid_b", 6, ["阳光花园{k}栋电梯经常故障，老人上下楼困难", "阳光花园{k}号楼电梯又坏了"]),
    ("grid_a", 4, ["东河村村口{k}盏路灯不亮，晚上出行不便", "东河村村口路灯坏了{k}个多月"]),
    ("grid_b", 3, ["西岭村垃圾清运不及时，{k}号垃圾站气味很大"]),
]


@pytest.fixture(autouse=True)
def _no_sending(monkeypatch):
    monkeypatch.setattr("wenxu.notify.sending.send_due", lambda **kwargs: 0)


def _ledger(world, straddle=False):
    """A month of needs: four topics told by several residents each, some handled."""
    count = 0
    for area_name, residents, wordings in TOPICS:
        for k in range(residents):
            text = wordings[k % len(wordings)].format(k=k + 1)
            with clock.travel(clock.now() - timedelta(days=(k * 3) % 25)):
                need = world.register(
                    actor=world.dispatcher,
                    title=text.split("，")[0],
                    description=text,
                    area=getattr(world, area_name),
                    category=world.cat_water,
                    requester=RequesterInput(name="张三丰", phone=f"138123{count:05d}"),
                )
            if k % 3 == 0:
                services.need_assign(
                    actor=world.dispatcher, need=need, version=need.version, lead_unit=world.housing
                )
            count += 1
    # last month: the lift was already a topic, the water is new (the ledger reaches back
    # before last month, so there is a previous window to compare with)
    with clock.travel(clock.now() - timedelta(days=65)):
        world.register(
            actor=world.dispatcher, title="社保卡补办", description="社保卡补办手续太复杂"
        )
    with clock.travel(clock.now() - timedelta(days=40)):
        for k in range(3):
            world.register(
                actor=world.dispatcher,
                title="阳光花园电梯故障",
                description=f"阳光花园{k + 1}栋电梯经常故障，老人上下楼困难",
                area=world.grid_b,
                category=world.cat_water,
            )
    if straddle:  # 幸福小区's water told in 西岭乡 too: 东河镇's dispatcher sees part of it
        for k in range(5):
            world.register(
                actor=world.dispatcher,
                title="幸福小区水压太低",
                description=f"幸福小区{k + 20}号楼高层水压太低，早上洗澡都没水",
                area=world.grid_b,
                category=world.cat_water,
                requester=RequesterInput(name="李四", phone=f"139123{k:05d}"),
            )
    hot_topics_scheduled()


@pytest.mark.parametrize(("viewport", "name"), [(PHONE, "375"), (DESKTOP, "1280")])
def test_leader_reads_the_hot_topics(live_server, browser, world, screenshot_dir, viewport, name):
    _ledger(world)
    context = browser.new_context(viewport=viewport, locale="zh-CN")
    page = context.new_page()
    _login(page, live_server.url, "leader", "pw-leader")
    page.goto(f"{live_server.url}/hot/")
    groups = page.get_by_test_id("hot-group")
    expect(groups).to_have_count(4)
    expect(groups.first.get_by_test_id("hot-label")).to_contain_text("幸福小区")
    assert "张三丰" not in page.content()
    no_horizontal_scroll(page, viewport)
    shoot(page, screenshot_dir / f"hot-{name}.png")

    groups.first.get_by_test_id("hot-label").click()
    expect(page.get_by_test_id("hot-need")).to_have_count(9)
    assert "张三丰" not in page.content()
    no_horizontal_scroll(page, viewport)
    shoot(page, screenshot_dir / f"hot-group-{name}.png")

    # compute now: 7 days in 西岭乡 (the test server runs tasks at once)
    page.goto(f"{live_server.url}/hot/")
    page.select_option("#hot-days", "7")
    page.select_option("#hot-area", str(world.town_b.pk))
    page.get_by_test_id("hot-compute").click()
    expect(page.get_by_test_id("hot-period")).to_contain_text("按需计算")
    no_horizontal_scroll(page, viewport)
    context.close()


def test_a_township_dispatcher_sees_their_part(
    live_server, browser, world, screenshot_dir, monkeypatch
):
    from wenxu.accounts.models import Membership, User
    from wenxu.insight import hot_views

    _ledger(world, straddle=True)
    user = User.objects.create_user(username="dispatcher_a", password="pw-dispatcher_a")
    Membership.objects.create(user=user, role="dispatcher", area=world.town_a)
    monkeypatch.setattr(hot_views, "PAGE_SIZE", 1)
    context = browser.new_context(viewport=PHONE, locale="zh-CN")
    page = context.new_page()
    _login(page, live_server.url, "dispatcher_a", "pw-dispatcher_a")
    page.goto(f"{live_server.url}/hot/")
    groups = page.get_by_test_id("hot-group")
    expect(groups).to_have_count(1)
    expect(groups.first).to_contain_text("9 位诉求人")  # 14 in all, 9 in 东河镇
    expect(groups.first).to_contain_text("增长 —")
    assert "西岭村第一网格" not in page.content()
    expect(page.get_by_test_id("hot-more")).to_be_visible()
    no_horizontal_scroll(page, PHONE)
    shoot(page, screenshot_dir / "hot-partial-375.png")
    page.get_by_test_id("hot-more").click()
    expect(page.get_by_test_id("hot-group")).to_have_count(1)
    expect(page.get_by_test_id("hot-group").first).to_contain_text("东河村")
    context.close()
