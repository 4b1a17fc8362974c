"""Fixed-window rate limits, counted exactly in the database (table core_ratecounter).

`hit` counts one attempt under `key` and says whether it is still within `limit` per `window`
seconds; `exceeded` only looks. Each window of each key is one row, incremented by a single
`INSERT … ON CONFLICT DO UPDATE … RETURNING` (an upsert): PostgreSQL locks the row, and SQLite
runs it in an IMMEDIATE transaction (settings.SQLITE_OPTIONS), so concurrent attempts are
serialised and none is lost. Other keys never evict a count (past MAX_ENTRIES Django's
database cache deletes a third of its rows, which is why the counts no longer live there).

Rows of ended windows are deleted by about one `hit` in SWEEP_ONE_IN, SWEEP_BATCH rows at a time.
"""

import random
from datetime import UTC, datetime

from django.db import connection, transaction
from django.utils.crypto import salted_hmac

from wenxu.core.models import RateCounter
from wenxu.lib import clock

SWEEP_ONE_IN = 100
SWEEP_BATCH = 1000


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
    hits = (
        RateCounter.objects.filter(key=_key(scope, key, window))
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
