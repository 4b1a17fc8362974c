"""The screenshots of the user guide (docs/guide/img/*.png), taken from the demo county that
`make demo` loads, so that what the guide shows is what a new user sees.

Runs only when asked, as it rewrites the images in the checkout:

    WENXU_GUIDE_SCREENSHOTS=1 .venv/bin/pytest tests/browser/test_guide_screenshots.py

Desktop shots are 1280 × 800 and phone shots 375 × 812 viewports, not whole pages, reduced to 256
colours to keep the repository small. Names end in `-desktop` or `-phone`; the help page shows
phone shots at phone size.

The visit shown in the 走访 sections is recorded here with the browser offline, as an officer in a
village would: it waits in 待同步 until the network comes back, then syncs by itself.
"""

import os
import re
from datetime import timedelta
from io import BytesIO
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.db.models import Count, QuerySet
from openpyxl import Workbook  # type: ignore[import-untyped]
from PIL import Image
from playwright.sync_api import (
    Browser,
    BrowserContext,
    FilePayload,
    Locator,
    Page,
    ViewportSize,
    expect,
)

from wenxu.accounts.models import User
from wenxu.core import demo_data, guide
from wenxu.insight.rollups import rollup_rebuild
from wenxu.insight.routing.suggest import routing_suggest
from wenxu.insight.similar import similar_to_need
from wenxu.lib import clock
from wenxu.needs import selectors, states
from wenxu.needs.models import Need, ReopenRequest
from wenxu.needs.rating import rating_link_issue, rating_url
from wenxu.needs.services import need_rate
from wenxu.needs.states import CallbackResolved, Satisfaction
from wenxu.needs.tests.ledger_import_helpers import ledger_row, xlsx_bytes
from wenxu.topics.models import Topic
from wenxu.visits.models import Place, PlaceKind, Visit

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        os.environ.get("WENXU_GUIDE_SCREENSHOTS") != "1",
        reason="rewrites docs/guide/img/: set WENXU_GUIDE_SCREENSHOTS=1 to take the screenshots",
    ),
]

PHONE: ViewportSize = {"width": 375, "height": 812}
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PASSWORD = "guide-demo-pass"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
NAVBAR = 72  # px kept above an element scrolled to: the sticky navigation covers them


class Shots:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.taken: list[str] = []

    def save(self, page: Page, name: str, *, short: bool = False) -> None:
        """The viewport as a 256-colour PNG: text stays sharp, files small. `short`: only down
        to the end of the page's content, for pages shorter than the screen."""
        assert re.fullmatch(r"[a-z0-9-]+-(desktop|phone)", name), name
        # buttons fade between states: wait until the page holds still
        page.wait_for_function(
            """() => document.getAnimations().every(a => a.playState !== "running"
                || a.effect.getTiming().iterations === Infinity)"""
        )
        if short:
            bottom = page.evaluate("document.querySelector('main').getBoundingClientRect().bottom")
            size = page.viewport_size
            assert size is not None
            clip = {"x": 0, "y": 0, "width": size["width"], "height": min(bottom, size["height"])}
            raw = page.screenshot(clip=clip)  # type: ignore[arg-type]
        else:
            raw = page.screenshot()
        image = Image.open(BytesIO(raw)).convert("RGB")
        small = image.quantize(
            colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
        )
        small.save(self.folder / f"{name}.png", optimize=True)
        self.taken.append(name)


@pytest.fixture
def shots() -> Shots:
    folder = Path(guide.GUIDE_DIR) / "img"
    folder.mkdir(parents=True, exist_ok=True)
    return Shots(folder)


@pytest.fixture
def county(db: None, settings: Any) -> None:
    settings.WENXU_DEMO = True  # as under `wenxu demo`: the demo accounts keep their password
    demo_data.load(password=PASSWORD)


def _context(browser: Browser, viewport: ViewportSize) -> BrowserContext:
    # the outbox shows the time a draft was saved in the browser's own time zone
    return browser.new_context(
        viewport=viewport, locale="zh-CN", timezone_id="Asia/Shanghai", service_workers="allow"
    )


def _login(context: BrowserContext, base_url: str, username: str) -> Page:
    page = context.new_page()
    page.goto(f"{base_url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/")
    return page


