"""Routing at triage: the suggestion in the assign form, and assigning with a category change."""

import re
from typing import Any

import pytest
import time_machine
from django.urls import reverse

from conftest import World
from wenxu.accounts import services as account_services
from wenxu.api.tests.conftest import Api
from wenxu.insight.models import RoutingRule
from wenxu.insight.routing.store import clear_cache
from wenxu.lib import clock
from wenxu.needs import services
from wenxu.needs.exceptions import StaleVersion
from wenxu.needs.models import DeadlineRule, Need


def _url(need: Need) -> str:
    return reverse("insight:routing_suggest", args=[need.number])


@pytest.fixture(autouse=True)
def _fresh_model_cache() -> Any:
    clear_cache()
    yield
    clear_cache()


def _water_rule(world: World) -> RoutingRule:
    return RoutingRule.objects.create(
        name="供水", keywords="停水", category=world.cat_water, unit=world.housing
    )


def _water_need(world: World) -> Need:
    return world.register(title="小区停水", description="幸福里小区停水两天了")


def _water_deadline(world: World) -> DeadlineRule:
    return DeadlineRule.objects.create(
        category=world.cat_water,
        urgency="normal",
        response_value=2,
        response_unit="hours",
        resolve_value=24,
        resolve_unit="hours",
    )


# --------------------------------------------------------------------------- need_assign


def test_assign_with_another_category_changes_it_and_uses_its_deadline_rule(
    world: World,
) -> None:
    _water_deadline(world)
    need = world.register(title="停水", description="停水了")  # registered as 道路与照明

    with time_machine.travel(clock.now(), tick=False):
        need = services.need_assign(
            actor=world.dispatcher,
            need=need,
            version=need.version,
            lead_unit=world.housing,
            category=world.cat_water,
        )
        now = clock.now()

    need.refresh_from_db()
    assert need.category == world.cat_water
    assert need.resolve_due == now.replace(microsecond=now.microsecond) + _hours(24)
    event = need.events.order_by("-seq").first()
    assert event is not None
    assert event.action == "assign"
    assert event.note == "分类由“道路与照明”改为“供水”"
    assert event.data["category"] == world.cat_water.pk


def _hours(n: int) -> Any:
    from datetime import timedelta

    return timedelta(hours=n)


def test_assign_with_the_same_category_writes_no_note(world: World) -> None:
    need = world.register()

    need = services.need_assign(
        actor=world.dispatcher,
        need=need,
        version=need.version,
        lead_unit=world.housing,
        category=world.cat_roads,
    )

    event = need.events.order_by("-seq").first()
    assert event is not None
    assert event.note == ""
    assert "category" not in event.data


def test_stale_assign_with_a_category_change_changes_nothing(world: World) -> None:
    need = world.register()
    stale = need.version
    services.need_supervise(actor=world.dispatcher, need=need, version=need.version, note="快办")

    with pytest.raises(StaleVersion):
        services.need_assign(
            actor=world.dispatcher,
            need=need,
            version=stale,
            lead_unit=world.housing,
            category=world.cat_water,
        )

    need.refresh_from_db()
    assert need.category == world.cat_roads
    assert need.status == "registered"


# --------------------------------------------------------------------------- the page


def _form_html(html: str) -> str:
    match = re.search(r'<form [^>]*data-form="assign">(.*?)</form>', html, re.S)
    assert match, "no assign form on the page"
    return match.group(1)


def test_assign_form_has_the_category_select_and_the_suggestion_slot(client, world) -> None:
    need = _water_need(world)
    client.force_login(world.dispatcher)

    form = _form_html(client.get(f"/needs/{need.number}/").content.decode())

    assert 'name="category"' in form
    assert re.search(rf'<option value="{world.cat_roads.pk}" selected>', form)
    assert _url(need) in form
    assert "insight/routing.js" in form
    # The suggested unit is not pre-selected: the dispatcher accepts it consciously.
    assert not re.search(rf'<option value="{world.housing.pk}" selected>', form)


def test_dispatcher_sees_the_suggestion_in_chinese(client, world) -> None:
    _water_rule(world)
    need = _water_need(world)
    client.force_login(world.dispatcher)

    response = client.get(_url(need))

    html = response.content.decode()
    assert response.status_code == 200
    assert "建议分类：" in html
    assert "供水" in html
    assert "建议主办单位：" in html
    assert "青山县住房和城乡建设局" in html
    assert "（规则）" in html
    assert "采用建议" in html
    assert f'data-category="{world.cat_water.pk}"' in html
    assert f'data-unit="{world.housing.pk}"' in html


