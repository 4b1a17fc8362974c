"""Importing places from Excel (ADR 0010): all rows or none, every bad row reported."""

import io
import re
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from openpyxl import Workbook, load_workbook  # type: ignore[import-untyped]

from conftest import World
from wenxu.needs.exceptions import NotPermitted
from wenxu.organisations.models import Area
from wenxu.visits import place_files, place_import
from wenxu.visits.models import Place
from wenxu.visits.place_files import PlaceImportRejected

HEADER = ["网格", "类型", "名称/门牌", "地址", "户主/负责人", "联系电话", "人数", "备注"]
GRID_A = "东河镇/东河村/东河村第一网格"


def xlsx(rows: list[list[Any]], *, header: list[str] | None = None, name: str = "名册.xlsx") -> Any:
    book = Workbook()
    sheet = book.active
    sheet.append(header if header is not None else HEADER)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return SimpleUploadedFile(name, out.getvalue())


def row(name: str, **overrides: Any) -> list[Any]:
    values = {
        "area": GRID_A,
        "kind": "住户",
        "name": name,
        "address": "东河村东街",
        "contact": "张三",
        "phone": "13912348765",
        "members": 3,
        "note": "",
    }
    values.update(overrides)
    return list(values.values())


def snapshot() -> list[tuple[Any, ...]]:
    return list(
        Place.objects.order_by("pk").values_list(
            "pk", "area_id", "kind", "name", "address", "contact_name", "contact_phone", "members"
        )
    )


def rejected(world: World, upload: Any) -> PlaceImportRejected:
    with pytest.raises(PlaceImportRejected) as caught:
        place_import.place_import(actor=world.officer, upload=upload)
    return caught.value


# --------------------------------------------------------------------------- happy path


def test_a_clean_file_creates_new_places_and_updates_existing_ones(world: World) -> None:
    # Given a place already registered, and one that will not change
    Place.objects.create(area=world.grid_a, kind="household", name="1号", members=2)
    Place.objects.create(
        area=world.grid_a,
        kind="household",
        name="2号",
        address="东河村东街",
        contact_name="张三",
        contact_phone="13912348765",
        members=3,
    )
    upload = xlsx(
        [
            row("1号", members=5),  # update
            row("2号"),  # unchanged
            row("3号", phone=13900001111),  # the phone as a number, as Excel stores it
            row("东河酒厂", kind="企业", area="东河村第一网格", phone="0571-88886666"),
            row("村文化广场", kind="公共场所", area="东河村/东河村第一网格", contact="", phone=""),
        ]
    )

    result = place_import.place_import(actor=world.officer, upload=upload)

    assert (result.created, result.updated, result.unchanged) == (3, 1, 1)
    assert Place.objects.get(name="1号").members == 5
    brewery = Place.objects.get(name="东河酒厂")
    assert (brewery.kind, brewery.area, brewery.contact_phone) == (
        "enterprise",
        world.grid_a,
        "0571-88886666",
    )
    assert Place.objects.get(name="3号").contact_phone == "13900001111"
    assert Place.objects.get(name="村文化广场").kind == "public"


def test_the_area_may_be_given_by_its_code(world: World) -> None:
    world.grid_b.code = "330100001001"
    world.grid_b.save()
    result = place_import.place_import(
        actor=world.dispatcher, upload=xlsx([row("9号", area="330100001001")])
    )
    assert result.created == 1
    assert Place.objects.get(name="9号").area == world.grid_b


def test_a_title_row_above_the_header_and_blank_rows_are_fine(world: World) -> None:
    book = Workbook()
    sheet = book.active
    sheet.append(["东河村走访对象名册"])
    sheet.append(HEADER)
    sheet.append(row("1号"))
    sheet.append([None] * 8)
    sheet.append(row("2号"))
    out = io.BytesIO()
    book.save(out)

    result = place_import.place_import(
        actor=world.officer, upload=SimpleUploadedFile("a.xlsx", out.getvalue())
    )

    assert result.created == 2


def test_a_csv_file_in_gbk_imports_like_excel(world: World) -> None:
    text = ",".join(HEADER) + "\r\n" + ",".join(str(v) for v in row("5号")) + "\r\n"
    upload = SimpleUploadedFile("名册.csv", text.encode("gb18030"))

    assert place_import.place_import(actor=world.officer, upload=upload).created == 1
    assert Place.objects.get(name="5号").contact_name == "张三"


