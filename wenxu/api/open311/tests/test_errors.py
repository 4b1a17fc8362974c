"""Refusals in the spec's error object with the right HTTP status, in Chinese (English with
Accept-Language: en), and nothing stored on bad input."""

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from conftest import World
from wenxu.api.open311.tests.conftest import Keys, error_descriptions, form, get, post
from wenxu.integrations.models import ApiClient
from wenxu.integrations.services import api_client_revoke
from wenxu.needs.models import Need, NeedEvent
from wenxu.residents.models import Requester

FORMATS = ["json", "xml"]


def _nothing_stored() -> None:
    assert Need.objects.count() == 0
    assert NeedEvent.objects.count() == 0
    assert Requester.objects.count() == 0


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"service_code": ""}, "service_code"),
        ({"lat": None, "long": None, "address_string": None}, "lat"),
        ({"lat": None, "long": None, "address_string": None, "address_id": "545483"}, "address_id"),
        ({"long": None}, "long"),
        ({"lat": "北纬三十度"}, "lat"),
        ({"lat": "91"}, "纬度"),
        ({"description": ""}, "诉求内容"),
        ({"description": "长" * 4001}, "4000"),
        ({"phone": "12345"}, "联系电话"),
        ({"email": "not-an-email"}, "电子邮箱"),
        ({"media_url": "javascript:alert(1)"}, "media_url"),
        ({"attribute[area]": "999999"}, "attribute[area]"),
        ({"attribute[area]": None, "address_string": "某地"}, "attribute[area]"),
        ({"attribute[colour]": "red"}, "colour"),
        ({"attribute[kind]": "gossip"}, "kind"),
    ],
)
def test_bad_input_is_a_400_error_and_stores_nothing(
    world: World, keys: Keys, client: Client, fmt: str, overrides: dict[str, Any], words: str
) -> None:
    response = post(client, fmt, form(world, keys.town_a, **overrides))

    assert response.status_code == 400, response.content
    assert any(words in d for d in error_descriptions(response))
    _nothing_stored()


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_unknown_service_is_a_404_and_stores_nothing(
    world: World, keys: Keys, client: Client, fmt: str
) -> None:
    world.cat_water.active = False
    world.cat_water.save()
    for code in ("999999", "abc", str(world.cat_water.pk), str(world.cat_roads.parent_id)):
        response = post(client, fmt, form(world, keys.town_a, service_code=code))
        assert response.status_code == 404
        assert code in error_descriptions(response)[0]
    for code in ("999999", "abc", "²", str(world.cat_water.pk)):
        assert get(client, f"services/{code}", fmt).status_code == 404
    _nothing_stored()


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_parent_category_has_a_definition_though_requests_go_to_its_subcategories(
    world: World, client: Client, fmt: str
) -> None:
    """A need staff filed under a parent category shows that category's service_code: a client
    can look it up (the definition), though it cannot post to it (not in `services`)."""
    parent = str(world.cat_roads.parent_id)

    response = get(client, f"services/{parent}", fmt)

    assert response.status_code == 200
    assert parent.encode() in response.content
    listed = get(client, "services", "json").json()
    assert parent not in [s["service_code"] for s in listed]


