"""Bad input and unexpected failures answer in the spec's error format (never an HTML page, never
a database error), and what a request shows keeps the need's own address, Latin names and the
dispatcher's notes inside."""

import logging
import uuid
from typing import Any
from urllib.parse import urlencode

import pytest
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation, TooManyFieldsSent
from django.test import Client

from conftest import World
from wenxu.api.open311.tests.conftest import ROOT, Keys, error_descriptions, form, get, post
from wenxu.needs import services
from wenxu.needs.exceptions import NotFound
from wenxu.needs.models import Need, NeedEvent
from wenxu.needs.services import RequesterInput
from wenxu.needs.states import Status

FORMATS = ["json", "xml"]


# --------------------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    ("name", "value"),
    [
        (name, value)
        for name in ("start_date", "end_date")
        for value in (
            "2026-02-30",
            "2026-11-01T25:00:00Z",
            "2026-11-01T24:00:00Z",
            "2026-11-01T23:59:60Z",
            "2026-11-01T00:00:00+99:99",
            "0001-01-01",  # midnight at +08:00 is before year 1 in UTC
        )
    ]
    + [
        ("start_date", "9999-12-31"),  # the default span after it is past year 9999
        ("end_date", "0001-01-01T00:00:00Z"),  # the default span before it is before year 1
    ],
)
def test_impossible_or_out_of_range_dates_are_a_400(
    keys: Keys, client: Client, name: str, value: str
) -> None:
    response = get(client, "requests", "json", api_key=keys.town_a, **{name: value})

    assert response.status_code == 400, response.content
    assert error_descriptions(response)


@pytest.mark.parametrize(
    "params",
    [
        {"start_date": "9999-12-01T00:00:00Z", "end_date": "9999-12-31T00:00:00Z"},
        {"end_date": "9999-12-31"},
        {"start_date": "0001-01-01T00:00:00Z"},
    ],
)
def test_far_dates_that_fit_are_read_as_given(
    keys: Keys, client: Client, params: dict[str, str]
) -> None:
    response = get(client, "requests", api_key=keys.town_a, **params)

    assert response.status_code == 200, response.content
    assert response.json() == []


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"page": "²"}, "page"),
        ({"page": "١"}, "page"),
        ({"page_size": "²"}, "page_size"),
        ({"page": "100001"}, "100000"),
        ({"page": "9" * 40}, "page"),
        ({"service_code": "²"}, "service_code"),
        ({"service_code": "1,٣"}, "service_code"),
    ],
)
@pytest.mark.parametrize("fmt", FORMATS)
def test_numbers_are_ascii_digits_and_pages_are_capped(
    keys: Keys, client: Client, fmt: str, params: dict[str, str], words: str
) -> None:
    response = get(client, "requests", fmt, api_key=keys.town_a, **params)

    assert response.status_code == 400, response.content
    assert any(words in d for d in error_descriptions(response))


def test_the_last_page_allowed_is_answered(keys: Keys, client: Client) -> None:
    response = get(client, "requests", api_key=keys.town_a, page="100000")

    assert response.status_code == 200
    assert response.json() == []


@pytest.mark.parametrize(
    "params",
    [
        {"service_request_id": "WX-2026-000001\x00"},
        {"status": "open\x00"},
        {"service_code": "1\x00"},
        {"start_date\x00": "2026-11-01"},
        {"jurisdiction_id": "\x00"},
    ],
)
def test_a_nul_in_the_query_is_a_400(keys: Keys, client: Client, params: dict[str, str]) -> None:
    response = get(client, "requests", "xml", api_key=keys.town_a, **params)

    assert response.status_code == 400, response.content
    assert "U+0000" in error_descriptions(response)[0]


@pytest.mark.parametrize(
    "path",
    [
        "requests/WX-2026-000001%00.json",
        "tokens/%00.json",
        "services/1%00.json",
    ],
)
def test_a_nul_in_the_path_is_a_400(keys: Keys, client: Client, path: str) -> None:
    response = client.get(f"{ROOT}/{path}", {"api_key": keys.town_a})

    assert response.status_code == 400, response.content
    assert "U+0000" in error_descriptions(response)[0]


