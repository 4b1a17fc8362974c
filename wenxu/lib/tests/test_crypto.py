"""Encryption at rest and blind indexes (issue #9): what is stored, what opens it, what refuses."""

import base64
import os
import stat
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from wenxu.lib import crypto

KEY_A = base64.urlsafe_b64encode(bytes(range(32))).decode()
KEY_B = base64.b64encode(bytes(range(32, 64))).decode()  # standard alphabet, padded
CONTEXT = "residents.requester.phone"


def ring(text: str = f"a:{KEY_A}") -> crypto.KeyRing:
    return crypto.parse_key_ring(text, source="WENXU_PII_KEYS")


def test_a_value_round_trips_and_is_stored_as_versioned_text_with_the_key_id() -> None:
    sealed = crypto.encrypt("13812345678", context=CONTEXT, ring=ring())

    assert sealed.startswith("v1:a:")
    assert "13812345678" not in sealed
    assert crypto.decrypt(sealed, context=CONTEXT, ring=ring()) == "13812345678"


def test_each_encryption_uses_a_fresh_nonce() -> None:
    first = crypto.encrypt("13812345678", context=CONTEXT, ring=ring())
    second = crypto.encrypt("13812345678", context=CONTEXT, ring=ring())

    assert first != second
    assert first[:22] != second[:22]  # the nonce leads the payload


def test_the_empty_string_stays_empty_both_ways() -> None:
    assert crypto.encrypt("", context=CONTEXT, ring=ring()) == ""
    assert crypto.decrypt("", context=CONTEXT, ring=ring()) == ""


def test_the_first_key_encrypts_and_every_key_decrypts() -> None:
    old = crypto.encrypt("110101199003071234", context=CONTEXT, ring=ring(f"a:{KEY_A}"))
    both = ring(f"b:{KEY_B}, a:{KEY_A}")

    assert crypto.key_id_of(crypto.encrypt("x", context=CONTEXT, ring=both)) == "b"
    assert crypto.decrypt(old, context=CONTEXT, ring=both) == "110101199003071234"


def test_a_value_under_a_key_no_longer_in_the_ring_fails_naming_that_key() -> None:
    sealed = crypto.encrypt("13812345678", context=CONTEXT, ring=ring(f"a:{KEY_A}"))

    with pytest.raises(crypto.DecryptionError, match=r"key 'a'.*not in WENXU_PII_KEYS"):
        crypto.decrypt(sealed, context=CONTEXT, ring=ring(f"b:{KEY_B}"))


def test_a_wrong_key_under_the_same_id_fails_clearly_instead_of_returning_garbage() -> None:
    sealed = crypto.encrypt("13812345678", context=CONTEXT, ring=ring(f"a:{KEY_A}"))

    with pytest.raises(crypto.DecryptionError, match=r"key 'a'.*does not decrypt"):
        crypto.decrypt(sealed, context=CONTEXT, ring=ring(f"a:{KEY_B}"))


@pytest.mark.parametrize("position", [6, 30, -2])  # in the nonce, the ciphertext, the tag
def test_a_tampered_value_fails(position: int) -> None:
    sealed = crypto.encrypt("13812345678", context=CONTEXT, ring=ring())
    chars = list(sealed)
    chars[position] = "A" if chars[position] != "A" else "B"

    with pytest.raises(crypto.DecryptionError, match="key 'a'"):
        crypto.decrypt("".join(chars), context=CONTEXT, ring=ring())


def test_a_value_copied_to_another_column_does_not_decrypt() -> None:
    sealed = crypto.encrypt("13812345678", context=CONTEXT, ring=ring())

    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(sealed, context="residents.requester.id_number", ring=ring())


def test_a_relabelled_key_id_does_not_decrypt() -> None:
    sealed = crypto.encrypt("13812345678", context=CONTEXT, ring=ring(f"a:{KEY_A}"))
    relabelled = sealed.replace("v1:a:", "v1:b:", 1)

    with pytest.raises(crypto.DecryptionError, match="key 'b'"):
        crypto.decrypt(relabelled, context=CONTEXT, ring=ring(f"b:{KEY_A}"))


@pytest.mark.parametrize("stored", ["13812345678", "v1:a:", "v1:a:!!!", "v1:a:QUJD"])
def test_a_value_that_was_never_sealed_fails(stored: str) -> None:
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(stored, context=CONTEXT, ring=ring())


def test_the_longest_value_fits_the_sealed_length() -> None:
    longest = "𠀀" * 30  # four bytes each in UTF-8
    sealed = crypto.encrypt(longest, context=CONTEXT, ring=ring(f"{'k' * 16}:{KEY_A}"))

    assert len(sealed) <= crypto.sealed_length(30) == 218


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("", "no key"),
        (" , ", "no key"),
        (KEY_A, "valid key id"),
        (f"bad id:{KEY_A}", "valid key id"),
        (f"{'k' * 17}:{KEY_A}", "valid key id"),
        ("a:not-base64!", "entry 1 .id 'a'. is not 32 bytes"),
        (f"a:{base64.b64encode(b'short').decode()}", "is not 32 bytes"),
        (f"a:{KEY_A},a:{KEY_B}", "appears twice"),
    ],
)
def test_a_malformed_key_ring_is_refused_with_what_to_do(text: str, complaint: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=complaint) as refused:
        ring(text)

    assert KEY_A not in str(refused.value)  # the key itself is never echoed
    assert "not-base64" not in str(refused.value)


def test_a_generated_entry_parses_and_its_repr_hides_the_keys() -> None:
    entry = crypto.new_key_entry("k2")
    parsed = ring(entry)

    assert parsed.current_id == "k2"
    assert entry.split(":", 1)[1] not in repr(parsed)
    with pytest.raises(ValueError, match="key id"):
        crypto.new_key_entry("k 2")


def test_the_key_file_is_made_once_private_and_then_reused(tmp_path: Path) -> None:
    key_file = tmp_path / "pii_keys"

    first = crypto.load_key_ring("", key_file)
    second = crypto.load_key_ring("", key_file)

    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert first.keys == second.keys
    assert first.current_id == "k1"


def test_the_environment_wins_over_the_key_file(tmp_path: Path) -> None:
    loaded = crypto.load_key_ring(f"e:{KEY_A}", tmp_path / "pii_keys")

    assert loaded.ids() == ["e"]
    assert not (tmp_path / "pii_keys").exists()


def test_an_empty_or_malformed_key_file_stops_the_start(tmp_path: Path) -> None:
    key_file = tmp_path / "pii_keys"
    key_file.write_text("k1:tampered\n")

    with pytest.raises(ImproperlyConfigured, match="pii_keys: the key of entry 1"):
        crypto.load_key_ring("", key_file)


def test_the_blind_index_is_keyed_and_separates_columns() -> None:
    index = crypto.blind_index("13812345678", context=CONTEXT, key="k" * 40)

    assert len(index) == 64
    assert index == crypto.blind_index("13812345678", context=CONTEXT, key="k" * 40)
    assert index != crypto.blind_index("13812345678", context=CONTEXT, key="j" * 40)
    assert index != crypto.blind_index("13812345678", context="other", key="k" * 40)
    assert crypto.blind_index("", context=CONTEXT, key="k" * 40) == ""
