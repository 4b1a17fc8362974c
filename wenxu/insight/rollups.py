"""Filling the rollups (`DailyCount`) from the event log and the visits, incrementally.

The worker's sweep calls `rollup_catch_up()` every minute: under a lock on the one cursor row it
reads the events (and visits) after the cursor in id order, adds what each contributes to its
day's row and moves the cursor, all in one transaction, so each event counts exactly once
however many workers sweep. Rows committed out of id order are the hazard of any id cursor: an
event is read only once it is `LAG` old, and a transaction that stays open longer than that
could be skipped; `wenxu rollup_rebuild` recomputes everything from the log.

What each event adds (the need's current area; the category the need had when the event
happened — a 交办 that corrects the category records the old one as `category_from`, so earlier
events stay where the incremental catch-up filed them and a rebuild files them the same way;
the lead unit the event concerned, which every event records):

- register → registered; register_on_the_spot → registered, on_the_spot, and when the resident
  confirmed on the spot a callback (resolved, their satisfaction);
- assign → assigned; accept → accepted, and accepted_on_time when before the response deadline;
- a missed deadline, once: response_overdue (not accepted in time), overdue (not replied by the
  resolution deadline, extended or not), from the sweep's 督办 reminder, or from the late accept
  or reply itself when no sweep marked it first (`missed_unmarked`); so they are the late half of
  each deadline that fell due;
- reply → replies, and replied_on_time when before the (extended) resolution deadline;
- approve_extension → extensions; reopen → reopened;
- callback → callbacks with the verdict (resolved / partly / unresolved and the satisfaction
  level), or unreachable;
- a visit → visits and its mood (民情温度, 1–5) into mood_total on its day and area, and
  households_reached for the first visit of the day to a household.

Whatever a batch adds to the daily rows it adds, in the same transaction, to the scope rollups
(`ScopeCount`, ADR 0023): the same increments summed per scope area, per day, month or year
(`scope_increments`). `scope_counts_rebuild()` derives them from the daily rows instead, for
rows written in bulk (`wenxu generate`).
"""