@pytest.mark.parametrize(
    "overrides",
    [
        {"description": "路灯坏了\x00一个多月"},
        {"first_name": "三\x00"},
        {"address_string": "东河村\x00村口"},
        {"account_id": "\x00"},
        {"attribute[area\x00]": "1"},
    ],
)
def test_a_nul_in_the_form_is_a_400_and_stores_nothing(
    world: World, keys: Keys, client: Client, overrides: dict[str, str]
) -> None:
    response = post(client, "json", form(world, keys.town_a, **overrides))

    assert response.status_code == 400, response.content
    assert "U+0000" in error_descriptions(response)[0]
    assert Need.objects.count() == 0


# --------------------------------------------------------------------------- the view wrapper


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_unexpected_failure_is_logged_and_answers_an_open311_500(
    keys: Keys, client: Client, fmt: str, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    def broken(*args: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr("wenxu.api.open311.views._list", broken)
    with caplog.at_level(logging.ERROR, logger="wenxu.api.open311.access"):
        response = get(client, "requests", fmt, api_key=keys.town_a)

    assert response.status_code == 500
    assert error_descriptions(response)
    assert b"<html" not in response.content.lower()
    assert "boom" not in response.content.decode()
    assert any("boom" in (r.exc_text or str(r.exc_info)) for r in caplog.records)


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (RequestDataTooBig("too big"), 413),
        (TooManyFieldsSent("too many"), 400),
        (SuspiciousOperation("odd"), 400),
        (NotFound(), 404),
    ],
)
def test_refusals_raised_below_the_view_keep_the_open311_format(
    keys: Keys, client: Client, monkeypatch: pytest.MonkeyPatch, error: Exception, status: int
) -> None:
    def refusing(*args: Any) -> Any:
        raise error

    monkeypatch.setattr("wenxu.api.open311.views._list", refusing)
    response = get(client, "requests", "xml", api_key=keys.town_a)

    assert response.status_code == status
    assert error_descriptions(response)


def test_a_form_with_too_many_fields_is_an_open311_400(
    world: World, keys: Keys, client: Client, settings: Any
) -> None:
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 5

    response = post(client, "json", form(world, keys.town_a))

    assert response.status_code == 400
    assert error_descriptions(response)
    assert Need.objects.count() == 0


