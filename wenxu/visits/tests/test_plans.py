"""走访计划: dispatchers and admins write plans over their areas; officers and leaders read them."""

from datetime import date

import pytest
from django.test import Client

from conftest import World
from wenxu.needs.exceptions import InvalidInput, NotPermitted
from wenxu.organisations.models import Area
from wenxu.visits import plans
from wenxu.visits.models import VisitPlan
from wenxu.visits.plans import PlanInput


def _input(area: Area, **overrides: object) -> PlanInput:
    values: dict[str, object] = {
        "name": "东河镇住户季度全覆盖",
        "kind": "coverage",
        "period": "quarter",
        "area": area,
        "starts_on": date(2026, 10, 1),
        "place_kind": "household",
    }
    values.update(overrides)
    return PlanInput(**values)  # type: ignore[arg-type]


def test_dispatcher_creates_a_coverage_plan_and_irrelevant_fields_are_cleared(world: World):
    plan = plans.plan_create(
        actor=world.dispatcher, data=_input(world.town_a, target=5, visit_kind="forum")
    )
    plan.refresh_from_db()
    assert (plan.kind, plan.place_kind, plan.visit_kind, plan.target) == (
        "coverage", "household", "", None,
    )  # fmt: skip
    assert plan.created_by == world.dispatcher


def test_count_plan_needs_a_target_and_dates_in_order(world: World):
    with pytest.raises(InvalidInput) as missing:
        plans.plan_create(actor=world.dispatcher, data=_input(world.town_a, kind="count"))
    # On the field, once: the model's check constraint says the same and is not repeated.
    assert missing.value.errors == {"target": ["走访次数计划请填写每周期次数。"]}
    with pytest.raises(InvalidInput) as order:
        plans.plan_create(
            actor=world.dispatcher,
            data=_input(world.town_a, ends_on=date(2026, 9, 1)),
        )
    assert "结束日期不能早于开始日期" in str(order.value.errors)
    assert not VisitPlan.objects.exists()


def test_officer_and_leader_may_not_write_plans(world: World):
    for user in (world.officer, world.leader, world.handler):
        with pytest.raises(NotPermitted):
            plans.plan_create(actor=user, data=_input(world.town_a))
    assert not VisitPlan.objects.exists()


def test_plan_officer_must_work_in_the_plans_area(world: World):
    with pytest.raises(InvalidInput) as refused:
        plans.plan_create(
            actor=world.dispatcher, data=_input(world.town_a, officer=world.officer_b)
        )
    assert "officer" in refused.value.errors
    plan = plans.plan_create(
        actor=world.dispatcher, data=_input(world.grid_a, officer=world.officer)
    )
    assert plan.officer == world.officer


def test_update_checks_the_old_and_the_new_area(world: World):
    plan = plans.plan_create(actor=world.dispatcher, data=_input(world.town_a))
    updated = plans.plan_update(
        actor=world.admin, plan=plan, data=_input(world.town_b, name="西岭乡全覆盖")
    )
    assert (updated.area, updated.name) == (world.town_b, "西岭乡全覆盖")
    with pytest.raises(NotPermitted):
        plans.plan_update(actor=world.officer, plan=plan, data=_input(world.town_a))


# --------------------------------------------------------------------------- pages


def _form(area: Area, **overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "name": "每月两次座谈会",
        "kind": "count",
        "period": "month",
        "area": area.pk,
        "visit_kind": "forum",
        "target": "2",
        "starts_on": "2026-10-01",
        "active": "on",
    }
    data.update(overrides)
    return data


def test_dispatcher_creates_and_edits_a_plan_through_the_pages(world: World, client: Client):
    client.force_login(world.dispatcher)
    assert client.get("/coverage/plans/new/").status_code == 200
    response = client.post("/coverage/plans/new/", _form(world.town_a))
    assert response.status_code == 302
    plan = VisitPlan.objects.get()
    assert (plan.kind, plan.target, plan.visit_kind, plan.active) == ("count", 2, "forum", True)
    page = client.get(f"/coverage/plans/{plan.pk}/")
    assert "每月两次座谈会" in page.content.decode()
    client.post(f"/coverage/plans/{plan.pk}/", _form(world.town_a, target="3", active=""))
    plan.refresh_from_db()
    assert (plan.target, plan.active) == (3, False)
    listing = client.get("/coverage/plans/").content.decode()
    assert "每月两次座谈会" in listing
    assert "已停用" in listing


def test_bad_plan_form_shows_errors_and_saves_nothing(world: World, client: Client):
    client.force_login(world.dispatcher)
    response = client.post("/coverage/plans/new/", _form(world.town_a, target=""))
    assert response.status_code == 200
    assert "走访次数计划请填写每周期次数" in response.content.decode()
    response = client.post(
        "/coverage/plans/new/", _form(world.town_a, starts_on="2026-10-01", ends_on="2026-01-01")
    )
    assert "结束日期不能早于开始日期" in response.content.decode()
    assert not VisitPlan.objects.exists()


def test_officer_reads_plans_but_may_not_write_them(world: World, client: Client):
    plan = plans.plan_create(actor=world.dispatcher, data=_input(world.town_a))
    other = plans.plan_create(actor=world.dispatcher, data=_input(world.town_b, name="西岭乡"))
    client.force_login(world.officer)
    listing = client.get("/coverage/plans/").content.decode()
    assert "东河镇住户季度全覆盖" in listing
    assert "西岭乡" not in listing  # another township's plan
    assert f"/coverage/plans/{plan.pk}/" not in listing  # no edit link
    assert client.get("/coverage/plans/new/").status_code == 403
    assert client.post("/coverage/plans/new/", _form(world.town_a)).status_code == 403
    assert client.get(f"/coverage/plans/{plan.pk}/").status_code == 403
    assert client.get(f"/coverage/plans/{other.pk}/").status_code == 404


def test_leader_reads_plans_and_handler_gets_403(world: World, client: Client):
    plans.plan_create(actor=world.dispatcher, data=_input(world.town_a))
    client.force_login(world.leader)
    assert "东河镇住户季度全覆盖" in client.get("/coverage/plans/").content.decode()
    assert client.get("/coverage/plans/new/").status_code == 403
    client.force_login(world.handler)
    assert client.get("/coverage/plans/").status_code == 403


def test_plan_form_offers_only_the_dispatchers_areas(world: World, client: Client):
    from conftest import _user

    town_dispatcher = _user("town_dispatcher", "镇调度", ("dispatcher", world.town_a))
    client.force_login(town_dispatcher)
    response = client.post("/coverage/plans/new/", _form(world.town_b))
    assert response.status_code == 200
    assert "area" in response.context["form"].errors
    assert not VisitPlan.objects.exists()
