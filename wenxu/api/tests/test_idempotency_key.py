"""`Idempotency-Key` on API POSTs: a retry gets the first answer and nothing runs twice."""

import threading
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from conftest import World
from wenxu.api.idempotency import idempotency_purge
from wenxu.api.models import IdempotentRequest
from wenxu.api.tests.conftest import Api
from wenxu.integrations.models import ApiClient
from wenxu.needs.models import Need, NeedEvent


def _need(world: World, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "村口路灯不亮",
        "description": "村口三盏路灯坏了一个多月。",
        "kind": "help",
        "source": "hotline",
        "area": world.grid_a.pk,
    }
    body.update(overrides)
    return body


def test_the_same_key_and_body_store_one_need_and_answer_the_same(world: World, api_as):
    api: Api = api_as(world.officer)
    key = {"Idempotency-Key": str(uuid.uuid4())}

    first = api.post("/needs", _need(world), headers=key)
    again = api.post("/needs", _need(world), headers=key)

    assert first.status_code == 201, first.content
    assert again.status_code == 201
    assert again.content == first.content
    assert again["Idempotent-Replayed"] == "true"
    assert not first.has_header("Idempotent-Replayed")
    assert Need.objects.count() == 1
    assert NeedEvent.objects.count() == 1


def test_the_same_key_with_another_body_is_refused_and_changes_nothing(world: World, api_as):
    api: Api = api_as(world.officer)
    key = {"Idempotency-Key": "retry-1"}
    api.post("/needs", _need(world), headers=key)

    other = api.post("/needs", _need(world, title="另一件事"), headers=key)

    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"
    assert "Idempotency-Key" in other.json()["message"]
    assert Need.objects.count() == 1


def test_keys_belong_to_the_credential_that_used_them(world: World, api_as):
    key = {"Idempotency-Key": "shared-key"}
    mine = api_as(world.officer).post("/needs", _need(world), headers=key)
    theirs = api_as(world.dispatcher).post("/needs", _need(world), headers=key)

    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["number"] != theirs.json()["number"]
    assert Need.objects.count() == 2


def test_a_retry_while_the_first_is_still_answered_gets_409(world: World, api_as):
    api: Api = api_as(world.officer)
    first = api.post("/needs", _need(world), headers={"Idempotency-Key": "slow"})
    assert first.status_code == 201
    # (as the row looks while the first request is still running)
    IdempotentRequest.objects.filter(key="slow").update(status=None, body=b"")

    again = api.post("/needs", _need(world), headers={"Idempotency-Key": "slow"})

    assert again.status_code == 409
    assert again.json()["code"] == "idempotency_in_progress"
    assert Need.objects.count() == 1


def test_refusals_are_replayed_too_and_requests_without_a_key_are_untouched(world: World, api_as):
    api: Api = api_as(world.officer)
    bad = _need(world, title="")
    first = api.post("/needs", bad, headers={"Idempotency-Key": "bad"})
    again = api.post("/needs", bad, headers={"Idempotency-Key": "bad"})
    assert first.status_code == again.status_code == 422
    assert again["Idempotent-Replayed"] == "true"

    api.post("/needs", _need(world))
    api.post("/needs", _need(world))
    assert Need.objects.count() == 2
    assert IdempotentRequest.objects.count() == 1


def test_a_blank_or_overlong_key_is_refused(world: World, api_as):
    api: Api = api_as(world.officer)
    for key in (" ", "k" * 256):
        response = api.post("/needs", _need(world), headers={"Idempotency-Key": key})
        assert response.status_code == 422
        assert response.json()["code"] == "idempotency_key_invalid"
    assert Need.objects.count() == 0


def test_actions_replay_instead_of_reporting_a_conflict(world: World, api_as):
    need = world.register()
    api: Api = api_as(world.dispatcher)
    body = {"lead_unit": world.housing.pk, "version": need.version}
    key = {"Idempotency-Key": "assign-1"}

    first = api.post(f"/needs/{need.number}/assign", body, headers=key)
    again = api.post(f"/needs/{need.number}/assign", body, headers=key)

    assert first.status_code == again.status_code == 200
    assert again.content == first.content
    assert NeedEvent.objects.filter(need=need, action="assign").count() == 1


