"""Webhook sending against a local receiver (issue #8 §4 and its acceptance).

The receiver is `http.server` in a thread on 127.0.0.1 (a random port); each test scripts its
answers. Private targets are allowed here (`WENXU_WEBHOOK_ALLOW_PRIVATE`) except in the test
that checks they are refused by default.
"""

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import time_machine

from wenxu.integrations.models import ClientAction
from wenxu.integrations.services import api_client_issue
from wenxu.integrations.webhook_models import WebhookDelivery, WebhookSubscription
from wenxu.integrations.webhooks import services, signing
from wenxu.lib import clock
from wenxu.needs.models import Need, NeedEvent
from wenxu.notify.models import Message

Status = WebhookDelivery.Status


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers with the scripted statuses in turn (the last one repeats)."""

    answers: list[int] = field(default_factory=lambda: [200])
    delay: float = 0.0
    location: str = ""
    requests: list[Received] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook?src=wenxu"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            state.requests.append(Received(self.path, dict(self.headers.items()), body))
            index = min(len(state.requests), len(state.answers)) - 1
            if state.delay:
                time.sleep(state.delay)
            status = state.answers[index]
            self.send_response(status)
            if state.location:
                self.send_header("Location", state.location)
            reply = f"答复 {status}".encode()
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def _private_allowed(settings: Any) -> None:
    settings.WENXU_WEBHOOK_ALLOW_PRIVATE = True
    settings.WENXU_WEBHOOK_TIMEOUT = 1
    settings.WENXU_WEBHOOK_MAX_ATTEMPTS = 8
    settings.WENXU_WEBHOOK_DISABLE_AFTER = 5


def subscribe(world: Any, url: str, **kwargs: Any) -> tuple[str, WebhookSubscription]:
    _raw, client = api_client_issue(
        name=kwargs.pop("name", "12345平台"),
        areas=kwargs.pop("areas", [world.town_a]),
        actions=[ClientAction.READ, ClientAction.WEBHOOKS],
    )
    return services.webhook_subscription_create(client=client, url=url, **kwargs)


def expected_signature(secret: str, request: Received) -> str:
    timestamp = request.headers["X-Wenxu-Timestamp"]
    digest = hmac.new(
        secret.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256
    ).hexdigest()
    return f"sha256={digest}"


def only_delivery() -> WebhookDelivery:
    (delivery,) = WebhookDelivery.objects.filter(event__isnull=False)
    return delivery


# --------------------------------------------------------------------------- acceptance


def test_a_receiver_failing_twice_then_succeeding_gets_the_event_once_signed(world, receiver):
    # given a subscription for registrations and a receiver answering 500, 500, then 200
    receiver.answers = [500, 500, 200]
    secret, subscription = subscribe(world, receiver.url, event_types=["need.registered"])
    start = clock.now()
    with time_machine.travel(start, tick=False):
        need = world.register()
        # when the worker sweeps: the first attempt fails
        services.webhook_sweep()
        assert only_delivery().status == Status.PENDING
        # a second sweep before the backoff has passed sends nothing
        services.webhook_sweep()
        assert len(receiver.requests) == 1
    with time_machine.travel(start + timedelta(minutes=2), tick=False):
        services.webhook_sweep()  # second attempt (after ~1 minute): fails again
    with time_machine.travel(start + timedelta(minutes=6), tick=False):
        services.webhook_sweep()  # third attempt (after ~2 minutes): delivered
        services.webhook_sweep()  # nothing more

    # then exactly one delivery for that (subscription, event), delivered on attempt 3
    event = NeedEvent.objects.get(need=need, action="register")
    deliveries = WebhookDelivery.objects.filter(subscription=subscription, event=event)
    assert deliveries.count() == 1
    delivery = deliveries.get()
    assert delivery.status == Status.DELIVERED
    assert delivery.attempts == 3
    assert delivery.response_status == 200
    assert delivery.response_body == "答复 200"
    assert delivery.delivered_at is not None
    assert len(receiver.requests) == 3
    # every request carried the same delivery id, the same body and a valid signature
    assert {r.headers["X-Wenxu-Delivery"] for r in receiver.requests} == {str(delivery.uuid)}
    assert len({r.body for r in receiver.requests}) == 1
    for request in receiver.requests:
        assert request.headers["X-Wenxu-Signature"] == expected_signature(secret, request)
        assert request.headers["X-Wenxu-Event"] == "need.registered"
        assert request.headers["Content-Type"] == "application/json"
        assert request.path == "/hook?src=wenxu"
    payload = json.loads(receiver.requests[-1].body)
    assert payload["id"] == str(delivery.uuid)
    assert payload["need"]["number"] == need.number
    subscription.refresh_from_db()
    assert subscription.consecutive_failures == 0


def test_the_signature_header_is_sha256_of_timestamp_dot_body_and_verifies(world, receiver):
    secret, _subscription = subscribe(world, receiver.url)
    world.register()
    services.webhook_sweep()
    (request,) = receiver.requests
    header = request.headers["X-Wenxu-Signature"]
    assert header.startswith("sha256=")
    assert len(header.removeprefix("sha256=")) == 64
    assert header == expected_signature(secret, request)
    timestamp = request.headers["X-Wenxu-Timestamp"]
    assert timestamp.isdigit()
    assert abs(int(timestamp) - time.time()) < 300
    assert signing.verify(
        secret=secret, timestamp=timestamp, body=request.body, header=header, now=time.time()
    )
    # a wrong secret, a changed body or an old timestamp do not verify
    assert not signing.verify(
        secret="whsec_other", timestamp=timestamp, body=request.body, header=header, now=time.time()
    )
    assert not signing.verify(
        secret=secret, timestamp=timestamp, body=request.body + b" ", header=header, now=time.time()
    )
    assert not signing.verify(
        secret=secret,
        timestamp=timestamp,
        body=request.body,
        header=header,
        now=int(timestamp) + 301,
    )


def test_a_delivery_fails_for_good_after_the_maximum_attempts(world, receiver, settings):
    settings.WENXU_WEBHOOK_MAX_ATTEMPTS = 3
    receiver.answers = [503]
    subscribe(world, receiver.url)
    start = clock.now()
    world.register()
    for minutes in (0, 10, 30, 60, 120):
        with time_machine.travel(start + timedelta(minutes=minutes), tick=False):
            services.webhook_sweep()
    delivery = only_delivery()
    assert delivery.status == Status.FAILED
    assert delivery.attempts == 3
    assert delivery.response_status == 503
    assert "3" in delivery.last_error
    assert len(receiver.requests) == 3


def test_a_redirect_is_not_followed_and_counts_as_a_failure(world, receiver):
    receiver.answers = [302]
    receiver.location = "/elsewhere"
    subscribe(world, receiver.url)
    world.register()
    services.webhook_sweep()
    assert [r.path for r in receiver.requests] == ["/hook?src=wenxu"]
    delivery = only_delivery()
    assert delivery.status == Status.PENDING
    assert delivery.attempts == 1
    assert delivery.response_status == 302
    assert "跳转" in delivery.last_error


def test_a_timeout_counts_as_a_failed_attempt(world, receiver, settings):
    settings.WENXU_WEBHOOK_TIMEOUT = 1
    receiver.delay = 2.5
    subscribe(world, receiver.url)
    world.register()
    services.webhook_sweep()
    delivery = only_delivery()
    assert delivery.status == Status.PENDING
    assert delivery.attempts == 1
    assert delivery.delivered_at is None
    assert "超时" in delivery.last_error


def test_a_refused_connection_counts_as_a_failed_attempt(world, receiver):
    subscribe(world, "http://127.0.0.1:1/hook")
    world.register()
    services.webhook_sweep()
    delivery = only_delivery()
    assert delivery.status == Status.PENDING
    assert delivery.attempts == 1
    assert "无法连接" in delivery.last_error


def test_repeated_failed_deliveries_disable_the_subscription_and_alert_the_admins(
    world, receiver, settings
):
    settings.WENXU_WEBHOOK_MAX_ATTEMPTS = 1
    settings.WENXU_WEBHOOK_DISABLE_AFTER = 2
    world.admin.is_superuser = True
    world.admin.email = "admin@qingshan.gov.cn"
    world.admin.save()
    receiver.answers = [500]
    _secret, subscription = subscribe(world, receiver.url)

    world.register()
    services.webhook_sweep()
    subscription.refresh_from_db()
    assert subscription.consecutive_failures == 1
    assert subscription.disabled_at is None

    world.register(title="第二件")
    world.register(title="第三件")
    services.webhook_sweep()
    subscription.refresh_from_db()
    assert subscription.disabled_at is not None
    assert "连续 2 条推送失败" in subscription.disabled_reason
    assert subscription.active  # switched off automatically, not by the administrator
    # the third one was sent before or after the switch: either way nothing more goes out
    sent = len(receiver.requests)
    (alert,) = Message.objects.filter(template="webhook_disabled")
    assert alert.user == world.admin
    assert alert.channel == "email"
    assert "12345平台" in alert.body

    world.register(title="停用后的事件")
    services.webhook_sweep()
    assert len(receiver.requests) == sent
    waiting = WebhookDelivery.objects.filter(status=Status.PENDING)
    assert waiting.exists()  # kept for the re-enabling

    # re-enabling resumes: the waiting deliveries go out and the count restarts
    receiver.answers = [200]
    services.webhook_subscription_enable(subscription=subscription)
    services.webhook_sweep()
    subscription.refresh_from_db()
    assert subscription.disabled_at is None
    assert subscription.consecutive_failures == 0
    assert not WebhookDelivery.objects.filter(status=Status.PENDING).exists()
    assert Message.objects.filter(template="webhook_disabled").count() == 1


def test_a_success_resets_the_failure_count(world, receiver, settings):
    settings.WENXU_WEBHOOK_MAX_ATTEMPTS = 1
    receiver.answers = [500, 200]
    _secret, subscription = subscribe(world, receiver.url)
    world.register()
    services.webhook_sweep()
    subscription.refresh_from_db()
    assert subscription.consecutive_failures == 1
    world.register(title="第二件")
    services.webhook_sweep()
    subscription.refresh_from_db()
    assert subscription.consecutive_failures == 0


def test_private_targets_are_refused_by_default_when_saving_and_when_sending(
    world, receiver, settings
):
    from django.core.exceptions import ValidationError

    settings.WENXU_WEBHOOK_ALLOW_PRIVATE = False
    for url in (
        receiver.url,
        "http://localhost:8000/hook",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "ftp://example.cn/hook",
    ):
        with pytest.raises(ValidationError) as refused:
            subscribe(world, url, name=f"c{len(url)}")
        assert "url" in refused.value.message_dict
    assert not WebhookSubscription.objects.exists()

    # a subscription saved while private targets were allowed is refused when sending
    settings.WENXU_WEBHOOK_ALLOW_PRIVATE = True
    subscribe(world, receiver.url)
    settings.WENXU_WEBHOOK_ALLOW_PRIVATE = False
    world.register()
    services.webhook_sweep()
    assert receiver.requests == []
    delivery = only_delivery()
    assert delivery.status == Status.PENDING
    assert "内网" in delivery.last_error


def test_a_client_without_the_webhooks_action_cannot_subscribe(world, receiver):
    from django.core.exceptions import ValidationError

    _raw, client = api_client_issue(name="只读", actions=[ClientAction.READ])
    with pytest.raises(ValidationError) as refused:
        services.webhook_subscription_create(client=client, url=receiver.url)
    assert "client" in refused.value.message_dict
    assert not WebhookSubscription.objects.exists()


def test_an_area_outside_the_clients_areas_is_refused(world, receiver):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as refused:
        subscribe(world, receiver.url, area=world.grid_b)
    assert "area" in refused.value.message_dict


def test_a_revoked_client_gets_nothing_more(world, receiver):
    from wenxu.integrations.services import api_client_revoke

    _secret, subscription = subscribe(world, receiver.url)
    world.register()
    services.webhook_sweep()
    assert len(receiver.requests) == 1
    api_client_revoke(client=subscription.client)
    world.register(title="第二件")
    services.webhook_sweep()
    assert len(receiver.requests) == 1


def test_a_test_event_is_sent_signed_from_the_admin_service(world, receiver):
    secret, subscription = subscribe(world, receiver.url)
    delivery = services.webhook_test_send(subscription=subscription)
    assert delivery.status == Status.DELIVERED
    (request,) = receiver.requests
    assert request.headers["X-Wenxu-Event"] == "webhook.test"
    assert request.headers["X-Wenxu-Signature"] == expected_signature(secret, request)
    assert json.loads(request.body)["type"] == "webhook.test"


def test_rotating_the_secret_signs_with_the_new_one(world, receiver):
    old, subscription = subscribe(world, receiver.url)
    new = services.webhook_secret_rotate(subscription=subscription)
    assert new != old
    services.webhook_test_send(subscription=subscription)
    (request,) = receiver.requests
    assert request.headers["X-Wenxu-Signature"] == expected_signature(new, request)


def test_retry_now_requeues_a_failed_delivery(world, receiver, settings):
    settings.WENXU_WEBHOOK_MAX_ATTEMPTS = 1
    receiver.answers = [500, 200]
    subscribe(world, receiver.url)
    world.register()
    services.webhook_sweep()
    delivery = only_delivery()
    assert delivery.status == Status.FAILED
    assert services.webhook_delivery_retry(delivery_ids=[delivery.pk]) == 1
    services.webhook_sweep()
    delivery.refresh_from_db()
    assert delivery.status == Status.DELIVERED
    assert delivery.attempts == 1
    # a delivered one is not requeued
    assert services.webhook_delivery_retry(delivery_ids=[delivery.pk]) == 0


def test_delivered_deliveries_are_purged_after_thirty_days(world, receiver):
    subscribe(world, receiver.url)
    start = clock.now()
    with time_machine.travel(start, tick=False):
        world.register()
        services.webhook_sweep()
    assert only_delivery().status == Status.DELIVERED
    with time_machine.travel(start + timedelta(days=29), tick=False):
        services.webhook_sweep()
        assert WebhookDelivery.objects.count() == 1
    with time_machine.travel(start + timedelta(days=31), tick=False):
        services.webhook_sweep()
        assert WebhookDelivery.objects.count() == 0
    assert Need.objects.count() == 1


def test_a_stale_claim_is_taken_again(world, receiver):
    subscribe(world, receiver.url)
    start = clock.now()
    with time_machine.travel(start, tick=False):
        world.register()
        from wenxu.integrations.webhooks import fanout

        fanout.fanout()
        # a worker claimed it and crashed
        WebhookDelivery.objects.update(status=Status.SENDING, claimed_at=start, attempts=1)
        services.webhook_sweep()
        assert receiver.requests == []
    with time_machine.travel(start + timedelta(minutes=11), tick=False):
        services.webhook_sweep()
    delivery = only_delivery()
    assert delivery.status == Status.DELIVERED
    assert delivery.attempts == 2


def test_the_verification_snippet_in_the_docs_accepts_a_real_request(world, receiver):
    from pathlib import Path

    from django.conf import settings

    doc = (Path(settings.BASE_DIR).parent / "docs" / "api" / "webhooks.md").read_text(
        encoding="utf-8"
    )
    snippet = doc.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(snippet, namespace)  # noqa: S102 (our own documentation)
    verify = namespace["verify"]

    secret, _subscription = subscribe(world, receiver.url)
    world.register()
    services.webhook_sweep()
    (request,) = receiver.requests
    assert verify(secret, request.headers, request.body)
    assert not verify("whsec_wrong", request.headers, request.body)
    assert not verify(secret, request.headers, request.body.replace(b"need", b"nedd"))
    old = {**request.headers, "X-Wenxu-Timestamp": str(int(time.time()) - 301)}
    assert not verify(secret, old, request.body)
    forged = {**request.headers, "X-Wenxu-Signature": "sha256=签名"}
    assert not verify(secret, forged, request.body)  # no TypeError on a non-ASCII header