def _scroll_to(page: Page, selector: str) -> None:
    page.locator(selector).first.wait_for()
    page.evaluate(
        """([selector, margin]) => {
            const top = document.querySelector(selector).getBoundingClientRect().top;
            // instant: Bootstrap makes scrolling smooth, and a shot mid-way shows the wrong part
            window.scrollTo({top: top + window.scrollY - margin, behavior: "instant"});
        }""",
        [selector, NAVBAR],
    )


def _open_action(page: Page, action: str) -> Locator:
    panel = page.locator(f"details[data-action={action}]")
    if panel.get_attribute("open") is None:
        panel.locator("summary").click()
    form = page.locator(f"form[data-form={action}]")
    expect(form).to_be_visible()
    return form


def _user(username: str) -> User:
    return User.objects.get(username=username)


def _first(queryset: QuerySet[Need]) -> Need:
    need: Need | None = queryset.order_by("-registered_at").first()
    assert need is not None, "the demo county has no such need"
    return need


def _wait_for_service_worker(page: Page) -> None:
    """Until the service worker controls the page and holds the capture pages: only then do they
    open without a network."""
    page.wait_for_function(
        """async () => {
            const reg = await navigator.serviceWorker.ready;
            if (!navigator.serviceWorker.controller) return false;
            for (const key of await caches.keys()) {
                const cache = await caches.open(key);
                if (await cache.match("/visits/new/") && await cache.match("/visits/outbox/"))
                    return !!reg.active;
            }
            return false;
        }""",
        polling=250,
    )


def _photo() -> bytes:
    """A small photo of a doorway, for the visit."""
    image = Image.new("RGB", (480, 360), (176, 196, 210))
    for x in range(150, 330):
        for y in range(90, 360):
            image.putpixel((x, y), (122, 82, 56) if x < 322 else (90, 60, 40))
    out = BytesIO()
    image.save(out, format="JPEG", quality=80)
    return out.getvalue()


def _bad_places_file() -> bytes:
    """A place list as grid workers send it in: one row right, four with the usual mistakes."""
    first, second = "东河村/东河村第一网格", "东河村/东河村第二网格"
    return _xlsx(
        [first, "住户", "下村组101号", "东河村下村组101号", "刘德才", "13512345678", 4, ""],
        ["东河村第一网格", "住户", "下村组102号", "", "张桂兰", "1351234567", 2, ""],
        ["东河村第九网格", "住户", "下村组103号", "", "李秀英", "", 3, ""],
        [second, "农户", "上村组12号", "", "王德福", "13600001111", "三口", ""],
        [second, "企业", "", "东河村工业园", "", "", "", "缺名称"],
    )


def _places_file(known: Place) -> bytes:
    """The same list put right: two new households, and a new phone for one already known."""
    first = "东河村/东河村第一网格"
    return _xlsx(
        [first, "住户", "下村组101号", "东河村下村组101号", "刘德才", "13512345678", 4, ""],
        [first, "住户", "下村组102号", "", "张桂兰", "13512345670", 2, ""],
        [first, "住户", known.name, "", "", "13900001234", "", "换了手机号"],
    )


def _xlsx(*rows: list[object]) -> bytes:
    """A sheet with the import template's header and these rows."""
    book = Workbook()
    sheet = book.active
    sheet.append(["网格", "类型", "名称/门牌", "地址", "户主/负责人", "联系电话", "人数", "备注"])
    for row in rows:
        sheet.append(row)
    out = BytesIO()
    book.save(out)
    return out.getvalue()


def _ledger_file() -> bytes:
    """A township's own 台账 as kept in Excel before 问需: the third row has no content."""
    rows = [
        ledger_row(1, category="路灯照明", content="东街路灯不亮，晚上出行不便。"),
        ledger_row(
            2,
            category="供水",
            name="李秀英",
            phone="13900001111",
            address="东河村西街3号",
            content="自来水水压低，二楼以上经常没水。",
        ),
        ledger_row(3, category="道路破损", name="王德福", address="东河村南桥", content=""),
        ledger_row(
            4,
            category="垃圾清运",
            name="赵春梅",
            phone="13700002222",
            address="",
            content="村口垃圾桶满了没人清运。",
        ),
    ]
    return xlsx_bytes(rows)


