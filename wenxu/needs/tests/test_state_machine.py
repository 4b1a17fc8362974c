"""Random action sequences through the services keep the ledger's promises (issue 2, acceptance).

A hypothesis state machine registers a few needs and takes random actions on them with random
actors (right and wrong roles), sometimes with a stale version or blank input, while the clock
moves forward so deadlines pass and reopen windows close. Each step checks the outcome against
an oracle written from DESIGN §3 (independently of `services.py`), and that a refused action
changed nothing. After every step the invariants hold for every need:

- replaying the events gives the status (seq 1..n, each from = previous to, last to = status);
- version grows by exactly one per event (version == number of events);
- nothing is replied, following or closed without reply text, outcome and reply time;
- a `planned` reply is closed only after a fulfil event that follows the last reply;
- resolve_due moves only by assign / approve_extension / reopen and is cleared only by return;
- extensions stay within the rule's limit per deadline cycle (since the last assign or reopen);
- every event names the lead unit it concerns, as it was then;
- a sweep reminder is sent at most once per kind and deadline;
- `wenxu ledger_check` finds nothing (apart from needs waiting for triage).

Each example runs in a savepoint on top of the `world` fixture and is rolled back afterwards, so
every example starts from the same fresh world on SQLite and PostgreSQL alike.
"""

from datetime import date, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.conf import settings as django_settings
from django.db import transaction
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from wenxu.accounts.models import User
from wenxu.lib import clock
from wenxu.needs import deadlines, ledger, services, states
from wenxu.needs.exceptions import (
    AlreadyReminded,
    DomainError,
    IllegalTransition,
    InvalidInput,
    NotPermitted,
    StaleVersion,
)
from wenxu.needs.models import Need, NeedEvent
from wenxu.needs.states import Action, Status
from wenxu.needs.tests.helpers import at, state_of

PERSONAS = (
    "dispatcher",
    "leader",
    "officer",
    "officer_b",
    "handler",
    "handler_other",
    "handler_roads",
    "outsider",
)
MAX_NEEDS = 5
STARTS = [
    at(2026, 3, 2, 9),  # an ordinary Monday
    at(2026, 9, 24, 16),  # Mid-Autumn and National Day ahead
    at(2026, 12, 30, 20),  # the ledger year turns
]
# The shipped default rule for normal urgency (one extension of at most 10 working days).
MAX_EXTENSIONS = deadlines.DEFAULT_RULES["normal"].max_extensions
MAX_EXTENSION_DAYS = deadlines.DEFAULT_RULES["normal"].max_extension_days

MOVES_DEADLINE = {Action.ASSIGN, Action.APPROVE_EXTENSION, Action.REOPEN}
_ANSWERED = {Status.REPLIED, Status.FOLLOWING, Status.CLOSED}

# --------------------------------------------------------------------------- the oracle
# Who may take which action, written from DESIGN §2/§3 rather than read from services.py.

DISPATCHER_ACTIONS = {
    Action.ASSIGN,
    Action.APPROVE_EXTENSION,
    Action.DENY_EXTENSION,
    Action.CALLBACK,
    Action.FULFIL,
    Action.REOPEN,
    Action.SUPERVISE,
    Action.REMIND,
    Action.MERGE,
    Action.WITHDRAW,
}
LEADER_ACTIONS = {Action.SUPERVISE, Action.REMIND}
OFFICER_ACTIONS = {Action.CALLBACK}
LEAD_HANDLER_ACTIONS = {
    Action.ACCEPT,
    Action.RETURN,
    Action.PROGRESS,
    Action.REQUEST_EXTENSION,
    Action.REPLY,
    Action.FULFIL,
}
CO_HANDLER_ACTIONS = {Action.PROGRESS}


