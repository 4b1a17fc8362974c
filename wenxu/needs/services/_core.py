"""The plumbing every lifecycle service shares: rights, row lock, version check, events.

Each action: lock the row, check the actor's right, the version the actor saw and the
transition table, write the change and an append-only `NeedEvent` in the same transaction,
with the event's delivery queued in it (`wenxu.notify.queue`); other side effects wait for
`transaction.on_commit`. Concurrency: the row lock (SELECT … FOR UPDATE on PostgreSQL;
IMMEDIATE transactions on SQLite) serialises writers, and the version check refuses a write
based on a stale read, so no edit is silently lost.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Max
from django.utils.translation import gettext as _

from wenxu.accounts.models import AREA_ROLES, UNIT_ROLES, User
from wenxu.accounts.selectors import roles_over_area, scopes_for_user
from wenxu.core import generation
from wenxu.lib import clock
from wenxu.lib.prepared import Prepared
from wenxu.needs import states
from wenxu.needs.exceptions import IllegalTransition, InvalidInput, NotPermitted, StaleVersion
from wenxu.needs.models import Need, NeedEvent
from wenxu.needs.selectors import with_kept_references
from wenxu.needs.states import Action, Status
from wenxu.notify.queue import queue_delivery
from wenxu.residents.scrub import holds_digits, scrub_requester_data

LEAD = "lead"  # pseudo-role: a handler of the lead unit
CO = "co"  # pseudo-role: a handler of a co unit


# --------------------------------------------------------------------------- rights


def actor_roles(actor: User | None, need: Need) -> set[str]:
    """The roles `actor` holds over `need`; `None` is the system (sweeps, reminders)."""
    if actor is None:
        return {states.SYSTEM}
    if not actor.is_active:
        return set()
    # Each role counts only over the kind of scope it may hold (accounts.models.AREA_ROLES /
    # UNIT_ROLES, also a database constraint): a unit-scoped dispatcher row, should one exist,
    # must not make its holder a dispatcher of every need the unit leads.
    roles = roles_over_area(actor, need.area.path) & AREA_ROLES
    lead_path = need.lead_unit.path if need.lead_unit else None
    co_paths: list[str] | None = None  # read only when a unit scope is not the lead's
    for scope in scopes_for_user(actor):
        if not scope.unit_path or scope.role not in UNIT_ROLES:
            continue
        if lead_path and lead_path.startswith(scope.unit_path):
            roles.add(scope.role)
            if scope.role == states.HANDLER:
                roles.add(LEAD)
            continue
        if co_paths is None:
            co_paths = [unit.path for unit in need.co_units.all()] if need.pk else []
        if any(path.startswith(scope.unit_path) for path in co_paths):
            if scope.role == states.HANDLER:
                roles.add(CO)
            elif scope.role == states.LEADER:
                roles.add(scope.role)
    if need.recorded_by_id == actor.pk and any(
        s.role == states.OFFICER for s in scopes_for_user(actor)
    ):
        roles.add(states.OFFICER)
    return roles


# Actions a handler takes only for the lead unit; co-unit handlers may add progress notes.
_LEAD_ONLY = {
    Action.ACCEPT,
    Action.RETURN,
    Action.REQUEST_EXTENSION,
    Action.REPLY,
    Action.FULFIL,
}


def _may(action: str, roles: set[str]) -> bool:
    allowed = states.TRANSITIONS[action].roles
    effective = set(roles)
    if states.HANDLER in effective and LEAD not in effective:
        # A handler's rights on a need come through the lead (or a co) unit, not their area.
        effective.discard(states.HANDLER)
    if CO in roles and action == Action.PROGRESS:
        effective.add(states.HANDLER)
    if action in _LEAD_ONLY and LEAD not in roles:
        effective.discard(states.HANDLER)
    return bool(allowed & effective)


# --------------------------------------------------------------------------- plumbing


@dataclass
class _Change:
    need: Need
    actor: User | None
    action: str
    from_status: str
    fields: set[str] = field(default_factory=set)
    note: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def set(self, **values: Any) -> None:
        for name, value in values.items():
            setattr(self.need, name, value)
            self.fields.add(name)


# The need's row, locked: compiled once per connection (ADR 0030); its area, units and category
# then come from what a web process keeps (ADR 0026) instead of three joins.
_LOCKED = Prepared(
    Need, lambda pk: Need.objects.select_for_update(of=("self",)).filter(pk=pk), write=True
)


def _lock(need_id: int) -> Need:
    if generation.current() is None:  # outside a web request nothing is kept: join them
        return (
            Need.objects.select_for_update(of=("self",))
            .select_related("area", "lead_unit", "category")
            .get(pk=need_id)
        )
    need = _LOCKED.first(need_id)
    if need is None:
        raise Need.DoesNotExist("Need matching query does not exist.")
    return with_kept_references([need])[0]


def _begin(*, actor: User | None, need: Need | int, version: int | None, action: str) -> _Change:
    locked = _lock(need if isinstance(need, int) else need.pk)
    roles = actor_roles(actor, locked)
    if not _may(action, roles):
        raise NotPermitted(
            _("您的角色不能对该诉求执行“%(action)s”。") % {"action": Action(action).label}
        )
    if version is not None and version != locked.version:
        raise StaleVersion()
    if not states.allowed(action, locked.status):
        raise IllegalTransition(
            _("诉求当前状态为“%(status)s”，不能执行“%(action)s”。")
            % {"status": Status(locked.status).label, "action": Action(action).label}
        )
    return _Change(need=locked, actor=actor, action=action, from_status=locked.status)


# A need's free texts, which may repeat the requester's phone or ID number (issue #9).
SCRUBBED_FIELDS = (
    "title",
    "description",
    "address",
    "reply_text",
    "callback_comment",
    "extension_pending_reason",
)


def scrub_for_need(need: Need, text: str) -> str:
    """`text` as it may be stored with `need`: its requester's own phone and ID number masked
    (`wenxu.residents.scrub`); fully starred when the requester's identity is kept from some
    viewers (保密, or a criticism of a unit). Reads the requester only for a text with digits."""
    if not text or need.requester_id is None or not holds_digits(text):
        return text
    requester = need.requester
    assert requester is not None
    return scrub_requester_data(
        text,
        phone=requester.phone,
        id_number=requester.id_number,
        hidden=requester.confidential or need.about_unit_id is not None,
    )


def scrub_need_texts(need: Need, names: Iterable[str] = SCRUBBED_FIELDS) -> None:
    """Scrub the need's free texts among `names` in place (before they are saved)."""
    for name in names:
        if name in SCRUBBED_FIELDS and isinstance(value := getattr(need, name), str):
            setattr(need, name, scrub_for_need(need, value))


