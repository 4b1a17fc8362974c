"""Every endpoint's JSON and XML against schemas written from the GeoReport v2 spec
(wenxu/api/open311/schemas: JSON Schema for JSON, XSD for XML)."""

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import xmlschema
from django.test import Client

from conftest import World
from wenxu.api.open311.tests.conftest import Keys, form, get, post
from wenxu.needs import services
from wenxu.needs.models import Need

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"
XSD = {
    name: xmlschema.XMLSchema(str(SCHEMAS / f"{name}.xsd"))
    for name in ("georeport_v2", "post_response", "token")
}


def _json(response: Any, schema: str) -> Any:
    assert response["Content-Type"] == "application/json; charset=utf-8"
    data = json.loads(response.content)
    jsonschema.validate(
        data,
        json.loads((SCHEMAS / f"{schema}.json").read_text()),
        format_checker=jsonschema.FormatChecker(),
    )
    return data


def _xml(response: Any, xsd: str = "georeport_v2") -> None:
    assert response["Content-Type"] == "text/xml; charset=utf-8"
    assert response.content.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    XSD[xsd].validate(response.content.decode())


def _needs_in_every_shape(world: World, client: Client, keys: Keys) -> list[Need]:
    """A posted need (media, coordinates), a replied one with co units and deadlines, a planned
    one, a closed one with the resident's verdict, a withdrawn one and a merged one."""
    posted = post(client, "json", form(world, keys.town_a))
    assert posted.status_code == 200, posted.content
    replied = world.replied(address="东河村 8 组")
    replied.co_units.add(world.transport)
    world.replied("planned")  # with a follow-up date
    closed = world.replied()
    services.need_callback(
        actor=world.officer,
        need=closed,
        version=closed.version,
        channel="phone",
        resolved="yes",
        satisfaction="satisfied",
    )
    withdrawn = world.register()
    services.need_withdraw(
        actor=world.dispatcher, need=withdrawn, version=withdrawn.version, reason="重复登记"
    )
    target = world.register()
    merged = world.register()
    services.need_merge(actor=world.dispatcher, need=merged, version=merged.version, into=target)
    return list(Need.objects.all())


def test_discovery_services_and_definition_match_the_spec(
    world: World, keys: Keys, client: Client
) -> None:
    code = str(world.cat_roads.pk)
    _json(get(client, "discovery"), "discovery")
    _xml(get(client, "discovery", "xml"))
    listed = _json(get(client, "services"), "services")
    assert {s["service_code"] for s in listed} == {code, str(world.cat_water.pk)}
    _xml(get(client, "services", "xml"))
    definition = _json(get(client, f"services/{code}", api_key=keys.town_a), "service_definition")
    assert [a["code"] for a in definition["attributes"]] == ["area", "kind"]
    _xml(get(client, f"services/{code}", "xml"))


@pytest.mark.parametrize("extensions", ["", "true"])
def test_requests_in_every_state_match_the_spec(
    world: World, keys: Keys, client: Client, extensions: str
) -> None:
    needs = _needs_in_every_shape(world, client, keys)
    args = {"api_key": keys.town_a, "extensions": extensions}

    data = _json(get(client, "requests", **args), "service_requests")
    _xml(get(client, "requests", "xml", **args))

    assert len(data) == len(needs)
    assert {"open", "closed"} == {r["status"] for r in data}
    assert ("notes" in data[0]) is bool(extensions)
    for need in needs:
        _json(get(client, f"requests/{need.number}", **args), "service_requests")
        _xml(get(client, f"requests/{need.number}", "xml", **args))


def test_post_and_token_responses_match_the_spec(world: World, keys: Keys, client: Client) -> None:
    created = _json(post(client, "json", form(world, keys.town_a)), "post_response")[0]
    xml = post(client, "xml", form(world, keys.town_a, account_id="acct-7"))
    _xml(xml, "post_response")
    assert b"<account_id>acct-7</account_id>" in xml.content

    token = created["token"]
    found = _json(get(client, f"tokens/{token}", api_key=keys.town_a), "token")
    assert found == [{"service_request_id": created["service_request_id"], "token": token}]
    _xml(get(client, f"tokens/{token}", "xml", api_key=keys.town_a), "token")


def test_errors_match_the_spec(world: World, keys: Keys, client: Client) -> None:
    for fmt in ("json", "xml"):
        responses = [
            get(client, "services/999999", fmt),
            get(client, "requests", fmt),
            post(client, fmt, form(world, keys.town_a, service_code="")),
            get(client, "nothing-here", fmt),
        ]
        for response in responses:
            assert response.status_code in (400, 403, 404)
            if fmt == "json":
                _json(response, "errors")
            else:
                _xml(response)


def test_the_schemas_refuse_what_the_spec_forbids() -> None:
    schema = json.loads((SCHEMAS / "service_requests.json").read_text())
    item = {
        "service_request_id": "WX-2026-000001",
        "status": "pending",  # only open or closed
        "status_notes": None,
        "service_name": "道路与照明",
        "service_code": "2",
        "description": "",
        "agency_responsible": None,
        "service_notice": None,
        "requested_datetime": "2026-11-29T19:20:30",  # no zone
        "updated_datetime": "2026-11-29T19:20:30+08:00",
        "expected_datetime": None,
        "address": None,
        "address_id": None,
        "zipcode": None,
        "lat": None,
        "long": None,
        "media_url": None,
    }
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors([item]))
    assert {tuple(e.path) for e in errors} == {(0, "status"), (0, "requested_datetime")}
    misordered = (
        "<services><service><service_name>x</service_name><service_code>1</service_code>"
        "<description/><metadata>yes</metadata><type>realtime</type><keywords/><group/>"
        "</service></services>"
    )
    assert not XSD["georeport_v2"].is_valid(misordered)
