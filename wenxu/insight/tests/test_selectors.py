"""`serial_reads`: the area ranking's statements without parallel workers, and nothing else."""

import pytest
from django.db import connection

from wenxu.insight import selectors


def _workers() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW max_parallel_workers_per_gather")
        return str(cursor.fetchone()[0])


@pytest.mark.django_db(transaction=True)  # a real transaction: SET LOCAL ends with it
@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL")
def test_serial_reads_turn_parallel_workers_off_for_their_statements_only():
    before = _workers()
    with selectors.serial_reads():
        assert _workers() == "0"
    assert _workers() == before != "0"
