"""Accounts in the admin: users with their memberships (role + scope), and API tokens.

Tokens are listed, never created or edited here (the raw value is shown once, at issue, by the
API); the admin can only revoke them.

Login security (issue #9, ADR 0017): a user the admin creates, or whose password the admin
sets, must choose a new password at the next login; the "解除登录锁定" action lifts a lockout.
"""

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from wenxu.accounts import lockout, security
from wenxu.accounts.models import ApiToken, Membership, User
from wenxu.accounts.services import api_token_revoke
from wenxu.lib import clock


class MembershipInline(admin.TabularInline[Membership, User]):
    model = Membership
    fields = ("role", "area", "unit")
    autocomplete_fields = ("area", "unit")
    extra = 0
    verbose_name_plural = _("角色授权（每行一个角色和范围：区域或单位，二选一）")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Membership]:
        return super().get_queryset(request).select_related("area", "unit")


@admin.register(User)
class UserAdmin(DjangoUserAdmin[User]):
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        (_("个人信息"), {"fields": ("display_name", "phone", "email")}),
        (
            _("权限"),
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        (_("登录安全"), {"fields": ("must_change_password",)}),
        (_("重要日期"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("username", "usable_password", "password1", "password2"),
            },
        ),
        (_("个人信息"), {"fields": ("display_name", "phone", "email")}),
    )
    list_display = ("username", "display_name", "roles", "is_active", "is_staff", "last_login")
    list_filter = ("is_active", "is_staff", "is_superuser", "memberships__role")
    search_fields = ("username", "display_name", "email", "phone")
    ordering = ("username",)
    inlines = (MembershipInline,)
    actions = ("unlock_login",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        return (
            super().get_queryset(request).prefetch_related("memberships__area", "memberships__unit")
        )

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        if not change and obj.has_usable_password():
            # The administrator chose this password: the user must replace it (ADR 0017).
            obj.must_change_password = True
        super().save_model(request, obj, form, change)

    def user_change_password(
        self, request: HttpRequest, id: str, form_url: str = ""
    ) -> HttpResponse:
        response = super().user_change_password(request, id, form_url)
        saved = (
            request.method == "POST"
            and response.status_code == 302
            and response["Location"] != request.get_full_path()
        )
        if saved:
            user = User.objects.filter(pk=id).first()
            if user is not None and user.has_usable_password():
                assert isinstance(request.user, User)
                security.password_set_by_admin(request=request, user=user, actor=request.user)
        return response

    @admin.action(description=_("解除登录锁定"), permissions=["change"])
    def unlock_login(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        """Lift the lockout of the selected users (from every address) before it ends."""
        unlocked = 0
        for user in queryset:
            if lockout.unlock(username=user.get_username()):
                unlocked += 1
                self.log_change(request, user, str(_("解除登录锁定")))
        self.message_user(
            request,
            ngettext(
                "已解除 %(count)d 个账号的登录锁定。",
                "已解除 %(count)d 个账号的登录锁定。",
                unlocked,
            )
            % {"count": unlocked},
            messages.SUCCESS,
        )

    @admin.display(description=_("角色授权"))
    def roles(self, obj: User) -> str:
        return "；".join(
            f"{membership.get_role_display()}·{membership.area or membership.unit}"
            for membership in obj.memberships.all()
        )


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin[ApiToken]):
    list_display = (
        "prefix",
        "user",
        "name",
        "state",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    )
    list_filter = (("revoked_at", admin.EmptyFieldListFilter), "expires_at")
    search_fields = ("prefix", "name", "user__username", "user__display_name")
    list_select_related = ("user",)
    ordering = ("-created_at",)
    # Never the hash: it is as good as a password to an attacker with an offline copy.
    fields = ("user", "name", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at")
    readonly_fields = fields
    actions = ("revoke",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("accounts.change_apitoken")

    @admin.display(description=_("状态"))
    def state(self, obj: ApiToken) -> str:
        if obj.revoked_at is not None:
            return str(_("已吊销"))
        if obj.expires_at <= clock.now():
            return str(_("已过期"))
        return str(_("有效"))

    @admin.action(description=_("吊销所选令牌"), permissions=["revoke"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        # Through the service, like the API's own revocation; an already revoked token keeps
        # its first revocation time and is not counted again.
        active = list(queryset.filter(revoked_at__isnull=True))
        for token in active:
            api_token_revoke(token=token)
            self.log_change(request, token, str(_("已吊销令牌")))
        self.message_user(
            request,
            ngettext("已吊销 %(count)d 个令牌。", "已吊销 %(count)d 个令牌。", len(active))
            % {"count": len(active)},
            messages.SUCCESS,
        )
