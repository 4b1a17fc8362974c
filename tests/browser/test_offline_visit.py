"""Offline capture (issue #4 acceptance): with the browser offline an officer records a visit
with two needs (one solved on the spot, one observed) and a photo; back online the outbox
syncs by itself; replaying the same sync (a retry) leaves exactly one visit, two needs and the
photo on the server. At phone and desktop width; screenshots in var/screenshots/offline-*.png.
"""

from io import BytesIO
from typing import Any
from uuid import UUID

import pytest
from PIL import Image
from playwright.sync_api import Dialog, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from wenxu.needs.models import Need
from wenxu.visits.models import Place, Visit, VisitPhoto

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 800}


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _png() -> bytes:
    out = BytesIO()
    Image.new("RGB", (640, 480), (40, 120, 200)).save(out, "PNG")
    return out.getvalue()


def _login(page, base_url, username):
    # Twice at most: right after the cookies are cleared under a live service worker, a
    # background page fetch can replace the CSRF cookie between rendering the login form and
    # posting it (seen about once in four full runs; under investigation, see the issue note).
    for attempt in range(2):
        page.goto(f"{base_url}/accounts/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", f"pw-{username}")
        page.click("button[type=submit]")
        try:
            page.wait_for_url(f"{base_url}/", wait_until="domcontentloaded", timeout=15_000)
            return
        except PlaywrightTimeoutError:
            if attempt:
                raise


def _wait_for_service_worker(page):
    page.wait_for_function(
        """async () => {
            const reg = await navigator.serviceWorker.ready;
            if (!navigator.serviceWorker.controller) return false;
            const keys = await caches.keys();
            for (const key of keys) {
                const cache = await caches.open(key);
                if (await cache.match('/visits/new/') && await cache.match('/visits/outbox/'))
                    return !!reg.active;
            }
            return false;
        }""",
        polling=250,
    )


def _no_horizontal_scroll(page, viewport):
    assert page.evaluate("document.scrollingElement.scrollWidth") <= viewport["width"]


