"""`serial_plan`: the area ranking is planned without parallel workers (ADR 0040)."""

from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from wenxu.insight.selectors import StatsFilters, counts_for_user
from wenxu.insight.tests.planting import plant

MARKER = " WHERE wenxu_serial_plan()"
FREE_WORKERS = (
    "parallel_setup_cost",
    "parallel_tuple_cost",
    "min_parallel_table_scan_size",
    "min_parallel_index_scan_size",
)


def _plan(cursor, sql: str) -> str:
    cursor.execute(f"EXPLAIN {sql}")
    return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL")
def test_the_area_ranking_is_planned_without_parallel_workers(world):
    # given a month's needs, and days that start and end within months (the rollups and the
    # daily rows read together: the statement that got two parallel workers)
    plant(date(2026, 10, 20), world.grid_a, registered=3, overdue=1)
    plant(date(2026, 11, 10), world.grid_a, registered=2)
    filters = StatsFilters(date(2026, 10, 15), date(2026, 11, 20))
    counts = counts_for_user(user=world.leader, filters=filters)
    with CaptureQueriesContext(connection) as ctx:
        found = counts.by_area(filters.start, filters.end, top=10)
    assert [(row[3], row[4]) for row in found] == [(5, 1)]
    (statement,) = [q["sql"] for q in ctx.captured_queries if MARKER in q["sql"]]

    with connection.cursor() as cursor:
        # when parallel workers cost PostgreSQL's planner nothing
        for knob in FREE_WORKERS:
            cursor.execute(f"SET LOCAL {knob} = 0")
        # then the ranking's plan has none, and the marker costs nothing (folded away), while
        # the same statement without it gets them
        planned = _plan(cursor, statement)
        assert "Gather" not in planned
        assert "wenxu_serial_plan" not in planned
        assert "Gather" in _plan(cursor, statement.replace(MARKER, ""))