import time as timer
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import (
    BigIntegerField,
    Case,
    CharField,
    DateField,
    F,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Cast, Concat, Length, Substr
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from wenxu.insight.models import (
    COUNTERS,
    KIND_COUNTERS,
    KIND_GRAINS,
    SCOPE_DEPTH,
    DailyCount,
    RollupCursor,
    ScopeCount,
)
from wenxu.lib import clock
from wenxu.needs import states
from wenxu.needs.models import Need, NeedEvent
from wenxu.needs.states import Action
from wenxu.organisations.models import Unit
from wenxu.visits.models import PlaceKind, Visit

LAG = timedelta(minutes=2)
BATCH = 5000

_SATISFACTION: dict[str, str] = {
    states.Satisfaction.VERY_SATISFIED: "very_satisfied",
    states.Satisfaction.SATISFIED: "satisfied",
    states.Satisfaction.BASIC: "basic_satisfied",
    states.Satisfaction.DISSATISFIED: "dissatisfied",
    states.Satisfaction.VERY_DISSATISFIED: "very_dissatisfied",
}
_RESOLVED: dict[str, str] = {
    states.CallbackResolved.YES: "resolved",
    states.CallbackResolved.PARTLY: "partly_resolved",
    states.CallbackResolved.NO: "unresolved",
}


@dataclass(frozen=True)
class Dims:
    day: date
    area_id: int
    area_path: str
    unit_id: int | None
    unit_path: str
    category_id: int | None

    @property
    def key(self) -> str:
        return f"{self.day:%Y%m%d}|{self.area_id}|{self.unit_id or ''}|{self.category_id or ''}"


def local_day(moment: datetime) -> date:
    return timezone.localtime(moment).date()


def _due(raw: Any) -> datetime | None:
    return parse_datetime(raw) if isinstance(raw, str) else None


def event_counts(event: NeedEvent, need: Need) -> Counter[str]:
    """What one event adds to its day's counters (see the module docstring)."""
    data: dict[str, Any] = event.data or {}
    add: Counter[str] = Counter()
    action = event.action
    if action == Action.REGISTER:
        add["registered"] += 1
    elif action == Action.REGISTER_ON_THE_SPOT:
        add["registered"] += 1
        add["on_the_spot"] += 1
        level = _SATISFACTION.get(data.get("satisfaction") or "")
        if data.get("confirmed") and level:
            add["callbacks"] += 1
            add["resolved"] += 1
            add[level] += 1
    elif action == Action.ASSIGN:
        add["assigned"] += 1
    elif action == Action.ACCEPT:
        add["accepted"] += 1
        on_time = data.get("on_time")
        if on_time is None:  # events written before accept recorded it
            on_time = need.response_due is not None and event.created_at <= need.response_due
        if on_time:
            add["accepted_on_time"] += 1
        elif data.get("missed_unmarked"):  # late, and the sweep had not marked the miss
            add["response_overdue"] += 1
    elif action == Action.REMIND:
        kind = data.get("kind")
        if kind == "response_overdue":
            add["response_overdue"] += 1
        elif kind == "overdue":
            add["overdue"] += 1
    elif action == Action.REPLY:
        add["replies"] += 1
        if data.get("on_time"):
            add["replied_on_time"] += 1
        elif data.get("missed_unmarked"):
            add["overdue"] += 1
    elif action == Action.APPROVE_EXTENSION:
        add["extensions"] += 1
    elif action == Action.REOPEN:
        add["reopened"] += 1
    elif action == Action.CALLBACK:
        if data.get("channel") == states.CallbackChannel.UNREACHABLE:
            add["unreachable"] += 1
        else:
            add["callbacks"] += 1
            verdict = _RESOLVED.get(data.get("resolved") or "")
            if verdict:
                add[verdict] += 1
            level = _SATISFACTION.get(data.get("satisfaction") or "")
            if level:
                add[level] += 1
    return add


class _Batch:
    def __init__(self) -> None:
        self.counts: dict[Dims, Counter[str]] = defaultdict(Counter)
        self._unit_paths: dict[int, str] = {}

    def unit_path(self, unit_id: int | None) -> str:
        if unit_id is None:
            return ""
        if unit_id not in self._unit_paths:
            self._unit_paths.update(Unit.objects.filter(pk__in=[unit_id]).values_list("pk", "path"))
        return self._unit_paths.get(unit_id, "")

    def preload_units(self, unit_ids: Iterable[int]) -> None:
        missing = {u for u in unit_ids if u not in self._unit_paths}
        if missing:
            self._unit_paths.update(Unit.objects.filter(pk__in=missing).values_list("pk", "path"))

    def add(self, dims: Dims, counts: Counter[str]) -> None:
        if counts:
            self.counts[dims].update(counts)

    def write(self) -> int:
        """Add the batch to the stored rows; returns how many rows changed."""
        if not self.counts:
            return 0
        by_key = {dims.key: (dims, counts) for dims, counts in self.counts.items()}
        keys = list(by_key)
        existing: dict[str, DailyCount] = {}
        for start in range(0, len(keys), 500):
            existing.update(
                (row.key, row)
                for row in DailyCount.objects.filter(key__in=keys[start : start + 500])
            )
        new: list[DailyCount] = []
        changed: list[DailyCount] = []
        for key, (dims, counts) in by_key.items():
            row = existing.get(key)
            if row is None:
                row = DailyCount(
                    key=key,
                    day=dims.day,
                    area_id=dims.area_id,
                    area_path=dims.area_path,
                    unit_id=dims.unit_id,
                    unit_path=dims.unit_path,
                    category_id=dims.category_id,
                )
                new.append(row)
            else:
                changed.append(row)
            for name, n in counts.items():
                setattr(row, name, getattr(row, name) + n)
        DailyCount.objects.bulk_create(new, batch_size=500)
        _write_totals(DailyCount, changed, list(COUNTERS))
        scope_counts_add(self.counts)
        return len(new) + len(changed)


# --------------------------------------------------------------------------- scope rollups

_PERIOD_OF: dict[str, Callable[[date], date]] = {
    "d": lambda day: day,
    "m": lambda day: day.replace(day=1),
    "y": lambda day: day.replace(month=1, day=1),
}


def path_ids(path: str) -> list[int]:
    """The ids of the areas a materialised path runs through, from the root."""
    return [int(segment) for segment in path.strip("/").split("/") if segment]


def scope_key(kind: str, grain: str, period: date, area_id: int, member: int | None) -> str:
    return f"{kind}|{grain}|{period.isoformat()}|{area_id}|{'' if member is None else member}"


def scope_increments(
    dims: Dims, counts: Counter[str]
) -> Iterator[tuple[str, dict[str, Any], dict[str, int]]]:
    """What one daily increment adds to the scope rollups: (key, the row's dimensions, the
    counters) for each scope area at depth ≤ SCOPE_DEPTH above or at the counted area, each
    kind whose counters it touches and each grain that kind is kept in."""
    ids = path_ids(dims.area_path)
    for depth, scope in enumerate(ids[: SCOPE_DEPTH + 1]):
        child = ids[depth + 1] if depth + 1 < len(ids) else scope
        members: dict[str, tuple[str, int | None]] = {
            ScopeCount.Kind.TOTAL: ("", None),
            ScopeCount.Kind.CATEGORY: ("category_id", dims.category_id),
            ScopeCount.Kind.AREA: ("place_id", dims.area_id),
            ScopeCount.Kind.CHILD: ("place_id", child),
        }
        if dims.unit_id is not None:
            members[ScopeCount.Kind.UNIT] = ("unit_id", dims.unit_id)
        for kind, (field, member) in members.items():
            touched = {name: counts[name] for name in KIND_COUNTERS[kind] if counts[name]}
            if not touched:
                continue
            for grain in KIND_GRAINS[kind]:
                period = _PERIOD_OF[grain](dims.day)
                row: dict[str, Any] = {
                    "kind": kind,
                    "grain": grain,
                    "period": period,
                    "area_id": scope,
                }
                if field:
                    row[field] = member
                yield scope_key(kind, grain, period, scope, member), row, touched


def scope_counts_add(counts: dict[Dims, Counter[str]]) -> None:
    """Add daily increments to the scope rollups: what every writer of daily rows does in the
    same transaction (the catch-up and the rebuild here; tests that plant daily rows)."""
    adds: dict[str, tuple[dict[str, Any], Counter[str]]] = {}
    for dims, added in counts.items():
        for key, row, touched in scope_increments(dims, added):
            if key not in adds:
                adds[key] = (row, Counter())
            adds[key][1].update(touched)
    keys = list(adds)
    existing: dict[str, ScopeCount] = {}
    for start in range(0, len(keys), 500):
        existing.update(
            (row.key, row) for row in ScopeCount.objects.filter(key__in=keys[start : start + 500])
        )
    new: list[ScopeCount] = []
    changed: dict[str, list[ScopeCount]] = defaultdict(list)
    for key, (columns, added) in adds.items():
        found = existing.get(key)
        if found is None:
            new.append(ScopeCount(key=key, **columns, **added))
            continue
        for name, n in added.items():
            setattr(found, name, getattr(found, name) + n)
        changed[found.kind].append(found)
    ScopeCount.objects.bulk_create(new, batch_size=500)
    for kind, rows in changed.items():
        _write_totals(ScopeCount, rows, list(KIND_COUNTERS[kind]))


def _write_totals(model: Any, rows: list[Any], counters: list[str]) -> None:
    """Store the new totals of rows read under the rollup lock: one INSERT … ON CONFLICT (key)
    DO UPDATE per 500 rows. Django's bulk_update builds a CASE WHEN per row and column, which
    took most of a rebuild's time (55 s of a 2,000-need rebuild on SQLite)."""
    if not rows:
        return
    for row in rows:
        row.pk = None  # the key, not the id, names the row to update
    model.objects.bulk_create(
        rows, batch_size=500, update_conflicts=True, unique_fields=["key"], update_fields=counters
    )


_MEMBER_COLUMN: dict[str, str] = {
    ScopeCount.Kind.UNIT: "unit_id",
    ScopeCount.Kind.CATEGORY: "category_id",
    ScopeCount.Kind.AREA: "place_id",
    ScopeCount.Kind.CHILD: "place_id",
}


def _block_of(day: Any, grain: str) -> Any:
    """The first day of `day`'s block of `grain`, as a date, in SQL on either backend."""
    if grain == "d":
        return day
    text = Cast(day, CharField())  # YYYY-MM-DD on both backends
    first = (
        Concat(Substr(text, 1, 7), Value("-01"))
        if grain == "m"
        else Concat(Substr(text, 1, 4), Value("-01-01"))
    )
    return Cast(first, DateField())


def _insert_grouped(kind: str, grain: str, grouped: "QuerySet[Any]") -> None:
    """INSERT the groups (scope_id, member_id, block, sum_<counter>…) as rows of `kind`."""
    names = KIND_COUNTERS[kind]
    quote = connection.ops.quote_name
    select, params = grouped.query.sql_with_params()
    columns = ["key", "kind", "grain", "period", "area_id", *names]
    values = [
        "%s || CAST(g.block AS text) || '|' || CAST(g.scope_id AS text) || '|' || "
        "COALESCE(CAST(g.member_id AS text), '')",
        "%s",
        "%s",
        "g.block",
        "g.scope_id",
        *(f"g.sum_{name}" for name in names),
    ]
    if kind in _MEMBER_COLUMN:
        columns.append(_MEMBER_COLUMN[kind])
        values.append("g.member_id")
    zeros = [name for name in COUNTERS if name not in names]
    columns += zeros
    values += ["0"] * len(zeros)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(ScopeCount._meta.db_table)} "  # noqa: S608 - our own names
            f"({', '.join(quote(c) for c in columns)}) SELECT {', '.join(values)} "
            f"FROM ({select}) g ORDER BY g.scope_id, g.block",  # read together: stored together
            [f"{kind}|{grain}|", kind, grain, *params],
        )


