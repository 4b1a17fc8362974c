"""台账导入 (issue #6 item 6): mapping, dry run, all-or-nothing commit, refused files."""

import io
import re
import zipfile
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from conftest import World
from wenxu.accounts.models import User
from wenxu.lib import clock
from wenxu.needs.exceptions import NotFound, NotPermitted
from wenxu.needs.ledger_import import files, service
from wenxu.needs.ledger_import.fields import auto_mapping
from wenxu.needs.ledger_import.rows import parse_datetime
from wenxu.needs.models import LedgerImportBatch, LedgerImportRow, Need, NeedEvent
from wenxu.needs.services import bulk
from wenxu.needs.tests.ledger_import_helpers import HEADER, csv_file, ledger_row, xlsx, xlsx_bytes
from wenxu.residents.models import Requester

SHANGHAI = ZoneInfo("Asia/Shanghai")


def upload_and_check(
    actor: User, upload: Any, *, mapping: list[str] | None = None, source: str = "walk_in"
) -> service.DryRun:
    batch = service.ledger_import_upload(actor=actor, upload=upload)
    return service.ledger_import_check(
        actor=actor,
        batch_id=batch.pk,
        mapping=mapping if mapping is not None else batch.mapping,
        default_source=source,
    )


def import_file(actor: User, upload: Any) -> service.CommitResult:
    dry = upload_and_check(actor, upload)
    assert dry.result is not None
    assert dry.result.ok, dry.result.problems[:3]
    return service.ledger_import_commit(actor=actor, batch_id=dry.batch.pk)


def refused(actor: User, upload: Any) -> service.LedgerImportRejected:
    with pytest.raises(service.LedgerImportRejected) as caught:
        service.ledger_import_upload(actor=actor, upload=upload)
    return caught.value


# --------------------------------------------------------------------------- mapping


def test_chinese_headers_and_their_synonyms_map_to_fields() -> None:
    assert auto_mapping(HEADER) == [
        "",  # 序号 counts rows, it is no number of the need
        "original_number",
        "registered_at",
        "source",
        "area",
        "area",  # 街道 + 社区 make one name path
        "requester_name",
        "phone",
        "address",
        "category",
        "description",
        "urgency",
        "unit",
        "status",
        "result",
    ]
    assert auto_mapping(["原编号", "登记日期", "姓名", "电话", "住址", "诉求类别", "反映内容"]) == [
        "original_number",
        "registered_at",
        "requester_name",
        "phone",
        "address",
        "category",
        "description",
    ]
    assert auto_mapping(["所属区域*", "诉求内容（必填）", "联系电话(脱敏)", "电话"]) == [
        "area",
        "description",
        "phone",
        "",  # a second phone column is left for the user to choose
    ]


def test_an_unknown_header_is_mapped_by_hand(world: World) -> None:
    # Given a file whose content column has a header the system does not know
    header = [*HEADER[:10], "群众的话", *HEADER[11:]]
    dry = upload_and_check(world.officer, xlsx([ledger_row(1)], header=header))
    # then the dry run asks for the 诉求内容 column, and writes nothing
    assert dry.result is None
    assert any("诉求内容" in message for message in dry.mapping_problems)
    # when the user maps that column by hand
    mapping = [*dry.batch.mapping]
    mapping[10] = "description"
    again = service.ledger_import_check(
        actor=world.officer, batch_id=dry.batch.pk, mapping=mapping, default_source="walk_in"
    )
    # then the file checks clean and imports with that column as the content
    assert again.result is not None
    assert again.result.ok
    service.ledger_import_commit(actor=world.officer, batch_id=dry.batch.pk)
    assert Need.objects.get().description.startswith("第1号路灯不亮")


def test_a_column_may_be_switched_off_by_hand(world: World) -> None:
    # Given a category column the system does not know
    upload = xlsx([ledger_row(1, category="不存在的分类")])
    dry = upload_and_check(world.officer, upload)
    assert dry.result is not None
    assert dry.result.bad_rows == 1
    # when the user maps it to 不导入, the row imports without a category
    mapping = [*dry.batch.mapping]
    mapping[9] = ""
    again = service.ledger_import_check(
        actor=world.officer, batch_id=dry.batch.pk, mapping=mapping, default_source="walk_in"
    )
    assert again.result is not None
    assert again.result.ok
    assert again.batch.state == LedgerImportBatch.State.CHECKED


