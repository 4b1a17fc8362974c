"""A need page that offers 查看完整信息 is not kept by the browser (issue #9): a revealed requester
swapped into it must not come back from the back/forward cache or the disk cache."""

from typing import Any

from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from wenxu.accounts.models import User
from wenxu.needs.services import RequesterInput


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_need_page_is_no_store_only_where_a_reveal_is_offered(world: Any) -> None:
    need = world.assigned(requester=RequesterInput(name="赵大明", phone="13912345678"))
    url = reverse("needs:detail", args=[need.number])
    # without the permission: no control, the page is cached as any other
    plain = client_for(world.dispatcher).get(url)
    assert 'data-testid="requester-reveal"' not in plain.content.decode()
    assert "no-store" not in plain.get("Cache-Control", "")

    world.dispatcher.user_permissions.add(
        Permission.objects.get(codename="reveal_personal_data", content_type__app_label="residents")
    )
    dispatcher = User.objects.get(pk=world.dispatcher.pk)
    offered = client_for(dispatcher).get(url)
    assert 'data-testid="requester-reveal"' in offered.content.decode()
    assert "no-store" in offered["Cache-Control"]
