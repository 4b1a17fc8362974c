"""Sending the outbox: claim due messages, send each through its channel, retry with backoff.

To be built (issue #5): see ADR 0012.
"""

from collections.abc import Iterable


def send_due(*, ids: Iterable[int] | None = None, limit: int = 200) -> int:
    """Send due messages (only `ids`, when given); returns how many were sent."""
    return 0
