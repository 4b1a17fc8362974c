"""Deadlines: the working-day calendar with the admin's overrides, and the deadline rules.

Due dates are computed once, when a need is assigned (or an extension approved, or the need
reopened), and stored with the calendar version they were computed with; they are never
recomputed silently when the calendar changes later.
"""

import hashlib
import time as time_module
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from importlib.metadata import version as package_version

from django.db.models import Q
from django.utils import timezone

from wenxu.core import generation
from wenxu.lib.workdays import WorkCalendar
from wenxu.needs.models import (
    Category,
    DeadlineRule,
    DurationUnit,
    HolidayOverride,
    Need,
    Urgency,
)
from wenxu.needs.states import ACTIVE as ACTIVE_STATUSES

END_OF_DAY = time(23, 59, 59)


def current_calendar() -> WorkCalendar:
    overrides = dict(HolidayOverride.objects.values_list("date", "is_workday"))
    digest = hashlib.sha1(  # noqa: S324 - a version label, not security
        repr(sorted(overrides.items())).encode()
    ).hexdigest()[:8]
    return WorkCalendar(
        overrides=overrides,
        notice_years=frozenset(day.year for day in overrides),
        version=f"holidays-{package_version('holidays')}+{digest if overrides else 'none'}",
    )


@dataclass(frozen=True)
class RuleValues:
    response_value: int
    response_unit: str
    resolve_value: int
    resolve_unit: str
    remind_before_hours: int = 24
    max_extensions: int = 1
    max_extension_days: int = 10


# Shipped defaults (DESIGN §4); an admin overrides them with DeadlineRule rows.
DEFAULT_RULES: dict[str, RuleValues] = {
    Urgency.URGENT: RuleValues(2, DurationUnit.HOURS, 24, DurationUnit.HOURS, 4, 1, 3),
    Urgency.NORMAL: RuleValues(1, DurationUnit.WORKDAYS, 5, DurationUnit.WORKDAYS, 24, 1, 10),
    Urgency.COMPLEX: RuleValues(1, DurationUnit.WORKDAYS, 15, DurationUnit.WORKDAYS, 48, 1, 15),
}


def rule_for(*, category: Category | None, urgency: str) -> RuleValues:
    """The most specific rule: the category, then its ancestors, then all categories. One
    query reads the candidates (the category's line and the rule for all categories)."""
    ancestors = category.ancestors_and_self_ids() if category else []
    line = Q(category_id__in=ancestors) if ancestors else Q(pk__in=[])
    # One rule per category and urgency, and one for all categories (the model's constraints).
    rules = {
        rule.category_id: rule
        for rule in DeadlineRule.objects.filter(line | Q(category__isnull=True), urgency=urgency)
    }
    for category_id in [*reversed(ancestors), None]:
        if category_id in rules:
            return _values(rules[category_id])
    return DEFAULT_RULES[urgency]


def rule_for_need(need: Need) -> RuleValues:
    """`rule_for` the need's category and urgency, remembered on this need object (a need's
    page asks for it several times: the actions offered, the forms) and, in a request, kept
    between requests under the configuration generation (ADR 0026). Services read the rule
    afresh."""
    key = (need.category_id, need.urgency)
    remembered: tuple[tuple[int | None, str], RuleValues] | None = getattr(
        need, "_wenxu_rule", None
    )
    if remembered is None or remembered[0] != key:
        rule = generation.remember(
            "deadline_rule", key, lambda: rule_for(category=need.category, urgency=need.urgency)
        )
        remembered = (key, rule)
        need._wenxu_rule = remembered  # type: ignore[attr-defined]
    return remembered[1]


def _values(rule: DeadlineRule) -> RuleValues:
    return RuleValues(
        response_value=rule.response_value,
        response_unit=rule.response_unit,
        resolve_value=rule.resolve_value,
        resolve_unit=rule.resolve_unit,
        remind_before_hours=rule.remind_before_hours,
        max_extensions=rule.max_extensions,
        max_extension_days=rule.max_extension_days,
    )


