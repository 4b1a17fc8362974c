"""Identifiers people read aloud: ledger numbers and resident tracking codes."""

import hashlib
import json
import secrets
from datetime import UTC, datetime

# No 0/O, 1/I/L, 2/Z, 5/S, 8/B: codes are read over the phone.
TRACKING_ALPHABET = "3467ACDEFGHJKMNPQRTUVWXY9"
TRACKING_LENGTH = 8


def ledger_number(year: int, serial: int) -> str:
    return f"WX-{year:04d}-{serial:06d}"


def tracking_code() -> str:
    return "".join(secrets.choice(TRACKING_ALPHABET) for _ in range(TRACKING_LENGTH))


def payload_hash(payload: object) -> str:
    """A stable digest of a JSON-like payload: equal for equal content, whatever the key order.

    Used to tell a replayed upload (same client UUID, same content) from a different record
    that reuses a UUID.
    """
    canonical = json.dumps(
        payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=_plain
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _plain(value: object) -> str:
    # The same instant written with another offset ("Z" or "+08:00") is the same content.
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    return str(value)
