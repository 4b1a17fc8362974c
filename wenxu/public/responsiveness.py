"""回音墙: what the public board shows, and how units' responsiveness is counted fairly.

Two parts:

- `wall_page`: closed needs that were resolved (the callback said resolved or partly, or a
  promise was fulfilled) and whose requesters agreed to be shown, anonymised by `scrub`. Not
  shown: unsatisfied verdicts, needs whose resident asked for a reopening (pending or
  declined: the case is disputed), and confidential requesters.
- `unit_responsiveness`: per unit, over the same window, the replies, the median time from
  assignment to reply and the on-time share. The share counts every need whose reply was due
  or done (DESIGN §5): replied in the window, or past its deadline in the window and still
  unreplied (late). Units with fewer than `MIN_REPLIES` such needs are listed apart,
  unranked; the others are ranked by the Wilson lower bound of their on-time share, so that
  a unit with one fast case cannot top units with many mostly timely ones, and a unit sitting
  on overdue cases cannot keep a high share.

Everything is computed with a fixed number of queries, aggregated in SQL.
"""

import math
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.core.paginator import Page, Paginator
from django.db.models import (
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    Q,
    QuerySet,
    Window,
)
from django.db.models.functions import RowNumber
from django.utils import timezone
from django.utils.translation import gettext as _

from wenxu.lib import clock
from wenxu.needs.models import Need, NeedEvent, ReopenRequest
from wenxu.needs.states import CallbackResolved, Satisfaction, Status
from wenxu.organisations.models import Area

WINDOW_DAYS = 90
MIN_REPLIES = 5
PER_PAGE = 20
# 95 % confidence: the on-time share a unit can claim with that confidence from its record.
WILSON_Z = 1.96

# --------------------------------------------------------------------------- scrubbing

NAME_MASK = "***"
PHONE_MASK = "***********"
ID_MASK = "******************"
EMAIL_MASK = "***@***"
NUMBER_MASK = "WX-****-******"

