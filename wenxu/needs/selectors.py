"""Every read of needs goes through here, scoped to the viewer (DESIGN §2).

A user sees a need when its area lies in one of their area scopes, or it is assigned (lead or
co) to one of their units or a sub-unit, or they recorded it.
"""

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils.translation import gettext as _

from wenxu.accounts.models import User
from wenxu.accounts.selectors import scopes_for_user
from wenxu.lib import clock
from wenxu.needs import states
from wenxu.needs.exceptions import InvalidInput, NotFound
from wenxu.needs.models import Need, NeedEvent
from wenxu.organisations.models import Area, Unit
from wenxu.residents.models import Requester


def scope_q(user: User) -> Q:
    """The Q that selects exactly the needs `user` may see (an empty match when none)."""
    q = Q(recorded_by=user)
    for scope in scopes_for_user(user):
        if scope.area_path:
            q |= Q(area__path__startswith=scope.area_path)
        if scope.unit_path:
            q |= Q(lead_unit__path__startswith=scope.unit_path)
            q |= Q(
                Exists(
                    Need.co_units.through.objects.filter(
                        need_id=OuterRef("pk"), unit__path__startswith=scope.unit_path
                    )
                )
            )
    return q


def need_queryset_for_user(*, user: User) -> QuerySet[Need]:
    if not user.is_active:
        return Need.objects.none()
    return Need.objects.filter(scope_q(user))


def _with_related(qs: QuerySet[Need]) -> QuerySet[Need]:
    return qs.select_related(
        "area", "category", "lead_unit", "requester", "merged_into"
    ).prefetch_related(Prefetch("co_units", queryset=Unit.objects.only("id", "name", "short_name")))


def need_get_for_user(*, user: User, number: str, with_events: bool = True) -> Need:
    qs = _with_related(need_queryset_for_user(user=user).filter(number=number))
    if with_events:
        qs = qs.prefetch_related(
            Prefetch("events", queryset=NeedEvent.objects.select_related("actor").order_by("seq"))
        )
    need = qs.first()
    if need is None:
        raise NotFound()
    return need


@dataclass(frozen=True)
class NeedFilters:
    status: list[str] | None = None
    unit: int | None = None
    area: int | None = None
    category: int | None = None
    overdue: bool | None = None
    q: str | None = None


def _decode_cursor(cursor: str) -> int:
    try:
        return int(base64.urlsafe_b64decode(cursor.encode() + b"==").decode())
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidInput({"cursor": [_("分页游标无效，请从第一页重新查询。")]}) from exc


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(str(last_id).encode()).decode().rstrip("=")


def need_list_for_user(
    *, user: User, filters: NeedFilters, cursor: str | None = None, limit: int = 50
) -> tuple[list[Need], str | None]:
    """One page of the user's needs, newest first, with keyset pagination."""
    qs = need_queryset_for_user(user=user)
    qs = apply_filters(qs, filters)
    if cursor:
        qs = qs.filter(id__lt=_decode_cursor(cursor))
    page = list(_with_related(qs).order_by("-id")[: limit + 1])
    next_cursor = encode_cursor(page[limit - 1].id) if len(page) > limit else None
    return page[:limit], next_cursor


def apply_filters(qs: QuerySet[Need], filters: NeedFilters) -> QuerySet[Need]:
    errors: dict[str, list[str]] = {}
    if filters.status:
        unknown = [s for s in filters.status if s not in states.Status.values]
        if unknown:
            errors["status"] = [_("未知的状态：%(values)s") % {"values": ", ".join(unknown)}]
        qs = qs.filter(status__in=filters.status)
    if filters.unit is not None:
        unit = Unit.objects.filter(pk=filters.unit).only("path").first()
        if unit is None:
            errors["unit"] = [_("没有这个责任单位。")]
        else:
            qs = qs.filter(
                Q(lead_unit__path__startswith=unit.path)
                | Exists(
                    Need.co_units.through.objects.filter(
                        need_id=OuterRef("pk"), unit__path__startswith=unit.path
                    )
                )
            )
    if filters.area is not None:
        area = Area.objects.filter(pk=filters.area).only("path").first()
        if area is None:
            errors["area"] = [_("没有这个区域。")]
        else:
            qs = qs.filter(area__path__startswith=area.path)
    if filters.category is not None:
        from wenxu.needs.models import Category

        category = Category.objects.filter(pk=filters.category).only("path").first()
        if category is None:
            errors["category"] = [_("没有这个分类。")]
        else:
            qs = qs.filter(category__path__startswith=category.path)
    if filters.overdue is not None:
        overdue_q = Q(
            status__in=states.ACTIVE, replied_at__isnull=True, resolve_due__lt=clock.now()
        )
        qs = qs.filter(overdue_q) if filters.overdue else qs.exclude(overdue_q)
    if filters.q:
        text = filters.q.strip()
        if len(text) > 100:
            errors["q"] = [_("搜索词太长（最多 100 字）。")]
        qs = qs.filter(
            Q(number__icontains=text)
            | Q(title__icontains=text)
            | Q(description__icontains=text)
            | Q(address__icontains=text)
        )
    if errors:
        raise InvalidInput(errors)
    return qs


def need_status_counts_for_user(*, user: User) -> dict[str, Any]:
    rows = need_queryset_for_user(user=user).values("status").annotate(n=Count("id"))
    counts = {row["status"]: row["n"] for row in rows}
    overdue = (
        need_queryset_for_user(user=user)
        .filter(status__in=states.ACTIVE, replied_at__isnull=True, resolve_due__lt=clock.now())
        .count()
    )
    return {
        "by_status": [
            (value, label, counts.get(value, 0)) for value, label in states.Status.choices
        ],
        "total": sum(counts.values()),
        "active": sum(counts.get(s, 0) for s in states.ACTIVE),
        "overdue": overdue,
    }


def need_requesters(*, need: Need) -> list[Requester]:
    """Everyone waiting on `need`: its requester and those of the needs merged into it.

    合并: a merged need's requester follows the target, so replies and callbacks about the
    target reach them too. Merges can chain (A into B, B into C); all levels are followed.
    """
    requesters: list[Requester] = [need.requester] if need.requester else []
    seen = {need.pk}
    frontier = [need.pk]
    while frontier:
        merged = list(
            Need.objects.filter(merged_into_id__in=frontier)
            .exclude(pk__in=seen)
            .select_related("requester")
        )
        seen.update(n.pk for n in merged)
        frontier = [n.pk for n in merged]
        requesters.extend(n.requester for n in merged if n.requester)
    unique: dict[int, Requester] = {r.pk: r for r in requesters}
    return list(unique.values())
