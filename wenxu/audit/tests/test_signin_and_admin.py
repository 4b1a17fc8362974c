"""Sign-ins, sign-outs, failed sign-ins and admin changes each leave an entry."""

import json

import pytest
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from wenxu.accounts.models import Membership, User
from wenxu.audit import actions
from wenxu.audit.models import AuditEntry, AuditHead
from wenxu.audit.verify import audit_verify
from wenxu.needs.models import Category, HolidayOverride
from wenxu.residents.models import Requester

pytestmark = pytest.mark.django_db


def _entries(action: str) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action=action).order_by("seq"))


@pytest.fixture
def root(db: None) -> User:
    return User.objects.create_superuser("root", password="pw-root-secret")


@pytest.fixture
def root_client(root: User) -> Client:
    client = Client()
    client.force_login(root)
    return client


# --------------------------------------------------------------------------- sign-in


def test_a_sign_in_and_a_sign_out_are_recorded_with_the_address(world):
    client = Client(REMOTE_ADDR="203.0.113.7")

    client.force_login(world.officer)
    client.post(reverse("logout"))

    (login,) = _entries(actions.LOGIN)
    (logout,) = _entries(actions.LOGOUT)
    assert (login.actor_id, login.actor_username, login.target) == (
        world.officer.pk,
        "officer",
        f"user:{world.officer.pk}",
    )
    assert logout.actor_id == world.officer.pk
    assert logout.ip == "203.0.113.7"


def test_signing_out_when_not_signed_in_records_nothing(db):
    Client().post(reverse("logout"))

    assert not AuditEntry.objects.exists()


def test_a_failed_sign_in_records_the_username_never_the_password(world):
    client = Client(REMOTE_ADDR="198.51.100.9")

    response = client.post(
        reverse("login"), {"username": "officer", "password": "guessed-Secret-42"}
    )

    assert response.status_code in (200, 403, 429)  # the form again, or a lockout page
    (failed,) = _entries(actions.LOGIN_FAILED)
    assert failed.actor_id is None
    assert failed.detail == {"username": "officer"}
    assert failed.target == f"user:{world.officer.pk}"
    assert failed.ip == "198.51.100.9"
    everything = json.dumps(list(AuditEntry.objects.values()), default=str, ensure_ascii=False)
    assert "guessed-Secret-42" not in everything


def test_a_failed_sign_in_for_an_unknown_account_names_no_user_and_keeps_three_characters(db):
    Client().post(reverse("login"), {"username": "nobody", "password": "x"})
    Client().post(reverse("login"), {"username": "bob", "password": "x"})

    (failed, short) = _entries(actions.LOGIN_FAILED)
    assert (failed.target, failed.detail) == ("", {"username": "nob…"})
    assert short.detail == {"username": "bob"}


def test_a_password_or_phone_typed_as_the_username_is_not_kept(world):
    for typed in ("Secret-Passw0rd-9", "13812345678", "OFFICER"):
        Client().post(reverse("login"), {"username": typed, "password": "x"})

    kept = [entry.detail["username"] for entry in _entries(actions.LOGIN_FAILED)]
    assert kept == ["Sec…", "138…", "OFF…"]
    everything = json.dumps(list(AuditEntry.objects.values()), default=str, ensure_ascii=False)
    assert "Passw0rd" not in everything
    assert "12345678" not in everything


def test_a_lockout_of_an_unknown_name_keeps_only_its_first_characters(db):
    client = Client()
    for _ in range(5):
        client.post(reverse("login"), {"username": "Secret-Passw0rd-9", "password": "x"})

    (locked,) = _entries(actions.LOCKOUT)
    assert (locked.target, locked.detail["username"]) == ("", "Sec…")


def test_signing_in_still_works_when_the_head_row_was_deleted(world):
    Client().force_login(world.officer)
    AuditHead.objects.all().delete()

    response = Client().post(reverse("login"), {"username": "officer", "password": "pw-officer"})

    assert response.status_code == 302
    assert [entry.action for entry in AuditEntry.objects.order_by("seq")] == [
        actions.LOGIN,
        actions.AUDIT_HEAD_REBUILT,
        actions.LOGIN,
    ]


def test_a_wrong_password_at_the_api_token_endpoint_is_a_failed_sign_in(world):
    client = Client(REMOTE_ADDR="192.0.2.1")

    response = client.post(
        "/api/v1/auth/token",
        data={"username": "dispatcher", "password": "wrong-Password-1"},
        content_type="application/json",
    )

    assert response.status_code == 401
    (failed,) = _entries(actions.LOGIN_FAILED)
    assert failed.detail == {"username": "dispatcher"}
    assert failed.ip == "192.0.2.1"
    assert "wrong-Password-1" not in json.dumps(failed.detail)
    assert not _entries(actions.TOKEN_ISSUE)