# The actions `act` chooses from, with the transition whose sources say when each may start.
ACTS: dict[str, str | None] = {
    "assign": Action.ASSIGN,
    "accept": Action.ACCEPT,
    "return": Action.RETURN,
    "progress": Action.PROGRESS,
    "request_extension": Action.REQUEST_EXTENSION,
    "approve_extension": Action.APPROVE_EXTENSION,
    "deny_extension": Action.DENY_EXTENSION,
    "reply": Action.REPLY,
    "callback": Action.CALLBACK,
    "expire_callback": Action.CALLBACK,
    "fulfil": Action.FULFIL,
    "reopen": Action.REOPEN,
    "supervise": Action.SUPERVISE,
    "remind": Action.REMIND,
    "system_remind": Action.REMIND,
    "sweep_remind": Action.REMIND,
    "merge": Action.MERGE,
    "withdraw": Action.WITHDRAW,
    "time_passes": None,
}
# The usual ways forward from each status.
NEXT_STEP: dict[str, list[str]] = {
    Status.REGISTERED: ["assign"],
    Status.ASSIGNED: ["accept"],
    Status.IN_PROGRESS: ["reply", "request_extension"],
    Status.REPLIED: ["callback", "callback", "expire_callback"],
    Status.FOLLOWING: ["fulfil", "sweep_remind"],  # the follow-up date may pass first
}


def next_steps(need: Need) -> list[str]:
    if need.status == Status.IN_PROGRESS and need.extension_pending_days:
        return ["approve_extension", "deny_extension"]
    return NEXT_STEP[need.status]


def pk(obj: Any) -> int:
    return int(obj.pk)


def extensions_this_cycle(need: Need) -> int:
    """Approved extensions since the deadline cycle began: the last assign or reopen (§3/§4)."""
    count = 0
    for action in NeedEvent.objects.filter(need=need).order_by("seq").values_list("action"):
        if action[0] in {Action.ASSIGN, Action.REOPEN}:
            count = 0
        elif action[0] == Action.APPROVE_EXTENSION:
            count += 1
    return count


def has_waiting_merged_needs(need: Need) -> bool:
    """Needs merged into `need` whose requesters still wait on it."""
    return Need.objects.filter(merged_into=need, status=Status.MERGED).exists()


SWEEP_KINDS = ["due_soon", "response_overdue", "overdue", "followup_due"]


def sweep_reminder_due(need: Need, kind: str) -> bool:
    """Whether the need calls for the sweep's reminder of `kind` now (DESIGN §4)."""
    now = clock.now()
    running = need.status in {Status.ASSIGNED, Status.IN_PROGRESS}
    if kind == "due_soon":
        return running and need.resolve_due is not None and need.resolve_due > now
    if kind == "response_overdue":
        return need.status == Status.ASSIGNED and bool(
            need.response_due and need.response_due < now
        )
    if kind == "overdue":
        return running and need.resolve_due is not None and need.resolve_due < now
    return need.status == Status.FOLLOWING and bool(
        need.followup_date and need.followup_date < clock.today()
    )


def already_reminded(need: Need, kind: str) -> bool:
    """A reminder of `kind` exists for the deadline (or follow-up date) the need has now."""
    for data in NeedEvent.objects.filter(need=need, action=Action.REMIND).values_list(
        "data", flat=True
    ):
        if data.get("kind") != kind or data.get("due") is None:
            continue
        if kind == "followup_due":
            if date.fromisoformat(data["due"]) == need.followup_date:
                return True
        elif datetime.fromisoformat(data["due"]) == need.resolve_due:
            return True
    return False


