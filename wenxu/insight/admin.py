"""Admin for routing (issue #7): admins edit keyword rules; models and suggestions are shown.

Models are written only by `wenxu router_train` and suggestions only at triage, so both are
read-only here (a model's bytes are never shown).
"""

import json
from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from wenxu.insight.models import RouterModel, RoutingRule, RoutingSuggestion
from wenxu.needs.admin import scoped_needs


class ReadOnlyAdmin(admin.ModelAdmin[Any]):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class RoutingRuleForm(forms.ModelForm[RoutingRule]):
    class Meta:
        model = RoutingRule
        fields = ("name", "keywords", "category", "unit", "area", "priority", "active")
        widgets = {
            "keywords": forms.Textarea(attrs={"rows": 4, "placeholder": "路灯\n井盖、下水道"})
        }

    def clean_keywords(self) -> str:
        # Imported here: routing.rules reads insight.text, which loads scikit-learn (~110 MB);
        # every process imports the admin at start-up, few ever edit a rule.
        from wenxu.insight.routing.rules import keywords

        value: str = self.cleaned_data.get("keywords", "")
        if not keywords(value):
            raise forms.ValidationError(_("请至少填写一个关键词。"))
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("category") and not data.get("unit"):
            raise forms.ValidationError(_("请至少选择建议类别或建议主办单位之一。"))
        return data


@admin.register(RoutingRule)
class RoutingRuleAdmin(admin.ModelAdmin[RoutingRule]):
    form = RoutingRuleForm
    list_display = ("name", "keyword_list", "category", "unit", "area", "priority", "active")
    list_filter = ("active",)
    list_editable = ("priority", "active")
    search_fields = ("name", "keywords")
    autocomplete_fields = ("category", "unit", "area")
    list_select_related = ("category", "unit", "area")
    fieldsets = (
        (None, {"fields": ("name", "keywords")}),
        (
            _("命中后建议"),
            {
                "fields": ("category", "unit"),
                "description": _("至少选一项；只选一项时，另一项仍由模型建议。"),
            },
        ),
        (_("适用范围与顺序"), {"fields": ("area", "priority", "active")}),
    )

    @admin.display(description=_("关键词"))
    def keyword_list(self, obj: RoutingRule) -> str:
        from wenxu.insight.routing.rules import keywords

        words = keywords(obj.keywords)
        shown = "、".join(words[:6])
        return shown + ("…" if len(words) > 6 else "")


@admin.register(RouterModel)
class RouterModelAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "target",
        "active",
        "created_at",
        "samples",
        "corrections",
        "classes",
        "macro_f1",
        "trained_by",
    )
    list_filter = ("target", "active")
    list_select_related = ("trained_by",)
    fields = (
        "target",
        "active",
        "created_at",
        "trained_by",
        "samples",
        "corrections",
        "classes",
        "metrics_table",
        "size",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).defer("data")

    @admin.display(description=_("宏平均F1"))
    def macro_f1(self, obj: RouterModel) -> str:
        value = (obj.metrics or {}).get("macro_f1")
        return "—" if value is None else f"{value:.3f}"

    @admin.display(description=_("评估结果"))
    def metrics_table(self, obj: RouterModel) -> str:
        return format_html(
            "<pre>{}</pre>", json.dumps(obj.metrics or {}, ensure_ascii=False, indent=2)
        )

    @admin.display(description=_("模型大小"))
    def size(self, obj: RouterModel) -> str:
        data = RouterModel.objects.filter(pk=obj.pk).values_list("data", flat=True).first()
        return f"{len(data or b'') / 1024:.0f} KB"


@admin.register(RoutingSuggestion)
class RoutingSuggestionAdmin(ReadOnlyAdmin):
    list_display = (
        "need",
        "source",
        "category",
        "category_confidence",
        "unit",
        "unit_confidence",
        "updated_at",
    )
    list_filter = ("source",)
    list_select_related = ("need", "category", "unit")
    search_fields = ("need__number",)
    readonly_fields = (
        "need",
        "source",
        "rule",
        "category",
        "category_confidence",
        "category_model",
        "unit",
        "unit_confidence",
        "unit_model",
        "created_at",
        "updated_at",
    )
    fields = readonly_fields

    def get_queryset(self, request: HttpRequest) -> Any:
        # Scoped like the ledger: a suggestion names its need (number and title).
        return super().get_queryset(request).filter(need__in=scoped_needs(request))
