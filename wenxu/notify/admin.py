"""Notifications and the message outbox, view-only (written by tasks); group robots, editable.

A robot's webhook URL carries its credential (WeCom `key`, DingTalk `access_token`), so the list
shows it masked, like the 加签 secret; the change form shows it whole, to be edited.

The outbox can only be nudged: "重新发送" puts failed or cancelled messages back in the queue
through `sending.message_resend`, the one entry point for that change.
"""

from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from django import forms
from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from wenxu.needs.admin import ViewOnlyAdmin, scoped_needs
from wenxu.notify.models import Message, Notification, Robot
from wenxu.notify.sending import message_resend


@admin.register(Notification)
class NotificationAdmin(ViewOnlyAdmin):
    list_display = ("message", "recipient", "need", "created_at", "read_at")
    list_filter = (("read_at", admin.EmptyFieldListFilter),)
    search_fields = ("message", "recipient__username", "need__number")
    list_select_related = ("recipient", "need")
    show_full_result_count = False
    fields = ("recipient", "need", "event", "message", "created_at", "read_at")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Notification]:
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return qs.filter(need__in=scoped_needs(request).values("pk"))


@admin.register(Message)
class MessageAdmin(ViewOnlyAdmin):
    list_display = (
        "created_at",
        "channel",
        "template",
        "to_masked",
        "status",
        "attempts",
        "next_attempt_at",
        "sent_at",
    )
    list_filter = ("channel", "status", "template")
    search_fields = ("key", "to_masked")
    list_select_related = ("need",)
    show_full_result_count = False
    date_hierarchy = "created_at"
    # No requester / user / robot / rating link: the row shows only what is masked.
    fields = (
        "key",
        "channel",
        "template",
        "need",
        "to_masked",
        "subject",
        "body",
        "status",
        "attempts",
        "next_attempt_at",
        "claimed_at",
        "last_error",
        "provider_id",
        "created_at",
        "sent_at",
    )
    readonly_fields = fields
    actions = ("resend",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Message]:
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return qs.filter(Q(need__in=scoped_needs(request).values("pk")) | Q(user=request.user.pk))

    def has_resend_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("notify.change_message")

    @admin.action(description=_("重新发送"), permissions=["resend"])
    def resend(self, request: HttpRequest, queryset: QuerySet[Message]) -> None:
        chosen = list(queryset.values_list("pk", flat=True))
        count = message_resend(message_ids=chosen)
        skipped = len(chosen) - count
        if count:
            self.message_user(
                request,
                ngettext(
                    "已将 %(count)d 条消息重新放入发送队列。",
                    "已将 %(count)d 条消息重新放入发送队列。",
                    count,
                )
                % {"count": count},
                messages.SUCCESS,
            )
        if skipped:
            self.message_user(
                request,
                ngettext(
                    "%(count)d 条消息不是“发送失败”或“已取消”状态，未重新发送。",
                    "%(count)d 条消息不是“发送失败”或“已取消”状态，未重新发送。",
                    skipped,
                )
                % {"count": skipped},
                messages.WARNING,
            )


def mask_webhook_url(url: str) -> str:
    """The webhook URL for lists: every query value (key, access_token…) hidden but its end.

    The credential is the query string; the last four characters tell two robots apart.
    """
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:  # user:password@host
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    masked = [
        f"{name}=***{value[-4:] if len(value) >= 16 else ''}" if value else "***"
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit(parts._replace(netloc=netloc, query="&".join(masked), fragment=""))


class RobotForm(forms.ModelForm[Robot]):
    """The 加签 secret is write-only: never rendered back, kept when left blank."""

    webhook_url = forms.URLField(
        label=_("Webhook 地址"),
        max_length=500,
        assume_scheme="https",
        help_text=_("群机器人设置里复制的完整地址（含 key 或 access_token）。"),
    )
    secret = forms.CharField(
        label=_("加签密钥"),
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text=_("钉钉机器人“加签”的密钥（SEC 开头）。留空则保留原密钥。"),
    )
    clear_secret = forms.BooleanField(label=_("清除加签密钥"), required=False)

    class Meta:
        model = Robot
        fields = ("name", "kind", "webhook_url", "secret", "unit", "area", "active")

    def clean_secret(self) -> str:
        value: str = self.cleaned_data.get("secret", "").strip()
        if not value and self.instance.pk:
            return self.instance.secret
        return value

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("clear_secret"):
            cleaned["secret"] = ""
        return cleaned


@admin.register(Robot)
class RobotAdmin(admin.ModelAdmin[Robot]):
    form = RobotForm
    list_display = ("name", "kind", "webhook_masked", "unit", "area", "active", "has_secret")
    list_filter = ("kind", "active")
    search_fields = ("name",)
    list_select_related = ("unit", "area")
    autocomplete_fields = ("unit", "area")
    fields = ("name", "kind", "webhook_url", "secret", "clear_secret", "unit", "area", "active")

    @admin.display(description=_("Webhook 地址"))
    def webhook_masked(self, obj: Robot) -> str:
        return mask_webhook_url(obj.webhook_url)

    @admin.display(description=_("已设加签"), boolean=True)
    def has_secret(self, obj: Robot) -> bool:
        return bool(obj.secret)
