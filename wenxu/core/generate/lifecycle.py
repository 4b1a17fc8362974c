"""One need's life, field by field and event by event, as `wenxu.needs.services` would write it.

`NeedSim` mirrors each lifecycle service: the same preconditions (an action the service would
refuse returns False and changes nothing), the same fields set and cleared, the same event with
the same `data` (the rollups read it), the version incremented where `_record` increments it.
It also plays the worker's sweep where the rollups and the rates depend on it: the 督办 reminders
of a missed response or resolution deadline (`response_overdue`, `overdue`), sent by the first
sweep after the deadline (the sweep runs every minute; here at second 20 of the minute), which
flag the need supervised and decide whether a late accept or reply carries `missed_unmarked`.

`wenxu/core/tests/test_generate.py` replays generated histories through the real services and
compares the results; a service that changes what it writes fails that test until this follows.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from wenxu.core.generate.timing import Clockwork, local_date
from wenxu.needs.deadlines import RuleValues
from wenxu.needs.models import DurationUnit
from wenxu.needs.states import Action, CallbackChannel, Outcome, Status

# The sweep's notes (wenxu.needs.sweeps), and the note of an expired callback (services.closing).
RESPONSE_OVERDUE_NOTE = "已超过响应时限仍未签收，已报调度督办。"
OVERDUE_NOTE = "已超过办结时限仍未答复，已报调度督办。"
EXPIRED_NOTE = "回访期限已过，未能联系到群众。"

RUNNING = frozenset({Status.ASSIGNED, Status.IN_PROGRESS})
ACTIVE = frozenset(
    {Status.REGISTERED, Status.ASSIGNED, Status.IN_PROGRESS, Status.REPLIED, Status.FOLLOWING}
)
SWEEP_SECOND = 20


def sweep_after(due: datetime) -> datetime:
    """The first run of the minutely sweep strictly after `due`."""
    at = due.replace(second=SWEEP_SECOND, microsecond=0)
    return at if at > due else at + timedelta(minutes=1)


def cycle(resolve_due: datetime | None) -> str | None:
    """`oversight.remind_cycle`: the resolution deadline in UTC, as the database hands it back."""
    return resolve_due.astimezone(UTC).isoformat() if resolve_due else None


@dataclass(slots=True)
class Event:
    actor: int | None
    action: str
    from_status: str
    to_status: str
    note: str
    data: dict[str, Any]
    at: datetime
    lead_after: int | None  # the need's lead unit after this event


class NeedSim:
    """A need's state and events. Times are aware UTC datetimes; actors and units are ids."""

    __slots__ = (
        "assigned_at",
        "calendar_version",
        "callback_at",
        "callback_channel",
        "callback_comment",
        "callback_resolved",
        "callback_satisfaction",
        "callback_window",
        "clock",
        "closed_at",
        "co_units",
        "cycle_extensions",
        "due_provisional",
        "events",
        "extension_count",
        "extension_pending_days",
        "extension_pending_reason",
        "followup_date",
        "fulfilled_at",
        "lead_unit",
        "merged_into",
        "original_resolve_due",
        "outcome",
        "registered_at",
        "reminded",
        "reopen_count",
        "reopen_window",
        "replied_at",
        "reply_text",
        "resolve_due",
        "responded_at",
        "response_due",
        "root_area",
        "rules",
        "status",
        "supervised",
        "updated_at",
        "version",
    )

    def __init__(
        self,
        *,
        clock: Clockwork,
        rules: RuleValues,
        root_area: int,
        reopen_window: timedelta,
        callback_window: timedelta,
    ) -> None:
        self.clock = clock
        self.rules = rules
        self.root_area = root_area
        self.reopen_window = reopen_window
        self.callback_window = callback_window
        self.events: list[Event] = []
        self.reminded: set[tuple[str, str | None]] = set()
        self.cycle_extensions = 0
        # Need fields that change over its life.
        self.status = ""
        self.lead_unit: int | None = None
        self.co_units: list[int] = []
        self.assigned_at: datetime | None = None
        self.response_due: datetime | None = None
        self.resolve_due: datetime | None = None
        self.original_resolve_due: datetime | None = None
        self.due_provisional = False
        self.calendar_version = ""
        self.responded_at: datetime | None = None
        self.replied_at: datetime | None = None
        self.outcome = ""
        self.reply_text = ""
        self.followup_date: date | None = None
        self.fulfilled_at: datetime | None = None
        self.closed_at: datetime | None = None
        self.callback_resolved = ""
        self.callback_satisfaction = ""
        self.callback_channel = ""
        self.callback_comment = ""
        self.callback_at: datetime | None = None
        self.extension_count = 0
        self.extension_pending_days: int | None = None
        self.extension_pending_reason = ""
        self.reopen_count = 0
        self.supervised = False
        self.merged_into: int | None = None
        self.version = 1
        self.registered_at: datetime | None = None
        self.updated_at: datetime | None = None

    # ---- plumbing

    @property
    def last_at(self) -> datetime:
        return self.events[-1].at

    def _event(
        self,
        at: datetime,
        actor: int | None,
        action: str,
        to_status: str,
        note: str = "",
        data: dict[str, Any] | None = None,
        *,
        record: bool = True,
    ) -> None:
        if self.events and at < self.events[-1].at:
            raise ValueError(f"{action} at {at} before the need's last event")
        payload = dict(data or {})
        payload.setdefault("lead_unit", self.lead_unit)
        self.events.append(
            Event(actor, action, self.status, to_status, note, payload, at, self.lead_unit)
        )
        self.status = to_status
        if record:  # `_record`: saved with the version incremented
            self.version += 1
            self.updated_at = at

    def sweep(self, until: datetime) -> None:
        """The sweep's 督办 reminders that fall before `until`, in time order."""
        while self.status in RUNNING and self.resolve_due is not None:
            due = cycle(self.resolve_due)
            candidates: list[tuple[datetime, str]] = []
            if (
                self.status == Status.ASSIGNED
                and self.response_due is not None
                and ("response_overdue", due) not in self.reminded
            ):
                candidates.append((sweep_after(self.response_due), "response_overdue"))
            if (
                self.status in RUNNING
                and self.replied_at is None
                and self.resolve_due is not None
                and ("overdue", due) not in self.reminded
            ):
                candidates.append((sweep_after(self.resolve_due), "overdue"))
            if not candidates:
                return
            at, kind = min(candidates)
            if at >= until:
                return
            self.reminded.add((kind, due))
            self.supervised = True
            # Level 0 and the city: the only dispatchers of the generated city work there.
            self._event(
                at,
                None,
                Action.REMIND,
                self.status,
                RESPONSE_OVERDUE_NOTE if kind == "response_overdue" else OVERDUE_NOTE,
                {"kind": kind, "due": due, "level": 0, "area": self.root_area},
            )

    def _missed_unmarked(self, kind: str) -> bool:
        return (kind, cycle(self.resolve_due)) not in self.reminded

    # ---- entering the ledger

    def register(self, at: datetime, actor: int | None, *, online: bool = False) -> None:
        self.registered_at = at
        self.updated_at = at
        self.status = ""
        self._event(
            at,
            actor,
            Action.REGISTER,
            Status.REGISTERED,
            data={"source": "online"} if online else None,
            record=False,
        )

    def register_on_the_spot(
        self, at: datetime, actor: int, *, proof: str, confirmed: bool, satisfaction: str
    ) -> None:
        self.registered_at = at
        self.updated_at = at
        self.outcome = Outcome.RESOLVED
        self.reply_text = proof
        self.replied_at = at
        self.responded_at = at
        if confirmed:
            self.callback_resolved = "yes"
            self.callback_satisfaction = satisfaction
            self.callback_channel = CallbackChannel.ON_SITE
            self.callback_at = at
            self.closed_at = at
        self._event(
            at,
            actor,
            Action.REGISTER_ON_THE_SPOT,
            Status.CLOSED if confirmed else Status.REPLIED,
            proof,
            {"confirmed": confirmed, "satisfaction": satisfaction},
            record=False,
        )

    # ---- the unit at work

    def assign(self, at: datetime, actor: int, *, lead: int, co: list[int]) -> bool:
        if self.status != Status.REGISTERED:
            return False
        self.sweep(at)
        rule = self.rules
        response_due, p1 = self.clock.due_after(at, rule.response_value, rule.response_unit)
        resolve_due, p2 = self.clock.due_after(at, rule.resolve_value, rule.resolve_unit)
        self.lead_unit = lead
        self.co_units = list(co)
        self.assigned_at = at
        self.response_due = response_due
        self.resolve_due = resolve_due
        self.original_resolve_due = resolve_due
        self.due_provisional = p1 or p2
        self.calendar_version = self.clock.version
        self.responded_at = None
        self.extension_pending_days = None
        self.extension_pending_reason = ""
        self.cycle_extensions = 0
        self._event(
            at,
            actor,
            Action.ASSIGN,
            Status.ASSIGNED,
            data={
                "lead_unit": lead,
                "co_units": list(co),
                "response_due": response_due.isoformat(),
                "resolve_due": resolve_due.isoformat(),
                "provisional": p1 or p2,
                "calendar_version": self.clock.version,
            },
        )
        return True

    def accept(self, at: datetime, actor: int) -> bool:
        if self.status != Status.ASSIGNED:
            return False
        self.sweep(at)
        self.responded_at = at
        due = self.response_due
        on_time = bool(due and at <= due)
        data: dict[str, Any] = {"on_time": on_time}
        if due and not on_time and self._missed_unmarked("response_overdue"):
            data["missed_unmarked"] = True
        self._event(at, actor, Action.ACCEPT, Status.IN_PROGRESS, data=data)
        return True

    def return_(self, at: datetime, actor: int, *, reason: str) -> bool:
        if self.status not in RUNNING:
            return False
        self.sweep(at)
        data = {"lead_unit": self.lead_unit}
        self.lead_unit = None
        self.co_units = []
        self.assigned_at = None
        self.response_due = None
        self.resolve_due = None
        self.original_resolve_due = None
        self.responded_at = None
        self.due_provisional = False
        self.extension_pending_days = None
        self.extension_pending_reason = ""
        self._event(at, actor, Action.RETURN, Status.REGISTERED, reason, data)
        return True

    def progress(self, at: datetime, actor: int, *, note: str) -> bool:
        if self.status != Status.IN_PROGRESS:
            return False
        self.sweep(at)
        self._event(at, actor, Action.PROGRESS, Status.IN_PROGRESS, note)
        return True

    def request_extension(self, at: datetime, actor: int, *, days: int, reason: str) -> bool:
        if (
            self.status != Status.IN_PROGRESS
            or self.extension_pending_days
            or self.cycle_extensions >= self.rules.max_extensions
            or not 1 <= days <= self.rules.max_extension_days
            or self.resolve_due is None
            or at >= self.resolve_due
        ):
            return False
        self.sweep(at)
        self.extension_pending_days = days
        self.extension_pending_reason = reason
        self._event(at, actor, Action.REQUEST_EXTENSION, Status.IN_PROGRESS, reason, {"days": days})
        return True

    def approve_extension(self, at: datetime, actor: int, *, note: str) -> bool:
        days = self.extension_pending_days
        if (
            self.status != Status.IN_PROGRESS
            or not days
            or self.resolve_due is None
            or at >= self.resolve_due
        ):
            return False
        self.sweep(at)
        new_due, provisional = self.clock.due_after(self.resolve_due, days, DurationUnit.WORKDAYS)
        data = {
            "days": days,
            "from": self.resolve_due.astimezone(UTC).isoformat(),
            "to": new_due.isoformat(),
            "calendar_version": self.clock.version,
        }
        self.resolve_due = new_due
        self.due_provisional = self.due_provisional or provisional
        self.extension_count += 1
        self.cycle_extensions += 1
        self.extension_pending_days = None
        self.extension_pending_reason = ""
        self._event(at, actor, Action.APPROVE_EXTENSION, Status.IN_PROGRESS, note, data)
        return True

    def deny_extension(self, at: datetime, actor: int, *, reason: str) -> bool:
        days = self.extension_pending_days
        if self.status != Status.IN_PROGRESS or not days:
            return False
        self.sweep(at)
        self.extension_pending_days = None
        self.extension_pending_reason = ""
        self._event(at, actor, Action.DENY_EXTENSION, Status.IN_PROGRESS, reason, {"days": days})
        return True

    # ---- the reply and after

    def reply(
        self, at: datetime, actor: int, *, outcome: str, text: str, followup: date | None
    ) -> bool:
        if self.status != Status.IN_PROGRESS:
            return False
        if (outcome == Outcome.PLANNED and followup is None) or (
            followup is not None and followup < local_date(at)
        ):
            return False
        self.sweep(at)
        self.outcome = outcome
        self.reply_text = text
        self.followup_date = followup
        self.replied_at = at
        self.extension_pending_days = None
        self.extension_pending_reason = ""
        on_time = bool(self.resolve_due and at <= self.resolve_due)
        data: dict[str, Any] = {
            "outcome": outcome,
            "followup_date": followup.isoformat() if followup else None,
            "on_time": on_time,
        }
        if self.resolve_due and not on_time and self._missed_unmarked("overdue"):
            data["missed_unmarked"] = True
        self._event(at, actor, Action.REPLY, Status.REPLIED, text, data)
        return True

    def callback_expires_at(self) -> datetime | None:
        """When the sweep closes this reply's callback as unreachable (nobody called back)."""
        if self.status != Status.REPLIED or self.replied_at is None:
            return None
        return sweep_after(self.replied_at + self.callback_window)

    def callback(
        self,
        at: datetime,
        actor: int,
        *,
        channel: str,
        resolved: str,
        satisfaction: str,
        comment: str,
    ) -> bool:
        expires = self.callback_expires_at()
        if expires is None or at >= expires:
            return False
        self.sweep(at)
        target = Status.FOLLOWING if self.outcome == Outcome.PLANNED else Status.CLOSED
        self.callback_resolved = resolved
        self.callback_satisfaction = satisfaction
        self.callback_channel = channel
        self.callback_comment = comment
        self.callback_at = at
        if target == Status.CLOSED:
            self.closed_at = at
        self._event(
            at,
            actor,
            Action.CALLBACK,
            target,
            comment,
            {"resolved": resolved, "satisfaction": satisfaction, "channel": channel},
        )
        return True

    def expire_callback(self) -> datetime | None:
        """`need_expire_callback` at the first sweep after the window; returns when."""
        at = self.callback_expires_at()
        if at is None:
            return None
        self.sweep(at)
        target = Status.FOLLOWING if self.outcome == Outcome.PLANNED else Status.CLOSED
        self.callback_channel = CallbackChannel.UNREACHABLE
        self.callback_at = at
        if target == Status.CLOSED:
            self.closed_at = at
        self._event(
            at,
            None,
            Action.CALLBACK,
            target,
            EXPIRED_NOTE,
            {"channel": CallbackChannel.UNREACHABLE},
        )
        return at

    def fulfil(self, at: datetime, actor: int, *, note: str) -> bool:
        if self.status != Status.FOLLOWING:
            return False
        self.sweep(at)
        self.fulfilled_at = at
        self.closed_at = at
        self._event(at, actor, Action.FULFIL, Status.CLOSED, note)
        return True

    def reopen(self, at: datetime, actor: int, *, reason: str) -> bool:
        if self.status not in (Status.REPLIED, Status.FOLLOWING, Status.CLOSED):
            return False
        if (
            self.status == Status.CLOSED
            and self.closed_at
            and at - self.closed_at > self.reopen_window
        ):
            return False
        if self.lead_unit is None:
            return False
        self.sweep(at)
        rule = self.rules
        resolve_due, provisional = self.clock.due_after(at, rule.resolve_value, rule.resolve_unit)
        data = {
            "previous_outcome": self.outcome,
            "previous_reply": self.reply_text,
            "lead_unit": self.lead_unit,
            "resolve_due": resolve_due.isoformat(),
            "calendar_version": self.clock.version,
        }
        self.resolve_due = resolve_due
        self.original_resolve_due = resolve_due
        self.due_provisional = provisional
        self.calendar_version = self.clock.version
        self.responded_at = self.responded_at or at
        self.outcome = ""
        self.reply_text = ""
        self.followup_date = None
        self.replied_at = None
        self.fulfilled_at = None
        self.closed_at = None
        self.callback_resolved = ""
        self.callback_satisfaction = ""
        self.callback_channel = ""
        self.callback_comment = ""
        self.callback_at = None
        self.reopen_count += 1
        self.cycle_extensions = 0
        self._event(at, actor, Action.REOPEN, Status.IN_PROGRESS, reason, data)
        return True

    # ---- oversight

    def supervise(self, at: datetime, actor: int, *, note: str) -> bool:
        if self.status not in ACTIVE:
            return False
        self.sweep(at)
        self.supervised = True
        self._event(at, actor, Action.SUPERVISE, self.status, note)
        return True

    def withdraw(self, at: datetime, actor: int, *, reason: str) -> bool:
        if self.status not in ACTIVE:
            return False
        self.sweep(at)
        self._event(at, actor, Action.WITHDRAW, Status.WITHDRAWN, reason)
        return True

    def merge(self, at: datetime, actor: int, *, into: int, into_number: str) -> bool:
        if self.status not in ACTIVE:
            return False
        self.sweep(at)
        self.merged_into = into
        self._event(at, actor, Action.MERGE, Status.MERGED, data={"into": into_number})
        return True

    def status_at(self, moment: datetime) -> tuple[str, int | None, int] | None:
        """(status, lead unit, index of the next event) just after `moment`; None before the
        need existed."""
        index = len(self.events)
        while index and self.events[index - 1].at > moment:
            index -= 1
        if index == 0:
            return None
        last = self.events[index - 1]
        return last.to_status, last.lead_after, index

    def merged_from(self, at: datetime, actor: int, *, source_number: str) -> bool:
        """The target's side of a merge, slotted in at `at` among events already made."""
        found = self.status_at(at)
        if found is None or found[0] not in ACTIVE:
            return False
        status, lead, index = found
        self.events.insert(
            index,
            Event(
                actor,
                Action.MERGED_FROM,
                status,
                status,
                "",
                {"from": source_number, "lead_unit": lead},
                at,
                lead,
            ),
        )
        self.version += 1  # an UPDATE of the version only: `updated_at` stays
        return True