@pytest.mark.parametrize("fmt", FORMATS)
def test_keys_are_required_checked_and_limited_to_their_actions(
    world: World, keys: Keys, client: Client, fmt: str
) -> None:
    # No key, a wrong key, a revoked key: 403
    assert post(client, fmt, form(world, "")).status_code == 403
    wrong = post(client, fmt, form(world, keys.town_a + "x"))
    assert wrong.status_code == 403
    assert "api_key" in error_descriptions(wrong)[0]
    revoked = ApiClient.objects.get(name="东河镇平台")
    api_client_revoke(client=revoked)
    assert post(client, fmt, form(world, keys.town_a)).status_code == 403
    assert get(client, "requests", fmt).status_code == 403
    # A read-only key cannot post; a post-only key cannot read
    cannot_post = post(client, fmt, form(world, keys.reader))
    assert cannot_post.status_code == 403
    assert "提交诉求" in error_descriptions(cannot_post)[0]
    for path in ("requests", "requests/WX-2026-000001", f"tokens/{'0' * 32}"):
        cannot_read = get(client, path, fmt, api_key=keys.poster)
        assert cannot_read.status_code == 403
        assert "查询诉求" in error_descriptions(cannot_read)[0]
    _nothing_stored()


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_key_neither_sees_nor_creates_needs_outside_its_areas(
    world: World, keys: Keys, client: Client, fmt: str
) -> None:
    # Given a need in 东河镇, posted by its own key
    mine = post(client, fmt, form(world, keys.town_a))
    assert mine.status_code == 200
    need = Need.objects.get()
    # Then 西岭乡's key gets 404 for it, as for an unknown one, and an empty list
    for path in (f"requests/{need.number}", f"tokens/{need.client_uuid}", "requests/WX-1-1"):
        response = get(client, path, fmt, api_key=keys.town_b)
        assert response.status_code == 404
    listed = get(client, "requests", "json", api_key=keys.town_b)
    assert listed.json() == []
    ids = get(client, "requests", "json", api_key=keys.town_b, service_request_id=need.number)
    assert ids.json() == []
    # And it cannot post into 东河镇's grid
    other = post(client, fmt, form(world, keys.town_b))
    assert other.status_code == 400
    assert Need.objects.count() == 1


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_key_over_its_rate_limit_gets_429(
    world: World, keys: Keys, client: Client, fmt: str
) -> None:
    ApiClient.objects.filter(name="东河镇平台").update(rate_limit=2)
    definition = f"services/{world.cat_roads.pk}"
    minute = timezone.now().replace(second=15, microsecond=0)
    with time_machine.travel(minute, tick=False):  # all in one rate-limit minute
        assert get(client, "requests", fmt, api_key=keys.town_a).status_code == 200
        assert get(client, definition, fmt, api_key=keys.town_a).status_code == 200

        refused = post(client, fmt, form(world, keys.town_a))

    assert refused.status_code == 429
    assert refused["Retry-After"] == "45"  # the seconds left in that minute
    assert "每分钟最多 2 次" in error_descriptions(refused)[0]
    _nothing_stored()
    # Another key is not affected
    assert get(client, "requests", fmt, api_key=keys.everywhere).status_code == 200


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"start_date": "2026-11-01"}, None),
        ({"start_date": "yesterday"}, "W3C"),
        ({"end_date": "2026-11-01T00:00:00"}, "W3C"),
        ({"start_date": "2026-11-02T00:00:00Z", "end_date": "2026-11-01T00:00:00Z"}, "晚于"),
        (
            {"start_date": "2026-01-01T00:00:00+08:00", "end_date": "2026-06-01T00:00:00+08:00"},
            "90",
        ),
        ({"status": "open,pending"}, "status"),
        ({"service_code": "roads"}, "service_code"),
        ({"page": "0"}, "page"),
        ({"page_size": "ten"}, "page_size"),
    ],
)
def test_bad_filters_are_400_errors(
    keys: Keys, client: Client, fmt: str, params: dict[str, str], words: str | None
) -> None:
    response = get(client, "requests", fmt, api_key=keys.town_a, **params)
    if words is None:  # a W3C date without time is fine
        assert response.status_code == 200
        return
    assert response.status_code == 400
    assert any(words in d for d in error_descriptions(response))


def test_errors_speak_english_with_accept_language_en(
    world: World, keys: Keys, client: Client
) -> None:
    body = form(world, keys.town_a, phone="12345")
    chinese = post(client, "json", body)
    english = client.post("/open311/v2/requests.json", body, headers={"Accept-Language": "en"})

    assert chinese.status_code == english.status_code == 400
    assert "联系电话格式不对" in error_descriptions(chinese)[0]
    assert "Invalid phone number" in error_descriptions(english)[0]
    _nothing_stored()


def test_another_jurisdiction_is_not_found(
    world: World, keys: Keys, client: Client, settings: Any
) -> None:
    settings.WENXU_OPEN311_JURISDICTION = "qingshan.gov.cn"
    assert get(client, "services", jurisdiction_id="qingshan.gov.cn").status_code == 200
    assert get(client, "services").status_code == 200
    other = get(client, "services", "xml", jurisdiction_id="sfgov.org")
    assert other.status_code == 404
    assert "sfgov.org" in error_descriptions(other)[0]
    posted = post(client, "json", form(world, keys.town_a, jurisdiction_id="sfgov.org"))
    assert posted.status_code == 404
    _nothing_stored()


def test_wrong_methods_and_addresses_answer_in_the_spec_format(client: Client) -> None:
    wrong_method = client.post("/open311/v2/services.json")
    assert wrong_method.status_code == 405
    assert wrong_method["Allow"] == "GET, HEAD"
    assert error_descriptions(wrong_method)
    missing = client.get("/open311/v2/requests.html")
    assert missing.status_code == 404
    assert missing["Content-Type"].startswith("text/xml")
    assert error_descriptions(missing)


def test_expired_keys_are_refused(world: World, client: Client) -> None:
    from wenxu.integrations.services import api_client_issue

    raw, _c = api_client_issue(name="过期", expires_at=timezone.now() - timedelta(minutes=1))
    assert get(client, "requests", api_key=raw).status_code == 403
