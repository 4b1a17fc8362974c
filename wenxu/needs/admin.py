"""Admin for categories, deadline rules and the holiday calendar; the ledger itself is view-only.

Status changes only through `wenxu.needs.services` (DESIGN §3), so the admin can neither add,
change nor delete a need or one of its events: it shows them, scoped like every other read.
"""

from datetime import date, datetime
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from wenxu.accounts.models import User
from wenxu.lib.text import join_list
from wenxu.lib.workdays import package_is_workday
from wenxu.needs import states
from wenxu.needs.models import Category, DeadlineRule, HolidayOverride, Need, NeedEvent
from wenxu.needs.selectors import need_queryset_for_user
from wenxu.organisations.admin import TreeAdmin

WEEKDAYS = (
    _("星期一"),
    _("星期二"),
    _("星期三"),
    _("星期四"),
    _("星期五"),
    _("星期六"),
    _("星期日"),
)


class ViewOnlyAdmin(admin.ModelAdmin[Any]):
    """Shown, never written: rows change only through services."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def status_label(value: str) -> str:
    return str(states.Status(value).label) if value in states.Status.values else value


class EventLabels:
    """Statuses of an event shown by their Chinese labels (the columns store codes)."""

    @admin.display(description=_("原状态"))
    def from_label(self, obj: NeedEvent) -> str:
        return status_label(obj.from_status)

    @admin.display(description=_("新状态"))
    def to_label(self, obj: NeedEvent) -> str:
        return status_label(obj.to_status)


def scoped_needs(request: HttpRequest) -> QuerySet[Need]:
    """The needs the admin user may see: all for a superuser, else the scoping selector's."""
    user = request.user
    if user.is_superuser:
        return Need.objects.all()
    assert isinstance(user, User)
    return need_queryset_for_user(user=user)


@admin.register(Category)
class CategoryAdmin(TreeAdmin):
    list_display = ("tree_name", "code", "default_unit", "active", "id")
    list_display_links = ("tree_name",)
    list_filter = ("active", "depth")
    search_fields = ("name", "code")
    autocomplete_fields = ("parent", "default_unit")
    list_select_related = ("parent", "default_unit")
    fields = ("name", "code", "parent", "default_unit", "active")


@admin.register(DeadlineRule)
class DeadlineRuleAdmin(admin.ModelAdmin[DeadlineRule]):
    list_display = (
        "scope",
        "urgency",
        "response",
        "resolve",
        "remind_before_hours",
        "max_extensions",
        "max_extension_days",
    )
    list_filter = ("urgency",)
    search_fields = ("category__name",)
    autocomplete_fields = ("category",)
    list_select_related = ("category",)
    ordering = ("category__path", "urgency")
    fieldsets = (
        (None, {"fields": ("category", "urgency")}),
        (
            _("时限"),
            {"fields": (("response_value", "response_unit"), ("resolve_value", "resolve_unit"))},
        ),
        (
            _("提醒与延期"),
            {"fields": ("remind_before_hours", "max_extensions", "max_extension_days")},
        ),
    )

    @admin.display(description=_("适用分类"), ordering="category__path")
    def scope(self, obj: DeadlineRule) -> str:
        return obj.category.name if obj.category else str(_("所有分类（通用规则）"))

    @admin.display(description=_("响应时限"))
    def response(self, obj: DeadlineRule) -> str:
        return f"{obj.response_value} {obj.get_response_unit_display()}"

    @admin.display(description=_("办结时限"))
    def resolve(self, obj: DeadlineRule) -> str:
        return f"{obj.resolve_value} {obj.get_resolve_unit_display()}"


class YearFilter(admin.SimpleListFilter):
    title = _("年份")
    parameter_name = "year"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        years = HolidayOverride.objects.dates("date", "year", order="DESC")
        return [(str(day.year), f"{day.year}") for day in years]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value and value.isdigit():
            return queryset.filter(date__year=int(value))
        return queryset