def scope_counts_rebuild() -> int:
    """Derive every scope rollup from the daily rows, in SQL: for daily rows written in bulk
    (`wenxu generate`). Each kind's finest grain is grouped from the daily rows, once per
    scope depth; its coarser grains from those. Call it in the transaction that wrote the
    daily rows, or with the cursor's row locked (`rollup_rebuild` keeps them by the catch-up's
    increments instead). Returns the number of rows."""
    ScopeCount.objects.all().delete()
    big: BigIntegerField[int, int] = BigIntegerField()
    for kind, grains in KIND_GRAINS.items():
        names = KIND_COUNTERS[kind]
        sums = {f"sum_{name}": Sum(name) for name in names}
        touched = Q()
        for name in names:
            touched |= Q(**{f"{name}__gt": 0})
        finest, *coarser = sorted(grains, key=("d", "m", "y").index)
        for depth in range(SCOPE_DEPTH + 1):
            length = 1 + 11 * (depth + 1)  # "/" and one "<10 digits>/" per level
            scope = Cast(Substr("area_path", 2 + 11 * depth, 10), big)
            members: dict[str, Any] = {
                ScopeCount.Kind.TOTAL: Value(None, output_field=big),
                ScopeCount.Kind.UNIT: F("unit_id"),
                ScopeCount.Kind.CATEGORY: F("category_id"),
                ScopeCount.Kind.AREA: F("area_id"),
                ScopeCount.Kind.CHILD: Case(
                    When(
                        path_length__gt=length,
                        then=Cast(Substr("area_path", 2 + 11 * (depth + 1), 10), big),
                    ),
                    default=scope,
                ),
            }
            member = members[kind]
            rows = DailyCount.objects.annotate(path_length=Length("area_path")).filter(
                touched, path_length__gte=length
            )
            if kind == ScopeCount.Kind.UNIT:
                rows = rows.filter(unit__isnull=False)
            grouped = (
                rows.annotate(scope_id=scope, member_id=member, block=_block_of(F("day"), finest))
                .values("scope_id", "member_id", "block")
                .annotate(**sums)
                .order_by()
            )
            _insert_grouped(kind, finest, grouped)
        member_field = _MEMBER_COLUMN.get(kind)
        for grain in coarser:
            derived = (
                ScopeCount.objects.filter(kind=kind, grain=finest)
                .annotate(
                    scope_id=F("area_id"),
                    member_id=F(member_field) if member_field else Value(None, output_field=big),
                    block=_block_of(F("period"), grain),
                )
                .values("scope_id", "member_id", "block")
                .annotate(**sums)
                .order_by()
            )
            _insert_grouped(kind, grain, derived)
    return ScopeCount.objects.count()


