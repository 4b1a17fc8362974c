"""What a client may ask for: services (categories) and the places it may report in.

`service_code` is the category's primary key as text: stable across renames and moves, and
unique (a category's `code` may be blank or repeated). Services are the active categories
without active subcategories; `group` is the parent category's name.

Areas: wenxu has no area polygons, so a request's place is a village (community) or grid chosen
through the `area` attribute, found in `address_string`, or implied by a key that covers a
single one (see `resolve_area`).
"""

from dataclasses import dataclass
from typing import Any

from django.db.models import Q
from django.utils.translation import gettext as _

from wenxu.api.open311.params import Open311Error, bad, number
from wenxu.integrations.models import ApiClient
from wenxu.needs import states
from wenxu.needs.models import Category
from wenxu.needs.services.online import ONLINE_AREA_LEVELS
from wenxu.organisations.models import Area, under_q

AREA = "area"
KIND = "kind"
KINDS = (
    states.Kind.HELP,
    states.Kind.CONSULT,
    states.Kind.COMPLAINT,
    states.Kind.REPORT,
    states.Kind.SUGGESTION,
    states.Kind.CRITICISM,
    states.Kind.PRAISE,
)


def services() -> list[Category]:
    """The categories offered as services, in tree order, with their parents loaded."""
    active = list(Category.objects.filter(active=True).select_related("parent").order_by("path"))
    parents = {c.parent_id for c in active if c.parent_id is not None}
    return [c for c in active if c.pk not in parents]


def _unknown(code: str) -> Open311Error:
    return Open311Error(404, _("未找到服务类型 service_code=%(code)s。") % {"code": code})


def service(code: str) -> Category:
    """The service `code` names (one a request may be posted to), or a 404 error."""
    pk = number(code)
    found = next((c for c in services() if c.pk == pk), None) if pk is not None else None
    if found is None:
        raise _unknown(code)
    return found


def defined(code: str) -> Category:
    """Any active category, for its service definition: a need staff filed under a parent
    category shows that category's `service_code`, and a client following it must be able to
    look that code up. Posting still takes only the listed services (`service`)."""
    pk = number(code)
    found = Category.objects.filter(pk=pk, active=True).first() if pk is not None else None
    if found is None:
        raise _unknown(code)
    return found


def service_json(category: Category) -> dict[str, Any]:
    parent = category.parent
    group = parent.name if isinstance(parent, Category) else ""
    keywords = [category.name, group, category.code]
    return {
        "service_code": str(category.pk),
        "service_name": category.name,
        "description": f"{group} · {category.name}" if group else category.name,
        "metadata": True,
        "type": "realtime",
        "keywords": ", ".join(dict.fromkeys(k for k in keywords if k)),
        "group": group or None,
    }


@dataclass(frozen=True)
class Place:
    area: Area
    label: str


def _client_paths(client: ApiClient | None) -> list[str]:
    if client is None:
        return []
    return list(client.areas.values_list("path", flat=True))


def places(client: ApiClient | None) -> list[Place]:
    """The villages and grids `client` may report in (all of them without a client or when the
    key has no areas), labelled with their township and village: "东河镇 / 东河村"."""
    paths = _client_paths(client)
    scope = under_q(paths) if paths else Q()
    areas = list(Area.objects.filter(scope, level__in=ONLINE_AREA_LEVELS).order_by("path"))
    ancestor_ids = {i for a in areas for i in a.ancestors_and_self_ids()}
    names = dict(
        Area.objects.filter(pk__in=ancestor_ids)
        .exclude(level=Area.Level.COUNTY)
        .values_list("pk", "name")
    )
    return [
        Place(
            area=a,
            label=" / ".join(names[i] for i in a.ancestors_and_self_ids() if i in names),
        )
        for a in areas
    ]


def definition_json(category: Category, options: list[Place]) -> dict[str, Any]:
    """The service definition: wenxu's `area` attribute (required when there is a choice) and
    the optional `kind` of need."""
    return {
        "service_code": str(category.pk),
        "attributes": [
            {
                "variable": True,
                "code": AREA,
                "datatype": "singlevaluelist",
                "required": len(options) > 1,
                "datatype_description": _("诉求所在的村（社区）或网格"),
                "order": 1,
                "description": _(
                    "请选择诉求所在的村（社区）或网格。"
                    "不填时按 address_string 中的村、网格名称确定。"
                ),
                "values": [{"key": str(p.area.pk), "name": p.label} for p in options],
            },
            {
                "variable": True,
                "code": KIND,
                "datatype": "singlevaluelist",
                "required": False,
                "datatype_description": _("诉求类型，默认为求助"),
                "order": 2,
                "description": _("诉求的类型：求助、咨询、投诉、举报、建议、批评或表扬。"),
                "values": [{"key": str(k.value), "name": str(k.label)} for k in KINDS],
            },
        ],
    }


def resolve_area(options: list[Place], chosen: str, address: str) -> Area:
    """The village or grid of a new request: the `area` attribute; else the longest village or
    grid name in `address` (one area only); else the only place the key covers."""
    if chosen:
        match = next((p.area for p in options if str(p.area.pk) == chosen), None)
        if match is None:
            raise bad(
                _(
                    "attribute[area]=%(key)s 不是本接口密钥可提交的村（社区）或网格，"
                    "请按服务定义选择。"
                )
                % {"key": chosen}
            )
        return match
    if address:
        found = [p.area for p in options if p.area.name and p.area.name in address]
        if found:
            longest = max(len(a.name) for a in found)
            best = [a for a in found if len(a.name) == longest]
            if len(best) == 1:
                return best[0]
    if len(options) == 1:
        return options[0].area
    raise bad(
        _(
            "无法确定诉求所在的村（社区）或网格：请用 attribute[area] 选择"
            "（可选值见服务定义），或在 address_string 中写明村（社区）或网格名称。"
        )
    )
