"""Lockout after repeated failed logins (issue #9 item 1; django-axes; ADR 0017)."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.conf import settings as django_settings
from django.test import Client
from django.utils import timezone

from wenxu.accounts.models import ApiToken
from wenxu.accounts.tests.login_helpers import login, signed_in, superuser
from wenxu.audit import actions
from wenxu.audit.models import AuditEntry

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 09:00 in Asia/Shanghai


def _token_post(client: Client, body: dict[str, str]):
    return client.post("/api/v1/auth/token", data=body, content_type="application/json")


def _fail(client: Client, times: int, username: str = "officer") -> None:
    """`times` wrong passwords: the ordinary "wrong password" page until the limit's."""
    for attempt in range(1, times + 1):
        response = login(client, username, "wrong-password")
        assert response.status_code == (
            429 if attempt >= django_settings.WENXU_LOGIN_FAILURE_LIMIT else 200
        )


def test_fifth_wrong_password_locks_with_a_chinese_message_saying_when(world):
    client = Client()
    with time_machine.travel(START, tick=False):
        _fail(client, 4)
        response = login(client, "officer", "wrong-password")

    assert response.status_code == 429
    body = response.content.decode()
    assert "登录失败次数过多，账号已暂时锁定" in body
    assert "15 分钟后（09:15 以后）再试" in body
    assert 'data-testid="lockout"' in body
    assert "Traceback" not in body
    assert "Forbidden" not in body
    assert response["Retry-After"] == "900"


def test_right_password_is_refused_while_locked_and_accepted_after_the_lockout(world):
    with time_machine.travel(START, tick=False):
        _fail(Client(), 5)
    with time_machine.travel(START + timedelta(minutes=14), tick=False):
        client = Client()
        response = login(client, "officer", "pw-officer")
        assert response.status_code == 429
        assert response["Retry-After"] == "60"
        assert "_auth_user_id" not in client.session
    with time_machine.travel(START + timedelta(minutes=15, seconds=1), tick=False):
        response = login(Client(), "officer", "pw-officer")
        assert response.status_code == 302
        assert response["Location"] == "/"


def test_attempts_while_locked_do_not_extend_the_lock(world):
    with time_machine.travel(START, tick=False):
        _fail(Client(), 5)
    with time_machine.travel(START + timedelta(minutes=10), tick=False):
        assert login(Client(), "officer", "wrong-password").status_code == 429
    with time_machine.travel(START + timedelta(minutes=15, seconds=1), tick=False):
        assert login(Client(), "officer", "pw-officer").status_code == 302


def test_lock_holds_that_username_from_that_address_only(world):
    _fail(Client(REMOTE_ADDR="10.0.0.1"), 5)

    assert login(Client(REMOTE_ADDR="10.0.0.1"), "officer", "pw-officer").status_code == 429
    assert login(Client(REMOTE_ADDR="10.0.0.2"), "officer", "pw-officer").status_code == 302
    assert login(Client(REMOTE_ADDR="10.0.0.1"), "dispatcher", "pw-dispatcher").status_code == 302


def test_failures_far_apart_do_not_add_up(world):
    with time_machine.travel(START, tick=False):
        _fail(Client(), 4)
    with time_machine.travel(START + timedelta(minutes=16), tick=False):
        _fail(Client(), 4)
        assert login(Client(), "officer", "pw-officer").status_code == 302


def test_a_complete_login_forgets_earlier_failures(world):
    _fail(Client(), 4)
    assert login(Client(), "officer", "pw-officer").status_code == 302
    _fail(Client(), 4)

    assert login(Client(), "officer", "pw-officer").status_code == 302


def test_a_lockout_is_recorded_once_in_the_security_log(world):
    _fail(Client(), 5)
    login(Client(), "officer", "pw-officer")  # refused while locked: no second lockout entry

    entries = AuditEntry.objects.filter(action=actions.LOCKOUT)
    assert entries.count() == 1
    entry = entries.get()
    assert entry.target == f"user:{world.officer.pk}"
    assert entry.detail == {"username": "officer", "failures": 5, "minutes": 15}
    assert entry.ip == "127.0.0.1"


def test_limit_and_lockout_time_follow_the_settings(world, settings):
    settings.WENXU_LOGIN_FAILURE_LIMIT = settings.AXES_FAILURE_LIMIT = 3
    settings.WENXU_LOGIN_LOCKOUT_MINUTES = 5
    settings.AXES_COOLOFF_TIME = timedelta(minutes=5)
    with time_machine.travel(START, tick=False):
        _fail(Client(), 2)
        response = login(Client(), "officer", "wrong-password")
    assert response.status_code == 429
    assert "5 分钟后（09:05 以后）" in response.content.decode()


