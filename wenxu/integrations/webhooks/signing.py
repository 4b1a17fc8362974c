"""The signature a receiver checks: HMAC-SHA256 of "<timestamp>.<body>" with the secret."""

import hashlib
import hmac

SCHEME = "sha256"
REPLAY_WINDOW_SECONDS = 300  # what docs/api/webhooks.md tells receivers to accept


def signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """The `X-Wenxu-Signature` value: `sha256=<hex digest>`."""
    message = str(timestamp).encode("ascii") + b"." + body
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()
    return f"{SCHEME}={digest}"


def headers(
    *, secret: str, event_type: str, delivery_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": "wenxu-webhooks/1",
        "X-Wenxu-Event": event_type,
        "X-Wenxu-Delivery": delivery_id,
        "X-Wenxu-Timestamp": str(timestamp),
        "X-Wenxu-Signature": signature(secret=secret, timestamp=timestamp, body=body),
    }


def verify(*, secret: str, timestamp: str, body: bytes, header: str, now: float) -> bool:
    """What a receiver does (the same code is in the docs): a fresh timestamp and a matching
    signature, compared in constant time."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs(now - sent) > REPLAY_WINDOW_SECONDS:
        return False
    expected = signature(secret=secret, timestamp=sent, body=body)
    # Bytes: `compare_digest` raises TypeError on a str with non-ASCII characters (a forged
    # header may carry any).
    return hmac.compare_digest(expected.encode("ascii"), header.encode("utf-8", "replace"))
