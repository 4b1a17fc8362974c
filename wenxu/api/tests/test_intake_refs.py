"""The intake's reference lookups (`IntakeRefs`: areas and categories kept under the
configuration generation, ADR 0026) find what `RefResolver` finds and refuse what it refuses,
in the same words; in a request, a registration reads them once per generation."""

from typing import Any

import pytest
from django.db import connection
from django.db.models import Model
from django.test.utils import CaptureQueriesContext

from wenxu.api.needs import IntakeRefs
from wenxu.api.refs import RefResolver


def _fields(obj: Model | None) -> dict[str, Any] | None:
    if obj is None:
        return None
    return {k: v for k, v in vars(obj).items() if not k.startswith("_")}


def test_intake_refs_load_the_same_rows(world: Any) -> None:
    world.cat_roads.active = False  # a boolean column: SQLite returns 0/1 unless converted
    world.cat_roads.save()
    fast, plain = IntakeRefs(), RefResolver()

    area, category = fast.area(world.grid_a.pk), fast.category(world.cat_roads.pk)

    assert _fields(area) == _fields(plain.area(world.grid_a.pk))
    assert _fields(category) == _fields(plain.category(world.cat_roads.pk))
    assert category is not None
    assert category.active is False
    assert area is not None
    assert not area._state.adding
    assert fast.errors == {}


@pytest.mark.parametrize("pk", [0, -3, 987_654_321, 10**30])
def test_intake_refs_refuse_unknown_ids_as_ref_resolver_does(world: Any, pk: int) -> None:
    fast, plain = IntakeRefs(), RefResolver()

    assert (fast.area(pk), fast.category(pk, "category")) == (None, None)
    plain.area(pk)
    plain.category(pk, "category")

    assert fast.errors == plain.errors
    assert set(fast.errors) == {"area", "category"}


def _body(world: Any, title: str) -> dict[str, Any]:
    return {
        "title": title,
        "description": "东河村到镇上的村道有多处坑洼。",
        "kind": "help",
        "source": "visit",
        "area": world.grid_a.pk,
        "category": world.cat_roads.pk,
    }


def test_a_second_intake_reads_no_area_or_category(world: Any, api_as: Any) -> None:
    api = api_as(world.officer)
    assert api.post("/needs", _body(world, "村道坑洼")).status_code == 201

    with CaptureQueriesContext(connection) as queries:
        assert api.post("/needs", _body(world, "路灯不亮")).status_code == 201

    tables = " ".join(q["sql"] for q in queries.captured_queries)
    assert 'FROM "organisations_area"' not in tables
    assert 'FROM "needs_category"' not in tables


def test_an_intake_sees_a_category_deactivated_meanwhile(world: Any, api_as: Any) -> None:
    api = api_as(world.officer)
    assert api.post("/needs", _body(world, "村道坑洼")).status_code == 201

    world.cat_roads.active = False
    world.cat_roads.save()
    refused = api.post("/needs", _body(world, "路灯不亮"))

    assert refused.status_code == 422
    assert "category" in str(refused.json())
