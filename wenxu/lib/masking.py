"""Masking of personal data, done on the server before anything leaves it (DESIGN §7).

phone 138****5678, ID 110101********1234, name 张*; unknown shapes are masked generously.
"""

import re

_MOBILE = re.compile(r"^(\+?86)?(1\d{2})(\d{4})(\d{4})$")


def mask_name(name: str) -> str:
    name = name.strip()
    if not name:
        return ""
    if len(name) == 1:
        return "*"
    if name.isascii():
        return name[0] + "*" * (len(name) - 1)
    # Chinese names: keep the surname (first character), mask the rest.
    return name[0] + "*" * (len(name) - 1)


def mask_phone(phone: str) -> str:
    digits = re.sub(r"[\s-]", "", phone)
    if not digits:
        return ""
    match = _MOBILE.match(digits)
    if match:
        return f"{match.group(2)}****{match.group(4)}"
    if len(digits) <= 4:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 7 if len(digits) > 7 else 1) + digits[-4:]


def mask_id_number(value: str) -> str:
    value = value.strip()
    if len(value) <= 4:
        return "*" * len(value)
    if len(value) >= 15:
        return value[:6] + "*" * (len(value) - 10) + value[-4:]
    return "*" * (len(value) - 4) + value[-4:]


def mask_address(address: str) -> str:
    """Keep the coarse place (up to the village or street), hide house numbers and rooms."""
    address = address.strip()
    if not address:
        return ""
    cut = re.search(r"\d", address)
    keep = address[: cut.start()] if cut else address[: max(2, len(address) // 2)]
    return keep + "****"
