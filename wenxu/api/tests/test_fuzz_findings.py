"""What schemathesis found in the v1 API (issue #8 item 5), each fixed and pinned here.

- `GET /units` and `GET /categories` answered an undocumented 422 for a bad `active`.
- `GET /exports/jobs/{job_id}` (and `/file`) answered an undocumented 422 for a non-numeric id.
- `GET /exports/jobs/{job_id}/file` answered `text/csv`, documented as octet-stream.
- Text with a NUL character answered 500 on PostgreSQL wherever it reached the database: in a
  body, in the search `q`, in the need number of a path. (Filters that a Django form or a list
  of values checks refused it already.)
- `POST /visits` took a visit in the year 81 and showed its time with the offset of 1901's
  local mean time (+08:05:43, no RFC 3339 date-time), and an end in 9999 overflowed (500).
- `GET /stats/rates?end=0001-01-01` and the ledger exports with `date_to=9999-12-31` or
  `date_from=0001-01-01` overflowed computing the day before or after (500).
"""

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from wenxu.api.api import api
from wenxu.exchange import services as exchange_services
from wenxu.exchange.models import ExportJob
from wenxu.needs.models import Need, NeedEvent
from wenxu.visits.models import Visit

# As served: JSON, so status codes are strings.
SCHEMA = json.loads(json.dumps(api.get_openapi_schema(path_prefix="/api/v1/")))


def documented(path: str, method: str = "get") -> dict[str, Any]:
    responses: dict[str, Any] = SCHEMA["paths"]["/api/v1" + path][method]["responses"]
    return responses


# --------------------------------------------------------------------------- undocumented


@pytest.mark.parametrize("path", ["/units", "/categories"])
def test_a_bad_active_filter_is_a_documented_422(world, api_as, path):
    response = api_as(world.officer).get(path, {"active": "AAA"})

    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["active"]
    assert "422" in documented(path)


@pytest.mark.parametrize("suffix", ["", "/file"])
def test_a_non_numeric_export_job_id_is_a_documented_422(world, api_as, suffix):
    response = api_as(world.dispatcher).get(f"/exports/jobs/false{suffix}")

    assert response.status_code == 422
    assert "422" in documented("/exports/jobs/{job_id}" + suffix)


def test_a_finished_export_file_comes_in_a_documented_content_type(
    world, api_as, settings, tmp_path: Path
):
    settings.DATA_DIR = tmp_path
    world.register()
    prepared = exchange_services.export_prepare(
        user=world.dispatcher, data={}, columns=None, format=ExportJob.Format.CSV
    )
    job = exchange_services.export_job_create(prepared=prepared)
    assert exchange_services.export_job_run(job_id=job.pk)

    response = api_as(world.dispatcher).get(f"/exports/jobs/{job.pk}/file")

    assert response.status_code == 200
    content = documented("/exports/jobs/{job_id}/file")["200"]["content"]
    assert response["Content-Type"] in content
    assert set(content) == set(exchange_services.CONTENT_TYPES.values())


# --------------------------------------------------------------------------- NUL characters


def test_a_need_whose_text_holds_a_nul_is_refused_by_field(world, api_as):
    body = {
        "title": "路灯\x00不亮",
        "description": "村口路灯坏了。",
        "kind": "help",
        "source": "visit",
        "area": world.grid_a.pk,
        "requester": {"name": "张\x00三"},
    }

    response = api_as(world.officer).post("/needs", body)

    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"title", "requester.name"}
    assert "空字符" in response.json()["message"]
    assert not Need.objects.exists()


def test_a_nul_in_an_action_note_changes_nothing(world, api_as, life):
    need = life.in_progress()
    events = NeedEvent.objects.count()

    response = api_as(world.handler).act(need, "progress", note="已联系\x00施工队")

    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["note"]
    assert NeedEvent.objects.count() == events


def test_a_nul_in_a_visits_need_is_named_by_its_place(world, api_as):
    body = {
        "client_uuid": str(uuid.uuid4()),
        "kind": "home",
        "area": world.grid_a.pk,
        "started_at": "2026-11-01T09:00:00+08:00",
        "mood": 3,
        "needs": [
            {"title": "路灯", "description": "不亮", "kind": "help"},
            {"title": "漏水\x00", "description": "屋顶漏水", "kind": "help"},
        ],
    }

    response = api_as(world.officer).post("/visits", body)

    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["needs.1.title"]
    assert not Visit.objects.exists()


def test_a_nul_in_a_search_is_refused(world, api_as):
    response = api_as(world.dispatcher).get("/needs", {"q": "路灯\x00"})

    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["q"]


@pytest.mark.parametrize("path", ["/needs/{n}%00", "/needs/{n}%00/similar"])
def test_a_need_number_with_a_nul_is_no_such_need(world, api_as, path):
    need = world.register()

    response = api_as(world.dispatcher).get(path.format(n=need.number))

    assert response.status_code == 404


# --------------------------------------------------------------------------- visit times


def _visit(world: Any, **times: str) -> dict[str, Any]:
    return {
        "client_uuid": str(uuid.uuid4()),
        "kind": "home",
        "area": world.grid_a.pk,
        "started_at": "2026-11-01T09:00:00+08:00",
        "mood": 3,
        **times,
    }


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("started_at", "0081-03-13T05:17:13Z"),
        ("started_at", "1999-12-31T23:59:59+08:00"),
        ("ended_at", "9999-12-31T23:59:59Z"),
    ],
)
def test_a_visit_time_out_of_any_plausible_range_is_refused(world, api_as, field, value):
    response = api_as(world.officer).post("/visits", _visit(world, **{field: value}))

    assert response.status_code == 422
    assert list(response.json()["errors"]) == [field]
    assert not Visit.objects.exists()


def test_a_visit_from_the_year_2000_is_shown_as_an_rfc3339_time(world, api_as):
    response = api_as(world.officer).post(
        "/visits", _visit(world, started_at="2000-01-01T00:00:00+08:00")
    )

    assert response.status_code == 201
    assert response.json()["started_at"] == "2000-01-01T00:00:00+08:00"


# --------------------------------------------------------------------------- date filters


@pytest.mark.parametrize("query", [{"end": "0001-01-01"}, {"start": "1999-12-31"}])
def test_rates_before_2000_are_refused_not_overflowed(world, api_as, query):
    response = api_as(world.leader).get("/stats/rates", query)

    assert response.status_code == 422
    assert list(response.json()["errors"]) == list(query)


@pytest.mark.parametrize("query", [{"date_to": "9999-12-31"}, {"date_from": "0001-01-01"}])
@pytest.mark.parametrize("format", ["csv", "xlsx"])
def test_an_export_dated_at_the_ends_of_the_calendar_is_refused(world, api_as, query, format):
    response = api_as(world.dispatcher).get(f"/exports/ledger.{format}", query)

    assert response.status_code == 422
    assert list(response.json()["errors"]) == list(query)
    assert not ExportJob.objects.exists()


def test_an_export_within_the_dates_still_runs(world, api_as):
    world.register()

    response = api_as(world.dispatcher).get(
        "/exports/ledger.csv", {"date_from": "2000-01-01", "date_to": "2099-12-31"}
    )

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
