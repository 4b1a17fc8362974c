"""Client keys and an HTTP helper for the Open311 tests.

Keys: `town_a` (东河镇: its village and grid, so `attribute[area]` is needed unless the address
names one), `grid_a` (one grid: the area is implied), `everywhere` (no areas), `reader` (read
only, 东河镇), `poster` (create only, 东河镇), `town_b` (西岭乡: must not see 东河镇's needs).
"""

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode
from xml.etree import ElementTree

import pytest
from defusedxml import ElementTree as SafeElementTree
from django.test import Client

from conftest import World
from wenxu.integrations.models import ClientAction
from wenxu.integrations.services import api_client_issue

ROOT = "/open311/v2"
BOTH = (ClientAction.READ, ClientAction.CREATE)


@dataclass
class Keys:
    town_a: str
    grid_a: str
    everywhere: str
    reader: str
    poster: str
    town_b: str


@pytest.fixture
def keys(world: World) -> Keys:
    def issue(name: str, areas: list[Any], actions: Any = BOTH) -> str:
        raw, _client = api_client_issue(name=name, areas=areas, actions=actions, source="hotline")
        return raw

    return Keys(
        town_a=issue("东河镇平台", [world.town_a]),
        grid_a=issue("第一网格小程序", [world.grid_a]),
        everywhere=issue("12345 平台", []),
        reader=issue("只读", [world.town_a], [ClientAction.READ]),
        poster=issue("只提交", [world.town_a], [ClientAction.CREATE]),
        town_b=issue("西岭乡平台", [world.town_b]),
    )


def form(world: World, key: str, **overrides: Any) -> dict[str, Any]:
    """A complete, valid POST body for 东河镇 (the area given as an attribute)."""
    body: dict[str, Any] = {
        "api_key": key,
        "service_code": str(world.cat_roads.pk),
        "lat": "30.2741234",
        "long": "120.1551234",
        "address_string": "东河村村口 12 号旁",
        "first_name": "三",
        "last_name": "张",
        "phone": "13812345678",
        "email": "zhang@example.com",
        "description": "东河村村口三盏路灯坏了一个多月，晚上出行不便。",
        "media_url": "https://img.example.com/p/1.jpg",
        f"attribute[{'area'}]": str(world.grid_a.pk),
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def get(client: Client, path: str, fmt: str = "json", **params: Any) -> Any:
    return client.get(f"{ROOT}/{path}.{fmt}", params)


def post(client: Client, fmt: str, data: dict[str, Any], **headers: str) -> Any:
    """Form-encoded, as the spec prescribes."""
    return client.post(
        f"{ROOT}/requests.{fmt}",
        urlencode(data),
        content_type="application/x-www-form-urlencoded",
        headers=headers,
    )


def parse(response: Any) -> Any:
    """The body as JSON data, or the XML root element."""
    if response["Content-Type"].startswith("text/xml"):
        return SafeElementTree.fromstring(response.content)
    return json.loads(response.content)


def error_descriptions(response: Any) -> list[str]:
    body = parse(response)
    if isinstance(body, ElementTree.Element):
        assert body.tag == "errors"
        codes = [e.findtext("code") for e in body.findall("error")]
        assert codes
        assert all(c == str(response.status_code) for c in codes)
        return [e.findtext("description") or "" for e in body.findall("error")]
    assert isinstance(body, list)
    assert body
    assert all(item["code"] == response.status_code for item in body)
    return [item["description"] for item in body]
