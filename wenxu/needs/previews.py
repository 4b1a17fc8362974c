"""What an action form shows before it is submitted: read-only, nothing is stored.

- `deadline_preview`: the deadlines an assignment made now would set (the same rule lookup and
  working-day calendar `services.need_assign` uses; the service computes them again when it runs).
- `merge_candidates`: the active needs in the user's scope a need could be merged into.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from wenxu.accounts.models import User
from wenxu.lib import clock
from wenxu.needs import deadlines, selectors, states
from wenxu.needs.models import DurationUnit, Need


@dataclass(frozen=True)
class DeadlinePreview:
    at: datetime
    response_due: datetime
    response_rule: str  # "1 个工作日", "2 小时"
    resolve_due: datetime
    resolve_rule: str
    provisional: bool


def _duration(value: int, unit: str) -> str:
    if unit == DurationUnit.HOURS:
        return ngettext("%(n)d 小时", "%(n)d 小时", value) % {"n": value}
    return ngettext("%(n)d 个工作日", "%(n)d 个工作日", value) % {"n": value}


def deadline_preview(need: Need, *, at: datetime | None = None) -> DeadlinePreview:
    """The response and resolution deadlines if `need` were assigned at `at` (default: now)."""
    now = at or clock.now()
    rule = deadlines.rule_for_need(need)
    calendar = deadlines.current_calendar()
    response_due, p1 = deadlines.due_after(now, rule.response_value, rule.response_unit, calendar)
    resolve_due, p2 = deadlines.due_after(now, rule.resolve_value, rule.resolve_unit, calendar)
    return DeadlinePreview(
        at=now,
        response_due=response_due,
        response_rule=_duration(rule.response_value, rule.response_unit),
        resolve_due=resolve_due,
        resolve_rule=_duration(rule.resolve_value, rule.resolve_unit),
        provisional=p1 or p2,
    )


def merge_candidates(*, user: User, need: Need, q: str, limit: int = 8) -> list[Need]:
    """Active needs in the user's scope, other than `need`, matching a ledger number or words.

    Through the scoping selector: a need the user cannot see is never suggested.
    """
    text = (q or "").replace("\x00", "").strip()[:100]  # no NUL: PostgreSQL refuses it
    if not text:
        return []
    lookup = selectors.text_lookup(text)
    qs = (
        selectors.need_queryset_for_user(user=user)
        .filter(status__in=states.ACTIVE)
        .exclude(pk=need.pk)
        .filter(
            Q(**{f"number__{lookup}": text})
            | Q(tracking_code__iexact=text)
            | Q(**{f"title__{lookup}": text})
            | Q(**{f"address__{lookup}": text})
        )
        .select_related("area")
        .only("number", "title", "status", "registered_at", "area__name")
        .order_by("-id")
    )
    return list(qs[:limit])


def no_candidates_message(q: str) -> str:
    return _("范围内没有与“%(q)s”匹配的办理中诉求。") % {"q": q.strip()[:100]}
