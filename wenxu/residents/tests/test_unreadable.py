"""A requester's phone or ID number that does not decrypt (its key dropped from the ring too
early, a value altered in the database) reads as （无法解密）: one such row must not take the
ledger, the API or a need's page down for everyone, nor be lost when its row is written."""

import base64
import logging
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import override_settings

from wenxu.lib import crypto, masking
from wenxu.needs import services
from wenxu.residents import fields, pii, rekey
from wenxu.residents.models import Requester

PHONE = "13900002222"
ID_NUMBER = "110101199003071234"
UNREADABLE = "（无法解密）"
LOST_KEY = crypto.parse_key_ring(crypto.new_key_entry("k0"), source="test")


def sealed_with_a_lost_key(field: str, plain: str) -> str:
    return crypto.encrypt(plain, context=pii.ENCRYPTED_COLUMNS[field], ring=LOST_KEY)


def store(pk: int, **columns: str) -> None:
    """Write stored values around the model, as a restore or a hand edit would."""
    with connection.cursor() as cursor:
        for column, value in columns.items():
            cursor.execute(
                f"UPDATE residents_requester SET {column} = %s WHERE id = %s",  # noqa: S608
                [value, pk],
            )


def stored(pk: int) -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT phone, id_number, phone_index, id_number_index FROM residents_requester "
            "WHERE id = %s",
            [pk],
        )
        row = cursor.fetchone()
    return dict(zip(("phone", "id_number", "phone_index", "id_number_index"), row, strict=True))


@pytest.fixture(autouse=True)
def _log_every_problem(monkeypatch):
    monkeypatch.setattr(fields, "_logged", set())  # each test sees its own log line


def test_one_unreadable_requester_does_not_break_the_ledger_the_api_or_the_need_page(
    world, client, caplog
):
    good = world.register(requester=services.RequesterInput(name="李四", phone="13900001111"))
    bad = world.register(requester=services.RequesterInput(name="王五", phone=PHONE))
    store(bad.requester_id, phone=sealed_with_a_lost_key("phone", PHONE))
    client.force_login(world.dispatcher)

    with caplog.at_level(logging.ERROR, logger="wenxu.residents.fields"):
        ledger = client.get("/ledger/")
        api = client.get("/api/v1/needs")
        page = client.get(f"/needs/{bad.number}/")

    assert (ledger.status_code, api.status_code, page.status_code) == (200, 200, 200)
    assert good.number in ledger.content.decode()
    assert bad.number in ledger.content.decode()
    phones = {item["number"]: item["requester"]["phone"] for item in api.json()["items"]}
    assert phones == {good.number: "139****1111", bad.number: UNREADABLE}
    assert UNREADABLE in page.content.decode()
    # The log names the column and the missing key, never a value.
    [record] = [r for r in caplog.records if r.name == "wenxu.residents.fields"]  # one line
    assert "residents.requester.phone" in record.getMessage()
    assert "'k0'" in record.getMessage()
    assert PHONE not in record.getMessage()


def test_an_unreadable_value_is_shown_as_such_and_written_back_unchanged(db):
    person = Requester.objects.create(name="王五", phone=PHONE, id_number=ID_NUMBER)
    tampered = stored(person.pk)["id_number"][:-4] + "AAAA"
    store(person.pk, phone=sealed_with_a_lost_key("phone", PHONE), id_number=tampered)
    before = stored(person.pk)

    again = Requester.objects.get(pk=person.pk)
    again.name = "王五五"
    again.save()

    assert isinstance(again.phone, masking.Unreadable)
    assert again.phone == UNREADABLE
    assert again.masked_phone() == UNREADABLE
    assert masking.mask_id_number(again.id_number) == UNREADABLE
    after = stored(person.pk)
    assert (after["phone"], after["id_number"]) == (before["phone"], before["id_number"])
    assert after["phone_index"] == before["phone_index"] != ""  # still found by exact search
    assert after["id_number_index"] == before["id_number_index"] != ""
    assert Requester.objects.get(pk=person.pk).name == "王五五"


def ring_with_new_key() -> crypto.KeyRing:
    current = ",".join(
        f"{kid}:{base64.urlsafe_b64encode(key).decode()}" for kid, key in pii.key_ring().keys
    )
    return crypto.parse_key_ring(f"{crypto.new_key_entry('k-new')},{current}", source="test")


def test_pii_rekey_counts_unreadable_rows_leaves_them_as_stored_and_does_the_rest(db):
    first = Requester.objects.create(name="甲", phone="13900000001")
    broken = Requester.objects.create(name="乙", phone=PHONE, id_number=ID_NUMBER)
    last = Requester.objects.create(name="丙", phone="13900000003")
    store(broken.pk, phone=sealed_with_a_lost_key("phone", PHONE))
    before = stored(broken.pk)

    with override_settings(WENXU_PII_KEYS=ring_with_new_key()):
        out = StringIO()
        with pytest.raises(CommandError, match=rf"有 1 条记录无法解密（诉求人编号 {broken.pk}）"):
            call_command("pii_rekey", "--batch", "2", stdout=out)

        # The readable rows, and the broken row's readable ID number, carry the new key.
        assert "完成：重新加密 2 条" in out.getvalue()
        for person in (first, last):
            assert stored(person.pk)["phone"].startswith("v1:k-new:")
            assert Requester.objects.get(pk=person.pk).phone == person.phone
        after = stored(broken.pk)
        assert (after["phone"], after["phone_index"]) == (before["phone"], before["phone_index"])
        assert after["id_number"].startswith("v1:k-new:")
        assert Requester.objects.get(pk=broken.pk).id_number == ID_NUMBER
        assert list(Requester.objects.with_phone(PHONE)) == [broken]  # its index still finds it


def test_reindex_keeps_the_index_of_a_value_it_cannot_read(db):
    broken = Requester.objects.create(name="乙", phone=PHONE, id_number=ID_NUMBER)
    store(broken.pk, phone=sealed_with_a_lost_key("phone", PHONE))
    before = stored(broken.pk)

    with override_settings(WENXU_PII_INDEX_KEY="another-index-key-" * 3):
        changed = rekey.requester_reindex()

        after = stored(broken.pk)
        assert changed == 1
        assert after["phone_index"] == before["phone_index"]  # cannot be recomputed: kept
        assert after["id_number_index"] == pii.id_number_index(ID_NUMBER)  # the new key's
        assert after["phone"] == before["phone"]