# Digits as people type them: ASCII or full-width (Python's \d matches both).
_D = r"\d"
_SEP = r"[\s\-－—]?"
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+\s*[@＠]\s*[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")
_ID = re.compile(rf"(?<!{_D}){_D}{{17}}[{_D}Xx]|(?<!{_D}){_D}{{15}}(?!{_D})")
_MOBILE = re.compile(
    rf"(?<!{_D})(?:(?:\+|00|＋)?[8８][6６]{_SEP})?[1１]{_D}{{2}}{_SEP}{_D}{{4}}{_SEP}{_D}{{4}}(?!{_D})"
)
# Any other run of seven or more digits, however split by spaces or dashes ("13812 345678",
# "0571 8888 6666"): over-masking a long number is preferred to leaking one.
_DIGIT_RUN = re.compile(rf"(?<!{_D}){_D}(?:[ \t\u3000\-－—]{{0,3}}{_D}){{6,}}(?!{_D})")
_LANDLINE = re.compile(
    rf"(?<!{_D})(?:[(（]?[0０]{_D}{{2,3}}[)）]?{_SEP})?{_D}{{7,8}}(?:[-－转]{_D}{{1,6}})?(?!{_D})"
)
_LEDGER = re.compile(r"WX-\d{4}-\d{6}", re.IGNORECASE)


def scrub(text: str, *, names: Iterable[str] = (), secrets: Iterable[str] = ()) -> str:
    """`text` with personal data masked: the given names, e-mail addresses, ID numbers,
    mobile and landline numbers, ledger numbers, and any other given strings (tracking codes,
    addresses) replaced by stars. Over-masking a long number is preferred to leaking one.

    Given strings go before the number rules (an address's long house number would otherwise
    be starred first and the address no longer found), and match however they are spaced."""
    out = text or ""
    out = _EMAIL.sub(EMAIL_MASK, out)
    out = _ID.sub(ID_MASK, out)
    for secret in sorted({"".join(s.split()) for s in secrets if s}, key=len)[::-1]:
        if len(secret) >= 4:
            out = _spaced(secret).sub("****", out)
    for pattern in _name_patterns(names):
        out = pattern.sub(NAME_MASK, out)
    out = _MOBILE.sub(PHONE_MASK, out)
    out = _LANDLINE.sub(PHONE_MASK, out)
    out = _DIGIT_RUN.sub(PHONE_MASK, out)
    out = _LEDGER.sub(NUMBER_MASK, out)
    return out


def _spaced(text: str) -> re.Pattern[str]:
    """`text` (without spaces) matched with any spacing between its characters, any case."""
    return re.compile(r"\s*".join(re.escape(char) for char in text), re.IGNORECASE)


_LATIN = re.compile(r"[A-Za-z]")


def _name_patterns(names: Iterable[str]) -> list[re.Pattern[str]]:
    """Patterns for the names, longest first so that a full name goes before its parts.

    Chinese names: the name and, from three characters, the given name alone (张三丰 → 三丰),
    however spaced. Latin names ("John Smith"): the whole name with any spacing and each part
    of two letters or more as a word, in any case."""
    variants: dict[str, re.Pattern[str]] = {}
    for raw in names:
        parts = (raw or "").split()
        if not parts:
            continue
        if _LATIN.search(raw):
            whole = r"\s*".join(re.escape(part) for part in parts)
            variants[" ".join(parts)] = re.compile(
                rf"(?<![A-Za-z]){whole}(?![A-Za-z])", re.IGNORECASE
            )
            for part in parts:
                if len(part) >= 2:
                    variants.setdefault(
                        part,
                        re.compile(rf"(?<![A-Za-z]){re.escape(part)}(?![A-Za-z])", re.IGNORECASE),
                    )
            continue
        name = "".join(parts)
        if len(name) >= 2:
            variants[name] = _spaced(name)
        if len(name) >= 3:
            variants.setdefault(name[1:], _spaced(name[1:]))
    return [variants[key] for key in sorted(variants, key=len, reverse=True)]


# --------------------------------------------------------------------------- the wall


@dataclass(frozen=True)
class WallEntry:
    category: str
    place: str
    unit: str
    closed_on: date
    description: str
    reply: str
    outcome: str


UNSATISFIED = (Satisfaction.DISSATISFIED, Satisfaction.VERY_DISSATISFIED)


def _since() -> datetime:
    return clock.now() - timedelta(days=WINDOW_DAYS)


def wall_queryset() -> QuerySet[Need]:
    """Resolved needs shown on the wall: closed in the window, consented, with a verdict of
    resolved (or partly) or a fulfilled promise; newest first. A disputed case is no success:
    unsatisfied verdicts and needs with a reopen request pending or declined are left out, and
    so are confidential requesters."""
    disputed = ReopenRequest.objects.filter(
        state__in=[ReopenRequest.State.PENDING, ReopenRequest.State.DECLINED]
    ).values("need_id")
    return (
        Need.objects.filter(status=Status.CLOSED, public_consent=True, closed_at__gte=_since())
        .filter(
            Q(callback_resolved__in=[CallbackResolved.YES, CallbackResolved.PARTLY])
            | Q(fulfilled_at__isnull=False)
        )
        .exclude(callback_satisfaction__in=UNSATISFIED)
        .exclude(pk__in=disputed)
        .exclude(requester__confidential=True)
        .order_by("-closed_at", "-id")
    )


def _place(area: Area) -> str:
    """The village (community) name: a grid is shown as the village it belongs to."""
    if area.level == Area.Level.GRID and area.parent is not None:
        return str(area.parent)  # Area's str is its name
    return area.name


def wall_page(page_number: str | None) -> Page[WallEntry]:
    """One page of the wall (count, page and the staff names to scrub: three queries)."""
    queryset = wall_queryset().select_related("category", "area__parent", "lead_unit", "requester")
    paginator: Paginator[Need] = Paginator(queryset, PER_PAGE)
    page = paginator.get_page(page_number)
    needs: list[Need] = list(page.object_list)
    staff = _staff_names([n.pk for n in needs])
    entries = [_entry(need, staff.get(need.pk, ())) for need in needs]
    page.object_list = entries  # type: ignore[assignment]
    return page  # type: ignore[return-value]


def _staff_names(need_ids: Sequence[int]) -> dict[int, list[str]]:
    """The names of everyone who acted on these needs: a reply may name its writer."""
    if not need_ids:
        return {}
    rows = (
        NeedEvent.objects.filter(need_id__in=need_ids, actor__isnull=False)
        .values_list("need_id", "actor__display_name")
        .distinct()
    )
    names: dict[int, list[str]] = defaultdict(list)
    for need_id, display_name in rows:
        if display_name:
            names[need_id].append(display_name)
    return names


def _entry(need: Need, staff: Iterable[str]) -> WallEntry:
    person = need.requester
    names = [*staff]
    secrets = [need.tracking_code, need.number]
    if person is not None:
        names.append(person.name)
        secrets += [person.address, person.phone, person.id_number]
    return WallEntry(
        category=need.category.name if need.category else "",
        place=_place(need.area),
        unit=str(need.lead_unit) if need.lead_unit else "",
        closed_on=timezone.localdate(need.closed_at) if need.closed_at else clock.today(),
        description=scrub(need.description, names=names, secrets=secrets),
        reply=scrub(need.reply_text, names=names, secrets=secrets),
        outcome=(
            _("承诺事项已办成")
            if need.fulfilled_at
            else (_("已解决") if need.callback_resolved == CallbackResolved.YES else _("部分解决"))
        ),
    )


# --------------------------------------------------------------------------- responsiveness


@dataclass(frozen=True)
class UnitMeasure:
    unit_id: int
    unit: str
    cases: int  # needs whose reply was due or done: replied, or overdue and unreplied
    replies: int
    on_time: int
    median: timedelta | None
    score: float  # the Wilson lower bound of the on-time share; orders the ranking

    @property
    def overdue(self) -> int:
        """Needs past their deadline and still without a reply (counted as late)."""
        return self.cases - self.replies

    @property
    def on_time_share(self) -> float:
        return self.on_time / self.cases if self.cases else 0.0

    @property
    def median_label(self) -> str:
        return duration_label(self.median)


@dataclass(frozen=True)
class Responsiveness:
    ranked: list[UnitMeasure]
    few: list[UnitMeasure]  # fewer than MIN_REPLIES cases: listed, not ranked
    min_replies: int
    days: int


def wilson_lower_bound(successes: int, total: int, z: float = WILSON_Z) -> float:
    """The lower end of the Wilson score interval for successes / total (0 when total is 0)."""
    if total <= 0:
        return 0.0
    p = successes / total
    z2 = z * z
    centre = p + z2 / (2 * total)
    margin = z * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total))
    return (centre - margin) / (1 + z2 / total)


