"""Requesters (诉求人) and their personal data. Everything here is masked on the way out."""

from typing import ClassVar

from django.db import models
from django.utils.translation import gettext_lazy as _

from wenxu.lib import masking


class Requester(models.Model):
    class Kind(models.TextChoices):
        PERSON = "person", _("个人")
        HOUSEHOLD = "household", _("家庭")
        ENTERPRISE = "enterprise", _("企业")
        GROUP = "group", _("群体")

    kind = models.CharField(_("类型"), max_length=16, choices=Kind.choices, default=Kind.PERSON)
    name = models.CharField(_("姓名/名称"), max_length=100, blank=True)
    phone = models.CharField(_("联系电话"), max_length=30, blank=True)
    id_number = models.CharField(_("证件号码"), max_length=30, blank=True)
    address = models.CharField(_("住址"), max_length=200, blank=True)
    confidential = models.BooleanField(
        _("要求保密"), default=False, help_text=_("保密的诉求人身份不对承办单位展示。")
    )
    created_at = models.DateTimeField(_("登记时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("诉求人")
        verbose_name_plural = _("诉求人")
        # Granted to users or groups in the admin; never widens what a user may see (issue #9).
        permissions: ClassVar = [("reveal_personal_data", _("可查看诉求人完整个人信息"))]
        constraints: ClassVar = [
            models.CheckConstraint(
                condition=models.Q(kind__in=["person", "household", "enterprise", "group"]),
                name="requester_kind_valid",
            )
        ]

    def __str__(self) -> str:
        return self.masked_name()

    def masked_name(self) -> str:
        if self.confidential:
            return str(_("（保密）"))
        return masking.mask_name(self.name)

    def masked_phone(self) -> str:
        return "" if self.confidential else masking.mask_phone(self.phone)

    def masked(self) -> dict[str, object]:
        return {
            "name": self.masked_name(),
            "phone": self.masked_phone(),
            "confidential": self.confidential,
        }
