"""Forced password change (issue #9 item 1; ADR 0017): a password someone else chose (an
administrator, the demo) must be replaced at the first login, in production mode."""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from wenxu.accounts import services as account_services
from wenxu.accounts.models import User
from wenxu.accounts.tests.login_helpers import STRONG, login, signed_in, superuser
from wenxu.audit import actions
from wenxu.audit.models import AuditEntry

pytestmark = pytest.mark.django_db

PASSWORD_PAGE = "/accounts/password/"
INITIAL = "Chushi#2026x"


def _flag(user: User) -> User:
    user.must_change_password = True
    user.save(update_fields=["must_change_password"])
    return user


def _change(client: Client, old: str, new: str = STRONG, next_url: str = "/"):
    return client.post(
        PASSWORD_PAGE,
        {"old_password": old, "new_password1": new, "new_password2": new, "next": next_url},
    )


def test_user_created_in_the_admin_must_change_the_password_at_first_login(world):
    admin = signed_in(superuser())
    response = admin.post(
        "/admin/accounts/user/add/",
        {
            "username": "newbie",
            "usable_password": "true",
            "password1": INITIAL,
            "password2": INITIAL,
            "display_name": "新同事",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302
    newbie = User.objects.get(username="newbie")
    assert newbie.must_change_password

    client = Client()
    response = login(client, "newbie", INITIAL)
    target = urlsplit(response["Location"])
    assert (target.path, parse_qs(target.query)) == (PASSWORD_PAGE, {"next": ["/"]})
    assert urlsplit(client.get("/ledger/")["Location"]).path == PASSWORD_PAGE
    page = client.get(PASSWORD_PAGE)
    assert "此账号的密码是管理员设置的初始密码" in page.content.decode()

    response = _change(client, INITIAL)

    assert response.status_code == 302
    assert response["Location"] == "/"
    newbie.refresh_from_db()
    assert not newbie.must_change_password
    assert newbie.check_password(STRONG)
    assert client.get("/ledger/").status_code == 200
    assert AuditEntry.objects.get(action=actions.PASSWORD_CHANGE, actor_id=newbie.pk).detail == {
        "by": "self"
    }


def test_the_new_password_must_differ_from_the_initial_one(world):
    world.officer.set_password(INITIAL)
    world.officer.save()
    _flag(world.officer)
    client = Client()
    login(client, "officer", INITIAL)

    response = _change(client, INITIAL, new=INITIAL)

    assert response.status_code == 422
    world.officer.refresh_from_db()
    assert world.officer.must_change_password


def test_admin_setting_someone_elses_password_forces_a_change(world):
    root = superuser()
    admin = signed_in(root)

    response = admin.post(
        f"/admin/accounts/user/{world.officer.pk}/password/",
        {"password1": INITIAL, "password2": INITIAL, "usable_password": "true"},
    )

    assert response.status_code == 302
    world.officer.refresh_from_db()
    assert world.officer.check_password(INITIAL)
    assert world.officer.must_change_password
    entry = AuditEntry.objects.get(action=actions.PASSWORD_CHANGE)
    assert (entry.actor_id, entry.target, entry.detail) == (
        root.pk,
        f"user:{world.officer.pk}",
        {"by": "admin"},
    )


def test_admin_setting_their_own_password_is_not_forced_to_change_it(world):
    root = superuser()
    admin = signed_in(root)

    admin.post(
        f"/admin/accounts/user/{root.pk}/password/",
        {"password1": INITIAL, "password2": INITIAL, "usable_password": "true"},
    )

    root.refresh_from_db()
    assert root.check_password(INITIAL)
    assert not root.must_change_password


def test_admin_password_form_applies_the_policy(world):
    admin = signed_in(superuser())
    response = admin.post(
        f"/admin/accounts/user/{world.officer.pk}/password/",
        {"password1": "abc", "password2": "abc", "usable_password": "true"},
    )
    assert response.status_code == 200
    assert "密码太短" in response.content.decode()
    world.officer.refresh_from_db()
    assert world.officer.check_password("pw-officer")


def test_htmx_request_of_a_user_who_must_change_gets_hx_redirect(world):
    _flag(world.officer)
    client = Client()
    login(client, "officer", "pw-officer")

    response = client.get("/ledger/", headers={"HX-Request": "true"})

    assert response.status_code == 204
    assert urlsplit(response["HX-Redirect"]).path == PASSWORD_PAGE


def test_api_answers_403_to_a_user_who_must_change(world):
    raw, _token = account_services.api_token_issue(user=world.officer)
    _flag(world.officer)

    bearer = Client().get("/api/v1/needs", headers={"Authorization": f"Bearer {raw}"})
    token = Client().post(
        "/api/v1/auth/token",
        data={"username": "officer", "password": "pw-officer"},
        content_type="application/json",
    )
    session = Client()
    login(session, "officer", "pw-officer")

    for response in (bearer, token, session.get("/api/v1/needs")):
        assert response.status_code == 403
        assert response.json()["code"] == "password_change_required"
        assert "修改密码" in response.json()["message"]


def test_other_users_tokens_are_unaffected(world):
    raw, _token = account_services.api_token_issue(user=world.dispatcher)
    _flag(world.officer)
    response = Client().get("/api/v1/needs", headers={"Authorization": f"Bearer {raw}"})
    assert response.status_code == 200


@pytest.mark.parametrize("setting", ["WENXU_DEMO", "DEBUG"])
def test_demo_and_debug_do_not_force_the_change(world, settings, setting):
    setattr(settings, setting, True)
    _flag(world.officer)

    assert login(Client(), "officer", "pw-officer")["Location"] == "/"