class RuleBook:
    """Every rule's reminder lead time in memory (one query), for pages and sweeps that look at
    many needs: the same answer as `rule_for(...).remind_before_hours`, without a query per need.
    """

    def __init__(self) -> None:
        self.rules: dict[tuple[int | None, str], int] = {}
        self._category_paths: dict[int, str] = {}
        for rule in DeadlineRule.objects.select_related("category"):
            self.rules[(rule.category_id, rule.urgency)] = rule.remind_before_hours
            if rule.category is not None:
                self._category_paths[rule.category.pk] = rule.category.path

    def remind_hours(self, need: Need) -> int:
        ids = need.category.ancestors_and_self_ids() if need.category else []
        for category_id in [*reversed(ids), None]:
            hours = self.rules.get((category_id, need.urgency))
            if hours is not None:
                return hours
        return DEFAULT_RULES[need.urgency].remind_before_hours

    def within_lead_time_q(self, *, now: datetime) -> Q:
        """Needs whose `resolve_due` is no later than `now` plus their own lead time.

        `remind_hours` as one filter: per urgency, the rules of categories deepest first (a need
        takes the rule of its nearest ruled ancestor), then the rule for all categories, then
        the shipped default. Callers add "not yet due" and "still running" themselves.
        """
        q = Q()
        for urgency in Urgency.values:
            ruled = sorted(
                (
                    (self._category_paths[category_id], hours)
                    for (category_id, rule_urgency), hours in self.rules.items()
                    if category_id is not None and rule_urgency == urgency
                ),
                key=lambda item: -len(item[0]),
            )
            general = self.rules.get((None, urgency))
            if general is None:
                general = DEFAULT_RULES[urgency].remind_before_hours
            taken: Q | None = None  # the needs a deeper rule already decided
            for path, hours in ruled:
                under = Q(category__in=Category.objects.filter(path__startswith=path))
                rule_q = Q(urgency=urgency, resolve_due__lte=now + timedelta(hours=hours)) & under
                q |= rule_q if taken is None else rule_q & ~taken
                taken = under if taken is None else taken | under
            general_q = Q(urgency=urgency, resolve_due__lte=now + timedelta(hours=general))
            q |= general_q if taken is None else general_q & ~taken
        return q


def end_of_local_day(day: date) -> datetime:
    # The site's zone (Asia/Shanghai), not whatever zone a request may have activated: a
    # deadline is the same for everyone who looks at it.
    return timezone.make_aware(datetime.combine(day, END_OF_DAY), timezone.get_default_timezone())


def due_after(
    start: datetime, value: int, unit: str, calendar: WorkCalendar
) -> tuple[datetime, bool]:
    """The due moment `value` hours or working days after `start`, and whether it is provisional.

    Working days count from the local (Asia/Shanghai, the site's default zone, whatever zone is
    active) date of `start`, which itself is excluded; the deadline is the end of the last
    working day.
    """
    if unit == DurationUnit.HOURS:
        return start + timedelta(hours=value), False
    local_start = timezone.localdate(start, timezone.get_default_timezone())
    due_day = calendar.add_workdays(local_start, value)
    return end_of_local_day(due_day), calendar.span_is_provisional(local_start, due_day)


def extend_due(due: datetime, days: int, calendar: WorkCalendar) -> tuple[datetime, bool]:
    return due_after(due, days, DurationUnit.WORKDAYS, calendar)


_cached: tuple[float, WorkCalendar] | None = None


def cached_calendar(max_age: float = 60.0) -> WorkCalendar:
    """`current_calendar()` reused for up to `max_age` seconds: for display (badges on list
    pages), never for storing a deadline."""
    global _cached
    now = time_module.monotonic()
    if _cached is None or now - _cached[0] > max_age:
        _cached = (now, current_calendar())
    return _cached[1]


@dataclass(frozen=True)
class DeadlineStatus:
    """How a need stands against its resolution deadline, for people."""

    kind: str  # none | stopped | ok | soon | today | overdue
    label: str
    css: str


def deadline_status(need: Need, *, now: datetime, calendar: WorkCalendar) -> DeadlineStatus:
    from django.utils.translation import gettext as _
    from django.utils.translation import ngettext

    if need.resolve_due is None or need.status not in ACTIVE_STATUSES:
        return DeadlineStatus("none", "", "")
    if need.replied_at is not None:
        return DeadlineStatus("stopped", _("已答复"), "text-bg-light border")
    today = timezone.localdate(now)
    due_day = timezone.localdate(need.resolve_due)
    if need.resolve_due < now:
        days = (today - due_day).days
        if days == 0:
            return DeadlineStatus("overdue", _("今日已超期"), "text-bg-danger")
        label = ngettext("已超期 %(n)d 天", "已超期 %(n)d 天", days) % {"n": days}
        return DeadlineStatus("overdue", label, "text-bg-danger")
    if due_day == today:
        return DeadlineStatus("today", _("今日到期"), "text-bg-warning")
    left = calendar.workdays_between(today, due_day)
    label = ngettext("剩余 %(n)d 个工作日", "剩余 %(n)d 个工作日", left) % {"n": left}
    return DeadlineStatus(
        "soon" if left <= 1 else "ok", label, "text-bg-warning" if left <= 1 else "text-bg-success"
    )
