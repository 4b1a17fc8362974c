"""`POST /api/v1/visits` and `GET /api/v1/visits/{id}`: a visit with its needs, idempotent."""

import threading
import uuid
from io import BytesIO
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from PIL import Image

from conftest import World
from wenxu.api.tests.conftest import BASE, Api
from wenxu.needs.models import Need, NeedEvent
from wenxu.visits.models import Visit, VisitPhoto


def _body(world: World, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "client_uuid": str(uuid.uuid4()),
        "kind": "home",
        "area": world.grid_a.pk,
        "started_at": "2026-11-20T09:00:00+08:00",
        "ended_at": "2026-11-20T10:00:00+08:00",
        "people_met": 3,
        "summary": "入户了解老人生活情况。",
        "mood": 4,
        "needs": [
            {
                "client_uuid": str(uuid.uuid4()),
                "title": "屋顶漏水",
                "description": "下雨时卧室屋顶漏水，需要维修。",
                "kind": "help",
            },
            {
                "client_uuid": str(uuid.uuid4()),
                "title": "门口路灯不亮",
                "description": "门口路灯坏了，已现场联系电工修好。",
                "kind": "help",
                "handling": "on_the_spot",
                "reply_text": "电工现场更换灯泡，已恢复照明。",
            },
        ],
    }
    body.update(overrides)
    return body


def test_visit_with_two_needs_is_recorded_once_and_replay_returns_it(
    world: World, api_as: Any
) -> None:
    api: Api = api_as(world.officer)
    body = _body(world)

    first = api.post("/visits", body)
    assert first.status_code == 201, first.json()
    again = api.post("/visits", body)

    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert Visit.objects.count() == 1
    assert Need.objects.filter(visit_id=first.json()["id"]).count() == 2
    statuses = sorted(n["status"] for n in first.json()["needs"])
    assert statuses == ["registered", "replied"]


def test_same_uuid_with_different_body_is_refused_with_409(world: World, api_as: Any) -> None:
    api: Api = api_as(world.officer)
    body = _body(world)
    assert api.post("/visits", body).status_code == 201

    response = api.post("/visits", {**body, "summary": "另一段内容"})

    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_conflict"
    assert Visit.objects.count() == 1


def test_visit_without_needs_is_valid(world: World, api_as: Any) -> None:
    response = api_as(world.officer).post("/visits", _body(world, needs=[]))
    assert response.status_code == 201
    assert response.json()["needs"] == []


def test_bad_need_reports_its_index_and_writes_nothing(world: World, api_as: Any) -> None:
    body = _body(world)
    body["needs"][1]["reply_text"] = ""

    response = api_as(world.officer).post("/visits", body)

    assert response.status_code == 422
    assert "needs.1.reply_text" in response.json()["errors"]
    assert Visit.objects.count() == 0
    assert Need.objects.count() == 0


def test_other_townships_officer_gets_404_for_the_visit(world: World, api_as: Any) -> None:
    created = api_as(world.officer).post("/visits", _body(world)).json()
    assert api_as(world.officer_b).get(f"/visits/{created['id']}").status_code == 404
    assert api_as(world.leader).get(f"/visits/{created['id']}").status_code == 200


# --------------------------------------------------------------------------- hardening (issue #4)


def _state() -> tuple[int, int, int, list[tuple[str, str, int]]]:
    """Everything a visit upload may write, to show that a refused one changed nothing."""
    return (
        Visit.objects.count(),
        Need.objects.count(),
        NeedEvent.objects.count(),
        sorted(Need.objects.values_list("number", "status", "version")),
    )


def _upload(api: Api, path: str, content: bytes, name: str, content_type: str, **data: Any) -> Any:
    file = SimpleUploadedFile(name, content, content_type=content_type)
    return api.client.post(BASE + path, {"file": file, **data}, headers=api.headers)


