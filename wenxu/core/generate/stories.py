"""What happens to each need: who asks what, where and when, and what the units do about it.

A need's story is played forward from its registration on `NeedSim` until it ends or reaches the
present (`limit`); whatever had not happened by then has not happened, so the status mix follows
from the ages of the needs (the old ones closed, the recent ones open) and from how long units
take. The mix this gives for the default twelve months is documented in ADR 0019 and checked by
the tests: about 80 % closed, 10 % open (registered, assigned, in progress; a good part of them
overdue), the rest replied or following a promise, about 1 % withdrawn and 1 % merged.

Texts, categories, places' kinds and people's names are the demo county's
(`wenxu.core.demo_texts`); every choice comes from the `random.Random` passed in.
"""

from bisect import bisect_right
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import accumulate
from random import Random
from typing import Any

from wenxu.core.demo_texts import (
    APPROVE_NOTES,
    BASIC_COMMENTS,
    CLOSINGS,
    DENY_REASONS,
    ELDER_SUFFIX,
    ENTERPRISE_NAMES,
    EXTENSION_REASONS,
    FULFIL_DEFAULT,
    FULFIL_NOTE,
    GIVEN,
    MOBILE_PREFIXES,
    PROGRESS_NOTES,
    REOPEN_REASONS,
    RETURN_REASON,
    SATISFIED_COMMENTS,
    SUPERVISE_NOTES,
    SURNAMES,
    UNHAPPY_COMMENTS,
    WITHDRAW_REASONS,
    Template,
)
from wenxu.core.generate.lifecycle import NeedSim
from wenxu.core.generate.timing import LOCAL, Clockwork, local_date
from wenxu.core.generate.world import Community, Leaf, World
from wenxu.needs.services.online import ONLINE_KINDS
from wenxu.needs.states import Kind, NatureTag, Outcome, Status

# ---- the mix (see the module docstring and ADR 0019)
P_SPOT = 0.7  # of officers' needs that can be solved on the spot (马上就办)
P_SPOT_CONFIRMED = 0.7
P_WITHDRAW = 0.012
P_DUPLICATE = 0.011  # a resident asks again about a need in the ledger: merged (合并)
P_RETURN = 0.04  # routed to the wrong unit first (退回)
P_LATE_ACCEPT = 0.08
P_EXTENSION = 0.02  # of needs replied in time
P_EXTENSION_LATE = 0.35  # of needs that would be replied late
P_APPROVE = 0.75
P_SUPERVISE = 0.03
P_LATE = 0.08  # replies after the deadline
P_STALL = 0.16  # needs that take months (difficult matters: 难)
STALL_MEAN_DAYS = 300.0
P_PLANNED = 0.4  # of needs whose template has a plan (创造条件推动)
P_UNREACHABLE = 0.05
P_REOPEN = 0.45  # of unsatisfied verdicts
MAX_REOPENS = 2
P_CO_UNITS = 0.13
P_PUBLIC_CONSENT = 0.3
P_FIELD_APP = 0.5  # visit needs sent from the field app, with a client UUID
ZIPF_EXPONENT = 0.6

# Sources by time of day: staff are out in office hours; the hotline and the web never close.
OFFICE_SOURCES = (
    ("visit", 30), ("hotline", 25), ("phone", 10), ("online", 10), ("walk_in", 8),
    ("patrol", 10), ("observed", 7),
)  # fmt: skip
OFF_HOURS_SOURCES = (("hotline", 55), ("online", 30), ("phone", 15))
BY_OFFICER = frozenset({"visit", "patrol", "observed", "walk_in"})
VISIT_SIZES = ((1, 20), (2, 25), (3, 25), (4, 15), (5, 10), (6, 5))
CALLBACK_CHANNELS = (("phone", 65), ("visit", 25), ("sms", 10))

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


_CHOOSERS: dict[tuple[tuple[Any, int], ...], "_Choice"] = {}


