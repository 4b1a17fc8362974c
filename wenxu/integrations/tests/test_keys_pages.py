"""接口密钥 (/integrations/keys/): admins list, issue (shown once), re-scope and revoke client
keys within their areas; everyone else gets 403."""

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from wenxu.accounts.models import Membership, User
from wenxu.audit.models import AuditEntry
from wenxu.integrations.models import ApiClient
from wenxu.integrations.services import api_client_authenticate, api_client_issue
from wenxu.lib import clock

pytestmark = pytest.mark.django_db

LIST = "/integrations/keys/"
NEW = "/integrations/keys/new/"


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def town_admin(world: Any) -> User:
    """An admin of 东河镇 only."""
    user = User.objects.create_user(username="town_admin", password="pw-town_admin")
    Membership.objects.create(user=user, role="admin", area=world.town_a)
    return user


def _form(world: Any, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "12345 热线平台",
        "areas": [world.town_a.pk],
        "actions": ["read", "create"],
        "source": "hotline",
        "rate_limit": "60",
        "expires_on": "",
        "note": "市热线对接",
    }
    data.update(overrides)
    return data


def test_anonymous_is_sent_to_login(world: Any) -> None:
    response = Client().get(LIST)
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


@pytest.mark.parametrize("who", ["dispatcher", "leader", "officer", "handler", "outsider"])
def test_only_admins_reach_the_key_pages(world: Any, who: str) -> None:
    _raw, key = api_client_issue(name="已有")
    client = _client(getattr(world, who))
    assert client.get(LIST).status_code == 403
    assert client.get(NEW).status_code == 403
    assert client.post(NEW, _form(world)).status_code == 403
    assert client.post(reverse("keys:edit", args=[key.pk]), _form(world)).status_code == 403
    assert client.post(reverse("keys:revoke", args=[key.pk])).status_code == 403
    assert ApiClient.objects.count() == 1
    key.refresh_from_db()
    assert key.revoked_at is None
    assert "接口密钥只对系统管理员开放" in client.get(LIST).content.decode()


def test_admin_lists_keys_with_their_scope(world: Any) -> None:
    api_client_issue(name="全县", rate_limit=30)
    api_client_issue(name="东河", areas=[world.town_a], actions=["read"], source="hotline")
    response = _client(world.admin).get(LIST)
    assert response.status_code == 200
    body = response.content.decode()
    assert "全县" in body
    assert "全部区域" in body
    assert "东河镇" in body
    assert "30 次/分钟" in body
    assert "热线" in body
    assert [row.client.name for row in response.context["rows"]] == ["东河", "全县"]


def test_a_township_admin_sees_and_manages_only_keys_within_their_township(
    world: Any, town_admin: User
) -> None:
    _raw, county_wide = api_client_issue(name="全县")
    _raw, west = api_client_issue(name="西岭", areas=[world.town_b])
    _raw, mixed = api_client_issue(name="两镇", areas=[world.grid_a, world.town_b])
    _raw, east = api_client_issue(name="东河村", areas=[world.village_a])
    client = _client(town_admin)
    names = [row.client.name for row in client.get(LIST).context["rows"]]
    assert names == ["东河村"]
    for key in (county_wide, west, mixed):
        assert client.get(reverse("keys:edit", args=[key.pk])).status_code == 404
        assert client.post(reverse("keys:revoke", args=[key.pk])).status_code == 404
        key.refresh_from_db()
        assert key.revoked_at is None
    assert client.get(reverse("keys:edit", args=[east.pk])).status_code == 200


def test_created_key_is_shown_once_and_only_its_hash_is_stored(world: Any) -> None:
    client = _client(world.admin)
    response = client.post(NEW, _form(world, expires_on=str(clock.today() + timedelta(days=30))))
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    raw: str = response.context["raw_key"]
    assert raw.startswith("wxk_")
    assert raw in response.content.decode()
    key = ApiClient.objects.get()
    assert key.key_hash == ApiClient.hash_of(raw)
    assert list(key.areas.all()) == [world.town_a]
    assert key.actions == ["read", "create"]
    assert (key.source, key.rate_limit, key.note) == ("hotline", 60, "市热线对接")
    assert key.created_by == world.admin
    assert key.expires_at is not None
    assert timezone.localtime(key.expires_at).date() == clock.today() + timedelta(days=30)
    assert api_client_authenticate(raw=raw) == key
    listed = client.get(LIST).content.decode()
    assert raw not in listed
    assert key.prefix in listed
    assert raw not in str(dict(client.session.items()))


