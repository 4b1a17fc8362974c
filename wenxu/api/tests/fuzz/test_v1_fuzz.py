"""Issue #8: schemathesis on every v1 operation, as every persona: no 5xx, nothing undocumented.

One test per operation (pytest id `test_v1_api[METHOD /path]`): the coverage phase's boundary
and wrong-type cases, then `MAX_EXAMPLES` drawn cases, each sent by the next persona in turn
(see `harness`). The data set is rolled back after each operation.
"""

from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from wenxu.api.tests.fuzz.harness import MAX_EXAMPLES, ROLES, FuzzData, load_schema, send

schema = load_schema()


# (The parametrization also gives each operation its own test id under pytest 9, which
# schemathesis 4.32 does not do by itself: without it all items are named `test_v1_api`.)
@pytest.mark.parametrize("personas", [ROLES], ids=["all-personas"])
@schema.parametrize()  # type: ignore[untyped-decorator]
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)
def test_v1_api(case: Any, fuzz_data: FuzzData, personas: tuple[str | None, ...]) -> None:
    send(case, fuzz_data, personas)
