"""In-app notifications: who must act on a need learns of it (DESIGN §3, side effects)."""

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Notification(models.Model):
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("接收人"),
        on_delete=models.CASCADE,
        related_name="notifications",
    )
    need = models.ForeignKey(
        "needs.Need", verbose_name=_("诉求"), on_delete=models.CASCADE, related_name="+"
    )
    event = models.ForeignKey(
        "needs.NeedEvent", verbose_name=_("办理记录"), on_delete=models.CASCADE, related_name="+"
    )
    message = models.CharField(_("内容"), max_length=300)
    created_at = models.DateTimeField(_("时间"), auto_now_add=True)
    read_at = models.DateTimeField(_("已读时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("通知")
        verbose_name_plural = _("通知")
        ordering: ClassVar = ["-id"]
        constraints: ClassVar = [
            # Delivery is idempotent: a retried task never notifies twice.
            models.UniqueConstraint(fields=["event", "recipient"], name="notification_once"),
        ]

    def __str__(self) -> str:
        return self.message
