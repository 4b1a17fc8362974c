"""Admin for the area and unit trees: listed in tree order, indented by depth."""

from typing import Any, ClassVar

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from wenxu.organisations.models import Area, TreeNode, Unit

INDENT = "\u3000"  # a full-width space: plain text, so no inline style for the CSP to refuse


class TreeAdmin(admin.ModelAdmin[Any]):
    """Shared by every `TreeNode` admin: tree order, indented names, parent by autocomplete."""

    ordering: ClassVar[tuple[str, ...]] = ("path",)
    search_fields: ClassVar[tuple[str, ...]] = ("name",)
    autocomplete_fields: ClassVar[tuple[str, ...]] = ("parent",)
    list_select_related: ClassVar[tuple[str, ...]] = ("parent",)
    list_per_page = 200

    @admin.display(description=_("名称"), ordering="path")
    def tree_name(self, obj: TreeNode) -> str:
        name = str(getattr(obj, "name", obj))
        return f"{INDENT * obj.depth}└ {name}" if obj.depth else name


@admin.register(Area)
class AreaAdmin(TreeAdmin):
    list_display = ("tree_name", "level", "code", "households", "id")
    list_display_links = ("tree_name",)
    list_filter = ("level",)
    search_fields = ("name", "code")
    fields = ("name", "level", "parent", "code", "households")


@admin.register(Unit)
class UnitAdmin(TreeAdmin):
    list_display = ("tree_name", "short_name", "kind", "phone", "active", "id")
    list_display_links = ("tree_name",)
    list_filter = ("kind", "active")
    search_fields = ("name", "short_name")
    autocomplete_fields = ("parent", "areas")
    fields = ("name", "short_name", "kind", "parent", "areas", "phone", "active")
