from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from wenxu.accounts import services as account_services
from wenxu.accounts.models import ApiToken


def _token_post(client, body, **headers):
    return client.post(
        "/api/v1/auth/token", data=body, content_type="application/json", headers=headers
    )


def test_token_is_issued_for_right_credentials_and_only_its_hash_is_stored(world, settings):
    settings.WENXU_API_TOKEN_DAYS = 7

    response = _token_post(Client(), {"username": "officer", "password": "pw-officer"})

    assert response.status_code == 200
    body = response.json()
    raw = body["token"]
    token = ApiToken.objects.get(user=world.officer)
    assert token.key_hash == ApiToken.hash_of(raw)
    assert raw not in {token.key_hash, token.prefix}
    assert timedelta(days=6, hours=23) < token.expires_at - timezone.now() <= timedelta(days=7)
    assert body["expires_at"].endswith("+08:00")


def test_issued_token_authenticates_later_requests(world):
    raw = _token_post(Client(), {"username": "officer", "password": "pw-officer"}).json()["token"]

    response = Client().get("/api/v1/needs", headers={"Authorization": f"Bearer {raw}"})

    assert response.status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"username": "officer", "password": "wrong"},
        {"username": "nobody", "password": "pw-officer"},
    ],
)
def test_wrong_credentials_answer_401_in_chinese_and_issue_nothing(world, body):
    response = _token_post(Client(), body)

    assert response.status_code == 401
    assert response.json() == {"code": "invalid_credentials", "message": "用户名或密码错误。"}
    assert not ApiToken.objects.exists()


def test_deactivated_user_gets_no_token(world):
    world.officer.is_active = False
    world.officer.save(update_fields=["is_active"])

    response = _token_post(Client(), {"username": "officer", "password": "pw-officer"})

    assert response.status_code == 401


def test_token_request_with_missing_password_is_422(world):
    response = _token_post(Client(), {"username": "officer"})

    assert response.status_code == 422
    assert response.json()["errors"] == {"password": ["此项为必填项。"]}


def test_request_without_credentials_answers_401_with_chinese_message(world):
    response = Client().get("/api/v1/needs")

    assert response.status_code == 401
    assert response.json()["code"] == "unauthenticated"
    assert "登录" in response.json()["message"]
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_unknown_token_answers_401(world):
    response = Client().get("/api/v1/needs", headers={"Authorization": "Bearer wx_not-a-token"})

    assert response.status_code == 401
    assert "令牌" in response.json()["message"]


def test_expired_token_answers_401(world):
    raw, _token = account_services.api_token_issue(user=world.officer)

    with time_machine.travel(timezone.now() + timedelta(days=31), tick=False):
        response = Client().get("/api/v1/needs", headers={"Authorization": f"Bearer {raw}"})

    assert response.status_code == 401
    assert response.json()["code"] == "unauthenticated"


def test_revoked_token_answers_401(world):
    raw, token = account_services.api_token_issue(user=world.officer)
    account_services.api_token_revoke(token=token)

    response = Client().get("/api/v1/needs", headers={"Authorization": f"Bearer {raw}"})

    assert response.status_code == 401


def test_token_of_deactivated_user_answers_401(world):
    raw, _token = account_services.api_token_issue(user=world.officer)
    world.officer.is_active = False
    world.officer.save(update_fields=["is_active"])

    response = Client().get("/api/v1/needs", headers={"Authorization": f"Bearer {raw}"})

    assert response.status_code == 401


def test_token_stops_working_when_the_password_changes(world):
    raw = _token_post(Client(), {"username": "officer", "password": "pw-officer"}).json()["token"]
    headers = {"Authorization": f"Bearer {raw}"}
    assert Client().get("/api/v1/needs", headers=headers).status_code == 200

    world.officer.set_password("new-pw-officer")
    world.officer.save()
    response = Client().get("/api/v1/needs", headers=headers)

    assert response.status_code == 401
    assert response.json() == {
        "code": "unauthenticated",
        "message": "令牌已失效（密码已更改），请重新获取。",
    }
    fresh = _token_post(Client(), {"username": "officer", "password": "new-pw-officer"})
    assert fresh.status_code == 200
    fresh_headers = {"Authorization": f"Bearer {fresh.json()['token']}"}
    assert Client().get("/api/v1/needs", headers=fresh_headers).status_code == 200