def test_a_body_too_large_is_an_open311_413(
    world: World, keys: Keys, client: Client, settings: Any
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100

    response = post(client, "xml", form(world, keys.town_a))

    assert response.status_code == 413
    assert error_descriptions(response)
    assert Need.objects.count() == 0


# --------------------------------------------------------------------------- what is shown


def test_the_needs_own_address_is_masked_in_the_description(
    world: World, keys: Keys, client: Client
) -> None:
    need = world.register(
        description="幸福路 88 号 3 单元楼下的下水道堵了，幸福路88号3单元的住户都受影响。",
        address="东河村幸福路 88 号 3 单元",
    )

    response = get(client, f"requests/{need.number}", api_key=keys.town_a)

    # The street shows, as in `address`; the house number and unit, however spaced, do not
    description = response.json()[0]["description"]
    assert "88" not in description
    assert "单元" not in description
    assert "下水道堵了" in description
    assert response.json()[0]["address"] == "东河村幸福路****"


def test_a_latin_name_is_masked_as_typed_and_by_its_parts(
    world: World, keys: Keys, client: Client
) -> None:
    need = world.register(
        description="John Smith reports the lamp is out; call JOHN SMITH or ask for Mr smith.",
        requester=RequesterInput(name="John Smith", phone="13812345678"),
    )

    response = get(client, f"requests/{need.number}", "xml", api_key=keys.town_a)

    text = response.content.decode().lower()
    assert "john" not in text
    assert "smith" not in text
    assert "reports the lamp is out" in text


def test_media_url_loses_its_query_string_and_any_personal_data(
    world: World, keys: Keys, client: Client
) -> None:
    signed = post(
        client,
        "json",
        form(
            world,
            keys.town_a,
            media_url="https://user:pw@img.example.com:8443/p/1.jpg?sig=abc&phone=13812345678#x",
        ),
    )
    named = post(
        client,
        "json",
        form(world, keys.town_a, media_url="https://img.example.com/uploads/13812345678.jpg"),
    )
    assert signed.status_code == named.status_code == 200

    items = {
        item["service_request_id"]: item
        for item in get(client, "requests", api_key=keys.town_a).json()
    }

    assert items[signed.json()[0]["service_request_id"]]["media_url"] == (
        "https://img.example.com:8443/p/1.jpg"
    )
    assert items[named.json()[0]["service_request_id"]]["media_url"] is None


def test_a_withdrawal_shows_a_fixed_public_text_not_the_dispatchers_note(
    world: World, keys: Keys, client: Client
) -> None:
    need = world.register()
    services.need_withdraw(
        actor=world.dispatcher, need=need, version=need.version, reason="重复来电，内部核实后撤销"
    )

    for fmt in FORMATS:
        response = get(client, f"requests/{need.number}", fmt, api_key=keys.town_a)
        assert "内部核实" not in response.content.decode()
        assert "该诉求已撤销。" in response.content.decode()


def test_a_merge_names_its_target_only_when_the_key_covers_it(
    world: World, keys: Keys, client: Client
) -> None:
    target = world.register(area=world.village_a)
    merged = world.register(area=world.grid_a)
    Need.objects.filter(pk=merged.pk).update(status=Status.MERGED, merged_into=target)

    covered = get(client, f"requests/{merged.number}", api_key=keys.town_a).json()[0]
    outside = get(client, f"requests/{merged.number}", api_key=keys.grid_a).json()[0]
    listed = get(client, "requests", api_key=keys.grid_a).json()

    assert target.number in covered["status_notes"]
    assert target.number not in outside["status_notes"]
    assert outside["status_notes"] == "与其他群众反映的相同问题合并办理。"
    assert [i["service_request_id"] for i in listed] == [merged.number]
    assert target.number not in str(listed)


# --------------------------------------------------------------------------- keys, methods, tokens


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_key_may_come_in_the_x_api_key_header(
    world: World, keys: Keys, client: Client, fmt: str
) -> None:
    need = world.register()
    headers = {"X-Api-Key": keys.town_a}

    read = client.get(f"{ROOT}/requests/{need.number}.{fmt}", headers=headers)
    body = form(world, "")
    del body["api_key"]
    posted = client.post(
        f"{ROOT}/requests.{fmt}",
        urlencode(body),
        content_type="application/x-www-form-urlencoded",
        headers=headers,
    )
    wrong = client.get(f"{ROOT}/requests.{fmt}", headers={"X-Api-Key": keys.town_a + "x"})

    assert read.status_code == 200, read.content
    assert need.number.encode() in read.content
    assert posted.status_code == 200, posted.content
    assert wrong.status_code == 403
    assert Need.objects.count() == 2


def test_head_is_answered_where_the_allow_header_says_so(keys: Keys, client: Client) -> None:
    refused = client.put(f"{ROOT}/requests.json")
    head = client.head(f"{ROOT}/services.json")

    assert refused.status_code == 405
    assert refused["Allow"] == "GET, POST, HEAD"
    assert head.status_code == 200


def test_the_token_endpoint_echoes_the_canonical_uuid(
    world: World, keys: Keys, client: Client
) -> None:
    created = post(client, "json", form(world, keys.town_a))
    token = created.json()[0]["token"]
    shouted = "{" + token.upper() + "}"

    response = get(client, f"tokens/{shouted}", api_key=keys.town_a)

    assert response.status_code == 200
    assert response.json()[0]["token"] == token == str(uuid.UUID(token))
    assert NeedEvent.objects.count() == 1
