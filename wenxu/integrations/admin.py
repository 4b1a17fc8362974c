"""Integrations in the admin: client API keys here, webhooks in `webhook_admin`.

Client keys are listed, filtered, re-scoped and revoked here, never created: the raw key must be
shown once, on a page that is never cached, which the admin's redirect-and-message flow cannot
do without putting the key in a cookie or the session. The list links to 接口密钥
(/integrations/keys/new/) and names `wenxu apikey_create` instead.
"""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from wenxu.accounts.models import User
from wenxu.integrations import webhook_admin  # noqa: F401 - registers the webhook models
from wenxu.integrations.models import ApiClient, ClientAction
from wenxu.integrations.services import api_client_revoke, api_client_update
from wenxu.lib import clock


class ApiClientAdminForm(forms.ModelForm):  # type: ignore[type-arg]
    actions = forms.MultipleChoiceField(
        label=_("允许的操作"),
        choices=ClientAction.choices,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("请至少选择一项允许的操作。")},
    )

    class Meta:
        model = ApiClient
        fields = ("name", "areas", "actions", "source", "rate_limit", "expires_at", "note")


@admin.register(ApiClient)
class ApiClientAdmin(admin.ModelAdmin[ApiClient]):
    form = ApiClientAdminForm
    change_list_template = "integrations/keys_admin_changelist.html"
    list_display = (
        "name",
        "prefix",
        "area_list",
        "action_list",
        "source",
        "rate_limit",
        "created_by",
        "last_used_at",
        "expires_at",
        "state",
    )
    list_filter = (("revoked_at", admin.EmptyFieldListFilter), "source", "expires_at")
    search_fields = ("name", "prefix")
    list_select_related = ("created_by",)
    autocomplete_fields = ("areas",)
    ordering = ("name",)
    # Never the hash: it is as good as the key to an attacker with an offline copy.
    readonly_fields = (
        "name",
        "prefix",
        "source",
        "expires_at",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    fields = (
        "name",
        "prefix",
        "areas",
        "actions",
        "rate_limit",
        "note",
        "source",
        "expires_at",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    actions = ("revoke",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[ApiClient]:
        return super().get_queryset(request).prefetch_related("areas")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("integrations.change_apiclient")

    @admin.display(description=_("区域范围"))
    def area_list(self, obj: ApiClient) -> str:
        return "、".join(a.name for a in obj.areas.all()) or str(_("全部区域"))

    @admin.display(description=_("允许的操作"))
    def action_list(self, obj: ApiClient) -> str:
        labels = dict(ClientAction.choices)
        return "、".join(str(labels.get(a, a)) for a in obj.actions or [])

    @admin.display(description=_("状态"))
    def state(self, obj: ApiClient) -> str:
        if obj.revoked_at is not None:
            return str(_("已吊销"))
        if obj.expires_at is not None and obj.expires_at <= clock.now():
            return str(_("已过期"))
        return str(_("有效"))

    def save_model(self, request: HttpRequest, obj: ApiClient, form: Any, change: bool) -> None:
        # Through the service, like the 接口密钥 page; it also sets the areas.
        data = form.cleaned_data
        api_client_update(
            client=obj,
            areas=data["areas"],
            actions=data["actions"],
            rate_limit=data["rate_limit"],
            note=data["note"],
        )

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        """The areas were saved by `api_client_update`."""

    @admin.action(description=_("吊销所选接口密钥"), permissions=["revoke"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiClient]) -> None:
        active = list(queryset.filter(revoked_at__isnull=True))
        actor = request.user if isinstance(request.user, User) else None
        for client in active:
            api_client_revoke(client=client, actor=actor)
            self.log_change(request, client, str(_("已吊销接口密钥")))
        self.message_user(
            request,
            ngettext("已吊销 %(count)d 个接口密钥。", "已吊销 %(count)d 个接口密钥。", len(active))
            % {"count": len(active)},
            messages.SUCCESS,
        )
