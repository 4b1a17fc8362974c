"""The v1 API schema is committed (docs/api/openapi.json) so that every change shows in review.

CI also regenerates it with `make openapi` and fails on any difference (`git diff`).
"""

import json
from pathlib import Path

from wenxu.api.api import api

SNAPSHOT = Path(__file__).resolve().parents[3] / "docs" / "api" / "openapi.json"


def test_committed_openapi_schema_matches_the_code():
    current = json.loads(json.dumps(api.get_openapi_schema(path_prefix="/api/v1/")))
    committed = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    assert current == committed, (
        "The API changed: run `make openapi` and commit docs/api/openapi.json."
    )
