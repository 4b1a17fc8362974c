"""Who hears of which need event, written as in-app notifications."""

from django.db.models import Q
from django.utils.translation import gettext as _

from wenxu.accounts.models import Membership, User
from wenxu.needs.models import Need, NeedEvent
from wenxu.needs.states import Action
from wenxu.notify.models import Notification

# action → who hears of it
_TO_LEAD_UNIT = {
    Action.ASSIGN,
    Action.SUPERVISE,
    Action.REMIND,
    Action.REOPEN,
    Action.APPROVE_EXTENSION,
    Action.DENY_EXTENSION,
}
# A newly registered need waits for triage (交办) by the dispatchers covering its area.
_TO_DISPATCHERS = {Action.REGISTER, Action.RETURN, Action.REQUEST_EXTENSION, Action.REPLY}
_TO_RECORDER = {Action.REPLY}
_ESCALATIONS = {"overdue", "response_overdue"}  # the sweep's reminders that reach dispatchers


def _lead_unit_id(event: NeedEvent) -> int | None:
    """The lead unit the event concerns, as it was when the event happened: delivery may come
    after a return and a reassignment, and must not reach the unit that leads the need by then.
    Events written before events carried it fall back to the need's current lead unit."""
    if "lead_unit" in event.data:
        unit_id = event.data["lead_unit"]
        return int(unit_id) if unit_id is not None else None
    return event.need.lead_unit_id


def _unit_handlers(unit_id: int | None) -> list[int]:
    if unit_id is None:
        return []
    return list(
        Membership.objects.filter(role="handler", unit_id=unit_id).values_list("user_id", flat=True)
    )


def _dispatchers(need: Need) -> list[int]:
    ancestor_ids = need.area.ancestors_and_self_ids()
    return list(
        Membership.objects.filter(role="dispatcher", area_id__in=ancestor_ids).values_list(
            "user_id", flat=True
        )
    )


def notify_for_event(*, event_id: int) -> int:
    """Write the notifications an event calls for; returns how many were new."""
    event = NeedEvent.objects.select_related("need__area", "actor").filter(pk=event_id).first()
    if event is None:
        return 0
    need = event.need
    recipients: set[int] = set()
    if event.action in _TO_LEAD_UNIT:
        recipients.update(_unit_handlers(_lead_unit_id(event)))
    escalated = event.action == Action.REMIND and event.data.get("kind") in _ESCALATIONS
    if event.action in _TO_DISPATCHERS or escalated:
        recipients.update(_dispatchers(need))
    if event.action in _TO_RECORDER and need.recorded_by_id:
        recipients.add(need.recorded_by_id)
    if event.actor_id:
        recipients.discard(event.actor_id)
    if not recipients:
        return 0
    active = User.objects.filter(Q(pk__in=recipients), is_active=True).values_list("pk", flat=True)
    message = _("%(number)s「%(title)s」：%(action)s") % {
        "number": need.number,
        "title": need.title[:60],
        "action": Action(event.action).label,
    }
    before = Notification.objects.filter(event=event).count()
    Notification.objects.bulk_create(
        [Notification(recipient_id=uid, need=need, event=event, message=message) for uid in active],
        ignore_conflicts=True,
    )
    return Notification.objects.filter(event=event).count() - before
