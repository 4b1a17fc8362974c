"""Sending deliveries: claim, POST, record; retry with backoff; switch off a dead receiver.

Like the outbox (ADR 0012): each due delivery is claimed by a conditional `UPDATE … WHERE
status='pending' AND next_attempt_at <= now` (or a `sending` claim older than `stale_after()`,
a crashed worker's), and the outcome is written by another conditional update on that claim, so
several workers never send one attempt twice and a worker that lost its claim records nothing.
No transaction or lock is held during the request.

The request: the target is checked again (`targets.check`: scheme, every resolved address), the
connection goes to an address just checked (at most `MAX_ADDRESSES` of them), redirects are
never followed (a 3xx is a failure), and `WENXU_WEBHOOK_TIMEOUT` bounds the whole request
(connect, send, the complete answer; a watchdog shuts the socket at the deadline), which is at
most a tenth of `stale_after()`, so a claim never goes stale while its request runs. 2xx is
delivered; anything else (an HTTP error, a timeout, a refused connection) is a failed attempt,
retried after 1, 2, 4, 8 … minutes (± 20 %, at most `MAX_BACKOFF`) until
`WENXU_WEBHOOK_MAX_ATTEMPTS`; then the delivery has failed (the admin's test event: after its
one attempt). `WENXU_WEBHOOK_DISABLE_AFTER` failed deliveries in a row switch the subscription
off automatically (`disabled_at`), alerting the superusers; any delivered one resets the count.
`send_due` takes the subscriptions in turn and leaves a receiver alone for the rest of the
sweep after a failure.
"""

import contextlib
import http.client
import logging
import random
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils.translation import gettext as _

from wenxu.integrations.models import ClientAction
from wenxu.integrations.webhook_models import WebhookDelivery, WebhookSubscription
from wenxu.integrations.webhooks import alerts, signing, targets
from wenxu.lib import clock

logger = logging.getLogger("wenxu.webhooks")

MIN_STALE_AFTER = timedelta(minutes=5)
MAX_BACKOFF = timedelta(hours=6)
JITTER = 0.2
_MAX_RESPONSE = 64 * 1024
Status = WebhookDelivery.Status


def stale_after() -> timedelta:
    """A claim older than this is a crashed worker's: max(5 minutes, 10 × timeout)."""
    return max(MIN_STALE_AFTER, 10 * timedelta(seconds=settings.WENXU_WEBHOOK_TIMEOUT))


def backoff(attempts: int, *, rand: Callable[[], float] = random.random) -> timedelta:
    """The wait after `attempts` failed attempts: 2^(n-1) minutes ± 20 %, at most 6 hours."""
    # The exponent is clamped: 2^9 minutes is past the cap already, and a huge count must not
    # overflow timedelta.
    base = timedelta(minutes=2 ** min(max(attempts, 1) - 1, 9))
    factor = 1 + JITTER * (2 * rand() - 1)
    return min(base * factor, MAX_BACKOFF)


@dataclass(frozen=True)
class Response:
    status: int
    body: str
    ms: int


