"""台账导入 pages, the template workbook, the error report download and `wenxu import_ledger`."""

import io
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from openpyxl import load_workbook  # type: ignore[import-untyped]

from conftest import World
from wenxu.accounts.models import User
from wenxu.needs.models import Category, LedgerImportBatch, Need
from wenxu.needs.tests.ledger_import_helpers import ledger_row, xlsx, xlsx_bytes


def _login(client: Client, user: User) -> Client:
    assert client.login(username=user.username, password="pw-" + user.username)
    return client


def _upload(client: Client, upload: Any) -> Any:
    return client.post("/ledger/import/", {"file": upload})


# --------------------------------------------------------------------------- pages


def test_upload_mapping_dry_run_and_confirm_through_the_pages(client: Client, world: World) -> None:
    _login(client, world.officer)
    # when the officer uploads a ledger
    response = _upload(client, xlsx([ledger_row(1), ledger_row(2, phone="13900001111")]))
    assert response.status_code == 302
    batch = LedgerImportBatch.objects.get()
    assert response["Location"] == f"/ledger/import/{batch.pk}/"
    # then the mapping page shows each column with its field chosen and masked samples
    page = client.get(response["Location"]).content.decode()
    assert '<option value="description" selected>' in page
    assert "张*" in page
    assert "138****5678" in page
    assert "13812345678" not in page
    assert "张三" not in page
    # when the mapping is submitted as shown: a clean dry run, nothing written yet
    form = {f"col-{i}": key for i, key in enumerate(batch.mapping)}
    response = client.post(response["Location"], {**form, "default_source": "walk_in"})
    assert response.status_code == 200
    assert 'data-testid="import-preview"' in response.content.decode()
    assert Need.objects.count() == 0
    # when the import is confirmed
    response = client.post(f"/ledger/import/{batch.pk}/commit/", follow=True)
    assert 'data-testid="import-done"' in response.content.decode()
    assert Need.objects.count() == 2


def test_a_bad_row_is_listed_on_the_page_masked_and_in_the_download(
    client: Client, world: World
) -> None:
    _login(client, world.officer)
    _upload(client, xlsx([ledger_row(1), ledger_row(2, phone="1390000", content="")]))
    batch = LedgerImportBatch.objects.get()
    form = {f"col-{i}": key for i, key in enumerate(batch.mapping)}
    response = client.post(f"/ledger/import/{batch.pk}/", {**form, "default_source": "visit"})
    page = response.content.decode()
    assert response.status_code == 422
    assert 'data-row="3"' in page
    assert "诉求内容不能为空" in page
    assert "1390000" not in page
    assert 'data-testid="confirm-import"' not in page
    # the commit is refused too
    response = client.post(f"/ledger/import/{batch.pk}/commit/")
    assert response.status_code == 422
    assert Need.objects.count() == 0
    # the report downloads as .xlsx with the same rows and reasons, values masked
    response = client.get(f"/ledger/import/{batch.pk}/report.xlsx")
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(min_row=3, values_only=True))
    assert {(row[0], row[1]) for row in rows} == {(3, "手机"), (3, "问题描述")}
    assert all("1390000" not in str(cell) for row in rows for cell in row)


def test_a_refused_file_says_why_and_keeps_nothing(client: Client, world: World) -> None:
    _login(client, world.officer)
    response = _upload(client, xlsx([["甲"]] * 6, header=["a"]))
    assert response.status_code == 422
    assert "找不到表头" in response.content.decode()
    assert not LedgerImportBatch.objects.exists()


def test_who_may_not_register_gets_403_and_others_batches_404(client: Client, world: World) -> None:
    _login(client, world.officer)
    _upload(client, xlsx([ledger_row(1)]))
    batch = LedgerImportBatch.objects.get()
    for user in (world.handler, world.leader, world.outsider):
        client.logout()
        _login(client, user)
        assert client.get("/ledger/import/").status_code == 403
        assert client.get("/ledger/import/template.xlsx").status_code == 403
    client.logout()
    _login(client, world.officer_b)
    assert client.get(f"/ledger/import/{batch.pk}/").status_code == 404
    assert client.post(f"/ledger/import/{batch.pk}/commit/").status_code == 404
    assert client.get(f"/ledger/import/{batch.pk}/report.xlsx").status_code == 404


def test_the_template_opens_with_openpyxl_and_has_the_drop_downs(
    client: Client, world: World
) -> None:
    Category.objects.create(name="停用分类", active=False)
    _login(client, world.officer)
    response = client.get("/ledger/import/template.xlsx")
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.content))
    sheet = book.worksheets[0]
    header = [cell.value for cell in sheet[1]]
    assert header[:4] == ["原编号", "登记日期", "来源渠道", "所属区域*"]
    assert "诉求内容*" in header
    assert "责任单位" in header
    assert sheet.cell(row=2, column=header.index("所属区域*") + 1).value.endswith("东河村第一网格")
    lists = book["选项"]
    assert lists.sheet_state == "hidden"
    columns = {lists.cell(row=1, column=c).value: c for c in range(1, 5)}
    values = {
        title: [lists.cell(row=r, column=c).value for r in range(2, lists.max_row + 1)]
        for title, c in columns.items()
    }
    assert "热线" in values["来源渠道"]
    assert "紧急" in values["紧急程度"]
    assert "城乡建设/道路与照明" in values["诉求类别"]
    assert "停用分类" not in values["诉求类别"]
    areas = [v for v in values["所属区域"] if v]
    assert "青山县/东河镇/东河村" in areas
    assert not any("西岭" in v for v in areas)
    validations = {
        str(v.sqref).split(":")[0]: v.formula1 for v in sheet.data_validations.dataValidation
    }
    letter = {h.rstrip("*"): chr(ord("A") + i) for i, h in enumerate(header)}
    assert validations[f"{letter['来源渠道']}2"] == "'选项'!$A$2:$A$8"
    assert validations[f"{letter['紧急程度']}2"].startswith("'选项'!$B$2")
    assert validations[f"{letter['诉求类别']}2"].startswith("'选项'!$C$2")
    assert validations[f"{letter['所属区域']}2"].startswith("'选项'!$D$2")