WATER = "锦绣花园"  # the demo's planted hot topic: high floors without water pressure


def _insight_capture_shots(browser: Browser, base: str, shots: Shots) -> None:
    """举一反三 for an officer: the capture form points at the needs like the one being typed
    (the officer of 城关街道, where 锦绣花园's residents keep reporting the water pressure)."""
    phone = _context(browser, PHONE)
    page = _login(phone, base, "officer_chengguan")
    page.goto(f"{base}/needs/new/")
    page.fill("#id_title", f"{WATER}高层水压低")
    page.fill(
        "#id_description",
        f"最近半个月，{WATER}3栋十几户高楼层住户每天早晚用水高峰水压低，热水器打不着火。",
    )
    page.locator("#id_description").blur()
    expect(page.get_by_test_id("similar-list")).to_be_visible()
    _scroll_to(page, "label[for=id_title]")
    shots.save(page, "similar-capture-phone")
    phone.close()


def _insight_dispatcher_shots(page: Page, base: str, shots: Shots, dispatcher: User) -> None:
    """举一反三 for the county dispatcher: the routing suggestion and the similar needs on a need
    just registered about 锦绣花园's water pressure, the hot topics, the topic opened from them
    and the early signals."""
    # a need the routing model suggests for, one part of it surely and one only 仅供参考
    registered = selectors.need_queryset_for_user(user=dispatcher).filter(status="registered")
    suggested = [
        (need, routing_suggest(need=need)) for need in registered.order_by("-registered_at")[:30]
    ]
    modelled = [(n, s) for n, s in suggested if s.category_percent is not None and s.unit]
    assert modelled, "the demo county's routing model suggests nothing"
    need = next(
        (n for n, s in modelled if not s.category_low and s.unit_low),
        next((n for n, s in modelled if s.category_low or s.unit_low), modelled[0][0]),
    )
    page.goto(f"{base}/needs/{need.number}/")
    _open_action(page, "assign")
    expect(page.get_by_test_id("routing-unit")).to_be_visible()
    _scroll_to(page, "details[data-action=assign]")
    shots.save(page, "assign-suggestion-desktop")

    # a need still being handled like another one still being handled (合并 shows) and others
    # (加入专题): about 锦绣花园's water pressure if one is
    handled = selectors.need_queryset_for_user(user=dispatcher).filter(status__in=states.ACTIVE)
    candidates = list(handled.filter(title__contains=WATER).order_by("-registered_at"))
    candidates += list(handled.exclude(title__contains=WATER).order_by("-registered_at")[:60])
    similar = {n: similar_to_need(user=dispatcher, need=n) for n in candidates}
    mergeable = [n for n in candidates if any(s.status in states.ACTIVE for s in similar[n])]
    assert mergeable, "the demo county has no needs like one another still being handled"
    # the one whose own content reaches furthest down beside the card (a short card, a long
    # history): the shot is not half empty
    gaps: dict[Need, float] = {}
    for need in mergeable[:10]:
        page.goto(f"{base}/needs/{need.number}/")
        expect(page.get_by_test_id("similar-need")).to_be_visible()
        gaps[need] = page.evaluate(
            """() => document.querySelector("[data-testid=similar-need]")
                .getBoundingClientRect().bottom
                - document.querySelector("main .row > .col-lg-8").getBoundingClientRect().bottom"""
        )
        if gaps[need] < 100:
            break
    need = min(gaps, key=lambda n: gaps[n])
    page.goto(f"{base}/needs/{need.number}/")
    expect(page.get_by_test_id("similar-need")).to_be_visible()
    # the card's end at the screen's
    page.evaluate(
        """() => {
            const bottom = document.querySelector("[data-testid=similar-need]")
                .getBoundingClientRect().bottom;
            window.scrollTo({
                top: bottom + window.scrollY - window.innerHeight + 16, behavior: "instant"
            });
        }"""
    )
    shots.save(page, "similar-need-desktop")

    page.goto(f"{base}/hot/")
    expect(page.get_by_test_id("hot-group").first).to_be_visible()
    shots.save(page, "hot-desktop")

    topic = Topic.objects.filter(title__contains=WATER).order_by("-pk").first()
    assert topic is not None, "the demo county has no topic"
    page.goto(f"{base}/topics/{topic.pk}/")
    expect(page.get_by_test_id("effect")).to_be_visible()
    _scroll_to(page, "[data-testid=effect]")
    shots.save(page, "topic-desktop")

    page.goto(f"{base}/signals/")
    expect(page.get_by_test_id("signal").first).to_be_visible()
    shots.save(page, "signals-desktop")


