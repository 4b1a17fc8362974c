"""Visit plans (走访计划): written by dispatchers (and admins) over the plan's area.

Officers and leaders read plans through the coverage pages; only a dispatcher or an admin whose
area scope holds the plan's area may create or change one (for a change: over both the old and
the new area). A coverage plan counts places, so its target and visit kind are cleared; a count
plan counts visits, so its place kind is cleared.
"""

from dataclasses import dataclass
from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from wenxu.accounts.models import AREA_ROLES, Membership, Role, User
from wenxu.accounts.selectors import roles_over_area, user_roles
from wenxu.needs.exceptions import InvalidInput, NotPermitted
from wenxu.organisations.models import Area
from wenxu.visits.models import PlanKind, VisitPlan

PLAN_EDITORS = frozenset({Role.DISPATCHER, Role.ADMIN})


@dataclass(frozen=True)
class PlanInput:
    name: str
    kind: str
    period: str
    area: Area
    starts_on: date
    ends_on: date | None = None
    place_kind: str = ""
    visit_kind: str = ""
    target: int | None = None
    officer: User | None = None
    active: bool = True


def may_edit_plans(user: User, area: Area | None = None) -> bool:
    """A dispatcher or admin (over `area` when given)."""
    if not user.is_active:
        return False
    roles = user_roles(user) if area is None else roles_over_area(user, area.path)
    return bool(roles & PLAN_EDITORS)


def _officer_fits(officer: User, area: Area) -> bool:
    """The officer works in the plan's area: an area role whose subtree holds the area or lies
    inside it."""
    paths = Membership.objects.filter(
        user=officer, role__in=AREA_ROLES, area__isnull=False
    ).values_list("area__path", flat=True)
    return any(area.path.startswith(p) or p.startswith(area.path) for p in paths)


def _apply(plan: VisitPlan, data: PlanInput) -> None:
    plan.name = data.name.strip()
    plan.kind = data.kind
    plan.period = data.period
    plan.area = data.area
    plan.starts_on = data.starts_on
    plan.ends_on = data.ends_on
    plan.officer = data.officer
    plan.active = data.active
    if data.kind == PlanKind.COVERAGE:
        plan.place_kind, plan.visit_kind, plan.target = data.place_kind, "", None
    else:
        plan.place_kind, plan.visit_kind, plan.target = "", data.visit_kind, data.target


def _check(actor: User, plan: VisitPlan, data: PlanInput) -> None:
    if not may_edit_plans(actor, data.area):
        raise NotPermitted(_("只有该区域的调度人员或管理员可以制定走访计划。"))
    errors: dict[str, list[str]] = {}
    if plan.kind == PlanKind.COUNT and not plan.target:
        # The model's check constraint refuses this too; checking here first gives the form a
        # clear message on the field instead of a constraint's name.
        errors["target"] = [_("走访次数计划请填写每周期次数。")]
    if data.officer is not None and (
        not data.officer.is_active or not _officer_fits(data.officer, data.area)
    ):
        errors["officer"] = [_("责任干部须为在该范围内工作的在职干部。")]
    try:
        plan.full_clean(exclude=["created_by"])
    except ValidationError as exc:
        said = {message for messages in errors.values() for message in messages}
        for name, messages in exc.message_dict.items():
            fresh = [message for message in messages if message not in said]
            if fresh:
                errors.setdefault(name, []).extend(fresh)
    if errors:
        raise InvalidInput(errors)


@transaction.atomic
def plan_create(*, actor: User, data: PlanInput) -> VisitPlan:
    plan = VisitPlan(created_by=actor)
    _apply(plan, data)
    _check(actor, plan, data)
    plan.save()
    return plan


@transaction.atomic
def plan_update(*, actor: User, plan: VisitPlan, data: PlanInput) -> VisitPlan:
    locked = VisitPlan.objects.select_for_update().select_related("area").get(pk=plan.pk)
    if not may_edit_plans(actor, locked.area):
        raise NotPermitted(_("只有该区域的调度人员或管理员可以修改这项走访计划。"))
    _apply(locked, data)
    _check(actor, locked, data)
    locked.save()
    return locked