def test_dates_are_read_as_ledgers_write_them() -> None:
    expected = datetime(2025, 3, 1, tzinfo=SHANGHAI)
    for text in ("2025-03-01", "2025/3/1", "2025.3.1", "2025年3月1日", "45717"):
        assert parse_datetime(text) == expected, text
    assert parse_datetime("2025-03-01 14:30") == datetime(2025, 3, 1, 14, 30, tzinfo=SHANGHAI)
    assert parse_datetime("2025-03-01T14:30:05") == datetime(2025, 3, 1, 14, 30, 5, tzinfo=SHANGHAI)
    assert parse_datetime("三月一日") is None
    assert parse_datetime("2025-02-30") is None


# --------------------------------------------------------------------------- acceptance


def test_1000_rows_with_3_bad_ones_report_exactly_those_and_import_nothing_until_fixed(
    world: World,
) -> None:
    # Given a ledger of 1,000 rows of which rows 11, 501 and 1001 of the sheet are bad
    rows = [ledger_row(i) for i in range(1, 1001)]
    rows[9] = ledger_row(10, content="")  # sheet row 11: no content
    rows[499] = ledger_row(500, phone="1381234")  # sheet row 501: not a phone number
    rows[999] = ledger_row(1000, village="月亮村")  # sheet row 1001: no such area
    # when the officer uploads and checks it
    dry = upload_and_check(world.dispatcher, xlsx(rows))
    # then exactly those three rows are reported, each with its reason, and nothing is written
    assert dry.result is not None
    problems = {(p.row, p.column): p for p in dry.result.problems}
    assert sorted(problems) == [(11, "问题描述"), (501, "手机"), (1001, "街道/社区")]
    assert "诉求内容不能为空" in problems[(11, "问题描述")].message
    assert "联系电话格式不对" in problems[(501, "手机")].message
    assert problems[(501, "手机")].value == "*****34"  # masked like every phone shown
    assert "系统中没有" in problems[(1001, "街道/社区")].message
    assert dry.batch.state == LedgerImportBatch.State.REJECTED
    assert dry.batch.report["bad_rows"] == 3
    with pytest.raises(service.LedgerImportRejected):
        service.ledger_import_commit(actor=world.dispatcher, batch_id=dry.batch.pk)
    assert Need.objects.count() == 0
    assert NeedEvent.objects.count() == 0

    # Given the same file with the three rows fixed
    rows[9] = ledger_row(10)
    rows[499] = ledger_row(500)
    rows[999] = ledger_row(1000, unit="县住建局")
    fixed = upload_and_check(world.dispatcher, xlsx(rows, name="台账-改.xlsx"))
    assert fixed.result is not None
    assert fixed.result.ok
    assert Need.objects.count() == 0  # a clean dry run writes nothing either
    # when the dispatcher confirms
    result = service.ledger_import_commit(actor=world.dispatcher, batch_id=fixed.batch.pk)
    # then all 1,000 are in the ledger, the one with a unit assigned to it
    assert result.registered == 1000
    assert Need.objects.count() == 1000
    assert LedgerImportRow.objects.count() == 1000
    assert Need.objects.filter(status="assigned", lead_unit=world.housing).count() == 1
    batch = LedgerImportBatch.objects.get(pk=fixed.batch.pk)
    assert batch.state == LedgerImportBatch.State.COMMITTED
    assert batch.committed_at is not None
    assert batch.data == {}  # the rows' personal data does not linger in the batch


