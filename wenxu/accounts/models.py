"""Accounts: users, their memberships (role + scope) and API tokens (DESIGN §2)."""

import hashlib
import secrets
from datetime import datetime
from typing import ClassVar

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _

from wenxu.organisations.models import Area, Unit


class Role(models.TextChoices):
    OFFICER = "officer", _("走访干部/网格员")
    DISPATCHER = "dispatcher", _("调度督办")
    HANDLER = "handler", _("承办人")
    LEADER = "leader", _("领导")
    ADMIN = "admin", _("系统管理员")


# The kinds of scope each role may hold: a leader either, a handler only a unit, the rest only an
# area. Enforced by `membership_unit_scope_role` (with `membership_one_scope`) and relied on when
# roles are resolved over a need (wenxu.needs.services.actor_roles).
AREA_ROLES = frozenset({Role.OFFICER, Role.DISPATCHER, Role.LEADER, Role.ADMIN})
UNIT_ROLES = frozenset({Role.HANDLER, Role.LEADER})


class User(AbstractUser):
    display_name = models.CharField(_("姓名"), max_length=50, blank=True)
    phone = models.CharField(_("手机号"), max_length=20, blank=True)
    # Someone else chose the password (an administrator, or the demo): the user must choose
    # their own before anything else (ADR 0017; enforced by wenxu.accounts.middleware).
    must_change_password = models.BooleanField(
        _("下次登录须修改密码"),
        default=False,
        help_text=_("管理员创建账号或替他人设置密码后自动勾选；用户修改密码后自动取消。"),
    )

    class Meta:
        verbose_name = _("用户")
        verbose_name_plural = _("用户")

    def __str__(self) -> str:
        return self.display_name or self.username


class Membership(models.Model):
    """One role over one scope: an area subtree, or a unit (and its sub-units)."""

    user = models.ForeignKey(
        User, verbose_name=_("用户"), on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(_("角色"), max_length=16, choices=Role.choices)
    area = models.ForeignKey(
        Area,
        verbose_name=_("区域范围"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="memberships",
    )
    unit = models.ForeignKey(
        Unit,
        verbose_name=_("单位范围"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="memberships",
    )

    class Meta:
        verbose_name = _("角色授权")
        verbose_name_plural = _("角色授权")
        constraints: ClassVar = [
            models.CheckConstraint(
                condition=(
                    models.Q(area__isnull=False, unit__isnull=True)
                    | models.Q(area__isnull=True, unit__isnull=False)
                ),
                name="membership_one_scope",
                violation_error_message=_("区域范围和单位范围须且只须填写一项。"),
            ),
            models.CheckConstraint(
                condition=models.Q(role__in=Role.values), name="membership_role_valid"
            ),
            models.CheckConstraint(
                condition=~models.Q(role=Role.HANDLER) | models.Q(unit__isnull=False),
                name="membership_handler_has_unit",
                violation_error_message=_("承办人必须属于一个责任单位。"),
            ),
            models.CheckConstraint(
                condition=models.Q(unit__isnull=True) | models.Q(role__in=sorted(UNIT_ROLES)),
                name="membership_unit_scope_role",
                violation_error_message=_(
                    "只有承办人和领导可以按单位授权；走访干部/网格员、调度督办和系统管理员"
                    "须按区域授权。"
                ),
            ),
            models.UniqueConstraint(
                fields=["user", "role", "area", "unit"], name="membership_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.get_role_display()} · {self.area or self.unit}"


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiToken(models.Model):
    """A bearer token; only its SHA-256 is stored, the raw value is shown once."""

    user = models.ForeignKey(
        User, verbose_name=_("用户"), on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(_("名称"), max_length=100, blank=True)
    prefix = models.CharField(_("前缀"), max_length=12, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    expires_at = models.DateTimeField(_("过期时间"))
    last_used_at = models.DateTimeField(_("最近使用"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("吊销时间"), null=True, blank=True)
    # The user's `get_session_auth_hash()` at issue: an HMAC of the password hash, so that a
    # password change ends the token as it ends the user's sessions.
    session_hash = models.CharField(max_length=128, editable=False, default="")

    class Meta:
        verbose_name = _("接口令牌")
        verbose_name_plural = _("接口令牌")

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"

    @staticmethod
    def generate() -> tuple[str, str, str]:
        raw = "wx_" + secrets.token_urlsafe(32)
        return raw, raw[:10], _hash(raw)

    @staticmethod
    def hash_of(raw: str) -> str:
        return _hash(raw)

    def is_usable(self, at: datetime) -> bool:
        return self.revoked_at is None and self.expires_at > at


class PasswordHistory(models.Model):
    """A password a user has had, as its hash only: new passwords may not repeat the last
    `WENXU_PASSWORD_HISTORY` (wenxu.accounts.passwords.PasswordHistoryValidator)."""

    user = models.ForeignKey(
        User, verbose_name=_("用户"), on_delete=models.CASCADE, related_name="password_history"
    )
    password = models.CharField(_("密码摘要"), max_length=128)
    created_at = models.DateTimeField(_("设置时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("历史密码")
        verbose_name_plural = _("历史密码")
        indexes: ClassVar = [
            models.Index(fields=["user", "-created_at"], name="passwordhistory_user_recent")
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.created_at:%Y-%m-%d %H:%M}"
