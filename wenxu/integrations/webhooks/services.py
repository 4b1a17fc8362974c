"""Writes on webhook subscriptions and deliveries (the admin's entry points) and the worker's
`webhook_sweep`: fan out, send what is due, cancel what waits for a long-stopped subscription,
purge old deliveries."""

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import uuid4

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils.translation import gettext as _

from wenxu.integrations.models import ApiClient
from wenxu.integrations.webhook_models import WebhookDelivery, WebhookSubscription
from wenxu.integrations.webhooks import events, fanout, payloads, sending, targets
from wenxu.lib import clock
from wenxu.needs.models import NeedEvent
from wenxu.organisations.models import Area

logger = logging.getLogger("wenxu.webhooks")

PURGE_AFTER = timedelta(days=30)
PURGE_UNDELIVERED_AFTER = timedelta(days=90)
SEND_BUDGET = timedelta(seconds=30)
Status = WebhookDelivery.Status


@transaction.atomic
def webhook_subscription_create(
    *,
    client: ApiClient,
    url: str,
    event_types: Iterable[str] = (),
    area: Area | None = None,
    note: str = "",
    active: bool = True,
) -> tuple[str, WebhookSubscription]:
    """A new subscription and its secret (returned here; the admin shows it once).

    Raises `ValidationError` per field (no webhooks action, a refused URL, an unknown event
    type, an area outside the client's); nothing is stored then.
    """
    try:
        url = targets.to_uri(url)  # an IRI (Chinese path or host) is stored as its URI
    except targets.TargetRefused as refused:
        raise ValidationError({"url": str(refused)}) from None
    subscription = WebhookSubscription(
        client=client,
        url=url,
        event_types=list(dict.fromkeys(event_types)),
        area=area,
        note=note,
        active=active,
    )
    subscription.full_clean(exclude=["secret"])
    secret = webhook_subscription_prepare(subscription)
    subscription.save()
    return secret, subscription


def webhook_subscription_prepare(subscription: WebhookSubscription) -> str:
    """Give a subscription about to be created its secret and its first event (the end of the
    log now: earlier events are not sent). Returns the secret."""
    subscription.secret = WebhookSubscription.new_secret()
    last = NeedEvent.objects.aggregate(last=Max("pk"))["last"] or 0
    subscription.after_event_id = last
    return subscription.secret


def webhook_secret_rotate(*, subscription: WebhookSubscription) -> str:
    """A new secret, effective for the next request; returned once."""
    secret = WebhookSubscription.new_secret()
    WebhookSubscription.objects.filter(pk=subscription.pk).update(secret=secret)
    subscription.secret = secret
    return secret


@transaction.atomic
def webhook_subscription_enable(*, subscription: WebhookSubscription) -> int:
    """Switch a subscription back on after an automatic (or manual) stop: the failure count is
    reset and its waiting deliveries become due now. Returns how many are waiting.

    After an automatic stop longer than `fanout.STOPPED_KEEP` (7 days) nothing is waiting
    (those deliveries are cancelled, and the events since were not written): the receiver gets
    the events from now on, not a backlog; cancelled ones can be re-sent with "立即重试"."""
    WebhookDelivery.objects.filter(
        subscription=subscription,
        status=Status.PENDING,
        subscription__disabled_at__lt=clock.now() - fanout.STOPPED_KEEP,
    ).update(status=Status.CANCELLED)
    WebhookSubscription.objects.filter(pk=subscription.pk).update(
        active=True, disabled_at=None, disabled_reason="", consecutive_failures=0
    )
    subscription.refresh_from_db()
    return WebhookDelivery.objects.filter(subscription=subscription, status=Status.PENDING).update(
        next_attempt_at=clock.now()
    )