def _counts() -> tuple[int, int, int]:
    return Visit.objects.count(), Need.objects.count(), VisitPhoto.objects.count()


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_offline_visit_syncs_once_and_a_replay_changes_nothing(
    browser, live_server, world, viewport, screenshot_dir
):
    context = browser.new_context(viewport=viewport, locale="zh-CN", service_workers="allow")
    page = context.new_page()
    base = live_server.url
    _login(page, base, "officer")
    page.goto(f"{base}/visits/new/")
    _wait_for_service_worker(page)

    # given: no network (the service worker's own fetches fail too: other pages are offline)
    context.set_offline(True)
    page.goto(f"{base}/ledger/")
    expect(page.locator("h1")).to_have_text("当前没有网络")
    # and the capture page comes from the service worker's cache
    response = page.goto(f"{base}/visits/new/")
    assert response is not None
    assert response.from_service_worker
    expect(page.locator("h1")).to_have_text("记录走访")
    expect(page.locator("[data-wx-net]")).to_have_text("离线")
    _no_horizontal_scroll(page, viewport)

    # when: the officer records the visit
    page.locator("label[for=wx-kind-home]").click()
    page.fill("#wx-area-q", "dywg")  # 东河村第一网格 by its pinyin initials
    expect(page.locator("#wx-area")).to_have_value(str(world.grid_a.pk))
    page.fill("#wx-address", "东河村3组12号")
    page.fill("#wx-people", "3")
    page.fill("#wx-summary", "与老两口和邻居座谈，了解用水和出行情况。")
    page.locator("label[for=wx-mood-4]").click()
    page.set_input_files(
        "#wx-visit-photos",
        files=[{"name": "入户.png", "mimeType": "image/png", "buffer": _png()}],
    )
    expect(page.locator("[data-photo-target=visit] [data-wx-thumbs] img")).to_have_count(1)

    # a need solved on the spot, with proof, confirmed by the resident
    page.get_by_role("button", name="+ 添加诉求").click()
    spot = page.locator("[data-wx-need]").nth(0)
    spot.locator("[data-f=title]").fill("院内水龙头漏水")
    spot.locator("[data-f=description]").fill("老人家院子里的水龙头一直滴水，自己修不了。")
    spot.locator("[data-f=spot] + label").click()
    spot.locator("[data-f=reply_text]").fill("现场更换了水龙头阀芯，已不再漏水。")
    spot.locator("[data-f=confirmed] + label").click()
    expect(spot.locator("[data-f=confirmed]")).to_be_checked()
    spot.locator("label", has_text="非常满意").click()
    expect(spot.locator("[data-f=satisfaction][value=very_satisfied]")).to_be_checked()

    # a need the officer observed (望闻问切)
    page.get_by_role("button", name="+ 添加诉求").click()
    observed = page.locator("[data-wx-need]").nth(1)
    observed.locator("[data-f=observed] + label").click()
    observed.locator("[data-f=title]").fill("屋后排水沟堵塞")
    observed.locator("[data-f=description]").fill("屋后排水沟被落叶堵住，雨天可能倒灌。")
    _no_horizontal_scroll(page, viewport)
    page.screenshot(
        path=str(screenshot_dir / f"offline-form-{viewport['width']}.png"), full_page=True
    )

    page.get_by_role("button", name="保存", exact=True).click()
    expect(page.get_by_test_id("capture-result")).to_contain_text("已保存在本机")
    assert _counts() == (0, 0, 0)

    # the outbox (also from the cache) shows one draft waiting, and the badge counts it
    page.goto(f"{base}/visits/outbox/")
    draft = page.get_by_test_id("draft")
    expect(draft).to_have_count(1)
    expect(draft).to_have_attribute("data-state", "waiting")
    expect(draft).to_contain_text("2 项诉求")
    expect(page.get_by_test_id("outbox-badge")).to_contain_text("1")
    page.screenshot(
        path=str(screenshot_dir / f"offline-outbox-{viewport['width']}.png"), full_page=True
    )
    # a copy of the draft as it was before any sync, photo Blob included, for the replay
    page.evaluate("async () => { window.__copy = (await WenxuOutbox.list())[0]; }")

    # then: back online, the outbox syncs by itself
    context.set_offline(False)
    expect(page.get_by_test_id("outbox-empty")).to_be_visible(timeout=40_000)
    expect(page.get_by_test_id("receipt")).to_have_count(1)
    expect(page.get_by_test_id("outbox-badge")).to_be_hidden()
    page.screenshot(
        path=str(screenshot_dir / f"offline-synced-{viewport['width']}.png"), full_page=True
    )

    assert _counts() == (1, 2, 1)
    visit = Visit.objects.get()
    assert (visit.area, visit.kind, visit.mood, visit.people_met) == (world.grid_a, "home", 4, 3)
    assert visit.recorded_by == world.officer
    spot_need = Need.objects.get(title="院内水龙头漏水")
    observed_need = Need.objects.get(title="屋后排水沟堵塞")
    assert spot_need.visit == visit
    assert observed_need.visit == visit
    assert (spot_need.handling, spot_need.status) == ("on_the_spot", "closed")
    assert observed_need.source == "observed"
    assert VisitPhoto.objects.get().visit == visit

    # when: the same sync is replayed (a retry after a lost answer)
    state = page.evaluate(
        """async () => {
            const copy = window.__copy;
            await WenxuOutbox.put(copy);
            const after = await WenxuOutbox.sync(copy.uuid, {force: true});
            return after.state;
        }"""
    )

    # then: the server answers with what it has; nothing is added
    assert state == "done"
    assert _counts() == (1, 2, 1)
    expect(page.get_by_test_id("outbox-empty")).to_be_visible()

    # the link to the visit page is kept for the officer
    link = page.get_by_test_id("receipt").locator("a")
    assert link.get_attribute("href") == f"/visits/{visit.pk}/"
    context.close()


