"""The chain's arithmetic: what an entry's HMAC covers, in one place for writing and checking."""

import hashlib
import hmac
import json
from datetime import datetime

from django.conf import settings


def entry_hash(
    *,
    prev_hash: str,
    at: datetime,
    action: str,
    actor_id: int | None,
    actor_username: str,
    target: str,
    detail: object,
    ip: str | None,
) -> str:
    """HMAC-SHA256 (audit key) over the previous HMAC and the entry's content.

    The position (seq) is not covered: order is proved by each entry naming its predecessor, so
    verification can tell a reordering from an edit. JSON with sorted keys, because PostgreSQL's
    jsonb gives keys back in its own order.
    """
    content = json.dumps(
        [
            prev_hash,
            at.isoformat(timespec="microseconds"),
            action,
            actor_id,
            actor_username,
            target,
            detail,
            ip,
        ],
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    key = settings.WENXU_AUDIT_KEY.encode()
    return hmac.new(key, content.encode(), hashlib.sha256).hexdigest()
