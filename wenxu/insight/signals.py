"""Early signals (未诉先办, issue #7): needs of one category in one area rising against their
baseline, found once a day from the rollups, so officers can go and look before more residents
have to complain.

What is compared (docs/insight.md says the same for users):

- Areas: townships (乡镇街道) and villages / communities (村社区). Grids are too small for
  counts to mean much, the county is the hot-topics page's business. A need counts for every
  area above it, so a village's rise shows in its township too; a township signal is left out
  when village signals of the same category and period hold most (VILLAGE_SHARE) of its needs.
- Categories: the second level of the category tree (CATEGORY_DEPTH), e.g. 城乡建设 → 供水: a
  leaf splits one problem into small counts (停水 / 水压低 / 水质), a top-level class is too wide
  to send anyone to look at. A need filed under a top-level category counts for that category.
- Period: the last WENXU_SIGNALS_DAYS complete local days (Asia/Shanghai), sliding: detection
  runs once a day. Recent baseline: the mean count of the same-length periods in the previous
  WENXU_SIGNALS_BASELINE_WEEKS weeks (fewer while the system is young; below
  MIN_BASELINE_PERIODS periods of history nothing is flagged). Same season last year: the period
  364 days earlier (same weekdays) and its two neighbours, when the rollups reach back that far.
- Expected count = the largest of: the baseline floored at FLOOR (so a first case in a quiet
  place is no signal); the baseline times last year's seasonal factor (last year's season ÷ last
  year's baseline, never below 1); last year's season itself. A rise that happens every year
  (heating in November) is therefore expected and not flagged unless clearly bigger than last
  year's.
- Flag when count ≥ WENXU_SIGNALS_MIN_COUNT and the Poisson upper tail P(X ≥ count | expected)
  < ALPHA; score = −log10 of that tail, ratio = count ÷ expected.
- One signal per area × category while its period overlaps an earlier signal's: a rise lasting
  three weeks gives a signal a week, not one a day.
"""

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import IntegerField, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce, Length, Substr
from django.utils import timezone
from django.utils.translation import gettext as _
from scipy.stats import poisson

from wenxu.accounts.models import Role, User
from wenxu.accounts.selectors import scopes_for_user, user_roles
from wenxu.insight.models import DailyCount, RollupCursor, Signal
from wenxu.insight.rollups import LAG
from wenxu.lib import clock
from wenxu.needs.exceptions import InvalidInput, NotPermitted, StaleVersion
from wenxu.needs.models import Category, NeedEvent
from wenxu.organisations.models import PATH_WIDTH, Area, under_q
from wenxu.visits.models import PlanKind, PlanPeriod, VisitPlan
from wenxu.visits.plans import PlanInput, may_edit_plans, plan_create

ALPHA = 0.01
FLOOR = 1.0
CATEGORY_DEPTH = 1
AREA_LEVELS: tuple[str, ...] = (Area.Level.TOWNSHIP, Area.Level.VILLAGE)
MIN_BASELINE_PERIODS = 2
VILLAGE_SHARE = 2 / 3
LAST_YEAR_DAYS = 364
HISTORY_PERIODS = 12
MARKER = "signals"
VIEW_ROLES = frozenset({Role.LEADER, Role.DISPATCHER, Role.ADMIN})
TASK_DAYS = 14
MAX_SCORE = 99.0


def _path_length(depth: int) -> int:
    """Length of a tree path at `depth` ("/" + one "<id>/" per level)."""
    return 1 + (PATH_WIDTH + 1) * (depth + 1)


# --------------------------------------------------------------------------- the statistics


@dataclass(frozen=True)
class Assessment:
    expected: float
    tail: float  # P(X ≥ count) for a Poisson count with mean `expected`
    score: float  # −log10(tail)
    ratio: float  # count ÷ expected


def assess(
    *,
    count: int,
    baseline: float,
    last_year: Sequence[int] | None = None,
    last_year_baseline: float | None = None,
) -> Assessment:
    """How surprising `count` is, given the recent baseline (mean per period) and, when known,
    last year's counts around the same period (previous, same, next) and last year's baseline."""
    expected = max(FLOOR, baseline)
    if last_year:
        season = float(max(last_year))
        if last_year_baseline is not None:
            factor = max(1.0, (season + 1.0) / (last_year_baseline + 1.0))
            expected *= factor
        expected = max(expected, season)
    log_tail = float(poisson.logsf(count - 1, expected)) if count > 0 else 0.0
    # Capped: a tail below 1e-99 is "certain" for anyone reading it, and stays a finite float.
    score = min(MAX_SCORE, max(0.0, -log_tail / math.log(10)))
    return Assessment(
        expected=expected,
        tail=math.exp(log_tail),
        score=score,
        ratio=count / expected,
    )