def _record(change: _Change, to_status: str | None = None) -> NeedEvent:
    need = change.need
    if to_status is not None:
        change.set(status=to_status)
    scrub_need_texts(need, change.fields)
    change.note = scrub_for_need(need, change.note)
    # The row is locked and its version checked in `_begin`, so a plain increment is safe.
    need.version += 1
    need.save(update_fields=[*sorted(change.fields), "version", "updated_at"])
    return _append_event(
        need=need,
        actor=change.actor,
        action=change.action,
        from_status=change.from_status,
        to_status=need.status,
        note=change.note,
        data=change.data,
    )


def _append_event(
    *,
    need: Need,
    actor: User | None,
    action: str,
    from_status: str,
    to_status: str,
    note: str = "",
    data: dict[str, Any] | None = None,
    first: bool = False,
) -> NeedEvent:
    """Append the need's next event and queue its delivery (`wenxu.notify.queue`); `first`:
    the need was created in this transaction, so it has none yet (saves reading the last
    sequence number)."""
    last = 0 if first else need.events.aggregate(last=Max("seq"))["last"] or 0
    # Every event names the lead unit it concerns, as it was when it happened, so that a delayed
    # delivery notifies that unit, not whoever leads the need by then. An action that sets its
    # own (assign, reopen: the new unit; return: the unit that gave it back) keeps it.
    payload = {**(data or {})}
    payload.setdefault("lead_unit", need.lead_unit_id)
    note = scrub_for_need(need, note)
    event = NeedEvent.objects.create(
        need=need,
        seq=last + 1,
        actor=actor,
        action=action,
        from_status=from_status,
        to_status=to_status,
        note=note,
        data=payload,
        created_at=clock.now(),
    )
    queue_delivery(event.pk)
    return event


def _required_text(errors: dict[str, list[str]], name: str, value: str | None, label: str) -> str:
    text = (value or "").strip()
    if not text:
        errors.setdefault(name, []).append(_("请填写%(label)s。") % {"label": label})
    return text


def _raise(errors: dict[str, list[str]]) -> None:
    if errors:
        raise InvalidInput(errors)


def missed_without_reminder(need: Need, kind: str) -> bool:
    """Whether a deadline the need just missed (kind `response_overdue` or `overdue`) went without
    the sweep's 督办 reminder for it: then the late accept or reply itself records the miss, so
    each deadline that fell due counts once in the rates (docs/measures.md). Called under the
    row lock, which the sweep's reminder takes too."""
    from wenxu.needs.services.oversight import remind_cycle

    return not need.events.filter(
        action=Action.REMIND, data__kind=kind, data__due=remind_cycle(need, kind)
    ).exists()
