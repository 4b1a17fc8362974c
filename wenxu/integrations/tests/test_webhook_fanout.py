"""Webhook fan-out (event log → deliveries), payloads and the admin."""

import json
import threading
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.db import close_old_connections, connection
from django.urls import reverse

from wenxu.accounts.models import User
from wenxu.integrations.tests.test_webhooks import receiver, subscribe
from wenxu.integrations.webhook_models import WebhookCursor, WebhookDelivery, WebhookSubscription
from wenxu.integrations.webhooks import events, fanout, sending
from wenxu.lib import clock
from wenxu.needs.models import NeedEvent
from wenxu.needs.services.register import RequesterInput
from wenxu.needs.states import Action

__all__ = ["receiver"]  # the fixture, shared with test_webhooks

HOOK = "http://127.0.0.1:9/hook"  # never called: these tests only fan out


@pytest.fixture(autouse=True)
def _private_allowed(settings: Any) -> None:
    settings.WENXU_WEBHOOK_ALLOW_PRIVATE = True


def test_every_lifecycle_action_has_an_event_type() -> None:
    assert set(events.TYPES) == set(Action.values)
    assert len(set(events.TYPES.values())) == len(events.TYPES)
    assert all(kind.startswith("need.") for kind in events.TYPES.values())


def test_only_the_chosen_event_types_are_delivered(world):
    _secret, subscription = subscribe(world, HOOK, event_types=["need.assigned"])
    world.assigned()  # register + assign
    fanout.fanout()
    deliveries = WebhookDelivery.objects.filter(subscription=subscription)
    assert [d.event_type for d in deliveries] == ["need.assigned"]


def test_no_event_types_means_all(world):
    _secret, _subscription = subscribe(world, HOOK)
    world.in_progress()  # register, assign, accept
    fanout.fanout()
    types = sorted(WebhookDelivery.objects.values_list("event_type", flat=True))
    assert types == ["need.accepted", "need.assigned", "need.registered"]


def test_an_event_in_another_area_sends_nothing(world):
    # the client covers 东河镇; the subscription narrows to 东河村
    _secret, _subscription = subscribe(world, HOOK, area=world.village_a)
    world.register(area=world.grid_b, actor=world.officer_b)  # 西岭乡: outside the client area
    inside = world.register(area=world.grid_a)
    fanout.fanout()
    assert list(WebhookDelivery.objects.values_list("need_number", flat=True)) == [inside.number]


def test_the_subscription_area_narrows_within_the_client_areas(world):
    _raw_secret, narrow = subscribe(world, HOOK, area=world.village_a)
    world.register(area=world.town_a)  # in the client's 东河镇, not in 东河村
    fanout.fanout()
    assert not WebhookDelivery.objects.filter(subscription=narrow).exists()


def test_events_before_the_subscription_are_not_sent(world):
    world.register(title="订阅前")
    subscribe(world, HOOK)
    after = world.register(title="订阅后")
    fanout.fanout()
    assert list(WebhookDelivery.objects.values_list("need_number", flat=True)) == [after.number]


def test_a_paused_subscription_gets_no_deliveries(world):
    _secret, subscription = subscribe(world, HOOK)
    WebhookSubscription.objects.filter(pk=subscription.pk).update(active=False)
    world.register()
    fanout.fanout()
    assert not WebhookDelivery.objects.exists()


def test_fanning_out_again_writes_nothing_twice(world):
    subscribe(world, HOOK)
    world.register()
    fanout.fanout()
    # a crash after the deliveries but before the cursor moved: the events are read again
    WebhookCursor.objects.update(last_event_id=0)
    fanout.fanout()
    assert WebhookDelivery.objects.count() == 1


def start_cursor_before(event: NeedEvent) -> None:
    """On PostgreSQL ids go on across tests (sequences are not rolled back): no gap below."""
    WebhookCursor.objects.create(name="main", last_event_id=event.pk - 1)


def event_with_id(pk: int, **fields: Any) -> list[NeedEvent]:
    """An event with a chosen id (NeedEvent.save refuses one): a gap in the log, or its fill."""
    return NeedEvent.objects.bulk_create([NeedEvent(pk=pk, **fields)])


