"""Needs in every state the detail page must handle, and the services as the oracle of rights."""

from collections.abc import Callable
from typing import Any

from django.db import transaction

from wenxu.needs import services
from wenxu.needs.exceptions import IllegalTransition, InvalidInput, NotPermitted
from wenxu.needs.models import Need
from wenxu.needs.permissions import UI_ACTIONS
from wenxu.needs.tests.helpers import at, closed, following, with_pending_extension

NOW = at(2026, 3, 16, 10)  # a working Monday; builders that need the past travel back
EARLY = at(2026, 3, 2, 9)  # due 2026-03-09 end of day: overdue by NOW
LONG_AGO = at(2026, 1, 5, 9)  # closed more than the 30-day reopen window before NOW

PERSONAS = (
    "dispatcher",
    "officer",
    "officer_b",
    "handler",
    "handler_other",
    "handler_roads",
    "leader",
    "admin",
    "outsider",
)


def _with_co(world: Any) -> Need:
    need = world.register()
    need = services.need_assign(
        actor=world.dispatcher,
        need=need,
        version=need.version,
        lead_unit=world.housing,
        co_units=[world.transport],
    )
    return services.need_accept(actor=world.handler, need=need, version=need.version)


def _extension_used(world: Any) -> Need:
    need = with_pending_extension(world)
    return services.need_approve_extension(actor=world.dispatcher, need=need, version=need.version)


def _past(when: Any, build: Callable[[Any], Need]) -> Callable[[Any, Any], Need]:
    def run(world: Any, time_machine: Any) -> Need:
        time_machine.move_to(when, tick=False)
        need = build(world)
        time_machine.move_to(NOW, tick=False)
        return need

    return run


def _overdue_pending(world: Any) -> Need:
    return with_pending_extension(world)


def _merged(world: Any) -> Need:
    need = world.register()
    target = world.register(title="同一路段路灯不亮")
    return services.need_merge(actor=world.dispatcher, need=need, version=need.version, into=target)


def _merge_target(world: Any) -> Need:
    duplicate = world.register(title="村口路灯坏了")
    target = world.register()
    services.need_merge(
        actor=world.dispatcher, need=duplicate, version=duplicate.version, into=target
    )
    return Need.objects.get(pk=target.pk)


def _withdrawn(world: Any) -> Need:
    need = world.register()
    return services.need_withdraw(
        actor=world.dispatcher, need=need, version=need.version, reason="重复登记"
    )


def _now(build: Callable[[Any], Need]) -> Callable[[Any, Any], Need]:
    return lambda world, time_machine: build(world)


STATES: dict[str, Callable[[Any, Any], Need]] = {
    "registered": _now(lambda w: w.register()),
    "assigned": _now(lambda w: w.assigned()),
    "in_progress": _now(lambda w: w.in_progress()),
    "in_progress_with_co_unit": _now(_with_co),
    "extension_pending": _now(with_pending_extension),
    "extension_used": _now(_extension_used),
    "overdue": _past(EARLY, lambda w: w.in_progress()),
    "overdue_extension_pending": _past(EARLY, _overdue_pending),
    "replied": _now(lambda w: w.replied()),
    "replied_planned": _now(lambda w: w.replied("planned")),
    "following": _now(following),
    "closed": _now(closed),
    "closed_long_ago": _past(LONG_AGO, closed),
    "withdrawn": _now(_withdrawn),
    "merged": _now(_merged),
    "merge_target": _now(_merge_target),
}


class _Rollback(Exception):
    pass


def _attempt(action: str, actor: Any, need: Need, target: Need) -> None:
    common: dict[str, Any] = {"actor": actor, "need": need.pk, "version": need.version}
    # Empty input wherever the service takes some: it answers InvalidInput only after it has
    # checked the actor's role, the version and the status.
    calls: dict[str, Callable[[], Need]] = {
        "assign": lambda: services.need_assign(**common, lead_unit=None),
        "accept": lambda: services.need_accept(**common),
        "return": lambda: services.need_return(**common, reason=""),
        "progress": lambda: services.need_progress(**common, note=""),
        "request_extension": lambda: services.need_request_extension(**common, days=0, reason=""),
        "approve_extension": lambda: services.need_approve_extension(**common),
        "deny_extension": lambda: services.need_deny_extension(**common, reason=""),
        "reply": lambda: services.need_reply(**common, outcome="", reply_text=""),
        "callback": lambda: services.need_callback(**common, channel=""),
        "fulfil": lambda: services.need_fulfil(**common, note=""),
        "reopen": lambda: services.need_reopen(**common, reason=""),
        "supervise": lambda: services.need_supervise(**common, note=""),
        "remind": lambda: services.need_remind(**common),
        "merge": lambda: services.need_merge(**common, into=target),
        "withdraw": lambda: services.need_withdraw(**common, reason=""),
        "confirm_observed": lambda: services.need_confirm_observed(**common),
    }
    calls[action]()


def service_accepts(action: str, actor: Any, need: Need, target: Need) -> bool:
    """Whether the service would take `action` from `actor` (input aside); changes nothing."""
    try:
        with transaction.atomic():
            _attempt(action, actor, need, target)
            raise _Rollback
    except (_Rollback, InvalidInput):
        return True
    except (NotPermitted, IllegalTransition):
        return False


def actions_services_accept(actor: Any, need: Need, target: Need) -> list[str]:
    return [action for action in UI_ACTIONS if service_accepts(action, actor, need, target)]
