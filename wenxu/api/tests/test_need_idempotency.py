"""`POST /api/v1/needs` and `POST /api/v1/needs/{number}/attachments` with a client UUID:
a replay answers the record the first request made; a reused UUID with other content, 409."""

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
from wenxu.needs.models import Attachment, Need, NeedEvent


def _body(world: World, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "client_uuid": str(uuid.uuid4()),
        "title": "村口路灯不亮",
        "description": "村口三盏路灯坏了一个多月。",
        "kind": "help",
        "source": "visit",
        "area": world.grid_a.pk,
    }
    body.update(overrides)
    return body


def _upload(
    api: Api, number: str, content: bytes, name: str, content_type: str, **data: Any
) -> Any:
    file = SimpleUploadedFile(name, content, content_type=content_type)
    return api.client.post(
        f"{BASE}/needs/{number}/attachments", {"file": file, **data}, headers=api.headers
    )


def _jpeg() -> bytes:
    out = BytesIO()
    Image.new("RGB", (64, 48), (200, 40, 40)).save(out, "JPEG")
    return out.getvalue()


@pytest.fixture
def media(settings: Any, tmp_path: Any) -> Any:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def test_first_post_creates_and_the_replay_returns_the_same_need(world: World, api_as: Any) -> None:
    api: Api = api_as(world.officer)
    body = _body(world)

    first = api.post("/needs", body)
    events = NeedEvent.objects.count()
    again = api.post("/needs", body)

    assert first.status_code == 201, first.json()
    assert again.status_code == 200
    assert again.json()["number"] == first.json()["number"]
    assert Need.objects.count() == 1
    assert NeedEvent.objects.count() == events
    assert str(Need.objects.get().client_uuid) == body["client_uuid"]


def test_on_the_spot_replay_returns_the_same_need(world: World, api_as: Any) -> None:
    api: Api = api_as(world.officer)
    body = _body(world, handling="on_the_spot", reply_text="现场更换灯泡。")
    first = api.post("/needs", body)
    again = api.post("/needs", body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["status"] == "replied"
    assert Need.objects.count() == 1


def test_same_uuid_with_a_different_body_is_409_and_changes_nothing(
    world: World, api_as: Any
) -> None:
    api: Api = api_as(world.officer)
    body = _body(world)
    api.post("/needs", body)
    before = list(Need.objects.values_list("number", "title", "version"))

    response = api.post("/needs", {**body, "title": "另一件事"})

    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_conflict"
    assert list(Need.objects.values_list("number", "title", "version")) == before


def test_another_users_uuid_is_409(world: World, api_as: Any) -> None:
    body = _body(world)
    assert api_as(world.officer).post("/needs", body).status_code == 201

    response = api_as(world.dispatcher).post("/needs", body)

    assert response.status_code == 409
    assert Need.objects.count() == 1


def test_a_need_uuid_taken_by_a_visit_need_is_409(world: World, api_as: Any) -> None:
    api: Api = api_as(world.officer)
    key = str(uuid.uuid4())
    visit = {
        "client_uuid": str(uuid.uuid4()),
        "kind": "home",
        "area": world.grid_a.pk,
        "started_at": "2026-11-20T09:00:00+08:00",
        "mood": 3,
        "needs": [{**_body(world, client_uuid=key), "area": None}],
    }
    assert api.post("/visits", visit).status_code == 201

    response = api.post("/needs", _body(world, client_uuid=key))

    assert response.status_code == 409
    assert Need.objects.count() == 1


def test_without_uuid_each_post_is_a_new_need(world: World, api_as: Any) -> None:
    api: Api = api_as(world.officer)
    body = _body(world)
    del body["client_uuid"]
    assert api.post("/needs", body).status_code == 201
    assert api.post("/needs", body).status_code == 201
    assert Need.objects.count() == 2


def test_invalid_body_with_a_fresh_uuid_writes_nothing_and_can_be_fixed(
    world: World, api_as: Any
) -> None:
    api: Api = api_as(world.officer)
    body = _body(world, title=" ")
    assert api.post("/needs", body).status_code == 422
    assert Need.objects.count() == 0

    fixed = api.post("/needs", {**body, "title": "村口路灯不亮"})

    assert fixed.status_code == 201


@pytest.mark.django_db(transaction=True)
def test_two_copies_of_one_need_at_once_make_one_need(world: World, api_as: Any) -> None:
    body = _body(world)
    clients = [api_as(world.officer), api_as(world.officer)]
    barrier = threading.Barrier(2)
    answers: list[tuple[int, str]] = []

    def send(api: Api) -> None:
        try:
            barrier.wait(timeout=10)
            response = api.post("/needs", body)
            answers.append((response.status_code, response.json().get("number", "")))
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(api,)) for api in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(status for status, _ in answers) == [200, 201], answers
    assert len({number for _, number in answers}) == 1
    assert Need.objects.count() == 1


# --------------------------------------------------------------------------- attachments


def test_attachment_replay_keeps_one_attachment(world: World, api_as: Any, media: Any) -> None:
    api: Api = api_as(world.officer)
    number = api.post("/needs", _body(world)).json()["number"]
    key = str(uuid.uuid4())

    first = _upload(api, number, _jpeg(), "现场.jpg", "image/jpeg", client_uuid=key)
    again = _upload(api, number, _jpeg(), "现场.jpg", "image/jpeg", client_uuid=key)

    assert first.status_code == 201, first.json()
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert Attachment.objects.count() == 1


def test_attachment_uuid_used_on_another_need_is_409(world: World, api_as: Any, media: Any) -> None:
    api: Api = api_as(world.officer)
    one = api.post("/needs", _body(world)).json()["number"]
    two = api.post("/needs", _body(world)).json()["number"]
    key = str(uuid.uuid4())
    assert _upload(api, one, _jpeg(), "a.jpg", "image/jpeg", client_uuid=key).status_code == 201

    response = _upload(api, two, _jpeg(), "a.jpg", "image/jpeg", client_uuid=key)

    assert response.status_code == 409
    assert Attachment.objects.filter(need__number=two).count() == 0


def test_unusable_file_is_422_on_the_file_field(world: World, api_as: Any, media: Any) -> None:
    api: Api = api_as(world.officer)
    number = api.post("/needs", _body(world)).json()["number"]

    response = _upload(api, number, b"just text", "说明.txt", "text/plain")

    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["file"]
    assert "说明.txt" in response.json()["errors"]["file"][0]
    assert Attachment.objects.count() == 0


def test_attachment_to_a_need_out_of_scope_is_404(world: World, api_as: Any, media: Any) -> None:
    number = api_as(world.officer).post("/needs", _body(world)).json()["number"]
    response = _upload(api_as(world.officer_b), number, _jpeg(), "a.jpg", "image/jpeg")
    assert response.status_code == 404
    assert Attachment.objects.count() == 0