def test_an_event_committed_late_below_the_cursor_is_still_delivered(world):
    # given two events read while the id between them was not visible yet
    subscribe(world, HOOK)
    first = world.register(title="第一件")
    first_event = NeedEvent.objects.get(need=first)
    start_cursor_before(first_event)
    late_id = first_event.pk + 1
    (ahead,) = event_with_id(
        first_event.pk + 2,
        need=first,
        seq=99,
        action=Action.SUPERVISE,
        from_status="registered",
        to_status="registered",
        created_at=clock.now(),
    )
    fanout.fanout()
    assert WebhookCursor.objects.get().last_event_id == ahead.pk
    assert WebhookCursor.objects.get().gaps[0][:2] == [late_id, late_id]
    # when the missing event commits after all
    event_with_id(
        late_id,
        need=first,
        seq=98,
        action=Action.REMIND,
        from_status="registered",
        to_status="registered",
        created_at=clock.now(),
    )
    fanout.fanout()
    # then it is delivered and the gap is closed
    assert WebhookDelivery.objects.filter(event_id=late_id).count() == 1
    assert WebhookCursor.objects.get().gaps == []
    assert WebhookDelivery.objects.count() == 3


def test_a_gap_that_never_fills_is_forgotten(world):
    subscribe(world, HOOK)
    need = world.register()
    event = NeedEvent.objects.get(need=need)
    start_cursor_before(event)
    start = clock.now()
    with time_machine.travel(start, tick=False):
        event_with_id(
            event.pk + 2,
            need=need,
            seq=99,
            action=Action.SUPERVISE,
            to_status="registered",
            created_at=clock.now(),
        )
        fanout.fanout()
        assert len(WebhookCursor.objects.get().gaps) == 1
    with time_machine.travel(start + fanout.GAP_TTL + timedelta(minutes=1), tick=False):
        fanout.fanout()
    assert WebhookCursor.objects.get().gaps == []


def test_the_payload_has_no_personal_data_and_keeps_chinese(world):
    subscribe(world, HOOK)
    need = world.assigned(
        requester=RequesterInput(name="张三丰", phone="13812345678", address="东河村5号"),
        description="张三丰家门口路灯坏了，电话13812345678",
    )
    fanout.fanout()
    delivery = WebhookDelivery.objects.get(event_type="need.assigned")
    body = delivery.body
    for personal in ("张三丰", "13812345678", "5678", "东河村5号", "路灯", "调度员", "管理员"):
        assert personal not in body
    assert "\\u" not in body
    payload = json.loads(body)
    assert set(payload) == {"id", "type", "created_at", "need", "event"}
    assert payload["id"] == str(delivery.uuid)
    assert payload["type"] == "need.assigned"
    assert payload["created_at"].endswith("+08:00")
    assert payload["need"] == {
        "number": need.number,
        "status": "assigned",
        "category": {"id": world.cat_roads.pk, "name": "道路与照明"},
        "area": {"id": world.grid_a.pk, "name": "东河村第一网格", "code": ""},
        "lead_unit": {"id": world.housing.pk, "name": "青山县住房和城乡建设局"},
        "response_due": payload["need"]["response_due"],
        "resolve_due": payload["need"]["resolve_due"],
        "version": need.version,
    }
    assert payload["need"]["resolve_due"].endswith("+08:00")
    assert payload["event"]["action"] == "assign"
    assert payload["event"]["from_status"] == "registered"
    assert payload["event"]["to_status"] == "assigned"
    assert payload["event"]["at"].endswith("+08:00")


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="concurrent transactions need PostgreSQL"
)
def test_two_workers_fanning_out_at_once_create_each_delivery_once(world):
    subscribe(world, HOOK)
    subscribe(world, HOOK, name="小程序")
    for index in range(30):
        world.register(title=f"第{index}件")
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            fanout.fanout(limit=7)
        except BaseException as error:
            errors.append(error)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    fanout.fanout()  # whatever a skipping worker left

    assert errors == []
    assert WebhookDelivery.objects.count() == 60
    pairs = set(WebhookDelivery.objects.values_list("subscription_id", "event_id"))
    assert len(pairs) == 60


