"""Webhooks under trouble: late events after a long outage, IRIs, slow and dead receivers,
stale subscriptions, odd addresses, and the admin's edge cases (review of issue #8)."""

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from wenxu.accounts.models import Membership, User
from wenxu.integrations.services import api_client_issue, api_client_update
from wenxu.integrations.tests.test_webhooks import receiver, subscribe
from wenxu.integrations.webhook_models import WebhookCursor, WebhookDelivery, WebhookSubscription
from wenxu.integrations.webhooks import fanout, sending, services, signing, targets
from wenxu.lib import clock
from wenxu.needs.models import NeedEvent
from wenxu.needs.states import Action
from wenxu.notify.models import Message
from wenxu.notify.outbox import enqueue

__all__ = ["receiver"]  # the fixture, shared with test_webhooks

Status = WebhookDelivery.Status
HOOK = "http://127.0.0.1:9/hook"  # never called: fan-out only


@pytest.fixture(autouse=True)
def _private_allowed(settings: Any) -> None:
    settings.WENXU_WEBHOOK_ALLOW_PRIVATE = True
    settings.WENXU_WEBHOOK_TIMEOUT = 1
    settings.WENXU_WEBHOOK_MAX_ATTEMPTS = 8
    settings.WENXU_WEBHOOK_DISABLE_AFTER = 5


def _event_with_id(pk: int, need: Any, seq: int) -> NeedEvent:
    (event,) = NeedEvent.objects.bulk_create(
        [
            NeedEvent(
                pk=pk,
                need=need,
                seq=seq,
                action=Action.SUPERVISE,
                from_status="registered",
                to_status="registered",
                created_at=clock.now(),
            )
        ]
    )
    return event


# --------------------------------------------------------------------------- gaps (1)


def test_a_gap_is_queried_once_more_after_a_long_outage_before_it_is_dropped(world, caplog):
    subscribe(world, HOOK)
    need = world.register()
    first = NeedEvent.objects.get(need=need)
    WebhookCursor.objects.create(name="main", last_event_id=first.pk - 1)
    late_id = first.pk + 1
    start = clock.now()
    with time_machine.travel(start, tick=False):
        _event_with_id(first.pk + 2, need, 99)
        fanout.fanout()
        assert WebhookCursor.objects.get().gaps[0][:2] == [late_id, late_id]
    # the worker is down for more than GAP_TTL; the late event commits meanwhile
    _event_with_id(late_id, need, 98)
    with time_machine.travel(start + fanout.GAP_TTL + timedelta(hours=1), tick=False):
        fanout.fanout()
    assert WebhookDelivery.objects.filter(event_id=late_id).count() == 1
    assert WebhookCursor.objects.get().gaps == []
    assert "given up" not in caplog.text


def test_a_gap_still_missing_after_its_time_is_dropped_with_a_warning(world, caplog):
    subscribe(world, HOOK)
    need = world.register()
    first = NeedEvent.objects.get(need=need)
    WebhookCursor.objects.create(name="main", last_event_id=first.pk - 1)
    start = clock.now()
    with time_machine.travel(start, tick=False):
        _event_with_id(first.pk + 2, need, 99)
        fanout.fanout()
    with (
        caplog.at_level(logging.WARNING, logger="wenxu.webhooks"),
        time_machine.travel(start + fanout.GAP_TTL + timedelta(minutes=1), tick=False),
    ):
        fanout.fanout()
    assert WebhookCursor.objects.get().gaps == []
    assert f"ids {first.pk + 1}-{first.pk + 1} never appeared" in caplog.text


def test_trimming_live_gaps_beyond_the_maximum_is_logged(world, caplog, monkeypatch):
    monkeypatch.setattr(fanout, "MAX_GAPS", 1)
    subscribe(world, HOOK)
    need = world.register()
    first = NeedEvent.objects.get(need=need)
    WebhookCursor.objects.create(name="main", last_event_id=first.pk - 1)
    _event_with_id(first.pk + 2, need, 98)
    _event_with_id(first.pk + 4, need, 99)
    with caplog.at_level(logging.WARNING, logger="wenxu.webhooks"):
        fanout.fanout()
    assert WebhookCursor.objects.get().gaps[0][:2] == [first.pk + 3, first.pk + 3]
    assert "1 oldest dropped unfilled" in caplog.text


