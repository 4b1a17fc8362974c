"""Statements that PostgreSQL plans once per connection (server-side prepared statements).

Django binds parameters on the client: PostgreSQL parses and plans every statement afresh
(ADR 0027). For most statements that is a small part of their cost. For the dashboards' reads
of the rollups it is most of it: a statement of a few unions, sums and joins that reads a few
hundred rows plans for ~0.5–1 ms and runs in ~0.1 ms (issue #10, B3; ADR 0035).

`planned_rows` runs such a statement as a prepared statement: parsed and planned on its first
run on a connection, then only bound and executed. The plan is generic (the connection's
`plan_cache_mode` is `force_generic_plan`, set by the settings with `prepare_threshold`), so
use it only for statements whose best plan does not depend on their values: reads through an
index whose size is bounded by what a page shows, not by the data's shape. Django's own
statements are never prepared (its cursors bind on the client, and so plan as before).

Off (a plain statement, the same rows) on SQLite, and on PostgreSQL when
`WENXU_DB_PREPARED_STATEMENTS` is off: a PgBouncer older than 1.21, or without
`max_prepared_statements`, in transaction mode (docs/operations.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any, cast

import psycopg
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper


class _Preparing(psycopg.RawCursor[Any]):
    """A cursor that binds on the server and prepares every statement it runs. It takes the
    statement with PostgreSQL's own placeholders ($1, $2, …; `numbered`): psycopg's cursors
    that take `%s` parse each statement on each run, and keep the parsed form only for
    statements under 4,096 bytes and 50 parameters. A need's INSERT is over both, and parsing
    it was ~8 % of an intake's Python (B1, `py-spy --gil`)."""

    def execute(
        self, query: Any, params: Any = None, *, prepare: bool | None = None, binary: Any = None
    ) -> _Preparing:
        super().execute(query, params, prepare=True, binary=binary)
        return self


@lru_cache(maxsize=1024)
def numbered(sql: str) -> str:
    """`sql` (a Django statement: `%s` placeholders, `%%` for a percent sign) with
    PostgreSQL's placeholders $1, $2, … and its percent signs as they are."""
    out: list[str] = []
    count = 0
    for i, literal in enumerate(sql.split("%%")):
        pieces = literal.split("%s")
        text = pieces[0]
        for piece in pieces[1:]:
            count += 1
            text += f"${count}{piece}"
        out.append(text if i == 0 else "%" + text)
    return "".join(out)


def prepares(connection: BaseDatabaseWrapper) -> bool:
    """Whether `planned_rows` prepares its statements on `connection`."""
    if connection.vendor != "postgresql":
        return False
    return connection.settings_dict.get("OPTIONS", {}).get("prepare_threshold") is not None


def planned_rows(
    sql: str, params: Sequence[Any], *, using: str = DEFAULT_DB_ALIAS
) -> list[tuple[Any, ...]]:
    """The rows of `sql` (with `%s` placeholders, as for a Django cursor) with `params`,
    planned once per connection where `prepares` says so. Seen by Django's query log and
    execute wrappers like any other statement. Values come back as a plain cursor gives them
    (no model field converters)."""
    connection = connections[using]
    if not prepares(connection):
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return list(cursor.fetchall())
    # what connection.cursor() does, with a cursor of our own
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    with connection.wrap_database_errors:
        raw = _Preparing(connection.connection)
    # django-stubs type these as taking a CursorWrapper; they take the driver's cursor
    driver_cursor = cast(Any, raw)
    wrapped = (
        connection.make_debug_cursor(driver_cursor)
        if connection.queries_logged
        else connection.make_cursor(driver_cursor)
    )
    with wrapped as cursor:
        cursor.execute(numbered(sql), params)
        rows = list(cursor.fetchall())
    log = connection.queries_log
    if connection.queries_logged and log:
        # Django reads the statement it logs from a cursor that bound on the client; log it
        # as one would have sent it, values in place
        log[-1]["sql"] = cast(Any, connection.ops).compose_sql(sql, params)  # PostgreSQL's
    return rows