def _event_unit(event: NeedEvent) -> int | None:
    raw = (event.data or {}).get("lead_unit", event.need.lead_unit_id)
    return int(raw) if raw is not None else None


def _categories_at(events: list[NeedEvent]) -> Callable[[NeedEvent], int | None]:
    """The category each event's need had when the event happened: the `category_from` of the
    first later 交办 that changed it, else the need's category now. Read after the events (and
    so after their needs' categories): a change committed in between is seen here and gives the
    same answer as the category read before it."""
    changes: dict[int, list[tuple[int, int | None]]] = defaultdict(list)
    for need_id, pk, data in (
        NeedEvent.objects.filter(
            need_id__in={e.need_id for e in events},
            action=Action.ASSIGN,
            data__has_key="category_from",
        )
        .order_by("pk")
        .values_list("need_id", "pk", "data")
    ):
        changes[need_id].append((pk, data.get("category_from")))

    def category(event: NeedEvent) -> int | None:
        for pk, before in changes.get(event.need_id, ()):
            if pk > event.pk:
                return before
        return event.need.category_id

    return category


def _read_events(
    batch: _Batch, after: int, *, until: datetime | None, limit: int, upto: int | None = None
) -> int:
    """Add events after id `after` (up to id `upto`, older than `until` when given); returns the
    last id read."""
    bounds = {"pk__lte": upto} if upto is not None else {}
    events = list(
        NeedEvent.objects.filter(pk__gt=after, **bounds)
        .select_related("need__area")
        .only(
            "pk",
            "action",
            "data",
            "created_at",
            "need__area__path",
            "need__category_id",
            "need__lead_unit_id",
            "need__response_due",
        )
        .order_by("pk")[:limit]
    )
    last = after
    batch.preload_units(u for e in events if (u := _event_unit(e)) is not None)
    category_at = _categories_at(events)
    for event in events:
        if until is not None and event.created_at >= until:
            break  # not yet settled: read on a later run (see LAG)
        need = event.need
        unit_id = _event_unit(event)
        dims = Dims(
            day=local_day(event.created_at),
            area_id=need.area_id,
            area_path=need.area.path,
            unit_id=unit_id,
            unit_path=batch.unit_path(unit_id),
            category_id=category_at(event),
        )
        batch.add(dims, event_counts(event, need))
        last = event.pk
    return last


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = timezone.make_aware(datetime.combine(day, time.min))
    return start, start + timedelta(days=1)