def _weighted(rng: Random, pairs: tuple[tuple[Any, int], ...]) -> Any:
    """A weighted choice among constant (item, weight) pairs."""
    chooser = _CHOOSERS.get(pairs)
    if chooser is None:
        chooser = _CHOOSERS[pairs] = _Choice([p[0] for p in pairs], [p[1] for p in pairs])
    return chooser.pick(rng)


@dataclass(slots=True)
class Requesting:
    """The requester as `RequesterInput` would carry it."""

    kind: str
    name: str
    phone: str
    id_number: str
    address: str
    confidential: bool


@dataclass(slots=True)
class Story:
    """One need: what was asked, and its simulated life."""

    sim: NeedSim
    template: Template
    leaf: Leaf
    community: Community
    grid: tuple[int, str]
    ctx: dict[str, Any]
    kind: str
    urgency: str
    tags: list[str]
    source: str
    handling: str
    address: str
    coords: tuple[Decimal, Decimal] | None
    requester: Requesting | None
    recorded_by: int | None
    public_consent: bool = False
    duplicate_of: "Story | None" = None
    visit_id: int | None = None
    client_uuid: Any = None
    client_payload_hash: str = ""
    pk: int = 0
    number: str = ""
    tracking_code: str = ""
    requester_id: int | None = None
    withdrawn: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return self.template.title.format(**self.ctx)

    @property
    def description(self) -> str:
        text = self.template.text.format(**self.ctx)
        return f"{text}（群众再次反映同一问题）" if self.duplicate_of is not None else text

    def text(self, pattern: str) -> str:
        return pattern.format(**self.ctx)


class _Choice:
    """A weighted choice by bisection over cumulative weights: cheap for many draws."""

    def __init__(self, items: list[Any], weights: list[float]) -> None:
        self.items = items
        self.cumulative = list(accumulate(weights))

    def pick(self, rng: Random) -> Any:
        return self.items[
            bisect_right(self.cumulative, rng.random() * self.cumulative[-1])
            if self.cumulative
            else 0
        ]