# --------------------------------------------------------------------------- the admin


def test_an_admin_addition_is_a_setting_change_with_model_id_and_name(root, root_client):
    response = root_client.post(
        reverse("admin:needs_holidayoverride_add"),
        {"date": "2031-10-08", "is_workday": "on", "note": "国庆调休"},
    )

    assert response.status_code == 302, response.content[:500]
    day = HolidayOverride.objects.get(date="2031-10-08")
    (entry,) = _entries(actions.SETTING_CHANGE)
    assert entry.actor_id == root.pk
    assert entry.target == f"needs.holidayoverride:{day.pk}"
    assert entry.detail["model"] == "needs.holidayoverride"
    assert entry.detail["object_id"] == str(day.pk)
    assert entry.detail["flag"] == "add"
    assert entry.detail["object"] == str(day)
    assert entry.detail["changes"] == [{"added": {}}]


def test_a_bulk_deletion_in_the_admin_records_every_object(root, root_client):
    first = Category.objects.create(name="临时分类一")
    second = Category.objects.create(name="临时分类二")

    response = root_client.post(
        reverse("admin:needs_category_changelist"),
        {"action": "delete_selected", "_selected_action": [first.pk, second.pk], "post": "yes"},
    )

    assert response.status_code == 302
    assert not Category.objects.filter(pk__in=[first.pk, second.pk]).exists()
    deleted = _entries(actions.SETTING_CHANGE)
    assert sorted(e.detail["object"] for e in deleted) == ["临时分类一", "临时分类二"]
    assert {e.detail["flag"] for e in deleted} == {"delete"}
    assert audit_verify().ok


def test_membership_changes_are_role_changes(world, root):
    membership = Membership.objects.get(user=world.officer)

    LogEntry.objects.log_actions(root.pk, [membership], CHANGE, [{"changed": {"fields": ["x"]}}])

    (entry,) = _entries(actions.ROLE_CHANGE)
    assert entry.target == f"accounts.membership:{membership.pk}"


def test_a_membership_edited_inline_on_its_user_is_a_role_change(world, root):
    message = [{"added": {"name": "角色授权", "object": "王网格 · 走访干部 · 东河镇"}}]

    LogEntry.objects.log_actions(root.pk, [world.officer], CHANGE, message)

    (entry,) = _entries(actions.ROLE_CHANGE)
    assert entry.target == f"accounts.user:{world.officer.pk}"
    assert entry.detail["changes"] == message


def test_granting_superuser_or_permissions_on_a_user_is_a_role_change(world, root):
    LogEntry.objects.log_actions(
        root.pk, [world.officer], CHANGE, [{"changed": {"fields": ["User permissions"]}}]
    )
    LogEntry.objects.log_actions(
        root.pk, [world.officer], CHANGE, [{"changed": {"fields": ["Superuser status"]}}]
    )

    assert len(_entries(actions.ROLE_CHANGE)) == 2


def test_other_account_changes_are_user_changes(world, root):
    LogEntry.objects.log_actions(
        root.pk, [world.officer], CHANGE, [{"changed": {"fields": ["Email address"]}}]
    )
    LogEntry.objects.log_actions(root.pk, [world.leader], DELETION)

    entries = _entries(actions.USER_CHANGE)
    assert [e.detail["flag"] for e in entries] == ["change", "delete"]
    assert not _entries(actions.ROLE_CHANGE)


def test_group_changes_are_role_changes(root):
    group = Group.objects.create(name="可查看个人信息")

    LogEntry.objects.log_actions(root.pk, [group], ADDITION, [{"added": {}}])

    assert len(_entries(actions.ROLE_CHANGE)) == 1


def test_a_requesters_name_never_reaches_the_log(root):
    requester = Requester.objects.create(name="张三丰", phone="13812345678")
    message = [{"changed": {"name": "诉求人", "object": "张三丰", "fields": ["phone"]}}]

    LogEntry.objects.log_actions(root.pk, [requester], CHANGE, message)

    (entry,) = _entries(actions.SETTING_CHANGE)
    assert entry.target == f"residents.requester:{requester.pk}"
    assert "object" not in entry.detail
    assert entry.detail["changes"] == [{"changed": {"name": "诉求人", "fields": ["phone"]}}]
    text = json.dumps(entry.detail, ensure_ascii=False)
    assert "张三丰" not in text
    assert "13812345678" not in text


def test_phone_numbers_in_an_objects_name_are_masked(root):
    category = Category.objects.create(name="回访 13812345678")

    LogEntry.objects.log_actions(root.pk, [category], CHANGE, "手工说明 110101199001011234")

    (entry,) = _entries(actions.SETTING_CHANGE)
    assert entry.detail["object"] == "回访 138****5678"
    assert entry.detail["changes"] == [{"message": "手工说明 110101********1234"}]