def test_a_failure_mid_commit_leaves_nothing_behind(world: World, monkeypatch: Any) -> None:
    # Given a checked file of 1,000 rows, written in chunks of 200
    dry = upload_and_check(world.dispatcher, xlsx([ledger_row(i) for i in range(1, 1001)]))
    assert dry.result is not None
    assert dry.result.ok
    monkeypatch.setattr(bulk, "CHUNK_SIZE", 200)
    # and the database failing on the events of the third chunk (its needs just written)
    real = bulk.insert_rows
    calls = {"n": 0}

    def failing(model: Any, objs: list[Any]) -> None:
        if model is NeedEvent:
            calls["n"] += 1
            if calls["n"] == 3:
                assert Need.objects.count() == 600  # written, not committed
                raise RuntimeError("disk full")
        real(model, objs)

    monkeypatch.setattr(bulk, "insert_rows", failing)
    # when the import is confirmed
    with pytest.raises(RuntimeError):
        service.ledger_import_commit(actor=world.dispatcher, batch_id=dry.batch.pk)
    # then no need, event, requester or import row is left, and the batch is not committed
    assert calls["n"] == 3
    assert Need.objects.count() == 0
    assert NeedEvent.objects.count() == 0
    assert Requester.objects.count() == 0
    assert LedgerImportRow.objects.count() == 0
    assert LedgerImportBatch.objects.get(pk=dry.batch.pk).state == "checked"


def test_a_row_the_service_refuses_names_the_row_and_rolls_back(
    world: World, monkeypatch: Any
) -> None:
    dry = upload_and_check(world.officer, xlsx([ledger_row(i) for i in range(1, 4)]))
    real = bulk._Batch.register_errors

    def refusing(self: Any, item: bulk.Registration, tags: list[str]) -> dict[str, list[str]]:
        if "3号" in item.description:
            return {"title": ["标题不合适。"]}
        return real(self, item, tags)

    monkeypatch.setattr(bulk._Batch, "register_errors", refusing)
    with pytest.raises(service.LedgerImportRejected) as caught:
        service.ledger_import_commit(actor=world.officer, batch_id=dry.batch.pk)
    assert caught.value.problems[0].row == 4
    assert "标题不合适" in caught.value.message
    assert Need.objects.count() == 0


# --------------------------------------------------------------------------- duplicates


def test_the_same_file_twice_is_refused_naming_the_earlier_import(world: World) -> None:
    data = xlsx_bytes([ledger_row(1), ledger_row(2)])
    import_file(world.officer, SimpleUploadedFile("台账.xlsx", data))
    error = refused(world.dispatcher, SimpleUploadedFile("另一个名字.xlsx", data))
    assert "已于" in error.message
    assert "王网格" in error.message
    assert "台账.xlsx" in error.message
    assert Need.objects.count() == 2


def test_a_row_imported_before_is_reported_as_a_duplicate(world: World) -> None:
    import_file(world.officer, xlsx([ledger_row(1), ledger_row(2)]))
    # a new file that repeats DH-00002 in the same area
    dry = upload_and_check(world.officer, xlsx([ledger_row(2), ledger_row(3)], name="新.xlsx"))
    assert dry.result is not None
    [problem] = dry.result.problems
    assert problem.row == 2
    assert "重复" in problem.message
    assert "DH-00002" in problem.message
    assert Need.objects.count() == 2


def test_the_same_original_number_twice_in_a_file_is_reported(world: World) -> None:
    dry = upload_and_check(world.officer, xlsx([ledger_row(1), ledger_row(1)]))
    assert dry.result is not None
    [problem] = dry.result.problems
    assert problem.row == 3
    assert "第 2 行" in problem.message


# --------------------------------------------------------------------------- what is imported


def test_an_imported_need_keeps_its_date_number_and_old_handling(world: World) -> None:
    row = ledger_row(
        7,
        date="2025-03-01 09:30",
        status="已办结",
        result="已修复",
        unit="县住建局",
        urgency="紧急",
    )
    import_file(world.officer, xlsx([row]))
    need = Need.objects.select_related("requester").get()
    # the registration time is the file's, and the ledger number of that year
    # (clock.travel runs on from the moment it is entered: microseconds later than the file)
    assert need.registered_at.replace(microsecond=0) == datetime(2025, 3, 1, 9, 30, tzinfo=SHANGHAI)
    assert need.number.startswith("WX-2025-")
    assert need.events.get().created_at.replace(microsecond=0) == datetime(
        2025, 3, 1, 9, 30, tzinfo=SHANGHAI
    )
    assert need.source == "hotline"
    assert need.urgency == "urgent"
    assert need.category == world.cat_roads
    assert need.title == "第7号路灯不亮"
    assert need.recorded_by == world.officer
    assert need.area == world.village_a
    assert need.requester is not None
    assert (need.requester.name, need.requester.phone) == ("张三", "13812345678")
    assert need.requester.address == "东河村东街12号"
    # an officer cannot assign: the unit, status and reply are kept in the text
    assert need.status == "registered"
    for text in ("原编号：DH-00007", "原责任单位：县住建局", "原办理状态：已办结", "已修复"):
        assert text in need.description
    assert need.import_row.original_number == "DH-00007"


