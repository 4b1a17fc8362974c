"""Requesters' phones and ID numbers encrypted at rest, found again by blind index (issue #9)."""

import re

import pytest
from django.conf import settings
from django.core.exceptions import FieldError, ValidationError
from django.db import connection
from django.test import override_settings

from wenxu.lib import crypto
from wenxu.lib.masking import Unreadable
from wenxu.needs.models import Need
from wenxu.needs.services import RequesterInput
from wenxu.residents import fields, pii
from wenxu.residents.models import Requester

PHONE = "13812345678"
ID_NUMBER = "11010119900307123X"


def stored(pk: int) -> tuple[str, str, str, str]:
    """The row as the database holds it, read around the model."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT phone, id_number, phone_index, id_number_index FROM residents_requester "
            "WHERE id = %s",
            [pk],
        )
        row = cursor.fetchone()
    assert row is not None
    return row[0], row[1], row[2], row[3]


def test_phone_and_id_number_read_back_as_written(db) -> None:
    person = Requester.objects.create(name="张三", phone=PHONE, id_number=ID_NUMBER)

    again = Requester.objects.get(pk=person.pk)

    assert (again.phone, again.id_number) == (PHONE, ID_NUMBER)
    assert again.masked_phone() == "138****5678"
    assert Requester.objects.values_list("phone", flat=True).get(pk=person.pk) == PHONE


def test_the_database_never_holds_the_plain_values(world) -> None:
    need = world.register(
        requester=RequesterInput(name="张三", phone=f" {PHONE} ", id_number=ID_NUMBER)
    )

    phone, id_number, phone_index, id_number_index = stored(need.requester_id)

    assert phone.startswith(f"v1:{pii.key_ring().current_id}:")
    assert id_number.startswith("v1:")
    for column in (phone, id_number, phone_index, id_number_index):
        assert PHONE not in column
        assert "19900307" not in column
    assert len(phone_index) == len(id_number_index) == 64


def test_an_empty_phone_is_stored_empty_and_compares_with_the_empty_string(world) -> None:
    with_phone = world.register(requester=RequesterInput(name="张三", phone=PHONE))
    without = world.register(requester=RequesterInput(name="李四"))

    assert stored(without.requester_id)[0] == ""
    assert list(Need.objects.exclude(requester__phone="").filter(requester__isnull=False)) == [
        with_phone
    ]
    assert list(Requester.objects.filter(phone__gt="")) == [with_phone.requester]
    assert list(Requester.objects.filter(phone="")) == [without.requester]


@pytest.mark.parametrize(
    "lookup",
    [{"phone": PHONE}, {"phone__contains": "5678"}, {"id_number__iexact": ID_NUMBER}],
)
def test_matching_the_plain_value_in_sql_is_refused_pointing_to_the_index(db, lookup) -> None:
    with pytest.raises(FieldError, match="with_phone"):
        list(Requester.objects.filter(**lookup))


def test_the_length_limit_applies_to_what_is_entered(db) -> None:
    person = Requester(name="张三", phone="1" * 31)

    with pytest.raises(ValidationError) as refused:
        person.full_clean()

    assert "phone" in refused.value.message_dict


@pytest.mark.parametrize(
    "spelling",
    [
        "13812345678",
        "138-1234-5678",
        "138 1234 5678",
        "+86 138 1234 5678",
        "008613812345678",
        "８６１３８１２３４５６７８",
        "（+86）138-1234-5678",
    ],
)
def test_exact_search_finds_the_requester_however_the_phone_is_written(db, spelling) -> None:
    person = Requester.objects.create(name="张三", phone="+86 138-1234-5678")
    Requester.objects.create(name="李四", phone="13812345679")

    assert list(Requester.objects.with_phone(spelling)) == [person]


def test_exact_search_by_id_number_ignores_case_spaces_and_width(db) -> None:
    person = Requester.objects.create(name="张三", id_number=ID_NUMBER)
    Requester.objects.create(name="李四", id_number="110101199003071235")

    for spelling in (
        ID_NUMBER,
        "11010119900307123x",
        "110101 19900307 123x",
        "１１０１０１１９９００３０７１２３Ｘ",
    ):
        assert list(Requester.objects.with_id_number(spelling)) == [person]
    assert not Requester.objects.with_id_number("").exists()
    assert not Requester.objects.with_phone("无").exists()


def test_changing_or_blanking_a_value_moves_or_clears_its_index(db) -> None:
    person = Requester.objects.create(name="张三", phone=PHONE, id_number=ID_NUMBER)

    person.phone = "13900001111"
    person.save(update_fields=["phone"])
    assert list(Requester.objects.with_phone("13900001111")) == [person]
    assert not Requester.objects.with_phone(PHONE).exists()

    person.phone = ""
    person.save()
    assert stored(person.pk)[0::2] == ("", "")

    Requester.objects.filter(pk=person.pk).update(id_number="")
    assert stored(person.pk)[1::2] == ("", "")


def test_bulk_create_and_bulk_update_keep_values_encrypted_and_indexed(db) -> None:
    made = Requester.objects.bulk_create(
        [Requester(name=f"居民{n}", phone=f"1390000000{n}") for n in range(3)]
    )
    made = list(Requester.objects.filter(name__startswith="居民").order_by("pk"))
    for person in made:
        person.id_number = ID_NUMBER
    Requester.objects.bulk_update(made, ["id_number"])

    for n, person in enumerate(made):
        assert stored(person.pk)[0].startswith("v1:")
        assert list(Requester.objects.with_phone(f"1390000000{n}")) == [person]
        # bulk_update casts through the column type: the whole sealed text must survive it
        assert Requester.objects.get(pk=person.pk).id_number == ID_NUMBER
    assert Requester.objects.with_id_number(ID_NUMBER).count() == 3


def test_a_value_under_a_key_missing_from_the_ring_is_unreadable_and_logged_naming_the_key(
    db, caplog, monkeypatch
) -> None:
    monkeypatch.setattr(fields, "_logged", set())
    person = Requester.objects.create(name="张三", phone=PHONE)
    only_new = crypto.parse_key_ring(crypto.new_key_entry("k9"), source="WENXU_PII_KEYS")
    used = pii.key_ring().current_id

    with override_settings(WENXU_PII_KEYS=only_new):
        again = Requester.objects.get(pk=person.pk)

    assert isinstance(again.phone, Unreadable)
    assert again.phone.sealed == stored(person.pk)[0]
    assert re.search(f"key '{used}'.*holds k9", caplog.text)


def test_a_ciphertext_copied_into_the_other_column_does_not_decrypt(db) -> None:
    person = Requester.objects.create(name="张三", phone=PHONE, id_number=ID_NUMBER)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE residents_requester SET id_number = phone WHERE id = %s", [person.pk]
        )

    again = Requester.objects.get(pk=person.pk)

    assert isinstance(again.id_number, Unreadable)
    assert again.phone == PHONE


def test_the_index_key_is_not_the_encryption_key() -> None:
    assert settings.WENXU_PII_INDEX_KEY
    assert all(settings.WENXU_PII_INDEX_KEY.encode() != key for _kid, key in pii.key_ring().keys)
