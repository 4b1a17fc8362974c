from django.test import Client

from wenxu.needs.models import Category
from wenxu.organisations.models import Unit


def test_areas_come_as_a_tree_in_path_order(world, api_as):
    areas = api_as(world.officer).get("/areas").json()

    assert [a["name"] for a in areas][:3] == ["青山县", "东河镇", "东河村"]
    county = areas[0]
    assert county == {
        "id": world.county.pk,
        "name": "青山县",
        "parent": None,
        "path": world.county.path,
        "depth": 0,
        "level": "county",
        "code": "330100",
    }
    grid = next(a for a in areas if a["id"] == world.grid_a.pk)
    assert grid["parent"] == world.village_a.pk
    assert grid["level"] == "grid"
    assert grid["depth"] == 3


def test_areas_can_be_narrowed_to_a_subtree_and_a_level(world, api_as):
    client = api_as(world.officer)

    within = client.get("/areas", {"within": world.town_b.pk}).json()
    grids = client.get("/areas", {"level": "grid"}).json()

    assert {a["name"] for a in within} == {"西岭乡", "西岭村", "西岭村第一网格"}
    assert {a["id"] for a in grids} == {world.grid_a.pk, world.grid_b.pk}


def test_unknown_area_filter_values_are_422(world, api_as):
    client = api_as(world.officer)

    # an id no area has: world's last area is the newest (a fixed id such as 999 is an area
    # in some test, as PostgreSQL's sequences run on across rolled-back tests)
    missing = world.grid_b.pk + 1
    assert list(client.get("/areas", {"within": missing}).json()["errors"]) == ["within"]
    assert list(client.get("/areas", {"level": "province"}).json()["errors"]) == ["level"]


def test_units_list_names_parents_and_active_flag(world, api_as):
    Unit.objects.create(name="已撤并的办公室", kind="other", active=False)
    client = api_as(world.dispatcher)

    units = client.get("/units").json()
    active = client.get("/units", {"active": "true"}).json()

    roads = next(u for u in units if u["id"] == world.transport_roads.pk)
    assert roads["parent"] == world.transport.pk
    assert roads["short_name"] == "公路养护中心"
    assert roads["kind"] == "department"
    assert "已撤并的办公室" in {u["name"] for u in units}
    assert "已撤并的办公室" not in {u["name"] for u in active}


def test_categories_list_the_tree(world, api_as):
    categories = api_as(world.officer).get("/categories").json()

    parent = Category.objects.get(name="城乡建设")
    assert [c["name"] for c in categories] == ["城乡建设", "道路与照明", "供水"]
    assert categories[1]["parent"] == parent.pk
    assert categories[1]["depth"] == 1


def test_ids_from_the_reference_lists_are_accepted_when_registering(world, api_as):
    client = api_as(world.officer)
    grid = next(
        a for a in client.get("/areas", {"level": "grid"}).json() if a["name"] == "东河村第一网格"
    )
    water = next(c for c in client.get("/categories").json() if c["name"] == "供水")

    response = client.post(
        "/needs",
        {
            "title": "停水",
            "description": "连续两天停水。",
            "kind": "help",
            "source": "phone",
            "area": grid["id"],
            "category": water["id"],
        },
    )

    assert response.status_code == 201
    assert response.json()["category"] == {"id": water["id"], "name": "供水"}


def test_openapi_schema_describes_every_endpoint_and_both_auth_schemes(db):
    response = Client().get("/api/v1/openapi.json")

    assert response.status_code == 200
    schema = response.json()
    paths = schema["paths"]
    actions = [
        "assign",
        "accept",
        "return",
        "progress",
        "request-extension",
        "approve-extension",
        "deny-extension",
        "reply",
        "callback",
        "fulfil",
        "reopen",
        "supervise",
        "remind",
        "merge",
        "withdraw",
    ]
    for action in actions:
        operation = paths[f"/api/v1/needs/{{number}}/{action}"]["post"]
        body_ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        body = schema["components"]["schemas"][body_ref.rsplit("/", 1)[-1]]
        assert "version" in body["required"]
        assert {"200", "403", "404", "409", "422"} <= set(operation["responses"])
    assert {"/api/v1/auth/token", "/api/v1/needs", "/api/v1/needs/{number}"} <= set(paths)
    assert {"/api/v1/areas", "/api/v1/units", "/api/v1/categories"} <= set(paths)
    assert "/api/v1/needs/{number}/{action}" not in paths
    schemes = schema["components"]["securitySchemes"]
    assert {s["type"] for s in schemes.values()} == {"http", "apiKey"}
    list_params = {p["name"] for p in paths["/api/v1/needs"]["get"]["parameters"]}
    assert list_params == {"status", "unit", "area", "category", "overdue", "q", "limit", "cursor"}


def test_interactive_docs_are_served(db):
    response = Client().get("/api/v1/docs")

    assert response.status_code == 200
    assert b"swagger" in response.content.lower()