def test_a_dispatchers_import_assigns_to_the_named_unit_at_the_import_time(world: World) -> None:
    import_file(world.dispatcher, xlsx([ledger_row(1, unit="青山县住房和城乡建设局")]))
    need = Need.objects.get()
    assert need.status == "assigned"
    assert need.lead_unit == world.housing
    assert need.assigned_at is not None
    # registered at the file's date, assigned now: the deadline runs from the import
    assert need.registered_at.replace(microsecond=0) == datetime(2025, 3, 1, 9, 30, tzinfo=SHANGHAI)
    assert need.assigned_at > need.registered_at
    assert need.resolve_due is not None
    assert need.resolve_due > clock.now()
    assert list(need.events.values_list("action", flat=True)) == ["register", "assign"]
    assert "原责任单位" not in need.description


def test_an_area_outside_the_officers_scope_is_a_row_error(world: World) -> None:
    dry = upload_and_check(world.officer, xlsx([ledger_row(1, town="西岭乡", village="西岭村")]))
    assert dry.result is not None
    [problem] = dry.result.problems
    assert "不在您的登记范围" in problem.message


def test_blank_source_takes_the_chosen_default_and_bad_values_are_reported(world: World) -> None:
    dry = upload_and_check(
        world.officer,
        xlsx([ledger_row(1, source=""), ledger_row(2, source="飞鸽传书", urgency="火急")]),
        source="hotline",
    )
    assert dry.result is not None
    assert {(p.row, p.column) for p in dry.result.problems} == {(3, "来源渠道"), (3, "紧急程度")}
    ok = upload_and_check(
        world.officer, xlsx([ledger_row(1, source="")], name="b.xlsx"), source="visit"
    )
    service.ledger_import_commit(actor=world.officer, batch_id=ok.batch.pk)
    assert Need.objects.get().source == "visit"


def test_a_future_date_is_refused(world: World) -> None:
    dry = upload_and_check(world.officer, xlsx([ledger_row(1, date="2999-01-01")]))
    assert dry.result is not None
    assert "晚于现在" in dry.result.problems[0].message


def test_a_handler_may_not_import(world: World) -> None:
    with pytest.raises(NotPermitted):
        service.ledger_import_upload(actor=world.handler, upload=xlsx([ledger_row(1)]))


def test_someone_elses_batch_cannot_be_committed(world: World) -> None:
    dry = upload_and_check(world.officer, xlsx([ledger_row(1)]))
    with pytest.raises(NotFound):
        service.ledger_import_commit(actor=world.dispatcher, batch_id=dry.batch.pk)
    assert Need.objects.count() == 0


# --------------------------------------------------------------------------- files


@pytest.mark.parametrize("encoding", ["gbk", "gb18030", "utf-8-sig", "utf-8"])
def test_csv_files_as_chinese_excel_writes_them_import(world: World, encoding: str) -> None:
    import_file(world.officer, csv_file([ledger_row(1), ledger_row(2)], encoding=encoding))
    assert Need.objects.count() == 2
    need = Need.objects.select_related("requester").order_by("pk").first()
    assert need is not None
    assert need.requester is not None
    assert need.requester.name == "张三"
    assert "路灯" in need.title


