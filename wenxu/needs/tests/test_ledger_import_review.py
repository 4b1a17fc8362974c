"""台账导入 after review: rollup cursor lock, deadlines from the import, no "已登记" texts."""

import io
import zipfile
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from openpyxl import load_workbook  # type: ignore[import-untyped]

from conftest import World
from wenxu.insight.models import RollupCursor
from wenxu.lib import clock
from wenxu.needs.ledger_import import service
from wenxu.needs.ledger_import.rows import RowProblem
from wenxu.needs.ledger_import.workbooks import error_report
from wenxu.needs.models import LedgerImportBatch, LedgerImportRow, Need, NeedEvent
from wenxu.needs.services.register import RequesterInput
from wenxu.needs.tests.ledger_import_helpers import HEADER, ledger_row, xlsx, xlsx_bytes
from wenxu.needs.tests.test_ledger_import import import_file, upload_and_check
from wenxu.notify import messages

SHANGHAI = ZoneInfo("Asia/Shanghai")
WITH_ASSIGNED = [*HEADER, "交办时间"]


def test_commit_locks_the_rollup_cursor_before_it_writes_any_need(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a checked file, and a spy on the cursor's row lock
    dry = upload_and_check(world.dispatcher, xlsx([ledger_row(1, unit="县住建局")]))
    locked_with_needs: list[int] = []
    manager = RollupCursor.objects
    real = manager.select_for_update

    def spy(**kwargs: Any) -> Any:
        locked_with_needs.append(Need.objects.count())
        return real(**kwargs)

    monkeypatch.setattr(manager, "select_for_update", spy)
    # when the import commits
    with CaptureQueriesContext(connection) as captured:
        service.ledger_import_commit(actor=world.dispatcher, batch_id=dry.batch.pk)
    # then the cursor row was locked once, before the first need was written
    assert locked_with_needs == [0]
    assert Need.objects.count() == 1
    if connection.features.has_select_for_update:
        sqls = [q["sql"] for q in captured.captured_queries]
        locks = [
            i for i, sql in enumerate(sqls) if "insight_rollupcursor" in sql and "FOR UPDATE" in sql
        ]
        # (the first need written: its INSERT, or on PostgreSQL its id taken for the COPY)
        first_need = next(
            i
            for i, sql in enumerate(sqls)
            if sql.startswith('INSERT INTO "needs_need"')
            or ("nextval" in sql and "'needs_need'" in sql)
        )
        assert locks
        assert locks[0] < first_need


def test_rows_closed_in_the_file_are_registered_but_never_assigned(world: World) -> None:
    dry = upload_and_check(
        world.dispatcher, xlsx([ledger_row(1, unit="县住建局", status="已办结")])
    )
    report = dry.batch.report
    assert (report["to_assign"], report["unit_not_assigned"], report["closed_in_file"]) == (0, 0, 1)
    service.ledger_import_commit(actor=world.dispatcher, batch_id=dry.batch.pk)
    need = Need.objects.get()
    assert need.status == "registered"
    assert need.lead_unit is None
    assert "原责任单位：县住建局" in need.description
    assert list(need.events.values_list("action", flat=True)) == ["register"]


def test_an_old_assignment_runs_its_deadline_from_the_import_and_keeps_the_files_date(
    world: World,
) -> None:
    # given a row registered and assigned in March 2025
    row = ledger_row(1, unit="县住建局", assigned="2025-03-02 10:00")
    dry = upload_and_check(world.dispatcher, xlsx([row], header=WITH_ASSIGNED))
    assert dry.batch.report["to_assign"] == 1
    # when a dispatcher imports it
    service.ledger_import_commit(actor=world.dispatcher, batch_id=dry.batch.pk)
    need = Need.objects.get()
    # then it is assigned now, not overdue, and the file's 交办时间 is in the text
    assert need.status == "assigned"
    assert need.assigned_at is not None
    assert need.assigned_at > clock.now() - timedelta(minutes=5)
    assert not need.is_overdue(clock.now())
    assert need.resolve_due is not None
    assert need.resolve_due > clock.now()
    assert "【原台账信息】" in need.description
    assert "原交办时间：2025-03-02 10:00" in need.description
    assign = need.events.get(action="assign")
    assert assign.created_at > clock.now() - timedelta(minutes=5)


def test_a_row_with_only_an_assignment_date_is_registered_at_that_date(world: World) -> None:
    row = ledger_row(1, date="", assigned="2025-03-02 10:00")
    import_file(world.officer, xlsx([row], header=WITH_ASSIGNED))
    need = Need.objects.get()
    assert need.registered_at.replace(microsecond=0) == datetime(2025, 3, 2, 10, 0, tzinfo=SHANGHAI)


def test_the_purge_deletes_only_uncommitted_batches_past_their_lifetime(world: World) -> None:
    # given a fresh upload, an old abandoned one and an old committed import
    fresh = upload_and_check(world.officer, xlsx([ledger_row(3)])).batch
    with clock.travel(clock.now() - service.BATCH_LIFETIME - timedelta(hours=1)):
        old = upload_and_check(world.officer, xlsx([ledger_row(1)])).batch
        committed = upload_and_check(world.officer, xlsx([ledger_row(2)])).batch
        service.ledger_import_commit(actor=world.officer, batch_id=committed.pk)
    assert LedgerImportBatch.objects.count() == 3
    # when the sweep purges
    assert service.ledger_import_purge_stale() == 1
    # then only the old abandoned one is gone
    assert set(LedgerImportBatch.objects.values_list("pk", flat=True)) == {committed.pk, fresh.pk}
    assert old.pk not in set(LedgerImportBatch.objects.values_list("pk", flat=True))


def test_an_imported_need_sends_the_resident_no_registered_text(world: World) -> None:
    import_file(world.officer, xlsx([ledger_row(1)]))
    need = Need.objects.get()
    assert need.requester is not None
    assert need.requester.phone
    event = need.events.get(action="register")
    assert messages.resident_drafts(event) == []
    # a need registered the usual way still gets its text
    usual = world.register(requester=RequesterInput(name="李四", phone="13912345678"))
    [draft] = messages.resident_drafts(NeedEvent.objects.get(need=usual, action="register"))
    assert draft.template == "registered"


def test_an_imported_need_still_tells_the_resident_of_the_reply(world: World) -> None:
    need = world.replied(requester=RequesterInput(name="李四", phone="13912345678"))
    batch = LedgerImportBatch.objects.create(
        id="b" * 40,
        user=world.officer,
        file_name="台账.xlsx",
        sha256="0" * 64,
        state=LedgerImportBatch.State.COMMITTED,
        created_at=clock.now(),
    )
    LedgerImportRow.objects.create(batch=batch, need=need, area=need.area, row_number=2)
    assert messages.resident_drafts(NeedEvent.objects.get(need=need, action="register")) == []
    [draft] = messages.resident_drafts(NeedEvent.objects.get(need=need, action="reply"))
    assert draft.template == "replied"


def test_the_error_report_keeps_formula_like_values_as_text() -> None:
    problems = [
        RowProblem(2, "诉求内容", '=HYPERLINK("http://x","点我")', "太长"),
        RowProblem(3, "原编号", "+1", "-重复"),
        RowProblem(4, "备注", "@SUM(A1)", "普通"),
    ]
    book = load_workbook(io.BytesIO(error_report(problems=problems, file_name="台账.xlsx")))
    sheet = book.active
    assert sheet.cell(3, 3).value == '=HYPERLINK("http://x","点我")'
    assert sheet.cell(3, 3).data_type == "s"
    assert sheet.cell(3, 3).quotePrefix
    assert sheet.cell(4, 3).quotePrefix
    assert sheet.cell(4, 4).quotePrefix
    assert sheet.cell(5, 3).quotePrefix
    assert not sheet.cell(5, 4).quotePrefix


def _repacked(extra: dict[str, bytes], *, pad_shared_strings: int = 0) -> SimpleUploadedFile:
    """A real ledger .xlsx (openpyxl writes its texts inline), repacked with a shared strings
    part of (valid) trailing blanks and other extra members; deflate shrinks the padding to
    almost nothing, so only the sizes the zip declares give it away."""
    source = zipfile.ZipFile(io.BytesIO(xlsx_bytes([ledger_row(1)])))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info.filename, source.read(info.filename))
        shared = b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"/>'
        target.writestr("xl/sharedStrings.xml", shared + b" " * pad_shared_strings)
        for name, data in extra.items():
            target.writestr(name, data)
    assert out.tell() < 1024 * 1024  # small on disk
    return SimpleUploadedFile("台账.xlsx", out.getvalue())


def test_a_file_whose_shared_strings_unpack_past_20_mb_is_refused(world: World) -> None:
    upload = _repacked({}, pad_shared_strings=21 * 1024 * 1024)
    with pytest.raises(service.LedgerImportRejected) as caught:
        service.ledger_import_upload(actor=world.officer, upload=upload)
    assert "文字内容太多" in caught.value.message
    assert not LedgerImportBatch.objects.exists()


def test_a_file_unpacking_past_100_mb_is_refused(world: World) -> None:
    upload = _repacked({"xl/media/padding.bin": bytes(101 * 1024 * 1024)})
    with pytest.raises(service.LedgerImportRejected) as caught:
        service.ledger_import_upload(actor=world.officer, upload=upload)
    assert "解压后太大" in caught.value.message
    assert not LedgerImportBatch.objects.exists()


def test_a_file_with_modest_shared_strings_still_imports(world: World) -> None:
    upload = _repacked({}, pad_shared_strings=1024 * 1024)
    assert service.ledger_import_upload(actor=world.officer, upload=upload).row_count == 1
