"""TOTP two-factor login (issue #9 item 1; django-otp). At WENXU_SECURITY_LEVEL=3 admins,
leaders and superusers must use a code; anyone may enrol, and is then asked for one."""

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from wenxu.accounts.tests.login_helpers import key_from_secret, login, signed_in, totp
from wenxu.audit import actions
from wenxu.audit.models import AuditEntry

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
SETUP = "/accounts/otp/setup/"
VERIFY = "/accounts/otp/"


@pytest.fixture
def level3(settings):
    settings.WENXU_SECURITY_LEVEL = 3


def _at(seconds: float):
    return time_machine.travel(START + timedelta(seconds=seconds), tick=False)


def _device(user) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="TOTP", confirmed=True)


def _code(device: TOTPDevice) -> str:
    return totp(device.bin_key)


def _path(response) -> tuple[str, dict[str, list[str]]]:
    target = urlsplit(response["Location"])
    return target.path, parse_qs(target.query)


def test_level3_admin_enrols_with_a_scanned_code_then_every_login_asks_for_one(world, level3):
    client = Client()
    with _at(0):
        response = login(client, "admin", "pw-admin")
        assert _path(response) == (SETUP, {"next": ["/"]})
        assert _path(client.get("/ledger/")) == (SETUP, {"next": ["/ledger/"]})
        page = client.get(SETUP)
    assert page.status_code == 200
    body = page.content.decode()
    assert "<svg" in body
    assert "<script" not in body.split('data-testid="otp-qr"')[1][:5000]
    key = key_from_secret(page.context["secret"])
    assert key == TOTPDevice.objects.get(user=world.admin).bin_key

    with _at(0):
        response = client.post(SETUP, {"code": totp(key), "next": "/ledger/"})
    assert response.status_code == 302
    assert response["Location"] == "/ledger/"
    assert TOTPDevice.objects.get(user=world.admin).confirmed
    assert AuditEntry.objects.filter(action=actions.OTP_ENROL, actor_id=world.admin.pk).exists()
    with _at(1):
        assert client.get("/ledger/").status_code == 200

    # the next login asks for the code (a later one: a code is accepted once)
    later = Client()
    with _at(90):
        response = login(later, "admin", "pw-admin")
        assert _path(response) == (VERIFY, {"next": ["/"]})
        assert _path(later.get("/")) == (VERIFY, {"next": ["/"]})
        response = later.post(VERIFY, {"code": totp(key), "next": "/"})
    assert response.status_code == 302
    assert response["Location"] == "/"
    with _at(91):
        assert later.get("/").status_code == 200


def test_wrong_code_is_refused_in_chinese_and_recorded(world, level3):
    device = _device(world.leader)
    client = Client()
    with _at(0):
        login(client, "leader", "pw-leader")
        wrong = str((int(_code(device)) + 1) % 1_000_000).zfill(6)
        response = client.post(VERIFY, {"code": wrong})

    assert response.status_code == 422
    assert "动态口令不正确或已过期" in response.content.decode()
    entry = AuditEntry.objects.get(action=actions.OTP_FAILED)
    assert entry.actor_id == world.leader.pk
    assert entry.detail == {"step": "verify"}
    with _at(1):
        assert _path(client.get("/")) == (VERIFY, {"next": ["/"]})


def test_a_code_is_accepted_only_once(world, level3):
    device = _device(world.leader)
    with _at(0):
        code = _code(device)
        first, second = Client(), Client()
        login(first, "leader", "pw-leader")
        login(second, "leader", "pw-leader")
        assert first.post(VERIFY, {"code": code}).status_code == 302
        assert second.post(VERIFY, {"code": code}).status_code == 422


def test_five_wrong_codes_lock_the_account_and_end_the_half_done_login(world, level3):
    device = _device(world.admin)
    client = Client()
    with _at(0):
        login(client, "admin", "pw-admin")
        wrong = str((int(_code(device)) + 1) % 1_000_000).zfill(6)
        for _ in range(4):
            assert client.post(VERIFY, {"code": wrong}).status_code == 422
        response = client.post(VERIFY, {"code": wrong})

        assert response.status_code == 429
        assert "账号已暂时锁定" in response.content.decode()
        assert "_auth_user_id" not in client.session
        assert login(Client(), "admin", "pw-admin").status_code == 429
    assert AuditEntry.objects.filter(action=actions.OTP_FAILED).count() == 5
    assert AuditEntry.objects.filter(action=actions.LOCKOUT).count() == 1