# --------------------------------------------------------------------------- the windows


@dataclass(frozen=True)
class Span:
    start: date
    end: date  # inclusive

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def q(self) -> Q:
        return Q(day__gte=self.start, day__lte=self.end)


@dataclass(frozen=True)
class Windows:
    period: Span
    baseline: Span
    baseline_periods: int
    # Last year, when the rollups reach back far enough: the three periods around the same
    # season, and the baseline before them.
    last_year: tuple[Span, Span, Span] | None
    last_year_baseline: Span | None
    last_year_baseline_periods: int


def windows(*, today: date, data_since: date) -> Windows | None:
    """The periods compared on `today`, or None while there is too little history."""
    days = settings.WENXU_SIGNALS_DAYS
    wanted = max(1, settings.WENXU_SIGNALS_BASELINE_WEEKS * 7 // days)
    end = today - timedelta(days=1)
    start = end - timedelta(days=days - 1)
    periods = min(wanted, (start - data_since).days // days)
    if periods < MIN_BASELINE_PERIODS:
        return None
    period = Span(start, end)
    baseline = Span(start - timedelta(days=periods * days), start - timedelta(days=1))
    shift = timedelta(days=LAST_YEAR_DAYS)
    step = timedelta(days=days)
    same = Span(start - shift, end - shift)
    before = Span(same.start - step, same.end - step)
    if data_since > before.start:
        return Windows(period, baseline, periods, None, None, 0)
    after = Span(same.start + step, same.end + step)
    ly_periods = min(wanted, (same.start - data_since).days // days)
    ly_baseline = Span(same.start - timedelta(days=ly_periods * days), same.start - timedelta(1))
    return Windows(period, baseline, periods, (before, same, after), ly_baseline, ly_periods)


# --------------------------------------------------------------------------- detection


@dataclass(frozen=True)
class Candidate:
    area_path: str
    category_path: str
    count: int
    baseline: float
    last_year: tuple[int, int, int] | None
    last_year_baseline: float | None


def _sum(span: Span) -> Coalesce:
    return Coalesce(Sum("registered", filter=span.q()), Value(0), output_field=IntegerField())


def candidates(win: Windows, depth: int) -> list[Candidate]:
    """Area × category pairs at area depth `depth` with at least MIN_COUNT needs in the period,
    and their history: one GROUP BY over the rollups."""
    area_len = _path_length(depth)
    spans = [win.baseline, win.period]
    sums: dict[str, Coalesce] = {"base": _sum(win.baseline)}
    if win.last_year is not None and win.last_year_baseline is not None:
        for name, span in zip(("ly_before", "ly_same", "ly_after"), win.last_year, strict=True):
            sums[name] = _sum(span)
            spans.append(span)
        sums["ly_base"] = _sum(win.last_year_baseline)
        spans.append(win.last_year_baseline)
    days = Q(pk__in=[])
    for span in spans:
        days |= span.q()
    rows = (
        DailyCount.objects.filter(days, registered__gt=0, category__isnull=False)
        .annotate(path_len=Length("area_path"))
        .filter(path_len__gte=area_len)
        .annotate(
            ap=Substr("area_path", 1, area_len),
            cp=Substr("category__path", 1, _path_length(CATEGORY_DEPTH)),
        )
        .values("ap", "cp")
        .annotate(n=_sum(win.period))
        .filter(n__gte=settings.WENXU_SIGNALS_MIN_COUNT)
        .annotate(**sums)
        .order_by()
    )
    found = []
    for row in rows:
        last_year = None
        ly_base = None
        if "ly_same" in row:
            last_year = (row["ly_before"], row["ly_same"], row["ly_after"])
            ly_base = row["ly_base"] / win.last_year_baseline_periods
        found.append(
            Candidate(
                area_path=row["ap"],
                category_path=row["cp"],
                count=row["n"],
                baseline=row["base"] / win.baseline_periods,
                last_year=last_year,
                last_year_baseline=ly_base,
            )
        )
    return found


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def rollups_ready(until: datetime) -> bool:
    """The rollups hold every event before `until`: the cursor moved past it (with the settle
    lag) and no unread event older than it waits behind the cursor."""
    cursor = RollupCursor.objects.filter(name="main").first()
    if cursor is None or cursor.updated_at is None or cursor.updated_at - LAG < until:
        return False
    return not NeedEvent.objects.filter(pk__gt=cursor.last_event_id, created_at__lt=until).exists()


def _done_on(day: date) -> bool:
    marker = RollupCursor.objects.filter(name=MARKER).only("updated_at").first()
    return bool(marker and marker.updated_at and timezone.localdate(marker.updated_at) >= day)


def _first_day() -> date | None:
    day: date | None = (
        DailyCount.objects.filter(registered__gt=0)
        .order_by("day")
        .values_list("day", flat=True)
        .first()
    )
    return day


def signals_detect(*, at: datetime | None = None) -> int:
    """Find today's signals (once per local day, after the rollups have caught up with
    yesterday); returns how many new signals were stored."""
    moment = at or clock.now()
    today = timezone.localdate(moment)
    if _done_on(today) or not rollups_ready(_day_start(today)):
        return 0
    RollupCursor.objects.get_or_create(name=MARKER)
    with transaction.atomic():
        marker = RollupCursor.objects.select_for_update().get(name=MARKER)
        if marker.updated_at and timezone.localdate(marker.updated_at) >= today:
            return 0  # another worker did it meanwhile
        created = _detect(today)
        marker.updated_at = moment
        marker.save(update_fields=["updated_at"])
    return created


def _detect(today: date) -> int:
    since = _first_day()
    win = windows(today=today, data_since=since) if since else None
    if win is None:
        return 0
    depths = sorted(set(Area.objects.filter(level__in=AREA_LEVELS).values_list("depth", flat=True)))
    found = [c for depth in depths for c in candidates(win, depth)]
    if not found:
        return 0
    areas = {
        a.path: a
        for a in Area.objects.filter(
            path__in={c.area_path for c in found}, level__in=AREA_LEVELS
        ).only("pk", "path", "level", "name")
    }
    categories = {
        c.path: c
        for c in Category.objects.filter(path__in={c.category_path for c in found}).only(
            "pk", "path"
        )
    }
    flagged: list[tuple[Candidate, Area, Category, Assessment]] = []
    for cand in found:
        area = areas.get(cand.area_path)
        category = categories.get(cand.category_path)
        if area is None or category is None:
            continue
        result = assess(
            count=cand.count,
            baseline=cand.baseline,
            last_year=cand.last_year,
            last_year_baseline=cand.last_year_baseline,
        )
        if result.tail < ALPHA:
            flagged.append((cand, area, category, result))
    flagged = _without_covered_townships(flagged)
    recent = set(
        Signal.objects.filter(period_end__gte=win.period.start).values_list(
            "area_id", "category_id"
        )
    )
    new = [
        Signal(
            key=f"{area.pk}|{category.pk}|{win.period.start:%Y%m%d}-{win.period.end:%Y%m%d}",
            area=area,
            category=category,
            period_start=win.period.start,
            period_end=win.period.end,
            count=cand.count,
            baseline=round(cand.baseline, 3),
            last_year=cand.last_year[1] if cand.last_year else None,
            ratio=round(result.ratio, 3),
            score=round(result.score, 3),
        )
        for cand, area, category, result in flagged
        if (area.pk, category.pk) not in recent
    ]
    Signal.objects.bulk_create(new)
    return len(new)


def _without_covered_townships(
    flagged: list[tuple[Candidate, Area, Category, Assessment]],
) -> list[tuple[Candidate, Area, Category, Assessment]]:
    """Drop a township's signal when its villages' signals of the same category hold most of
    its needs: the rise is theirs, and one visit task is enough."""
    villages = [
        (area.path, category.pk, cand.count)
        for cand, area, category, _result in flagged
        if area.level == Area.Level.VILLAGE
    ]
    kept = []
    for item in flagged:
        cand, area, category, _result = item
        if area.level == Area.Level.TOWNSHIP:
            inside = sum(
                n for path, cat, n in villages if cat == category.pk and path.startswith(area.path)
            )
            if inside >= VILLAGE_SHARE * cand.count:
                continue
        kept.append(item)
    return kept


# --------------------------------------------------------------------------- reading


def viewer_area_paths(user: User) -> list[str]:
    return [s.area_path for s in scopes_for_user(user) if s.area_path and s.role in VIEW_ROLES]


def may_view_signals(user: User) -> bool:
    return user.is_active and bool(user_roles(user) & VIEW_ROLES)


def signals_for_user(user: User) -> "QuerySet[Signal]":
    """The signals whose area lies in one of the user's area scopes (as leader, dispatcher or
    admin); none for anyone else."""
    if not may_view_signals(user):
        return Signal.objects.none()
    return Signal.objects.filter(under_q(viewer_area_paths(user), "area")).select_related(
        "area", "area__parent", "category", "decided_by", "visit_plan"
    )


@dataclass(frozen=True)
class Bar:
    start: date
    end: date
    count: int
    current: bool


def histories(signals: Iterable[Signal], periods: int = HISTORY_PERIODS) -> dict[int, list[Bar]]:
    """Each signal's counts in its `periods` same-length periods up to its own (oldest first),
    in one aggregate query over the rollups."""
    spans: dict[int, list[Span]] = {}
    sums: dict[str, Coalesce] = {}
    where = Q(pk__in=[])
    for signal in signals:
        length = (signal.period_end - signal.period_start).days + 1
        own = [
            Span(
                signal.period_start - timedelta(days=length * back),
                signal.period_end - timedelta(days=length * back),
            )
            for back in range(periods - 1, -1, -1)
        ]
        spans[signal.pk] = own
        place = Q(area_path__startswith=signal.area.path)
        if signal.category is not None:
            place &= Q(category__path__startswith=signal.category.path)
        # else the category was deleted (SET NULL): the pages say 全部类别, so count them all.
        where |= place & Q(day__gte=own[0].start, day__lte=own[-1].end)
        for index, span in enumerate(own):
            sums[f"s{signal.pk}_{index}"] = Coalesce(
                Sum("registered", filter=place & span.q()),
                Value(0),
                output_field=IntegerField(),
            )
    if not sums:
        return {}
    totals: dict[str, Any] = DailyCount.objects.filter(where).aggregate(**sums)
    return {
        pk: [
            Bar(span.start, span.end, int(totals[f"s{pk}_{i}"] or 0), i == len(own) - 1)
            for i, span in enumerate(own)
        ]
        for pk, own in spans.items()
    }


# --------------------------------------------------------------------------- actions


def _handled(signal: Signal) -> StaleVersion:
    who = ""
    if signal.decided_by is not None:
        who = signal.decided_by.display_name or signal.decided_by.username
    return StaleVersion(
        _("该预警已由%(who)s处理（%(state)s），未作任何修改。")
        % {"who": who or _("他人"), "state": signal.get_state_display()}
    )


def _locked(actor: User, signal: Signal) -> Signal:
    locked = (
        Signal.objects.select_for_update(of=("self",))
        .select_related("area", "category", "decided_by")
        .get(pk=signal.pk)
    )
    if not may_edit_plans(actor, locked.area):
        raise NotPermitted(_("只有该区域的调度人员可以处理预警。"))
    if locked.state != Signal.State.NEW:
        raise _handled(locked)
    return locked


def default_plan_name(signal: Signal) -> str:
    category = signal.category.name if signal.category else ""
    return _("未诉先办：%(area)s%(category)s诉求上升") % {
        "area": signal.area.name,
        "category": category,
    }


@transaction.atomic
def signal_task(
    *,
    actor: User,
    signal: Signal,
    target: int = 1,
    starts_on: date | None = None,
    ends_on: date | None = None,
    name: str = "",
) -> VisitPlan:
    """安排走访: a visit plan (N visits) for the officers of the signal's area; the signal
    becomes tasked with the plan linked."""
    locked = _locked(actor, signal)
    starts = starts_on or clock.today()
    plan = plan_create(
        actor=actor,
        data=PlanInput(
            name=(name.strip() or default_plan_name(locked))[:100],
            kind=PlanKind.COUNT,
            period=PlanPeriod.MONTH,
            area=locked.area,
            starts_on=starts,
            ends_on=ends_on or starts + timedelta(days=TASK_DAYS),
            target=target,
        ),
    )
    locked.state = Signal.State.TASKED
    locked.visit_plan = plan
    locked.decided_by = actor
    locked.decided_at = clock.now()
    locked.save(update_fields=["state", "visit_plan", "decided_by", "decided_at"])
    return plan


@transaction.atomic
def signal_dismiss(*, actor: User, signal: Signal, note: str) -> Signal:
    """忽略: with the reason, which stays on the signal."""
    text = note.strip()
    locked = _locked(actor, signal)
    if not text:
        raise InvalidInput({"note": [_("请填写忽略的理由。")]})
    locked.state = Signal.State.DISMISSED
    locked.note = text
    locked.decided_by = actor
    locked.decided_at = clock.now()
    locked.save(update_fields=["state", "note", "decided_by", "decided_at"])
    return locked
