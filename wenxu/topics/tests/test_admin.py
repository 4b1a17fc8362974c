"""专题 in the admin: shown only, and only what the staff user's roles let them see."""

from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from wenxu.accounts.models import User
from wenxu.topics import services
from wenxu.topics.models import Topic, TopicNeed

pytestmark = pytest.mark.django_db

CODENAMES = [
    f"{verb}_{model}"
    for verb in ("view", "add", "change", "delete")
    for model in ("topic", "topicneed")
]


def _staff(user: User) -> Client:
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    user.user_permissions.add(*Permission.objects.filter(codename__in=CODENAMES))
    client = Client()
    client.force_login(user)
    return client


def test_linked_needs_are_listed_only_within_the_staff_users_scope(world: Any) -> None:
    mine = world.register(title="西岭村水管爆裂", area=world.grid_b, actor=world.officer_b)
    theirs = world.register(title="东河村路灯不亮", area=world.grid_a)
    topic = services.topic_create(
        actor=world.dispatcher, title="全县", area=world.county, needs=[mine, theirs]
    )
    client = _staff(world.officer_b)

    links = client.get(reverse("admin:topics_topicneed_changelist")).content.decode()
    hidden = TopicNeed.objects.get(need=theirs)
    detail = client.get(reverse("admin:topics_topicneed_change", args=[hidden.pk]))

    assert mine.number in links
    assert theirs.number not in links
    assert "东河村路灯不亮" not in links
    assert detail.status_code == 302  # not found for them: back to the admin index
    assert client.get(reverse("admin:topics_topic_changelist")).status_code == 200
    assert topic.title in client.get(reverse("admin:topics_topic_changelist")).content.decode()


def test_topics_out_of_scope_are_not_listed(world: Any) -> None:
    services.topic_create(actor=world.dispatcher, title="东河镇路灯", area=world.town_a)
    listing = _staff(world.officer_b).get(reverse("admin:topics_topic_changelist"))
    assert "东河镇路灯" not in listing.content.decode()


def test_the_admin_cannot_add_change_or_delete_topics_or_links(world: Any) -> None:
    need = world.register()
    topic = services.topic_create(actor=world.dispatcher, title="t", area=world.county)
    client = _staff(world.dispatcher)

    add_link = client.post(
        reverse("admin:topics_topicneed_add"), {"topic": topic.pk, "need": need.pk}
    )
    add_topic = client.get(reverse("admin:topics_topic_add"))
    change = client.post(
        reverse("admin:topics_topic_change", args=[topic.pk]),
        {"title": "改了", "area": world.county.pk},
    )
    delete = client.post(reverse("admin:topics_topic_delete", args=[topic.pk]), {"post": "yes"})
    page = client.get(reverse("admin:topics_topic_change", args=[topic.pk])).content.decode()

    assert add_link.status_code == 403
    assert add_topic.status_code == 403
    assert change.status_code == 403
    assert delete.status_code == 403
    assert 'name="_save"' not in page
    assert not TopicNeed.objects.exists()
    topic.refresh_from_db()
    assert (topic.title, topic.version) == ("t", 1)
    assert Topic.objects.count() == 1