class Failed(Exception):
    def __init__(self, reason: str, response: Response | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.response = response


# --- HTTP ---------------------------------------------------------------------------------


MAX_ADDRESSES = 3  # addresses of one host tried per request (each within the same deadline)
_CHUNK = 4096


def _connection(
    target: targets.Target, address: str, timeout: float, opened: list[socket.socket]
) -> http.client.HTTPConnection:
    connection: http.client.HTTPConnection
    if target.scheme == "https":
        connection = http.client.HTTPSConnection(
            target.host, target.port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        connection = http.client.HTTPConnection(target.host, target.port, timeout=timeout)

    def connect_checked(
        _address: tuple[str, int], timeout: Any = None, source_address: Any = None
    ) -> socket.socket:
        # The address checked by `targets.check`, never a second DNS answer; TLS still
        # verifies the certificate against the host name.
        raw = socket.create_connection((address, target.port), timeout, source_address)
        opened.append(raw.dup())  # for the watchdog: the same connection, even once TLS-wrapped
        return raw

    connection._create_connection = connect_checked  # type: ignore[attr-defined]
    return connection


class _Deadline:
    """The time left for one request; past it, a watchdog shuts the socket down, so that no
    wait (a TLS handshake, a dribbled status line) outlives it."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.started = time.monotonic()
        self.opened: list[socket.socket] = []
        self.expired = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def remaining(self) -> float:
        left = self.seconds - (time.monotonic() - self.started)
        if left <= 0:
            self.expired = True
            raise TimeoutError
        return left

    def _expire(self) -> None:
        self.expired = True
        for sock in self.opened:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cancel(self) -> None:
        self._timer.cancel()
        for sock in self.opened:
            sock.close()

    def ms(self) -> int:
        return int((time.monotonic() - self.started) * 1000)


def _read_body(answer: http.client.HTTPResponse, sock: socket.socket, deadline: _Deadline) -> bytes:
    """Up to `_MAX_RESPONSE` bytes of the body, in small reads, each within the deadline."""
    raw = b""
    while len(raw) < _MAX_RESPONSE:
        sock.settimeout(deadline.remaining())
        try:
            chunk = answer.read1(_CHUNK)
        except http.client.IncompleteRead as partial:
            return raw + partial.partial
        if not chunk:
            break
        raw += chunk
    return raw


def post(url: str, body: bytes, headers: dict[str, str]) -> Response:
    """POST once; the response if 2xx, else `Failed` with the reason (and the response).

    The whole request (every address tried, connecting, sending, the answer) must finish
    within `WENXU_WEBHOOK_TIMEOUT` seconds, at most `MAX_ADDRESSES` addresses are tried.
    """
    try:
        target = targets.check(url)
    except targets.TargetRefused as refused:
        raise Failed(str(refused)) from None
    timeout = float(settings.WENXU_WEBHOOK_TIMEOUT)
    deadline = _Deadline(timeout)
    last_error: OSError | None = None
    too_slow = Failed(_("接收方在 %(seconds)s 秒内没有完成响应（超时）。") % {"seconds": timeout})
    try:
        for address in target.addresses[:MAX_ADDRESSES]:
            connection = _connection(target, address, timeout, deadline.opened)
            try:
                try:
                    connection.timeout = deadline.remaining()
                    connection.connect()
                except OSError as error:  # refused or unreachable: try the next address
                    if deadline.expired:
                        raise too_slow from None
                    last_error = error
                    continue
                sock = connection.sock
                sock.settimeout(deadline.remaining())
                connection.request("POST", target.path, body=body, headers=headers)
                sock.settimeout(deadline.remaining())
                answer = connection.getresponse()
                raw = _read_body(answer, sock, deadline)
                if deadline.expired:
                    raise too_slow
                response = Response(
                    status=answer.status,
                    body=raw.decode("utf-8", errors="replace")[:500],
                    ms=deadline.ms(),
                )
            except Failed:
                raise
            except TimeoutError:
                raise too_slow from None
            except (http.client.HTTPException, OSError) as error:
                if deadline.expired:
                    raise too_slow from None
                raise Failed(
                    _("与接收方的连接中断：%(error)s") % {"error": type(error).__name__}
                ) from None
            except ValueError as error:  # a URL or header http.client cannot send
                raise Failed(
                    _("推送地址或请求无法发送：%(error)s") % {"error": type(error).__name__}
                ) from None
            finally:
                connection.close()
            if 200 <= response.status < 300:
                return response
            if 300 <= response.status < 400:
                raise Failed(
                    _("接收方返回跳转（HTTP %(status)s），推送不跟随跳转：请填写最终地址。")
                    % {"status": response.status},
                    response,
                )
            raise Failed(f"HTTP {response.status}", response)
    finally:
        deadline.cancel()
    if isinstance(last_error, TimeoutError):
        raise Failed(_("连接接收方超时（%(seconds)s 秒）。") % {"seconds": timeout})
    raise Failed(
        _("无法连接接收方：%(error)s") % {"error": type(last_error).__name__ if last_error else "?"}
    )


# --- The queue ----------------------------------------------------------------------------


def _due(now: datetime) -> Q:
    return Q(status=Status.PENDING, next_attempt_at__lte=now) | Q(
        status=Status.SENDING, claimed_at__lt=now - stale_after()
    )


def _sending_subscriptions() -> Q:
    return Q(subscription__active=True, subscription__disabled_at__isnull=True)


def send_due(
    *, ids: Iterable[int] | None = None, limit: int = 200, budget: timedelta | None = None
) -> int:
    """Send due deliveries of subscriptions that are on (only `ids`, when given) until `limit`
    or `budget` is reached; returns how many were delivered now.

    Fair to every receiver: the due deliveries are taken one subscription at a time in turn
    (each subscription's own in `next_attempt_at` order), and after a failed attempt the
    subscription's other deliveries wait for the next sweep, so one slow or dead receiver
    costs one request per sweep, not the budget. An unexpected error on one delivery is
    logged and recorded as a failed attempt; the others still go.
    """
    now = clock.now()
    candidates = WebhookDelivery.objects.filter(_due(now)).filter(_sending_subscriptions())
    if ids is not None:
        candidates = candidates.filter(pk__in=list(ids))
    rows = candidates.order_by("next_attempt_at", "pk").values_list("pk", "subscription_id")
    queues: dict[int, list[int]] = {}
    for pk, subscription_id in rows[:limit]:
        queues.setdefault(subscription_id, []).append(pk)
    started = time.monotonic()
    delivered = 0
    while queues:
        if budget is not None and time.monotonic() - started > budget.total_seconds():
            break
        for subscription_id in list(queues):
            if budget is not None and time.monotonic() - started > budget.total_seconds():
                break
            pk = queues[subscription_id].pop(0)
            if not queues[subscription_id]:
                del queues[subscription_id]
            outcome = _send_one(pk)
            if outcome is True:
                delivered += 1
            elif outcome is False:  # failed: the rest of this receiver waits for the next sweep
                queues.pop(subscription_id, None)
    return delivered


def _send_one(pk: int) -> bool | None:
    """Claim and send one delivery: True delivered, False failed, None not claimed here."""
    claimed_at = _claim(pk)
    if claimed_at is None:
        return None
    return send_claimed_safely(pk, claimed_at=claimed_at)


def send_claimed_safely(pk: int, *, claimed_at: datetime) -> bool:
    """`send_claimed`, with any unexpected error logged and recorded as a failed attempt."""
    try:
        return send_claimed(pk, claimed_at=claimed_at)
    except Exception as error:
        logger.exception("webhook delivery pk=%s: unexpected error while sending", pk)
        delivery = WebhookDelivery.objects.filter(pk=pk).first()
        if delivery is not None:
            reason = _("发送时出现内部错误：%(error)s") % {"error": type(error).__name__}
            try:
                _failed(delivery, claimed_at, Failed(reason))
            except Exception:
                logger.exception("webhook delivery pk=%s: could not record the failure", pk)
        return False


def _claim(pk: int) -> datetime | None:
    now = clock.now()
    claim = {"status": Status.SENDING, "claimed_at": now, "attempts": F("attempts") + 1}
    # Conditions on the delivery row alone: a join would put them in a subquery, which
    # PostgreSQL does not re-check after waiting for a concurrent claim of the same row.
    pending = WebhookDelivery.objects.filter(pk=pk, status=Status.PENDING, next_attempt_at__lte=now)
    if pending.update(**claim) == 1:
        return now
    stale = WebhookDelivery.objects.filter(
        pk=pk, status=Status.SENDING, claimed_at__lt=now - stale_after()
    )
    if stale.update(**claim) == 1:
        return now
    return None


def send_claimed(pk: int, *, claimed_at: datetime) -> bool:
    delivery = WebhookDelivery.objects.select_related("subscription__client").filter(pk=pk).first()
    if delivery is None:  # the subscription (and its deliveries) was deleted meanwhile
        return False
    subscription = delivery.subscription
    client = subscription.client
    if not client.is_usable(clock.now()) or not client.may(ClientAction.WEBHOOKS):
        _finish(
            delivery,
            claimed_at,
            status=Status.CANCELLED,
            last_error=_("接口密钥已吊销、过期或不再允许接收事件推送，不再发送。"),
        )
        return False
    body = delivery.body.encode("utf-8")
    # Wall time, not `clock.now()`: receivers compare it with their own clock.
    timestamp = int(time.time())
    headers = signing.headers(
        secret=subscription.secret,
        event_type=delivery.event_type,
        delivery_id=str(delivery.uuid),
        timestamp=timestamp,
        body=body,
    )
    try:
        response = post(subscription.url, body, headers)
    except Failed as failed:
        _failed(delivery, claimed_at, failed)
        return False
    if _finish(
        delivery,
        claimed_at,
        status=Status.DELIVERED,
        delivered_at=clock.now(),
        response_status=response.status,
        response_ms=response.ms,
        response_body=response.body,
        last_error="",
    ):
        WebhookSubscription.objects.filter(pk=subscription.pk).update(consecutive_failures=0)
    return True


def _failed(delivery: WebhookDelivery, claimed_at: datetime, failed: Failed) -> None:
    response = failed.response
    seen = {
        "response_status": response.status if response else None,
        "response_ms": response.ms if response else None,
        "response_body": response.body if response else "",
    }
    if delivery.event_id is None:  # the admin's test event: one attempt, its result shown
        _finish(delivery, claimed_at, status=Status.FAILED, last_error=failed.reason[:500], **seen)
        return
    max_attempts = settings.WENXU_WEBHOOK_MAX_ATTEMPTS
    if delivery.attempts < max_attempts:
        _finish(
            delivery,
            claimed_at,
            status=Status.PENDING,
            next_attempt_at=clock.now() + backoff(delivery.attempts),
            last_error=failed.reason[:500],
            **seen,
        )
        return
    reason = _("已尝试 %(count)s 次仍未成功，不再重试。最后一次错误：%(reason)s") % {
        "count": delivery.attempts,
        "reason": failed.reason,
    }
    if not _finish(delivery, claimed_at, status=Status.FAILED, last_error=reason[:500], **seen):
        return
    WebhookSubscription.objects.filter(pk=delivery.subscription_id).update(
        consecutive_failures=F("consecutive_failures") + 1
    )
    _maybe_disable(delivery.subscription_id, failed.reason)


def _maybe_disable(subscription_id: int, reason: str) -> None:
    limit = settings.WENXU_WEBHOOK_DISABLE_AFTER
    why = _("连续 %(count)s 条推送失败，已自动停用。最后一次错误：%(reason)s") % {
        "count": limit,
        "reason": reason,
    }
    # The stop and its alert commit together: if writing the alert fails, the subscription
    # stays on and the next failed delivery (the count is still over the limit) tries again.
    with transaction.atomic():
        switched = WebhookSubscription.objects.filter(
            pk=subscription_id, disabled_at__isnull=True, consecutive_failures__gte=limit
        ).update(disabled_at=clock.now(), disabled_reason=why[:500])
        if switched:  # this worker switched it off: it alone alerts
            subscription = WebhookSubscription.objects.select_related("client").get(
                pk=subscription_id
            )
            alerts.subscription_disabled(subscription)


def _finish(delivery: WebhookDelivery, claimed_at: datetime, **fields: Any) -> bool:
    """Record the outcome if the claim is still ours; log one line. True when recorded."""
    still_ours = WebhookDelivery.objects.filter(
        pk=delivery.pk, status=Status.SENDING, claimed_at=claimed_at
    ).update(**fields)
    status = fields.get("status")
    log = logger.info if status in {Status.DELIVERED, Status.CANCELLED} else logger.warning
    log(
        "webhook delivery=%s subscription=%s type=%s outcome=%s attempt=%s code=%s%s%s",
        delivery.uuid,
        delivery.subscription_id,
        delivery.event_type,
        status,
        delivery.attempts,
        fields.get("response_status"),
        f" error={fields['last_error']}" if fields.get("last_error") else "",
        "" if still_ours else " (claim lost: outcome not recorded)",
    )
    return bool(still_ours)