def _jpeg() -> bytes:
    out = BytesIO()
    Image.new("RGB", (64, 48), (30, 140, 90)).save(out, "JPEG")
    return out.getvalue()


def test_replay_answers_the_same_records_with_the_same_counts(world: World, api_as: Any) -> None:
    api: Api = api_as(world.officer)
    body = _body(world)
    first = api.post("/visits", body).json()
    before = _state()

    again = api.post("/visits", body)

    assert again.status_code == 200
    assert again.json() == first
    assert _state() == before
    assert {n["client_uuid"] for n in first["needs"]} == {n["client_uuid"] for n in body["needs"]}


def test_replay_with_keys_in_another_order_is_still_a_replay(world: World, api_as: Any) -> None:
    api: Api = api_as(world.officer)
    body = _body(world)
    first = api.post("/visits", body).json()
    reordered = dict(reversed(list(body.items())))
    reordered["needs"] = [dict(reversed(list(n.items()))) for n in body["needs"]]

    again = api.post("/visits", reordered)

    assert again.status_code == 200
    assert again.json()["id"] == first["id"]


def test_conflicting_body_changes_nothing(world: World, api_as: Any) -> None:
    api: Api = api_as(world.officer)
    body = _body(world)
    api.post("/visits", body)
    before = _state()
    changed = {**body, "needs": [body["needs"][0]]}

    response = api.post("/visits", changed)

    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_conflict"
    assert _state() == before


def test_someone_elses_visit_uuid_is_a_conflict(world: World, api_as: Any) -> None:
    body = _body(world)
    assert api_as(world.officer).post("/visits", body).status_code == 201

    response = api_as(world.dispatcher).post("/visits", body)

    assert response.status_code == 409
    assert Visit.objects.count() == 1


def test_need_uuid_already_used_elsewhere_is_a_conflict(world: World, api_as: Any) -> None:
    api: Api = api_as(world.officer)
    first = _body(world)
    api.post("/visits", first)
    before = _state()
    second = _body(world)
    second["needs"][0]["client_uuid"] = first["needs"][1]["client_uuid"]

    response = api.post("/visits", second)

    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_conflict"
    assert _state() == before


def test_each_bad_need_is_named_by_its_index(world: World, api_as: Any) -> None:
    body = _body(world)
    body["needs"].append(
        {"client_uuid": str(uuid.uuid4()), "title": "x" * 201, "description": "", "kind": "x"}
    )
    body["needs"][0]["title"] = ""

    response = api_as(world.officer).post("/visits", body)

    assert response.status_code == 422
    errors = response.json()["errors"]
    assert {"needs.2.title", "needs.2.kind"} <= set(errors)
    assert errors["needs.2.title"] == ["最多 200 个字。"]
    assert not any(key.startswith("needs.1") for key in errors)
    assert Visit.objects.count() == 0


def test_need_errors_found_by_the_service_are_named_by_index_too(world: World, api_as: Any) -> None:
    body = _body(world)
    body["needs"][0]["title"] = "   "
    body["needs"][1]["reply_text"] = ""

    response = api_as(world.officer).post("/visits", body)

    assert response.status_code == 422
    assert {"needs.0.title", "needs.1.reply_text"} <= set(response.json()["errors"])
    assert _state()[:3] == (0, 0, 0)


def test_handler_cannot_record_a_visit(world: World, api_as: Any) -> None:
    response = api_as(world.handler).post("/visits", _body(world))
    assert response.status_code == 403
    assert Visit.objects.count() == 0


def test_officer_cannot_record_a_visit_in_another_township(world: World, api_as: Any) -> None:
    response = api_as(world.officer).post("/visits", _body(world, area=world.grid_b.pk))
    assert response.status_code == 422
    assert "area" in response.json()["errors"]
    assert _state()[:3] == (0, 0, 0)