@admin.register(HolidayOverride)
class HolidayOverrideAdmin(admin.ModelAdmin[HolidayOverride]):
    """Where next year's State Council notice is entered, day by day.

    Due dates already stored on needs keep the calendar they were computed with.
    """

    list_display = ("date", "weekday", "is_workday", "package_default", "note", "modified")
    list_filter = (YearFilter, "is_workday")
    search_fields = ("note",)
    ordering = ("date",)
    fields = ("date", "is_workday", "note")

    @admin.display(description=_("星期"))
    def weekday(self, obj: HolidayOverride) -> str:
        return str(WEEKDAYS[obj.date.weekday()])

    @admin.display(description=_("更新时间"), ordering="updated_at")
    def modified(self, obj: HolidayOverride) -> datetime:
        return obj.updated_at

    @admin.display(description=_("内置日历"))
    def package_default(self, obj: HolidayOverride) -> str:
        day: date = obj.date
        return str(_("上班") if package_is_workday(day) else _("放假"))


class NeedEventInline(EventLabels, admin.TabularInline[NeedEvent, Need]):
    model = NeedEvent
    fields = ("seq", "action", "from_label", "to_label", "actor", "note", "created_at")
    readonly_fields = fields
    ordering = ("seq",)
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[NeedEvent]:
        return super().get_queryset(request).select_related("actor")


NEED_FIELDS = (
    "number",
    "status",
    "title",
    "description",
    "category",
    "kind",
    "urgency",
    "nature_tag_labels",
    "source",
    "handling",
    "area",
    "address",
    "requester",
    "recorded_by",
    "registered_at",
)
DUE_FIELDS = (
    "lead_unit",
    "co_units",
    "assigned_at",
    "response_due",
    "resolve_due",
    "original_resolve_due",
    "due_provisional",
    "calendar_version",
    "extension_count",
    "extension_pending_days",
    "reopen_count",
    "supervised",
)
REPLY_FIELDS = (
    "responded_at",
    "replied_at",
    "outcome",
    "reply_text",
    "followup_date",
    "fulfilled_at",
    "callback_resolved",
    "callback_satisfaction",
    "callback_channel",
    "callback_comment",
    "callback_at",
    "closed_at",
    "merged_into",
    "version",
)


@admin.register(Need)
class NeedAdmin(ViewOnlyAdmin):
    list_display = (
        "number",
        "title",
        "status",
        "urgency",
        "area",
        "lead_unit",
        "resolve_due",
        "registered_at",
    )
    list_filter = ("status", "urgency", "kind", "source", "handling", "supervised")
    search_fields = ("number", "title")
    list_select_related = ("area", "lead_unit")
    date_hierarchy = "registered_at"
    show_full_result_count = False  # no COUNT(*) over the whole ledger on every page
    inlines = (NeedEventInline,)
    fieldsets = (
        (None, {"fields": NEED_FIELDS}),
        (_("交办与时限"), {"fields": DUE_FIELDS}),
        (_("答复与回访"), {"fields": REPLY_FIELDS}),
    )
    readonly_fields = NEED_FIELDS + DUE_FIELDS + REPLY_FIELDS

    def get_queryset(self, request: HttpRequest) -> QuerySet[Need]:
        return scoped_needs(request).select_related("area", "lead_unit")

    @admin.display(description=_("急难愁盼"))
    def nature_tag_labels(self, obj: Need) -> str:
        labels = dict(states.NatureTag.choices)
        return join_list(labels.get(tag, tag) for tag in obj.nature_tags)


@admin.register(NeedEvent)
class NeedEventAdmin(EventLabels, ViewOnlyAdmin):
    list_display = ("need", "seq", "action", "from_label", "to_label", "actor", "created_at")
    list_filter = ("action",)
    search_fields = ("need__number",)
    list_select_related = ("need", "actor")
    show_full_result_count = False
    fields = (
        "need",
        "seq",
        "action",
        "from_label",
        "to_label",
        "actor",
        "note",
        "data",
        "created_at",
    )
    readonly_fields = fields
    ordering = ("-id",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[NeedEvent]:
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return qs.filter(need__in=scoped_needs(request).values("pk"))
