"""`generate()`: a whole city and months of its needs, written in bulk in one transaction.

Registration times are drawn first for all needs (hour of day, working day or not, season, a
slow rise), sorted, so that ledger numbers follow registration as the services give them. Needs
are then made in batches of `BATCH` in that order: each need's story is played to the present
(`stories`), the batch's rows are written (`writer`), and the daily rollups the batch completes
are written too. A day's rollup is complete once every need registered before the next batch has
been played, since no later need has events before its own registration; so memory stays flat
whatever the number of needs.

Nothing here calls the services: ADR 0019 says why, and how the invariants they keep are kept.
"""

import hashlib
import json
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from random import Random
from typing import Any, NamedTuple, cast

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from wenxu.accounts.models import User
from wenxu.core.demo_texts import (
    COMPANIONS,
    ELDER_SUFFIX,
    ENTERPRISE_NAMES,
    MOOD_NOTES,
    VISIT_SUMMARIES,
    VISIT_WITH_NEED,
)
from wenxu.core.generate import names
from wenxu.core.generate.lifecycle import Event
from wenxu.core.generate.stories import (
    OFF_HOURS_SOURCES,
    OFFICE_SOURCES,
    P_DUPLICATE,
    P_FIELD_APP,
    VISIT_SIZES,
    Story,
    Storyteller,
    _weighted,
)
from wenxu.core.generate.timing import LOCAL, Clockwork, local_date
from wenxu.core.generate.world import Community, build_world
from wenxu.core.generate.writer import (
    COPIER,
    Table,
    analyze,
    bulk_load,
    next_id,
    reset_sequences,
)
from wenxu.insight.models import COUNTERS, DailyCount, RollupCursor, ScopeCount
from wenxu.insight.rollups import Dims, event_counts, rollup_catch_up, scope_counts_rebuild
from wenxu.lib import clock
from wenxu.lib.ids import TRACKING_ALPHABET, TRACKING_LENGTH, ledger_number
from wenxu.needs import deadlines
from wenxu.needs.models import Category, LedgerCounter, Need, NeedEvent
from wenxu.needs.states import ACTIVE as ACTIVE_STATUSES
from wenxu.needs.states import Action
from wenxu.organisations.models import Area, Unit
from wenxu.residents import pii
from wenxu.residents.models import Requester
from wenxu.visits.models import Visit

BATCH = 5000
DEFAULT_PASSWORD = "wenxu-bench-1"  # noqa: S105 - the benchmarks' published password (ADR 0019)
SETTLED = timedelta(minutes=5)  # nothing happens in the last minutes: the rollups' LAG is 2
MAX_NEEDS = 50_000_000
MAX_MONTHS = 120

# Registration intensity by local hour (the hotline never closes; offices open 8:00–18:00).
HOUR_WEIGHTS = (
    0.15, 0.08, 0.05, 0.04, 0.05, 0.12, 0.3, 0.6, 1.1, 1.5, 1.6, 1.4,
    0.9, 1.0, 1.4, 1.5, 1.4, 1.2, 0.9, 0.8, 0.7, 0.55, 0.4, 0.25,
)  # fmt: skip
OFF_DAY_WEIGHT = 0.55
COUNTER_INDEX = {name: index for index, name in enumerate(COUNTERS)}
_json = json.JSONEncoder().encode  # json.dumps without its per-call set-up


