"""Fixed-window rate limits, counted exactly in Redis when configured, else in the database.

`hit` counts one attempt under `key` and says whether it is still within `limit` per `window`
seconds; `exceeded` only looks. Each window of each key is one counter:

- With `WENXU_REDIS_URL` (city scale): a Redis key, incremented by `INCR` and given its expiry
  by `EXPIRE` in one `MULTI` transaction, so concurrent attempts are serialised by Redis and the
  key disappears when its window has ended.
- Otherwise: one row of the table core_ratecounter, incremented by a single
  `INSERT … ON CONFLICT DO UPDATE … RETURNING` (an upsert): PostgreSQL locks the row, and SQLite
  runs it in an IMMEDIATE transaction (settings.SQLITE_OPTIONS). Rows of ended windows are
  deleted by about one `hit` in SWEEP_ONE_IN, SWEEP_BATCH rows at a time.

Either way no attempt is lost and other keys never evict a count (past MAX_ENTRIES Django's
database cache deletes a third of its rows, which is why the counts never lived in a cache).

When Redis does not answer (down, unreachable, timing out after REDIS_TIMEOUT seconds), counting
falls back to the database table for REDIS_RETRY_SECONDS before Redis is tried again: limits
stay enforced (neither opened to brute force nor closed on residents) and nobody sees an error.
The two stores count apart, so in the window where Redis fails or returns a client may get up
to twice its limit (ADR 0020).
"""

import logging
import random
import threading
import time
from datetime import UTC, datetime

import redis
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, transaction
from django.utils.crypto import salted_hmac

from wenxu.core.models import RateCounter
from wenxu.lib import clock

SWEEP_ONE_IN = 100
SWEEP_BATCH = 1000
REDIS_TIMEOUT = 1.0  # seconds to connect or to answer; a healthy Redis answers in well under 1 ms
REDIS_RETRY_SECONDS = 5.0

logger = logging.getLogger(__name__)
_clients: dict[str, redis.Redis] = {}
_clients_lock = threading.Lock()
_redis_down_until = 0.0


def redis_client() -> redis.Redis | None:
    """The Redis client of WENXU_REDIS_URL (one connection pool per process), or None."""
    url: str = settings.WENXU_REDIS_URL
    if not url:
        return None
    client = _clients.get(url)
    if client is None:
        with _clients_lock:
            client = _clients.get(url)
            if client is None:
                client = redis.Redis.from_url(
                    url, socket_connect_timeout=REDIS_TIMEOUT, socket_timeout=REDIS_TIMEOUT
                )
                _clients[url] = client
    return client


def _usable_redis() -> redis.Redis | None:
    if time.monotonic() < _redis_down_until:
        return None
    return redis_client()


def _redis_failed(error: Exception) -> None:
    global _redis_down_until
    if time.monotonic() >= _redis_down_until:  # once per outage, not once per request
        logger.warning(
            "Redis did not answer (%s): rate limits are counted in the database for %s seconds",
            type(error).__name__,
            REDIS_RETRY_SECONDS,
        )
    _redis_down_until = time.monotonic() + REDIS_RETRY_SECONDS


def _bucket(window: int) -> int:
    return int(clock.now().timestamp()) // window


def _key(scope: str, key: str, window: int) -> str:
    # Keyed, so a stored digest of a phone number cannot be reversed by trying every number.
    digest = salted_hmac("wenxu.lib.ratelimit", key, algorithm="sha256").hexdigest()[:32]
    return f"rl:{scope}:{digest}:{_bucket(window)}"


def _upsert_sql() -> str:
    table, name, hits, ends = map(
        connection.ops.quote_name, [RateCounter._meta.db_table, "key", "hits", "expires_at"]
    )
    return (
        f"INSERT INTO {table} ({name}, {hits}, {ends}) VALUES (%s, 1, %s) "  # noqa: S608 (names, not input)
        f"ON CONFLICT ({name}) DO UPDATE SET {hits} = {table}.{hits} + 1 RETURNING {hits}"
    )


def hit(scope: str, key: str, *, limit: int, window: int) -> bool:
    """Count an attempt; True while there have been at most `limit` in the current window."""
    name = _key(scope, key, window)
    client = _usable_redis()
    if client is not None:
        try:
            pipe = client.pipeline(transaction=True)
            pipe.incr(f"wenxu:{name}")
            # Relative, so a key outlives its window by a second whatever the clocks say.
            pipe.expire(f"wenxu:{name}", retry_after(window=window) + 1)
            hits, _expiry_set = pipe.execute()
        except redis.RedisError as error:
            _redis_failed(error)
        else:
            return int(hits) <= limit
    return _database_hit(name, limit=limit, window=window)


def _database_hit(name: str, *, limit: int, window: int) -> bool:
    ends = datetime.fromtimestamp((_bucket(window) + 1) * window, tz=UTC)
    # savepoint=False: one statement needs none; at the top level this still opens the
    # transaction, which on SQLite is BEGIN IMMEDIATE (the write lock first, then the read).
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.execute(_upsert_sql(), [name, connection.ops.adapt_datetimefield_value(ends)])
        row = cursor.fetchone()
    if random.randrange(SWEEP_ONE_IN) == 0:  # noqa: S311 (spreads the cleanup, not a secret)
        sweep()
    return row is not None and int(row[0]) <= limit


def exceeded(scope: str, key: str, *, limit: int, window: int) -> bool:
    """Whether `limit` attempts have been counted in the current window (counts nothing)."""
    name = _key(scope, key, window)
    client = _usable_redis()
    if client is not None:
        try:
            stored = client.get(f"wenxu:{name}")
        except redis.RedisError as error:
            _redis_failed(error)
        else:
            return stored is not None and int(stored) >= limit
    hits = (
        # The primary, where hit() counts: a replica may not have the latest count yet.
        RateCounter.objects.using(DEFAULT_DB_ALIAS)
        .filter(key=name)
        .values_list("hits", flat=True)
        .first()
    )
    return hits is not None and hits >= limit


def retry_after(*, window: int) -> int:
    """Seconds until the current window ends and every count under it starts afresh."""
    return window - int(clock.now().timestamp()) % window


def sweep(*, batch: int = SWEEP_BATCH) -> int:
    """Delete up to `batch` rows of windows that have ended; returns how many."""
    ended = RateCounter.objects.filter(expires_at__lte=clock.now()).values("pk")[:batch]
    deleted, _ = RateCounter.objects.filter(pk__in=ended).delete()
    return deleted
