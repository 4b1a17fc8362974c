"""台账导入 in a real browser: upload → column mapping → dry run report → fix → confirm."""

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import DESKTOP, PHONE
from tests.browser.helpers import login as _login
from tests.browser.helpers import no_horizontal_scroll as _no_horizontal_scroll
from tests.browser.helpers import shoot as _shoot
from wenxu.needs.models import Need
from wenxu.needs.tests.ledger_import_helpers import ledger_row, xlsx_bytes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_an_officer_imports_a_ledger_after_fixing_the_reported_row(
    browser, live_server, world, viewport, screenshot_dir, tmp_path
):
    # given a ledger whose second row has no content, and the same ledger fixed
    bad = tmp_path / "东河镇诉求台账.xlsx"
    bad.write_bytes(xlsx_bytes([ledger_row(1), ledger_row(2, content=""), ledger_row(3)]))
    fixed = tmp_path / "东河镇诉求台账-改.xlsx"
    fixed.write_bytes(xlsx_bytes([ledger_row(1), ledger_row(2), ledger_row(3)]))
    width = viewport["width"]
    page = browser.new_page(viewport=viewport, locale="zh-CN")
    _login(page, live_server.url, "officer", "pw-officer")

    # when the officer uploads the ledger
    page.goto(f"{live_server.url}/ledger/import/")
    _shoot(page, screenshot_dir / f"ledger-import-upload-{width}.png")
    page.set_input_files("#id_file", str(bad))
    page.get_by_test_id("upload").click()
    # then the columns are mapped from their Chinese headers, samples masked
    mapping = page.get_by_test_id("mapping")
    expect(mapping).to_be_visible()
    expect(page.locator("#id_col-10")).to_have_value("description")
    expect(page.locator("#id_col-4")).to_have_value("area")
    expect(page.locator("#id_col-0")).to_have_value("")
    expect(mapping).to_contain_text("138****5678")
    expect(mapping).not_to_contain_text("13812345678")
    _no_horizontal_scroll(page, viewport)
    _shoot(page, screenshot_dir / f"ledger-import-mapping-{width}.png")

    # when the dry run runs: the bad row is reported and nothing is imported
    page.get_by_test_id("check").click()
    expect(page.get_by_test_id("bad-rows")).to_have_text("1")
    expect(page.locator('tr[data-row="3"]')).to_contain_text("诉求内容不能为空")
    expect(page.get_by_test_id("confirm-import")).to_have_count(0)
    expect(page.get_by_test_id("download-report")).to_be_visible()
    _no_horizontal_scroll(page, viewport)
    _shoot(page, screenshot_dir / f"ledger-import-report-{width}.png")
    assert Need.objects.count() == 0

    # when the fixed file is uploaded and checked
    page.goto(f"{live_server.url}/ledger/import/")
    page.set_input_files("#id_file", str(fixed))
    page.get_by_test_id("upload").click()
    page.get_by_test_id("check").click()
    expect(page.get_by_test_id("to-register")).to_have_text("3")
    _shoot(page, screenshot_dir / f"ledger-import-preview-{width}.png")
    assert Need.objects.count() == 0
    # and confirmed
    page.get_by_test_id("confirm-import").click()
    expect(page.get_by_test_id("registered")).to_have_text("3")
    _no_horizontal_scroll(page, viewport)
    _shoot(page, screenshot_dir / f"ledger-import-done-{width}.png")
    assert Need.objects.count() == 3
    page.close()
