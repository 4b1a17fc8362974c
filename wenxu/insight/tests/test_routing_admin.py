"""Routing in the admin: rules are edited by admins; models and suggestions are only shown."""

import pytest
from django.urls import reverse

from conftest import World
from wenxu.accounts.models import User
from wenxu.insight.models import RouterModel, RoutingRule, RoutingSuggestion
from wenxu.insight.routing import features


@pytest.fixture
def root_client(client, db):
    client.force_login(User.objects.create_superuser("root", password="pw-root-secret"))
    return client


def _rule_post(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "name": "供水",
        "keywords": "停水\n水压、自来水",
        "category": "",
        "unit": "",
        "area": "",
        "priority": "5",
        "active": "on",
    }
    data.update(overrides)
    return data


def test_admin_adds_a_keyword_rule(root_client, world: World) -> None:
    url = reverse("admin:insight_routingrule_add")

    response = root_client.post(url, _rule_post(category=world.cat_water.pk))

    assert response.status_code == 302
    rule = RoutingRule.objects.get()
    assert (rule.category, rule.unit, rule.priority) == (world.cat_water, None, 5)
    listing = root_client.get(reverse("admin:insight_routingrule_changelist")).content.decode()
    assert "停水、水压、自来水" in listing


def test_a_rule_without_a_suggestion_or_keywords_is_refused_with_a_clear_message(
    root_client, world: World
) -> None:
    url = reverse("admin:insight_routingrule_add")

    nothing = root_client.post(url, _rule_post()).content.decode()
    blank = root_client.post(url, _rule_post(keywords=" ，、\n", unit=world.housing.pk))

    assert "请至少选择建议类别或建议主办单位之一。" in nothing
    assert "请至少填写一个关键词。" in blank.content.decode()
    assert not RoutingRule.objects.exists()


def test_models_and_suggestions_are_shown_read_only(root_client, world: World) -> None:
    router = features.fit(["停水", "没水", "水压低", "路灯", "道路", "路面"], [1, 1, 1, 2, 2, 2])
    model = RouterModel.objects.create(
        target="unit",
        samples=6,
        classes=2,
        corrections=1,
        metrics={"folds": 3, "accuracy": 1.0, "macro_f1": 0.9876},
        data=router.to_bytes(),
    )
    need = world.register()
    RoutingSuggestion.objects.create(
        need=need, unit=world.housing, unit_confidence=0.8, source="model"
    )

    listing = root_client.get(reverse("admin:insight_routermodel_changelist")).content.decode()
    page = root_client.get(reverse("admin:insight_routermodel_change", args=[model.pk]))
    post = root_client.post(reverse("admin:insight_routermodel_change", args=[model.pk]), {})
    suggestions = root_client.get(reverse("admin:insight_routingsuggestion_changelist"))

    assert "0.988" in listing
    assert "macro_f1" in page.content.decode()
    assert 'name="_save"' not in page.content.decode()
    assert post.status_code == 403
    assert root_client.get(reverse("admin:insight_routermodel_add")).status_code == 403
    assert need.number in suggestions.content.decode()
