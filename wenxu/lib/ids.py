"""Identifiers people read aloud: ledger numbers and resident tracking codes."""

import secrets

# No 0/O, 1/I/L, 2/Z, 5/S, 8/B: codes are read over the phone.
TRACKING_ALPHABET = "3467ACDEFGHJKMNPQRTUVWXY9"
TRACKING_LENGTH = 8


def ledger_number(year: int, serial: int) -> str:
    return f"WX-{year:04d}-{serial:06d}"


def tracking_code() -> str:
    return "".join(secrets.choice(TRACKING_ALPHABET) for _ in range(TRACKING_LENGTH))
