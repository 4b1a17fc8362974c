"""Client keys in the Django admin (list, search, re-scope, revoke; no creation) and their
per-minute rate limit."""

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from wenxu.accounts.models import User
from wenxu.audit.models import AuditEntry
from wenxu.integrations.models import ApiClient
from wenxu.integrations.services import api_client_issue, api_client_throttle
from wenxu.lib import clock

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/integrations/apiclient/"


@pytest.fixture
def superuser(db: None) -> Client:
    user = User.objects.create_superuser(username="root", password="pw-root")
    client = Client()
    client.force_login(user)
    return client


def test_a_client_gets_its_rate_limit_per_minute_then_waits_for_the_next(world: Any) -> None:
    _raw, key = api_client_issue(name="限流", rate_limit=3)
    start = clock.now().replace(second=5, microsecond=0) + timedelta(minutes=1)
    with time_machine.travel(start, tick=False) as traveller:
        assert [api_client_throttle(client=key) for _ in range(4)] == [True, True, True, False]
        traveller.shift(timedelta(seconds=50))  # still the same minute
        assert api_client_throttle(client=key) is False
        traveller.shift(timedelta(seconds=10))  # the next minute
        assert api_client_throttle(client=key) is True


def test_the_limit_is_per_client(world: Any) -> None:
    _raw, busy = api_client_issue(name="忙", rate_limit=1)
    _raw, quiet = api_client_issue(name="闲", rate_limit=1)
    start = clock.now().replace(second=1, microsecond=0) + timedelta(minutes=1)
    with time_machine.travel(start, tick=False):
        assert api_client_throttle(client=busy) is True
        assert api_client_throttle(client=busy) is False
        assert api_client_throttle(client=quiet) is True


def test_admin_lists_and_searches_keys_without_the_hash(world: Any, superuser: Client) -> None:
    _raw, key = api_client_issue(name="12345 热线平台", areas=[world.town_a])
    api_client_issue(name="小程序")
    response = superuser.get(CHANGELIST)
    assert response.status_code == 200
    body = response.content.decode()
    assert "12345 热线平台" in body
    assert "东河镇" in body
    assert key.key_hash not in body
    assert reverse("keys:create") in body  # creation happens on the 接口密钥 page
    found = superuser.get(CHANGELIST, {"q": key.prefix}).content.decode()
    assert "12345 热线平台" in found
    assert "小程序" not in found
    assert superuser.get(CHANGELIST + "add/").status_code == 403
    change = superuser.get(reverse("admin:integrations_apiclient_change", args=[key.pk]))
    assert change.status_code == 200
    assert key.key_hash not in change.content.decode()


def test_admin_change_rescopes_through_the_service(world: Any, superuser: Client) -> None:
    _raw, key = api_client_issue(name="东河", areas=[world.town_a])
    url = reverse("admin:integrations_apiclient_change", args=[key.pk])
    response = superuser.post(
        url, {"areas": [world.town_b.pk], "actions": ["read"], "rate_limit": "7", "note": "n"}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    key.refresh_from_db()
    assert list(key.areas.all()) == [world.town_b]
    assert (key.actions, key.rate_limit, key.note) == (["read"], 7, "n")
    refused = superuser.post(url, {"areas": [], "actions": [], "rate_limit": "0", "note": ""})
    assert refused.status_code == 200
    assert "请至少选择一项允许的操作" in refused.content.decode()
    key.refresh_from_db()
    assert key.rate_limit == 7


def test_admin_revoke_action(world: Any, superuser: Client) -> None:
    _raw, first = api_client_issue(name="一")
    _raw, second = api_client_issue(name="二")
    response = superuser.post(
        CHANGELIST,
        {"action": "revoke", "_selected_action": [first.pk, second.pk]},
        follow=True,
    )
    assert "已吊销 2 个接口密钥" in response.content.decode()
    assert ApiClient.objects.filter(revoked_at__isnull=False).count() == 2
    revocations = AuditEntry.objects.filter(action="apikey_revoke")
    assert sorted(revocations.values_list("target", flat=True)) == sorted(
        [f"apiclient:{first.pk}", f"apiclient:{second.pk}"]
    )
    assert {entry.actor_username for entry in revocations} == {"root"}
