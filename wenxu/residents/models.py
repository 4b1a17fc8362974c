"""Requesters (诉求人) and their personal data. Everything here is masked on the way out."""

from collections.abc import Iterable
from typing import Any, ClassVar, Self

from django.db import models
from django.utils.translation import gettext_lazy as _

from wenxu.lib import masking
from wenxu.lib.inserts import BuiltInserts
from wenxu.residents import pii
from wenxu.residents.fields import EncryptedCharField


class RequesterQuerySet(models.QuerySet["Requester"]):
    """Exact search through the blind indexes; bulk writes keep the indexes in step."""

    def with_phone(self, raw: str) -> Self:
        """Requesters with this phone however written (+86 138-1234-5678, full-width digits)."""
        index = pii.phone_index(raw)
        return self.filter(phone_index=index) if index else self.none()

    def with_id_number(self, raw: str) -> Self:
        index = pii.id_number_index(raw)
        return self.filter(id_number_index=index) if index else self.none()

    def bulk_create(
        self, objs: Iterable["Requester"], *args: Any, **kwargs: Any
    ) -> list["Requester"]:
        objs = list(objs)
        for obj in objs:
            obj.refresh_pii_indexes()
        return super().bulk_create(objs, *args, **kwargs)

    def bulk_update(
        self, objs: Iterable["Requester"], fields: Iterable[str], *args: Any, **kwargs: Any
    ) -> int:
        objs = list(objs)
        fields = list(fields)
        for field, index in pii.INDEX_COLUMNS.items():
            if field in fields and index not in fields:
                fields.append(index)
        for obj in objs:
            obj.refresh_pii_indexes()
        return super().bulk_update(objs, fields, *args, **kwargs)

    def update(self, **kwargs: Any) -> int:
        """Updating a phone or ID number updates its index (blanking one clears it)."""
        for field, index in pii.INDEX_COLUMNS.items():
            if field in kwargs and index not in kwargs:
                if not isinstance(kwargs[field], str):
                    raise TypeError(f"Requester.{field} can only be updated to a plain string.")
                kwargs[index] = pii.INDEXERS[field](kwargs[field])
        return super().update(**kwargs)


# The name an anonymised requester keeps (retention and erasure, wenxu.residents.erasure).
ANONYMISED_NAME = "（已匿名）"


class Requester(BuiltInserts, models.Model):
    class Kind(models.TextChoices):
        PERSON = "person", _("个人")
        HOUSEHOLD = "household", _("家庭")
        ENTERPRISE = "enterprise", _("企业")
        GROUP = "group", _("群体")

    kind = models.CharField(_("类型"), max_length=16, choices=Kind.choices, default=Kind.PERSON)
    name = models.CharField(_("姓名/名称"), max_length=100, blank=True)
    # Encrypted at rest (issue #9); max_length is what may be entered, the columns are wider.
    phone = EncryptedCharField(_("联系电话"), max_length=30, blank=True, context=pii.PHONE_CONTEXT)
    id_number = EncryptedCharField(
        _("证件号码"), max_length=30, blank=True, context=pii.ID_NUMBER_CONTEXT
    )
    # Blind indexes (HMAC of the normalised value) for exact search; set by save().
    phone_index = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    id_number_index = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    address = models.CharField(_("住址"), max_length=200, blank=True)
    confidential = models.BooleanField(
        _("要求保密"), default=False, help_text=_("保密的诉求人身份不对承办单位展示。")
    )
    created_at = models.DateTimeField(_("登记时间"), auto_now_add=True)

    objects = RequesterQuerySet.as_manager()

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

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.refresh_pii_indexes()
        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            update_fields = set(update_fields)
            for field, index in pii.INDEX_COLUMNS.items():
                if field in update_fields:
                    update_fields.add(index)
            kwargs["update_fields"] = update_fields
        super().save(*args, **kwargs)

    def refresh_pii_indexes(self) -> None:
        """The blind indexes of the phone and ID number as they are now ("" when blank).

        A field not loaded (`.only()`) keeps its index: it cannot have changed.
        """
        deferred = self.get_deferred_fields()
        for field, index in pii.INDEX_COLUMNS.items():
            # An unreadable value (wrong or lost key) keeps the index it had.
            if field in deferred or isinstance(getattr(self, field), masking.Unreadable):
                continue
            setattr(self, index, pii.INDEXERS[field](getattr(self, field)))

    def has_phone(self) -> bool:
        """Whether a text message can go to the requester: a phone that is there and readable."""
        return not isinstance(self.phone, masking.Unreadable) and bool(self.phone.strip())

    def masked_name(self) -> str:
        if self.confidential:
            return str(_("（保密）"))
        if self.name == ANONYMISED_NAME:
            return str(_("（已匿名）"))
        return masking.mask_name(self.name)

    def masked_phone(self) -> str:
        return "" if self.confidential else masking.mask_phone(self.phone)

    def masked(self) -> dict[str, object]:
        return {
            "name": self.masked_name(),
            "phone": self.masked_phone(),
            "confidential": self.confidential,
        }
