"""我的工作台: what is waiting for this user, as counts and short lists (DESIGN §2, issue 3).

Everything is read through `need_queryset_for_user`, so a need out of the user's scope is never
counted or listed. One conditional-aggregate query gives every count; each short list shown is
one more query (none when its count is 0), so the page asks a fixed number of queries however
many needs there are.

The sections' definitions match the ledger's filters (`status`, `overdue`, `due_soon`,
`supervised`, `extension_pending`, `unit`), so a card's count is what its ledger link lists.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count, F, Q, QuerySet
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from wenxu.accounts.models import Membership, User
from wenxu.needs import deadlines, states
from wenxu.needs.models import Need, ReopenRequest
from wenxu.needs.selectors import narrow_scope_q, need_queryset_for_user
from wenxu.needs.states import DISPATCHER, HANDLER, LEADER, OFFICER, Status
from wenxu.organisations.models import Unit

LIST_LENGTH = 5

# What a role looks at first, in its own order; a user with several roles sees the union, the
# roles that act on needs first (dispatcher, handler, officer), then the leader's overview.
ROLE_ORDER = (DISPATCHER, HANDLER, OFFICER, LEADER)
PRIMARY: dict[str, tuple[str, ...]] = {
    DISPATCHER: ("to_assign", "overdue", "due_soon", "extension_pending", "supervised"),
    HANDLER: ("to_accept", "in_progress", "due_soon", "overdue", "supervised"),
    OFFICER: ("to_callback", "following", "mine"),
    LEADER: ("overdue", "supervised"),
}
# Also counted, as small links under the cards, without a list.
SECONDARY: dict[str, tuple[str, ...]] = {
    DISPATCHER: ("to_accept", "in_progress", "to_callback", "following"),
    HANDLER: ("following",),
    OFFICER: (),
    LEADER: ("due_soon", "in_progress"),
}


@dataclass(frozen=True)
class SectionDef:
    key: str
    label: Promise
    hint: Promise
    tone: str  # Bootstrap colour name for the card
    ledger: tuple[tuple[str, str], ...] | None  # the ledger's filter; None: no ledger filter
    order: tuple[Any, ...]


SECTIONS: dict[str, SectionDef] = {
    d.key: d
    for d in (
        SectionDef(
            "to_assign",
            _("待交办"),
            _("已登记，等待交办给责任单位"),
            "primary",
            (("status", Status.REGISTERED),),
            ("registered_at", "id"),  # longest waiting first
        ),
        SectionDef(
            "to_accept",
            _("待签收"),
            _("已交办，等待责任单位签收"),
            "primary",
            (("status", Status.ASSIGNED),),
            (F("response_due").asc(nulls_last=True), "id"),
        ),
        SectionDef(
            "in_progress",
            _("办理中"),
            _("已签收，正在办理"),
            "primary",
            (("status", Status.IN_PROGRESS),),
            (F("resolve_due").asc(nulls_last=True), "id"),
        ),
        SectionDef(
            "due_soon",
            _("临期"),
            _("办结时限将至"),
            "warning",
            (("due_soon", "true"),),
            ("resolve_due", "id"),
        ),
        SectionDef(
            "overdue",
            _("超期"),
            _("已过办结时限仍未答复"),
            "danger",
            (("overdue", "true"),),
            ("resolve_due", "id"),  # longest overdue first
        ),
        SectionDef(
            "extension_pending",
            _("延期待批"),
            _("承办单位申请延期，等待审批"),
            "warning",
            (("extension_pending", "true"),),
            (F("resolve_due").asc(nulls_last=True), "id"),
        ),
        SectionDef(
            "supervised",
            _("督办"),
            _("督办中、尚未办结"),
            "danger",
            (("supervised", "true"),),
            (F("resolve_due").asc(nulls_last=True), "id"),
        ),
        SectionDef(
            "to_callback",
            _("待回访"),
            _("已答复，等待回访群众"),
            "success",
            (("status", Status.REPLIED),),
            ("replied_at", "id"),  # the callback window runs out first for these
        ),
        SectionDef(
            "following",
            _("跟进中"),
            _("承诺事项，等待兑现"),
            "info",
            (("status", Status.FOLLOWING),),
            (F("followup_date").asc(nulls_last=True), "id"),
        ),
        SectionDef(
            "mine",
            _("我最近登记的"),
            _("我登记的诉求"),
            "secondary",
            None,
            ("-registered_at", "-id"),
        ),
    )
}


@dataclass(frozen=True)
class Section:
    key: str
    label: Promise
    hint: Promise
    tone: str
    count: int
    needs: Sequence[Need]  # the first LIST_LENGTH, empty for sections shown as counts only
    ledger_params: tuple[tuple[str, str], ...] | None
    primary: bool


@dataclass(frozen=True)
class Workbench:
    roles: frozenset[str]
    memberships: Sequence[Membership]
    sections: Sequence[Section]  # display order: primary first
    total: int
    active: int
    by_status: Sequence[tuple[str, Promise, int]]
    show_status_counts: bool
    # 群众重办申请 waiting for a decision (dispatchers only; None for the other roles).
    reopen_pending: int | None = None

    @property
    def has_scope(self) -> bool:
        return bool(self.memberships)

    @property
    def primary(self) -> list[Section]:
        return [s for s in self.sections if s.primary]

    @property
    def has_lists(self) -> bool:
        return any(s.needs for s in self.sections)

    @property
    def secondary(self) -> list[Section]:
        return [s for s in self.sections if not s.primary]


def _section_keys(roles: frozenset[str]) -> tuple[list[str], list[str]]:
    primary: list[str] = []
    for role in ROLE_ORDER:
        if role in roles:
            primary += [k for k in PRIMARY[role] if k not in primary]
    secondary: list[str] = []
    for role in ROLE_ORDER:
        if role in roles:
            secondary += [k for k in SECONDARY[role] if k not in primary and k not in secondary]
    return primary, secondary


def _filters(
    *,
    user: User,
    roles: frozenset[str],
    memberships: Sequence[Membership],
    now: datetime,
    keys: Sequence[str],
) -> dict[str, Q]:
    running = Q(status__in=states.ACTIVE, replied_at__isnull=True)
    to_accept = Q(status=Status.ASSIGNED)
    if DISPATCHER not in roles:
        # A handler signs for the needs their unit leads; a co unit does not sign.
        # A subquery, not a join: a join in an aggregate's filter would drop unassigned needs
        # from every count.
        units = Q(id__isnull=True)  # matches nothing
        for m in memberships:
            if m.role == HANDLER and m.unit is not None:
                units |= Q(lead_unit__in=Unit.objects.filter(path__startswith=m.unit.path))
        to_accept &= units
    return {
        "to_assign": Q(status=Status.REGISTERED),
        "to_accept": to_accept,
        "in_progress": Q(status=Status.IN_PROGRESS),
        # The rules cost a query: read them only for a page that shows 临期.
        "due_soon": running
        & Q(resolve_due__gte=now)
        & deadlines.RuleBook().within_lead_time_q(now=now)
        if "due_soon" in keys
        else Q(),
        "overdue": running & Q(resolve_due__lt=now),
        "extension_pending": Q(status__in=states.ACTIVE, extension_pending_days__isnull=False),
        "supervised": Q(status__in=states.ACTIVE, supervised=True),
        "to_callback": Q(status=Status.REPLIED),
        "following": Q(status=Status.FOLLOWING),
        "mine": Q(recorded_by=user),
    }


def _short_list(qs: QuerySet[Need], definition: SectionDef, where: Q) -> list[Need]:
    return list(
        qs.filter(where)
        .select_related("area", "lead_unit")
        .order_by(*definition.order)[:LIST_LENGTH]
    )


def workbench_for_user(*, user: User, now: datetime) -> Workbench:
    memberships = list(
        Membership.objects.filter(user=user).select_related("area", "unit").order_by("role", "id")
    )
    roles = frozenset(m.role for m in memberships)
    primary_keys, secondary_keys = _section_keys(roles)
    keys = primary_keys + secondary_keys
    filters = _filters(user=user, roles=roles, memberships=memberships, now=now, keys=keys)
    scoped = need_queryset_for_user(user=user)
    if not any(m.unit_id for m in memberships):
        narrow = narrow_scope_q(user)
        if narrow is not None:
            # The same needs, with the viewer's areas written out: the planner reads them
            # through the area index instead of testing the scope on every need of the city
            # (an officer's workbench at 1 M needs: 850 → 70 ms). Not for unit scopes: a busy
            # unit's needs, co-handled ones included, are read faster by one pass over the
            # table than through their indexes.
            scoped = scoped.filter(narrow.q)

    aggregates: dict[str, Any] = {
        f"section_{key}": Count("id", filter=filters[key]) for key in keys
    }
    aggregates |= {
        f"status_{value}": Count("id", filter=Q(status=value)) for value in Status.values
    }
    if DISPATCHER in roles:
        # In the same aggregate: a subquery, so the count costs no query of its own.
        pending = ReopenRequest.objects.filter(
            state=ReopenRequest.State.PENDING, need__status__in=(Status.FOLLOWING, Status.CLOSED)
        ).values("need_id")
        aggregates["reopen_pending"] = Count("id", filter=Q(id__in=pending))
    counts = scoped.aggregate(**aggregates)

    sections: list[Section] = []
    for key in keys:
        definition = SECTIONS[key]
        count = counts[f"section_{key}"]
        is_primary = key in primary_keys
        needs = _short_list(scoped, definition, filters[key]) if is_primary and count else []
        ledger = definition.ledger
        if ledger is not None and key == "to_accept" and DISPATCHER not in roles:
            units = [m.unit for m in memberships if m.role == HANDLER and m.unit is not None]
            if len(units) == 1:
                ledger = (*ledger, ("unit", str(units[0].pk)))
        sections.append(
            Section(
                key=key,
                label=definition.label,
                hint=definition.hint,
                tone=definition.tone,
                count=count,
                needs=needs,
                ledger_params=ledger,
                primary=is_primary,
            )
        )

    by_status = [(value, label, counts[f"status_{value}"]) for value, label in Status.choices]
    return Workbench(
        roles=roles,
        memberships=memberships,
        sections=sections,
        total=sum(n for _v, _l, n in by_status),
        active=sum(n for value, _l, n in by_status if value in states.ACTIVE),
        by_status=by_status,
        show_status_counts=LEADER in roles,
        reopen_pending=counts.get("reopen_pending"),
    )