def test_the_gap_refill_is_bounded_per_run(world, monkeypatch):
    subscribe(world, HOOK)
    need = world.register()
    first = NeedEvent.objects.get(need=need)
    WebhookCursor.objects.create(name="main", last_event_id=first.pk - 1)
    _event_with_id(first.pk + 5, need, 99)
    fanout.fanout()  # gap first+1 … first+4
    for offset in range(1, 5):
        _event_with_id(first.pk + offset, need, 90 + offset)
    monkeypatch.setattr(fanout, "GAP_REFILL_LIMIT", 3)
    fanout.fanout()
    late = WebhookDelivery.objects.filter(event_id__gt=first.pk, event_id__lt=first.pk + 5)
    assert late.count() == 3
    assert [g[:2] for g in WebhookCursor.objects.get().gaps] == [[first.pk + 4, first.pk + 4]]
    fanout.fanout()
    assert late.count() == 4
    assert WebhookCursor.objects.get().gaps == []


# --------------------------------------------------------------------------- IRIs (2)


def test_a_chinese_target_url_is_stored_as_a_uri_and_delivered(world, receiver):
    iri = f"http://127.0.0.1:{receiver.port}/回调?来源=问需&x=%20"
    _secret, subscription = subscribe(world, iri)
    assert subscription.url == (
        f"http://127.0.0.1:{receiver.port}/{quote('回调')}?{quote('来源')}={quote('问需')}&x=%20"
    )
    world.register()
    services.webhook_sweep()
    (delivery,) = WebhookDelivery.objects.filter(event__isnull=False)
    assert delivery.status == Status.DELIVERED
    assert receiver.requests[0].path == f"/{quote('回调')}?{quote('来源')}={quote('问需')}&x=%20"


def test_an_iri_saved_earlier_is_encoded_when_sending_and_the_test_event_works(world, receiver):
    _secret, subscription = subscribe(world, receiver.url)
    WebhookSubscription.objects.filter(pk=subscription.pk).update(
        url=f"http://127.0.0.1:{receiver.port}/回调?来源=问需"
    )
    subscription.refresh_from_db()
    delivery = services.webhook_test_send(subscription=subscription)
    assert delivery.status == Status.DELIVERED
    assert receiver.requests[0].path == f"/{quote('回调')}?{quote('来源')}={quote('问需')}"


def test_an_internationalised_host_becomes_punycode() -> None:
    assert targets.to_uri("https://例子.中国/回调") == (
        "https://xn--fsqu00a.xn--fiqs8s/%E5%9B%9E%E8%B0%83"
    )
    assert targets.to_uri("https://[::1]:8443/a b") == "https://[::1]:8443/a%20b"


def test_an_unexpected_error_on_one_delivery_is_recorded_and_the_sweep_goes_on(
    world, receiver, monkeypatch, caplog
):
    _secret, broken = subscribe(world, receiver.url, name="坏的")
    _secret, fine = subscribe(world, receiver.url, name="好的")
    real_post = sending.post

    def post(url: str, body: bytes, headers: dict[str, str]) -> sending.Response:
        if headers["X-Wenxu-Signature"] == signing.signature(
            secret=broken.secret, timestamp=int(headers["X-Wenxu-Timestamp"]), body=body
        ):
            raise UnicodeEncodeError("ascii", "回", 0, 1, "boom")
        return real_post(url, body, headers)

    monkeypatch.setattr(sending, "post", post)
    world.register()
    with caplog.at_level(logging.ERROR, logger="wenxu.webhooks"):
        services.webhook_sweep()
    bad = WebhookDelivery.objects.get(subscription=broken)
    good = WebhookDelivery.objects.get(subscription=fine)
    assert good.status == Status.DELIVERED
    assert bad.status == Status.PENDING  # a failed attempt, retried later: not stuck 'sending'
    assert bad.attempts == 1
    assert "UnicodeEncodeError" in bad.last_error
    assert "unexpected error" in caplog.text