class Storyteller:
    def __init__(
        self,
        rng: Random,
        world: World,
        clock: Clockwork,
        *,
        limit: datetime,
        triage: timedelta,
        callback_window: timedelta,
        reopen_window: timedelta,
    ) -> None:
        self.rng = rng
        self.world = world
        self.clock = clock
        self.limit = limit
        self.triage = triage
        self.callback_window = callback_window
        self.reopen_window = reopen_window
        leaves = sorted(world.leaves.values(), key=lambda leaf: leaf.category_id)
        order = list(range(len(leaves)))
        rng.shuffle(order)  # which matters are common: Zipf-like over the categories
        weights: dict[int, float] = {}
        for rank, index in enumerate(order, start=1):
            weights[leaves[index].category_id] = rank**-ZIPF_EXPONENT
        self.templates: dict[str, _Choice] = {}
        for where in ("any", "urban", "rural"):
            items: list[tuple[Template, Leaf]] = []
            item_weights: list[float] = []
            for leaf in leaves:
                total = sum(t.weight for t in leaf.templates) or 1.0
                for template in leaf.templates:
                    if where != "any" and template.where not in ("any", where):
                        continue
                    items.append((template, leaf))
                    item_weights.append(weights[leaf.category_id] * template.weight / total)
            self.templates[where] = _Choice(items, item_weights)
        self.places: dict[str, _Choice] = {}
        for where in ("any", "urban", "rural"):
            pool = [c for c in world.communities if where == "any" or c.urban == (where == "urban")]
            self.places[where] = _Choice(pool, [c.households**0.5 for c in pool])
        self.leads = {
            leaf.name: _Choice(leaf.leads, leaf.lead_weights) for leaf in world.leaves.values()
        }
        self.phones = 0

    # ---- people and places

    def person(self) -> str:
        return self.rng.choice(SURNAMES) + self.rng.choice(GIVEN)

    def phone(self) -> str:
        return f"{self.rng.choice(MOBILE_PREFIXES)}00{self.rng.randrange(1_000_000):06d}"

    def id_number(self) -> str:
        rng = self.rng
        born = date(1940, 1, 1) + timedelta(days=rng.randrange(365 * 65))
        body = f"339801{born:%Y%m%d}{rng.randrange(1000):03d}"
        factors = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
        check = "10X98765432"[sum(int(d) * f for d, f in zip(body, factors, strict=True)) % 11]
        return body + check

    def pick_template(self, where: str = "any") -> tuple[Template, Leaf]:
        found: tuple[Template, Leaf] = self.templates[where].pick(self.rng)
        return found

    def pick_community(self, template: Template) -> Community:
        found: Community = self.places[template.where].pick(self.rng)
        return found

    def context(self, community: Community) -> dict[str, Any]:
        rng = self.rng
        street = community.street
        return {
            "t": street.name,
            "v": community.name,
            "p": rng.choice(community.places),
            "r": rng.choice(community.roads),
            "l": rng.choice(community.landmarks),
            "n": rng.randint(2, 8),
            "m": rng.randint(2, 5),
            "money": f"{rng.randint(12, 96) / 10:.1f}万",
            "elder": rng.choice(SURNAMES) + rng.choice(ELDER_SUFFIX),
            "clinic": f"{community.name}卫生服务站" if community.urban else f"{street.name}卫生院",
        }

    def requesting(self, template: Template, kind: str, ctx: dict[str, Any]) -> Requesting:
        rng = self.rng
        confidential = rng.random() < (0.5 if kind in ("report", "criticism") else 0.04)
        address = f"{ctx['t']}{ctx['v']}{ctx['p']}"
        if template.requester == "enterprise":
            return Requesting(
                "enterprise",
                rng.choice(ENTERPRISE_NAMES).format(**ctx),
                self.phone(),
                "",
                f"{ctx['t']}{ctx['v']}",
                False,
            )
        name = self.person()
        if template.requester == "group":
            return Requesting("group", f"{name}等{ctx['n']}人", self.phone(), "", address,
                              confidential)  # fmt: skip
        return Requesting(
            template.requester,
            name,
            self.phone(),
            self.id_number() if rng.random() < 0.25 else "",
            address if rng.random() < 0.7 else "",
            confidential,
        )

    # ---- a new need

    def new_story(
        self,
        at: datetime,
        *,
        source: str,
        template: Template,
        leaf: Leaf,
        community: Community,
        grid: tuple[int, str] | None = None,
    ) -> Story:
        rng = self.rng
        ctx = self.context(community)
        kind = rng.choice(template.kinds)
        urgency = template.urgency
        if urgency == "normal" and "urgent" in template.tags and rng.random() < 0.3:
            urgency = "urgent"
        elif urgency == "normal" and rng.random() < (0.15 if template.plan else 0.03):
            urgency = "complex"
        tags = list(template.tags)
        if rng.random() < 0.1:
            tags.append(rng.choice(NatureTag.values))
        text = template.title + template.text
        if "{p}" in text:
            address = f"{ctx['t']}{ctx['v']}{ctx['p']}"
        elif "{r}" in text:
            address = f"{ctx['t']}{ctx['v']}{ctx['r']}"
        else:
            address = f"{ctx['t']}{ctx['v']}"
        coords = None
        if rng.random() < 0.7:
            lat = community.centre[0] + rng.uniform(-0.004, 0.004)
            lon = community.centre[1] + rng.uniform(-0.004, 0.004)
            coords = (Decimal(f"{lat:.6f}"), Decimal(f"{lon:.6f}"))
        no_requester = source == "observed" or (source == "patrol" and rng.random() < 0.6)
        requester = None if no_requester else self.requesting(template, kind, ctx)
        if source == "online":
            # What a resident's own form gives (need_submit_online): a person and a mobile,
            # the normal urgency, no tags, no address or map position.
            kind = kind if kind in ONLINE_KINDS else Kind.HELP
            urgency = "normal"
            tags = []
            address = ""
            coords = None
            assert requester is not None
            requester = Requesting(
                "person", requester.name if rng.random() < 0.8 else "", requester.phone,
                "", "", False,
            )  # fmt: skip
        officer = community.street.officer_id
        recorded_by: int | None
        if source == "online":
            recorded_by = None
        elif source in BY_OFFICER:
            recorded_by = officer
        else:
            recorded_by = self.world.dispatcher_id
        sim = NeedSim(
            clock=self.clock,
            rules=leaf.rules[urgency],
            root_area=self.world.root_id,
            reopen_window=self.reopen_window,
            callback_window=self.callback_window,
        )
        return Story(
            sim=sim,
            template=template,
            leaf=leaf,
            community=community,
            grid=grid or rng.choice(community.grids),
            ctx=ctx,
            kind=kind,
            urgency=urgency,
            tags=list(dict.fromkeys(tags)),
            source=source,
            handling="routine",
            address=address,
            coords=coords,
            requester=requester,
            recorded_by=recorded_by,
            public_consent=source == "online" and rng.random() < P_PUBLIC_CONSENT,
            extra={"at": at},
        )

    def duplicate(self, at: datetime, of: Story) -> Story:
        """A resident calling about a need already in the ledger."""
        rng = self.rng
        sim = NeedSim(
            clock=self.clock,
            rules=of.sim.rules,
            root_area=self.world.root_id,
            reopen_window=self.reopen_window,
            callback_window=self.callback_window,
        )
        return Story(
            sim=sim,
            template=of.template,
            leaf=of.leaf,
            community=of.community,
            grid=of.grid,
            ctx=of.ctx,
            kind=of.kind,
            urgency=of.urgency,
            tags=list(of.tags),
            source=rng.choice(["hotline", "phone"]),
            handling="routine",
            address=of.address,
            coords=of.coords,
            requester=Requesting("person", self.person(), self.phone(), "", "", False),
            recorded_by=self.world.dispatcher_id,
            duplicate_of=of,
            extra={"at": at},
        )

    # ---- time

    def staff(self, moment: datetime, story: Story) -> datetime:
        """When staff act: office hours, except for urgent needs (on duty round the clock)."""
        if story.urgency == "urgent":
            return moment
        return self.clock.office(moment, self.rng)

    def _hours(self, low: float, high: float) -> timedelta:
        return timedelta(hours=self.rng.uniform(low, high))

    def _days(self, low: float, high: float) -> timedelta:
        return timedelta(days=self.rng.uniform(low, high))

    def triage_gap(self, story: Story) -> timedelta:
        """Dispatchers triage round the clock, well within the triage window."""
        high = min(16.0, self.triage / HOUR * 0.7)
        if story.urgency == "urgent":
            return self._hours(0.1, min(1.5, high))
        return self._hours(0.2, high)

    # ---- the plot

    def play(self, story: Story) -> None:
        """Play the story up to `limit`; the need ends where it stands then."""
        with suppress(_Stop):
            self._play(story)
        story.sim.sweep(self.limit)

    def _at(self, moment: datetime) -> datetime:
        if moment > self.limit:
            raise _Stop
        return moment

    def _play(self, story: Story) -> None:
        rng = self.rng
        sim = story.sim
        at: datetime = story.extra["at"]
        world = self.world
        dispatcher = world.dispatcher_id
        if story.duplicate_of is not None:
            sim.register(at, dispatcher)
            return  # merged by the batch, once its target is known
        spot = (
            story.template.spot
            and story.source in ("visit", "patrol")
            and story.recorded_by is not None
            and rng.random() < P_SPOT
        )
        if spot:
            self._spot(story, at)
            return
        sim.register(at, story.recorded_by, online=story.source == "online")
        planned = bool(story.template.plan) and rng.random() < P_PLANNED
        if planned and story.source != "online" and rng.random() < 0.3:
            story.handling = "systemic"  # 举一反三, as the officer or dispatcher judged it
        if rng.random() < P_WITHDRAW:
            self._withdrawn(story, at)
            return
        if rng.random() < P_RETURN:
            at = self._at(at + self.triage_gap(story))
            wrong = rng.choice([u for u in world.departments if u not in story.leaf.leads])
            sim.assign(at, dispatcher, lead=wrong, co=[])
            at = self._at(self.staff(at + self._hours(0.5, 6), story))
            right = world.unit_short[story.leaf.leads[0]]
            sim.return_(at, world.handler_of[wrong], reason=RETURN_REASON.format(unit=right))
        at = self._at(at + self.triage_gap(story))
        lead, co = self.units(story)
        sim.assign(at, dispatcher, lead=lead, co=co)
        self._handle(story, at, lead, planned=planned)

    def units(self, story: Story) -> tuple[int, list[int]]:
        rng = self.rng
        lead: int = self.leads[story.leaf.name].pick(rng)
        co: list[int] = []
        street_office = story.community.street.unit_id
        if story.leaf.spec.local:
            co.append(street_office)
        if rng.random() < P_CO_UNITS:
            roll = rng.random()
            if roll < 0.55 and street_office not in co:
                co.append(street_office)
            elif roll < 0.75:
                co.append(story.community.unit_id)
            else:
                others = [u for u in self.world.departments if u != lead]
                co.append(rng.choice(others))
            if rng.random() < 0.25:
                extra = rng.choice([story.community.unit_id, street_office])
                if extra not in co:
                    co.append(extra)
        return lead, co

    def _handle(self, story: Story, at: datetime, lead: int, *, planned: bool) -> None:
        """From 交办 to the end: accept, work, reply, callback, perhaps reopen."""
        rng = self.rng
        sim = story.sim
        handler = self.world.handler_of[lead]
        urgent = story.urgency == "urgent"
        gap = self._hours(0.05, 1.2) if urgent else self._hours(0.3, 6)
        if rng.random() < P_LATE_ACCEPT:
            gap += self._hours(4, 60)
        at = self._at(self.staff(at + gap, story))
        sim.accept(at, handler)
        accepted = at
        reply_at = self.staff(accepted + self._work(story), story)
        due = sim.resolve_due
        late = due is not None and reply_at > due
        if (
            not urgent
            and due is not None
            and rng.random() < (P_EXTENSION_LATE if late else P_EXTENSION)
        ):
            self._extension(story, accepted, min(due, reply_at), reply_at, handler)
        self._progress(story, accepted, reply_at, handler)
        self._reply(story, reply_at, handler, planned=planned, reopens=0)

    def _extension(
        self, story: Story, start: datetime, before: datetime, reply_at: datetime, handler: int
    ) -> None:
        """申请延期 before the deadline (and the reply), and the dispatcher's decision."""
        rng = self.rng
        sim = story.sim
        if before - start < 2 * HOUR:
            return
        asked = self.staff(start + (before - start) * rng.uniform(0.3, 0.8), story)
        if asked >= before:
            return
        asked = self._at(asked)
        days = rng.randint(3, sim.rules.max_extension_days)
        if not sim.request_extension(
            asked, handler, days=days, reason=rng.choice(EXTENSION_REASONS)
        ):
            return
        decided = asked + self._hours(2, 20)
        if decided >= reply_at:
            decided = asked + (reply_at - asked) / 2
        decided = self._at(decided)
        dispatcher = self.world.dispatcher_id
        if rng.random() < P_APPROVE and sim.approve_extension(
            decided, dispatcher, note=rng.choice(APPROVE_NOTES)
        ):
            return
        sim.deny_extension(decided, dispatcher, reason=rng.choice(DENY_REASONS))

    def _work(self, story: Story) -> timedelta:
        rng = self.rng
        if story.urgency == "urgent":
            work = self._hours(1.5, 16)
        elif story.urgency == "complex":
            work = self._days(3, 20)
        else:
            work = self._days(0.3, 6.5)
        if rng.random() < P_LATE:
            work += self._days(1, 15)
        if rng.random() < P_STALL:
            work += timedelta(days=rng.expovariate(1 / STALL_MEAN_DAYS))
        return work

    def _progress(self, story: Story, start: datetime, end: datetime, handler: int) -> None:
        """Progress notes on the way; 督办 when it drags on past the deadline."""
        rng = self.rng
        sim = story.sim
        span = end - start
        marks: list[tuple[datetime, str]] = []
        if rng.random() < 0.4:
            marks.append((start + span * rng.uniform(0.2, 0.6), "progress"))
            if rng.random() < 0.35:
                marks.append((start + span * rng.uniform(0.6, 0.95), "progress"))
        due = sim.resolve_due
        if due is not None and end > due + 2 * DAY and rng.random() < 0.5:
            marks.append((due + self._days(1, 10), "supervise"))
        elif rng.random() < P_SUPERVISE:
            marks.append((start + span * rng.uniform(0.1, 0.9), "supervise"))
        for moment, what in sorted(marks):
            if what == "progress":
                moment = self.staff(moment, story)
            else:
                moment = self.clock.office(moment, rng)
            if moment >= end or moment <= sim.last_at:
                continue
            moment = self._at(moment)
            if what == "progress":
                sim.progress(moment, handler, note=rng.choice(PROGRESS_NOTES))
            else:
                by_leader = rng.random() < 0.35
                actor = self.world.leader_id if by_leader else self.world.dispatcher_id
                sim.supervise(moment, actor, note=rng.choice(SUPERVISE_NOTES))

    def _outcome(self, story: Story, planned: bool) -> str:
        t = story.template
        if planned and t.plan:
            return Outcome.PLANNED
        options = [
            (Outcome.RESOLVED, 70 if t.fix else 0),
            (Outcome.EXPLAINED, 25 if t.explain else 0),
            (Outcome.REFERRED, 5 if t.refer else 0),
        ]
        if not any(w for _o, w in options):
            return Outcome.PLANNED if t.plan else Outcome.EXPLAINED
        return str(_weighted(self.rng, tuple((o, w) for o, w in options if w)))

    def _reply_text(self, story: Story, outcome: str) -> str:
        t = story.template
        closing = self.rng.choice(CLOSINGS)
        if outcome == Outcome.RESOLVED:
            return story.text(t.fix) + closing
        if outcome == Outcome.EXPLAINED:
            return story.text(t.explain or t.fix) + closing
        if outcome == Outcome.PLANNED:
            return story.text(t.plan) + "下次跟进时向群众通报进展。"
        return f"经核实，该事项属于{t.refer}的职责，已转{t.refer}办理，并告知群众联系方式。"

    def _reply(
        self, story: Story, at: datetime, handler: int, *, planned: bool, reopens: int
    ) -> None:
        rng = self.rng
        sim = story.sim
        at = self._at(at)
        outcome = self._outcome(story, planned)
        followup = None
        if outcome == Outcome.PLANNED:
            followup = local_date(at) + timedelta(days=rng.randint(21, 120))
        sim.reply(at, handler, outcome=outcome, text=self._reply_text(story, outcome),
                  followup=followup)  # fmt: skip
        self._after_reply(story, at, handler, reopens=reopens)

    def _after_reply(self, story: Story, at: datetime, handler: int, *, reopens: int) -> None:
        rng = self.rng
        sim = story.sim
        world = self.world
        expires = sim.callback_expires_at()
        assert expires is not None
        called = self.clock.office(at + self._days(0.3, 7), rng)
        if rng.random() < P_UNREACHABLE or called >= expires:
            self._at(expires)
            sim.expire_callback()
            called = expires
            verdict = ""
        else:
            called = self._at(called)
            verdict, satisfaction, comment = self._verdict(sim.outcome)
            officer = story.community.street.officer_id
            actor = officer if rng.random() < 0.5 else world.dispatcher_id
            sim.callback(
                called,
                actor,
                channel=_weighted(rng, CALLBACK_CHANNELS),
                resolved=verdict,
                satisfaction=satisfaction,
                comment=comment,
            )
        unhappy = verdict == "no" or sim.callback_satisfaction in (
            "dissatisfied",
            "very_dissatisfied",
        )
        if unhappy and reopens < MAX_REOPENS and rng.random() < P_REOPEN:
            moment = self._at(self.clock.office(called + self._days(0.5, 4), rng))
            if sim.reopen(moment, world.dispatcher_id, reason=rng.choice(REOPEN_REASONS)):
                work = self._days(1, 6) if story.urgency != "urgent" else self._hours(2, 20)
                reply_at = self.staff(moment + work, story)
                self._progress(story, moment, reply_at, handler)
                self._reply(story, reply_at, handler, planned=False, reopens=reopens + 1)
            return
        if sim.status == Status.FOLLOWING and sim.followup_date is not None:
            promised = datetime(
                sim.followup_date.year, sim.followup_date.month, sim.followup_date.day,
                tzinfo=LOCAL,
            ) + timedelta(hours=10)  # fmt: skip
            done = promised + self._days(-3, 20)
            done = self.clock.office(max(done, called + 12 * HOUR), rng)
            done = self._at(done)
            t = story.template
            note = FULFIL_NOTE.format(done=story.text(t.done) if t.done else FULFIL_DEFAULT)
            actor = world.dispatcher_id if rng.random() < 0.2 else handler
            sim.fulfil(done, actor, note=note)

    def _verdict(self, outcome: str) -> tuple[str, str, str]:
        """The resident's answer: demo_data's skew (resolved mostly yes, promises partly)."""
        rng = self.rng
        if outcome == Outcome.RESOLVED:
            verdict = _weighted(rng, (("yes", 86), ("partly", 10), ("no", 4)))
        elif outcome == Outcome.PLANNED:
            verdict = _weighted(rng, (("partly", 70), ("yes", 20), ("no", 10)))
        else:
            verdict = _weighted(rng, (("yes", 55), ("partly", 33), ("no", 12)))
        if verdict == "yes":
            satisfaction = _weighted(
                rng, (("very_satisfied", 45), ("satisfied", 45), ("basic", 10))
            )
            comment = rng.choice(SATISFIED_COMMENTS)
        elif verdict == "partly":
            satisfaction = _weighted(rng, (("satisfied", 25), ("basic", 55), ("dissatisfied", 20)))
            comment = rng.choice(BASIC_COMMENTS)
        else:
            satisfaction = rng.choice(["dissatisfied", "very_dissatisfied"])
            comment = rng.choice(UNHAPPY_COMMENTS)
        return verdict, satisfaction, comment

    def _spot(self, story: Story, at: datetime) -> None:
        """马上就办: solved during the visit; confirmed on the spot or called back later."""
        rng = self.rng
        sim = story.sim
        story.handling = "on_the_spot"
        confirmed = rng.random() < P_SPOT_CONFIRMED
        satisfaction = (
            _weighted(rng, (("very_satisfied", 60), ("satisfied", 40))) if confirmed else ""
        )
        assert story.recorded_by is not None
        sim.register_on_the_spot(
            at,
            story.recorded_by,
            proof=story.text(story.template.spot),
            confirmed=confirmed,
            satisfaction=satisfaction,
        )
        if not confirmed:
            self._after_reply(story, at, 0, reopens=MAX_REOPENS)

    def _withdrawn(self, story: Story, at: datetime) -> None:
        rng = self.rng
        sim = story.sim
        dispatcher = self.world.dispatcher_id
        reason = rng.choice(WITHDRAW_REASONS)
        roll = rng.random()
        if roll < 0.5:
            at = self._at(at + self._hours(0.5, 12))
        else:
            at = self._at(at + self.triage_gap(story))
            lead, co = self.units(story)
            sim.assign(at, dispatcher, lead=lead, co=co)
            if roll >= 0.8:
                at = self._at(self.staff(at + self._hours(0.5, 6), story))
                sim.accept(at, self.world.handler_of[lead])
            at = self._at(self.clock.office(at + self._hours(2, 72), rng))
        story.withdrawn = True
        sim.withdraw(at, dispatcher, reason=reason)


class _Stop(Exception):
    """The story reached the present."""
