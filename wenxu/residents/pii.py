"""The requester's encrypted columns and their blind indexes (issue #9, docs/operations.md).

`phone_index` and `id_number_index` turn a phone or ID number however it was written into the
value stored in `Requester.phone_index` / `id_number_index`, for exact search:
`Requester.objects.with_phone("+86 138-1234-5678")`. The data migration and `wenxu pii_rekey`
use the helpers here rather than the model, so they work on historical models too.
"""

import re
import unicodedata

from django.conf import settings

from wenxu.lib import crypto

PHONE_CONTEXT = "residents.requester.phone"
ID_NUMBER_CONTEXT = "residents.requester.id_number"
ENCRYPTED_COLUMNS = {"phone": PHONE_CONTEXT, "id_number": ID_NUMBER_CONTEXT}
INDEX_COLUMNS = {"phone": "phone_index", "id_number": "id_number_index"}

_MOBILE = re.compile(r"(?:0086|86)?(1\d{10})")


def key_ring() -> crypto.KeyRing:
    ring: crypto.KeyRing = settings.WENXU_PII_KEYS
    return ring


def phone_for_index(value: str) -> str:
    """Digits only (NFKC first: full-width digits count); a mobile without its +86/0086/86."""
    digits = re.sub(r"[^0-9]", "", unicodedata.normalize("NFKC", value))
    if mobile := _MOBILE.fullmatch(digits):
        return mobile.group(1)
    return digits


def id_number_for_index(value: str) -> str:
    """NFKC, upper case (the check character X), without spaces or hyphens."""
    return re.sub(r"[\s\-]", "", unicodedata.normalize("NFKC", value)).upper()


def phone_index(value: str) -> str:
    """The blind index of a phone number however written; "" when it holds no digit."""
    return crypto.blind_index(
        phone_for_index(value), context=PHONE_CONTEXT, key=settings.WENXU_PII_INDEX_KEY
    )


def id_number_index(value: str) -> str:
    """The blind index of an ID number however written; "" when it is empty."""
    return crypto.blind_index(
        id_number_for_index(value), context=ID_NUMBER_CONTEXT, key=settings.WENXU_PII_INDEX_KEY
    )


INDEXERS = {"phone": phone_index, "id_number": id_number_index}


def encrypt(field: str, plain: str) -> str:
    """`plain` sealed for the requester column `field` ("phone" or "id_number")."""
    return crypto.encrypt(plain, context=ENCRYPTED_COLUMNS[field], ring=key_ring())


def decrypt(field: str, stored: str) -> str:
    return crypto.decrypt(stored, context=ENCRYPTED_COLUMNS[field], ring=key_ring())