def test_api_token_endpoint_locks_after_five_failures_with_the_api_error_body(world):
    client = Client()
    with time_machine.travel(START, tick=False):
        for _ in range(4):
            assert _token_post(client, {"username": "officer", "password": "x"}).status_code == 401
        locked = _token_post(client, {"username": "officer", "password": "x"})
        right = _token_post(client, {"username": "officer", "password": "pw-officer"})

    for response in (locked, right):
        assert response.status_code == 429
        assert response["Retry-After"] == "900"
        body = response.json()
        assert body["code"] == "locked_out"
        assert "15 分钟后（09:15 以后）再试" in body["message"]
    assert not ApiToken.objects.exists()


def test_failures_on_the_page_and_the_api_add_up(world):
    _fail(Client(), 3)
    for _ in range(2):
        _token_post(Client(), {"username": "officer", "password": "x"})

    assert login(Client(), "officer", "pw-officer").status_code == 429


def test_admin_can_unlock_a_user_before_the_lock_ends(world):
    _fail(Client(), 5)
    admin = signed_in(superuser())

    response = admin.post(
        "/admin/accounts/user/",
        {"action": "unlock_login", "_selected_action": [world.officer.pk]},
        follow=True,
    )

    assert "已解除 1 个账号的登录锁定" in response.content.decode()
    assert login(Client(), "officer", "pw-officer").status_code == 302


def test_test_client_login_works_without_a_request_and_counts_nothing(world):
    for _ in range(6):
        assert not Client().login(username="officer", password="wrong-password")

    assert Client().login(username="officer", password="pw-officer")
    assert login(Client(), "officer", "pw-officer").status_code == 302


def test_locked_until_is_none_for_an_unlocked_pair(world):
    from wenxu.accounts.lockout import locked_until

    _fail(Client(), 4)
    assert locked_until(username="officer", ip_address="127.0.0.1") is None
    login(Client(), "officer", "wrong-password")
    until = locked_until(username="officer", ip_address="127.0.0.1")
    assert until is not None
    assert timedelta(minutes=14) < until - timezone.now() <= timedelta(minutes=15)


def test_ipv6_clients_count_by_their_64(world):
    for host in range(1, 6):  # five addresses of one /64
        login(Client(REMOTE_ADDR=f"2001:db8:1:2::{host}"), "officer", "wrong-password")

    assert (
        login(Client(REMOTE_ADDR="2001:db8:1:2:ffff::9"), "officer", "pw-officer").status_code
        == 429
    )
    assert login(Client(REMOTE_ADDR="2001:db8:1:3::1"), "officer", "pw-officer").status_code == 302


def test_behind_a_trusted_proxy_the_forwarded_client_is_locked_not_everyone(world, settings):
    settings.WENXU_TRUSTED_PROXIES = ["10.1.0.0/24"]
    proxy: dict[str, Any] = {"REMOTE_ADDR": "10.1.0.5"}
    for _ in range(5):
        login(Client(**proxy, HTTP_X_FORWARDED_FOR="8.8.8.8"), "officer", "wrong-password")

    attacker = Client(**proxy, HTTP_X_FORWARDED_FOR="8.8.8.8")
    assert login(attacker, "officer", "pw-officer").status_code == 429
    # a forged hop left of the proxy's own is not believed
    forged = Client(**proxy, HTTP_X_FORWARDED_FOR="1.1.1.1, 8.8.8.8")
    assert login(forged, "officer", "pw-officer").status_code == 429
    colleague = Client(**proxy, HTTP_X_FORWARDED_FOR="9.9.9.9")
    assert login(colleague, "officer", "pw-officer").status_code == 302
    entry = AuditEntry.objects.get(action=actions.LOCKOUT)
    assert entry.ip == "8.8.8.8"


def test_forwarded_header_is_ignored_unless_the_proxy_is_trusted(world):
    """127.0.0.1 is not trusted by default: the header could be anyone's."""
    for number in range(5):
        client = Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=f"8.8.8.{number}")
        login(client, "officer", "wrong-password")

    assert login(Client(HTTP_X_FORWARDED_FOR="7.7.7.7"), "officer", "pw-officer").status_code == 429


def test_failures_on_the_admin_login_count_towards_the_lockout(world):
    for _ in range(4):
        Client().post("/admin/login/", {"username": "officer", "password": "wrong-password"})
    response = Client().post("/admin/login/", {"username": "officer", "password": "wrong-password"})

    assert response.status_code == 429
    assert login(Client(), "officer", "pw-officer").status_code == 429


def test_lockout_page_keeps_no_made_up_next(world):
    _fail(Client(), 4)
    response = login(Client(), "officer", "wrong-password")

    assert response.status_code == 429
    assert 'value="None"' not in response.content.decode()
    assert response.context["next"] == ""