def _read_visits(
    batch: _Batch, after: int, *, until: datetime | None, limit: int, upto: int | None = None
) -> int:
    bounds = {"pk__lte": upto} if upto is not None else {}
    visits = list(
        Visit.objects.filter(pk__gt=after, **bounds)
        .select_related("area", "place")
        .only("pk", "started_at", "recorded_at", "mood", "area__path", "place__kind", "place_id")
        .order_by("pk")[:limit]
    )
    last = after
    households = [
        v for v in visits if v.place_id and v.place and v.place.kind == PlaceKind.HOUSEHOLD
    ]
    household_ids = {v.pk for v in households}
    earlier: dict[tuple[int, date], int] = {}  # (place, day) → the first visit's id
    if households:
        days = [local_day(v.started_at) for v in households]
        low, _ = _day_bounds(min(days))
        _, high = _day_bounds(max(days))
        for pk, place_id, started in (
            Visit.objects.filter(
                place_id__in={v.place_id for v in households},
                started_at__gte=low,
                started_at__lt=high,
            )
            .order_by("pk")
            .values_list("pk", "place_id", "started_at")
        ):
            earlier.setdefault((place_id, local_day(started)), pk)
    for visit in visits:
        if until is not None and visit.recorded_at >= until:
            break
        day = local_day(visit.started_at)
        counts: Counter[str] = Counter(visits=1, mood_total=visit.mood)
        if (
            visit.place_id is not None
            and visit.pk in household_ids
            and earlier.get((visit.place_id, day)) == visit.pk
        ):
            counts["households_reached"] += 1
        batch.add(
            Dims(
                day=day,
                area_id=visit.area_id,
                area_path=visit.area.path,
                unit_id=None,
                unit_path="",
                category_id=None,
            ),
            counts,
        )
        last = visit.pk
    return last