# --------------------------------------------------------------------------- all or nothing


def test_a_file_with_several_bad_rows_reports_each_and_writes_nothing(world: World) -> None:
    Place.objects.create(area=world.grid_a, kind="household", name="1号", members=2)
    before = snapshot()
    upload = xlsx(
        [
            row("1号", members=9),  # fine on its own (would update)
            row("2号", kind="住宅"),  # row 3: unknown kind
            row("", phone="1381234"),  # row 4: no name, bad phone
            row("4号", members=-1),  # row 5: negative
            row("5号", area="不存在网格"),  # row 6: unknown area
            row("6号", note="很" * 201),  # row 7: too long
            row("7号", members="三口"),  # row 8: not a number
            row("8号", area=""),  # row 9: no area
        ]
    )

    error = rejected(world, upload)

    by_row: dict[int | None, list[str]] = {}
    for problem in error.problems:
        by_row.setdefault(problem.row, []).append(problem.column)
    assert by_row == {
        3: ["类型"],
        4: ["名称/门牌", "联系电话"],
        5: ["人数"],
        6: ["网格"],
        7: ["备注"],
        8: ["人数"],
        9: ["网格"],
    }
    assert error.bad_rows == 7
    assert snapshot() == before
    kind = next(p for p in error.problems if p.row == 3)
    assert kind.value == "住宅"
    assert "住户、企业 或 公共场所" in kind.message


def test_duplicate_rows_in_the_file_are_reported_against_the_first(world: World) -> None:
    upload = xlsx([row("1号"), row("2号"), row("1号", area="东河村第一网格")])

    error = rejected(world, upload)

    assert [(p.row, p.column, p.value) for p in error.problems] == [(4, "名称/门牌", "1号")]
    assert "与第 2 行重复" in error.problems[0].message
    assert not Place.objects.exists()


def test_a_grid_outside_the_officers_scope_is_a_row_error(world: World) -> None:
    upload = xlsx([row("1号"), row("2号", area="西岭村第一网格")])

    error = rejected(world, upload)

    assert [(p.row, p.column) for p in error.problems] == [(3, "网格")]
    assert "不在您可维护的范围内" in error.problems[0].message
    assert not Place.objects.exists()


def test_an_ambiguous_grid_name_asks_for_the_path(world: World) -> None:
    # Given two grids of the same name in two villages of the officer's township
    other_village = Area.objects.create(name="东河新村", level="village", parent=world.town_a)
    Area.objects.create(name="第一网格", level="grid", parent=world.village_a)
    Area.objects.create(name="第一网格", level="grid", parent=other_village)

    error = rejected(world, xlsx([row("1号", area="第一网格")]))

    assert "有 2 个区域都叫这个名字" in error.problems[0].message
    assert "东河镇/东河新村/第一网格" in error.problems[0].message
    # and the path settles it
    assert (
        place_import.place_import(
            actor=world.officer, upload=xlsx([row("1号", area="东河新村/第一网格")])
        ).created
        == 1
    )


def test_a_wrong_upper_level_shows_the_path_the_system_knows(world: World) -> None:
    error = rejected(world, xlsx([row("1号", area="西岭乡/东河村第一网格")]))
    assert "东河镇/东河村/东河村第一网格" in error.problems[0].message


def test_a_missing_column_is_one_file_error(world: World) -> None:
    upload = xlsx([row("1号")[:5]], header=HEADER[:5])

    error = rejected(world, upload)

    assert len(error.problems) == 1
    assert error.problems[0].row == 1
    assert "联系电话、人数、备注" in error.problems[0].message
    assert error.bad_rows == 0


def test_a_sheet_without_a_header_is_refused(world: World) -> None:
    error = rejected(world, xlsx([row("1号")] * 6, header=["A", "B"]))
    assert "找不到表头" in error.message


def test_a_file_over_5_mb_is_refused_before_reading(world: World) -> None:
    upload = SimpleUploadedFile("big.xlsx", b"0" * (place_files.MAX_IMPORT_BYTES + 1))
    error = rejected(world, upload)
    assert "一次最多导入 5 MB" in error.message


