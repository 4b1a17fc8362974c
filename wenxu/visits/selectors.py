"""Every read of visits and places goes through here, scoped to the viewer (DESIGN §2).

A user sees a visit when its area (or its place's area) lies in one of their area scopes
(officer, dispatcher, leader, admin), or they recorded it, or they went on it. Places follow
their area the same way.
Handlers of units see no visits: a visit is the area's record, not the unit's; the needs it
raised reach them through the ledger.
"""

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet

from wenxu.accounts.models import AREA_ROLES, User
from wenxu.accounts.selectors import scopes_for_user
from wenxu.needs.exceptions import NotFound
from wenxu.needs.models import Need
from wenxu.needs.selectors import need_queryset_for_user
from wenxu.organisations.models import Area, under_q
from wenxu.visits.models import Place, Visit


def area_paths_for_user(user: User) -> list[str]:
    """The area subtrees the user reads visits and places in."""
    return sorted(
        {s.area_path for s in scopes_for_user(user) if s.area_path and s.role in AREA_ROLES}
    )


def visit_queryset_for_user(*, user: User) -> QuerySet[Visit]:
    if not user.is_active:
        return Visit.objects.none()
    went = Visit.officers.through.objects.filter(visit_id=OuterRef("pk"), user_id=user.pk)
    paths = area_paths_for_user(user)
    # Where a visit happened is its area or, when it was at a place, the place's area (coverage
    # counts it there): either puts it in the scope of that area's people.
    q = under_q(paths, "area") | under_q(paths, "place__area")
    q |= Q(recorded_by=user) | Q(Exists(went))
    return Visit.objects.filter(q)


def visit_get_for_user(*, user: User, pk: int) -> Visit:
    """One visit with what its detail page and the API show; NotFound when out of scope."""
    visit = (
        visit_queryset_for_user(user=user)
        .filter(pk=pk)
        .select_related("area", "place", "place__area", "recorded_by")
        .prefetch_related("officers", "photos")
        .first()
    )
    if visit is None:
        raise NotFound()
    return visit


def visit_needs_for_user(*, user: User, visit: Visit) -> list[Need]:
    """The needs the visit raised, as the viewer may see them (all of them, for the recorder)."""
    return list(
        need_queryset_for_user(user=user)
        .filter(visit=visit)
        .select_related("area", "category", "lead_unit", "requester")
        .order_by("id")
    )


def visits_with_needs(qs: QuerySet[Visit]) -> QuerySet[Visit]:
    return qs.select_related("area", "place", "recorded_by").prefetch_related(
        Prefetch(
            "needs",
            queryset=Need.objects.only(
                "id", "visit_id", "number", "title", "status", "handling", "source"
            ).order_by("id"),
        )
    )


def place_queryset_for_user(*, user: User) -> QuerySet[Place]:
    if not user.is_active:
        return Place.objects.none()
    return Place.objects.filter(under_q(area_paths_for_user(user), "area"))


def place_get_for_user(*, user: User, pk: int) -> Place:
    place = place_queryset_for_user(user=user).filter(pk=pk).select_related("area").first()
    if place is None:
        raise NotFound()
    return place


def areas_for_user(*, user: User) -> QuerySet[Area]:
    """The areas the user reads visits in (each scope's whole subtree), tree order."""
    return Area.objects.filter(under_q(area_paths_for_user(user))).order_by("path")