def test_server_refusal_is_shown_by_the_field_and_the_draft_is_kept_until_fixed(
    browser, live_server, world, screenshot_dir
):
    page = browser.new_page(viewport=PHONE, locale="zh-CN")
    base = live_server.url
    _login(page, base, "officer")
    page.goto(f"{base}/visits/new/")
    page.locator("label[for=wx-kind-forum]").click()
    page.select_option("#wx-area", str(world.grid_a.pk))
    page.locator("label[for=wx-mood-3]").click()
    # a start time the server refuses (more than a few minutes ahead)
    page.fill("#wx-started", "2099-01-01T09:00")
    page.fill("#wx-ended", "2099-01-01T10:00")
    page.get_by_role("button", name="+ 添加诉求").click()
    need = page.locator("[data-wx-need]").nth(0)
    need.locator("[data-f=title]").fill("村口路灯不亮")
    need.locator("[data-f=description]").fill("村口三盏路灯坏了一个多月。")
    page.get_by_role("button", name="保存", exact=True).click()

    expect(page.get_by_test_id("form-errors")).to_contain_text("开始时间不能晚于现在")
    expect(page.locator("[data-err=started_at]")).to_have_text("开始时间不能晚于现在。")
    page.screenshot(path=str(screenshot_dir / "offline-refused-375.png"), full_page=True)
    assert Visit.objects.count() == 0
    assert page.evaluate("async () => (await WenxuOutbox.list()).map(d => d.state)") == ["error"]

    # fixed and saved again: the same draft goes through
    page.fill("#wx-started", "2026-01-05T09:00")
    page.fill("#wx-ended", "2026-01-05T10:00")
    page.get_by_role("button", name="保存", exact=True).click()
    expect(page.get_by_test_id("capture-result")).to_contain_text("已同步到系统")
    visit = Visit.objects.get()
    expect(page.get_by_role("link", name="查看走访记录")).to_have_attribute(
        "href", f"/visits/{visit.pk}/"
    )
    assert Need.objects.get().visit == visit
    assert page.evaluate("async () => (await WenxuOutbox.list()).length") == 0


def test_need_only_page_registers_one_need_with_its_photo(browser, live_server, world):
    page = browser.new_page(viewport=PHONE, locale="zh-CN")
    base = live_server.url
    _login(page, base, "officer")
    page.goto(f"{base}/visits/need/new/")
    expect(page.locator("h1")).to_have_text("登记诉求")
    page.fill("#wx-area-q", "dhc")
    page.select_option("#wx-area", str(world.grid_a.pk))
    need = page.locator("[data-wx-need]")
    need.locator("[data-f=title]").fill("桥面坑洼")
    need.locator("[data-f=description]").fill("东河桥桥面有多处坑洼，电动车容易摔倒。")
    need.locator("[data-wx-filter=category]").fill("dlyzm")  # 道路与照明
    expect(need.locator("[data-f=category]")).to_have_value(str(world.cat_roads.pk))
    need.locator("input[type=file]").set_input_files(
        files=[{"name": "桥面.png", "mimeType": "image/png", "buffer": _png()}]
    )
    page.get_by_role("button", name="保存", exact=True).click()

    expect(page.get_by_test_id("capture-result")).to_contain_text("已同步到系统")
    registered = Need.objects.get()
    assert (registered.title, registered.category, registered.visit) == (
        "桥面坑洼",
        world.cat_roads,
        None,
    )
    assert registered.client_uuid is not None
    assert registered.attachments.count() == 1
    expect(page.get_by_role("link", name="查看诉求")).to_have_attribute(
        "href", f"/needs/{registered.number}/"
    )


def test_logout_warns_about_waiting_drafts_and_otherwise_clears_the_device(
    browser, live_server, world
):
    context = browser.new_context(viewport=DESKTOP, locale="zh-CN", service_workers="allow")
    page = context.new_page()
    base = live_server.url
    _login(page, base, "officer")
    page.goto(f"{base}/visits/new/")
    _wait_for_service_worker(page)
    # a draft that cannot sync (offline save)
    context.set_offline(True)
    page.locator("label[for=wx-kind-phone]").click()
    page.select_option("#wx-area", str(world.grid_a.pk))
    page.locator("label[for=wx-mood-3]").click()
    page.get_by_role("button", name="保存", exact=True).click()
    expect(page.get_by_test_id("capture-result")).to_contain_text("已保存在本机")

    # logging out with a draft waiting: warned; saying no keeps the user signed in
    # (dismissed by a handler as it opens: a confirm left open blocks the page, and the click
    # that opened it can then wait on the blocked page until it times out)
    warnings: list[str] = []

    def dismiss(dialog: Dialog) -> None:
        warnings.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    page.get_by_role("button", name="退出").click(no_wait_after=True)
    for _ in range(100):
        if warnings:
            break
        page.wait_for_timeout(100)
    assert warnings
    assert "1 条记录没有同步" in warnings[0]
    expect(page.get_by_test_id("outbox-badge")).to_contain_text("1")
    assert page.url == f"{base}/visits/new/"
    assert page.evaluate("async () => (await WenxuOutbox.list()).length") == 1

    # with nothing waiting, logout clears the drafts, receipts and cached pages
    page.evaluate(
        "async () => { for (const d of await WenxuOutbox.list())"
        " await WenxuOutbox.remove(d.uuid); }"
    )
    context.set_offline(False)
    # (the logout POST goes out after the clean-up promises: Playwright's wait for the
    # navigation a click schedules can miss it, so wait for the login page instead)
    page.get_by_role("button", name="退出").click(no_wait_after=True)
    page.wait_for_url(f"{base}/accounts/login/")
    # (the login page's own CSS may be cached again: static files hold no one's data)
    cached_pages = page.evaluate(
        "async () => (await caches.keys()).filter(k => k.startsWith('wenxu-pages-'))"
    )
    assert cached_pages == []
    assert page.evaluate("async () => !(await caches.match('/visits/new/'))")
    assert page.evaluate("async () => (await WenxuOutbox.list('officer')).length") == 0
    assert Visit.objects.count() == 0
    context.close()