def duration_label(value: timedelta | None) -> str:
    if value is None:
        return "—"
    hours = value.total_seconds() / 3600
    if hours < 1:
        return _("%(minutes)d 分钟") % {"minutes": value.total_seconds() // 60}
    if hours < 48:
        return _("%(hours)s 小时") % {"hours": f"{hours:.1f}".removesuffix(".0")}
    return _("%(days)s 天") % {"days": f"{hours / 24:.1f}".removesuffix(".0")}


def _replies() -> QuerySet[Need]:
    """Replies by a unit in the window: assigned needs replied since `_since()`."""
    return Need.objects.filter(
        replied_at__gte=_since(), lead_unit__isnull=False, assigned_at__isnull=False
    )


def _overdue() -> Q:
    """Assigned needs still without a reply whose deadline fell in the window and has passed:
    a reply was due, so they count, as late."""
    return Q(
        replied_at__isnull=True,
        resolve_due__gte=_since(),
        resolve_due__lt=clock.now(),
        status__in=[Status.ASSIGNED, Status.IN_PROGRESS],
    )


def _due_or_done() -> QuerySet[Need]:
    """The denominator of the on-time share (DESIGN §5): needs whose reply is due or done."""
    return Need.objects.filter(lead_unit__isnull=False, assigned_at__isnull=False).filter(
        Q(replied_at__gte=_since()) | _overdue()
    )


def _medians() -> dict[int, timedelta]:
    """Per unit, the median of (reply − assignment): one query keeping only the middle one or
    two rows of each unit (row number against count, both window functions)."""
    took = ExpressionWrapper(F("replied_at") - F("assigned_at"), output_field=DurationField())
    rows = (
        _replies()
        .annotate(
            took=took,
            position=Window(RowNumber(), partition_by=[F("lead_unit")], order_by=[took.asc()]),
            count=Window(Count("id"), partition_by=[F("lead_unit")]),
        )
        .filter(position__gte=(F("count") + 1) / 2, position__lte=(F("count") + 2) / 2)
        .values_list("lead_unit_id", "took")
    )
    middles: dict[int, list[timedelta]] = defaultdict(list)
    for unit_id, value in rows:
        middles[unit_id].append(value)
    return {unit_id: sum(values, timedelta()) / len(values) for unit_id, values in middles.items()}


def unit_responsiveness() -> Responsiveness:
    """Each unit's public responsiveness over the last WINDOW_DAYS days (two queries)."""
    counts = (
        _due_or_done()
        .values("lead_unit_id", "lead_unit__name", "lead_unit__short_name")
        .annotate(
            cases=Count("id"),
            replies=Count("id", filter=Q(replied_at__isnull=False)),
            on_time=Count(
                "id",
                filter=Q(resolve_due__isnull=False, replied_at__lte=F("resolve_due")),
            ),
        )
        .order_by()
    )
    medians = _medians()
    measures = [
        UnitMeasure(
            unit_id=row["lead_unit_id"],
            unit=row["lead_unit__short_name"] or row["lead_unit__name"],
            cases=row["cases"],
            replies=row["replies"],
            on_time=row["on_time"],
            median=medians.get(row["lead_unit_id"]),
            score=wilson_lower_bound(row["on_time"], row["cases"]),
        )
        for row in counts
    ]
    ranked = sorted(
        (m for m in measures if m.cases >= MIN_REPLIES),
        key=lambda m: (-m.score, m.median or timedelta.max, m.unit),
    )
    few = sorted((m for m in measures if m.cases < MIN_REPLIES), key=lambda m: (-m.cases, m.unit))
    return Responsiveness(ranked=ranked, few=few, min_replies=MIN_REPLIES, days=WINDOW_DAYS)


__all__ = [
    "MIN_REPLIES",
    "WINDOW_DAYS",
    "Responsiveness",
    "UnitMeasure",
    "WallEntry",
    "duration_label",
    "scrub",
    "unit_responsiveness",
    "wall_page",
    "wall_queryset",
    "wilson_lower_bound",
]
