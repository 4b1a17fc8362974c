"""Schemathesis against the v1 API, in process: the schema, the checks, and how a case is sent.

The schema is the one the code serves (`test_openapi_snapshot.py` keeps the committed copy,
docs/api/openapi.json, equal to it). Requests go to Django's WSGI handler on the test's own
thread and database connection, so they see the fixtures' data and are rolled back with the
test.

Each distinct case of an operation is sent as the next persona in turn (`ROLES`), so every role
meets every operation. Random ids would only ever meet 404 and 422, so most cases have their
path ids, body ids and `version` swapped for real ones from the data set (`make_realistic`),
which carries them past validation into the services. Every choice hangs on the case's own
content: a run, and the replay of a failure, is deterministic.
"""

import os
import re
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import schemathesis
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from schemathesis.checks import not_a_server_error
from schemathesis.core import NotSet
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from wenxu.api.api import api
from wenxu.needs.models import Need

PREFIX = "/api/v1/"

# The personas of the root conftest's world (`outsider` has no role at all); `revoked` sends a
# token that was revoked, None no credentials.
ROLES: tuple[str | None, ...] = (
    "dispatcher",
    "officer",
    "handler",
    "leader",
    "admin",
    "outsider",
    "revoked",
    None,
)

# The requester of one need in the data set: these must never leave the server unmasked
# (DESIGN §7). Checked in every answer the text of which can be read (not inside an .xlsx zip).
PERSONAL_DATA = ("张三丰", "13912345678", "330102199001011234", "东河村三组18号")


def personal_data_masked(ctx: Any, response: Any, case: Any) -> None:
    text = response.content.decode("utf-8", "replace")
    leaked = [value for value in PERSONAL_DATA if value in text]
    assert not leaked, f"Unmasked personal data in the answer: {leaked}"


# The acceptance: no 5xx, and every answer is one the schema documents (status, content type,
# body); and ours: no personal data unmasked. Not the checks that judge the API's choices
# beyond its schema (e.g. that every negative input is refused).
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    personal_data_masked,
]

# Cases drawn per operation in the fuzzing phase; the coverage phase adds its boundary and
# wrong-type cases on top (from a few to a few hundred per operation). Tuned for CI time; a
# longer hunt on a workstation: WENXU_FUZZ_EXAMPLES=200 WENXU_FUZZ_SEED=1 (2, 3, …).
MAX_EXAMPLES = int(os.environ.get("WENXU_FUZZ_EXAMPLES", "12"))
SEED = int(os.environ.get("WENXU_FUZZ_SEED", "0"))

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": SEED,
        "generation": {
            "mode": "all",
            "max-examples": MAX_EXAMPLES,
            "deterministic": True,
            # Credentials are the personas' tokens, not generated ones.
            "with-security-parameters": False,
        },
    }
)


def load_schema() -> Any:
    schema = schemathesis.openapi.from_dict(
        api.get_openapi_schema(path_prefix=PREFIX), config=CONFIG
    )
    schema.app = WSGIHandler()
    return schema


@contextmanager
def same_connection() -> Iterator[None]:
    """Keep the test's database connection across requests, as Django's test client does.

    The WSGI handler otherwise closes "old" connections at the start and end of each request,
    which would close the test's transaction under it.
    """
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@dataclass
class FuzzData:
    """What the requests may refer to: the world's ids, and a token per persona."""

    tokens: dict[str, str]
    numbers: list[str]
    visit_ids: list[int]
    job_ids: list[int]
    area_ids: list[int]
    unit_ids: list[int]
    category_ids: list[int]
    user_ids: list[int]
    usernames: list[str]
    photo: bytes
    roles: dict[str, str | None] = field(default_factory=dict)

    def role_for(self, key: str, personas: tuple[str | None, ...]) -> str | None:
        if key not in self.roles:
            self.roles[key] = personas[len(self.roles) % len(personas)]
        return self.roles[key]


def case_key(case: Any) -> str:
    """The case's content as text: the same in every process (no object addresses)."""
    body = None if isinstance(case.body, NotSet) else case.body
    return repr(
        (case.method, case.path, case.path_parameters, case.query, dict(case.headers or {}), body)
    )