def test_malformed_code_is_refused_without_counting(world, level3):
    _device(world.admin)
    client = Client()
    login(client, "admin", "pw-admin")

    response = client.post(VERIFY, {"code": "12ab"})

    assert response.status_code == 422
    assert "动态口令是 6 位数字" in response.content.decode()
    assert not AuditEntry.objects.filter(action=actions.OTP_FAILED).exists()


def test_at_level3_leaders_and_superusers_must_enrol_and_officers_need_not(world, level3):
    assert _path(login(Client(), "leader", "pw-leader"))[0] == SETUP
    assert login(Client(), "officer", "pw-officer")["Location"] == "/"
    assert login(Client(), "dispatcher", "pw-dispatcher")["Location"] == "/"
    world.outsider.is_superuser = True
    world.outsider.save(update_fields=["is_superuser"])
    assert _path(login(Client(), "outsider", "pw-outsider"))[0] == SETUP


def test_at_level2_admins_are_not_asked(world):
    assert login(Client(), "admin", "pw-admin")["Location"] == "/"


def test_any_user_may_enrol_and_is_then_asked_for_a_code(world):
    with _at(0):
        client = signed_in(world.officer)
        page = client.get(SETUP)
        assert "开启后，每次登录除密码外还需输入" in page.content.decode()
        key = key_from_secret(page.context["secret"])
        assert client.post(SETUP, {"code": totp(key)})["Location"] == "/"
        assert "此账号已绑定动态口令" in client.get(SETUP).content.decode()

    with _at(60):
        assert _path(login(Client(), "officer", "pw-officer"))[0] == VERIFY


def test_enrolment_shows_the_same_key_until_confirmed(world):
    client = signed_in(world.officer)
    first = client.get(SETUP).context["secret"]
    assert client.get(SETUP).context["secret"] == first
    assert TOTPDevice.objects.filter(user=world.officer).count() == 1


def test_wrong_enrolment_code_confirms_nothing(world):
    with _at(0):
        client = signed_in(world.officer)
        key = key_from_secret(client.get(SETUP).context["secret"])
        wrong = str((int(totp(key)) + 1) % 1_000_000).zfill(6)
        response = client.post(SETUP, {"code": wrong})
    assert response.status_code == 422
    assert not TOTPDevice.objects.filter(user=world.officer, confirmed=True).exists()
    assert AuditEntry.objects.get(action=actions.OTP_FAILED).detail == {"step": "enrol"}


def test_half_done_login_gets_hx_redirect_and_no_api(world, level3):
    _device(world.admin)
    client = Client()
    login(client, "admin", "pw-admin")

    htmx = client.get("/ledger/", headers={"HX-Request": "true"})
    assert htmx.status_code == 204
    assert urlsplit(htmx["HX-Redirect"]).path == VERIFY
    api = client.get("/api/v1/needs")
    assert api.status_code == 401
    assert api.json()["code"] == "login_incomplete"


def test_half_done_login_of_a_staff_user_does_not_reach_the_admin(world, level3):
    world.admin.is_staff = True
    world.admin.save(update_fields=["is_staff"])
    _device(world.admin)
    client = Client()
    login(client, "admin", "pw-admin")

    assert _path(client.get("/admin/")) == (VERIFY, {"next": ["/admin/"]})
    assert _path(client.get("/admin/accounts/user/"))[0] == VERIFY


def test_at_level3_staff_without_an_admin_or_leader_role_must_enrol(world, level3):
    world.outsider.is_staff = True
    world.outsider.save(update_fields=["is_staff"])
    client = Client()

    assert _path(login(client, "outsider", "pw-outsider"))[0] == SETUP
    assert _path(client.get("/admin/"))[0] == SETUP


