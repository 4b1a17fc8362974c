"""Telling the administrators that a subscription was switched off automatically.

Through the notify outbox (ADR 0012): an e-mail to every active superuser with an address
(only superusers manage webhooks, and the alert names the client and links to the superuser-only
admin page, so area administrators are not told), keyed by the subscription and the moment it
was disabled, so the alert is written once. It is written in the caller's transaction (the one
that switches the subscription off), so the stop and its alert commit together. With nobody to
write to, Django's `mail_admins` (the `ADMINS` setting) is tried after the commit instead.
Either way one ERROR line goes to the log.
"""

import logging

from django.conf import settings
from django.core.mail import mail_admins
from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext as _

from wenxu.accounts.models import User
from wenxu.integrations.webhook_models import WebhookSubscription
from wenxu.notify import messages
from wenxu.notify.outbox import enqueue

logger = logging.getLogger("wenxu.webhooks")
TEMPLATE = "webhook_disabled"


def administrators() -> list[User]:
    """Who is told: the active superusers (the only ones who may open and re-enable it)."""
    return list(User.objects.filter(is_superuser=True, is_active=True).order_by("pk"))


def subscription_disabled(subscription: WebhookSubscription) -> int:
    """Alert the administrators; returns how many e-mails were queued."""
    logger.error(
        "webhook subscription=%s client=%s switched off: %s",
        subscription.pk,
        subscription.client.name,
        subscription.disabled_reason,
    )
    alert = messages.StaffText(
        template=TEMPLATE,
        subject=_("事件推送已自动停用：%(client)s") % {"client": subscription.client.name},
        text=_(
            "接口密钥“%(client)s”的事件推送（订阅 %(id)s）%(reason)s "
            "请检查接收方后在系统管理中重新启用。"
        )
        % {
            "client": subscription.client.name,
            "id": subscription.pk,
            "reason": subscription.disabled_reason,
        },
    )
    url = settings.WENXU_SITE_URL + reverse(
        "admin:integrations_webhooksubscription_change", args=[subscription.pk]
    )
    stamp = subscription.disabled_at.isoformat() if subscription.disabled_at else ""
    drafts = messages.staff_drafts(
        trigger=f"w{subscription.pk}:{stamp}",
        alert=alert,
        users=administrators(),
        robots=[],
        need=None,
        url=url,
    )
    written = enqueue(drafts)
    if not drafts:
        subject, body = alert.subject, f"{alert.text}\n\n{url}"
        transaction.on_commit(lambda: mail_admins(subject, body, fail_silently=True))
    return len(written)