def _pick(options: list[Any], seed: int, salt: int) -> Any:
    return options[(seed // 7 + salt) % len(options)]


STATUSES = ["registered", "assigned", "in_progress", "replied", "following", "closed"]


def make_realistic(case: Any, data: FuzzData, seed: int) -> None:
    """Swap generated ids for real ones in three cases out of four (the fourth stays random);
    in half of those also the need's current `version`, so the action really runs."""
    level = seed % 4
    if level == 0:
        return
    params = case.path_parameters
    if params:
        if "number" in params:
            params["number"] = _pick(data.numbers, seed, 1)
        if "visit_id" in params:
            params["visit_id"] = _pick(data.visit_ids, seed, 2)
        if "job_id" in params:
            params["job_id"] = _pick(data.job_ids, seed, 3)
    query = case.query
    if isinstance(query, dict):
        for name, options in (
            ("area", data.area_ids),
            ("unit", data.unit_ids),
            ("category", data.category_ids),
        ):
            if name in query and query[name] is not None:
                query[name] = _pick(options, seed, 4)
        if "status" in query and level == 3:
            query["status"] = _pick(STATUSES, seed, 5)
    body = case.body
    if not isinstance(body, dict):
        return
    ids: dict[str, list[Any]] = {
        "area": data.area_ids,
        "category": data.category_ids,
        "lead_unit": data.unit_ids,
        "place": [None],
    }
    for name, options in ids.items():
        if name in body and isinstance(body[name], int):
            body[name] = _pick(options, seed, 6)
    if isinstance(body.get("co_units"), list):
        body["co_units"] = [_pick(data.unit_ids, seed, 7)]
    if isinstance(body.get("officers"), list):
        body["officers"] = [_pick(data.user_ids, seed, 8)]
    if isinstance(body.get("into"), str):
        body["into"] = _pick(data.numbers, seed, 9)
    if isinstance(body.get("username"), str) and level >= 2:
        body["username"] = _pick(data.usernames, seed, 10)
        if isinstance(body.get("password"), str):
            body["password"] = "pw-" + body["username"]
    if isinstance(body.get("file"), bytes) and level == 3:
        body["file"] = data.photo
    if "version" in body and params and "number" in params and level >= 2:
        current = Need.objects.filter(number=params["number"]).values_list("version", flat=True)
        body["version"] = current.first() or body["version"]


# Values that broke the API before and that the generator draws too rarely to meet in a short
# run: a NUL character (PostgreSQL refuses it: a 500), and the ends of the date range (local
# time overflows at 9999, and before 1901 has an offset in seconds that is no RFC 3339).
EDGES = {
    "datetime": ["9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "1900-06-01T12:00:00+08:00"],
    "date": ["9999-12-31", "0001-01-01"],
    "text": ["a\x00b", "\u202e倒序\u202c", "😀" * 3, " "],
}
DATETIME = re.compile(r"\d{4}-\d\d-\d\dT")
DATE = re.compile(r"\d{4}-\d\d-\d\d")


def _text_slots(value: Any) -> Iterator[tuple[Any, Any]]:
    """(container, key) of every string in a query or JSON body, nested ones included."""
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        if isinstance(item, str):
            yield value, key
        elif isinstance(item, dict | list):
            yield from _text_slots(item)


def inject_edge(case: Any, seed: int) -> None:
    """Put one edge value (`EDGES`, of the same kind) in place of one generated string."""
    slots = [
        slot
        for part in (case.query, case.body)
        if isinstance(part, dict | list)
        for slot in _text_slots(part)
    ]
    if not slots:
        return
    container, key = slots[seed % len(slots)]
    value = container[key]
    kind = "datetime" if DATETIME.match(value) else "date" if DATE.fullmatch(value) else "text"
    container[key] = _pick(EDGES[kind], seed, 11)


def send(case: Any, data: FuzzData, personas: tuple[str | None, ...] = ROLES) -> Any:
    """Send `case` as its persona and run the checks; a failure names who sent it.

    A case with nothing in it (no path, query or body: `DELETE /auth/token`, a plain list)
    goes out as every persona, since such an operation yields too few cases to go round.
    """
    key = case_key(case)
    seed = zlib.crc32(f"{SEED}:{key}".encode("utf-8", "backslashreplace"))
    empty = not case.path_parameters and not case.query and isinstance(case.body, NotSet)
    senders = personas if empty else (data.role_for(key, personas),)
    make_realistic(case, data, seed)
    if (seed >> 8) % 3 == 0:
        inject_edge(case, seed >> 10)
    response = None
    for role in senders:
        headers = {}
        if role is not None:
            headers["Authorization"] = f"Bearer {data.tokens[role]}"
        if seed % 3 == 0:
            headers["Accept-Language"] = "en"
        try:
            response = case.call_and_validate(headers=headers, checks=CHECKS)
        except FailureGroup as exc:
            exc.add_note(
                f"Sent as: {role or 'anonymous (no credentials)'}, headers: {sorted(headers)}"
            )
            raise
    return response
