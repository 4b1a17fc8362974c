"""The offline capture pages, the outbox page, the service worker and the manifest (ADR 0009)."""

import json
import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from wenxu.accounts.models import Membership, User
from wenxu.visits.models import Place
from wenxu.visits.views import capture

pytestmark = pytest.mark.django_db


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _embedded(response, name: str = "wx-capture-data") -> dict[str, Any]:
    match = re.search(
        rf'<script id="{name}" type="application/json">(.*?)</script>',
        response.content.decode(),
        re.S,
    )
    assert match is not None, f"#{name} is missing"
    data: dict[str, Any] = json.loads(match.group(1))
    return data


@pytest.mark.parametrize("name", ["visits:capture", "visits:need_capture", "visits:outbox"])
def test_anonymous_is_sent_to_login(client, name):
    response = client.get(reverse(name))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("name", ["visits:capture", "visits:need_capture"])
@pytest.mark.parametrize("persona", ["handler", "leader", "outsider"])
def test_only_officers_and_dispatchers_get_the_capture_pages(world, name, persona):
    response = _client(getattr(world, persona)).get(reverse(name))

    assert response.status_code == 403


@pytest.mark.parametrize("persona", ["officer", "dispatcher"])
def test_officer_and_dispatcher_get_the_capture_page(world, persona):
    response = _client(getattr(world, persona)).get(reverse("visits:capture"))

    assert response.status_code == 200
    assert 'data-mode="visit"' in response.content.decode()
    assert "csrftoken" in response.cookies  # the sync reads it for X-CSRFToken


def test_outbox_page_is_for_any_signed_in_user(world):
    response = _client(world.handler).get(reverse("visits:outbox"))

    assert response.status_code == 200
    assert _embedded(response, "wx-outbox-data")["user"] == "handler"
    # a handler records nothing: no buttons to the capture pages
    assert f'btn-lg" href="{reverse("visits:capture")}"' not in response.content.decode()


def test_capture_page_embeds_only_the_users_areas_and_places(world):
    mine = Place.objects.create(area=world.grid_a, kind="household", name="东河村3组12号")
    Place.objects.create(area=world.grid_b, kind="household", name="西岭村1组1号")
    Place.objects.create(area=world.grid_a, kind="household", name="已搬离", active=False)

    data = _embedded(_client(world.officer).get(reverse("visits:capture")))

    area_ids = {a["id"] for a in data["areas"]}
    assert area_ids == {world.town_a.pk, world.village_a.pk, world.grid_a.pk}
    assert [p["id"] for p in data["places"]] == [mine.pk]
    assert data["places_truncated"] is False
    assert data["user"] == "officer"


def test_capture_page_embeds_search_keys_for_pinyin_initials(world):
    data = _embedded(_client(world.officer).get(reverse("visits:capture")))

    grid = next(a for a in data["areas"] if a["id"] == world.grid_a.pk)
    # by its own initials, its full pinyin, and the township above it
    assert "dhcdywg" in grid["keys"]
    assert "donghecun" in grid["keys"]
    assert "dhz" in grid["keys"]
    assert grid["label"] == "东河村第一网格（东河镇 / 东河村）"
    water = next(c for c in data["categories"] if c["id"] == world.cat_water.pk)
    assert water["label"] == "城乡建设 / 供水"
    assert "gs" in water["keys"]


def test_place_list_too_long_falls_back_to_free_text(world, monkeypatch):
    monkeypatch.setattr(capture, "PLACE_LIMIT", 2)
    for n in range(3):
        Place.objects.create(area=world.grid_a, kind="household", name=f"{n}号")

    data = _embedded(_client(world.officer).get(reverse("visits:capture")))

    assert data["places"] == []
    assert data["places_truncated"] is True


def test_on_the_spot_is_offered_only_where_the_user_is_an_officer(world):
    data = _embedded(_client(world.dispatcher).get(reverse("visits:capture")))

    assert data["areas"], "the dispatcher records in the whole county"
    assert not any(area["spot"] for area in data["areas"])
    officer_data = _embedded(_client(world.officer).get(reverse("visits:capture")))
    assert all(area["spot"] for area in officer_data["areas"])


