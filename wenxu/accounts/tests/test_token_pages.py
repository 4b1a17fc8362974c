"""我的令牌 (/accounts/tokens/): list, issue (shown once), revoke; only one's own tokens."""

import logging
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from wenxu.accounts import services
from wenxu.accounts.models import ApiToken, User
from wenxu.lib import clock

pytestmark = pytest.mark.django_db

URL = "/accounts/tokens/"


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _create(client: Client, name: str = "数据脚本", days: int = 7) -> Any:
    return client.post(URL, {"name": name, "days": days})


def _raw_from(response: Any) -> str:
    token: ApiToken = response.context["created"]
    raw: str = response.context["raw_token"]
    assert raw.startswith(token.prefix)
    return raw


def test_anonymous_is_sent_to_login(world: Any) -> None:
    response = Client().get(URL)
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_every_signed_in_user_sees_only_their_own_tokens(world: Any) -> None:
    services.api_token_issue(user=world.officer, name="王的脚本")
    services.api_token_issue(user=world.dispatcher, name="调度的脚本")
    response = _client(world.officer).get(URL)
    assert response.status_code == 200
    body = response.content.decode()
    assert "王的脚本" in body
    assert "调度的脚本" not in body
    assert _client(world.outsider).get(URL).status_code == 200


def test_created_token_is_shown_once_and_only_its_hash_is_stored(world: Any) -> None:
    client = _client(world.officer)
    response = _create(client, days=7)
    assert response.status_code == 200
    raw = _raw_from(response)
    body = response.content.decode()
    assert raw in body
    assert "no-store" in response["Cache-Control"]
    token = ApiToken.objects.get(user=world.officer)
    assert token.name == "数据脚本"
    assert token.key_hash == ApiToken.hash_of(raw)
    assert raw not in str(ApiToken.objects.filter(pk=token.pk).values().first())
    assert timedelta(days=6, hours=23) < token.expires_at - clock.now() <= timedelta(days=7)
    # Reloading the list (GET) does not show it again; nothing kept it in the session.
    again = client.get(URL)
    assert raw not in again.content.decode()
    assert token.prefix in again.content.decode()
    assert raw not in str(dict(client.session.items()))


def test_resubmitting_the_form_does_not_issue_a_second_token(world: Any) -> None:
    client = _client(world.officer)
    _create(client)
    response = _create(client)
    assert response.status_code == 422
    assert "同名的有效令牌" in response.content.decode()
    assert response.context["raw_token"] == ""
    assert ApiToken.objects.filter(user=world.officer).count() == 1


def test_a_name_may_be_reused_once_the_old_token_is_revoked(world: Any) -> None:
    _raw, token = services.api_token_issue(user=world.officer, name="数据脚本")
    services.api_token_revoke(token=token)
    response = _create(_client(world.officer))
    assert response.status_code == 200
    assert ApiToken.objects.filter(user=world.officer, name="数据脚本").count() == 2


def test_another_users_token_name_does_not_count(world: Any) -> None:
    services.api_token_issue(user=world.dispatcher, name="数据脚本")
    assert _create(_client(world.officer)).status_code == 200


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "", "days": 7}, "请填写令牌名称"),
        ({"name": "   ", "days": 7}, "请填写令牌名称"),
        ({"name": "x" * 101, "days": 7}, "不能超过 100 个字"),
        ({"name": "脚本", "days": 90}, "请选择有效期"),  # above the cap of 30 days
        ({"name": "脚本", "days": 5}, "请选择有效期"),
        ({"name": "脚本", "days": "abc"}, "请选择有效期"),
        ({"name": "脚本"}, "请选择有效期"),
    ],
)
def test_bad_input_is_refused_with_a_message_and_stores_nothing(
    world: Any, data: dict[str, Any], message: str
) -> None:
    response = _client(world.officer).post(URL, data)
    assert response.status_code == 422
    assert message in response.content.decode()
    assert not ApiToken.objects.exists()


def test_validity_choices_follow_the_cap(world: Any, settings: Any) -> None:
    assert services.api_token_day_choices() == [7, 30]
    settings.WENXU_API_TOKEN_DAYS = 90
    response = _create(_client(world.officer), days=90)
    assert response.status_code == 200
    token = ApiToken.objects.get()
    assert token.expires_at - clock.now() > timedelta(days=89)
    settings.WENXU_API_TOKEN_DAYS = 3
    assert services.api_token_day_choices() == [3]


def test_api_token_issue_caps_days_and_keeps_its_default(world: Any) -> None:
    _raw, default = services.api_token_issue(user=world.officer)
    _raw, capped = services.api_token_issue(user=world.officer, days=365)
    _raw, short = services.api_token_issue(user=world.officer, days=2)
    assert timedelta(days=29) < default.expires_at - clock.now() <= timedelta(days=30)
    assert timedelta(days=29) < capped.expires_at - clock.now() <= timedelta(days=30)
    assert timedelta(days=1) < short.expires_at - clock.now() <= timedelta(days=2)


