"""Statements planned once per connection (wenxu.lib.planned): the rows a plain cursor gives,
prepared once per connection with a generic plan on PostgreSQL, seen by Django's query log,
errors as Django's, and nothing prepared where the setting is off."""

import os
import subprocess
import sys
from datetime import UTC, date, datetime
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext

from wenxu.lib.planned import numbered, planned_rows, prepares

postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL")

# values of each kind the rollup reads pass: ints, dates as text, a moment, a pattern, None
SQL = (
    "SELECT %s + 1, %s, %s, CASE WHEN %s LIKE %s THEN 'yes' ELSE 'no' END, COALESCE(%s, 'none'), %s"
)
PARAMS: list[Any] = [
    41,
    "2026-10-10",
    datetime(2026, 10, 10, 1, 2, 3, tzinfo=UTC),
    "/0001/0002/",
    "/0001/%",
    None,
    "张三",
]


def _plain(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def _prepared(fragment: str) -> list[tuple[int, int]]:
    """(generic plans, custom plans) of this connection's prepared statements that hold
    `fragment`."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
            "WHERE statement LIKE %s",
            [f"%{fragment}%"],
        )
        return [(int(g), int(c)) for g, c in cursor.fetchall()]


@pytest.mark.django_db
def test_the_rows_are_those_a_plain_cursor_gives():
    first = planned_rows(SQL, PARAMS)
    again = planned_rows(SQL, PARAMS)

    assert first == again == _plain(SQL, PARAMS)
    # on PostgreSQL the text comes back as a date would be compared, the moment as a moment
    assert first[0][0] == 42
    assert first[0][3:] == ("yes", "none", "张三")


@pytest.mark.django_db
def test_a_planned_statement_is_seen_by_the_query_log():
    with CaptureQueriesContext(connection) as captured:
        planned_rows("SELECT %s + 2", [1])

    assert [q["sql"] for q in captured.captured_queries] == ["SELECT 1 + 2"]


@postgresql_only
@pytest.mark.django_db
def test_a_statement_is_planned_once_per_connection_with_a_generic_plan():
    sql = "SELECT count(*) FROM organisations_area WHERE depth >= %s AND path LIKE %s"
    assert prepares(connection)

    for depth in (0, 1, 2, 0):
        planned_rows(sql, [depth, "/%"])

    # one prepared statement, planned once and generic: no run was planned for its values
    found = _prepared("FROM organisations_area WHERE depth >= $1")
    assert len(found) == 1
    generic, custom = found[0]
    assert generic == 4
    assert custom == 0


@postgresql_only
@pytest.mark.django_db
def test_without_the_setting_nothing_is_prepared(monkeypatch):
    options = dict(connection.settings_dict["OPTIONS"])
    options.pop("prepare_threshold")
    monkeypatch.setitem(connection.settings_dict, "OPTIONS", options)
    assert not prepares(connection)

    rows = planned_rows("SELECT %s * 7 AS unprepared_marker", [6])

    assert rows == [(42,)]
    assert _prepared("unprepared_marker") == []


@pytest.mark.django_db
def test_an_error_is_djangos_and_the_connection_goes_on():
    with pytest.raises(DatabaseError), transaction.atomic():
        planned_rows("SELECT name FROM no_such_table WHERE id = %s", [0])

    assert planned_rows("SELECT %s", [date(2026, 10, 10).isoformat()]) == [("2026-10-10",)]


def _options(tmp_path, **env: str) -> str:
    code = "import wenxu.settings as s; print(s.DATABASES['default'].get('OPTIONS'))"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WENXU_")}
    clean.update({"WENXU_DATA_DIR": str(tmp_path), **env})
    result = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code], env=clean, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_postgresql_connections_prepare_with_generic_plans_unless_turned_off(tmp_path):
    url = "postgres://u@127.0.0.1:5432/wenxu"

    on = _options(tmp_path, WENXU_DATABASE_URL=url)
    off = _options(tmp_path, WENXU_DATABASE_URL=url, WENXU_DB_PREPARED_STATEMENTS="false")
    kept = _options(tmp_path, WENXU_DATABASE_URL=f"{url}?options=-c%20statement_timeout%3D5000")

    assert "'prepare_threshold': 5" in on
    assert "plan_cache_mode=force_generic_plan" in on
    assert "prepare_threshold" not in off
    assert "plan_cache_mode" not in off
    # an operator's own options stay, ours are added
    assert "-c statement_timeout=5000 -c plan_cache_mode=force_generic_plan" in kept


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT %s + %s", "SELECT $1 + $2"),
        ("SELECT 1", "SELECT 1"),
        ("WHERE path LIKE '/1/%%' AND depth = %s", "WHERE path LIKE '/1/%' AND depth = $1"),
        ("SELECT '%%s', %s", "SELECT '%s', $1"),  # an escaped percent before an s
        ("SELECT %s%%%s", "SELECT $1%$2"),
    ],
)
def test_statements_are_sent_with_postgresqls_own_placeholders(sql, expected):
    assert numbered(sql) == expected


@pytest.mark.django_db
def test_a_percent_sign_in_a_planned_statement_is_a_percent_sign():
    rows = planned_rows("SELECT %s || '%%', 'a%%b' LIKE %s", ["50", "a%%"])

    assert rows == [("50%", True)]