def test_unknown_place_is_named_and_unknown_officer_looks_like_an_ineligible_one(
    world: World, api_as: Any
) -> None:
    api = api_as(world.officer)
    unknown = api.post("/visits", _body(world, place=987654, officers=[876543]))
    handler = api.post("/visits", _body(world, officers=[world.handler.pk]))

    assert unknown.status_code == handler.status_code == 422
    assert "987654" in unknown.json()["errors"]["place"][0]
    # No probing of user ids: a missing user and a handler get the same words.
    assert unknown.json()["errors"]["officers"] == handler.json()["errors"]["officers"]
    assert Visit.objects.count() == 0


def test_only_staff_of_the_area_may_be_named_as_having_gone_along(
    world: World, api_as: Any
) -> None:
    # Given officer_b works 西岭乡, the leader the whole county
    api = api_as(world.officer)

    other_township = api.post("/visits", _body(world, officers=[world.officer_b.pk]))
    leader = api.post("/visits", _body(world, officers=[world.leader.pk]))

    assert other_township.status_code == 422
    assert "officers" in other_township.json()["errors"]
    assert leader.status_code == 201
    # Going along lets the leader read the visit; officer_b could not have been named.
    assert Visit.objects.get().officers.filter(pk=world.leader.pk).exists()


def test_a_need_the_actor_may_not_solve_on_the_spot_is_reported_on_that_need(
    world: World, api_as: Any
) -> None:
    # The dispatcher may record visits and register needs, but 马上就办 is an officer's.
    body = _body(world)
    response = api_as(world.dispatcher).post("/visits", body)

    assert response.status_code == 422
    assert "needs.1.handling" in response.json()["errors"]
    assert Visit.objects.count() == 0


def test_a_replay_with_another_timezone_and_explicit_defaults_is_the_same_content(
    world: World, api_as: Any
) -> None:
    api = api_as(world.officer)
    body = _body(world)
    first = api.post("/visits", body)
    # 09:00+08:00 is 01:00Z; urgency "normal" is the default whether sent or not.
    again = {
        **body,
        "started_at": "2026-11-20T01:00:00Z",
        "ended_at": "2026-11-20T02:00:00Z",
        "needs": [{**body["needs"][0], "urgency": "normal"}, body["needs"][1]],
    }

    replay = api.post("/visits", again)

    assert replay.status_code == 200
    assert replay.json()["id"] == first.json()["id"]


def test_naive_start_is_refused_with_a_clear_message(world: World, api_as: Any) -> None:
    response = api_as(world.officer).post(
        "/visits", _body(world, started_at="2026-11-20T09:00:00", ended_at=None)
    )
    assert response.status_code == 422
    assert "时区" in response.json()["errors"]["started_at"][0]
    assert Visit.objects.count() == 0


def test_end_before_start_is_refused(world: World, api_as: Any) -> None:
    response = api_as(world.officer).post(
        "/visits", _body(world, ended_at="2026-11-20T08:59:00+08:00")
    )
    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["ended_at"]
    assert Visit.objects.count() == 0


def test_mood_outside_the_scale_and_unknown_fields_are_refused(world: World, api_as: Any) -> None:
    response = api_as(world.officer).post("/visits", _body(world, mood=6, colour="red"))
    assert response.status_code == 422
    assert {"mood", "colour"} <= set(response.json()["errors"])


def test_observed_need_is_reported_waiting_for_confirmation(world: World, api_as: Any) -> None:
    body = _body(world)
    body["needs"][0]["source"] = "observed"
    created = api_as(world.officer).post("/visits", body).json()
    observed = next(n for n in created["needs"] if n["source"] == "observed")
    assert observed["observed_confirmed_at"] is None
    assert Need.objects.get(number=observed["number"]).visit_id == created["id"]


