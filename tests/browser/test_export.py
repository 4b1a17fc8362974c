"""台账 导出 in a real browser: the menu, the column chooser, a direct download and a job."""

import io
from pathlib import Path

import openpyxl  # type: ignore[import-untyped]
import pytest
from playwright.sync_api import expect

from tests.browser.helpers import DESKTOP, PHONE
from tests.browser.helpers import login as _login
from wenxu.exchange import services
from wenxu.needs import services as need_services

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_dispatcher_exports_the_filtered_ledger_with_chosen_columns(
    browser, live_server, world, viewport, screenshot_dir
):
    # given needs in two states, one with a requester whose data must be masked
    world.register(
        title="村口路灯不亮",
        requester=need_services.RequesterInput(name="张三丰", phone="13812345678"),
    )
    world.assigned(title="已交办的诉求")
    page = browser.new_page(viewport=viewport, locale="zh-CN", accept_downloads=True)
    _login(page, live_server.url, "dispatcher", "pw-dispatcher")
    page.goto(f"{live_server.url}/ledger/")
    # when the dispatcher filters to registered needs (htmx, no reload) and opens 导出
    if viewport is PHONE:
        page.get_by_role("button", name="更多筛选").click()
    page.locator("label[for=ledger-status-registered]").click()
    expect(page.get_by_test_id("count")).to_have_text("共 1 条")
    page.get_by_test_id("export-menu").click()
    menu = page.locator("#ledger-export")
    expect(menu).to_be_visible()
    page.screenshot(path=str(screenshot_dir / f"export-menu-{viewport['width']}.png"))
    width = page.evaluate("document.scrollingElement.scrollWidth")
    assert width <= viewport["width"]
    # and keeps only three columns
    menu.locator("[data-export-check=none]").click()
    for key in ("number", "requester", "content"):
        menu.locator(f"label[for=export-col-{key}]").click()
    with page.expect_download() as info:
        page.get_by_test_id("export-xlsx").click()
    # then the workbook holds the one registered need, those columns, masked
    download = info.value
    assert download.suggested_filename.endswith(".xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(Path(download.path()).read_bytes())).active
    assert [cell.value for cell in sheet[3]] == ["编号", "诉求人", "诉求内容"]
    rows = list(sheet.iter_rows(min_row=4, values_only=True))
    assert len(rows) == 1
    assert rows[0][1] == "张**"
    assert rows[0][2].startswith("村口路灯不亮")


def test_large_export_shows_progress_then_the_download_link(
    browser, live_server, world, monkeypatch, screenshot_dir, settings, tmp_path
):
    settings.DATA_DIR = tmp_path  # the job's file, not in the checkout's var/
    monkeypatch.setattr(services, "SYNC_LIMIT", 1)
    world.register(title="一")
    world.register(title="二")
    page = browser.new_page(viewport=PHONE, locale="zh-CN", accept_downloads=True)
    _login(page, live_server.url, "dispatcher", "pw-dispatcher")
    page.goto(f"{live_server.url}/ledger/")
    page.get_by_test_id("export-menu").click()
    page.get_by_test_id("export-csv").click()
    page.wait_for_url("**/exports/jobs/*/")
    expect(page.get_by_test_id("export-job-status")).to_have_attribute("data-status", "done")
    link = page.get_by_test_id("export-download")
    expect(link).to_be_visible()
    page.screenshot(path=str(screenshot_dir / "export-job-375.png"), full_page=True)
    with page.expect_download() as info:
        link.click()
    data = Path(info.value.path()).read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    assert data.count(b"WX-") == 2
