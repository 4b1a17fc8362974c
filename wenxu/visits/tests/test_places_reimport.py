"""Importing a list again: blank cells keep what is stored, 清空 clears, the preview says what
changes, and the confirmation neither overwrites a hand edit nor reads places without locks."""

import io
import re
import threading
import time
from typing import Any

import pytest
from django.db import connection, connections, transaction
from django.db.models.query import QuerySet
from django.test import Client
from openpyxl import load_workbook  # type: ignore[import-untyped]

from conftest import World
from wenxu.visits import place_files, place_import, places
from wenxu.visits.models import Place, PlaceImportBatch
from wenxu.visits.place_files import PlaceImportRejected
from wenxu.visits.tests.test_places_import import xlsx

PHONE = "13912348765"
HEAD = "张大山"


def full_place(world: World, name: str = "1号") -> Place:
    return Place.objects.create(
        area=world.grid_a,
        kind="household",
        name=name,
        address="东河村东街12号",
        contact_name=HEAD,
        contact_phone=PHONE,
        members=3,
        note="独居老人",
    )


def cells(name: str, **values: Any) -> list[Any]:
    """A row of the template with every optional cell blank unless given."""
    row = {
        "area": "东河村第一网格",
        "kind": "住户",
        "name": name,
        "address": None,
        "contact": None,
        "phone": None,
        "members": None,
        "note": None,
    }
    row.update(values)
    return list(row.values())


def stored(place: Place) -> tuple[Any, ...]:
    place.refresh_from_db()
    return (
        place.kind,
        place.address,
        place.contact_name,
        place.contact_phone,
        place.members,
        place.note,
    )


# --------------------------------------------------------------------------- blank and 清空


def test_blank_cells_keep_the_stored_values(world: World) -> None:
    place = full_place(world)

    result = place_import.place_import(actor=world.officer, upload=xlsx([cells("1号")]))

    assert (result.created, result.updated, result.unchanged) == (0, 0, 1)
    assert stored(place) == ("household", "东河村东街12号", HEAD, PHONE, 3, "独居老人")


def test_a_filled_cell_replaces_only_its_own_field(world: World) -> None:
    place = full_place(world)

    result = place_import.place_import(
        actor=world.officer, upload=xlsx([cells("1号", members=5, kind="企业")])
    )

    assert result.updated == 1
    assert stored(place) == ("enterprise", "东河村东街12号", HEAD, PHONE, 5, "独居老人")


def test_the_clear_marker_empties_a_stored_value(world: World) -> None:
    place = full_place(world)
    upload = xlsx([cells("1号", contact="清空", phone="清空", members=" 清空 ", note="清空")])

    result = place_import.place_import(actor=world.officer, upload=upload)

    assert result.updated == 1
    assert stored(place) == ("household", "东河村东街12号", "", "", None, "")


def test_a_new_place_may_carry_the_clear_marker_and_is_created_empty(world: World) -> None:
    upload = xlsx([cells("2号", address="清空", phone="清空", members="清空")])

    assert place_import.place_import(actor=world.officer, upload=upload).created == 1

    place = Place.objects.get(name="2号")
    assert (place.address, place.contact_phone, place.members) == ("", "", None)


def test_the_name_cannot_be_cleared(world: World) -> None:
    with pytest.raises(PlaceImportRejected) as caught:
        place_import.place_import(actor=world.officer, upload=xlsx([cells("清空")]))

    assert [(p.row, p.column) for p in caught.value.problems] == [(2, "名称/门牌")]
    assert not Place.objects.exists()


# --------------------------------------------------------------------------- the preview


def test_the_preview_lists_the_fields_each_place_changes_with_contacts_masked(
    client: Client, world: World
) -> None:
    full_place(world, "1号")
    full_place(world, "2号")
    client.force_login(world.officer)
    upload = xlsx(
        [
            cells("1号", phone="13800005678", members=5),  # row 2
            cells("2号"),  # row 3: unchanged
            cells("3号", contact="李四"),  # row 4: new
            cells("2号x", members=1),  # row 5: new
        ]
    )

    html = client.post("/places/import/", {"file": upload}).content.decode()

    listed = re.search(r'data-testid="changes".*?</table>', html, re.S)
    assert listed
    table = listed.group(0)
    assert re.findall(r'<tr data-row="(\d+)"', table) == ["2"]
    assert re.findall(r'data-field="(\w+)"', table) == ["contact_phone", "members"]
    assert "139****8765 → <strong>138****5678</strong>" in table
    assert "3 → <strong>5</strong>" in table
    assert PHONE not in html
    assert "13800005678" not in html
    assert HEAD not in html


