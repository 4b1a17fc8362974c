"""The password policy (issue #9 item 1): length, character classes, no reuse of the last five."""

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import Client

from wenxu.accounts.models import PasswordHistory, User
from wenxu.accounts.passwords import character_classes
from wenxu.accounts.tests.login_helpers import STRONG, login, signed_in, superuser
from wenxu.audit import actions
from wenxu.audit.models import AuditEntry

pytestmark = pytest.mark.django_db

URL = "/accounts/password/"


def _messages(password: str, user: User | None = None) -> list[str]:
    try:
        validate_password(password, user)
    except ValidationError as exc:
        return list(exc.messages)
    return []


def _set(user: User, password: str) -> None:
    user.set_password(password)
    user.save()


@pytest.mark.parametrize(
    ("password", "expected"),
    [
        ("Ab1#xyz", "密码太短：至少需要 8 个字符，现在只有 7 个。"),
        (
            "qingshanxian2026",
            "密码须包含小写字母、大写字母、数字、符号四类中的至少 3 类，现在只有 2 类。",
        ),
        (
            "QINGSHAN-XIAN",
            "密码须包含小写字母、大写字母、数字、符号四类中的至少 3 类，现在只有 2 类。",
        ),
    ],
)
def test_weak_passwords_are_refused_with_chinese_messages(password, expected):
    assert expected in _messages(password)


@pytest.mark.parametrize("password", ["Qingshan2026", "qingshan#2026", "青山县问需2026ab", STRONG])
def test_passwords_of_eight_or_more_in_three_classes_pass(password):
    assert _messages(password) == []


def test_character_classes_count_non_ascii_as_symbols():
    assert character_classes("aB3#") == {"lower", "upper", "digit", "symbol"}
    assert character_classes("问需abc") == {"lower", "symbol"}


def test_length_and_classes_follow_the_settings(settings):
    settings.WENXU_PASSWORD_MIN_LENGTH = 12
    settings.WENXU_PASSWORD_CLASSES = 4
    messages = _messages("Qingshan2026")
    assert "密码太短：至少需要 12 个字符，现在只有 12 个。" not in messages
    assert any("至少 4 类" in message for message in messages)
    assert any("至少需要 12 个字符" in message for message in _messages("Qs#2026abcd"))


def test_djangos_own_validators_still_apply(world):
    assert "这个密码太常见了。" in _messages("Password1")
    assert "密码只包含数字。" in _messages("20262026")
    assert any("相似" in m for m in _messages("Officer#1", world.officer))  # like the username


def test_history_keeps_hashes_only_and_refuses_the_last_five(world):
    user = world.officer
    passwords = [f"Qingshan#{n}a" for n in range(1, 7)]
    for password in passwords:
        _set(user, password)

    history = list(PasswordHistory.objects.filter(user=user).values_list("password", flat=True))
    assert len(history) == 5
    assert not any(password in encoded for encoded in history for password in passwords)
    assert all(encoded.startswith(("md5$", "pbkdf2_sha256$")) for encoded in history)
    for password in passwords[1:]:
        assert "不能使用最近 5 次用过的密码，请设置一个新密码。" in _messages(password, user)
    assert _messages(passwords[0], user) == []  # six changes ago: allowed again


def test_history_depth_follows_the_setting(world, settings):
    settings.WENXU_PASSWORD_HISTORY = 2
    user = world.officer
    for password in ("Qingshan#1a", "Qingshan#2a", "Qingshan#3a"):
        _set(user, password)

    assert PasswordHistory.objects.filter(user=user).count() == 2
    assert _messages("Qingshan#2a", user)
    assert _messages("Qingshan#1a", user) == []


def test_change_page_refuses_a_weak_password_and_changes_nothing(world):
    client = signed_in(world.officer)

    response = client.post(
        URL,
        {"old_password": "pw-officer", "new_password1": "abc12345", "new_password2": "abc12345"},
    )

    assert response.status_code == 422
    assert "至少 3 类" in response.content.decode()
    world.officer.refresh_from_db()
    assert world.officer.check_password("pw-officer")
    assert not AuditEntry.objects.filter(action=actions.PASSWORD_CHANGE).exists()


def test_change_page_lists_the_rules(world):
    body = signed_in(world.officer).get(URL).content.decode()
    assert "至少 8 个字符。" in body
    assert "须包含小写字母、大写字母、数字、符号四类中的至少 3 类。" in body
    assert "不能与最近 5 次用过的密码相同。" in body


def test_change_page_refuses_a_recent_password(world):
    _set(world.officer, STRONG)
    _set(world.officer, "Qingshan#2a")
    client = signed_in(world.officer)

    response = client.post(
        URL, {"old_password": "Qingshan#2a", "new_password1": STRONG, "new_password2": STRONG}
    )

    assert response.status_code == 422
    assert "不能使用最近 5 次用过的密码" in response.content.decode()


def test_change_page_sets_the_password_keeps_the_session_and_records_it(world):
    client = signed_in(world.officer)

    response = client.post(
        URL + "?next=/needs/",
        {"old_password": "pw-officer", "new_password1": STRONG, "new_password2": STRONG},
    )

    assert response.status_code == 302
    assert response["Location"] == "/needs/"
    world.officer.refresh_from_db()
    assert world.officer.check_password(STRONG)
    latest = PasswordHistory.objects.filter(user=world.officer).order_by("-created_at").first()
    assert latest is not None
    assert latest.password == world.officer.password
    entry = AuditEntry.objects.get(action=actions.PASSWORD_CHANGE)
    assert entry.actor_id == world.officer.pk
    assert entry.detail == {"by": "self"}
    assert client.get("/").status_code == 200  # still signed in


def test_change_page_ignores_a_next_to_another_site(world):
    client = signed_in(world.officer)
    response = client.post(
        URL + "?next=https://evil.example/",
        {"old_password": "pw-officer", "new_password1": STRONG, "new_password2": STRONG},
    )
    assert response["Location"] == "/"


def _wrong_old(client):
    return client.post(
        URL, {"old_password": "wrong-old", "new_password1": STRONG, "new_password2": STRONG}
    )


def test_a_wrong_old_password_is_recorded_and_the_fifth_locks_and_signs_out(world):
    client = signed_in(world.officer)
    for _ in range(4):
        assert _wrong_old(client).status_code == 422

    response = _wrong_old(client)

    assert response.status_code == 429
    assert "账号已暂时锁定" in response.content.decode()
    assert "_auth_user_id" not in client.session
    failed = AuditEntry.objects.filter(action=actions.LOGIN_FAILED)
    assert failed.count() == 5
    assert all(entry.detail == {"username": "officer", "step": "old password"} for entry in failed)
    assert AuditEntry.objects.filter(action=actions.LOCKOUT).count() == 1
    assert login(Client(), "officer", "pw-officer").status_code == 429
    world.officer.refresh_from_db()
    assert world.officer.check_password("pw-officer")


def test_the_change_page_refuses_a_locked_out_user_without_checking(world):
    client = signed_in(world.officer)  # (a complete login forgets earlier failures)
    for _ in range(5):
        login(Client(), "officer", "wrong-password")

    response = client.post(
        URL, {"old_password": "pw-officer", "new_password1": STRONG, "new_password2": STRONG}
    )

    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    world.officer.refresh_from_db()
    assert world.officer.check_password("pw-officer")


def test_the_admins_own_password_form_leads_to_the_change_page(world):
    admin = signed_in(superuser())

    for method in (admin.get, admin.post):
        response = method("/admin/password_change/")
        assert response.status_code == 302
        assert response["Location"] == URL
