"""The shortcuts the import takes at 100,000 rows (issue #10) give the answers of the long way:
earlier imports found by their (area, 原编号) pair, rights asked once per area, rows packed in
blocks."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from conftest import World
from wenxu.needs import states
from wenxu.needs.ledger_import import files
from wenxu.needs.ledger_import.rows import parse_datetime
from wenxu.needs.models import Need
from wenxu.needs.services import bulk
from wenxu.needs.tests.ledger_import_helpers import ledger_row, xlsx
from wenxu.needs.tests.test_ledger_import import import_file, upload_and_check

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.django_db
def test_an_earlier_import_is_found_by_its_area_and_number_together(world: World) -> None:
    # Given DH-00001 imported in 东河村 and DH-00002 in 西岭村
    import_file(
        world.dispatcher,
        xlsx([ledger_row(1), ledger_row(2, town="西岭乡", village="西岭村")]),
    )
    # when a file swaps them (each number in the other area), and repeats DH-00001 in 东河村
    rows = [
        ledger_row(1, town="西岭乡", village="西岭村"),
        ledger_row(2),
        ledger_row(1, content="同一编号再导入一次。"),
    ]
    dry = upload_and_check(world.dispatcher, xlsx(rows, name="新.xlsx"))
    # then only the row whose area and number were both imported before is a duplicate
    assert dry.result is not None
    [problem] = dry.result.problems
    assert problem.row == 4
    assert "重复：原编号 DH-00001" in problem.message
    assert Need.objects.count() == 2


@pytest.mark.django_db
def test_a_batch_asks_the_actors_rights_over_each_area(world: World) -> None:
    # Given an officer of 东河镇, and two rows alike but for their areas, the second outside it
    row = bulk.Registration(
        title="路灯不亮",
        description="第1号路灯不亮。",
        kind=states.Kind.HELP,
        source=states.Source.VISIT,
        area=world.village_a,
        category=world.cat_roads,
    )
    outside = bulk.Registration(**{**row.__dict__, "area": world.village_b})
    # when they are registered in one batch
    with pytest.raises(bulk.RegistrationRejected) as caught:
        bulk.need_register_batch(actor=world.officer, registrations=[row, outside])
    # then the second is refused as `need_register` refuses it, and nothing is written
    assert caught.value.index == 1
    assert "该区域不在您的登记范围内" in caught.value.message
    assert not Need.objects.exists()
    # and the same rows the other way round are refused at the first
    with pytest.raises(bulk.RegistrationRejected) as caught:
        bulk.need_register_batch(actor=world.officer, registrations=[outside, row])
    assert caught.value.index == 0


def test_rows_packed_in_blocks_read_back_as_they_were() -> None:
    texts = ["东河村", "", '引号"和,逗号', "换行\n第二行", "\\反斜杠", "１３８"]
    rows = [(i + 2, [texts[i % len(texts)], f"第{i}行", texts[-1 - i % 3]]) for i in range(700)]
    packer = files._Packer()
    for number, cells in rows:
        packer.add(number, cells)
    unpacked = [(row.number, row.cells) for row in files._unpacked(packer.packed())]
    assert unpacked == rows


def test_dates_parse_the_same_in_the_zone_given() -> None:
    for text in ("2025-03-01 14:30", "2025年3月1日", "45717", "2025/3/1 8时5分"):
        assert parse_datetime(text, SHANGHAI) == parse_datetime(text), text
    assert parse_datetime("2025-03-01 14:30", SHANGHAI) == datetime(
        2025, 3, 1, 14, 30, tzinfo=SHANGHAI
    )