def test_token_made_in_the_ui_works_on_the_api_until_revoked(world: Any) -> None:
    page = _client(world.officer)
    raw = _raw_from(_create(page))
    token = ApiToken.objects.get()
    api = Client()
    # Given a token that has not been used, the list says so.
    assert (
        'data-field="last-used"><span class="text-body-secondary">从未'
        in page.get(URL).content.decode()
    )
    # When it is used on the API, then the list shows when.
    response = api.get("/api/v1/needs", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None
    listed = page.get(URL).content.decode()
    used = timezone.localtime(token.last_used_at).strftime("%Y-%m-%d %H:%M")
    assert f'data-field="last-used">{used}</td>' in listed
    # When it is revoked on the page, then the API refuses it.
    response = page.post(reverse("account_token_revoke", args=[token.pk]))
    assert response.status_code == 302
    assert api.get("/api/v1/needs", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 401
    assert "已吊销" in page.get(URL).content.decode()


def test_revoke_asks_first_and_htmx_gets_the_row(world: Any) -> None:
    _raw, token = services.api_token_issue(user=world.officer, name="数据脚本")
    client = _client(world.officer)
    url = reverse("account_token_revoke", args=[token.pk])
    confirm = client.get(url)
    assert confirm.status_code == 200
    assert "确定吊销令牌" in confirm.content.decode()
    token.refresh_from_db()
    assert token.revoked_at is None
    response = client.post(url, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert f'id="token-{token.pk}"' in response.content.decode()
    assert "已吊销" in response.content.decode()
    token.refresh_from_db()
    assert token.revoked_at is not None


@pytest.mark.parametrize("method", ["get", "post"])
def test_another_users_token_answers_404_and_stays_usable(world: Any, method: str) -> None:
    raw, token = services.api_token_issue(user=world.dispatcher, name="调度的脚本")
    response = getattr(_client(world.officer), method)(
        reverse("account_token_revoke", args=[token.pk])
    )
    assert response.status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None
    assert isinstance(services.api_token_authenticate(raw=raw), ApiToken)


def test_revoke_needs_the_csrf_token(world: Any) -> None:
    _raw, token = services.api_token_issue(user=world.officer, name="数据脚本")
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.officer)
    response = client.post(reverse("account_token_revoke", args=[token.pk]))
    assert response.status_code == 403
    token.refresh_from_db()
    assert token.revoked_at is None
    assert client.post(URL, {"name": "x", "days": 7}).status_code == 403
    assert ApiToken.objects.count() == 1


def test_states_expired_revoked_and_password_changed(world: Any) -> None:
    services.api_token_issue(user=world.officer, name="旧的", days=7)
    with time_machine.travel(clock.now() - timedelta(days=10)):
        services.api_token_issue(user=world.officer, name="过期的", days=7)
    _raw, revoked = services.api_token_issue(user=world.officer, name="吊销的")
    services.api_token_revoke(token=revoked)
    client = _client(world.officer)
    rows = {row.token.name: row.state_label for row in client.get(URL).context["rows"]}
    assert rows == {"旧的": "有效", "过期的": "已过期", "吊销的": "已吊销"}
    world.officer.set_password("pw-new-officer")
    world.officer.save()
    client = _client(world.officer)
    rows = {row.token.name: row.state_label for row in client.get(URL).context["rows"]}
    assert rows["旧的"] == "密码已改，需重新创建"


def test_the_raw_token_is_not_logged(world: Any, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        response = _create(_client(world.officer))
        raw = _raw_from(response)
    assert raw not in caplog.text


def test_token_list_query_count_does_not_grow(
    world: Any, django_assert_max_num_queries: Any
) -> None:
    client = _client(world.officer)
    services.api_token_issue(user=world.officer, name="一")
    client.get(URL)  # what pages keep between requests is read once (ADR 0026)
    with django_assert_max_num_queries(12) as one:
        assert client.get(URL).status_code == 200
    for i in range(9):
        services.api_token_issue(user=world.officer, name=f"令牌{i}")
    with django_assert_max_num_queries(12) as ten:
        response = client.get(URL)
    assert len(response.context["rows"]) == 10
    assert len(ten.captured_queries) == len(one.captured_queries)


def test_a_name_held_by_a_token_ended_by_a_password_change_may_be_reused(world: Any) -> None:
    services.api_token_issue(user=world.officer, name="数据脚本", days=7)
    world.officer.set_password("pw-new-officer")
    world.officer.save()
    client = _client(world.officer)
    response = _create(client, name="数据脚本")
    assert response.status_code == 200
    raw = _raw_from(response)
    assert ApiToken.objects.filter(user=world.officer, name="数据脚本").count() == 2
    # the new one works; a second one of the same name is refused again
    assert isinstance(services.api_token_authenticate(raw=raw), ApiToken)
    _create(client, name="数据脚本")
    assert ApiToken.objects.filter(user=world.officer, name="数据脚本").count() == 2
