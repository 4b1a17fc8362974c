"""Site-wide tables that belong to no domain app."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class RateCounter(models.Model):
    """Attempts counted in one fixed window for one scope and client (wenxu.lib.ratelimit).

    `key` names the scope, a digest of the client and the window, so a new window is a new row;
    `expires_at` is the end of the window, after which the row is only waiting to be deleted.
    """

    key = models.CharField(primary_key=True, max_length=200)
    hits = models.PositiveIntegerField(_("次数"), default=1)
    expires_at = models.DateTimeField(_("到期时间"), db_index=True)

    class Meta:
        verbose_name = _("限流计数")
        verbose_name_plural = _("限流计数")

    def __str__(self) -> str:
        return f"{self.key}={self.hits}"


class Generation(models.Model):
    """A number that changes whenever a table that pages keep between requests changes
    (wenxu.core.generation, ADR 0026). Written only by the database's triggers (migration
    core 0002); read once per request."""

    name = models.CharField(primary_key=True, max_length=32)
    value = models.BigIntegerField()

    class Meta:
        verbose_name = _("配置版本")
        verbose_name_plural = _("配置版本")

    def __str__(self) -> str:
        return f"{self.name}={self.value}"