def test_low_confidence_is_marked_as_only_for_reference(client, world, settings) -> None:
    from wenxu.insight.routing.suggest import Suggestion

    settings.WENXU_ROUTER_MIN_CONFIDENCE = 0.6
    low = Suggestion(category=world.cat_water, category_confidence=0.42, source="model")
    high = Suggestion(unit=world.housing, unit_confidence=0.87, source="model")

    from django.template.loader import render_to_string

    low_html = render_to_string("insight/routing/_suggestion.html", {"suggestion": low})
    high_html = render_to_string("insight/routing/_suggestion.html", {"suggestion": high})
    assert "把握 42%" in low_html
    assert "仅供参考" in low_html
    assert "把握 87%" in high_html
    assert "仅供参考</span>" not in high_html


def test_without_rule_or_model_the_slot_says_how_to_get_suggestions(client, world) -> None:
    need = _water_need(world)
    client.force_login(world.dispatcher)

    html = client.get(_url(need)).content.decode()

    assert "暂无建议" in html
    assert "router_train" in html
    assert "分派规则" in html


def test_only_those_who_may_assign_get_the_suggestion(client, world) -> None:
    _water_rule(world)
    need = _water_need(world)
    url = _url(need)

    client.force_login(world.officer)  # sees the need, may not assign it
    assert client.get(url).status_code == 403
    client.force_login(world.officer_b)  # out of scope
    assert client.get(url).status_code == 404
    client.force_login(world.outsider)
    assert client.get(url).status_code == 404
    client.logout()
    assert client.get(url).status_code == 302
    # and the officer's page has no slot
    client.force_login(world.officer)
    assert "routing-slot" not in client.get(f"/needs/{need.number}/").content.decode()


def test_posting_the_assign_form_with_a_category_corrects_it(client, world) -> None:
    need = _water_need(world)
    client.force_login(world.dispatcher)

    response = client.post(
        f"/needs/{need.number}/assign/",
        {
            "version": need.version,
            "category": world.cat_water.pk,
            "lead_unit": world.housing.pk,
        },
    )

    assert response.status_code == 302
    need.refresh_from_db()
    assert need.category == world.cat_water
    assert need.lead_unit == world.housing
    assert need.events.get(action="assign").note == "分类由“道路与照明”改为“供水”"


def test_assign_preview_follows_the_chosen_category(client, world) -> None:
    _water_deadline(world)
    need = _water_need(world)
    client.force_login(world.dispatcher)
    url = f"/needs/{need.number}/assign/"

    as_is = client.get(url, headers={"HX-Request": "true"}).content.decode()
    water = client.get(
        url, {"category": world.cat_water.pk}, headers={"HX-Request": "true"}
    ).content.decode()

    assert "24 小时" not in as_is
    assert "24 小时" in water


# --------------------------------------------------------------------------- the API


def _api(user: Any) -> Api:
    from django.test import Client

    raw, _token = account_services.api_token_issue(user=user)
    return Api(Client(), {"Authorization": f"Bearer {raw}"})


def test_api_assign_can_correct_the_category(world) -> None:
    need = _water_need(world)
    api = _api(world.dispatcher)

    response = api.act(need, "assign", lead_unit=world.housing.pk, category=world.cat_water.pk)

    assert response.status_code == 200, response.content
    need.refresh_from_db()
    assert need.category == world.cat_water


def test_api_assign_with_an_unknown_category_changes_nothing(world) -> None:
    need = _water_need(world)
    api = _api(world.dispatcher)

    response = api.act(need, "assign", lead_unit=world.housing.pk, category=999999)

    assert response.status_code == 422
    assert "分类" in response.content.decode()
    need.refresh_from_db()
    assert need.status == "registered"
    assert need.category == world.cat_roads


def test_the_suggestion_takes_a_few_queries_whatever_the_rules_and_models(
    client, world, django_assert_max_num_queries
) -> None:
    for i in range(20):
        RoutingRule.objects.create(name=f"规则{i}", keywords=f"关键词{i}", unit=world.transport)
    _water_rule(world)
    need = _water_need(world)
    client.force_login(world.dispatcher)
    client.get(_url(need))  # the session, the first suggestion, what pages keep (ADR 0026)

    # (the need is looked up in two queries, its scoped id then itself: ADR 0026)
    with django_assert_max_num_queries(14):
        response = client.get(_url(need))

    assert "青山县住房和城乡建设局" in response.content.decode()
