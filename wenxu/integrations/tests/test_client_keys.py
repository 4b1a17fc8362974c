"""Client API keys: stored hashed, refused when revoked or expired, scoped to area subtrees."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from conftest import World
from wenxu.integrations import services
from wenxu.integrations.models import ApiClient
from wenxu.needs.models import Need


@pytest.mark.django_db
def test_issued_key_is_stored_only_as_its_hash_and_authenticates(world: World) -> None:
    raw, client = services.api_client_issue(name="12345 平台", areas=[world.town_a])

    assert raw.startswith("wxk_")
    assert raw not in {client.key_hash, client.prefix}
    assert client.key_hash == ApiClient.hash_of(raw)
    found = services.api_client_authenticate(raw=raw)
    assert found == client
    assert found is not None
    assert found.last_used_at is not None


@pytest.mark.django_db
def test_revoked_expired_and_unknown_keys_are_refused(world: World) -> None:
    raw, client = services.api_client_issue(name="小程序")
    assert services.api_client_authenticate(raw=raw + "x") is None
    assert services.api_client_authenticate(raw="") is None

    services.api_client_revoke(client=client)
    assert services.api_client_authenticate(raw=raw) is None

    raw2, _client2 = services.api_client_issue(
        name="过期", expires_at=timezone.now() - timedelta(minutes=1)
    )
    assert services.api_client_authenticate(raw=raw2) is None


@pytest.mark.django_db
def test_bad_action_or_duplicate_name_stores_nothing(world: World) -> None:
    services.api_client_issue(name="网格 App")
    with pytest.raises(ValidationError) as dup:
        services.api_client_issue(name="网格 App")
    assert "name" in dup.value.message_dict
    with pytest.raises(ValidationError) as bad:
        services.api_client_issue(name="另一个", actions=["delete"])
    assert "actions" in bad.value.message_dict
    assert ApiClient.objects.count() == 1


@pytest.mark.django_db
def test_area_scope_covers_the_subtrees_of_the_clients_areas(world: World) -> None:
    _raw, scoped = services.api_client_issue(name="东河镇", areas=[world.town_a])
    _raw, everywhere = services.api_client_issue(name="全县")

    assert services.api_client_covers(client=scoped, area=world.grid_a)
    assert not services.api_client_covers(client=scoped, area=world.grid_b)
    assert services.api_client_covers(client=everywhere, area=world.grid_b)

    a = world.register(area=world.grid_a)
    world.register(area=world.grid_b, actor=world.officer_b)
    assert list(Need.objects.filter(services.api_client_area_q(client=scoped))) == [a]
    assert Need.objects.filter(services.api_client_area_q(client=everywhere)).count() == 2
