"""A request's first read as its connection's health check (wenxu.lib.healthcheck): one
statement where Django sent two, a connection that broke while idle replaced and the read
answered, and the read's own errors raised as they are."""

import psycopg
import pytest
from django.db import DatabaseError, connection
from django.test.utils import CaptureQueriesContext

from wenxu.lib import healthcheck

postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL")
# Outside a transaction, as a request's first statement is (the check never runs inside one).
pytestmark = [pytest.mark.django_db(transaction=True), postgresql_only]


def _new_request() -> None:
    """What Django does at the start of each request (`close_old_connections`)."""
    connection.ensure_connection()
    connection.close_if_unusable_or_obsolete()
    assert not connection.health_check_done  # type: ignore[attr-defined]


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


def test_the_read_is_the_check_one_statement_not_two(monkeypatch):
    _new_request()
    checks: list[bool] = []

    def is_usable() -> bool:
        checks.append(True)
        return True

    monkeypatch.setattr(connection, "is_usable", is_usable)

    with CaptureQueriesContext(connection) as queries:
        row = healthcheck.fetchone(connection, "SELECT %s + 1", [41])
        again = healthcheck.fetchone(connection, "SELECT %s + 1", [1])

    assert (row, again) == ((42,), (2,))
    assert checks == []  # no `SELECT 1` before it
    assert connection.health_check_done  # type: ignore[attr-defined]
    assert len(queries) == 2


def test_a_connection_that_broke_while_idle_is_replaced_and_the_read_answered():
    _new_request()
    dead = _backend_pid()
    _new_request()  # the next one, after the server dropped the connection
    params = connection.get_connection_params()
    with psycopg.connect(**params, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [dead])

    row = healthcheck.fetchone(connection, "SELECT %s || '好'", ["很"])

    assert row == ("很好",)
    assert _backend_pid() != dead


def test_an_error_of_the_read_itself_is_raised_and_the_connection_kept():
    _new_request()
    pid = _backend_pid()
    _new_request()

    with pytest.raises(DatabaseError, match="no_such_table"):
        healthcheck.fetchone(connection, "SELECT 1 FROM no_such_table WHERE 1 = %s", [1])

    assert connection.connection is not None
    assert _backend_pid() == pid


def test_when_the_check_is_not_due_the_read_runs_as_it_is(monkeypatch):
    _new_request()
    healthcheck.fetchone(connection, "SELECT %s", [1])  # the check, done
    monkeypatch.setattr(connection, "is_usable", pytest.fail)

    assert healthcheck.fetchone(connection, "SELECT %s", [2]) == (2,)