# --------------------------------------------------------------------------- review fixes

SAVE_DRAFT = """async ([area, started]) => {
    const uuid = WenxuOutbox.uuid4();
    await WenxuOutbox.save({uuid, mode: "visit", label: "测试走访", photos: [],
        data: {kind: "home", area: String(area), started_at: started, mood: "3", needs: []}});
    return uuid;
}"""


def _signed_in_page(browser, live_server, username="officer", viewport=PHONE):
    context = browser.new_context(viewport=viewport, locale="zh-CN")
    page = context.new_page()
    _login(page, live_server.url, username)
    return context, page


def _draft(page, uuid):
    return page.evaluate("async (u) => await WenxuOutbox.get(u)", uuid)


@pytest.mark.parametrize(
    "answer",
    [
        {"status": 200, "content_type": "text/html", "body": "<html>请登录 Wi-Fi</html>"},
        {"status": 302, "headers": {"Location": "/accounts/login/"}},
        {"status": 200, "content_type": "application/json", "body": "{}"},
    ],
    ids=["portal-html", "redirect", "json-not-ours"],
)
def test_an_answer_that_is_not_the_apis_keeps_the_draft(browser, live_server, world, answer):
    context, page = _signed_in_page(browser, live_server)
    page.goto(f"{live_server.url}/visits/outbox/")
    page.route("**/api/v1/visits", lambda route: route.fulfill(**answer))

    uuid = page.evaluate(SAVE_DRAFT, [world.grid_a.pk, "2026-01-05T09:00"])
    after = page.evaluate("async (u) => await WenxuOutbox.sync(u)", uuid)

    assert after["state"] == "waiting"
    assert after["serverId"] is None
    assert "可能需要登录 Wi-Fi" in after["message"]
    assert _draft(page, uuid) is not None
    expect(page.get_by_test_id("draft")).to_contain_text("可能需要登录 Wi-Fi")

    # the real API, later: the same draft goes through once
    page.unroute("**/api/v1/visits")
    assert page.evaluate("async (u) => (await WenxuOutbox.sync(u)).state", uuid) == "done"
    assert Visit.objects.count() == 1
    context.close()


def test_only_a_refused_draft_may_be_edited_and_it_is_not_synced_while_open(
    browser, live_server, world
):
    context, page = _signed_in_page(browser, live_server)
    base = live_server.url
    page.goto(f"{base}/visits/outbox/")
    # the API is out of reach for the waiting one (its answer may yet have been stored)
    page.route("**/api/v1/visits", lambda route: route.abort())
    waiting = page.evaluate(SAVE_DRAFT, [world.grid_a.pk, "2026-01-05T09:00"])
    refused = page.evaluate(SAVE_DRAFT, [world.grid_a.pk, "2099-01-05T09:00"])
    page.unroute("**/api/v1/visits")
    assert page.evaluate("async (u) => (await WenxuOutbox.sync(u)).state", refused) == "error"
    page.route("**/api/v1/visits", lambda route: route.abort())

    cards = page.get_by_test_id("draft")
    expect(cards).to_have_count(2)
    expect(page.locator(f'[data-uuid="{waiting}"] [data-testid=draft-edit]')).to_have_count(0)
    expect(page.locator(f'[data-uuid="{refused}"] [data-testid=draft-edit]')).to_have_count(1)

    # a waiting draft opened by its address anyway: shown, not editable
    page.goto(f"{base}/visits/new/?draft={waiting}")
    expect(page.get_by_test_id("capture-result")).to_contain_text("不能再修改")
    expect(page.locator("#wx-summary")).to_be_disabled()

    # the refused draft, open in the form, is marked and left alone by a forced sync
    page.goto(f"{base}/visits/new/?draft={refused}")
    expect(page.locator("#wx-started")).to_have_value("2099-01-05T09:00")
    page.wait_for_function(
        "async (u) => !!(await WenxuOutbox.get(u)).editing", arg=refused, polling=100
    )
    tries = _draft(page, refused)["tries"]
    page.evaluate("async (u) => await WenxuOutbox.sync(u, {force: true})", refused)
    assert _draft(page, refused)["tries"] == tries

    # fixed and saved (the API reachable again): synced at once
    page.unroute("**/api/v1/visits")
    page.fill("#wx-started", "2026-01-05T09:00")
    page.fill("#wx-ended", "2026-01-05T10:00")
    page.get_by_role("button", name="保存", exact=True).click()
    expect(page.get_by_test_id("capture-result")).to_contain_text("已同步到系统")
    assert Visit.objects.get().client_uuid == UUID(refused)
    context.close()