def test_colleagues_are_officers_over_the_users_areas_not_elsewhere(world):
    colleague = User.objects.create_user(username="grid2", password="x", display_name="赵网格")
    Membership.objects.create(user=colleague, role="officer", area=world.grid_a)

    data = _embedded(_client(world.officer).get(reverse("visits:capture")))

    names = {c["name"] for c in data["colleagues"]}
    assert "赵网格" in names
    assert "调度员" in names  # the county dispatcher covers 东河镇 too
    assert "李网格" not in names  # officer_b works 西岭乡
    assert "王网格" not in names  # not oneself


def test_need_capture_page_has_one_need_and_no_visit_fields(world):
    response = _client(world.officer).get(reverse("visits:need_capture"))

    html = response.content.decode()
    assert 'data-mode="need"' in html
    assert 'data-f="mood"' not in html
    assert "wx-need-template" in html


def test_capture_page_query_count_does_not_grow_with_places(world, django_assert_max_num_queries):
    for n in range(40):
        Place.objects.create(area=world.grid_a, kind="household", name=f"{n}号")
    client = _client(world.officer)

    with django_assert_max_num_queries(12):
        response = client.get(reverse("visits:capture"))

    assert len(_embedded(response)["places"]) == 40


def test_service_worker_headers_and_content(client):
    response = client.get(reverse("visits:service_worker"))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/javascript")
    assert response["Cache-Control"] == "no-cache"
    assert response["Service-Worker-Allowed"] == "/"
    body = response.content.decode()
    found = re.search(r"const WX = (\{.*?\});\n", body)
    assert found is not None
    config = json.loads(found.group(1))
    assert re.fullmatch(r"[0-9a-f]{12}", config["version"])
    assert "/visits/new/" in config["pages"]
    assert "/visits/need/new/" in config["pages"]
    assert "/static/visits/capture.js" in config["static"]
    assert config["aliases"] == {"/needs/new/": "/visits/need/new/"}
    assert config["apiPrefix"] == "/api/"
    assert 'addEventListener("fetch"' in body


def test_service_worker_version_changes_with_the_files_it_caches(monkeypatch):
    capture._service_worker_source.cache_clear()
    _script, before = capture._service_worker_source()
    monkeypatch.setattr(capture, "SHELL_STATIC", [*capture.SHELL_STATIC[:-1]])
    capture._service_worker_source.cache_clear()
    try:
        _script, after = capture._service_worker_source()
    finally:
        monkeypatch.undo()
        capture._service_worker_source.cache_clear()

    assert before != after


def test_manifest(client):
    response = client.get(reverse("visits:manifest"))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/manifest+json")
    data = json.loads(response.content)
    assert data["short_name"] == "问需"
    assert data["start_url"] == "/visits/new/"
    assert data["display"] == "standalone"
    assert {icon["sizes"] for icon in data["icons"]} == {"192x192", "512x512"}


def test_every_page_links_the_manifest_and_loads_the_outbox_scripts(world):
    html = _client(world.handler).get(reverse("home")).content.decode()

    assert 'rel="manifest" href="/manifest.webmanifest"' in html
    assert "visits/pwa.js" in html
    # the outbox in three parts, in load order, before pwa.js
    parts = ["visits/outbox-db.js", "visits/outbox-bodies.js", "visits/outbox-sync.js"]
    positions = [html.index(part) for part in [*parts, "visits/pwa.js"]]
    assert positions == sorted(positions)
    assert 'data-wx-user="handler"' in html
    assert "data-wx-outbox-badge" in html


def test_service_worker_caches_every_script_the_capture_pages_load(world):
    html = _client(world.officer).get(reverse("visits:capture")).content.decode()
    found = re.search(r"const WX = (\{.*?\});\n", Client().get("/sw.js").content.decode())
    assert found is not None
    config = json.loads(found.group(1))

    scripts = re.findall(r'<script src="(/static/visits/[^"]+)"', html)
    assert "/static/visits/photos.js" in scripts
    assert scripts.index("/static/visits/photos.js") < scripts.index("/static/visits/capture.js")
    assert set(scripts) <= set(config["static"])
