"""Other systems that talk to wenxu: client API keys (Open311 and integrations) and webhooks.

A client key belongs to a system, not a person (the 12345 platform, a mini-program, another
city's tool). It is scoped to areas (empty: every area) and to actions, and rate-limited. Like
personal tokens, only its SHA-256 is stored; the raw key is shown once.
"""

import hashlib
import secrets
from datetime import datetime
from typing import ClassVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from wenxu.needs import states
from wenxu.organisations.models import Area


class ClientAction(models.TextChoices):
    """What a client key may do. Reading and creating are separate so a kiosk can only post."""

    READ = "read", _("查询诉求")
    CREATE = "create", _("提交诉求")
    WEBHOOKS = "webhooks", _("接收事件推送")


KEY_PREFIX = "wxk_"


class ApiClient(models.Model):
    name = models.CharField(_("名称"), max_length=100, unique=True)
    prefix = models.CharField(_("前缀"), max_length=12, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    areas = models.ManyToManyField(
        Area,
        verbose_name=_("区域范围"),
        blank=True,
        related_name="+",
        help_text=_("只能查询和提交这些区域（含下级）的诉求；不选则为全部区域。"),
    )
    actions = models.JSONField(
        _("允许的操作"), default=list, help_text=_("查询诉求、提交诉求、接收事件推送。")
    )
    source = models.CharField(
        _("诉求来源"),
        max_length=16,
        choices=states.Source.choices,
        default=states.Source.ONLINE,
        help_text=_("经此密钥提交的诉求记为此来源。"),
    )
    rate_limit = models.PositiveIntegerField(
        _("每分钟请求上限"), default=120, help_text=_("超过后返回 429，下一分钟恢复。")
    )
    note = models.CharField(_("备注"), max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("创建人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    expires_at = models.DateTimeField(_("过期时间"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("最近使用"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("吊销时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("接口密钥")
        verbose_name_plural = _("接口密钥")
        ordering: ClassVar = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @staticmethod
    def generate() -> tuple[str, str, str]:
        raw = KEY_PREFIX + secrets.token_urlsafe(32)
        return raw, raw[:12], ApiClient.hash_of(raw)

    @staticmethod
    def hash_of(raw: str) -> str:
        return hashlib.sha256(raw.encode()).hexdigest()

    def clean(self) -> None:
        super().clean()
        allowed = set(ClientAction.values)
        if not isinstance(self.actions, list) or not set(self.actions) <= allowed:
            raise ValidationError(
                {"actions": _("允许的操作只能是：查询诉求、提交诉求、接收事件推送。")}
            )
        if self.rate_limit < 1:
            raise ValidationError({"rate_limit": _("每分钟请求上限至少为 1。")})

    def is_usable(self, at: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > at)

    def may(self, action: str) -> bool:
        return action in (self.actions or [])


from wenxu.integrations.webhook_models import *  # noqa: E402, F403
