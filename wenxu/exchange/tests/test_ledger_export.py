"""台账 export: columns, masks, escaping, dates, sheets, scope, queries, jobs, CSV."""

import csv
import io
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from wenxu.accounts.models import Membership, User
from wenxu.exchange import columns as cols
from wenxu.exchange import ledger, services, writers
from wenxu.exchange.models import ExportJob
from wenxu.exchange.tests.conftest import body, workbook, xlsx_text
from wenxu.lib import clock
from wenxu.needs import services as need_services
from wenxu.needs.models import Need
from wenxu.organisations.models import Area

XLSX = "/api/v1/exports/ledger.xlsx"
CSV = "/api/v1/exports/ledger.csv"
HEADERS = [column.label for column in cols.COLUMNS]
HEADER_ROW = 3  # openpyxl rows are 1-based: title, conditions, header


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def data_rows(sheet: Any) -> list[tuple[Any, ...]]:
    return list(sheet.iter_rows(min_row=HEADER_ROW + 1, values_only=True))


def header(sheet: Any) -> list[str]:
    return [cell.value for cell in sheet[HEADER_ROW]]


def test_xlsx_has_the_standard_columns_in_order_a_title_and_a_frozen_header(world: Any) -> None:
    world.register(title="村口路灯不亮")
    response = client_for(world.dispatcher).get(XLSX)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    assert "attachment" in response["Content-Disposition"]
    sheet = workbook(body(response)).active
    assert header(sheet) == HEADERS
    assert HEADERS[:7] == [
        "序号",
        "编号",
        "登记日期",
        "来源渠道",
        "所属街道",
        "所属社区",
        "所属网格",
    ]
    assert "青山县" in sheet["A1"].value  # the dispatcher's scope
    assert "登记日期：全部" in sheet["A2"].value
    assert sheet.freeze_panes == "A4"
    assert sheet.column_dimensions["L"].width > sheet.column_dimensions["A"].width
    rows = data_rows(sheet)
    assert len(rows) == 1
    assert rows[0][0] == 1


def test_selected_columns_only_in_the_standard_order(world: Any) -> None:
    world.register()
    response = client_for(world.dispatcher).get(XLSX, {"columns": "satisfaction,number,grid"})
    sheet = workbook(body(response)).active
    assert header(sheet) == ["编号", "所属网格", "满意度"]
    (row,) = data_rows(sheet)
    assert row[0].startswith("WX-")
    assert row[1] == "东河村第一网格"


def test_unknown_column_or_bad_filter_answers_422_and_makes_nothing(world: Any) -> None:
    client = client_for(world.dispatcher)
    response = client.get(XLSX, {"columns": "number,shoe_size"})
    assert response.status_code == 422
    assert "shoe_size" in response.json()["errors"]["columns"][0]
    response = client.get(CSV, {"date_from": "2026-13-45"})
    assert response.status_code == 422
    assert "date_from" in response.json()["errors"]
    assert not ExportJob.objects.exists()


def test_personal_data_never_leaves_unmasked(world: Any) -> None:
    # given a need whose requester has a name, a phone and an address
    world.register(
        requester=need_services.RequesterInput(
            name="张三丰", phone="13812345678", address="东河村3组15号"
        )
    )
    client = client_for(world.dispatcher)
    # when the ledger is exported both ways
    xlsx = body(client.get(XLSX))
    text = body(client.get(CSV))
    # then only masked values appear
    for raw in ("张三丰", "13812345678", "3组15号"):
        assert raw not in xlsx_text(xlsx)
        assert raw.encode() not in xlsx
        assert raw.encode() not in text
    row = data_rows(workbook(xlsx).active)[0]
    by_header = dict(zip(HEADERS, row, strict=True))
    assert by_header["诉求人"] == "张**"
    assert by_header["联系电话"] == "138****5678"
    assert by_header["住址"] == "东河村****"


def test_confidential_requester_shows_only_that_it_is_confidential(world: Any) -> None:
    world.register(
        requester=need_services.RequesterInput(name="李四", phone="13900001111", confidential=True)
    )
    text = body(client_for(world.dispatcher).get(CSV)).decode("utf-8-sig")
    assert "（保密）" in text
    assert "李" not in text.split("\r\n")[1].split(",")[7]
    assert "1111" not in text


