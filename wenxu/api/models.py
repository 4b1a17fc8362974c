"""What the API keeps for itself: the answers to requests sent with an `Idempotency-Key`."""

from typing import ClassVar

from django.db import models
from django.utils.translation import gettext_lazy as _


class IdempotentRequest(models.Model):
    """One POST sent with an `Idempotency-Key`: the first answer, replayed to any retry.

    `principal` names the credential the request came with (a hash of the bearer token, or the
    session's user), so two clients can never see each other's answers through a shared key.
    A row without `status` is a request still being answered."""

    principal = models.CharField(max_length=80)
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=500)
    body_hash = models.CharField(max_length=64)
    status = models.PositiveSmallIntegerField(null=True, blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    body = models.BinaryField(blank=True, default=b"")
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = _("幂等请求")
        verbose_name_plural = _("幂等请求")
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["principal", "key"], name="idempotent_once_per_key"),
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.path} {self.key}"