def test_old_keys_are_purged_and_can_be_used_again(world: World, api_as, settings):
    settings.WENXU_IDEMPOTENCY_HOURS = 24
    api: Api = api_as(world.officer)
    api.post("/needs", _need(world), headers={"Idempotency-Key": "old"})
    with time_machine.travel(timezone.now() + timedelta(hours=25)):
        assert idempotency_purge() == 1
    assert api.post("/needs", _need(world), headers={"Idempotency-Key": "old"}).status_code == 201
    assert Need.objects.count() == 2


def test_the_worker_purges_old_keys_after_each_sweep(monkeypatch):
    from wenxu.core.management.commands.worker import sweep_loop
    from wenxu.needs.sweeps import SweepResult

    stop = threading.Event()
    purges: list[int] = []

    def purge() -> int:
        purges.append(1)
        if len(purges) == 2:
            stop.set()
        return 0

    monkeypatch.setattr("wenxu.needs.sweeps.sweep", lambda **kwargs: SweepResult())
    monkeypatch.setattr("wenxu.api.idempotency.idempotency_purge", purge)
    thread = threading.Thread(target=sweep_loop, args=(stop, 0.01), daemon=True)
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert len(purges) == 2


# --------------------------------------------------------------------------- Open311


def _open311_form(world: World, api_key: str, **overrides: Any) -> dict[str, Any]:
    body = {
        "api_key": api_key,
        "service_code": str(world.cat_roads.pk),
        "address_string": "东河村第一网格村口",
        "description": "村口三盏路灯坏了一个多月，晚上出行不便。",
        "phone": "13812345678",
    }
    body.update(overrides)
    return body


