"""Idle sessions are signed out (issue #9 item 1; WENXU_SESSION_IDLE_MINUTES, default 30)."""

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.test import Client

from wenxu.accounts import services as account_services
from wenxu.accounts.tests.login_helpers import login, signed_in

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
MESSAGE = "长时间未操作，已自动退出，请重新登录"


def _at(minutes: float):
    return time_machine.travel(START + timedelta(minutes=minutes), tick=False)


def test_requests_keep_a_session_alive_and_half_an_hour_idle_ends_it(world):
    with _at(0):
        client = signed_in(world.officer)
    for minute in (29, 58, 87):  # each request within 30 minutes of the one before
        with _at(minute):
            assert client.get("/").status_code == 200

    with _at(87 + 31):
        response = client.get("/ledger/?status=registered")

    assert response.status_code == 302
    target = urlsplit(response["Location"])
    assert target.path == "/accounts/login/"
    assert parse_qs(target.query) == {"reason": ["idle"], "next": ["/ledger/?status=registered"]}
    assert "_auth_user_id" not in client.session
    with _at(87 + 31):
        page = client.get(response["Location"])
    assert MESSAGE in page.content.decode()
    assert 'data-testid="idle"' in page.content.decode()


def test_login_page_without_the_reason_shows_no_idle_notice(world):
    assert MESSAGE not in Client().get("/accounts/login/").content.decode()


def test_idle_minutes_follow_the_setting(world, settings):
    settings.WENXU_SESSION_IDLE_MINUTES = 5
    with _at(0):
        client = signed_in(world.officer)
    with _at(4):
        assert client.get("/").status_code == 200
    with _at(10):
        assert client.get("/").status_code == 302


def test_htmx_request_after_idle_gets_hx_redirect_to_the_login_page(world):
    with _at(0):
        client = signed_in(world.officer)
    with _at(31):
        response = client.get(
            "/ledger/",
            headers={"HX-Request": "true", "HX-Current-URL": "http://testserver/ledger/?q=路灯"},
        )

    assert response.status_code == 204
    target = urlsplit(response["HX-Redirect"])
    assert target.path == "/accounts/login/"
    assert parse_qs(target.query) == {"reason": ["idle"], "next": ["/ledger/?q=路灯"]}


def test_api_call_with_an_idle_session_is_401_and_counts_as_activity_before(world):
    with _at(0):
        client = signed_in(world.officer)
    with _at(20):
        assert client.get("/api/v1/needs").status_code == 200
    with _at(45):  # 25 minutes after the API call
        assert client.get("/").status_code == 200
    with _at(80):
        response = client.get("/api/v1/needs")

    assert response.status_code == 401
    assert response.json() == {
        "code": "unauthenticated",
        "message": "长时间未操作，已自动退出，请重新登录。",
    }


def test_bearer_tokens_have_no_idle_timeout(world):
    with _at(0):
        raw, _token = account_services.api_token_issue(user=world.officer)
    with _at(600):
        response = Client().get("/api/v1/needs", headers={"Authorization": f"Bearer {raw}"})
    assert response.status_code == 200


def test_session_cookie_ends_with_the_browser(world):
    response = login(Client(), "officer", "pw-officer")

    cookie = response.cookies["sessionid"]
    assert cookie["expires"] == ""
    assert cookie["max-age"] == ""


def test_a_form_sent_after_idle_comes_back_to_the_page_that_held_it(world):
    with _at(0):
        client = signed_in(world.officer)
    with _at(31):
        response = client.post(
            "/accounts/tokens/",
            {"name": "x", "days": "30"},
            headers={"Referer": "http://testserver/accounts/tokens/?tab=mine"},
        )

    assert response.status_code == 302
    target = urlsplit(response["Location"])
    assert parse_qs(target.query) == {"reason": ["idle"], "next": ["/accounts/tokens/?tab=mine"]}


@pytest.mark.parametrize("referer", [None, "https://evil.example/accounts/tokens/"])
def test_a_form_sent_after_idle_without_our_referer_comes_back_home(world, referer):
    with _at(0):
        client = signed_in(world.officer)
    headers = {"Referer": referer} if referer else {}
    with _at(31):
        response = client.post("/accounts/tokens/", {"name": "x"}, headers=headers)

    target = urlsplit(response["Location"])
    assert parse_qs(target.query) == {"reason": ["idle"], "next": ["/"]}


def test_signing_out_after_idle_just_signs_out(world):
    with _at(0):
        client = signed_in(world.officer)
    with _at(31):
        response = client.post(
            "/accounts/logout/", headers={"Referer": "http://testserver/ledger/"}
        )

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert "_auth_user_id" not in client.session


def test_the_idle_timeout_applies_to_the_admin(world):
    with _at(0):
        client = signed_in(world.officer)
        world.officer.is_staff = world.officer.is_superuser = True
        world.officer.save(update_fields=["is_staff", "is_superuser"])
        assert client.get("/admin/").status_code == 200
    with _at(31):
        response = client.get("/admin/accounts/user/")

    target = urlsplit(response["Location"])
    assert target.path == "/accounts/login/"
    assert parse_qs(target.query) == {"reason": ["idle"], "next": ["/admin/accounts/user/"]}
    assert "_auth_user_id" not in client.session