@pytest.fixture
def session(browser: Browser, live_server, county) -> tuple[Browser, str]:
    return browser, live_server.url


def test_guide_screenshots(session, shots):
    browser, base = session
    officer, dispatcher, handler, leader = (
        _user(name) for name in ("officer", "dispatcher", "handler", "leader")
    )

    # ----------------------------------------------------------------- everyone: logging in
    phone = _context(browser, PHONE)
    page = phone.new_page()
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", "officer")
    shots.save(page, "login-phone", short=True)
    phone.close()

    # ----------------------------------------------------------------- 走访干部 on a phone
    phone = _context(browser, PHONE)
    page = _login(phone, base, "officer")
    expect(page.get_by_test_id("count-to_callback")).to_be_visible()
    shots.save(page, "home-officer-phone")

    page.get_by_test_id("capture").click()
    page.wait_for_url(f"{base}/needs/new/")
    shots.save(page, "capture-phone")
    page.fill("#id_title", "自来水经常停水")
    page.fill("#id_description", "经常停水")
    page.locator("#id_description").blur()
    expect(page.get_by_test_id("precision-hints")).to_be_visible()
    page.get_by_text("求助", exact=True).click()
    _scroll_to(page, "#id_title")
    shots.save(page, "capture-hint-phone")
    page.get_by_label("搜索区域").fill("dhc")
    expect(page.locator("#id_area option").first).to_contain_text("找到")
    _scroll_to(page, "#wx-s-where")
    shots.save(page, "capture-area-phone")
    _scroll_to(page, "#wx-s-spot")
    page.get_by_text("现场已解决", exact=True).click()
    expect(page.locator("#id_reply_text")).to_be_visible()
    _scroll_to(page, "#wx-s-spot")
    shots.save(page, "capture-spot-phone")

    page.goto(f"{base}/ledger/")
    expect(page.get_by_test_id("count")).to_be_visible()
    shots.save(page, "ledger-phone")
    phone.close()
    _insight_capture_shots(browser, base, shots)

    # ----------------------------------------------------------------- 走访干部: a callback
    desktop = _context(browser, DESKTOP)
    page = _login(desktop, base, "officer")
    need = _first(
        selectors.need_queryset_for_user(user=officer).filter(
            status="replied", requester__isnull=False, outcome="resolved"
        )
    )
    page.goto(f"{base}/needs/{need.number}/")
    form = _open_action(page, "callback")
    form.locator("select[name=channel]").select_option("phone")
    form.locator("select[name=resolved]").select_option("yes")
    form.locator("select[name=satisfaction]").select_option("satisfied")
    shots.save(page, "callback-desktop")
    desktop.close()

    # ----------------------------------------------------------------- 走访干部: a visit, offline
    place = (
        Place.objects.filter(area__name="东河村第一网格", kind=PlaceKind.HOUSEHOLD, active=True)
        .order_by("name")
        .first()
    )
    assert place is not None, "the demo county has no households in 东河村第一网格"
    phone = _context(browser, PHONE)
    page = _login(phone, base, "officer")
    page.goto(f"{base}/visits/new/")
    _wait_for_service_worker(page)
    phone.set_offline(True)
    page.goto(f"{base}/visits/new/")  # from the service worker's cache
    expect(page.locator("[data-wx-net]")).to_have_text("离线")
    page.locator("label[for=wx-kind-home]").click()
    page.fill("#wx-area-q", "dywg")  # 东河村第一网格 by its pinyin initials
    expect(page.locator("#wx-area")).to_have_value(str(place.area_id))
    page.fill("#wx-place-q", place.name)
    page.locator("#wx-place").select_option(str(place.pk))
    shots.save(page, "visit-capture-phone")

    page.fill("#wx-companions", "村委委员")
    page.fill("#wx-people", "2")
    page.fill("#wx-summary", "和老两口聊了冬季取暖和看病的事，老人说村里路灯坏了，晚上不敢出门。")
    page.locator("label[for=wx-mood-4]").click()
    page.fill("#wx-mood-note", "对村里的工作基本认可")
    page.locator("details.wx-senses summary").click()
    for sense, level in (("sense_gain", 4), ("sense_happiness", 4), ("sense_security", 3)):
        page.locator(f"label[for=wx-{sense}-{level}]").click()
    page.set_input_files(
        "#wx-visit-photos",
        files=[FilePayload(name="入户.jpg", mimeType="image/jpeg", buffer=_photo())],
    )
    expect(page.locator("[data-photo-target=visit] [data-wx-thumbs] img")).to_have_count(1)
    _scroll_to(page, "#wx-s-mood")
    shots.save(page, "visit-mood-phone")

    page.get_by_role("button", name="+ 添加诉求").click()
    spot = page.locator("[data-wx-need]").nth(0)
    spot.locator("[data-f=title]").fill("门前路灯不亮")
    spot.locator("[data-f=description]").fill("老人家门前的路灯坏了两个月，晚上出门看不清路。")
    spot.locator("[data-f=spot] + label").click()
    spot.locator("[data-f=reply_text]").fill("当场联系村电工更换了灯泡，路灯已经亮了。")
    spot.locator("[data-f=confirmed] + label").click()
    spot.locator("label", has_text="非常满意").click()
    _scroll_to(page, "[data-wx-need] [data-slot=handling]")
    shots.save(page, "visit-need-spot-phone")

    page.get_by_role("button", name="+ 添加诉求").click()
    observed = page.locator("[data-wx-need]").nth(1)
    observed.locator("[data-f=observed] + label").click()
    observed.locator("[data-f=title]").fill("独居老人冬季取暖困难")
    observed.locator("[data-f=description]").fill(
        "屋里没有取暖设备，被褥单薄。老人没有提，是走访时看到的。"
    )
    page.get_by_role("button", name="保存", exact=True).click()
    expect(page.get_by_test_id("capture-result")).to_contain_text("已保存在本机")

    page.goto(f"{base}/visits/outbox/")  # also from the cache
    expect(page.get_by_test_id("draft")).to_have_attribute("data-state", "waiting")
    expect(page.get_by_test_id("outbox-badge")).to_contain_text("1")
    shots.save(page, "outbox-phone")

    # back online, the outbox syncs by itself
    phone.set_offline(False)
    expect(page.get_by_test_id("outbox-empty")).to_be_visible(timeout=40_000)
    visit = Visit.objects.filter(recorded_by=officer).order_by("-recorded_at").first()
    assert visit is not None
    assert visit.place_id == place.pk
    page.goto(f"{base}/visits/{visit.pk}/")
    expect(page.get_by_test_id("visit-needs").locator("[data-need]")).to_have_count(2)
    shots.save(page, "visit-phone")
    page.goto(f"{base}/visits/")
    expect(page.get_by_test_id("count")).to_be_visible()
    shots.save(page, "visits-phone")
    phone.close()

    # ----------------------------------------------------------------- 走访干部 at a desk
    desktop = _context(browser, DESKTOP)
    page = _login(desktop, base, "officer")
    need = _first(Need.objects.filter(visit=visit, source="observed"))
    page.goto(f"{base}/needs/{need.number}/")
    form = _open_action(page, "confirm_observed")
    form.locator("textarea[name=note]").fill("再次入户时老人确认需要取暖帮助")
    shots.save(page, "need-observed-desktop")

    page.goto(f"{base}/places/")
    expect(page.get_by_test_id("places-table")).to_be_visible()
    shots.save(page, "places-desktop")
    page.goto(f"{base}/places/{place.pk}/")
    expect(page.get_by_test_id("visits")).to_be_visible()
    shots.save(page, "place-desktop")

    page.goto(f"{base}/places/import/")
    page.set_input_files(
        "#id_file",
        files=[FilePayload(name="东河村走访对象.xlsx", mimeType=XLSX, buffer=_bad_places_file())],
    )
    page.get_by_test_id("check-import").click()
    expect(page.get_by_test_id("import-rejected")).to_be_visible()
    shots.save(page, "place-import-errors-desktop")
    # the file put right: a preview first, nothing written until 确认导入
    page.set_input_files(
        "#id_file",
        files=[FilePayload(name="东河村走访对象.xlsx", mimeType=XLSX, buffer=_places_file(place))],
    )
    page.get_by_test_id("check-import").click()
    expect(page.get_by_test_id("import-preview")).to_be_visible()
    shots.save(page, "place-import-preview-desktop")
    desktop.close()

    # ----------------------------------------------------------------- 群众: the rating link
    # two replied needs of residents who left a phone number: one rated in the browser, one
    # through the service, both 不满意, so that the dispatchers have requests to decide
    rated = list(
        selectors.need_queryset_for_user(user=dispatcher)
        .filter(
            status="replied", requester__phone__gt="", outcome="resolved", lead_unit__isnull=False
        )
        .exclude(reply_text="")
        .order_by("-replied_at")[:3]
    )
    assert len(rated) == 3, "the demo county has too few replied needs with a phone number"
    link = rating_link_issue(rated[1])
    need_rate(
        link=rating_link_issue(rated[2]),
        resolved=CallbackResolved.PARTLY,
        satisfaction=Satisfaction.VERY_DISSATISFIED,
        comment="只解决了一半，还有问题没人管。",
    )
    need_rate(
        link=link,
        resolved=CallbackResolved.NO,
        satisfaction=Satisfaction.DISSATISFIED,
        comment="答复说已经处理了，可是问题还在，希望再派人来看看。",
    )
    phone = _context(browser, PHONE)
    page = phone.new_page()
    page.goto(base + urlsplit(rating_url(rating_link_issue(rated[0]))).path)
    expect(page.get_by_test_id("rate-form")).to_be_visible()
    shots.save(page, "rate-phone")
    form = page.get_by_test_id("rate-form")
    form.get_by_text("部分解决", exact=True).click()
    form.get_by_text("不满意", exact=True).click()
    form.locator("textarea[name=comment]").fill("说是处理好了，可只办了一部分，希望再来看看。")
    _scroll_to(page, "[data-testid=rate-resolved]")
    page.evaluate("window.scrollBy({top: -40, behavior: 'instant'})")
    shots.save(page, "rate-choose-phone")
    form.get_by_role("button", name="提交评价").click()
    expect(page.get_by_test_id("rate-done")).to_be_visible()
    assert ReopenRequest.objects.filter(need=rated[0], state="pending").exists()
    phone.close()

    # ----------------------------------------------------------------- 调度员
    desktop = _context(browser, DESKTOP)
    page = _login(desktop, base, "dispatcher")
    shots.save(page, "home-dispatcher-desktop")
    page.goto(f"{base}/ledger/")
    expect(page.get_by_test_id("count")).to_be_visible()
    shots.save(page, "ledger-filters-desktop")
    # the needs being handled, with their deadline badges
    page.goto(f"{base}/ledger/?status=in_progress")
    expect(page.locator("[data-deadline]").first).to_be_visible()
    _scroll_to(page, "[data-testid=count]")
    shots.save(page, "ledger-desktop")
    page.goto(f"{base}/ledger/?status=registered")
    _scroll_to(page, "[data-testid=count]")
    boxes = page.locator('input[name="need"]:visible')
    boxes.nth(0).check()
    boxes.nth(1).check()
    expect(page.locator("[data-selected-count]")).to_have_text("2")
    shots.save(page, "bulk-assign-desktop")
    page.goto(f"{base}/ledger/?status=replied")
    expect(page.get_by_test_id("count")).to_be_visible()
    page.get_by_test_id("export-menu").click()
    expect(page.locator("#ledger-export")).to_be_visible()
    shots.save(page, "ledger-export-desktop")

    # 导入台账: the columns recognised, then the check finds the row without content
    page.goto(f"{base}/ledger/import/")
    page.set_input_files(
        "#id_file",
        files=[FilePayload(name="东河镇诉求台账.xlsx", mimeType=XLSX, buffer=_ledger_file())],
    )
    page.get_by_test_id("upload").click()
    expect(page.get_by_test_id("mapping")).to_be_visible()
    shots.save(page, "ledger-import-mapping-desktop")
    page.get_by_test_id("check").click()
    expect(page.get_by_test_id("bad-rows")).to_have_text("1")
    _scroll_to(page, "[data-testid=import-rejected]")
    shots.save(page, "ledger-import-check-desktop")

    # 重办申请: the residents' unsatisfied ratings, the first one opened to accept
    page.goto(f"{base}/reopen-requests/")
    expect(page.get_by_test_id("reopen-request")).to_have_count(3)
    first = page.get_by_test_id("reopen-request").first
    first.locator("details[data-decision=accept] summary").click()
    expect(first.get_by_test_id("reopen-new-due")).to_be_visible()
    page.evaluate('window.scrollTo({top: 0, behavior: "instant"})')
    shots.save(page, "reopen-requests-desktop")

    need = _first(selectors.need_queryset_for_user(user=dispatcher).filter(status="registered"))
    page.goto(f"{base}/needs/{need.number}/")
    form = _open_action(page, "assign")
    with page.expect_response(lambda r: r.url.endswith(f"/needs/{need.number}/assign/")):
        form.locator("select[name=lead_unit]").select_option(label="青山县住房和城乡建设局")
    expect(page.get_by_test_id("assign-preview")).to_contain_text("办结时限")
    shots.save(page, "assign-desktop")

    # 举一反三: the routing suggestion, similar needs, hot topics, the topic, early signals
    _insight_dispatcher_shots(page, base, shots, dispatcher)

    pending = selectors.need_queryset_for_user(user=dispatcher).filter(
        extension_pending_days__isnull=False, extension_pending_days__gt=0
    )
    if pending.exists():
        need = _first(pending)
        page.goto(f"{base}/needs/{need.number}/")
        _open_action(page, "approve_extension")
        shots.save(page, "extension-desktop")

    page.goto(f"{base}/coverage/plans/new/")
    page.fill("input[name=name]", "东河村企业每季度全覆盖走访")
    page.get_by_text("全覆盖走访", exact=True).click()
    page.locator("select[name=period]").select_option(label="每季度")
    village = Place.objects.filter(area__parent__name="东河村").values_list(
        "area__parent", flat=True
    )
    page.locator("select[name=area]").select_option(str(village.first()))
    page.locator("select[name=place_kind]").select_option(label="企业")
    page.locator("select[name=officer]").select_option(str(officer.pk))
    shots.save(page, "plan-form-desktop")
    page.goto(f"{base}/coverage/")
    expect(page.get_by_test_id("totals")).to_be_visible()
    shots.save(page, "coverage-desktop")
    # the grid least covered, with the households not yet visited (its link ends in #unreached:
    # the browser would scroll there smoothly, and a shot mid-way shows the wrong part)
    grid = page.locator("[data-testid=grid-table] a[data-col=name]").first.get_attribute("href")
    assert grid is not None
    page.goto(base + grid.split("#")[0])
    expect(page.get_by_test_id("unreached")).to_be_visible()
    _scroll_to(page, "#unreached")
    shots.save(page, "coverage-unreached-desktop")
    desktop.close()

    # ----------------------------------------------------------------- 承办人
    phone = _context(browser, PHONE)
    page = _login(phone, base, "handler")
    shots.save(page, "home-handler-phone")
    need = _first(selectors.need_queryset_for_user(user=handler).filter(status="assigned"))
    page.goto(f"{base}/needs/{need.number}/")
    _open_action(page, "accept")
    shots.save(page, "accept-phone")
    phone.close()

    desktop = _context(browser, DESKTOP)
    page = _login(desktop, base, "handler")
    shots.save(page, "home-handler-desktop")
    need = _first(
        selectors.need_queryset_for_user(user=handler).filter(
            status="in_progress", lead_unit__name="青山县住房和城乡建设局", supervised=False
        )
    )
    page.goto(f"{base}/needs/{need.number}/")
    form = _open_action(page, "reply")
    form.get_by_text("创造条件推动", exact=True).click()
    form.locator("textarea[name=reply_text]").fill(
        "该路段改造已列入明年城建计划，资金到位后实施，届时告知群众。"
    )
    form.locator("input[name=followup_date]").fill(f"{clock.today() + timedelta(days=60):%Y-%m-%d}")
    shots.save(page, "reply-desktop")

    # the conflict: the leader supervises while the handler is typing the reply
    other = _context(browser, DESKTOP)
    lead = _login(other, base, "leader")
    lead.goto(f"{base}/needs/{need.number}/")
    supervise = _open_action(lead, "supervise")
    supervise.locator("textarea[name=note]").fill("请本周内拿出方案")
    supervise.get_by_role("button", name="督办").click()
    lead.wait_for_url(f"{base}/needs/{need.number}/")
    expect(lead.locator(".alert-success")).to_contain_text("已督办")
    shots.save(lead, "supervise-desktop")
    other.close()
    form.get_by_role("button", name="提交答复").click()
    expect(page.get_by_test_id("action-alert")).to_contain_text("该记录已被他人修改，请刷新")
    page.evaluate('window.scrollTo({top: 0, behavior: "instant"})')
    shots.save(page, "conflict-desktop")
    desktop.close()

    # ----------------------------------------------------------------- 领导
    desktop = _context(browser, DESKTOP)
    page = _login(desktop, base, "leader")
    expect(page.get_by_test_id("by-status")).to_be_visible()
    shots.save(page, "home-leader-desktop")
    page.goto(f"{base}/ledger/?overdue=true")
    expect(page.get_by_test_id("count")).to_be_visible()
    shots.save(page, "ledger-overdue-desktop")
    longest = (
        selectors.need_queryset_for_user(user=leader)
        .filter(status="closed")
        .annotate(steps=Count("events"))
        .order_by("-steps", "-registered_at")
        .values_list("number", flat=True)
        .first()
    )
    assert longest is not None
    page.goto(f"{base}/needs/{longest}/")
    _scroll_to(page, "[data-testid=timeline]")
    shots.save(page, "timeline-desktop")
    page.goto(f"{base}/coverage/")
    _scroll_to(page, "[data-testid=sentiment]")
    shots.save(page, "coverage-sentiment-desktop")

    # 统计 and 月报, from the daily rollups (the worker keeps them a few minutes behind)
    rollup_rebuild(lag=timedelta(0))
    page.goto(f"{base}/stats/")
    expect(page.get_by_test_id("rates")).to_be_visible()
    shots.save(page, "stats-desktop")
    _scroll_to(page, "[data-testid=panel-units]")
    shots.save(page, "stats-units-desktop")
    page.get_by_test_id("report-link").click()
    expect(page.get_by_test_id("report-title")).to_be_visible()
    shots.save(page, "report-desktop")
    desktop.close()

    # ----------------------------------------------------------------- 管理员
    desktop = _context(browser, DESKTOP)
    page = _login(desktop, base, "admin")
    page.goto(f"{base}/admin/")
    shots.save(page, "admin-desktop")
    page.goto(f"{base}/admin/needs/deadlinerule/")
    shots.save(page, "admin-rules-desktop")
    page.goto(f"{base}/admin/needs/holidayoverride/")
    shots.save(page, "admin-holidays-desktop")
    page.goto(f"{base}/admin/accounts/user/")
    shots.save(page, "admin-users-desktop")
    desktop.close()

    # ----------------------------------------------------------------- the help page itself
    phone = _context(browser, PHONE)
    page = _login(phone, base, "officer")
    page.goto(f"{base}/help/")
    shots.save(page, "help-phone")
    phone.close()

    # every image the guide shows comes from this run
    shown = {
        name
        for path in Path(guide.GUIDE_DIR).glob("*.md")
        for name in re.findall(r"\(img/([a-z0-9-]+)\.png\)", path.read_text(encoding="utf-8"))
    }
    assert shown <= set(shots.taken), f"not taken here: {sorted(shown - set(shots.taken))}"
    sizes = sum((shots.folder / f"{name}.png").stat().st_size for name in shots.taken)
    assert sizes < 3 * 1024 * 1024, f"the guide's images take {sizes} bytes"