def test_get_visit_shows_only_needs_in_the_viewers_scope(world: World, api_as: Any) -> None:
    body = _body(world)
    body["needs"][1] = {
        **body["needs"][0],
        "client_uuid": str(uuid.uuid4()),
        "area": world.grid_b.pk,
        "title": "西岭的事",
    }
    created = api_as(world.dispatcher).post("/visits", body)
    assert created.status_code == 201, created.json()

    seen = api_as(world.officer).get(f"/visits/{created.json()['id']}").json()

    assert [n["title"] for n in seen["needs"]] == ["屋顶漏水"]


# --------------------------------------------------------------------------- photos


@pytest.fixture
def media(settings: Any, tmp_path: Any) -> Any:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def test_photo_upload_is_idempotent_by_client_uuid(world: World, api_as: Any, media: Any) -> None:
    api: Api = api_as(world.officer)
    visit = api.post("/visits", _body(world)).json()
    key = str(uuid.uuid4())
    path = f"/visits/{visit['id']}/photos"

    first = _upload(api, path, _jpeg(), "门口.jpg", "image/jpeg", client_uuid=key)
    again = _upload(api, path, _jpeg(), "门口.jpg", "image/jpeg", client_uuid=key)

    assert first.status_code == 201, first.json()
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert VisitPhoto.objects.count() == 1
    assert [p["id"] for p in api.get(f"/visits/{visit['id']}").json()["photos"]] == [
        first.json()["id"]
    ]


def test_photo_uuid_used_on_another_visit_is_a_conflict(
    world: World, api_as: Any, media: Any
) -> None:
    api: Api = api_as(world.officer)
    one = api.post("/visits", _body(world)).json()
    two = api.post("/visits", _body(world, needs=[])).json()
    key = str(uuid.uuid4())
    assert (
        _upload(
            api, f"/visits/{one['id']}/photos", _jpeg(), "a.jpg", "image/jpeg", client_uuid=key
        ).status_code
        == 201
    )

    response = _upload(
        api, f"/visits/{two['id']}/photos", _jpeg(), "a.jpg", "image/jpeg", client_uuid=key
    )

    assert response.status_code == 409
    assert VisitPhoto.objects.filter(visit_id=two["id"]).count() == 0


def test_non_image_photo_is_refused_with_a_clear_message(
    world: World, api_as: Any, media: Any
) -> None:
    api: Api = api_as(world.officer)
    visit = api.post("/visits", _body(world)).json()

    response = _upload(
        api, f"/visits/{visit['id']}/photos", b"%PDF-1.4 minimal", "通知.pdf", "application/pdf"
    )

    assert response.status_code == 422
    errors = response.json()["errors"]
    assert list(errors) == ["file"]
    assert "通知.pdf" in errors["file"][0]
    assert "JPEG" in errors["file"][0]
    assert VisitPhoto.objects.count() == 0


def test_photo_of_someone_elses_visit_is_404(world: World, api_as: Any, media: Any) -> None:
    visit = api_as(world.officer).post("/visits", _body(world)).json()
    response = _upload(
        api_as(world.officer_b), f"/visits/{visit['id']}/photos", _jpeg(), "a.jpg", "image/jpeg"
    )
    assert response.status_code == 404
    assert VisitPhoto.objects.count() == 0


# --------------------------------------------------------------------------- concurrency


@pytest.mark.django_db(transaction=True)
def test_two_copies_of_one_upload_at_once_make_one_visit(world: World, api_as: Any) -> None:
    # given the outbox sends the same body twice at the same moment (a retry racing the first)
    body = _body(world)
    clients = [api_as(world.officer), api_as(world.officer)]
    barrier = threading.Barrier(2)
    answers: list[tuple[int, Any]] = []

    def send(api: Api) -> None:
        try:
            barrier.wait(timeout=10)
            response = api.post("/visits", body)
            answers.append((response.status_code, response.json()))
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(api,)) for api in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    # then one visit with its two needs, and both answers name it
    assert sorted(status for status, _ in answers) == [200, 201], answers
    assert len({answer["id"] for _, answer in answers}) == 1
    assert Visit.objects.count() == 1
    assert Need.objects.count() == 2
