"""Places (住户 / 企业 / 公共场所) per grid: who may keep them, the scoped reads the place pages
show, and hand entry.

Officers and dispatchers keep the places of the areas their memberships cover; leaders and
admins read them; handlers of units see none (their scope is a unit, not an area).

The import from Excel or CSV is in `wenxu.visits.place_import`.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, IntegerField, Max, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from wenxu.accounts.models import Role, User
from wenxu.accounts.selectors import roles_over_area, scopes_for_user
from wenxu.needs.exceptions import InvalidInput, NotPermitted, StaleVersion
from wenxu.needs.models import Need
from wenxu.needs.selectors import need_queryset_for_user
from wenxu.organisations.models import Area, under_q
from wenxu.visits.models import Place, Visit
from wenxu.visits.selectors import (
    place_get_for_user,
    place_queryset_for_user,
    visit_queryset_for_user,
)

EDIT_ROLES = frozenset({Role.OFFICER, Role.DISPATCHER})

HOUSEHOLD_VISITS_SHOWN = 200
CLOSED_STATUSES = ("closed", "withdrawn", "merged")


# --- who may do what -----------------------------------------------------------------------


def edit_area_paths(user: User) -> list[str]:
    """The area subtrees in which the user keeps places (officer or dispatcher scopes)."""
    if not user.is_active:
        return []
    return sorted(
        {s.area_path for s in scopes_for_user(user) if s.area_path and s.role in EDIT_ROLES}
    )


def may_edit_places(user: User, area: Area | None = None) -> bool:
    if not user.is_active:
        return False
    if area is None:
        return bool(edit_area_paths(user))
    return bool(roles_over_area(user, area.path) & EDIT_ROLES)


def editable_areas(*, user: User) -> QuerySet[Area]:
    return Area.objects.filter(under_q(edit_area_paths(user))).order_by("path")


def require_place_editor(actor: User) -> None:
    if not may_edit_places(actor):
        raise NotPermitted(_("只有走访干部、网格员或调度人员可以维护走访对象。"))


# --- hand entry ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PlaceValues:
    area: Area
    kind: str
    name: str
    address: str = ""
    contact_name: str = ""
    contact_phone: str = ""
    members: int | None = None
    note: str = ""
    active: bool = True


def _validation_errors(error: ValidationError) -> dict[str, list[str]]:
    if hasattr(error, "error_dict"):
        return {
            ("name" if key == "__all__" else key): [str(m) for m in messages]
            for key, messages in error.message_dict.items()
        }
    return {"name": [str(m) for m in error.messages]}


def _save(place: Place) -> Place:
    try:
        place.full_clean()
    except ValidationError as error:
        raise InvalidInput(_validation_errors(error)) from error
    try:
        with transaction.atomic():
            place.save()
    except IntegrityError as error:  # a twin saved meanwhile
        raise InvalidInput({"name": [_("该网格已有同名的走访对象。")]}) from error
    return place


def _apply(place: Place, values: PlaceValues) -> None:
    place.area = values.area
    place.kind = values.kind
    place.name = values.name.strip()
    place.address = values.address.strip()
    place.contact_name = values.contact_name.strip()
    place.contact_phone = values.contact_phone.strip()
    place.members = values.members
    place.note = values.note.strip()
    place.active = values.active


def place_create(*, actor: User, values: PlaceValues) -> Place:
    require_place_editor(actor)
    if not may_edit_places(actor, values.area):
        raise InvalidInput({"area": [_("该网格不在您可维护的范围内。")]})
    place = Place()
    _apply(place, values)
    return _save(place)


def place_update(
    *, actor: User, place: Place, values: PlaceValues, expected_updated_at: datetime | None = None
) -> Place:
    """Changes a place. `expected_updated_at` (what the form showed) refuses a stale edit."""
    require_place_editor(actor)
    if not may_edit_places(actor, place.area):
        raise NotPermitted(_("该走访对象不在您可维护的范围内。"))
    if not may_edit_places(actor, values.area):
        raise InvalidInput({"area": [_("该网格不在您可维护的范围内。")]})
    with transaction.atomic():
        current = Place.objects.select_for_update().get(pk=place.pk)
        if expected_updated_at is not None and current.updated_at != expected_updated_at:
            raise StaleVersion()
        _apply(current, values)
        return _save(current)


# --- reads for the place pages -------------------------------------------------------------


@dataclass(frozen=True)
class PlaceFilters:
    area: Area | None = None
    kind: str = ""
    active: bool | None = True
    q: str = ""


# The place list's order: by grid (tree order), then name; the id makes it total (keyset).
PLACE_ORDER = ("area__path", "name", "pk")


def place_list_for_user(*, user: User, filters: PlaceFilters) -> QuerySet[Place]:
    """Places in scope, filtered, in `PLACE_ORDER`; `place_rows` adds what a row shows."""
    qs = place_queryset_for_user(user=user)
    if filters.area is not None:
        qs = qs.filter(area__path__startswith=filters.area.path)
    if filters.kind:
        qs = qs.filter(kind=filters.kind)
    if filters.active is not None:
        qs = qs.filter(active=filters.active)
    if filters.q:
        qs = qs.filter(Q(name__icontains=filters.q) | Q(address__icontains=filters.q))
    return qs.order_by(*PLACE_ORDER)


def place_rows(chosen: QuerySet[Any], *, user: User) -> QuerySet[Place]:
    """The places whose ids `chosen` gives, with their area, `visit_count` and `last_visit`
    (of the visits the viewer sees), in `PLACE_ORDER`: the visits are counted for these places
    only."""
    visits = visit_queryset_for_user(user=user).filter(place=OuterRef("pk")).order_by()
    return (
        Place.objects.filter(pk__in=chosen)
        .select_related("area")
        .annotate(
            visit_count=Coalesce(
                Subquery(
                    visits.values("place").annotate(n=Count("pk")).values("n")[:1],
                    output_field=IntegerField(),
                ),
                Value(0),
            ),
            last_visit=Subquery(
                visits.values("place").annotate(last=Max("started_at")).values("last")[:1]
            ),
        )
        .order_by(*PLACE_ORDER)
    )


@dataclass
class HouseholdVisit:
    visit: Visit
    needs: list[Need] = field(default_factory=list)


@dataclass
class Household:
    place: Place
    visits: list[HouseholdVisit]
    visit_count: int  # all of the place's visits the viewer sees, listed or not
    need_count: int
    open_need_count: int
    truncated: bool
    shown_limit: int = HOUSEHOLD_VISITS_SHOWN


def household_for_user(*, user: User, pk: int) -> Household:
    """A place with its latest visits (newest first, at most `HOUSEHOLD_VISITS_SHOWN`) and the
    needs they raised that the viewer sees; the counts cover all of the place's visits."""
    place = place_get_for_user(user=user, pk=pk)
    limit = HOUSEHOLD_VISITS_SHOWN
    place_visits = visit_queryset_for_user(user=user).filter(place=place)
    visits = list(
        place_visits.select_related("area")
        .prefetch_related("officers")
        .order_by("-started_at", "-pk")[: limit + 1]
    )
    truncated = len(visits) > limit
    visits = visits[:limit]
    rows = {visit.pk: HouseholdVisit(visit) for visit in visits}
    needs = list(
        need_queryset_for_user(user=user)
        .filter(visit_id__in=list(rows))
        .only("id", "number", "title", "status", "handling", "source", "visit_id", "registered_at")
        .order_by("-registered_at", "-pk")
    )
    for need in needs:
        assert need.visit_id is not None
        rows[need.visit_id].needs.append(need)
    if truncated:  # the counts cannot come from the rows listed
        visit_count = place_visits.count()
        place_needs = need_queryset_for_user(user=user).filter(visit__in=place_visits.values("pk"))
        totals = place_needs.aggregate(
            all=Count("pk"), open=Count("pk", filter=~Q(status__in=CLOSED_STATUSES))
        )
        need_count, open_need_count = totals["all"], totals["open"]
    else:
        visit_count = len(visits)
        need_count = len(needs)
        open_need_count = sum(1 for need in needs if need.status not in CLOSED_STATUSES)
    return Household(
        place=place,
        visits=list(rows.values()),
        visit_count=visit_count,
        need_count=need_count,
        open_need_count=open_need_count,
        truncated=truncated,
        shown_limit=limit,
    )