def test_a_conflict_with_an_earlier_version_links_to_it_instead_of_a_second_record(
    browser, live_server, world
):
    context, page = _signed_in_page(browser, live_server)
    base = live_server.url
    page.goto(f"{base}/visits/outbox/")
    uuid = page.evaluate(SAVE_DRAFT, [world.grid_a.pk, "2026-01-05T09:00"])
    # the first version reached the server, but its answer was lost ...
    copy = _draft(page, uuid)
    assert page.evaluate("async (u) => (await WenxuOutbox.sync(u)).state", uuid) == "done"
    visit = Visit.objects.get()
    # ... and the draft was changed afterwards under the same UUID
    after = page.evaluate(
        """async (copy) => {
            copy.data.summary = "后来补充的内容";
            await WenxuOutbox.save(copy);
            return await WenxuOutbox.sync(copy.uuid);
        }""",
        copy,
    )

    assert after["state"] == "conflict"
    assert after["earlier"]["url"] == f"/visits/{visit.pk}/"
    card = page.get_by_test_id("draft")
    expect(card).to_contain_text("已上传（较早的版本）")
    expect(card.get_by_test_id("draft-earlier")).to_have_attribute("href", f"/visits/{visit.pk}/")
    expect(card.get_by_role("button", name="另存为新记录")).to_have_count(0)
    assert page.evaluate("async (u) => await WenxuOutbox.saveAsNew(u)", uuid) is None
    assert Visit.objects.count() == 1
    context.close()


def test_a_draft_is_refused_under_another_users_session(browser, live_server, world):
    context, page = _signed_in_page(browser, live_server, "officer_b")
    page.goto(f"{live_server.url}/visits/outbox/")
    # a stale page of `officer` on the device, while officer_b is signed in
    page.evaluate("document.body.setAttribute('data-wx-user', 'officer')")

    uuid = page.evaluate(SAVE_DRAFT, [world.grid_a.pk, "2026-01-05T09:00"])
    after = page.evaluate("async (u) => await WenxuOutbox.sync(u)", uuid)

    assert after["state"] == "waiting"
    assert after["message"] == "此记录由 officer 记录，请由其本人登录后同步。"
    assert Visit.objects.count() == 0
    context.close()


def test_a_page_cached_for_one_user_is_not_served_to_the_next(browser, live_server, world):
    context = browser.new_context(viewport=PHONE, locale="zh-CN", service_workers="allow")
    page = context.new_page()
    base = live_server.url
    _login(page, base, "officer")
    page.goto(f"{base}/visits/new/")
    _wait_for_service_worker(page)

    # the session changes without the logout button (expired; another user signs in)
    context.clear_cookies()
    _login(page, base, "handler")
    response = page.goto(f"{base}/visits/new/")
    assert response is not None
    assert response.status == 403
    page.wait_for_function("async () => !(await caches.match('/visits/new/'))", polling=100)

    context.set_offline(True)
    page.goto(f"{base}/visits/new/")
    expect(page.locator("h1")).to_have_text("当前没有网络")
    context.close()


def test_logout_with_drafts_waiting_drops_the_cached_pages_but_keeps_the_drafts(
    browser, live_server, world
):
    context = browser.new_context(viewport=DESKTOP, locale="zh-CN", service_workers="allow")
    page = context.new_page()
    base = live_server.url
    _login(page, base, "officer")
    page.goto(f"{base}/visits/new/")
    _wait_for_service_worker(page)
    page.route("**/api/v1/**", lambda route: route.abort())  # no sync before the logout
    page.evaluate(SAVE_DRAFT, [world.grid_a.pk, "2026-01-05T09:00"])

    warnings: list[str] = []

    def accept(dialog: Any) -> None:
        warnings.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    page.get_by_role("button", name="退出").click(no_wait_after=True)
    page.wait_for_url(f"{base}/accounts/login/")

    assert "1 条记录没有同步" in warnings[0]
    assert page.evaluate("async () => !(await caches.match('/visits/new/'))")
    assert page.evaluate("async () => (await WenxuOutbox.list('officer')).length") == 1
    context.close()


