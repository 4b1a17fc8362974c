"""The hash-chained security log (issue #9, docs/security-log.md).

Each entry carries the HMAC of its content and of the previous entry's HMAC, keyed with the audit
key (WENXU_AUDIT_KEY or the data folder's `audit_key`, never in the database): an edit, deletion or
reordering made behind wenxu's back breaks the chain, and `wenxu audit_verify` names where.
`AuditHead` holds the last entry's position and HMAC (so a cut-off tail shows) and where the
chain starts after pruning.
"""

from typing import ClassVar

from django.db import models
from django.utils.translation import gettext_lazy as _

from wenxu.audit import actions


class AuditEntry(models.Model):
    seq = models.BigIntegerField(_("序号"), unique=True)
    at = models.DateTimeField(_("时间"))
    action = models.CharField(_("事项"), max_length=32, choices=actions.CHOICES)
    # No foreign key: an entry must not change when its user is edited or deleted.
    actor_id = models.BigIntegerField(_("操作人编号"), null=True, blank=True)
    actor_username = models.CharField(_("操作人"), max_length=150, blank=True)
    target = models.CharField(_("对象"), max_length=200, blank=True)
    detail = models.JSONField(_("详情"), default=dict, blank=True)
    ip = models.GenericIPAddressField(_("IP 地址"), null=True, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        verbose_name = _("安全审计记录")
        verbose_name_plural = _("安全审计记录")
        ordering: ClassVar = ["-seq"]
        indexes: ClassVar = [
            models.Index(fields=["action", "-seq"], name="audit_action_seq"),
            models.Index(fields=["actor_id", "-seq"], name="audit_actor_seq"),
            models.Index(fields=["at"], name="audit_at"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.get_action_display()}"


class AuditHead(models.Model):
    """One row: the end of the chain, and where it begins after pruning."""

    last_seq = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default="")
    base_seq = models.BigIntegerField(default=0)
    base_hash = models.CharField(max_length=64, default="")

    class Meta:
        verbose_name = _("审计链头")
        verbose_name_plural = _("审计链头")
        constraints: ClassVar = [
            models.CheckConstraint(condition=models.Q(pk=1), name="audithead_single_row")
        ]

    def __str__(self) -> str:
        return f"#{self.last_seq}"
