"""A request's first read doubles as its connection's health check.

With `CONN_HEALTH_CHECKS` (set for PostgreSQL, whose connections live across requests), Django
sends `SELECT 1` before a request's first statement on each connection, and replaces a
connection that fails it: one more round trip on every request. Every web request starts with a
small read that wenxu makes anyway (its session, or the configuration generation for an API
call): `fetchone` runs that read in the check's place. When it fails and the connection is
found broken, the connection is replaced and the read run once more, as the check would have
done before it; an error of the read itself is raised as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import Error
from django.db.backends.base.base import BaseDatabaseWrapper


def fetchone(connection: BaseDatabaseWrapper, sql: str, params: Sequence[Any]) -> Any:
    """The first row of a read (a tuple, or None) on `connection`, as its health check when
    one is due (the connection's first statement of this request)."""
    checks: Any = connection  # Django's health-check flags, which django-stubs lacks
    due = (
        connection.connection is not None  # a new connection needs no check
        and checks.health_check_enabled
        and not checks.health_check_done
        and not connection.in_atomic_block
    )
    if not due:
        return _fetchone(connection, sql, params)
    checks.health_check_done = True
    try:
        return _fetchone(connection, sql, params)
    except Error:
        if connection.is_usable():
            raise
    connection.close()  # broke while idle (a restart, a dropped link): a new one
    return _fetchone(connection, sql, params)


def _fetchone(connection: BaseDatabaseWrapper, sql: str, params: Sequence[Any]) -> Any:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()