def webhook_test_send(*, subscription: WebhookSubscription) -> WebhookDelivery:
    """Queue a `webhook.test` delivery and try it once, at once (also when the subscription is
    switched off: the administrator asked for it). A failed test is not retried and does not
    count toward the automatic stop. Returns the delivery as it ended."""
    now = clock.now()
    delivery_id = uuid4()
    delivery = WebhookDelivery.objects.create(
        uuid=delivery_id,
        subscription=subscription,
        event=None,
        event_type=events.TEST,
        body=payloads.test_body(delivery_id=delivery_id, created_at=now),
        created_at=now,
        next_attempt_at=now,
    )
    claimed_at = _claim_any(delivery.pk)
    if claimed_at is not None:
        sending.send_claimed_safely(delivery.pk, claimed_at=claimed_at)
    delivery.refresh_from_db()
    return delivery


def _claim_any(pk: int) -> datetime | None:
    now = clock.now()
    claimed = WebhookDelivery.objects.filter(pk=pk, status=Status.PENDING).update(
        status=Status.SENDING, claimed_at=now, attempts=1
    )
    return now if claimed else None


@transaction.atomic
def webhook_delivery_retry(*, delivery_ids: Iterable[int]) -> int:
    """Put failed, cancelled or waiting deliveries back for a fresh series of attempts, due
    now; returns how many. Delivered ones and those being sent are left alone."""
    chosen = WebhookDelivery.objects.filter(
        pk__in=list(delivery_ids), status__in=[Status.FAILED, Status.CANCELLED, Status.PENDING]
    )
    return chosen.update(
        status=Status.PENDING,
        attempts=0,
        next_attempt_at=clock.now(),
        claimed_at=None,
        last_error="",
    )


def webhook_purge(
    *, older_than: timedelta = PURGE_AFTER, undelivered_after: timedelta = PURGE_UNDELIVERED_AFTER
) -> int:
    """Delete delivered deliveries older than `older_than` (30 days), and failed or cancelled
    ones written more than `undelivered_after` (90 days) ago; returns how many."""
    now = clock.now()
    deleted, _rows = WebhookDelivery.objects.filter(
        status=Status.DELIVERED, delivered_at__lt=now - older_than
    ).delete()
    gone, _rows = WebhookDelivery.objects.filter(
        status__in=[Status.FAILED, Status.CANCELLED], created_at__lt=now - undelivered_after
    ).delete()
    return deleted + gone


def webhook_expire_stopped() -> int:
    """Cancel the waiting deliveries of subscriptions switched off automatically more than
    `fanout.STOPPED_KEEP` (7 days) ago (no new ones are written for them either), so a dead
    receiver does not pile up bodies, and re-enabling it later sends no backlog. Returns how
    many were cancelled."""
    cutoff = clock.now() - fanout.STOPPED_KEEP
    return WebhookDelivery.objects.filter(
        status=Status.PENDING,
        subscription__disabled_at__lt=cutoff,
    ).update(
        status=Status.CANCELLED,
        last_error=_("订阅已自动停用超过 %(days)s 天，未送出的推送已取消。")
        % {"days": fanout.STOPPED_KEEP.days},
    )


@dataclass
class SweepResult:
    fanned_out: int = 0
    delivered: int = 0
    purged: int = 0
    cancelled: int = 0


def webhook_sweep() -> SweepResult:
    """The worker's call, every `WENXU_SWEEP_SECONDS`: safe on several workers at once.

    Each step (fan-out, sending, expiring stopped subscriptions, purging) runs even when an
    earlier one raised; the error is logged and the rest of the worker's sweep goes on.
    """
    result = SweepResult()
    steps: list[tuple[str, Callable[[], int]]] = [
        ("fanned_out", fanout.fanout),
        ("delivered", lambda: sending.send_due(budget=SEND_BUDGET)),
        ("cancelled", webhook_expire_stopped),
        ("purged", webhook_purge),
    ]
    for name, step in steps:
        try:
            setattr(result, name, step())
        except Exception:
            logger.exception("webhook sweep: step %s failed", name)
    if result.fanned_out or result.delivered or result.purged or result.cancelled:
        logger.info(
            "webhooks fanned_out=%s delivered=%s cancelled=%s purged=%s",
            result.fanned_out,
            result.delivered,
            result.cancelled,
            result.purged,
        )
    return result
