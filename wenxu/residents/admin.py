"""Requesters in the admin: view-only and masked. No raw personal data leaves the server here.

There is no search and no free URL lookup: filtering on the raw name or phone would let a
visitor probe for a person even though the values are never shown.
"""

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from wenxu.lib import masking
from wenxu.needs.admin import ViewOnlyAdmin, scoped_needs
from wenxu.residents.models import Requester

CONFIDENTIAL = _("（保密）")


@admin.register(Requester)
class RequesterAdmin(ViewOnlyAdmin):
    list_display = ("id", "masked_name", "masked_phone", "kind", "confidential", "created_at")
    list_display_links = ("id", "masked_name")
    list_filter = ("kind", "confidential")
    fields = (
        "kind",
        "masked_name",
        "masked_phone",
        "masked_id_number",
        "masked_address",
        "confidential",
        "created_at",
    )
    readonly_fields = fields
    ordering = ("-id",)
    _allowed_lookups = frozenset({"kind", "kind__exact", "confidential", "confidential__exact"})

    def get_queryset(self, request: HttpRequest) -> QuerySet[Requester]:
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return qs.filter(needs__in=scoped_needs(request).values("pk")).distinct()

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        return lookup in self._allowed_lookups

    @admin.display(description=_("姓名/名称"))
    def masked_name(self, obj: Requester) -> str:
        return obj.masked_name()

    @admin.display(description=_("联系电话"))
    def masked_phone(self, obj: Requester) -> str:
        return str(CONFIDENTIAL) if obj.confidential else obj.masked_phone()

    @admin.display(description=_("证件号码"))
    def masked_id_number(self, obj: Requester) -> str:
        return str(CONFIDENTIAL) if obj.confidential else masking.mask_id_number(obj.id_number)

    @admin.display(description=_("住址"))
    def masked_address(self, obj: Requester) -> str:
        return str(CONFIDENTIAL) if obj.confidential else masking.mask_address(obj.address)