# --------------------------------------------------------------------------- admin


def superuser(client: Any) -> User:
    root = User.objects.create_superuser("root", password="pw-root-secret")
    client.force_login(root)
    return root


def test_admin_creates_a_subscription_and_shows_the_secret_once(world, client, receiver):
    superuser(client)
    from wenxu.integrations.models import ClientAction
    from wenxu.integrations.services import api_client_issue

    _raw, api_client = api_client_issue(name="12345平台", actions=[ClientAction.WEBHOOKS])
    response = client.post(
        reverse("admin:integrations_webhooksubscription_add"),
        {
            "client": api_client.pk,
            "url": receiver.url,
            "event_types": ["need.registered", "need.replied"],
            "active": "on",
            "note": "",
        },
    )
    page = response.content.decode()
    assert response.status_code == 200, page
    subscription = WebhookSubscription.objects.get()
    assert subscription.secret in page
    assert "no-store" in response["Cache-Control"]
    assert subscription.event_types == ["need.registered", "need.replied"]

    listing = client.get(reverse("admin:integrations_webhooksubscription_changelist"))
    change = client.get(
        reverse("admin:integrations_webhooksubscription_change", args=[subscription.pk])
    )
    assert subscription.secret not in listing.content.decode()
    assert subscription.secret not in change.content.decode()
    assert subscription.secret[-4:] in listing.content.decode()


def test_admin_refuses_a_client_without_the_webhooks_action(world, client, receiver):
    superuser(client)
    from wenxu.integrations.models import ClientAction
    from wenxu.integrations.services import api_client_issue

    _raw, api_client = api_client_issue(name="只读", actions=[ClientAction.READ])
    response = client.post(
        reverse("admin:integrations_webhooksubscription_add"),
        {"client": api_client.pk, "url": receiver.url, "active": "on"},
    )
    assert response.status_code == 200
    assert not WebhookSubscription.objects.exists()


def test_admin_rotates_the_secret_and_shows_the_new_one_once(world, client, receiver):
    superuser(client)
    old, subscription = subscribe(world, receiver.url)
    response = client.post(
        reverse("admin:integrations_webhooksubscription_changelist"),
        {"action": "rotate_secret", "_selected_action": [subscription.pk]},
    )
    subscription.refresh_from_db()
    assert subscription.secret != old
    assert subscription.secret in response.content.decode()


def test_admin_sends_a_test_event_and_lists_the_delivery(
    world, client, receiver, django_assert_max_num_queries
):
    superuser(client)
    _secret, subscription = subscribe(world, receiver.url)
    client.post(
        reverse("admin:integrations_webhooksubscription_changelist"),
        {"action": "send_test", "_selected_action": [subscription.pk]},
        follow=True,
    )
    assert len(receiver.requests) == 1
    for index in range(5):
        world.register(title=f"第{index}件")
    fanout.fanout()
    with django_assert_max_num_queries(12):
        listing = client.get(reverse("admin:integrations_webhookdelivery_changelist"))
    page = listing.content.decode()
    assert listing.status_code == 200
    assert "webhook.test" in page
    assert "need.registered" in page


def test_admin_pages_are_for_superusers_only(world, client):
    staff = User.objects.create_user("staff", password="pw-staff", is_staff=True)
    client.force_login(staff)
    for name in ("webhooksubscription", "webhookdelivery"):
        response = client.get(reverse(f"admin:integrations_{name}_changelist"))
        assert response.status_code == 403


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="concurrent transactions need PostgreSQL"
)
def test_two_workers_sending_at_once_send_each_delivery_once(world, receiver):
    subscribe(world, receiver.url)
    for index in range(6):
        world.register(title=f"第{index}件")
    fanout.fanout()
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            sending.send_due()
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(receiver.requests) == 6
    assert len({r.headers["X-Wenxu-Delivery"] for r in receiver.requests}) == 6
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"delivered"}
    assert set(WebhookDelivery.objects.values_list("attempts", flat=True)) == {1}
