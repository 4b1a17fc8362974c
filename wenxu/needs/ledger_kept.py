"""A handler's rendered ledger results, kept between requests under the ledger marks (ADR 0028).

Handlers open their unit's ledger over and over — all needs, the open ones by deadline, the
overdue ones — and the list changes far less often: a progress note (the commonest action)
changes nothing it shows. Rendering it is most of a ledger page's time (the scoped count, the
page's rows, the row markup). So for a viewer whose scopes are all units, the rendered results
(count, rows, paging) are kept in the process, filed under:

- the ledger marks of the viewer's units and of the viewer as recorder (`needs.LedgerMark`,
  added by triggers on every change a ledger shows, migration needs 0008), counted with one
  small query per page: any change by anyone, on any machine, is seen by the next page;
- the configuration generation (names of areas, units and categories, memberships and the
  permission to see personal data; ADR 0026), the language, the filters and the page;
- and at most KEPT_SECONDS: time alone moves a need into 超期 or 临期 and changes its deadline
  badge, with no write to mark it.

Kept twice: in the process, and in the table `needs.KeptLedger` that every process of every
server reads (ADR 0031). nginx sends a handler's next page to any process, so each would
otherwise render the same results once more; a process that misses reads the table (one
query) before it renders, and what it renders goes to both.

Not kept: viewers with an area scope (dispatchers, leaders, officers: an area's marks would be
written by every need of a city, and their lists change with every registration), a page with
a refused filter, and anything on SQLite (the embedded default has no triggers for it, and one
machine's ledger is small).
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable
from datetime import datetime, timedelta
from pathlib import Path

from django.db import connection, transaction

import wenxu
from wenxu.accounts.models import User
from wenxu.accounts.selectors import scopes_for_user
from wenxu.core import generation
from wenxu.lib import clock
from wenxu.needs.models import KeptLedger, LedgerMark
from wenxu.needs.selectors import NARROW_SCOPE_MAX_NODES, nodes_under
from wenxu.organisations.models import Unit

# How long a kept page may be shown at most: time moves deadlines on without any write.
KEPT_SECONDS = 60
# Rendered results kept per process: a page of twenty rows in both layouts is ~31,000
# characters (~60 KB in memory, as it holds Chinese text), so at most ~120 MB.
_RESULTS = generation.Kept(2_000)
# The transaction advisory lock of the sweep's folding ("ledger marks").
FOLD_LOCK = 0x776C_6D6B


def marks_key(user: User) -> tuple[int, int] | None:
    """How many ledger marks the scopes of `user`'s ledger hold and the last one (one query),
    or None when their ledger is not kept (see the module's docstring). The pair changes with
    every committed mark, whatever order writers commit in, and never returns to an earlier
    value: the sweep's folding (`ledger_marks_fold`) adds a newer mark as it removes."""
    if connection.vendor != "postgresql" or generation.current() is None:
        return None
    scopes = scopes_for_user(user)
    if not scopes or any(scope.area_path or not scope.unit_path for scope in scopes):
        return None
    units = nodes_under(Unit, tuple(scope.unit_path for scope in scopes if scope.unit_path))
    if len(units) > NARROW_SCOPE_MAX_NODES:
        return None
    names = [f"u{pk}" for pk in units] + [f"r{user.pk}"]
    table = LedgerMark._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*), coalesce(max(id), 0) FROM {table} WHERE scope = ANY(%s)",  # noqa: S608
            [names],
        )
        count, last = cursor.fetchone()
        return int(count), int(last)


def _fresh(made: datetime) -> bool:
    return 0 <= (clock.now() - made).total_seconds() < KEPT_SECONDS


def _code() -> str:
    """What the results' markup is made by: the version and the two files that render it. A
    server upgraded beside one not yet upgraded neither shows the other's markup nor is shown
    its own there."""
    here = Path(__file__).resolve().parent
    digest = hashlib.sha256(wenxu.__version__.encode())
    for part in ("templates/needs/ledger_results.html", "templatetags/needs_ledger.py"):
        digest.update((here / part).read_bytes())
    return digest.hexdigest()


_CODE = _code()


def _digest(key: Hashable) -> str:
    """What the shared table files `key` under."""
    return hashlib.sha256(repr((_CODE, key)).encode()).hexdigest()


def kept(key: Hashable) -> str | None:
    """The results kept under `key`, if any and made less than KEPT_SECONDS ago: from the
    process, else from the shared table (then kept in the process too)."""
    found = _RESULTS.get(key)
    if isinstance(found, tuple) and _fresh(found[0]):
        return str(found[1])
    table = KeptLedger._meta.db_table
    with connection.cursor() as cursor:  # the primary's: replicas have no rows of it
        cursor.execute(f"SELECT made, html FROM {table} WHERE key = %s", [_digest(key)])  # noqa: S608
        row = cursor.fetchone()
    if row is None or not _fresh(row[0]):
        return None
    _RESULTS.put(key, (row[0], row[1]))
    return str(row[1])


def keep(key: Hashable, html: str, *, made: datetime) -> None:
    """Keep `html`, made at `made`, under `key`: in the process and in the shared table."""
    _RESULTS.put(key, (made, html))
    table = KeptLedger._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (key, made, html) VALUES (%s, %s, %s) "  # noqa: S608
            "ON CONFLICT (key) DO UPDATE SET made = EXCLUDED.made, html = EXCLUDED.html",
            [_digest(key), made, html],
        )


def clear() -> None:
    """Forget what this process keeps (the shared table's rows age out)."""
    _RESULTS.clear()


def kept_ledger_sweep() -> int:
    """The shared table's rows too old to be shown deleted (a sweep stage); how many."""
    if connection.vendor != "postgresql":
        return 0
    table = KeptLedger._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {table} WHERE made < %s",  # noqa: S608
            [clock.now() - timedelta(seconds=KEPT_SECONDS)],
        )
        return int(cursor.rowcount)


def ledger_marks_fold() -> int:
    """Each scope's marks folded into one new mark (a sweep stage): the marks a page reads
    stay a few per scope. The new mark is newer than those it replaces, so a kept page is
    rendered again once, never shown for a state it was not made for. Marks of transactions
    still open are not seen here and stay. The scopes folded."""
    if connection.vendor != "postgresql":
        return 0
    table = LedgerMark._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        # One sweep folds at a time (two would wait on each other's rows); the others skip.
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [FOLD_LOCK])
        if not cursor.fetchone()[0]:
            return 0
        cursor.execute(
            f"WITH many AS (SELECT scope FROM {table} GROUP BY scope HAVING count(*) > 1), "  # noqa: S608
            f"gone AS (DELETE FROM {table} m USING many WHERE m.scope = many.scope "
            "RETURNING m.scope) "
            f"INSERT INTO {table} (scope) SELECT DISTINCT scope FROM gone"
        )
        return int(cursor.rowcount)