def machine_for(world: Any) -> type[RuleBasedStateMachine]:
    units_of = {
        "handler": {world.housing.pk},
        "handler_other": {world.transport.pk, world.transport_roads.pk},  # a parent unit
        "handler_roads": {world.transport_roads.pk},
    }
    officer_areas = {"officer": world.town_a.path, "officer_b": world.town_b.path}
    lead_units = [world.housing, world.transport, world.transport_roads]

    def may(action: str, persona: str, need: Need, co_units: set[int]) -> bool:
        if persona == "dispatcher":
            return action in DISPATCHER_ACTIONS
        if persona == "leader":
            return action in LEADER_ACTIONS
        if persona in officer_areas:
            mine = need.area.path.startswith(officer_areas[persona]) or (
                need.recorded_by_id == getattr(world, persona).pk
            )
            return mine and action in OFFICER_ACTIONS
        if persona in units_of:
            if need.lead_unit_id in units_of[persona]:
                return action in LEAD_HANDLER_ACTIONS
            if co_units & units_of[persona]:
                return action in CO_HANDLER_ACTIONS
        return False

    class LedgerMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.ids: list[int] = []
            self.last_seen: dict[int, tuple[int, datetime | None]] = {}
            self.travel: Any = None
            self.clock: Any = None
            self._atomic = transaction.atomic()
            self._atomic.__enter__()

        def teardown(self) -> None:
            try:
                transaction.set_rollback(True)
                self._atomic.__exit__(None, None, None)
            finally:
                if self.travel is not None:
                    self.travel.stop()

        # ------------------------------------------------------------------ plumbing

        def _actor(self, data: st.DataObject, action: str, need: Need, co: set[int]) -> str:
            right = [p for p in PERSONAS if may(action, p, need, co)]
            if right and data.draw(st.integers(0, 9), label="right role") < 8:
                return data.draw(st.sampled_from(right), label="actor")
            return data.draw(st.sampled_from(PERSONAS), label="actor")

        def _expected(
            self, action: str, persona: str, need: Need, co: set[int], stale: bool
        ) -> type[DomainError] | None:
            if not may(action, persona, need, co):
                return NotPermitted
            if stale:
                return StaleVersion
            if need.status not in states.TRANSITIONS[action].sources:
                return IllegalTransition
            return None

        def _attempt(
            self,
            data: st.DataObject,
            need: Need,
            action: str,
            call: Any,
            *,
            check: Any = None,
            first: Any = None,
            others: tuple[int, ...] = (),
        ) -> None:
            """Take `action` on `need`; compare with the oracle; check refusals change nothing.

            `call(actor, need, version)` runs the service. `first` is a refusal due before any
            other check, `check(need)` the refusal the action's own rules call for once role,
            version and status are fine (None: success).
            """
            co = set(need.co_units.values_list("pk", flat=True))
            persona = self._actor(data, action, need, co)
            # Hypothesis favours boundary values, so the rare case is a value in the middle.
            stale = data.draw(st.integers(0, 9), label="stale") == 3
            expected = first or self._expected(action, persona, need, co, stale)
            if expected is None and check is not None:
                expected = check(need)
            actor: User = getattr(world, persona)
            version = need.version - 1 if stale else need.version
            self._run(action, need, expected, lambda: call(actor, need, version), others)

        def _run(
            self,
            action: str,
            need: Need,
            expected: Any,
            call: Any,
            others: tuple[int, ...] = (),
        ) -> None:
            watched = [need.pk, *others]
            # Only an expected refusal needs the snapshot: an unexpected one fails anyway.
            before = [state_of(pk) for pk in watched] if expected is not None else []
            refusal: DomainError | None = None
            try:
                call()
            except DomainError as error:
                refusal = error
            if refusal is None:
                event(f"{action}: done ({need.status} →)")
                assert expected is None, f"expected {expected.__name__}, but it succeeded"
            else:
                event(f"{action}: {type(refusal).__name__}")
                assert type(refusal) is expected, f"expected {expected}, got {refusal!r}"
                assert [state_of(pk) for pk in watched] == before, "a refusal changed data"

        def _text(self, data: st.DataObject, text: str) -> str:
            """Usually `text`, sometimes blank: required fields must then be refused."""
            return data.draw(st.sampled_from([text, text, " ", text, text]), label="text").strip()

        # ------------------------------------------------------------------ rules

        @initialize(start=st.sampled_from(STARTS))
        def start(self, start: datetime) -> None:
            self.travel = time_machine.travel(start, tick=False)
            self.clock = self.travel.start()
            self.ids.append(world.register().pk)

        @precondition(lambda self: len(self.ids) < MAX_NEEDS)
        @rule(persona=st.sampled_from(["officer", "dispatcher", "handler"]), far=st.booleans())
        def register(self, persona: str, far: bool) -> None:
            area = world.grid_b if far else world.grid_a
            if persona == "handler":  # handlers never register
                with pytest.raises(NotPermitted):
                    world.register(actor=world.handler, area=area)
            elif persona == "officer" and far:  # not their township
                with pytest.raises(InvalidInput) as info:
                    world.register(actor=world.officer, area=area)
                assert "area" in info.value.errors
            else:
                self.ids.append(world.register(actor=getattr(world, persona), area=area).pk)

        @precondition(lambda self: len(self.ids) < MAX_NEEDS)
        @rule(confirmed=st.booleans())
        def register_on_the_spot(self, confirmed: bool) -> None:
            need = services.need_register_on_the_spot(
                actor=world.officer,
                title="咨询养老保险缴费",
                description="村民询问城乡居民养老保险缴费档次。",
                kind="consult",
                source="visit",
                area=world.grid_a,
                reply_text="已现场讲解缴费档次和补贴标准。",
                confirmed=confirmed,
                satisfaction="satisfied" if confirmed else "",
            )
            self.ids.append(need.pk)

        @rule(data=st.data())
        def act(self, data: st.DataObject) -> None:
            """One action on one need: often the next step of the usual path, often any step its
            status allows, sometimes anything at all (mostly to be refused)."""
            pk = data.draw(st.sampled_from(sorted(self.ids)), label="need")
            need = Need.objects.select_related("area").get(pk=pk)
            roll = data.draw(st.integers(0, 99), label="roll")
            fitting = [
                name
                for name, action in ACTS.items()
                if action is None or need.status in states.TRANSITIONS[action].sources
            ]
            if need.status in NEXT_STEP and roll < 35:
                name = data.draw(st.sampled_from(next_steps(need)), label="action")
            elif roll < 85:
                name = data.draw(st.sampled_from(fitting), label="action")
            else:
                name = data.draw(st.sampled_from(list(ACTS)), label="action")
            getattr(self, f"do_{name}")(data, need)

        # ------------------------------------------------------------------ actions

        def do_assign(self, data: st.DataObject, need: Need) -> None:
            lead = data.draw(st.sampled_from(lead_units), label="lead")
            co = sorted(
                data.draw(st.sets(st.sampled_from(lead_units)), label="co") - {lead}, key=pk
            )
            self._attempt(
                data,
                need,
                Action.ASSIGN,
                lambda a, n, v: services.need_assign(
                    actor=a, need=n, version=v, lead_unit=lead, co_units=co
                ),
            )

        def do_accept(self, data: st.DataObject, need: Need) -> None:
            self._attempt(
                data,
                need,
                Action.ACCEPT,
                lambda a, n, v: services.need_accept(actor=a, need=n, version=v),
            )

        def do_return(self, data: st.DataObject, need: Need) -> None:
            reason = self._text(data, "不属本单位职责")
            self._attempt(
                data,
                need,
                Action.RETURN,
                lambda a, n, v: services.need_return(actor=a, need=n, version=v, reason=reason),
                check=lambda n: None if reason else InvalidInput,
            )

        def do_progress(self, data: st.DataObject, need: Need) -> None:
            note = self._text(data, "已联系施工队")
            self._attempt(
                data,
                need,
                Action.PROGRESS,
                lambda a, n, v: services.need_progress(actor=a, need=n, version=v, note=note),
                check=lambda n: None if note else InvalidInput,
            )

        def do_request_extension(self, data: st.DataObject, need: Need) -> None:
            days = data.draw(st.sampled_from([3, 1, MAX_EXTENSION_DAYS, 0, 11]), label="days")

            def check(n: Need) -> type[DomainError] | None:
                # The limit is per deadline cycle; extension_count is the lifetime total.
                if n.extension_pending_days or extensions_this_cycle(n) >= MAX_EXTENSIONS:
                    return IllegalTransition
                if n.resolve_due is None or clock.now() >= n.resolve_due:
                    return IllegalTransition
                return None if 1 <= days <= MAX_EXTENSION_DAYS else InvalidInput

            self._attempt(
                data,
                need,
                Action.REQUEST_EXTENSION,
                lambda a, n, v: services.need_request_extension(
                    actor=a, need=n, version=v, days=days, reason="需协调其他部门"
                ),
                check=check,
            )

        def do_approve_extension(self, data: st.DataObject, need: Need) -> None:
            # Sometimes the dispatcher gets to the request only after the deadline.
            if (
                need.extension_pending_days
                and need.resolve_due is not None
                and clock.now() < need.resolve_due
                and data.draw(st.integers(0, 9), label="late") < 2
            ):
                self.clock.move_to(need.resolve_due + timedelta(hours=1))
            self._attempt(
                data,
                need,
                Action.APPROVE_EXTENSION,
                lambda a, n, v: services.need_approve_extension(actor=a, need=n, version=v),
                # Before the deadline only: a request left pending past it has lapsed.
                check=lambda n: (
                    None
                    if n.extension_pending_days
                    and n.resolve_due is not None
                    and clock.now() < n.resolve_due
                    else IllegalTransition
                ),
            )

        def do_deny_extension(self, data: st.DataObject, need: Need) -> None:
            reason = self._text(data, "时限充足")
            self._attempt(
                data,
                need,
                Action.DENY_EXTENSION,
                lambda a, n, v: services.need_deny_extension(
                    actor=a, need=n, version=v, reason=reason
                ),
                check=lambda n: (
                    IllegalTransition
                    if not n.extension_pending_days
                    else (None if reason else InvalidInput)
                ),
            )

        def do_reply(self, data: st.DataObject, need: Need) -> None:
            outcome = data.draw(
                st.sampled_from(["planned", "resolved", "explained", "referred"]), label="outcome"
            )
            followup = data.draw(st.one_of(st.integers(0, 60), st.none()), label="followup")
            followup_date = None if followup is None else clock.today() + timedelta(followup)
            text = self._text(data, "已协调解决。")
            self._attempt(
                data,
                need,
                Action.REPLY,
                lambda a, n, v: services.need_reply(
                    actor=a,
                    need=n,
                    version=v,
                    outcome=outcome,
                    reply_text=text,
                    followup_date=followup_date,
                ),
                check=lambda n: (
                    InvalidInput
                    if not text or (outcome == "planned" and followup_date is None)
                    else None
                ),
            )

        def do_callback(self, data: st.DataObject, need: Need) -> None:
            channel = data.draw(st.sampled_from(["phone", "visit", "unreachable"]), label="channel")
            # Usually a verdict when the resident was reached and none when not; sometimes the
            # other way round, which is invalid either way.
            answered = data.draw(st.integers(0, 9), label="answered") < 8
            if channel == "unreachable":
                answered = not answered
            resolved = (
                data.draw(st.sampled_from(states.CallbackResolved.values), label="resolved")
                if answered
                else ""
            )
            satisfaction = (
                data.draw(st.sampled_from(states.Satisfaction.values), label="satis.")
                if answered
                else ""
            )
            valid = answered == (channel != "unreachable")
            self._attempt(
                data,
                need,
                Action.CALLBACK,
                lambda a, n, v: services.need_callback(
                    actor=a,
                    need=n,
                    version=v,
                    resolved=resolved,
                    satisfaction=satisfaction,
                    channel=channel,
                ),
                check=lambda n: None if valid else InvalidInput,
            )

        def do_expire_callback(self, data: st.DataObject, need: Need) -> None:
            window = timedelta(days=django_settings.WENXU_CALLBACK_WINDOW_DAYS)
            if need.replied_at is not None and data.draw(st.booleans(), label="window passes"):
                # The sweep usually comes by once the window has passed.
                passed = need.replied_at + window + timedelta(seconds=1)
                if clock.now() < passed:
                    self.clock.move_to(passed)
            expired = need.replied_at is not None and need.replied_at < clock.now() - window
            expected = None if need.status == Status.REPLIED and expired else IllegalTransition
            self._run(
                "expire_callback",
                need,
                expected,
                lambda: services.need_expire_callback(need=need.pk),
            )

        def do_fulfil(self, data: st.DataObject, need: Need) -> None:
            note = self._text(data, "已兑现并告知群众")
            self._attempt(
                data,
                need,
                Action.FULFIL,
                lambda a, n, v: services.need_fulfil(actor=a, need=n, version=v, note=note),
                check=lambda n: None if note else InvalidInput,
            )

        def do_reopen(self, data: st.DataObject, need: Need) -> None:
            reason = self._text(data, "群众反映问题仍在")
            unit = world.town_a_gov if data.draw(st.booleans(), label="new unit") else None

            def check(n: Need) -> type[DomainError] | None:
                if n.status == Status.CLOSED:
                    assert n.closed_at is not None
                    window = timedelta(days=django_settings.WENXU_REOPEN_WINDOW_DAYS)
                    if clock.now() - n.closed_at > window:
                        return IllegalTransition
                if not reason or (unit is None and n.lead_unit_id is None):
                    return InvalidInput
                return None

            self._attempt(
                data,
                need,
                Action.REOPEN,
                lambda a, n, v: services.need_reopen(
                    actor=a, need=n, version=v, reason=reason, lead_unit=unit
                ),
                check=check,
            )

        def do_supervise(self, data: st.DataObject, need: Need) -> None:
            note = self._text(data, "请加快办理")
            self._attempt(
                data,
                need,
                Action.SUPERVISE,
                lambda a, n, v: services.need_supervise(actor=a, need=n, version=v, note=note),
                check=lambda n: None if note else InvalidInput,
            )

        def do_remind(self, data: st.DataObject, need: Need) -> None:
            self._attempt(
                data,
                need,
                Action.REMIND,
                lambda a, n, v: services.need_remind(actor=a, need=n, version=v),
            )

        def do_system_remind(self, data: st.DataObject, need: Need) -> None:
            expected = None if need.status in states.ACTIVE else IllegalTransition
            self._run(
                "system remind",
                need,
                expected,
                lambda: services.need_remind(actor=None, need=need.pk, version=None),
            )

        def do_sweep_remind(self, data: st.DataObject, need: Need) -> None:
            """The sweep's reminders: mostly of a kind the need calls for (what the sweep lists),
            sometimes sent twice in a row (two overlapping sweeps), sometimes out of turn."""
            promise = need.followup_date if need.status == Status.FOLLOWING else None
            if promise and promise >= clock.today() and data.draw(st.booleans(), label="later"):
                # The follow-up date passes without the promise being fulfilled.
                self.clock.move_to(at(promise.year, promise.month, promise.day) + timedelta(days=1))
            due = [kind for kind in SWEEP_KINDS if sweep_reminder_due(need, kind)]
            if due and data.draw(st.integers(0, 9), label="listed") < 8:
                kind = data.draw(st.sampled_from(due), label="kind")
            else:
                kind = data.draw(st.sampled_from(SWEEP_KINDS), label="kind")
            need_id = need.pk
            for _sweep in range(data.draw(st.integers(1, 2), label="sweeps")):
                need = Need.objects.get(pk=need_id)
                expected: type[DomainError] | None = None
                if need.status not in states.ACTIVE or not sweep_reminder_due(need, kind):
                    expected = IllegalTransition
                elif already_reminded(need, kind):
                    expected = AlreadyReminded
                self._run(
                    f"sweep remind {kind}",
                    need,
                    expected,
                    lambda: services.need_remind(actor=None, need=need_id, version=None, kind=kind),
                )

        def do_merge(self, data: st.DataObject, need: Need) -> None:
            into = Need.objects.get(pk=data.draw(st.sampled_from(sorted(self.ids)), label="into"))
            itself = into.pk == need.pk
            # Merging into itself is invalid input, whoever asks; so is an inactive target.
            self._attempt(
                data,
                need,
                Action.MERGE,
                lambda a, n, v: services.need_merge(actor=a, need=n, version=v, into=into),
                first=InvalidInput if itself else None,
                check=lambda n: None if into.status in states.ACTIVE else InvalidInput,
                others=() if itself else (into.pk,),
            )

        def do_withdraw(self, data: st.DataObject, need: Need) -> None:
            reason = self._text(data, "群众撤回诉求")
            self._attempt(
                data,
                need,
                Action.WITHDRAW,
                lambda a, n, v: services.need_withdraw(actor=a, need=n, version=v, reason=reason),
                # Requesters of needs merged into it would be left without an answer.
                check=lambda n: (
                    IllegalTransition
                    if has_waiting_merged_needs(n)
                    else (None if reason else InvalidInput)
                ),
            )

        def do_time_passes(self, data: st.DataObject, need: Need) -> None:
            hours = data.draw(st.sampled_from([1, 8, 30, 24 * 4, 24 * 9, 24 * 32]), label="hours")
            event(f"time passes: {hours} h")
            self.clock.shift(timedelta(hours=hours))

        # ------------------------------------------------------------------ invariants

        @invariant()
        def ledger_promises_hold(self) -> None:
            needs = {n.pk: n for n in Need.objects.filter(pk__in=self.ids)}
            events: dict[int, list[NeedEvent]] = {pk: [] for pk in self.ids}
            for row in NeedEvent.objects.filter(need_id__in=self.ids).order_by("need_id", "seq"):
                events[row.need_id].append(row)
            for pk in self.ids:
                self._check_need(needs[pk], events[pk])
            findings = [f for f in ledger.check_ledger() if f.code != ledger.UNTRIAGED]
            assert findings == [], findings

        def _check_need(self, need: Need, events: list[NeedEvent]) -> None:
            # Replaying the events gives the status.
            assert [e.seq for e in events] == list(range(1, len(events) + 1))
            previous = ""
            for e in events:
                assert e.from_status == previous, (need.number, e)
                previous = e.to_status
            assert previous == need.status
            assert need.version == len(events)

            # Nothing answered without a reply.
            if need.status in _ANSWERED:
                assert need.replied_at is not None
                assert need.outcome
                assert need.reply_text.strip()

            # A planned promise closes only after its fulfilment.
            replies = [e for e in events if e.action in {Action.REPLY, Action.REOPEN}]
            if need.status == Status.CLOSED and replies and replies[-1].action == Action.REPLY:
                last_reply = replies[-1]
                if last_reply.data["outcome"] == "planned":
                    assert any(
                        e.action == Action.FULFIL and e.seq > last_reply.seq for e in events
                    ), need.number
                    assert need.fulfilled_at is not None

            # Deadlines move only by assign / approved extension / reopen; return clears them.
            due: datetime | None = None
            original: datetime | None = None
            for e in events:
                if e.action in {Action.ASSIGN, Action.REOPEN}:
                    due = original = datetime.fromisoformat(e.data["resolve_due"])
                elif e.action == Action.APPROVE_EXTENSION:
                    assert due is not None
                    assert datetime.fromisoformat(e.data["from"]) == due
                    due = datetime.fromisoformat(e.data["to"])
                    assert due > datetime.fromisoformat(e.data["from"])
                elif e.action == Action.RETURN:
                    due = original = None
            assert need.resolve_due == due, need.number
            assert need.original_resolve_due == original, need.number
            seen_count, seen_due = self.last_seen.get(need.pk, (0, None))
            if seen_count and need.resolve_due != seen_due:
                new_actions = {e.action for e in events[seen_count:]}
                assert new_actions & (MOVES_DEADLINE | {Action.RETURN}), (need.number, new_actions)
            self.last_seen[need.pk] = (len(events), need.resolve_due)

            # Extension and reopen counters match the events; the rule's limit holds per cycle.
            approvals = sum(e.action == Action.APPROVE_EXTENSION for e in events)
            assert need.extension_count == approvals
            in_cycle = 0
            for e in events:
                if e.action in {Action.ASSIGN, Action.REOPEN}:
                    in_cycle = 0
                elif e.action == Action.APPROVE_EXTENSION:
                    in_cycle += 1
                    assert in_cycle <= MAX_EXTENSIONS, need.number

            # Every event names the lead unit it concerns, as it was when it happened.
            lead: int | None = None
            for e in events:
                assert "lead_unit" in e.data, (need.number, e)
                if e.action in {Action.ASSIGN, Action.REOPEN}:
                    lead = e.data["lead_unit"]
                elif e.action == Action.RETURN:
                    assert e.data["lead_unit"] == lead, (need.number, e)
                    lead = None
                else:
                    assert e.data["lead_unit"] == lead, (need.number, e)
            assert need.lead_unit_id == lead, need.number

            # A sweep reminder goes out once per kind and deadline, however often it is tried.
            sweep_reminders = [
                (e.data["kind"], e.data["due"])
                for e in events
                if e.action == Action.REMIND and e.data["kind"] != "manual"
            ]
            assert len(sweep_reminders) == len(set(sweep_reminders)), need.number
            assert need.reopen_count == sum(e.action == Action.REOPEN for e in events)

            # Final statuses are final, and a merge leaves a trace on its target.
            for e in events[:-1]:
                assert e.to_status not in {Status.WITHDRAWN, Status.MERGED}
            if need.status == Status.MERGED:
                assert need.merged_into_id is not None
                assert NeedEvent.objects.filter(
                    need_id=need.merged_into_id, action=Action.MERGED_FROM, data__from=need.number
                ).exists()

    return LedgerMachine


@pytest.mark.django_db
def test_random_action_sequences_keep_the_ledger_promises(world):
    run_state_machine_as_test(
        machine_for(world),
        settings=settings(
            max_examples=60,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