class GenerateRefused(Exception):
    """The database is not one to fill: the message says why and what to do (Chinese)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class Summary:
    areas: int = 0
    units: int = 0
    users: int = 0
    categories: int = 0
    requesters: int = 0
    visits: int = 0
    needs: int = 0
    events: int = 0
    co_unit_links: int = 0
    callbacks: int = 0
    rollup_rows: int = 0
    seconds: float = 0.0
    by_status: dict[str, int] = field(default_factory=dict)


class _EventView(NamedTuple):
    """What `rollups.event_counts` reads of an event."""

    action: str
    data: dict[str, Any]
    created_at: datetime


class _NeedView(NamedTuple):
    response_due: datetime | None


def _refusals(needs: int, months: int) -> str | None:
    if needs < 1 or needs > MAX_NEEDS:
        return _("诉求条数须在 1 到 %(max)d 之间，例如 --needs 100000。") % {"max": MAX_NEEDS}
    if months < 1 or months > MAX_MONTHS:
        return _("月数须在 1 到 %(max)d 之间，例如 --months 12。") % {"max": MAX_MONTHS}
    existing = Need.objects.count()
    if existing:
        return _(
            "数据库中已有 %(n)d 条诉求，未作任何修改。generate 只向空台账生成数据："
            "请为它新建一个数据库（WENXU_DATABASE_URL），迁移（wenxu migrate）后再运行。"
        ) % {"n": existing}
    taken = list(
        User.objects.filter(username__startswith="gen_").values_list("username", flat=True)[:3]
    )
    if taken or Area.objects.filter(name=names.CITY_NAME, parent__isnull=True).exists():
        return _(
            "数据库中已有生成的城市“%(city)s”或其账号（%(users)s），未作任何修改。"
            "请为 generate 新建一个数据库后再运行。"
        ) % {"city": names.CITY_NAME, "users": ", ".join(taken) or "—"}
    return None


def check(*, needs: int, months: int = 12) -> None:
    """Raise `GenerateRefused` when generate() would refuse; changes nothing."""
    problem = _refusals(needs, months)
    if problem:
        raise GenerateRefused(problem)


def generate(
    *,
    needs: int,
    seed: int,
    months: int = 12,
    password: str | None = None,
    progress: Callable[[str], None] | None = None,
    now: datetime | None = None,
) -> Summary:
    """Fill the (empty) ledger with a city and `needs` needs over `months` months to `now`.

    The same `needs`, `seed` and `now` give the same rows (the encrypted phone and ID numbers
    aside: their nonces are random, as the model field makes them). Raises `GenerateRefused`
    (nothing written) when the database already holds needs or a generated city.
    """
    say = progress or (lambda _line: None)
    started = time.monotonic()
    check(needs=needs, months=months)
    moment = now or clock.now()
    if moment.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    moment = moment.astimezone(UTC)
    rollup_catch_up(lag=timedelta(0))  # whatever was there before is counted first
    with transaction.atomic():
        check(needs=needs, months=months)
        run = _Run(
            needs=needs,
            seed=seed,
            months=months,
            password=password or DEFAULT_PASSWORD,
            now=moment,
            say=say,
            started=started,
        )
        try:
            summary = run.execute()
        finally:
            COPIER.drain()  # before the transaction ends, whichever way
    analyze(
        [
            model._meta.db_table
            for model in (
                Area,
                Unit,
                User,
                Requester,
                Visit,
                Need,
                NeedEvent,
                DailyCount,
                ScopeCount,
            )
        ]
        + [Need.co_units.through._meta.db_table]
    )
    summary.seconds = time.monotonic() - started
    return summary


class _Run:
    def __init__(
        self,
        *,
        needs: int,
        seed: int,
        months: int,
        password: str,
        now: datetime,
        say: Callable[[str], None],
        started: float,
    ) -> None:
        self.n = needs
        self.seed = seed
        self.now = now
        self.limit = now - SETTLED
        self.start = now - timedelta(days=round(months * 365.25 / 12))
        self.password = password
        self.say = say
        self.started = started
        self.rng = Random(f"wenxu-generate-needs-{seed}")  # noqa: S311 - made-up data
        self.summary = Summary()
        self.by_status: Counter[str] = Counter()
        self.year_serials: Counter[int] = Counter()
        self.rollups: dict[date, dict[tuple[int, int | None, int | None], list[int]]] = {}
        self.area_paths: dict[int, str] = {}
        self.previous: datetime | None = None

    # ---- the whole run

    def execute(self) -> Summary:
        self.say(
            _("建立城市“%(city)s”：区划网格、责任单位、诉求分类、办理时限和账号……")
            % {"city": names.CITY_NAME}
        )
        world = build_world(seed=self.seed, needs=self.n, now=self.now, password=self.password)
        self.world = world
        for community in world.communities:
            for grid_id, grid_path in community.grids:
                self.area_paths[grid_id] = grid_path
        for key in ("areas", "units", "users", "categories"):
            setattr(self.summary, key, world.counts[key])
        self.say(
            _(
                "城市已建立：%(streets)d 个街道乡镇、%(communities)d 个社区村、"
                "%(units)d 个责任单位、%(users)d 个账号。开始生成 %(n)d 条诉求……"
            )
            % {
                "streets": len(world.streets),
                "communities": len(world.communities),
                "units": world.counts["units"],
                "users": world.counts["users"],
                "n": self.n,
            }
        )
        calendar = deadlines.current_calendar()
        self.clockwork = Clockwork(calendar)
        self.teller = Storyteller(
            self.rng,
            world,
            self.clockwork,
            limit=self.limit,
            triage=timedelta(hours=settings.WENXU_TRIAGE_HOURS),
            callback_window=timedelta(days=settings.WENXU_CALLBACK_WINDOW_DAYS),
            reopen_window=timedelta(days=settings.WENXU_REOPEN_WINDOW_DAYS),
        )
        self._tables()
        arrivals = self._arrivals()
        self.need_id = next_id(Need)
        self.event_id = next_id(NeedEvent)
        self.requester_id = next_id(Requester)
        self.visit_id = next_id(Visit)
        self.count_id = next_id(DailyCount)
        tracking = _TrackingCodes(self.rng)
        with bulk_load([Requester, Visit, Need, NeedEvent, DailyCount]):
            self._batches(arrivals, tracking)
            for table in self._all_tables():
                table.flush()
            self.say(_("重建索引和外键约束……"))
        self._finish()
        return self.summary

    def _batches(
        self, arrivals: "np.ndarray[Any, np.dtype[np.float64]]", tracking: "_TrackingCodes"
    ) -> None:
        batches = range(0, self.n, BATCH)
        every = max(1, len(batches) // 20)
        for number, low in enumerate(batches, start=1):
            high = min(self.n, low + BATCH)
            stories = self._batch(arrivals[low:high], tracking)
            self._write(stories)
            watermark = (
                local_date(_moment(arrivals[high])) - timedelta(days=1) if high < self.n else None
            )
            self._flush_rollups(watermark)
            if number % every == 0 or high == self.n:
                self.say(
                    _("已生成 %(done)d/%(n)d 条诉求、%(events)d 条办理记录（用时 %(s).0f 秒）")
                    % {
                        "done": high,
                        "n": self.n,
                        "events": self.events.count,
                        "s": time.monotonic() - self.started,
                    }
                )

    def _tables(self) -> None:
        self.requesters = Table(
            Requester,
            ["id", "kind", "name", "phone", "id_number", "phone_index", "id_number_index",
             "address", "confidential", "created_at"],
        )  # fmt: skip
        self.visits = Table(
            Visit,
            ["id", "client_uuid", "payload_hash", "kind", "area_id", "place_id", "place_kind",
             "address", "latitude", "longitude", "started_at", "ended_at", "companions",
             "people_met", "summary", "mood", "mood_note", "sense_gain", "sense_happiness",
             "sense_security", "recorded_by_id", "recorded_at"],
        )  # fmt: skip
        self.visit_officers = Table(Visit.officers.through, ["visit_id", "user_id"])
        self.needs = Table(Need, list(NEED_COLUMNS))
        self.co_units = Table(Need.co_units.through, ["need_id", "unit_id"])
        self.events = Table(
            NeedEvent,
            ["id", "need_id", "seq", "actor_id", "action", "from_status", "to_status", "note",
             "data", "created_at"],
        )  # fmt: skip
        self.counts = Table(
            DailyCount,
            ["id", "key", "day", "area_id", "area_path", "unit_id", "unit_path", "category_id",
             *COUNTERS],
        )  # fmt: skip
        phone = Requester._meta.get_field("phone")
        id_number = Requester._meta.get_field("id_number")
        self.seal_phone = phone.get_prep_value  # the field's own encryption (issue #9)
        self.seal_id_number = id_number.get_prep_value

    def _all_tables(self) -> list[Table]:
        return [
            self.requesters,
            self.visits,
            self.visit_officers,
            self.needs,
            self.co_units,
            self.events,
            self.counts,
        ]

    def _arrivals(self) -> "np.ndarray[Any, np.dtype[np.float64]]":
        """Every need's registration time (epoch seconds), sorted."""
        first = self.start.replace(minute=0, second=0, microsecond=0)
        end = self.limit.timestamp()
        starts: list[float] = []
        weights: list[float] = []
        hour = first
        span = end - first.timestamp()
        while hour.timestamp() < end:
            local = hour.astimezone(LOCAL)
            day_weight = 1.0 if self.clockwork.is_workday(local.date()) else OFF_DAY_WEIGHT
            doy = local.timetuple().tm_yday
            season = 1.0 + 0.12 * np.sin(2 * np.pi * (doy - 120) / 365.25)
            trend = 1.0 + 0.2 * (hour.timestamp() - first.timestamp()) / span
            starts.append(hour.timestamp())
            weights.append(HOUR_WEIGHTS[local.hour] * day_weight * season * trend)
            hour += timedelta(hours=1)
        spread = np.random.default_rng(self.seed)
        bins = np.array(starts)
        width = np.minimum(bins + 3600.0, end) - bins
        p = np.array(weights) * width / 3600.0
        chosen = spread.choice(len(bins), size=self.n, p=p / p.sum())
        times = bins[chosen] + spread.random(self.n) * width[chosen]
        times = np.sort(np.maximum(times, self.start.timestamp()))
        result: np.ndarray[Any, np.dtype[np.float64]] = times
        return result

    # ---- one batch

    def _batch(
        self, times: "np.ndarray[Any, np.dtype[np.float64]]", tracking: "_TrackingCodes"
    ) -> list[Story]:
        rng = self.rng
        teller = self.teller
        stories: list[Story] = []
        visits_made = 0
        previous = self.previous  # registration times strictly increase, across batches too
        index = 0
        count = len(times)
        while index < count:
            at = _moment(times[index])
            if previous is not None and at <= previous:
                at = previous + timedelta(milliseconds=1)
            local = at.astimezone(LOCAL)
            office = self.clockwork.is_workday(local.date()) and 8 <= local.hour < 18
            source = _pick(rng, OFFICE_SOURCES if office else OFF_HOURS_SOURCES)
            made: list[Story] = []
            merge_at: datetime | None = None
            if rng.random() < P_DUPLICATE:
                found = self._duplicate_target(stories, at)
                if found is not None:
                    target, merge_at = found
                    made = [teller.duplicate(at, target)]
            if not made and source == "visit":
                size = min(_pick(rng, VISIT_SIZES), count - index)
                made = self._visit(at, size)
                visits_made += 1
            if not made:
                template, leaf = teller.pick_template()
                community = teller.pick_community(template)
                made = [
                    teller.new_story(
                        at, source=source, template=template, leaf=leaf, community=community
                    )
                ]
            for story in made:
                previous = story.extra["at"]
                self._identify(story, tracking)
                teller.play(story)
                if merge_at is not None:
                    self._merge(story, merge_at)
                stories.append(story)
            index += len(made)
        self.previous = previous
        self._standalone_visits(visits_made, _moment(times[0]), _moment(times[-1]))
        return stories

    def _identify(self, story: Story, tracking: "_TrackingCodes") -> None:
        at: datetime = story.extra["at"]
        story.pk = self.need_id
        self.need_id += 1
        year = local_date(at).year
        self.year_serials[year] += 1
        story.number = ledger_number(year, self.year_serials[year])
        story.tracking_code = tracking.next()

    def _duplicate_target(
        self, stories: list[Story], at: datetime
    ) -> tuple[Story, datetime] | None:
        """A need registered 2 to 30 hours before `at` that is still open when the duplicate
        registered at `at` is merged into it (and never withdrawn), and when that is."""
        rng = self.rng
        start = _first_at_or_after(stories, at - timedelta(hours=30))
        stop = _first_at_or_after(stories, at - timedelta(hours=2))
        if stop <= start:
            return None
        merge_at = at + timedelta(hours=rng.uniform(0.5, 8))
        if merge_at > self.limit:
            return None
        for _attempt in range(8):
            target = stories[rng.randrange(start, stop)]
            if target.duplicate_of is not None or any(
                e.action in (Action.WITHDRAW, Action.MERGE) for e in target.sim.events
            ):
                continue
            found = target.sim.status_at(merge_at)
            if found is not None and found[0] in ACTIVE_STATUSES:
                return target, merge_at
        return None

    def _merge(self, story: Story, at: datetime) -> None:
        """合并: the duplicate joins its target (open then, as `_duplicate_target` checked)."""
        target = story.duplicate_of
        assert target is not None
        dispatcher = self.world.dispatcher_id
        if not target.sim.merged_from(at, dispatcher, source_number=story.number):
            raise AssertionError("merge target no longer open")
        story.sim.merge(at, dispatcher, into=target.pk, into_number=target.number)

    def _visit(self, at: datetime, size: int) -> list[Story]:
        """A visit (走访) in one grid by the street's officer that raised `size` needs."""
        rng = self.rng
        teller = self.teller
        template, leaf = teller.pick_template()
        community = teller.pick_community(template)
        grid = rng.choice(community.grids)
        where = "urban" if community.urban else "rural"
        stories = []
        for offset in range(size):
            if offset:
                template, leaf = teller.pick_template(where)
            source = "visit" if offset == 0 or rng.random() < 0.85 else "observed"
            story = teller.new_story(
                at + timedelta(milliseconds=50 * offset),
                source=source,
                template=template,
                leaf=leaf,
                community=community,
                grid=grid,
            )
            stories.append(story)
        visit_id = self._visit_row(
            at,
            community,
            grid[0],
            _pick(rng, names.VISIT_KINDS_WITH_NEEDS),
            summary=VISIT_WITH_NEED[
                "observed" if stories[0].source == "observed" else "routine"
            ].format(name=self._elder(), title=stories[0].title),
        )
        for story in stories:
            story.visit_id = visit_id
            if rng.random() < P_FIELD_APP:
                story.client_uuid = uuid.UUID(int=rng.getrandbits(128), version=4)
                story.client_payload_hash = hashlib.sha256(
                    str(story.client_uuid).encode()
                ).hexdigest()
        return stories

    def _elder(self) -> str:
        return self.teller.person()[0] + self.rng.choice(ELDER_SUFFIX)

    def _visit_row(
        self, at: datetime, community: Community, area_id: int, kind: str, *, summary: str
    ) -> int:
        rng = self.rng
        pk = self.visit_id
        self.visit_id += 1
        started = at - timedelta(minutes=rng.uniform(20, 100))
        ended = at - timedelta(minutes=rng.uniform(0, 10))
        ended = max(ended, started)
        mood = _pick(rng, tuple(zip((1, 2, 3, 4, 5), names.MOOD_WEIGHTS, strict=True)))
        senses: tuple[int | None, int | None, int | None] = (None, None, None)
        if kind in ("home", "forum", "phone") and rng.random() < 0.65:
            senses = cast(
                tuple[int, int, int],
                tuple(min(5, max(1, mood + rng.choice((-1, 0, 0, 1)))) for _ in range(3)),
            )
        place_kind = {"home": "household", "phone": "household", "enterprise": "enterprise",
                      "forum": "public", "community": "public"}.get(kind, "")  # fmt: skip
        client = uuid.UUID(int=rng.getrandbits(128), version=4)
        officer = community.street.officer_id
        people = rng.randint(8, 26) if kind == "forum" else rng.randint(1, 5)
        self.visits.add(
            pk,
            client,
            hashlib.sha256(str(client).encode()).hexdigest(),
            kind,
            area_id,
            None,
            place_kind,
            f"{community.street.name}{community.name}",
            None,
            None,
            started,
            ended,
            "" if kind == "phone" else rng.choice(COMPANIONS),
            people,
            summary,
            mood,
            rng.choice(MOOD_NOTES[mood]),
            *senses,
            officer,
            at,
        )
        self.visit_officers.add(pk, officer)
        self.summary.visits += 1
        counts = Counter(visits=1, mood_total=mood)
        self._count(local_date(started), area_id, None, None, counts)
        return pk

    def _standalone_visits(self, count: int, first: datetime, last: datetime) -> None:
        """Visits that raised no need: about as many as those that did."""
        rng = self.rng
        span = (last - first).total_seconds()
        for _visit in range(count):
            at = first + timedelta(seconds=rng.uniform(0, span))
            at = self.clockwork.office(at, rng, strict=True)
            if at > self.limit:
                continue
            community: Community = self.teller.places["any"].pick(rng)
            kind = _pick(rng, names.VISIT_KINDS_ALONE)
            people = rng.randint(8, 26) if kind == "forum" else rng.randint(1, 5)
            if kind == "enterprise":
                name = rng.choice(ENTERPRISE_NAMES).format(v=community.name)
            elif kind == "forum":
                name = rng.choice(community.landmarks)
            else:
                name = self._elder()
            summary = rng.choice(VISIT_SUMMARIES[kind]).format(
                name=name, n=people, place=rng.choice(community.places)
            )
            self._visit_row(at, community, rng.choice(community.grids)[0], kind, summary=summary)

    # ---- writing

    def _write(self, stories: list[Story]) -> None:
        for story in stories:
            sim = story.sim
            requester_id = self._requester(story)
            self._need_row(story, requester_id)
            for co_unit in sim.co_units:
                self.co_units.add(story.pk, co_unit)
            self.summary.co_unit_links += len(sim.co_units)
            grid = story.grid[0]
            category = story.leaf.category_id
            response_due = _NeedView(sim.response_due)
            for seq, event in enumerate(sim.events, start=1):
                self._event_row(story.pk, seq, event)
                counts = event_counts(
                    cast(NeedEvent, _EventView(event.action, event.data, event.at)),
                    cast(Need, response_due),
                )
                if counts:
                    lead: int | None = event.data.get("lead_unit")
                    self._count(local_date(event.at), grid, lead, category, counts)
                if event.action == Action.CALLBACK:
                    self.summary.callbacks += 1
            self.by_status[sim.status] += 1
        self.summary.needs += len(stories)

    def _requester(self, story: Story) -> int | None:
        person = story.requester
        if person is None:
            return None
        pk = self.requester_id
        self.requester_id += 1
        self.requesters.add(
            pk,
            person.kind,
            person.name,
            self.seal_phone(person.phone),
            self.seal_id_number(person.id_number),
            pii.phone_index(person.phone),
            pii.id_number_index(person.id_number),
            person.address,
            person.confidential,
            story.extra["at"],
        )
        self.summary.requesters += 1
        return pk

    def _need_row(self, story: Story, requester_id: int | None) -> None:
        sim = story.sim
        coords = story.coords or (None, None)
        self.needs.add(
            story.pk,
            story.number,
            story.tracking_code,
            story.title,
            story.description,
            story.leaf.category_id,
            story.kind,
            story.urgency,
            _json(story.tags),
            story.source,
            story.grid[0],
            story.address,
            coords[0],
            coords[1],
            requester_id,
            story.handling,
            sim.status,
            story.recorded_by,
            sim.registered_at,
            sim.lead_unit,
            sim.assigned_at,
            sim.response_due,
            sim.resolve_due,
            sim.original_resolve_due,
            sim.due_provisional,
            sim.calendar_version,
            sim.responded_at,
            sim.replied_at,
            sim.outcome,
            sim.reply_text,
            sim.followup_date,
            sim.fulfilled_at,
            sim.closed_at,
            sim.callback_resolved,
            sim.callback_satisfaction,
            sim.callback_channel,
            sim.callback_comment,
            sim.callback_at,
            sim.extension_count,
            sim.extension_pending_days,
            sim.extension_pending_reason,
            sim.reopen_count,
            sim.supervised,
            sim.merged_into,
            story.visit_id,
            story.client_uuid,
            story.client_payload_hash,
            story.public_consent,
            sim.version,
            sim.updated_at,
        )

    def _event_row(self, need_id: int, seq: int, event: Event) -> None:
        self.events.add(
            self.event_id,
            need_id,
            seq,
            event.actor,
            event.action,
            event.from_status,
            event.to_status,
            event.note,
            _json(event.data),
            event.at,
        )
        self.event_id += 1

    # ---- rollups

    def _count(
        self,
        day: date,
        area_id: int,
        unit_id: int | None,
        category_id: int | None,
        counts: Counter[str],
    ) -> None:
        rows = self.rollups.get(day)
        if rows is None:
            rows = self.rollups[day] = {}
        key = (area_id, unit_id, category_id)
        row = rows.get(key)
        if row is None:
            row = rows[key] = [0] * len(COUNTERS)
        for name, n in counts.items():
            row[COUNTER_INDEX[name]] += n

    def _flush_rollups(self, before: date | None) -> None:
        """Write the days before `before` (all when None): no later need adds to them."""
        world = self.world
        for day in sorted(d for d in self.rollups if before is None or d < before):
            for (area_id, unit_id, category_id), counts in self.rollups.pop(day).items():
                dims = Dims(
                    day=day,
                    area_id=area_id,
                    area_path=self._area_path(area_id),
                    unit_id=unit_id,
                    unit_path=world.unit_paths.get(unit_id, "") if unit_id else "",
                    category_id=category_id,
                )
                self.counts.add(
                    self.count_id,
                    dims.key,
                    day,
                    area_id,
                    dims.area_path,
                    unit_id,
                    dims.unit_path,
                    category_id,
                    *counts,
                )
                self.count_id += 1
                self.summary.rollup_rows += 1

    def _area_path(self, area_id: int) -> str:
        return self.area_paths[area_id]

    # ---- after the needs

    def _finish(self) -> None:
        for year, last in self.year_serials.items():
            counter, _created = LedgerCounter.objects.get_or_create(year=year)
            if counter.last < last:
                counter.last = last
                counter.save(update_fields=["last"])
        cursor, _created = RollupCursor.objects.get_or_create(name="main")
        cursor.last_event_id = max(cursor.last_event_id, self.event_id - 1)
        cursor.last_visit_id = max(cursor.last_visit_id, self.visit_id - 1)
        cursor.updated_at = self.now
        cursor.save(update_fields=["last_event_id", "last_visit_id", "updated_at"])
        # The scope rollups (ADR 0023) from the daily rows, in SQL, as the catch-up would have
        # added them.
        self.say(_("汇总范围统计……"))
        scope_counts_rebuild()
        reset_sequences(
            [Area, Unit, Category, User, Requester, Visit, Need, NeedEvent, DailyCount, ScopeCount]
        )
        self.summary.events = self.events.count
        self.summary.by_status = dict(sorted(self.by_status.items()))