def test_formula_like_text_comes_back_as_text(world: Any) -> None:
    world.register(title="=1+1", description='=HYPERLINK("http://x")')
    world.register(title="@SUM(A1)")
    world.register(title="-2+3")
    response = client_for(world.dispatcher).get(XLSX, {"columns": "number,content"})
    sheet = workbook(body(response)).active
    cells = {row[1].value.split("\n")[0]: row[1] for row in sheet.iter_rows(min_row=HEADER_ROW + 1)}
    assert set(cells) == {"=1+1", "@SUM(A1)", "-2+3"}
    assert cells["=1+1"].value == '=1+1\n=HYPERLINK("http://x")'  # kept exactly as said
    for cell in cells.values():
        assert cell.data_type == "s"  # a string, not a formula ("f")
        assert cell.quotePrefix  # and it stays text if someone edits it


def test_csv_has_a_bom_and_escapes_formula_like_text(world: Any) -> None:
    world.register(title="=1+1")
    world.register(title="@SUM(A1)")
    world.register(title="+1+2")
    world.register(title="-2+3")
    response = client_for(world.dispatcher).get(CSV, {"columns": "number,content"})
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    data = body(response)
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == ["编号", "诉求内容"]
    assert sorted(row[1].split("\n")[0] for row in rows[1:]) == [
        "'+1+2",
        "'-2+3",
        "'=1+1",
        "'@SUM(A1)",
    ]


def test_csv_escapes_text_starting_with_a_tab_or_a_carriage_return() -> None:
    # (a title cannot start with whitespace: the form strips it; other text columns can)
    column = cols.COLUMNS[0]
    data = b"".join(writers.iter_csv([["\t=1+1"], ["\r=2"], ["a\tb"]], columns=[column]))
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert [row[0] for row in rows[1:]] == ["'\t=1+1", "'\r=2", "a\tb"]


def test_dates_are_real_date_cells(world: Any) -> None:
    need = world.replied()
    response = client_for(world.dispatcher).get(
        XLSX, {"columns": "registered,assigned_at,due_date"}
    )
    sheet = workbook(body(response)).active
    registered, assigned, due = next(sheet.iter_rows(min_row=HEADER_ROW + 1))
    assert isinstance(registered.value, datetime)
    assert registered.is_date
    assert registered.number_format == "yyyy-mm-dd"
    assert registered.value.date() == clock.today()
    assert isinstance(assigned.value, datetime)
    assert assigned.number_format == "yyyy-mm-dd hh:mm"
    assert due.value.date() > date(2000, 1, 1)
    need.refresh_from_db()
    assert (
        due.value.date()
        == need.resolve_due.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Shanghai")).date()
    )


def test_rows_go_on_in_a_new_sheet_past_the_sheet_limit(world: Any, tmp_path: Any) -> None:
    for i in range(5):
        world.register(title=f"诉求{i}")
    prepared = services.export_prepare(
        user=world.dispatcher, data={}, columns=["seq", "number"], format="xlsx"
    )
    target = tmp_path / "split.xlsx"
    with target.open("wb") as handle:
        services.export_write(prepared, handle, rows_per_sheet=2)
    book = workbook(target.read_bytes())
    assert book.sheetnames == ["台账", "台账 (2)", "台账 (3)"]
    assert [len(data_rows(sheet)) for sheet in book.worksheets] == [2, 2, 1]
    assert all(header(sheet) == ["序号", "编号"] for sheet in book.worksheets)
    assert [row[0] for sheet in book.worksheets for row in data_rows(sheet)] == [1, 2, 3, 4, 5]


def test_the_row_shows_places_units_handler_deadline_and_progress(world: Any) -> None:
    # given a need assigned to 住建局 with 交通局 helping, accepted and replied by the handler
    need = world.register(title="路灯")
    need = need_services.need_assign(
        actor=world.dispatcher,
        need=need,
        version=need.version,
        lead_unit=world.housing,
        co_units=[world.transport],
    )
    need = need_services.need_accept(actor=world.handler, need=need, version=need.version)
    need_services.need_reply(
        actor=world.handler,
        need=need,
        version=need.version,
        outcome="resolved",
        reply_text="已更换路灯。",
    )
    text = body(client_for(world.dispatcher).get(CSV)).decode("utf-8-sig")
    row = dict(zip(HEADERS, list(csv.reader(io.StringIO(text)))[1], strict=True))
    assert (row["所属街道"], row["所属社区"], row["所属网格"]) == (
        "东河镇",
        "东河村",
        "东河村第一网格",
    )
    assert row["责任单位"] == "青山县住房和城乡建设局；协办：青山县交通运输局"
    assert row["责任人"] == "住建承办人"
    assert row["办理时限"] == "5 个工作日"
    assert row["办理进度"] == "已答复"
    assert row["办理结果/答复内容"] == "已解决：已更换路灯。"
    assert row["是否按期"] == "是"
    assert row["来源渠道"] == "走访"
    assert row["紧急程度"] == "一般"