def _cursor(*, skip_locked: bool = False) -> RollupCursor | None:
    RollupCursor.objects.get_or_create(name="main")
    return (
        RollupCursor.objects.select_for_update(skip_locked=skip_locked).filter(name="main").first()
    )


def rollup_catch_up(
    *, lag: timedelta = LAG, limit: int = BATCH, budget: timedelta = timedelta(seconds=20)
) -> int:
    """Add the settled events and visits after the cursor, batch after batch until none is left
    or `budget` is spent; returns how many events and visits were read. Another worker already
    catching up (the cursor row locked) makes this one return 0 at once (PostgreSQL)."""
    read = 0
    started = timer.monotonic()
    while True:
        with transaction.atomic():
            cursor = _cursor(skip_locked=True)
            if cursor is None:
                return read
            until = clock.now() - lag
            batch = _Batch()
            events_from, visits_from = cursor.last_event_id, cursor.last_visit_id
            cursor.last_event_id = _read_events(batch, events_from, until=until, limit=limit)
            cursor.last_visit_id = _read_visits(batch, visits_from, until=until, limit=limit)
            batch.write()
            cursor.updated_at = clock.now()
            cursor.save(update_fields=["last_event_id", "last_visit_id", "updated_at"])
        events = NeedEvent.objects.filter(pk__gt=events_from, pk__lte=cursor.last_event_id)
        visits = Visit.objects.filter(pk__gt=visits_from, pk__lte=cursor.last_visit_id)
        now_read = events.count() + visits.count()
        read += now_read
        if now_read == 0 or timer.monotonic() - started > budget.total_seconds():
            return read


def rollup_rebuild(*, limit: int = BATCH, lag: timedelta = LAG) -> int:
    """Recompute every row from the event log and the visits, in one transaction (the dashboards
    see the old numbers until it commits), up to what existed and had settled when it began;
    catch-up goes on from there. Returns the number of rows.

    One transaction holding the cursor: fine for a county; at city scale rebuild by day ranges
    (to be done with the scale work)."""
    with transaction.atomic():
        cursor = _cursor()
        assert cursor is not None
        until = clock.now() - lag
        DailyCount.objects.all().delete()
        ScopeCount.objects.all().delete()
        last_event = NeedEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        last_visit = Visit.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        event_at, visit_at = 0, 0
        while True:
            batch = _Batch()
            event_next = _read_events(batch, event_at, until=until, limit=limit, upto=last_event)
            visit_next = _read_visits(batch, visit_at, until=until, limit=limit, upto=last_visit)
            batch.write()
            if (event_next, visit_next) == (event_at, visit_at):
                break
            event_at, visit_at = event_next, visit_next
        cursor.last_event_id, cursor.last_visit_id = event_at, visit_at
        cursor.updated_at = clock.now()
        cursor.save(update_fields=["last_event_id", "last_visit_id", "updated_at"])
        return DailyCount.objects.count()