def test_formula_cells_are_read_as_their_cached_values(world: World) -> None:
    import xlsxwriter  # type: ignore[import-untyped]

    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, ["所属区域", "诉求内容", "联系电话"])
    sheet.write_formula(1, 0, '="东河镇/"&"东河村"', None, "东河镇/东河村")
    sheet.write_formula(1, 1, '=CONCATENATE("路灯","坏了")', None, "路灯坏了")
    sheet.write_formula(1, 2, '=HYPERLINK("http://evil.example","138")', None, "13812345678")
    book.close()
    import_file(world.officer, SimpleUploadedFile("公式.xlsx", out.getvalue()))
    need = Need.objects.select_related("requester").get()
    assert need.description == "路灯坏了"
    assert need.area == world.village_a
    assert need.requester is not None
    assert need.requester.phone == "13812345678"


def _patched_sizes(data: bytes, member: str, size: int) -> bytes:
    """The xlsx with `member`'s declared uncompressed size in the central directory set to
    `size`: what a zip bomb announces, without building one."""
    blob = bytearray(data)
    start = 0
    while (start := blob.find(b"PK\x01\x02", start)) != -1:
        name_length = int.from_bytes(blob[start + 28 : start + 30], "little")
        name = bytes(blob[start + 46 : start + 46 + name_length]).decode()
        if name == member:
            blob[start + 24 : start + 28] = size.to_bytes(4, "little")
        start += 4
    return bytes(blob)


def test_a_zip_bomb_is_refused_before_it_is_opened(world: World) -> None:
    data = _patched_sizes(xlsx_bytes([ledger_row(1)]), "xl/worksheets/sheet1.xml", 0x7FFFFFF0)
    assert sum(i.file_size for i in zipfile.ZipFile(io.BytesIO(data)).infolist()) > 2**30
    error = refused(world.officer, SimpleUploadedFile("炸弹.xlsx", data))
    assert "解压后太大" in error.message
    assert not LedgerImportBatch.objects.exists()


def _with_member(data: bytes, member: str, content: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            body = content if info.filename == member else source.read(info.filename)
            target.writestr(info.filename, body)
    return out.getvalue()


LAUGHS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>
<row r="1"><c r="A1" t="inlineStr"><is><t>所属区域</t></is></c>
<c r="B1" t="inlineStr"><is><t>诉求内容</t></is></c></row>
<row r="2"><c r="A2" t="inlineStr"><is><t>东河村</t></is></c>
<c r="B2" t="inlineStr"><is><t>&lol3;</t></is></c></row>
</sheetData></worksheet>""".encode()


@pytest.mark.parametrize("member", ["xl/worksheets/sheet1.xml", "xl/workbook.xml"])
def test_an_xml_entity_expansion_payload_is_refused(world: World, member: str) -> None:
    data = xlsx_bytes([ledger_row(1)])
    if member == "xl/workbook.xml":
        original = zipfile.ZipFile(io.BytesIO(data)).read(member)
        body = original.split(b"?>", 1)[1] if original.startswith(b"<?xml") else original
        payload = LAUGHS.split(b"<worksheet")[0] + body.replace(b"</workbook>", b"")
        payload += b"<!-- &lol3; --></workbook>"
    else:
        payload = LAUGHS
    error = refused(
        world.officer, SimpleUploadedFile("实体.xlsx", _with_member(data, member, payload))
    )
    assert "不安全的 XML" in error.message
    assert not LedgerImportBatch.objects.exists()


def test_an_oversized_file_is_refused_before_reading(world: World) -> None:
    big = SimpleUploadedFile("大.csv", b"x" * (files.MAX_IMPORT_BYTES + 1))
    assert "文件太大" in refused(world.officer, big).message


def test_too_many_rows_are_refused(world: World, monkeypatch: Any) -> None:
    monkeypatch.setattr(files, "MAX_IMPORT_ROWS", 3)
    error = refused(world.officer, xlsx([ledger_row(i) for i in range(1, 5)]))
    assert "一次最多导入 3 行" in error.message


def test_a_file_without_a_recognisable_header_is_refused(world: World) -> None:
    error = refused(world.officer, xlsx([["a", "b"]] * 6, header=["甲", "乙"]))
    assert "找不到表头" in error.message


def test_a_legacy_xls_is_refused_with_a_hint(world: World) -> None:
    error = refused(world.officer, SimpleUploadedFile("旧.xls", b"\xd0\xcf\x11\xe0"))
    assert re.search(r"\.xls", error.message)