def test_big_photos_are_made_smaller_before_they_are_stored(browser, live_server, world):
    context, page = _signed_in_page(browser, live_server)
    page.add_init_script(
        "if (navigator.storage) { const p = navigator.storage.persist.bind(navigator.storage);"
        " window.__persisted = 0;"
        " navigator.storage.persist = () => { window.__persisted += 1; return p(); }; }"
    )
    page.goto(f"{live_server.url}/visits/need/new/")
    big = BytesIO()
    Image.new("RGB", (4000, 3000), (90, 160, 60)).save(big, "PNG")
    need = page.locator("[data-wx-need]")
    need.locator("input[type=file]").set_input_files(
        files=[
            {"name": "大图.png", "mimeType": "image/png", "buffer": big.getvalue()},
            {"name": "小图.png", "mimeType": "image/png", "buffer": _png()},
        ]
    )
    expect(need.locator("[data-wx-thumbs] img")).to_have_count(2)
    page.select_option("#wx-area", str(world.grid_a.pk))
    need.locator("[data-f=title]").fill("桥面坑洼")
    need.locator("[data-f=description]").fill("东河桥桥面有多处坑洼。")
    context.set_offline(True)
    page.get_by_role("button", name="保存", exact=True).click()
    expect(page.get_by_test_id("capture-result")).to_contain_text("已保存在本机")

    photos = page.evaluate(
        """async () => {
            const [draft] = await WenxuOutbox.list();
            return Promise.all(draft.photos.map(async (p) => {
                const bitmap = await createImageBitmap(p.blob);
                return [p.name, p.blob.type, bitmap.width, bitmap.height, p.blob.size];
            }));
        }"""
    )
    assert photos[0][:4] == ["大图.jpg", "image/jpeg", 2560, 1920]
    assert photos[1] == ["小图.png", "image/png", 640, 480, len(_png())]
    assert page.evaluate("window.__persisted") >= 1
    context.close()


def test_revisit_link_preselects_area_and_place_only_when_they_are_the_users(
    browser, live_server, world
):
    place = Place.objects.create(area=world.grid_a, kind="household", name="东河村3组12号")
    elsewhere = Place.objects.create(area=world.grid_b, kind="household", name="西岭村1组1号")
    context, page = _signed_in_page(browser, live_server)
    base = live_server.url

    page.goto(f"{base}/visits/new/?area={world.grid_a.pk}&place={place.pk}")
    expect(page.locator("#wx-area")).to_have_value(str(world.grid_a.pk))
    expect(page.locator("#wx-place")).to_have_value(str(place.pk))

    page.goto(f"{base}/visits/new/?area={world.grid_b.pk}&place={elsewhere.pk}")
    expect(page.locator("#wx-area")).to_have_value("")
    page.goto(f"{base}/visits/new/?area={world.village_a.pk}&place={elsewhere.pk}")
    expect(page.locator("#wx-area")).to_have_value(str(world.village_a.pk))
    expect(page.locator("#wx-place")).to_have_value("")
    context.close()


def test_deleting_a_half_uploaded_draft_says_the_record_stays_on_the_server(
    browser, live_server, world
):
    context, page = _signed_in_page(browser, live_server)
    page.goto(f"{live_server.url}/visits/outbox/")
    page.evaluate(
        """async (area) => {
            const uuid = WenxuOutbox.uuid4();
            await WenxuOutbox.put({uuid, username: "officer", mode: "visit", state: "error",
                label: "测试走访", serverId: 7, serverUrl: "/visits/7/", needNumbers: {},
                created: new Date().toISOString(), data: {needs: []}, photos: [],
                message: "照片太大"});
            WenxuOutbox.changed();
        }""",
        world.grid_a.pk,
    )
    card = page.get_by_test_id("draft")
    expect(card).to_have_count(1)
    expect(card.get_by_test_id("draft-edit")).to_have_count(0)

    asked: list[str] = []

    def dismiss(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    card.get_by_role("button", name="删除").click()

    assert "已经上传到系统" in asked[0]
    assert "还没有上传的照片" in asked[0]
    expect(card).to_have_count(1)  # dismissed: kept
    context.close()