def test_the_filled_template_imports(client: Client, world: World) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from wenxu.needs.ledger_import import service

    _login(client, world.officer)
    content = client.get("/ledger/import/template.xlsx").content
    batch = service.ledger_import_upload(
        actor=world.officer, upload=SimpleUploadedFile("模板.xlsx", content)
    )
    dry = service.ledger_import_check(
        actor=world.officer, batch_id=batch.pk, mapping=batch.mapping, default_source="visit"
    )
    assert dry.mapping_problems == []
    assert dry.result is not None
    assert dry.result.ok
    service.ledger_import_commit(actor=world.officer, batch_id=batch.pk)
    assert Need.objects.get().area == world.grid_a


# --------------------------------------------------------------------------- command


def _write(tmp_path: Path, rows: list[list[Any]], name: str = "台账.xlsx") -> str:
    path = tmp_path / name
    path.write_bytes(xlsx_bytes(rows))
    return str(path)


def test_the_command_lists_each_bad_row_and_exits_non_zero(
    world: World, tmp_path: Path, capsys: Any
) -> None:
    path = _write(tmp_path, [ledger_row(1), ledger_row(2, content=""), ledger_row(3, phone="12")])
    out = io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("import_ledger", path, "--user", "officer", stdout=out)
    assert caught.value.returncode == 1
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("row 3: 问题描述：诉求内容不能为空")
    assert lines[1].startswith("row 4: 手机：联系电话格式不对")
    assert Need.objects.count() == 0
    assert not LedgerImportBatch.objects.exists()


def test_the_command_dry_run_writes_nothing_and_the_real_run_commits(
    world: World, tmp_path: Path
) -> None:
    path = _write(tmp_path, [ledger_row(1), ledger_row(2)])
    out = io.StringIO()
    call_command("import_ledger", path, "--dry-run", "--user", "officer", stdout=out)
    assert "检查无误：2 行" in out.getvalue()
    assert Need.objects.count() == 0
    assert not LedgerImportBatch.objects.exists()
    out = io.StringIO()
    call_command("import_ledger", path, "--user", "officer", stdout=out)
    assert "已导入 2 条诉求" in out.getvalue()
    assert Need.objects.count() == 2
    # the same file again is refused, with a non-zero exit
    out = io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("import_ledger", path, "--user", "officer", stdout=out)
    assert caught.value.returncode == 1
    assert out.getvalue().startswith("file: 这个文件已于")


def test_the_command_exits_non_zero_through_the_command_line(world: World, tmp_path: Path) -> None:
    from django.core.management import ManagementUtility

    path = _write(tmp_path, [ledger_row(1, content="")])
    with pytest.raises(SystemExit) as caught:
        ManagementUtility(["wenxu", "import_ledger", path, "--user", "officer"]).execute()
    assert caught.value.code == 1


def test_the_command_refuses_an_unknown_user(world: World, tmp_path: Path) -> None:
    path = _write(tmp_path, [ledger_row(1)])
    with pytest.raises(CommandError, match="没有这个用户"):
        call_command("import_ledger", path, "--user", "nobody")
    with pytest.raises(CommandError, match="只有走访干部"):
        call_command("import_ledger", path, "--user", "handler")


def test_the_command_checks_and_writes_in_one_pass_and_a_late_bad_row_leaves_nothing(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wenxu.needs.ledger_import import rows as ledger_rows
    from wenxu.needs.services import bulk

    # Given chunks of two rows, so the first rows are written before the bad last one is read
    monkeypatch.setattr(bulk, "CHUNK_SIZE", 2)
    monkeypatch.setattr(ledger_rows, "CHUNK", 2)
    path = _write(tmp_path, [*(ledger_row(i) for i in range(1, 6)), ledger_row(6, content="")])
    out = io.StringIO()
    # when it is imported
    with pytest.raises(CommandError) as caught:
        call_command("import_ledger", path, "--user", "officer", stdout=out)
    # then the report is the dry run's, and nothing stays written
    assert caught.value.returncode == 1
    assert "有 1 行有误（共 6 行）" in str(caught.value)
    assert out.getvalue().splitlines() == [
        "row 7: 问题描述：诉求内容不能为空：请填写群众反映的问题。"
    ]
    assert Need.objects.count() == 0
    assert not LedgerImportBatch.objects.exists()


def test_the_command_names_rows_imported_before_in_any_chunk(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wenxu.needs.ledger_import import rows as ledger_rows
    from wenxu.needs.services import bulk

    monkeypatch.setattr(bulk, "CHUNK_SIZE", 2)
    monkeypatch.setattr(ledger_rows, "CHUNK", 2)
    call_command("import_ledger", _write(tmp_path, [ledger_row(3)], "a.xlsx"), "--user", "officer")
    # Given a file whose fifth row was imported before (the others are new)
    rows = [ledger_row(i, number=f"NEW-{i}") for i in (1, 2, 4, 5)]
    rows.insert(3, ledger_row(3))
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command(
            "import_ledger", _write(tmp_path, rows, "b.xlsx"), "--user", "officer", stdout=out
        )
    # then only that row is named, and only the first import's need exists
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("row 5: 编号：重复：原编号 DH-00003 在该区域已于")
    assert Need.objects.count() == 1
