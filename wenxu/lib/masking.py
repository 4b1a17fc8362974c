"""Masking of personal data, done on the server before anything leaves it (DESIGN §7).

phone 138****5678, ID 110101********1234, name 张*; unknown shapes are masked generously.
Input is NFKC-normalised first, so full-width digits (１３８…) are masked like ASCII ones.
A value that could not be decrypted (`Unreadable`) shows as （无法解密）, masked or not.
"""

import re
import unicodedata
from typing import Self

from django.utils.translation import gettext

# Mainland mobile, optionally with the country code (86, +86, 0086).
_MOBILE = re.compile(r"(?:(?:00)?86)?(1\d{10})")
# Landline with its area code: 010 and 02X are three digits, the others (03XX-09XX) four.
_LANDLINE = re.compile(r"(010|02\d|0[3-9]\d\d)(\d+)")
_HIDDEN = "****"


class Unreadable(str):
    """A stored personal value that does not decrypt (its key left the ring, or it was altered).

    It reads as （无法解密） wherever it is shown, so no page, export or message breaks on it and
    none shows ciphertext; `sealed` keeps the text as stored, which `wenxu.residents.fields`
    writes back unchanged when the row is saved, so nothing is lost.
    """

    sealed: str

    def __new__(cls, sealed: str) -> Self:
        value = super().__new__(cls, gettext("（无法解密）"))
        value.sealed = sealed
        return value

    def __getnewargs__(self) -> tuple[str]:  # copy and pickle
        return (self.sealed,)


def _normalise(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip()


def _keep_last(value: str, count: int) -> str:
    return "*" * (len(value) - count) + value[len(value) - count :]


def mask_name(name: str) -> str:
    """The first character (the surname, or the first of a compound one): 张三 → 张*."""
    name = _normalise(name)
    if not name:
        return ""
    return name[0] + "*" * (len(name) - 1) if len(name) > 1 else "*"


def mask_phone(phone: str) -> str:
    """Mobile 138****5678; landline 0571****6666; other numbers show at most half their digits.

    Only digits are kept: separators and any text go, so nothing but a few digits can leak.
    """
    if isinstance(phone, Unreadable):
        return str(phone)
    phone = _normalise(phone)
    if not phone:
        return ""
    digits = re.sub(r"[^0-9]", "", phone)
    if not digits:
        return _HIDDEN  # something is recorded (an e-mail, a note), and it is not shown
    if mobile := _MOBILE.fullmatch(digits):
        number = mobile.group(1)
        return f"{number[:3]}****{number[-4:]}"
    if 10 <= len(digits) <= 12 and (landline := _LANDLINE.fullmatch(digits)):
        area, local = landline.groups()
        return area + _keep_last(local, 4)
    if len(digits) >= 9:
        return _keep_last(digits, 4)
    if len(digits) >= 5:
        # A local number without its area code (rural landlines are often written so): the
        # last four would be most of it.
        return _keep_last(digits, 2)
    return "*" * len(digits)


def mask_id_number(value: str) -> str:
    """Resident ID 110101********1234 (region, then sequence and check digit); others the last 4.

    The birth date is never shown. Values too short to be an ID are masked entirely.
    """
    if isinstance(value, Unreadable):
        return str(value)
    value = re.sub(r"\s", "", unicodedata.normalize("NFKC", value))
    if len(value) == 18:
        return value[:6] + "*" * 8 + value[-4:]
    if len(value) == 15:  # the old ID: region, YYMMDD, sequence
        return value[:6] + "*" * 6 + value[-3:]
    if len(value) >= 8:  # passports and other documents
        return _keep_last(value, 4)
    return "*" * len(value)


def mask_address(address: str) -> str:
    """Keep the coarse place (up to the village or street), hide house numbers and rooms.

    Without any digit, keep the first half. The mask has a fixed length so it says nothing.
    """
    address = _normalise(address)
    if not address:
        return ""
    cut = re.search(r"\d", address)
    keep = address[: cut.start()] if cut else address[: len(address) // 2]
    return keep.rstrip() + _HIDDEN