def test_a_file_over_the_row_limit_is_refused(world: World, monkeypatch: Any) -> None:
    monkeypatch.setattr(place_files, "MAX_IMPORT_ROWS", 3)
    error = rejected(world, xlsx([row(f"{n}号") for n in range(4)]))
    assert "一次最多导入 3 行" in error.message
    assert not Place.objects.exists()


def test_a_file_that_is_not_excel_is_refused_with_a_hint(world: World) -> None:
    assert "无法读取" in rejected(world, SimpleUploadedFile("a.xlsx", b"not a zip")).message
    assert ".xls" in rejected(world, SimpleUploadedFile("a.xls", b"\xd0\xcf")).message


def test_a_handler_may_not_import(world: World) -> None:
    with pytest.raises(NotPermitted):
        place_import.place_import(actor=world.handler, upload=xlsx([row("1号")]))
    with pytest.raises(NotPermitted):
        place_import.place_import(actor=world.leader, upload=xlsx([row("1号")]))


def test_the_length_limits_follow_the_model() -> None:
    for name, limit in place_import.MAX_LENGTHS.items():
        assert Place._meta.get_field(name).max_length == limit  # type: ignore[union-attr]


# --------------------------------------------------------------------------- the import page


def _login(client: Client, user: Any) -> Client:
    client.force_login(user)
    return client


def test_the_page_previews_then_imports_on_confirmation(client: Client, world: World) -> None:
    Place.objects.create(area=world.grid_a, kind="household", name="1号", members=2)
    _login(client, world.officer)

    preview = client.post(
        "/places/import/", {"file": xlsx([row("1号", members=4), row("2号"), row("3号")])}
    )

    html = preview.content.decode()
    assert preview.status_code == 200
    assert re.search(r'data-testid="to-create">2<', html)
    assert re.search(r'data-testid="to-update">1<', html)
    assert Place.objects.count() == 1  # nothing written yet
    assert "13912348765" not in html
    batch = re.search(r'name="batch" value="([^"]+)"', html)
    assert batch

    done = client.post("/places/import/", {"confirm": "1", "batch": batch.group(1)}, follow=True)

    assert "新增 2 个，更新 1 个，未变 0 个" in done.content.decode()
    assert Place.objects.count() == 3
    assert Place.objects.get(name="1号").members == 4


def test_the_page_lists_every_bad_row_and_writes_nothing(client: Client, world: World) -> None:
    _login(client, world.officer)

    response = client.post(
        "/places/import/",
        {"file": xlsx([row("1号"), row("2号", kind="?"), row("3号", phone="12345")])},
    )

    html = response.content.decode()
    assert response.status_code == 422
    assert 'data-testid="import-rejected"' in html
    assert "没有写入任何数据" in html
    assert 'data-row="3"' in html
    assert 'data-row="4"' in html
    assert "第 3 行" in html
    assert "第 4 行" in html
    assert not Place.objects.exists()
    assert "13912348765" not in html  # the good row's phone is not echoed


@pytest.mark.parametrize("persona", ["handler", "leader", "outsider"])
def test_who_may_not_edit_gets_403_on_the_import_pages(
    client: Client, world: World, persona: str
) -> None:
    _login(client, getattr(world, persona))
    assert client.get("/places/import/").status_code == 403
    assert client.post("/places/import/", {"file": xlsx([row("1号")])}).status_code == 403
    assert client.get("/places/import/template.xlsx").status_code == 403
    assert not Place.objects.exists()


def test_the_template_has_the_header_the_import_reads(client: Client, world: World) -> None:
    _login(client, world.officer)

    response = client.get("/places/import/template.xlsx")

    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.content), read_only=True)
    first = next(book.worksheets[0].iter_rows(values_only=True))
    assert list(first) == HEADER
    assert book.sheetnames[1] == "填写说明"
    grids = [r[0] for r in book.worksheets[2].iter_rows(min_row=2, values_only=True)]
    assert GRID_A in grids
    assert not any("西岭" in g for g in grids)
    # and a template filled in with one of those paths imports
    assert (
        place_import.place_import(
            actor=world.officer, upload=xlsx([row("1号", area=grids[-1])])
        ).created
        == 1
    )
