"""The fuzzing harness fails when the API breaks its schema or leaks personal data: a fuzzer
that cannot fail is no test.

Each test breaks `GET /units` on purpose and sends one case through `harness.send`, as the
fuzz test does.
"""

from typing import Any

import pytest
from django.http import HttpResponse, JsonResponse
from schemathesis.core.failures import FailureGroup

from wenxu.api import refs
from wenxu.api.tests.fuzz.harness import FuzzData, load_schema, send
from wenxu.needs.exceptions import NotPermitted

SCHEMA = load_schema()
UNIT = {
    "id": 1,
    "name": "县住建局",
    "short_name": "",
    "parent": None,
    "path": "/1/",
    "depth": 0,
    "kind": "department",
    "active": True,
}


def _units_answer(monkeypatch: pytest.MonkeyPatch, answer: Any) -> None:
    def broken(**kwargs: Any) -> Any:
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(refs, "unit_list", broken)


def _send_units(fuzz_data: FuzzData) -> Any:
    case = SCHEMA["/api/v1/units"]["GET"].Case()
    return send(case, fuzz_data, personas=("dispatcher",))


def test_the_untouched_operation_passes(fuzz_data: FuzzData) -> None:
    assert _send_units(fuzz_data).status_code == 200


@pytest.mark.parametrize(
    ("answer", "failure"),
    [
        (RuntimeError("boom"), "Server error"),
        (NotPermitted(), "Undocumented status code"),
        (JsonResponse([{"id": "not a number"}], safe=False), "Response violates schema"),
        (HttpResponse("单位", content_type="text/plain"), "Undocumented Content-Type"),
        ([{**UNIT, "name": "张三丰 13912345678"}], "personal_data_masked"),
    ],
    ids=[
        "5xx",
        "undocumented-status",
        "schema-breaking-body",
        "undocumented-content-type",
        "unmasked-personal-data",
    ],
)
def test_a_broken_answer_fails_the_run(
    fuzz_data: FuzzData, monkeypatch: pytest.MonkeyPatch, answer: Any, failure: str
) -> None:
    _units_answer(monkeypatch, answer)

    with pytest.raises(FailureGroup) as caught:
        _send_units(fuzz_data)

    assert failure in str(caught.value)
    assert "Sent as: dispatcher" in "".join(getattr(caught.value, "__notes__", []))
