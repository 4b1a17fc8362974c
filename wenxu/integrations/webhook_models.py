"""Webhook subscriptions and deliveries (issue #8 §4). Imported by models.py.

A subscription belongs to a client key with the "webhooks" action; it names a target URL, the
event types it wants (empty: all) and optionally an area inside the client's areas. The fan-out
(`webhooks.fanout`) follows the event log with a cursor and writes one `WebhookDelivery` per
subscription and event (unique), with its JSON body fixed at that moment, so a retry sends the
same bytes under the same delivery id. docs/api/webhooks.md describes it for receivers.
"""

import secrets
import uuid
from typing import Any, ClassVar

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from wenxu.organisations.models import Area

__all__ = ["WebhookCursor", "WebhookDelivery", "WebhookSubscription"]

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)


class WebhookSubscription(models.Model):
    client = models.ForeignKey(
        "integrations.ApiClient",
        verbose_name=_("接口密钥"),
        on_delete=models.CASCADE,
        related_name="webhooks",
    )
    url = models.URLField(_("推送地址"), max_length=500)
    # Needed in the clear to sign every request; never shown after it was issued.
    secret = models.CharField(_("签名密钥"), max_length=100, editable=False)
    event_types = models.JSONField(
        _("事件类型"), default=list, blank=True, help_text=_("不选则推送全部事件。")
    )
    area = models.ForeignKey(
        Area,
        verbose_name=_("区域"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_(
            "只推送该区域（含下级）的诉求事件；须在接口密钥的区域范围内。不选则为密钥的全部区域。"
        ),
    )
    active = models.BooleanField(_("启用"), default=True)
    # Events up to this id happened before the subscription existed and are not sent.
    after_event_id = models.BigIntegerField(default=0, editable=False)
    consecutive_failures = models.PositiveIntegerField(_("连续失败次数"), default=0)
    disabled_at = models.DateTimeField(_("自动停用时间"), null=True, blank=True)
    disabled_reason = models.CharField(_("停用原因"), max_length=500, blank=True)
    note = models.CharField(_("备注"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("事件推送订阅")
        verbose_name_plural = _("事件推送订阅")
        ordering: ClassVar = ["pk"]

    def __str__(self) -> str:
        return f"{self.client.name} → {self.url}"

    def clean(self) -> None:
        """A client with the webhooks action, an http(s) target on a public address (checked
        by resolving it now), known event types, an area inside the client's areas."""
        from wenxu.integrations.webhooks import events, targets

        super().clean()
        errors: dict[str, Any] = {}
        client = self.client if self.client_id else None
        if client is not None and not client.may("webhooks"):
            errors["client"] = _("该接口密钥没有“接收事件推送”权限，请先在接口密钥中勾选。")
        if self.url:
            try:
                targets.check(self.url)
            except targets.TargetRefused as refused:
                errors["url"] = str(refused)
        if not events.valid(self.event_types):
            errors["event_types"] = _("事件类型不正确，请从列表中选择。")
        if client is not None and self.area is not None:
            paths = list(client.areas.values_list("path", flat=True))
            if paths and not any(self.area.path.startswith(p) for p in paths):
                errors["area"] = _("区域必须在接口密钥的区域范围之内。")
        if errors:
            raise ValidationError(errors)

    @staticmethod
    def new_secret() -> str:
        return SECRET_PREFIX + secrets.token_urlsafe(32)

    @property
    def sending(self) -> bool:
        """Deliveries go out: switched on and not switched off automatically."""
        return self.active and self.disabled_at is None


class WebhookDelivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("待发送")
        SENDING = "sending", _("发送中")
        DELIVERED = "delivered", _("已送达")
        FAILED = "failed", _("发送失败")
        CANCELLED = "cancelled", _("已取消")

    uuid = models.UUIDField(_("推送编号"), default=uuid.uuid4, unique=True, editable=False)
    subscription = models.ForeignKey(
        WebhookSubscription,
        verbose_name=_("订阅"),
        on_delete=models.CASCADE,
        related_name="deliveries",
    )
    # Null for a test event sent from the admin.
    event = models.ForeignKey(
        "needs.NeedEvent",
        verbose_name=_("办理记录"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    event_type = models.CharField(_("事件类型"), max_length=40)
    need_number = models.CharField(_("台账编号"), max_length=20, blank=True)
    body = models.TextField(_("推送内容"))
    status = models.CharField(
        _("状态"), max_length=16, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("尝试次数"), default=0)
    next_attempt_at = models.DateTimeField(_("下次尝试"))
    claimed_at = models.DateTimeField(_("领取时间"), null=True, blank=True)
    response_status = models.PositiveSmallIntegerField(_("响应状态码"), null=True, blank=True)
    response_ms = models.PositiveIntegerField(_("响应用时(毫秒)"), null=True, blank=True)
    response_body = models.CharField(_("响应内容"), max_length=500, blank=True)
    last_error = models.CharField(_("最近错误"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("生成时间"))
    delivered_at = models.DateTimeField(_("送达时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("推送记录")
        verbose_name_plural = _("推送记录")
        ordering: ClassVar = ["-pk"]
        indexes: ClassVar = [
            models.Index(fields=["status", "next_attempt_at"], name="webhookdelivery_due"),
        ]
        constraints: ClassVar = [
            # A crash or a second worker during the fan-out never sends an event twice.
            models.UniqueConstraint(
                fields=["subscription", "event"], name="webhookdelivery_once_per_event"
            ),
            models.CheckConstraint(
                condition=models.Q(
                    status__in=["pending", "sending", "delivered", "failed", "cancelled"]
                ),
                name="webhookdelivery_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.need_number} → {self.subscription_id}"


class WebhookCursor(models.Model):
    """How far the fan-out has read the event log (one row, name "main").

    `gaps` lists id ranges `[low, high, first seen (ISO)]` skipped because they were not
    visible yet (a transaction still open) or never will be (rolled back); they are looked at
    again on every run until found; once `fanout.GAP_TTL` old they are looked at one last time
    and what is still missing is given up (logged).
    """

    name = models.CharField(max_length=30, unique=True)
    last_event_id = models.BigIntegerField(default=0)
    gaps = models.JSONField(default=list, blank=True)
    updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("事件推送进度")
        verbose_name_plural = _("事件推送进度")

    def __str__(self) -> str:
        return f"{self.name}: event {self.last_event_id}, {len(self.gaps)} gaps"