def test_token_survives_a_profile_change_that_keeps_the_password(world):
    raw, _token = account_services.api_token_issue(user=world.officer)
    world.officer.display_name = "东河镇网格员"
    world.officer.email = "officer@example.com"
    world.officer.save()

    response = Client().get("/api/v1/needs", headers={"Authorization": f"Bearer {raw}"})

    assert response.status_code == 200


def test_token_without_a_credential_fingerprint_is_refused(world):
    # Tokens issued before fingerprints were stored have an empty one: they must be renewed.
    raw, token = account_services.api_token_issue(user=world.officer)
    ApiToken.objects.filter(pk=token.pk).update(session_hash="")

    response = Client().get("/api/v1/needs", headers={"Authorization": f"Bearer {raw}"})

    assert response.status_code == 401


def test_unsafe_request_with_expired_token_answers_401_not_csrf_403(world):
    raw, token = account_services.api_token_issue(user=world.officer)
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    client = Client(enforce_csrf_checks=True)

    response = client.post(
        "/api/v1/needs",
        data={},
        content_type="application/json",
        headers={"Authorization": f"Bearer {raw}"},
    )

    assert response.status_code == 401


def test_delete_token_revokes_the_token_in_use(world):
    raw, token = account_services.api_token_issue(user=world.officer)
    headers = {"Authorization": f"Bearer {raw}"}

    assert Client().delete("/api/v1/auth/token", headers=headers).status_code == 204

    token.refresh_from_db()
    assert token.revoked_at is not None
    assert Client().get("/api/v1/needs", headers=headers).status_code == 401


def test_last_used_at_is_written_at_most_once_a_minute(world):
    raw, token = account_services.api_token_issue(user=world.officer)
    headers = {"Authorization": f"Bearer {raw}"}
    start = timezone.now()

    with time_machine.travel(start, tick=False):
        Client().get("/api/v1/units", headers=headers)
    token.refresh_from_db()
    assert token.last_used_at == start

    with time_machine.travel(start + timedelta(seconds=30), tick=False):
        Client().get("/api/v1/units", headers=headers)
    token.refresh_from_db()
    assert token.last_used_at == start

    with time_machine.travel(start + timedelta(seconds=61), tick=False):
        Client().get("/api/v1/units", headers=headers)
    token.refresh_from_db()
    assert token.last_used_at == start + timedelta(seconds=61)


def test_session_user_can_read_without_token(world):
    client = Client()
    client.force_login(world.officer)

    assert client.get("/api/v1/needs").status_code == 200


def test_session_write_without_csrf_token_is_refused(world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.dispatcher)
    need = world.register()

    response = client.post(
        f"/api/v1/needs/{need.number}/withdraw",
        data={"version": need.version, "reason": "重复登记"},
        content_type="application/json",
    )

    assert response.status_code == 403
    assert response.json()["code"] == "csrf_failed"
    need.refresh_from_db()
    assert need.status == "registered"


def test_session_write_with_csrf_token_is_accepted(world):
    client = Client(enforce_csrf_checks=True)
    client.get("/accounts/login/")  # sets the CSRF cookie, as the browser would have it
    client.force_login(world.dispatcher)
    csrf = client.cookies["csrftoken"].value
    need = world.register()

    response = client.post(
        f"/api/v1/needs/{need.number}/withdraw",
        data={"version": need.version, "reason": "重复登记"},
        content_type="application/json",
        headers={"X-CSRFToken": csrf},
    )

    assert response.status_code == 200
    assert response.json()["status"] == "withdrawn"
