"""Acceptance (issue #8): the PyPI `georeport` client lists services, posts a request and reads
it back, in JSON and in XML, against a live server.

georeport 0.3.1 has no method to post, so the request is posted form-encoded with `requests`
as any client would. Its GET methods never send the `api_key` that wenxu requires for reading
requests; the test passes it as a query parameter, as a client of wenxu must
(docs/api/open311.md).
"""

from typing import Any

import georeport.georeport
import pytest
import requests
import xmltodict
from georeport import GeoReport

from conftest import World
from wenxu.integrations.models import ClientAction
from wenxu.integrations.services import api_client_issue
from wenxu.needs.models import Need, NeedEvent


class KeyedRequests:
    """`requests` as georeport uses it, with the client's `api_key` added to every GET."""

    def __init__(self, api_key: str) -> None:
        self.api_key = api_key

    def get(self, url: str, params: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        timeout = kwargs.pop("timeout", 30)
        keyed = {**(params or {}), "api_key": self.api_key}
        return requests.get(url, params=keyed, timeout=timeout, **kwargs)


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_georeport_client_lists_posts_and_reads_back(
    fmt: str, world: World, live_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw, _client = api_client_issue(
        name=f"georeport-{fmt}",
        areas=[world.town_a],
        actions=[ClientAction.READ, ClientAction.CREATE],
        source="hotline",
        rate_limit=10_000,
    )
    monkeypatch.setattr(georeport.georeport, "requests", KeyedRequests(raw))
    root = live_server.url + "/open311/v2"
    client = GeoReport(root, api_key=raw, output_format=fmt)

    # Given the service list and the definition of 道路与照明
    services = client.get_service_list()
    roads = next(s for s in services if s["service_name"] == "道路与照明")
    assert roads["service_code"] == str(world.cat_roads.pk)
    assert roads["group"] == "城乡建设"
    assert str(roads["metadata"]).lower() == "true"
    definition = client.get_service_definition(roads["service_code"])
    attributes = definition["attributes"]
    if fmt == "xml":
        attributes = attributes["attribute"]
    area = next(a for a in attributes if a["code"] == "area")
    values = area["values"] if fmt == "json" else area["values"]["value"]
    grid = next(v for v in values if v["name"].endswith("东河村第一网格"))

    # When a request is posted form-encoded, as the spec prescribes
    posted = requests.post(
        f"{root}/requests.{fmt}",
        data={
            "api_key": raw,
            "service_code": roads["service_code"],
            "lat": "30.274123",
            "long": "120.155123",
            "address_string": "东河村村口",
            "first_name": "三",
            "last_name": "张",
            "phone": "13812345678",
            "description": "村口三盏路灯坏了一个多月，晚上出行不便。",
            f"attribute[{area['code']}]": grid["key"],
        },
        timeout=30,
    )
    assert posted.status_code == 200, posted.text
    if fmt == "json":
        created = posted.json()[0]
    else:
        created = xmltodict.parse(posted.content)["service_requests"]["request"]
    number = created["service_request_id"]

    # Then it is stored once, and the client reads it back one by one and in a list
    need = Need.objects.get(number=number)
    assert need.area == world.grid_a
    assert need.source == "hotline"
    assert NeedEvent.objects.filter(need=need).count() == 1
    one = client.get_service_request(number)
    assert one["service_request_id"] == number
    assert one["status"] == "open"
    assert one["service_code"] == roads["service_code"]
    assert one["description"] == "村口三盏路灯坏了一个多月，晚上出行不便。"
    assert str(one["lat"]) == "30.274"
    listed = client.get_service_requests(service_request_id=number)
    if isinstance(listed, dict):  # xmltodict: one <request> is a dict, not a list
        listed = [listed]
    assert [r["service_request_id"] for r in listed] == [number]
    window = client.get_service_requests(status="open", service_code=roads["service_code"])
    if isinstance(window, dict):
        window = [window]
    assert number in {r["service_request_id"] for r in window}
