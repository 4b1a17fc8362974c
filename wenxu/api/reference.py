"""`/api/v1/areas`, `/units`, `/categories`: the ids the needs endpoints accept.

Open to every signed-in user and not scoped: they name the county's organisation, not
residents, and a dispatcher must be able to assign to any unit (see `wenxu.api.refs`).
"""

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router

from wenxu.api import refs
from wenxu.api import schemas as s

router = Router(tags=["reference"])


@router.get(
    "/areas",
    response={200: list[s.AreaOut], 401: s.ErrorOut, 422: s.InvalidOut},
    operation_id="area_list",
    summary="区划网格（树，按路径排序）",
)
def area_list(request: HttpRequest, filters: Query[s.AreaListQuery]) -> list[dict[str, Any]]:
    return refs.area_list(within=filters.within, level=filters.level)


@router.get(
    "/units",
    response={200: list[s.UnitOut], 401: s.ErrorOut, 422: s.InvalidOut},
    operation_id="unit_list",
    summary="责任单位（树，按路径排序）",
)
def unit_list(request: HttpRequest, filters: Query[s.ActiveQuery]) -> list[dict[str, Any]]:
    return refs.unit_list(active=filters.active)


@router.get(
    "/categories",
    response={200: list[s.CategoryOut], 401: s.ErrorOut, 422: s.InvalidOut},
    operation_id="category_list",
    summary="诉求分类（树，按路径排序）",
)
def category_list(request: HttpRequest, filters: Query[s.ActiveQuery]) -> list[dict[str, Any]]:
    return refs.category_list(active=filters.active)
