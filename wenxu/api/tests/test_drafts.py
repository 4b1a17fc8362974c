"""Drafts synced from a shared device (ADR 0009): `X-Wenxu-Draft-User` must name the caller, and
`GET /api/v1/visits?client_uuid=` finds an earlier version of a draft after a 409."""

import uuid
from io import BytesIO
from typing import Any
from urllib.parse import quote

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from conftest import World
from wenxu.api.tests.conftest import BASE, Api
from wenxu.needs.models import Attachment, Need
from wenxu.visits.models import Visit, VisitPhoto

HEADER = "X-Wenxu-Draft-User"


@pytest.fixture
def media(settings: Any, tmp_path: Any) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def _visit(world: World, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "client_uuid": str(uuid.uuid4()),
        "kind": "home",
        "area": world.grid_a.pk,
        "started_at": "2026-11-20T09:00:00+08:00",
        "mood": 3,
        "needs": [
            {
                "client_uuid": str(uuid.uuid4()),
                "title": "屋顶漏水",
                "description": "下雨时卧室屋顶漏水。",
                "kind": "help",
            }
        ],
    }
    body.update(overrides)
    return body


def _need(world: World) -> dict[str, Any]:
    return {
        "client_uuid": str(uuid.uuid4()),
        "title": "桥面坑洼",
        "description": "东河桥桥面有多处坑洼。",
        "kind": "help",
        "source": "visit",
        "area": world.grid_a.pk,
    }


def _jpeg() -> bytes:
    out = BytesIO()
    Image.new("RGB", (32, 32), (200, 40, 40)).save(out, "JPEG")
    return out.getvalue()


def _upload(api: Api, path: str, headers: dict[str, str]) -> Any:
    return api.client.post(
        BASE + path,
        {
            "file": SimpleUploadedFile("a.jpg", _jpeg(), content_type="image/jpeg"),
            "client_uuid": str(uuid.uuid4()),
        },
        headers={**api.headers, **headers},
    )


# --------------------------------------------------------------------------- whose draft


def test_visit_draft_of_another_user_is_refused_and_nothing_is_written(
    world: World, api_as: Any
) -> None:
    api: Api = api_as(world.officer, session=True)

    response = api.post("/visits", _visit(world), headers={HEADER: "officer_b"})

    assert response.status_code == 409
    assert response.json()["code"] == "draft_user_mismatch"
    assert response.json()["message"] == "此记录由 officer_b 记录，请由其本人登录后同步。"
    assert Visit.objects.count() == 0
    assert Need.objects.count() == 0


def test_need_draft_of_another_user_is_refused(world: World, api_as: Any) -> None:
    api: Api = api_as(world.officer, session=True)

    response = api.post("/needs", _need(world), headers={HEADER: "officer_b"})

    assert response.status_code == 409
    assert response.json()["code"] == "draft_user_mismatch"
    assert Need.objects.count() == 0


def test_drafts_of_the_caller_go_through_and_the_header_is_optional(
    world: World, api_as: Any
) -> None:
    api: Api = api_as(world.officer, session=True)

    assert api.post("/visits", _visit(world), headers={HEADER: "officer"}).status_code == 201
    assert api.post("/needs", _need(world), headers={HEADER: "officer"}).status_code == 201
    assert api.post("/needs", _need(world)).status_code == 201  # other API clients


def test_draft_user_header_is_percent_decoded(world: World, api_as: Any) -> None:
    world.officer.username = "王网格"
    world.officer.save()
    api: Api = api_as(world.officer, session=True)

    ok = api.post("/needs", _need(world), headers={HEADER: quote("王网格")})
    refused = api.post("/needs", _need(world), headers={HEADER: quote("李网格")})

    assert ok.status_code == 201
    assert refused.status_code == 409
    assert "李网格" in refused.json()["message"]


def test_photos_of_another_users_draft_are_refused(world: World, api_as: Any, media: None) -> None:
    api: Api = api_as(world.officer, session=True)
    visit = api.post("/visits", _visit(world)).json()
    need = api.post("/needs", _need(world)).json()

    to_visit = _upload(api, f"/visits/{visit['id']}/photos", {HEADER: "officer_b"})
    to_need = _upload(api, f"/needs/{need['number']}/attachments", {HEADER: "officer_b"})
    mine = _upload(api, f"/visits/{visit['id']}/photos", {HEADER: "officer"})

    assert (to_visit.status_code, to_need.status_code) == (409, 409)
    assert to_visit.json()["code"] == to_need.json()["code"] == "draft_user_mismatch"
    assert mine.status_code == 201
    assert VisitPhoto.objects.count() == 1
    assert Attachment.objects.count() == 0


# --------------------------------------------------------------------------- GET /visits


def test_visit_list_finds_a_visit_by_client_uuid(world: World, api_as: Any) -> None:
    api: Api = api_as(world.officer)
    body = _visit(world)
    recorded = api.post("/visits", body).json()
    api.post("/visits", _visit(world))

    found = api.get("/visits", {"client_uuid": body["client_uuid"], "mine": "true"})

    assert found.status_code == 200
    assert [v["id"] for v in found.json()] == [recorded["id"]]
    assert found.json()[0]["client_uuid"] == body["client_uuid"]
    assert [n["title"] for n in found.json()[0]["needs"]] == ["屋顶漏水"]
    assert len(api.get("/visits").json()) == 2


def test_visit_list_is_scoped_and_mine_means_recorded_by_the_caller(
    world: World, api_as: Any
) -> None:
    body = _visit(world)
    api_as(world.officer).post("/visits", body)

    other = api_as(world.officer_b).get("/visits", {"client_uuid": body["client_uuid"]})
    dispatcher = api_as(world.dispatcher)

    assert other.status_code == 200
    assert other.json() == []  # 西岭乡's officer does not see 东河镇's visits
    assert len(dispatcher.get("/visits", {"client_uuid": body["client_uuid"]}).json()) == 1
    assert (
        dispatcher.get("/visits", {"client_uuid": body["client_uuid"], "mine": True}).json() == []
    )


def test_visit_list_query_count_does_not_grow_with_visits(
    world: World, api_as: Any, django_assert_max_num_queries: Any
) -> None:
    api: Api = api_as(world.officer)
    for _n in range(6):
        api.post("/visits", _visit(world))

    with django_assert_max_num_queries(12):
        response = api.get("/visits", {"limit": 5})

    assert len(response.json()) == 5
    assert all(len(v["needs"]) == 1 for v in response.json())


def test_visit_list_requires_sign_in(api_as: Any, db: None) -> None:
    assert api_as(None).get("/visits").status_code == 401
