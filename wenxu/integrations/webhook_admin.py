"""Admin for webhook subscriptions and their delivery log (superusers only: a subscription
carries a signing secret and sees events of the client's whole scope).

The secret is shown once, on a page of its own right after the subscription is created or its
secret rotated (never through the messages framework, which may keep it in a cookie); lists
show it masked. The delivery log is read-only; "立即重试" goes through
`webhook_delivery_retry`, the one entry point for that change.
"""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from wenxu.integrations.models import ApiClient, ClientAction
from wenxu.integrations.webhook_models import WebhookDelivery, WebhookSubscription
from wenxu.integrations.webhooks import events, services, targets


class _SuperusersOnly:
    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_superuser)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)


def mask_secret(secret: str) -> str:
    return f"{secret[:6]}…{secret[-4:]}" if len(secret) > 12 else "***"


class SubscriptionForm(forms.ModelForm[WebhookSubscription]):
    url = forms.URLField(
        label=_("推送地址"),
        max_length=500,
        assume_scheme="https",
        help_text=_("接收方的 http(s) 地址；不跟随跳转，不允许内网地址。"),
    )
    event_types = forms.MultipleChoiceField(
        label=_("事件类型"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("不选则推送全部事件。"),
    )

    class Meta:
        model = WebhookSubscription
        fields = ("client", "url", "event_types", "area", "active", "note")

    def clean_url(self) -> str:
        """An IRI (a Chinese path, query or host) is stored as its ASCII URI."""
        url = str(self.cleaned_data["url"])
        try:
            return targets.to_uri(url)
        except targets.TargetRefused as refused:
            raise forms.ValidationError(str(refused)) from None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["event_types"].choices = events.choices()  # type: ignore[attr-defined]
        client_field = self.fields.get("client")
        if isinstance(client_field, forms.ModelChoiceField):
            ids = [
                client.pk
                for client in ApiClient.objects.filter(revoked_at__isnull=True)
                if client.may(ClientAction.WEBHOOKS)
            ]
            if self.instance.client_id:
                ids.append(self.instance.client_id)
            client_field.queryset = ApiClient.objects.filter(pk__in=ids)
            client_field.help_text = _("只列出有“接收事件推送”权限的接口密钥。")


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(_SuperusersOnly, admin.ModelAdmin[WebhookSubscription]):
    form = SubscriptionForm
    list_display = (
        "client",
        "url",
        "types_display",
        "area",
        "state_display",
        "consecutive_failures",
        "secret_masked",
    )
    list_filter = ("active", ("disabled_at", admin.EmptyFieldListFilter))
    search_fields = ("client__name", "url")
    list_select_related = ("client", "area")
    autocomplete_fields = ("area",)
    readonly_fields = (
        "secret_masked",
        "consecutive_failures",
        "disabled_at",
        "disabled_reason",
        "created_at",
    )
    actions = ("send_test", "enable", "rotate_secret")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self.has_module_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)

    @admin.display(description=_("签名密钥"))
    def secret_masked(self, obj: WebhookSubscription) -> str:
        return mask_secret(obj.secret)

    @admin.display(description=_("事件类型"))
    def types_display(self, obj: WebhookSubscription) -> str:
        return ", ".join(obj.event_types) if obj.event_types else str(_("全部"))

    @admin.display(description=_("推送状态"))
    def state_display(self, obj: WebhookSubscription) -> str:
        if obj.disabled_at is not None:
            return str(_("已自动停用"))
        return str(_("推送中")) if obj.active else str(_("已暂停"))

    def save_model(
        self, request: HttpRequest, obj: WebhookSubscription, form: Any, change: bool
    ) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        # A new subscription goes through the service, the one entry point for creating one.
        secret, created = services.webhook_subscription_create(
            client=obj.client,
            url=obj.url,
            event_types=obj.event_types or [],
            area=obj.area,
            note=obj.note,
            active=obj.active,
        )
        for field in created._meta.concrete_fields:
            setattr(obj, field.attname, getattr(created, field.attname))
        obj._state.adding = False
        request._webhook_secret = secret  # type: ignore[attr-defined]

    def response_add(
        self, request: HttpRequest, obj: WebhookSubscription, post_url_continue: str | None = None
    ) -> HttpResponse:
        secret = getattr(request, "_webhook_secret", None)
        if secret:
            return self._show_secret(request, obj, secret)
        return super().response_add(request, obj, post_url_continue)

    def _show_secret(
        self, request: HttpRequest, obj: WebhookSubscription, secret: str
    ) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": _("签名密钥"),
            "subscription": obj,
            "secret": secret,
            "opts": self.opts,
        }
        response = TemplateResponse(request, "integrations/webhooks/secret.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description=_("发送测试事件"))
    def send_test(self, request: HttpRequest, queryset: QuerySet[WebhookSubscription]) -> None:
        for subscription in queryset.select_related("client"):
            delivery = services.webhook_test_send(subscription=subscription)
            if delivery.status == WebhookDelivery.Status.DELIVERED:
                self.message_user(
                    request,
                    _("测试事件已送达 %(url)s（HTTP %(code)s）。")
                    % {"url": subscription.url, "code": delivery.response_status},
                    messages.SUCCESS,
                )
            else:
                self.message_user(
                    request,
                    _("测试事件未送达 %(url)s：%(error)s")
                    % {"url": subscription.url, "error": delivery.last_error},
                    messages.ERROR,
                )

    @admin.action(description=_("重新启用"))
    def enable(self, request: HttpRequest, queryset: QuerySet[WebhookSubscription]) -> None:
        waiting = 0
        for subscription in queryset:
            waiting += services.webhook_subscription_enable(subscription=subscription)
        self.message_user(
            request,
            _("已重新启用 %(count)s 个订阅，%(waiting)s 条待发送推送将在下次巡检时发出。")
            % {"count": queryset.count(), "waiting": waiting},
            messages.SUCCESS,
        )

    @admin.action(description=_("更换签名密钥"))
    def rotate_secret(
        self, request: HttpRequest, queryset: QuerySet[WebhookSubscription]
    ) -> HttpResponse | None:
        if queryset.count() != 1:
            self.message_user(request, _("请只选择一个订阅来更换密钥。"), messages.WARNING)
            return None
        subscription = queryset.select_related("client").get()
        secret = services.webhook_secret_rotate(subscription=subscription)
        return self._show_secret(request, subscription, secret)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(_SuperusersOnly, admin.ModelAdmin[WebhookDelivery]):
    list_display = (
        "created_at",
        "event_type",
        "need_number",
        "client_display",
        "status",
        "attempts",
        "response_status",
        "error_display",
        "next_attempt_at",
    )
    list_filter = ("status", "event_type")
    search_fields = ("need_number", "uuid")
    list_select_related = ("subscription__client",)
    show_full_result_count = False
    fields = (
        "uuid",
        "subscription",
        "event_type",
        "need_number",
        "status",
        "attempts",
        "next_attempt_at",
        "claimed_at",
        "response_status",
        "response_ms",
        "response_body",
        "last_error",
        "created_at",
        "delivered_at",
        "body",
    )
    readonly_fields = fields
    actions = ("retry_now",)

    @admin.display(description=_("接口密钥"), ordering="subscription__client__name")
    def client_display(self, obj: WebhookDelivery) -> str:
        return obj.subscription.client.name

    @admin.display(description=_("最近错误"))
    def error_display(self, obj: WebhookDelivery) -> str:
        error = obj.last_error
        return error if len(error) <= 40 else error[:39] + "…"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return self.has_module_permission(request)

    @admin.action(description=_("立即重试"), permissions=["retry"])
    def retry_now(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        chosen = list(queryset.values_list("pk", flat=True))
        count = services.webhook_delivery_retry(delivery_ids=chosen)
        self.message_user(
            request,
            ngettext(
                "已将 %(count)d 条推送放回发送队列，将在下次巡检时发出。",
                "已将 %(count)d 条推送放回发送队列，将在下次巡检时发出。",
                count,
            )
            % {"count": count},
            messages.SUCCESS,
        )
        if len(chosen) > count:
            self.message_user(request, _("已送达或正在发送的推送未重试。"), messages.WARNING)
        stopped = (
            WebhookSubscription.objects.filter(deliveries__pk__in=chosen)
            .exclude(active=True, disabled_at__isnull=True)
            .distinct()
        )
        for subscription in stopped.select_related("client"):
            self.message_user(
                request,
                _("订阅“%(subscription)s”已停用：这些推送要等重新启用该订阅后才会发出。")
                % {"subscription": subscription},
                messages.WARNING,
            )
