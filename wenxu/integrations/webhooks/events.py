"""Webhook event types: one per need lifecycle action, named `need.<past tense>`."""

from django.utils.translation import gettext as _

from wenxu.needs.states import Action

TEST = "webhook.test"

# Every `Action` has a type (a test checks it), so a new action cannot be silently dropped.
TYPES: dict[str, str] = {
    Action.REGISTER: "need.registered",
    Action.REGISTER_ON_THE_SPOT: "need.registered_on_the_spot",
    Action.ASSIGN: "need.assigned",
    Action.ACCEPT: "need.accepted",
    Action.RETURN: "need.returned",
    Action.PROGRESS: "need.progress",
    Action.REQUEST_EXTENSION: "need.extension_requested",
    Action.APPROVE_EXTENSION: "need.extension_approved",
    Action.DENY_EXTENSION: "need.extension_denied",
    Action.REPLY: "need.replied",
    Action.CALLBACK: "need.callback",
    Action.FULFIL: "need.fulfilled",
    Action.REOPEN: "need.reopened",
    Action.SUPERVISE: "need.supervised",
    Action.REMIND: "need.reminded",
    Action.MERGE: "need.merged",
    Action.WITHDRAW: "need.withdrawn",
    Action.MERGED_FROM: "need.merge_received",
    Action.CONFIRM_OBSERVED: "need.observed_confirmed",
    Action.REQUEST_REOPEN: "need.reopen_requested",
    Action.DECLINE_REOPEN: "need.reopen_declined",
    Action.ABOUT_UNIT: "need.about_unit_changed",
    Action.DISCLOSE_TO_UNIT: "need.disclosed_to_unit",
}


def type_of(action: str) -> str:
    return TYPES.get(action, f"need.{action}")


def choices() -> list[tuple[str, str]]:
    """(type, label) for forms: the action's name after the type, in the user's language."""
    return [
        (kind, _("%(type)s（%(label)s）") % {"type": kind, "label": Action(action).label})
        for action, kind in TYPES.items()
    ]


def valid(types: object) -> bool:
    return isinstance(types, list) and all(
        isinstance(t, str) and t in TYPES.values() for t in types
    )
