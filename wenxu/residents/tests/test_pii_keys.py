"""The data migration that encrypts existing rows, and key rotation with `wenxu pii_rekey`."""

import base64
import importlib
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.test import override_settings

from wenxu.lib import crypto
from wenxu.residents import pii, rekey
from wenxu.residents.models import Requester

PHONE = "13812345678"
ID_NUMBER = "110101199003071234"
encrypt_migration = importlib.import_module("wenxu.residents.migrations.0004_encrypt_requester_pii")


def stored_columns() -> dict[int, tuple[str, str, str]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, phone, id_number, phone_index FROM residents_requester")
        return {pk: (phone, id_number, index) for pk, phone, id_number, index in cursor.fetchall()}


def ring_with_new_key(key_id: str) -> crypto.KeyRing:
    """A fresh key first, then the keys in use now."""
    current = ",".join(
        f"{kid}:{base64.urlsafe_b64encode(key).decode()}" for kid, key in pii.key_ring().keys
    )
    return crypto.parse_key_ring(f"{crypto.new_key_entry(key_id)},{current}", source="test")


def test_the_migration_encrypts_existing_rows_indexes_them_and_reverses(db, monkeypatch) -> None:
    # Given rows written in plain text, as before the migration (its historical model).
    apps = (
        MigrationLoader(connection)
        .project_state(("residents", "0003_requester_pii_indexes_wider_columns"))
        .apps
    )
    Historical = apps.get_model("residents", "Requester")
    plain = [
        Historical.objects.create(name=f"居民{n}", phone=f"1380000000{n}", id_number=ID_NUMBER)
        for n in range(5)
    ]
    blank = Historical.objects.create(name="无电话")
    assert stored_columns()[plain[0].pk][0] == "13800000000"
    monkeypatch.setattr(encrypt_migration, "BATCH", 2)  # several batches

    # When the migration runs (twice: a second run changes nothing).
    encrypt_migration.encrypt_existing(apps, None)
    first = stored_columns()
    encrypt_migration.encrypt_existing(apps, None)

    # Then every value is sealed, indexed and reads back through the model.
    assert stored_columns() == first
    for n, row in enumerate(plain):
        phone, id_number, index = first[row.pk]
        assert crypto.is_sealed(phone)
        assert crypto.is_sealed(id_number)
        assert index == pii.phone_index(f"1380000000{n}")
        assert Requester.objects.get(pk=row.pk).phone == f"1380000000{n}"
    assert first[blank.pk] == ("", "", "")
    assert Requester.objects.with_id_number(ID_NUMBER).count() == 5

    # And the reverse puts the plain values back and clears the indexes.
    encrypt_migration.decrypt_existing(apps, None)
    back = stored_columns()
    assert back[plain[3].pk] == ("13800000003", ID_NUMBER, "")
    assert back[blank.pk] == ("", "", "")


def test_pii_rekey_reencrypts_every_row_with_the_new_key(db) -> None:
    people = [
        Requester.objects.create(name=f"居民{n}", phone=f"1390000000{n}", id_number=ID_NUMBER)
        for n in range(3)
    ]
    Requester.objects.create(name="无电话")
    old_id = pii.key_ring().current_id
    new_ring = ring_with_new_key("k-new")

    with override_settings(WENXU_PII_KEYS=new_ring):
        assert rekey.stale_count() == 3
        out = StringIO()
        call_command("pii_rekey", "--batch", "2", stdout=out)

        assert "需要重新加密：3 条" in out.getvalue()
        assert "完成：重新加密 3 条，剩余 0 条" in out.getvalue()
        for phone, id_number, _index in stored_columns().values():
            assert phone == "" or phone.startswith("v1:k-new:")
            assert id_number == "" or id_number.startswith("v1:k-new:")
        assert rekey.stale_count() == 0

    # The old key can now leave the ring: only the new one is needed.
    only_new = crypto.KeyRing(new_ring.keys[:1], source="test")
    with override_settings(WENXU_PII_KEYS=only_new):
        assert [
            p.phone for p in Requester.objects.filter(pk__in=[p.pk for p in people]).order_by("pk")
        ] == [p.phone for p in people]
        assert list(Requester.objects.with_phone("13900000001")) == [people[1]]
    assert old_id != "k-new"


def test_pii_rekey_cut_short_loses_nothing_and_a_second_run_finishes(db) -> None:
    people = [Requester.objects.create(name=f"居民{n}", phone=f"1370000000{n}") for n in range(5)]

    class Crash(Exception):
        pass

    def crash_after_first_batch(result: rekey.RekeyResult) -> None:
        raise Crash

    with override_settings(WENXU_PII_KEYS=ring_with_new_key("k2")):
        with pytest.raises(Crash):
            rekey.requester_rekey(batch=2, progress=crash_after_first_batch)

        assert rekey.stale_count() == 3  # the first batch is done and kept
        assert [p.phone for p in Requester.objects.order_by("pk")] == [p.phone for p in people]

        result = rekey.requester_rekey(batch=2)

        assert (result.pending, result.done) == (3, 3)
        assert rekey.stale_count() == 0
        assert [p.phone for p in Requester.objects.order_by("pk")] == [p.phone for p in people]


def test_pii_rekey_reindex_follows_a_new_index_key(db) -> None:
    person = Requester.objects.create(name="张三", phone=PHONE)

    with override_settings(WENXU_PII_INDEX_KEY="another-index-key-" * 3):
        assert not Requester.objects.with_phone(PHONE).exists()
        out = StringIO()
        call_command("pii_rekey", "--reindex", stdout=out)

        assert "更新 1 条" in out.getvalue()
        assert list(Requester.objects.with_phone(PHONE)) == [person]


def test_pii_rekey_makes_a_new_key_entry_without_touching_data() -> None:
    out = StringIO()

    call_command("pii_rekey", "--new-key", "k2", stdout=out)

    assert crypto.parse_key_ring(out.getvalue(), source="test").current_id == "k2"