def test_half_done_login_leaves_public_urls_alone(world, level3):
    _device(world.admin)
    client = Client()
    login(client, "admin", "pw-admin")

    for url in ("/sw.js", "/manifest.webmanifest", "/healthz", "/track"):
        response = client.get(url)
        assert response.status_code == 200, url
    assert _path(client.get("/ledger/"))[0] == VERIFY


def _wrong(device: TOTPDevice) -> str:
    return str((int(_code(device)) + 1) % 1_000_000).zfill(6)


def _login_from(address: str) -> Client:
    client = Client(REMOTE_ADDR=address)
    assert _path(login(client, "admin", "pw-admin"))[0] == VERIFY
    return client


def test_ten_wrong_codes_from_ten_addresses_lock_the_code_step_everywhere(world, level3):
    """The lockout of wrong passwords is per address: the code step also counts per user."""
    device = _device(world.admin)
    seconds = 0.0
    for attempt in range(10):
        seconds += 2**attempt + 1  # past django-otp's back-off, so that each code is checked
        with _at(seconds):
            client = _login_from(f"10.0.0.{attempt + 1}")
            response = client.post(VERIFY, {"code": _wrong(device)})
        assert response.status_code == (429 if attempt == 9 else 422)

    with _at(seconds + 1):
        client = _login_from("10.9.9.9")  # the password step is not locked from here
        response = client.post(VERIFY, {"code": _code(device)})  # even the right code
    assert response.status_code == 429
    assert "账号已暂时锁定" in response.content.decode()
    assert "_auth_user_id" not in client.session
    with _at(seconds + 15 * 60 + 1):
        client = _login_from("10.9.9.9")
        assert client.post(VERIFY, {"code": _code(device)}).status_code == 302


def test_django_otps_back_off_refuses_a_right_code_just_after_a_wrong_one(world, level3):
    device = _device(world.admin)
    with _at(0):
        client = _login_from("10.0.0.1")
        assert client.post(VERIFY, {"code": _wrong(device)}).status_code == 422
        other = _login_from("10.0.0.2")
        assert other.post(VERIFY, {"code": _code(device)}).status_code == 422
    with _at(2):
        assert other.post(VERIFY, {"code": _code(device)}).status_code == 302


def test_unlock_lifts_the_code_step_lock(world, level3):
    from wenxu.accounts import lockout, security

    device = _device(world.admin)
    device.throttling_failure_count = security.OTP_USER_FAILURE_LIMIT
    device.throttling_failure_timestamp = START
    device.save()
    with _at(60):
        assert security.code_locked_until(world.admin) is not None
        assert lockout.unlock(username="admin") == 1
        assert security.code_locked_until(world.admin) is None
        assert _login_from("10.0.0.1").post(VERIFY, {"code": _code(device)}).status_code == 302


def _token_post(body: dict[str, str]):
    return Client().post("/api/v1/auth/token", data=body, content_type="application/json")


def test_api_token_at_level3_needs_the_code_in_otp(world, level3):
    device = _device(world.admin)
    credentials = {"username": "admin", "password": "pw-admin"}
    with _at(0):
        missing = _token_post(credentials)
        wrong = _token_post({**credentials, "otp": "000000" if _code(device) != "000000" else "1"})
        too_soon = _token_post({**credentials, "otp": _code(device)})  # django-otp's back-off
    with _at(2):
        right = _token_post({**credentials, "otp": _code(device)})

    assert missing.status_code == 401
    assert missing.json()["code"] == "otp_required"
    assert "otp" in missing.json()["message"]
    assert wrong.status_code == 401
    assert wrong.json()["code"] == "otp_invalid"
    assert too_soon.status_code == 401
    assert right.status_code == 200
    assert right.json()["token"].startswith("wx_")


def test_api_token_for_a_user_who_must_enrol_first_is_403(world, level3):
    response = _token_post({"username": "leader", "password": "pw-leader"})
    assert response.status_code == 403
    assert response.json()["code"] == "otp_enrolment_required"
    assert _token_post({"username": "officer", "password": "pw-officer"}).status_code == 200