def test_a_county_admin_may_leave_areas_empty_for_every_area(world: Any) -> None:
    response = _client(world.admin).post(NEW, _form(world, areas=[]))
    assert response.status_code == 200
    assert not ApiClient.objects.get().areas.exists()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"name": ""}, "请填写名称"),
        ({"name": "已有"}, "已有同名的接口密钥"),
        ({"actions": []}, "请至少选择一项允许的操作"),
        ({"actions": ["read", "delete"]}, "未知的操作"),
        ({"rate_limit": "0"}, "每分钟请求上限至少为 1"),
        ({"rate_limit": "abc"}, "每分钟请求上限须是整数"),
        ({"rate_limit": "1000000"}, "每分钟请求上限不能超过"),
        ({"source": "fax"}, "未知的诉求来源"),
        ({"expires_on": "2020-01-01"}, "有效期须晚于今天"),
        ({"expires_on": "明天"}, "日期格式不正确"),
        ({"areas": [999999]}, "所选区域不在您的管理范围内"),
        ({"note": "长" * 201}, "备注不能超过 200 个字"),
    ],
)
def test_bad_input_is_refused_with_a_message_and_stores_nothing(
    world: Any, overrides: dict[str, Any], message: str
) -> None:
    api_client_issue(name="已有")
    response = _client(world.admin).post(NEW, _form(world, **overrides))
    assert response.status_code == 422
    body = response.content.decode()
    assert message in body
    assert "wxk_" not in body
    assert list(ApiClient.objects.values_list("name", flat=True)) == ["已有"]


def test_a_township_admin_cannot_scope_a_key_outside_or_to_every_area(
    world: Any, town_admin: User
) -> None:
    client = _client(town_admin)
    response = client.post(NEW, _form(world, areas=[world.town_b.pk]))
    assert response.status_code == 422
    assert "所选区域不在您的管理范围内" in response.content.decode()
    response = client.post(NEW, _form(world, areas=[]))
    assert response.status_code == 422
    assert "请至少选择一个区域" in response.content.decode()
    assert not ApiClient.objects.exists()
    assert client.post(NEW, _form(world, areas=[world.grid_a.pk])).status_code == 200
    assert list(ApiClient.objects.get().areas.all()) == [world.grid_a]


def test_edit_changes_the_scope_but_not_the_key(world: Any) -> None:
    raw, key = api_client_issue(name="东河", areas=[world.town_a])
    client = _client(world.admin)
    url = reverse("keys:edit", args=[key.pk])
    assert client.get(url).status_code == 200
    response = client.post(
        url,
        {"areas": [world.town_b.pk], "actions": ["read"], "rate_limit": "10", "note": "改"},
    )
    assert response.status_code == 302
    key.refresh_from_db()
    assert list(key.areas.all()) == [world.town_b]
    assert key.actions == ["read"]
    assert key.rate_limit == 10
    assert key.note == "改"
    assert api_client_authenticate(raw=raw) == key
    entry = AuditEntry.objects.get(action="setting_change", target=f"apiclient:{key.pk}")
    assert (entry.actor_id, entry.detail["areas"]) == (world.admin.pk, [world.town_b.pk])


def test_bad_edit_changes_nothing(world: Any) -> None:
    _raw, key = api_client_issue(name="东河", areas=[world.town_a], rate_limit=50)
    response = _client(world.admin).post(
        reverse("keys:edit", args=[key.pk]),
        {"areas": [world.town_b.pk], "actions": [], "rate_limit": "0"},
    )
    assert response.status_code == 422
    body = response.content.decode()
    assert "请至少选择一项允许的操作" in body
    assert "每分钟请求上限至少为 1" in body
    key.refresh_from_db()
    assert list(key.areas.all()) == [world.town_a]
    assert key.rate_limit == 50
    assert key.actions == ["read", "create"]


def test_revoke_asks_first_then_the_key_stops_working(world: Any) -> None:
    raw, key = api_client_issue(name="东河")
    client = _client(world.admin)
    url = reverse("keys:revoke", args=[key.pk])
    assert "确定吊销接口密钥" in client.get(url).content.decode()
    assert api_client_authenticate(raw=raw) == key
    response = client.post(url, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert f'id="key-{key.pk}"' in response.content.decode()
    assert "已吊销" in response.content.decode()
    assert api_client_authenticate(raw=raw) is None
    assert "已吊销" in client.get(LIST).content.decode()
    revoked = AuditEntry.objects.get(action="apikey_revoke", target=f"apiclient:{key.pk}")
    assert revoked.actor_id == world.admin.pk


def test_revoke_without_htmx_redirects_with_a_message(world: Any) -> None:
    _raw, key = api_client_issue(name="东河")
    client = _client(world.admin)
    response = client.post(reverse("keys:revoke", args=[key.pk]), follow=True)
    assert "已吊销接口密钥“东河”" in response.content.decode()


def test_key_pages_need_the_csrf_token(world: Any) -> None:
    _raw, key = api_client_issue(name="东河")
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.admin)
    assert client.post(reverse("keys:revoke", args=[key.pk])).status_code == 403
    assert client.post(NEW, _form(world, name="新")).status_code == 403
    key.refresh_from_db()
    assert key.revoked_at is None
    assert ApiClient.objects.count() == 1


def test_key_list_query_count_does_not_grow(world: Any, django_assert_max_num_queries: Any) -> None:
    client = _client(world.admin)
    api_client_issue(name="k0", areas=[world.town_a, world.town_b], created_by=world.admin)
    client.get(LIST)  # what pages keep between requests is read once (ADR 0026)
    with django_assert_max_num_queries(15) as one:
        assert client.get(LIST).status_code == 200
    for i in range(1, 10):
        api_client_issue(name=f"k{i}", areas=[world.grid_a], created_by=world.dispatcher)
    with django_assert_max_num_queries(15) as ten:
        response = client.get(LIST)
    assert len(response.context["rows"]) == 10
    assert len(ten.captured_queries) == len(one.captured_queries)
