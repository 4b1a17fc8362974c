"""A bearer token of a user who must first change a password an administrator chose (issue #9,
ADR 0017) is refused by the v1 API's own authentication, from the user the token's lookup
loads (issue #10: the login-steps middleware no longer reads the token a second time)."""

from datetime import timedelta

import time_machine
from django.test import Client
from django.utils import timezone

from wenxu.accounts import services as account_services
from wenxu.accounts.models import User


def _flag(user: User) -> None:
    user.must_change_password = True
    user.save(update_fields=["must_change_password"])


def _get(raw: str, path: str = "/api/v1/needs"):
    return Client().get(path, headers={"Authorization": f"Bearer {raw}"})


def test_a_write_with_the_token_of_a_user_who_must_change_is_refused(world):
    raw, _token = account_services.api_token_issue(user=world.officer)
    _flag(world.officer)

    response = Client().post(
        "/api/v1/needs",
        data={"title": "x"},
        content_type="application/json",
        headers={"Authorization": f"Bearer {raw}"},
    )

    assert response.status_code == 403
    assert response.json()["code"] == "password_change_required"


def test_an_expired_token_of_a_user_who_must_change_still_says_so(world):
    raw, _token = account_services.api_token_issue(user=world.officer)
    _flag(world.officer)

    with time_machine.travel(timezone.now() + timedelta(days=31), tick=False):
        response = _get(raw)

    assert response.status_code == 403
    assert response.json()["code"] == "password_change_required"


def test_a_user_who_must_change_may_still_revoke_the_token(world):
    raw, token = account_services.api_token_issue(user=world.officer)
    _flag(world.officer)

    response = Client().delete("/api/v1/auth/token", headers={"Authorization": f"Bearer {raw}"})

    assert response.status_code == 204
    token.refresh_from_db()
    assert token.revoked_at is not None
