"""Fixed-window rate limits on the shared cache (the database by default, see settings).

`hit` counts one attempt under `key` and says whether it is still within `limit` per
`window` seconds. Counting is approximate under races (the database cache's increment is not
atomic): a handful of extra attempts may pass, never fewer than the limit.
"""

import hashlib

from django.core.cache import cache

from wenxu.lib import clock


def _key(scope: str, key: str, window: int) -> str:
    bucket = int(clock.now().timestamp()) // window
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"rl:{scope}:{digest}:{bucket}"


def hit(scope: str, key: str, *, limit: int, window: int) -> bool:
    """Count an attempt; True while there have been at most `limit` in the current window."""
    name = _key(scope, key, window)
    if cache.add(name, 1, timeout=window):
        return True
    try:
        count = cache.incr(name)
    except ValueError:  # expired between add and incr
        cache.add(name, 1, timeout=window)
        count = 1
    return count <= limit


def exceeded(scope: str, key: str, *, limit: int, window: int) -> bool:
    """Whether `limit` attempts have been counted in the current window (counts nothing)."""
    value = cache.get(_key(scope, key, window))
    return isinstance(value, int) and value >= limit
