"""Counting a dashboard's reads of data."""

from typing import Any

# What `selectors.serial_reads` sends around the area ranking when its days start or end
# within a month: a SET LOCAL, and here, inside a test's transaction, a savepoint. No read.
_CONTROL = ("SAVEPOINT", "RELEASE SAVEPOINT", "SET LOCAL")


def data_reads(captured: Any) -> int:
    """The statements of a CaptureQueriesContext that read data; at most one serial wrapper
    among the others."""
    control = [q for q in captured.captured_queries if q["sql"].startswith(_CONTROL)]
    assert len(control) <= 3, control
    return len(captured.captured_queries) - len(control)
