"""Admin for places, visits and visit plans, scoped like every other read.

Visits are records of what happened: shown, never written here (they come from the field
through `visit_record`). Places can be corrected here (kind, name, address, members, note,
在册), but not moved to another area (the place pages do that, with the scope checks), and the
contact person and phone are personal data: the admin shows them masked and never edits them
(the place pages do, for the officers of the area). Visit plans are shown only: they are made and
changed on the plan pages (`wenxu.visits.plans`, with the area and officer checks), which each
plan links to. No search or filter looks at personal data.
"""

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from wenxu.accounts.models import User
from wenxu.needs.admin import ViewOnlyAdmin
from wenxu.visits.models import Place, Visit, VisitPhoto, VisitPlan
from wenxu.visits.selectors import (
    areas_for_user,
    place_queryset_for_user,
    visit_queryset_for_user,
)


def _viewer(request: HttpRequest) -> User | None:
    """None for a superuser (sees everything), else the user whose scope applies."""
    user = request.user
    if user.is_superuser:
        return None
    assert isinstance(user, User)
    return user


@admin.register(Place)
class PlaceAdmin(admin.ModelAdmin[Place]):
    list_display = ("name", "kind", "area", "members", "active", "updated_at")
    list_filter = ("kind", "active")
    search_fields = ("name", "area__name")
    list_select_related = ("area",)
    ordering = ("area__path", "name")
    fields = (
        "area",
        "kind",
        "name",
        "address",
        "masked_contact_name",
        "masked_contact_phone",
        "members",
        "note",
        "active",
        "created_at",
        "updated_at",
    )
    # The area is not edited here: moving a place needs the scope checks of the place pages.
    readonly_fields = (
        "area",
        "masked_contact_name",
        "masked_contact_phone",
        "created_at",
        "updated_at",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Place]:
        viewer = _viewer(request)
        qs = Place.objects.all() if viewer is None else place_queryset_for_user(user=viewer)
        return qs.select_related("area")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # new places come from the place pages or the import (with their checks)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # visits point at places: switch 在册 off instead

    @admin.display(description=_("户主/负责人"))
    def masked_contact_name(self, obj: Place) -> str:
        return obj.masked_contact_name()

    @admin.display(description=_("联系电话"))
    def masked_contact_phone(self, obj: Place) -> str:
        return obj.masked_contact_phone()


class VisitPhotoInline(admin.TabularInline[VisitPhoto, Visit]):
    model = VisitPhoto
    fields = ("original_name", "content_type", "size", "uploaded_by", "uploaded_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[VisitPhoto]:
        return super().get_queryset(request).select_related("uploaded_by")


VISIT_FIELDS = (
    "kind",
    "area",
    "place",
    "place_kind",
    "address",
    "latitude",
    "longitude",
    "started_at",
    "ended_at",
    "officers",
    "companions",
    "people_met",
    "summary",
    "mood",
    "mood_note",
    "sense_gain",
    "sense_happiness",
    "sense_security",
    "recorded_by",
    "recorded_at",
    "client_uuid",
)


@admin.register(Visit)
class VisitAdmin(ViewOnlyAdmin):
    list_display = ("started_at", "kind", "area", "place", "mood", "people_met", "recorded_by")
    list_filter = ("kind", "mood")
    search_fields = ("area__name", "place__name")
    list_select_related = ("area", "place", "recorded_by")
    date_hierarchy = "started_at"
    show_full_result_count = False
    fields = VISIT_FIELDS
    readonly_fields = VISIT_FIELDS
    inlines = (VisitPhotoInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Visit]:
        viewer = _viewer(request)
        qs = Visit.objects.all() if viewer is None else visit_queryset_for_user(user=viewer)
        return qs.select_related("area", "place", "recorded_by")


PLAN_FIELDS = (
    "name",
    "kind",
    "period",
    "area",
    "place_kind",
    "visit_kind",
    "target",
    "officer",
    "starts_on",
    "ends_on",
    "active",
    "created_by",
    "created_at",
)


@admin.register(VisitPlan)
class VisitPlanAdmin(ViewOnlyAdmin):
    """Shown only: plans are written on the plan pages, which check the area and the officer."""

    list_display = (
        "name",
        "kind",
        "period",
        "area",
        "place_kind",
        "visit_kind",
        "target",
        "officer",
        "starts_on",
        "ends_on",
        "active",
        "plan_page",
    )
    list_filter = ("kind", "period", "active")
    search_fields = ("name", "area__name")
    list_select_related = ("area", "officer")
    fields = (*PLAN_FIELDS, "plan_page")
    readonly_fields = (*PLAN_FIELDS, "plan_page")

    def get_queryset(self, request: HttpRequest) -> QuerySet[VisitPlan]:
        qs = VisitPlan.objects.select_related("area", "officer", "created_by")
        viewer = _viewer(request)
        if viewer is not None:
            qs = qs.filter(area__in=areas_for_user(user=viewer))
        return qs

    @admin.display(description=_("修改"))
    def plan_page(self, obj: VisitPlan) -> str:
        return format_html(
            '<a href="{}">{}</a>', reverse("visits:plan_edit", args=[obj.pk]), _("在计划页修改")
        )