def test_export_holds_what_the_ledger_filters_show(world: Any) -> None:
    world.register(title="路灯", urgency="urgent")
    world.register(title="自来水", category=world.cat_water)
    world.assigned(title="已交办")
    client = client_for(world.dispatcher)
    text = body(client.get(CSV, {"status": "registered", "columns": "content"}))
    assert sorted(text.decode("utf-8-sig").split("\r\n")[1:-1]) == sorted(
        [
            '"路灯\n村口三盏路灯坏了一个多月，晚上出行不便。"'.replace(
                "村口三盏", "东河村村口三盏"
            ),
            '"自来水\n东河村村口三盏路灯坏了一个多月，晚上出行不便。"',
        ]
    )
    text = body(client.get(CSV, {"urgency": "urgent", "q": "路灯", "columns": "number"}))
    assert len(text.decode("utf-8-sig").split("\r\n")) == 3  # header, one row, final newline


def test_outsider_gets_an_empty_export(world: Any) -> None:
    world.register()
    response = client_for(world.outsider).get(XLSX)
    assert response.status_code == 200
    sheet = workbook(body(response)).active
    assert header(sheet) == HEADERS
    assert data_rows(sheet) == []


def test_dispatcher_of_another_county_sees_none_of_these_needs(world: Any) -> None:
    for _ in range(3):
        world.register()
    other_county = Area.objects.create(name="远山县", level="county")
    stranger = User.objects.create_user(username="far", password="pw-far")
    Membership.objects.create(user=stranger, role="dispatcher", area=other_county)
    text = body(client_for(stranger).get(CSV)).decode("utf-8-sig")
    assert text.split("\r\n")[1:] == [""]
    assert body(client_for(world.dispatcher).get(CSV)).count(b"WX-") == 3


def test_handler_exports_only_their_units_needs(world: Any) -> None:
    world.assigned(title="住建的")
    world.assigned(title="交通的", lead=world.transport)
    text = body(client_for(world.handler).get(CSV, {"columns": "units"})).decode("utf-8-sig")
    assert text.split("\r\n")[1:-1] == ["青山县住房和城乡建设局"]


def test_anonymous_caller_gets_401(world: Any) -> None:
    assert Client().get(XLSX).status_code == 401


@pytest.mark.parametrize("path", [XLSX, CSV])
def test_queries_grow_only_with_the_number_of_chunks(
    world: Any, path: str, monkeypatch: Any, django_assert_max_num_queries: Any
) -> None:
    # given chunks of 3 rows, so 2 rows are one chunk and 12 rows four
    monkeypatch.setattr(ledger, "CHUNK_SIZE", 3)
    client = client_for(world.dispatcher)

    def add(count: int) -> None:
        for i in range(count):
            if i % 2:
                world.replied(title=f"诉求{i}")
            else:
                world.register(
                    title=f"登记{i}", requester=need_services.RequesterInput(name="王五", phone="1")
                )

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            response = client.get(path)
            data = body(response)
        assert response.status_code == 200
        if path == CSV:
            assert data.count(b"WX-") == Need.objects.count()
        return len(captured.captured_queries)

    add(2)
    queries()  # warm: what pages keep between requests (ADR 0026)
    one_chunk = queries()
    add(1)  # 3 rows: still one chunk
    assert queries() == one_chunk
    add(3)  # 6 rows: two chunks
    two_chunks = queries()
    per_chunk = two_chunks - one_chunk
    assert 0 < per_chunk <= 4  # the needs and their prefetches, never per row
    add(6)  # 12 rows: four chunks
    # then the count is a constant plus the per-chunk queries times the chunks
    assert queries() == one_chunk + 3 * per_chunk
    with django_assert_max_num_queries(20 + 3 * per_chunk):
        body(client.get(path))