NEED_COLUMNS = (
    "id", "number", "tracking_code", "title", "description", "category_id", "kind", "urgency",
    "nature_tags", "source", "area_id", "address", "latitude", "longitude", "requester_id",
    "handling", "status", "recorded_by_id", "registered_at", "lead_unit_id", "assigned_at",
    "response_due", "resolve_due", "original_resolve_due", "due_provisional", "calendar_version",
    "responded_at", "replied_at", "outcome", "reply_text", "followup_date", "fulfilled_at",
    "closed_at", "callback_resolved", "callback_satisfaction", "callback_channel",
    "callback_comment", "callback_at", "extension_count", "extension_pending_days",
    "extension_pending_reason", "reopen_count", "supervised", "merged_into_id", "visit_id",
    "client_uuid", "client_payload_hash", "public_consent", "version", "updated_at",
)  # fmt: skip


class _TrackingCodes:
    """Residents' tracking codes: a permutation of all codes keyed by the seed, so they look
    random, never repeat, and need no memory of those given."""

    def __init__(self, rng: Random) -> None:
        self.space = len(TRACKING_ALPHABET) ** TRACKING_LENGTH
        self.step = rng.randrange(self.space // 3, self.space)
        while self.step % 5 == 0:  # coprime with 25**8
            self.step += 1
        self.value = rng.randrange(self.space)

    def next(self) -> str:
        self.value = (self.value + self.step) % self.space
        number = self.value
        chars = []
        for _position in range(TRACKING_LENGTH):
            number, digit = divmod(number, len(TRACKING_ALPHABET))
            chars.append(TRACKING_ALPHABET[digit])
        return "".join(chars)


def _moment(timestamp: float) -> datetime:
    return datetime.fromtimestamp(float(timestamp), UTC)


def _pick(rng: Random, pairs: tuple[tuple[Any, int], ...]) -> Any:
    return _weighted(rng, pairs)


def _first_at_or_after(stories: list[Story], moment: datetime) -> int:
    low, high = 0, len(stories)
    while low < high:
        middle = (low + high) // 2
        if stories[middle].extra["at"] < moment:
            low = middle + 1
        else:
            high = middle
    return low


__all__ = ["DEFAULT_PASSWORD", "GenerateRefused", "Summary", "check", "generate"]