def _form_post(client: Client, url: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
    """Form-encoded, as the spec prescribes (the test client's default, multipart, is not)."""
    return client.post(
        url, urlencode(body), content_type="application/x-www-form-urlencoded", headers=headers
    )


def _open311_key(world: World, name: str = "12345 平台") -> str:
    from wenxu.integrations.services import api_client_issue

    raw, _client = api_client_issue(name=name, areas=[world.town_a])
    return raw


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_open311_post_twice_with_one_key_stores_one_need_and_answers_the_same(
    world: World, client: Client, fmt: str
) -> None:
    raw = _open311_key(world)
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    url = f"/open311/v2/requests.{fmt}"

    first = _form_post(client, url, _open311_form(world, raw), headers=headers)
    again = _form_post(client, url, _open311_form(world, raw), headers=headers)

    assert first.status_code == 200, first.content
    assert again.status_code == 200
    assert again.content == first.content
    assert again["Content-Type"] == first["Content-Type"]
    assert again["Idempotent-Replayed"] == "true"
    assert not first.has_header("Idempotent-Replayed")
    assert Need.objects.count() == 1
    assert NeedEvent.objects.count() == 1
    principal = IdempotentRequest.objects.get().principal
    assert principal == f"apiclient:{ApiClient.objects.get().pk}"


def test_open311_key_reused_for_another_body_is_refused_in_the_open311_format(
    world: World, client: Client
) -> None:
    raw = _open311_key(world)
    headers = {"Idempotency-Key": "o311-1"}
    _form_post(client, "/open311/v2/requests.json", _open311_form(world, raw), headers=headers)

    other = _form_post(
        client,
        "/open311/v2/requests.xml",
        _open311_form(world, raw, description="另一件事：水管漏水好几天了。"),
        headers=headers,
    )
    blank = _form_post(
        client,
        "/open311/v2/requests.json",
        _open311_form(world, raw),
        headers={"Idempotency-Key": " "},
    )

    assert other.status_code == 422
    assert other["Content-Type"] == "text/xml; charset=utf-8"
    assert b"<errors><error><code>422</code><description>" in other.content
    assert b"Idempotency-Key" in other.content
    assert blank.status_code == 422
    assert blank.json()[0]["code"] == 422
    assert Need.objects.count() == 1


def test_open311_keys_are_per_api_key_and_refusals_without_a_key_are_not_kept(
    world: World, client: Client
) -> None:
    headers = {"Idempotency-Key": "shared"}
    url = "/open311/v2/requests.json"
    mine = _form_post(client, url, _open311_form(world, _open311_key(world, "甲")), headers=headers)
    theirs = _form_post(
        client, url, _open311_form(world, _open311_key(world, "乙")), headers=headers
    )
    anonymous = _form_post(client, url, _open311_form(world, ""), headers=headers)

    assert mine.status_code == theirs.status_code == 200
    assert mine.json()[0]["service_request_id"] != theirs.json()[0]["service_request_id"]
    assert anonymous.status_code == 403
    assert Need.objects.count() == 2
    assert IdempotentRequest.objects.count() == 2


def test_open311_rate_limit_refusals_are_not_kept_so_the_retry_can_succeed(
    world: World, client: Client
) -> None:
    from wenxu.integrations.models import ApiClient

    raw = _open311_key(world)
    ApiClient.objects.update(rate_limit=1)
    headers = {"Idempotency-Key": "after-the-limit"}
    url = "/open311/v2/requests.json"
    with time_machine.travel(timezone.now(), tick=False):  # all in one rate-limit minute
        client.get(url, {"api_key": raw})  # uses the minute's one call

        refused = _form_post(client, url, _open311_form(world, raw), headers=headers)
        ApiClient.objects.update(rate_limit=100)
        retried = _form_post(client, url, _open311_form(world, raw), headers=headers)

    assert refused.status_code == 429
    assert retried.status_code == 200
    assert not retried.has_header("Idempotent-Replayed")
    assert Need.objects.count() == 1


# --------------------------------------------------------------------------- what is never kept


@pytest.mark.parametrize("signed_in", ["none", "token", "session"])
def test_a_token_issued_under_an_idempotency_key_is_never_stored_or_replayed(
    world: World, api_as, signed_in: str
) -> None:
    user = world.officer
    api: Api = api_as(None if signed_in == "none" else user, session=signed_in == "session")
    body = {"username": user.username, "password": f"pw-{user.username}"}
    key = {"Idempotency-Key": "token-1"}

    first = api.post("/auth/token", body, headers=key)
    again = api.post("/auth/token", body, headers=key)

    assert first.status_code == again.status_code == 200, first.content
    assert first.json()["token"] != again.json()["token"]
    assert not again.has_header("Idempotent-Replayed")
    assert IdempotentRequest.objects.count() == 0


def test_v1_credential_refusals_leave_no_row_and_are_not_replayed(world: World, api_as) -> None:
    stranger = api_as(None, HTTP_AUTHORIZATION="Bearer not-a-token")
    need = world.register()
    officer: Api = api_as(world.officer)  # may not assign: 403
    assign = {"lead_unit": world.housing.pk, "version": need.version}

    for _attempt in range(2):
        refused = stranger.post("/needs", _need(world), headers={"Idempotency-Key": "k-401"})
        forbidden = officer.post(
            f"/needs/{need.number}/assign", assign, headers={"Idempotency-Key": "k-403"}
        )
        assert refused.status_code == 401
        assert forbidden.status_code == 403
        assert not refused.has_header("Idempotent-Replayed")
        assert not forbidden.has_header("Idempotent-Replayed")
    assert IdempotentRequest.objects.count() == 0


@pytest.mark.parametrize("where", ["form", "header"])
def test_open311_wrong_or_missing_keys_leave_no_row_and_their_403_is_not_replayed(
    world: World, client: Client, where: str
) -> None:
    url = "/open311/v2/requests.json"
    for api_key in ("wxk_garbage", "", "wxk_" + "x" * 300):
        for _attempt in range(2):
            headers = {"Idempotency-Key": "o311-bad"}
            body = _open311_form(world, api_key if where == "form" else "")
            if where == "header" and api_key:
                headers["X-Api-Key"] = api_key
            response = _form_post(client, url, body, headers=headers)
            assert response.status_code == 403
            assert not response.has_header("Idempotent-Replayed")
    assert IdempotentRequest.objects.count() == 0
    assert Need.objects.count() == 0


def test_open311_key_in_the_header_is_the_same_client_as_in_the_form(
    world: World, client: Client
) -> None:
    raw = _open311_key(world)
    url = "/open311/v2/requests.json"
    key = "same-client"

    first = _form_post(client, url, _open311_form(world, raw), {"Idempotency-Key": key})
    body = _open311_form(world, raw)
    again = _form_post(client, url, body, {"Idempotency-Key": key, "X-Api-Key": raw})

    assert first.status_code == again.status_code == 200
    assert again["Idempotent-Replayed"] == "true"
    assert Need.objects.count() == 1


# --------------------------------------------------------------------------- multipart, prefix


def test_open311_multipart_posts_with_one_key_store_one_need(world: World, client: Client) -> None:
    """Like two `curl -F` posts: each has its own multipart boundary."""
    from django.test.client import encode_multipart

    raw = _open311_key(world)
    url = "/open311/v2/requests.json"
    answers = []
    for boundary in ("------------------------a1b2c3", "------------------------d4e5f6"):
        body = encode_multipart(boundary, _open311_form(world, raw))
        answers.append(
            client.post(
                url,
                body,
                content_type=f"multipart/form-data; boundary={boundary}",
                headers={"Idempotency-Key": "curl-F"},
            )
        )
    other = client.post(
        url,
        _open311_form(world, raw, description="另一件事：水管漏水好几天了。"),
        headers={"Idempotency-Key": "curl-F"},
    )

    first, again = answers
    assert first.status_code == again.status_code == 200, first.content
    assert again.content == first.content
    assert again["Idempotent-Replayed"] == "true"
    assert other.status_code == 422
    assert Need.objects.count() == 1


def test_a_url_prefix_does_not_switch_idempotency_off(world: World, api_as) -> None:
    api: Api = api_as(world.officer, SCRIPT_NAME="/wenxu")
    key = {"Idempotency-Key": "behind-a-prefix"}

    first = api.post("/needs", _need(world), headers=key)
    again = api.post("/needs", _need(world), headers=key)

    assert first.status_code == 201, first.content
    assert again["Idempotent-Replayed"] == "true"
    assert Need.objects.count() == 1
    assert IdempotentRequest.objects.get().path == "/api/v1/needs"


# --------------------------------------------------------------------------- unreadable bodies


def test_a_v1_body_too_large_is_a_json_413_not_an_html_page(world: World, api_as, settings) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 50
    api: Api = api_as(world.officer)

    response = api.post("/needs", _need(world), headers={"Idempotency-Key": "big"})

    assert response.status_code == 413
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["code"] == "payload_too_large"
    assert response.json()["message"]
    assert IdempotentRequest.objects.count() == 0
    assert Need.objects.count() == 0


@pytest.mark.parametrize(
    ("setting", "status"),
    [("DATA_UPLOAD_MAX_NUMBER_FIELDS", 400), ("DATA_UPLOAD_MAX_MEMORY_SIZE", 413)],
)
@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_an_open311_body_django_refuses_is_an_open311_error(
    world: World, client: Client, settings, setting: str, status: int, fmt: str
) -> None:
    raw = _open311_key(world)
    setattr(settings, setting, 3)

    response = _form_post(
        client,
        f"/open311/v2/requests.{fmt}",
        _open311_form(world, raw),
        headers={"Idempotency-Key": "unreadable"},
    )

    assert response.status_code == status
    expected = "application/json" if fmt == "json" else "text/xml"
    assert response["Content-Type"].startswith(expected)
    assert f"<code>{status}</code>".encode() in response.content or (
        fmt == "json" and response.json()[0]["code"] == status
    )
    assert IdempotentRequest.objects.count() == 0


def test_a_key_with_a_nul_is_refused_without_a_database_error(world: World, api_as) -> None:
    api: Api = api_as(world.officer)

    response = api.post("/needs", _need(world), headers={"Idempotency-Key": "k\x00ey"})

    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_invalid"
    assert Need.objects.count() == 0