def test_large_export_runs_as_a_job_that_only_its_owner_may_download(
    world: Any, monkeypatch: Any, django_capture_on_commit_callbacks: Any, export_dir: Any
) -> None:
    # given more needs than the synchronous limit
    monkeypatch.setattr(services, "SYNC_LIMIT", 2)
    for i in range(3):
        world.register(title=f"诉求{i}")
    client = client_for(world.dispatcher)
    # when the dispatcher exports (the immediate task backend runs the job on commit)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.get(XLSX, {"columns": "number,content"})
    # then the answer is 202 with a job, which is done with all rows
    assert response.status_code == 202
    job_id = response.json()["id"]
    status = client.get(f"/api/v1/exports/jobs/{job_id}").json()
    assert status["status"] == "done"
    assert (status["rows_done"], status["rows_total"]) == (3, 3)
    assert status["download_url"] == f"/api/v1/exports/jobs/{job_id}/file"
    assert list(export_dir.iterdir())  # the file is under DATA_DIR/exports
    # and the owner downloads it; anyone else gets 404 for the job and its file
    download = client.get(status["download_url"])
    assert download.status_code == 200
    assert len(data_rows(workbook(body(download)).active)) == 3
    other = client_for(world.leader)
    assert other.get(f"/api/v1/exports/jobs/{job_id}").status_code == 404
    assert other.get(status["download_url"]).status_code == 404
    assert other.get(f"/exports/jobs/{job_id}/download/").status_code == 404
    assert client.get(f"/exports/jobs/{job_id}/download/").status_code == 200


def test_cleanup_deletes_files_of_jobs_finished_a_week_ago(
    world: Any, monkeypatch: Any, django_capture_on_commit_callbacks: Any
) -> None:
    monkeypatch.setattr(services, "SYNC_LIMIT", 0)
    world.register()
    with django_capture_on_commit_callbacks(execute=True):
        job_id = client_for(world.dispatcher).get(CSV).json()["id"]
    job = ExportJob.objects.get(pk=job_id)
    path = job.file.path
    assert services.export_jobs_cleanup() == 0  # fresh: kept
    later = clock.now() + timedelta(days=8)
    assert services.export_jobs_cleanup(now=later) == 1
    job.refresh_from_db()
    assert job.file.name == ""
    assert not __import__("os").path.exists(path)
    response = client_for(world.dispatcher).get(f"/api/v1/exports/jobs/{job_id}")
    assert response.json()["download_url"] is None


def test_ledger_page_offers_the_export_menu_with_every_column(world: Any) -> None:
    page = client_for(world.dispatcher).get("/ledger/", {"status": "registered"})
    html = page.content.decode()
    assert 'id="ledger-export"' in html
    assert "/exports/ledger/?status=registered" in html
    for column in cols.COLUMNS:
        assert f'value="{column.key}"' in html


def test_staff_export_downloads_at_once_or_opens_the_job_page(
    world: Any, monkeypatch: Any, django_capture_on_commit_callbacks: Any
) -> None:
    world.register(title="路灯")
    world.assigned(title="已交办")
    client = client_for(world.dispatcher)
    response = client.post(
        "/exports/ledger/?status=registered", {"format": "csv", "columns": ["number", "content"]}
    )
    assert response.status_code == 200
    lines = body(response).decode("utf-8-sig").split("\r\n")
    assert lines[0] == "编号,诉求内容"
    assert len(lines) == 3
    monkeypatch.setattr(services, "SYNC_LIMIT", 1)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/exports/ledger/", {"format": "xlsx"})
    job = ExportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/exports/jobs/{job.pk}/"
    page = client.get(response["Location"])
    assert 'data-status="done"' in page.content.decode()
    assert f"/exports/jobs/{job.pk}/download/" in page.content.decode()
    assert client_for(world.officer).get(response["Location"]).status_code == 404


def test_staff_export_with_a_bad_format_goes_back_with_a_message(world: Any) -> None:
    response = client_for(world.dispatcher).post(
        "/exports/ledger/?status=registered", {"format": "pdf"}, follow=True
    )
    assert "导出格式只能是 xlsx 或 csv" in response.content.decode()
    assert response.redirect_chain[-1][0] == "/ledger/?status=registered"
    assert not ExportJob.objects.exists()