def test_the_preview_shows_a_cleared_field(client: Client, world: World) -> None:
    full_place(world)
    client.force_login(world.officer)

    html = client.post(
        "/places/import/", {"file": xlsx([cells("1号", contact="清空")])}
    ).content.decode()

    change = re.search(r'<li data-field="contact_name">(.*?)</li>', html, re.S)
    assert change
    assert "张** →" in change.group(1)
    assert "清空" in change.group(1)
    assert HEAD not in html


def test_the_page_and_the_template_explain_the_clear_marker(client: Client, world: World) -> None:
    client.force_login(world.officer)

    page = client.get("/places/import/").content.decode()
    template = client.get("/places/import/template.xlsx").content

    assert re.search(r'data-testid="clear-rule">[^<]*留空的格子不改变[^<]*“清空”', page)
    guide = load_workbook(io.BytesIO(template), read_only=True)["填写说明"]
    text = "\n".join(str(c) for r in guide.iter_rows(values_only=True) for c in r if c)
    assert "填“清空”" in text
    assert "留空：不改变系统中已登记的内容" in text


# --------------------------------------------------------------------------- concurrency


def test_the_confirmation_locks_the_places_it_reads_inside_its_transaction(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    full_place(world, "1号")
    locked: list[tuple[Any, bool]] = []
    original = QuerySet.select_for_update

    def spy(self: QuerySet[Any], *args: Any, **kwargs: Any) -> QuerySet[Any]:
        locked.append((self.model, connection.in_atomic_block))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(QuerySet, "select_for_update", spy)
    rows = place_files.place_import_read(upload=xlsx([cells("1号", members=7), cells("2号")]))

    place_import.place_import_apply(actor=world.officer, rows=rows)

    assert (Place, True) in locked
    assert Place.objects.get(name="1号").members == 7


def test_a_hand_edit_after_the_preview_is_not_overwritten(world: World) -> None:
    place = full_place(world)
    preview = place_import.place_import_preview(
        actor=world.officer, upload=xlsx([cells("1号", phone="13800005678"), cells("9号")])
    )
    # Someone changes the place by hand before the confirmation
    places.place_update(
        actor=world.dispatcher,
        place=place,
        values=places.PlaceValues(
            area=world.grid_a, kind="household", name="1号", contact_phone="13700001111"
        ),
    )

    with pytest.raises(PlaceImportRejected) as caught:
        place_import.place_import_confirm(actor=world.officer, batch_id=preview.batch_id)

    assert [(p.row, p.column) for p in caught.value.problems] == [(2, "名称/门牌")]
    assert "预览之后，有人修改" in caught.value.problems[0].message
    place.refresh_from_db()
    assert place.contact_phone == "13700001111"
    assert not Place.objects.filter(name="9号").exists()  # all or nothing
    assert not PlaceImportBatch.objects.exists()  # the user uploads again


def test_a_place_registered_after_the_preview_is_not_overwritten(world: World) -> None:
    preview = place_import.place_import_preview(
        actor=world.officer, upload=xlsx([cells("5号", members=2)])
    )
    Place.objects.create(area=world.grid_a, kind="household", name="5号", members=6)

    with pytest.raises(PlaceImportRejected):
        place_import.place_import_confirm(actor=world.officer, batch_id=preview.batch_id)

    assert Place.objects.get(name="5号").members == 6


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="concurrent transactions need PostgreSQL"
)
def test_an_import_waits_for_a_hand_edit_in_progress_and_keeps_it(world: World) -> None:
    place = full_place(world, "1号")
    full_place(world, "2号")
    rows = place_files.place_import_read(
        upload=xlsx([cells("1号", members=9), cells("2号", phone="13800005678")])
    )
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def hand_edit() -> None:
        try:
            with transaction.atomic():
                current = Place.objects.select_for_update().get(pk=place.pk)
                barrier.wait()
                time.sleep(0.5)  # the import starts meanwhile and must wait for this lock
                current.contact_phone = "13700001111"
                current.save()
        except BaseException as error:
            errors.append(error)
        finally:
            connections.close_all()

    def run_import() -> None:
        try:
            barrier.wait()
            time.sleep(0.1)
            place_import.place_import_apply(actor=world.officer, rows=rows)
        except BaseException as error:
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=hand_edit), threading.Thread(target=run_import)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    place.refresh_from_db()
    assert (place.contact_phone, place.members) == ("13700001111", 9)
