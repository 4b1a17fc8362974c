"""Which lifecycle actions a user may take on a need right now, for pages that offer them.

The services stay the authority: they check the same rules again under the row lock. This module
only asks those rules ahead of time, so that a page shows exactly the forms that would succeed
(input aside): the actor's roles (`_core.actor_roles` + `_core._may`), the transition table
(`states.allowed`) and the few conditions a service checks before it looks at the input (a
pending extension, the extension limit, the deadline, the reopen window, needs merged in, an
observed need not yet confirmed).
`wenxu/needs/tests/test_permissions.py` compares the answers with the services themselves.
"""

from datetime import datetime, timedelta

from django.conf import settings

from wenxu.accounts.models import User
from wenxu.lib import clock
from wenxu.needs import deadlines, states
from wenxu.needs.models import Need
from wenxu.needs.services._core import _may, actor_roles
from wenxu.needs.services.handling import _extensions_this_cycle
from wenxu.needs.states import Action, Status

# The actions a person takes on a need's page, in the order the page offers them.
UI_ACTIONS: tuple[str, ...] = (
    Action.ASSIGN,
    Action.ACCEPT,
    Action.REPLY,
    Action.PROGRESS,
    Action.REQUEST_EXTENSION,
    Action.APPROVE_EXTENSION,
    Action.DENY_EXTENSION,
    Action.RETURN,
    Action.CALLBACK,
    Action.FULFIL,
    Action.CONFIRM_OBSERVED,
    Action.REOPEN,
    Action.SUPERVISE,
    Action.REMIND,
    Action.MERGE,
    Action.WITHDRAW,
)


def may_take(user: User, need: Need, action: str) -> bool:
    """Whether the user's roles over the need allow `action` at all, whatever its status."""
    return action in states.TRANSITIONS and _may(action, actor_roles(user, need))


def available_actions(user: User, need: Need, *, now: datetime | None = None) -> list[str]:
    """The actions (`states.Action` values) `user` may take on `need` now, in page order."""
    roles = actor_roles(user, need)
    at = now or clock.now()
    return [
        action
        for action in UI_ACTIONS
        if states.allowed(action, need.status)
        and _may(action, roles)
        and _preconditions_hold(action, need, at)
    ]


def _preconditions_hold(action: str, need: Need, now: datetime) -> bool:
    if action == Action.REQUEST_EXTENSION:
        if need.extension_pending_days or need.resolve_due is None or now >= need.resolve_due:
            return False
        rule = deadlines.rule_for_need(need)
        return _extensions_this_cycle(need) < rule.max_extensions
    if action == Action.APPROVE_EXTENSION:
        return bool(need.extension_pending_days) and (
            need.resolve_due is not None and now < need.resolve_due
        )
    if action == Action.DENY_EXTENSION:
        return bool(need.extension_pending_days)
    if action == Action.REOPEN and need.status == Status.CLOSED and need.closed_at:
        return now - need.closed_at <= timedelta(days=settings.WENXU_REOPEN_WINDOW_DAYS)
    if action == Action.CONFIRM_OBSERVED:
        # 望闻问切: only a need the official observed, and only once (services.observed).
        return need.is_observed and need.observed_confirmed_at is None
    if action == Action.WITHDRAW:
        # Requesters of needs merged into this one wait on it (see services.need_withdraw).
        return not Need.objects.filter(merged_into=need, status=Status.MERGED).exists()
    return True
