"""Between preview and confirmation the rows stay on the server, for their uploader, for an hour;
the problem report masks contact names and phones."""

import re
from datetime import timedelta
from typing import Any

import time_machine
from django.conf import settings
from django.test import Client
from django.utils import timezone

from conftest import World
from wenxu.lib import masking
from wenxu.visits import place_import
from wenxu.visits.models import Place, PlaceImportBatch
from wenxu.visits.place_files import Problem
from wenxu.visits.tests.test_places_import import row, xlsx

PHONE = "13912348765"  # the phone `row` fills in


def _preview(client: Client, user: Any, rows: list[list[Any]]) -> tuple[Any, str]:
    client.force_login(user)
    response = client.post("/places/import/", {"file": xlsx(rows)})
    html = response.content.decode()
    batch = re.search(r'name="batch" value="([^"]*)"', html)
    return response, batch.group(1) if batch else ""


def _confirm(client: Client, batch: str) -> Any:
    return client.post("/places/import/", {"confirm": "1", "batch": batch})


def test_the_preview_keeps_the_rows_on_the_server_not_in_the_page(
    client: Client, world: World
) -> None:
    response, batch = _preview(client, world.officer, [row("1号"), row("2号")])

    html = response.content.decode()
    assert response.status_code == 200
    hidden = re.findall(r'<input type="hidden" name="(\w+)"', html)
    assert sorted(set(hidden)) == ["batch", "confirm", "csrfmiddlewaretoken"]
    assert len(batch) >= 40  # a random token, not the rows
    stored = PlaceImportBatch.objects.get(pk=batch)
    assert stored.user == world.officer
    assert [entry[0] for entry in stored.rows] == [2, 3]
    assert PHONE in str(stored.rows)
    assert PHONE not in html
    assert stored.expires_at - stored.created_at == timedelta(hours=1)


def test_the_confirmation_imports_and_deletes_the_batch(client: Client, world: World) -> None:
    _response, batch = _preview(client, world.officer, [row("1号")])

    done = _confirm(client, batch)
    again = _confirm(client, batch)

    assert done.status_code == 302
    assert Place.objects.filter(name="1号").count() == 1
    assert not PlaceImportBatch.objects.exists()
    assert again.status_code == 422
    assert "确认信息无效或已经用过" in again.content.decode()
    assert Place.objects.count() == 1


def test_a_batch_of_another_user_is_refused_and_left_alone(client: Client, world: World) -> None:
    _response, batch = _preview(client, world.dispatcher, [row("1号")])
    client.force_login(world.officer)

    response = _confirm(client, batch)

    assert response.status_code == 422
    assert "确认信息无效" in response.content.decode()
    assert not Place.objects.exists()
    assert PlaceImportBatch.objects.filter(pk=batch, user=world.dispatcher).exists()


def test_a_batch_older_than_an_hour_is_refused_and_deleted(
    client: Client, world: World, settings: Any
) -> None:
    settings.WENXU_SESSION_IDLE_MINUTES = 120  # the session outlives the hour travelled
    _response, batch = _preview(client, world.officer, [row("1号")])

    with time_machine.travel(timezone.now() + timedelta(minutes=61), tick=False):
        response = _confirm(client, batch)

    assert response.status_code == 422
    assert "预览已过期，请重新上传" in response.content.decode()
    assert not Place.objects.exists()
    assert not PlaceImportBatch.objects.exists()


def test_stale_batches_of_anyone_go_with_the_next_import(client: Client, world: World) -> None:
    _response, old = _preview(client, world.dispatcher, [row("1号")])
    _response, recent = _preview(client, world.dispatcher, [row("2号")])
    PlaceImportBatch.objects.filter(pk=old).update(expires_at=timezone.now() - timedelta(seconds=1))

    _response, mine = _preview(client, world.officer, [row("3号")])

    assert set(PlaceImportBatch.objects.values_list("pk", flat=True)) == {recent, mine}


def test_the_confirmation_checks_the_rows_again(client: Client, world: World) -> None:
    # Given a preview made while the officer kept 东河镇, then the membership is gone
    _response, batch = _preview(client, world.officer, [row("1号")])
    world.officer.memberships.update(area=world.town_b)

    response = _confirm(client, batch)

    assert response.status_code == 422
    assert not Place.objects.exists()
    assert not PlaceImportBatch.objects.exists()


# --------------------------------------------------------------------------- masked report


def test_the_problem_table_masks_contact_names_and_phones(client: Client, world: World) -> None:
    bad_phone = "1391234876"  # ten digits
    long_name = "张大山" + "很" * 100
    client.force_login(world.officer)

    response = client.post(
        "/places/import/",
        {"file": xlsx([row("1号", phone=bad_phone), row("2号", contact=long_name)])},
    )

    html = response.content.decode()
    assert response.status_code == 422
    phone_row = re.search(r'<tr data-row="2">(.*?)</tr>', html, re.S)
    name_row = re.search(r'<tr data-row="3">(.*?)</tr>', html, re.S)
    assert phone_row
    assert name_row
    assert "第 2 行" in phone_row.group(1)
    assert "联系电话" in phone_row.group(1)
    assert masking.mask_phone(bad_phone) in phone_row.group(1)
    assert bad_phone not in html
    assert "第 3 行" in name_row.group(1)
    assert "张**" in name_row.group(1)
    assert "张大山" not in html


def test_problems_show_other_cells_as_typed() -> None:
    assert Problem(2, "类型", "住宅", "…", "kind").shown_value == "住宅"
    assert Problem(2, "联系电话", "13812345678", "…", "contact_phone").shown_value == (
        "138****5678"
    )
    assert Problem(2, "户主/负责人", "张三", "…", "contact_name").shown_value == "张*"


# --------------------------------------------------------------------------- the page's words


def test_the_empty_cell_label_is_translated(client: Client, world: World, monkeypatch: Any) -> None:
    from django.utils.translation import trans_real

    catalog = trans_real.translation("en")._catalog._catalogs[0]  # type: ignore[attr-defined]
    monkeypatch.setitem(catalog, "（空）", "(blank)")
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    client.force_login(world.officer)

    html = client.post("/places/import/", {"file": xlsx([row("1号", kind="")])}).content.decode()

    assert "(blank)" in html
    assert "（空）" not in html


def test_the_column_list_is_joined_the_languages_way(client: Client, world: World) -> None:
    client.force_login(world.officer)
    chinese = client.get("/places/import/").content.decode()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    english = client.get("/places/import/").content.decode()

    assert "网格、类型、名称/门牌" in chinese
    assert "网格, 类型, 名称/门牌" in english
    assert place_import.CLEAR in chinese