def test_post_turns_a_value_error_into_a_failed_attempt(monkeypatch):
    target = targets.Target("http", "127.0.0.1", 9, "/x", ("127.0.0.1",))
    monkeypatch.setattr(targets, "check", lambda url: target)

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise UnicodeEncodeError("ascii", "回", 0, 1, "boom")

    class Sock:
        def settimeout(self, seconds: float) -> None:
            pass

        def close(self) -> None:
            pass

    monkeypatch.setattr(
        "http.client.HTTPConnection.connect", lambda self: setattr(self, "sock", Sock())
    )
    monkeypatch.setattr("http.client.HTTPConnection.request", refuse)
    with pytest.raises(sending.Failed, match="无法发送"):
        sending.post("http://127.0.0.1:9/x", b"{}", {})


# --------------------------------------------------------------------------- deadline (3)


@pytest.fixture
def dribbler() -> Iterator[int]:
    """A receiver that answers 200 one byte every 0.1 s (each wait well under the timeout)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _addr = server.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    conn.recv(65536)
                    for byte in b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok":
                        if stop.is_set():
                            break
                        conn.sendall(bytes([byte]))
                        time.sleep(0.1)
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(5)
    server.close()


def test_a_receiver_dribbling_its_answer_is_cut_off_at_the_timeout(world, dribbler):
    subscribe(world, f"http://127.0.0.1:{dribbler}/hook")
    world.register()
    services.webhook_sweep()
    (delivery,) = WebhookDelivery.objects.filter(event__isnull=False)
    assert delivery.status == Status.PENDING
    assert delivery.attempts == 1
    assert "超时" in delivery.last_error


def test_only_a_few_addresses_are_tried(monkeypatch):
    many = tuple(f"192.0.2.{i}" for i in range(1, 10))
    target = targets.Target("http", "example.org", 80, "/", many)
    monkeypatch.setattr(targets, "check", lambda url: target)
    tried: list[str] = []

    def refuse(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        tried.append(address[0])
        raise ConnectionRefusedError

    monkeypatch.setattr(socket, "create_connection", refuse)
    with pytest.raises(sending.Failed):
        sending.post("http://example.org/", b"{}", {})
    assert tried == list(many[: sending.MAX_ADDRESSES])


# --------------------------------------------------------------------------- fairness (4)


def test_a_timing_out_receiver_does_not_starve_a_healthy_one(world, receiver, monkeypatch):
    # a receiver that never answers: accepts and keeps silent
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(50)
    try:
        _s, dead = subscribe(world, f"http://127.0.0.1:{silent.getsockname()[1]}/hook", name="慢")
        _s, healthy = subscribe(world, receiver.url, name="快")
        for index in range(5):
            world.register(title=f"第{index}件")
        monkeypatch.setattr(services, "SEND_BUDGET", timedelta(seconds=2))
        services.webhook_sweep()
    finally:
        silent.close()
    assert (
        WebhookDelivery.objects.filter(subscription=healthy, status=Status.DELIVERED).count() == 5
    )
    dead_rows = WebhookDelivery.objects.filter(subscription=dead)
    assert dead_rows.filter(attempts=1).count() == 1  # one try per sweep, the rest wait
    assert dead_rows.filter(attempts=0, status=Status.PENDING).count() == 4


# --------------------------------------------------------------------------- order (5)


def test_each_event_carries_its_sequence_number_in_the_need(world):
    subscribe(world, HOOK)
    need = world.assigned()  # register + assign, fanned out in one sweep
    fanout.fanout()
    bodies = [json.loads(d.body) for d in WebhookDelivery.objects.filter(need_number=need.number)]
    by_action = {body["event"]["action"]: body["event"]["seq"] for body in bodies}
    assert by_action == {"register": 1, "assign": 2}


# --------------------------------------------------------------------------- growth (6)


def test_a_subscription_stopped_for_long_gets_no_more_deliveries_and_its_backlog_is_cancelled(
    world,
):
    _secret, subscription = subscribe(world, HOOK)
    world.register(title="停用前")
    fanout.fanout()
    WebhookSubscription.objects.filter(pk=subscription.pk).update(
        disabled_at=clock.now() - timedelta(days=8), disabled_reason="测试"
    )
    world.register(title="停用一周后")
    result = services.webhook_sweep()
    assert result.cancelled == 1
    assert WebhookDelivery.objects.count() == 1  # nothing written for the new event
    assert WebhookDelivery.objects.get().status == Status.CANCELLED
    # re-enabling sends no backlog: only events from now on
    assert services.webhook_subscription_enable(subscription=subscription) == 0
    world.register(title="重新启用后")
    fanout.fanout()
    assert WebhookDelivery.objects.filter(status=Status.PENDING).count() == 1


def test_a_subscription_stopped_for_a_few_days_still_collects_its_events(world):
    _secret, subscription = subscribe(world, HOOK)
    WebhookSubscription.objects.filter(pk=subscription.pk).update(
        disabled_at=clock.now() - timedelta(days=6), disabled_reason="测试"
    )
    world.register()
    services.webhook_sweep()
    assert WebhookDelivery.objects.get().status == Status.PENDING


def test_failed_and_cancelled_deliveries_are_purged_after_ninety_days(world):
    subscribe(world, HOOK)
    for index in range(3):
        world.register(title=f"第{index}件")
    fanout.fanout()
    first, second, third = WebhookDelivery.objects.order_by("pk")
    WebhookDelivery.objects.filter(pk=first.pk).update(status=Status.FAILED)
    WebhookDelivery.objects.filter(pk=second.pk).update(status=Status.CANCELLED)
    with time_machine.travel(clock.now() + timedelta(days=89), tick=False):
        assert services.webhook_purge() == 0
    with time_machine.travel(clock.now() + timedelta(days=91), tick=False):
        assert services.webhook_purge() == 2
    assert list(WebhookDelivery.objects.values_list("pk", flat=True)) == [third.pk]


# --------------------------------------------------------------------------- addresses (8)


@pytest.mark.parametrize(
    "address",
    [
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "2002:a00:1::1",  # 6to4 of 10.0.0.1
        "::7f00:1",  # IPv4-compatible 127.0.0.1
        "::a9fe:a9fe",  # IPv4-compatible 169.254.169.254
        "::ffff:10.0.0.1",  # IPv4-mapped
        "fec0::1",  # site-local
        "64:ff9b:1::a00:1",  # local-use NAT64 prefix
    ],
)
def test_ipv6_forms_of_internal_addresses_are_refused(settings, monkeypatch, address):
    settings.WENXU_WEBHOOK_ALLOW_PRIVATE = False
    monkeypatch.setattr(targets, "_resolve", lambda host, port: (address,))
    with pytest.raises(targets.TargetRefused, match="内网"):
        targets.check("https://hooks.example.org/x")


@pytest.mark.parametrize("address", ["64:ff9b::808:808", "2002:808:808::1", "2606:4700::1111"])
def test_ipv6_forms_of_public_addresses_pass(settings, monkeypatch, address):
    settings.WENXU_WEBHOOK_ALLOW_PRIVATE = False
    monkeypatch.setattr(targets, "_resolve", lambda host, port: (address,))
    assert targets.check("https://hooks.example.org/x").addresses == (address,)


# --------------------------------------------------------------------------- minor


def test_a_failed_test_event_is_tried_once_and_does_not_count(world, receiver, settings):
    settings.WENXU_WEBHOOK_DISABLE_AFTER = 1
    receiver.answers = [500]
    _secret, subscription = subscribe(world, receiver.url)
    delivery = services.webhook_test_send(subscription=subscription)
    assert delivery.status == Status.FAILED
    assert delivery.attempts == 1
    assert delivery.last_error == "HTTP 500"
    subscription.refresh_from_db()
    assert subscription.consecutive_failures == 0
    assert subscription.disabled_at is None
    with time_machine.travel(clock.now() + timedelta(hours=3), tick=False):
        services.webhook_sweep()
    assert len(receiver.requests) == 1


def test_backoff_does_not_overflow_for_large_attempt_counts():
    assert sending.backoff(10_000, rand=lambda: 0.5) == sending.MAX_BACKOFF


def test_verify_refuses_a_non_ascii_signature_header():
    body = b"{}"
    now = time.time()
    assert not signing.verify(
        secret="whsec_x", timestamp=str(int(now)), body=body, header="sha256=签名", now=now
    )


def test_sending_a_delivery_deleted_meanwhile_is_a_no_op(world):
    assert sending.send_claimed(10**9, claimed_at=clock.now()) is False


def test_one_failing_sweep_step_does_not_stop_the_others(world, receiver, monkeypatch, caplog):
    subscribe(world, receiver.url)
    world.register()
    fanout.fanout()

    def broken(**kwargs: Any) -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr(fanout, "fanout", broken)
    with caplog.at_level(logging.ERROR, logger="wenxu.webhooks"):
        result = services.webhook_sweep()
    assert result.delivered == 1
    assert "step fanned_out failed" in caplog.text


def test_the_disable_alert_goes_to_superusers_only(world, receiver, settings):
    settings.WENXU_WEBHOOK_MAX_ATTEMPTS = 1
    settings.WENXU_WEBHOOK_DISABLE_AFTER = 1
    boss = User.objects.create_user("boss", password="pw-boss", is_superuser=True, email="b@x.cn")
    town = User.objects.create_user("town", password="pw-town", email="t@x.cn")
    Membership.objects.create(user=town, role="admin", area=world.town_a)
    receiver.answers = [500]
    subscribe(world, receiver.url)
    world.register()
    services.webhook_sweep()
    assert [m.user for m in Message.objects.filter(template="webhook_disabled")] == [boss]


def test_the_disable_is_retried_when_the_alert_cannot_be_written(world, receiver, settings):
    settings.WENXU_WEBHOOK_MAX_ATTEMPTS = 1
    settings.WENXU_WEBHOOK_DISABLE_AFTER = 1
    User.objects.create_user("boss", password="pw-boss", is_superuser=True, email="b@x.cn")
    receiver.answers = [500]
    _secret, subscription = subscribe(world, receiver.url)
    calls: list[int] = []

    def flaky(drafts: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("outbox down")
        return enqueue(drafts)

    alerts_enqueue = "wenxu.integrations.webhooks.alerts.enqueue"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(alerts_enqueue, flaky)
        world.register()
        services.webhook_sweep()
        subscription.refresh_from_db()
        assert subscription.disabled_at is None  # not switched off without its alert
        world.register(title="第二件")
        services.webhook_sweep()
    subscription.refresh_from_db()
    assert subscription.disabled_at is not None
    assert Message.objects.filter(template="webhook_disabled").count() == 1


def _superuser(world: Any) -> Client:
    user = User.objects.create_user("root", password="pw-root", is_superuser=True, is_staff=True)
    client = Client()
    client.force_login(user)
    return client


def test_the_admin_stores_an_iri_as_a_uri_through_the_service(world, receiver):
    client = _superuser(world)
    _raw, key = api_client_issue(name="平台", areas=[world.town_a], actions=["read", "webhooks"])
    response = client.post(
        reverse("admin:integrations_webhooksubscription_add"),
        {
            "client": key.pk,
            "url": f"http://127.0.0.1:{receiver.port}/回调",
            "active": "on",
            "note": "",
        },
    )
    assert response.status_code == 200
    subscription = WebhookSubscription.objects.get()
    assert subscription.url == f"http://127.0.0.1:{receiver.port}/{quote('回调')}"
    assert subscription.secret in response.content.decode()
    assert subscription.after_event_id == (
        NeedEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    )


def test_retry_now_says_when_the_subscription_is_stopped(world):
    client = _superuser(world)
    _secret, subscription = subscribe(world, HOOK)
    world.register()
    fanout.fanout()
    WebhookDelivery.objects.update(status=Status.FAILED)
    WebhookSubscription.objects.filter(pk=subscription.pk).update(disabled_at=clock.now())
    response = client.post(
        reverse("admin:integrations_webhookdelivery_changelist"),
        {
            "action": "retry_now",
            "_selected_action": list(WebhookDelivery.objects.values_list("pk", flat=True)),
        },
        follow=True,
    )
    assert "已停用：这些推送要等重新启用该订阅后才会发出" in response.content.decode()


def test_a_superuser_without_an_admin_role_manages_keys(world):
    client = _superuser(world)
    assert client.get("/integrations/keys/").status_code == 200


def test_narrowing_a_key_below_a_webhook_area_is_refused_naming_it(world):
    _secret, subscription = subscribe(world, HOOK, areas=[world.county], area=world.town_a)
    key = subscription.client

    with pytest.raises(ValidationError) as refused:
        api_client_update(
            client=key, areas=[world.town_b], actions=["read", "webhooks"], rate_limit=60
        )
    assert HOOK in str(refused.value)
    assert list(key.areas.all()) == [world.county]
    # narrowing to an area that still holds it is fine
    api_client_update(client=key, areas=[world.town_a], actions=["read", "webhooks"], rate_limit=60)
    assert list(key.areas.all()) == [world.town_a]
