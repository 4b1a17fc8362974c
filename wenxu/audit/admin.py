"""The security log in the admin: read-only, for superusers and system administrators.

Nobody may add, change or delete an entry here, superusers included: the log changes only by
`audit_record` and `wenxu audit_prune`. Entries hold no unmasked personal data.
"""

import json
from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from wenxu.accounts.models import Membership, Role, User
from wenxu.audit.models import AuditEntry


def may_read_audit_log(user: object) -> bool:
    """Superusers, staff holding the admin role, and staff granted `audit.view_auditentry`."""
    if not isinstance(user, User) or not (user.is_active and user.is_staff):
        return False
    if user.is_superuser or user.has_perm("audit.view_auditentry"):
        return True
    return Membership.objects.filter(user=user, role=Role.ADMIN).exists()


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin[AuditEntry]):
    list_display = ("seq", "at", "action_label", "actor_username", "target", "ip")
    list_display_links = ("seq",)
    list_filter = ("action", ("at", admin.DateFieldListFilter))
    search_fields = ("actor_username", "target")
    ordering = ("-seq",)
    list_per_page = 50
    show_full_result_count = False  # no count(*) over the whole log on every filtered page
    fields = (
        "seq",
        "at",
        "action",
        "actor_id",
        "actor_username",
        "target",
        "ip",
        "detail_json",
        "prev_hash",
        "hash",
    )
    readonly_fields = fields
    actions = None

    @admin.display(description=_("事项"), ordering="action")
    def action_label(self, obj: AuditEntry) -> str:
        return obj.get_action_display()

    @admin.display(description=_("详情"))
    def detail_json(self, obj: AuditEntry) -> str:
        text = json.dumps(obj.detail, ensure_ascii=False, indent=2, sort_keys=True)
        return format_html("<pre>{}</pre>", text)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return may_read_audit_log(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return may_read_audit_log(request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
