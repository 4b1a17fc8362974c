"""Reference data (areas, units, categories): resolving the ids a client sends, and listing them.

These trees name the county's organisation, not residents, so every signed-in user may read
them in full: a dispatcher assigns to units outside their own area, an officer picks any
category. Needs themselves are read only through `wenxu.needs.selectors`.
"""

from collections.abc import Iterable
from typing import Any, TypeVar

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Model
from django.utils.translation import gettext as _

from wenxu.needs.exceptions import InvalidInput
from wenxu.needs.models import Category
from wenxu.organisations.models import Area, Unit

M = TypeVar("M", bound=Model)


class RefResolver:
    """Looks up referenced ids and collects a field error for each unknown one."""

    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    def _one(self, model: type[M], pk: int | None, field: str, message: str) -> M | None:
        if pk is None:
            return None
        try:
            # get(), not first(): no ORDER BY to build for a primary key (every intake asks).
            return model._default_manager.get(pk=pk)
        except ObjectDoesNotExist:
            self.errors.setdefault(field, []).append(message % {"id": pk})
            return None

    def area(self, pk: int | None, field: str = "area") -> Area | None:
        return self._one(Area, pk, field, _("没有 id 为 %(id)s 的区域，请从 GET /areas 选择。"))

    def category(self, pk: int | None, field: str = "category") -> Category | None:
        return self._one(
            Category, pk, field, _("没有 id 为 %(id)s 的分类，请从 GET /categories 选择。")
        )

    def unit(self, pk: int | None, field: str = "lead_unit") -> Unit | None:
        return self._one(Unit, pk, field, _("没有 id 为 %(id)s 的单位，请从 GET /units 选择。"))

    def units(self, pks: Iterable[int], field: str = "co_units") -> list[Unit]:
        wanted = list(dict.fromkeys(pks))
        found = Unit.objects.in_bulk(wanted)
        missing = [pk for pk in wanted if pk not in found]
        if missing:
            self.errors.setdefault(field, []).append(
                _("没有这些 id 的单位：%(ids)s，请从 GET /units 选择。")
                % {"ids": ", ".join(str(pk) for pk in missing)}
            )
        return [found[pk] for pk in wanted if pk in found]

    def raise_if_any(self) -> None:
        if self.errors:
            raise InvalidInput(self.errors)


def area_list(*, within: int | None = None, level: str | None = None) -> list[dict[str, Any]]:
    qs = Area.objects.order_by("path")
    if within is not None:
        root = Area.objects.filter(pk=within).only("path").first()
        if root is None:
            raise InvalidInput({"within": [_("没有 id 为 %(id)s 的区域。") % {"id": within}]})
        qs = qs.filter(path__startswith=root.path)
    if level:
        if level not in Area.Level.values:
            message = _("级别无效，可选值：%(values)s。") % {"values": ", ".join(Area.Level.values)}
            raise InvalidInput({"level": [message]})
        qs = qs.filter(level=level)
    return [
        {
            "id": a.pk,
            "name": a.name,
            "parent": a.parent_id,
            "path": a.path,
            "depth": a.depth,
            "level": a.level,
            "code": a.code,
        }
        for a in qs
    ]


def unit_list(*, active: bool | None = None) -> list[dict[str, Any]]:
    qs = Unit.objects.order_by("path")
    if active is not None:
        qs = qs.filter(active=active)
    return [
        {
            "id": u.pk,
            "name": u.name,
            "short_name": u.short_name,
            "parent": u.parent_id,
            "path": u.path,
            "depth": u.depth,
            "kind": u.kind,
            "active": u.active,
        }
        for u in qs
    ]


def category_list(*, active: bool | None = None) -> list[dict[str, Any]]:
    qs = Category.objects.order_by("path")
    if active is not None:
        qs = qs.filter(active=active)
    return [
        {
            "id": c.pk,
            "name": c.name,
            "parent": c.parent_id,
            "path": c.path,
            "depth": c.depth,
            "code": c.code,
            "active": c.active,
        }
        for c in qs
    ]
