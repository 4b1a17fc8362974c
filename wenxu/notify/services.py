"""Who hears of which need event, and the sweep's time-driven messages.

Per event (`notify_for_event`, run by the worker that drains the delivery queue, `notify.queue`,
and by the sweep's catch-up for an event whose delivery never ran):

- staff in-app notifications (`Notification`, unique per event and recipient);
- for the alerts in `messages.staff_text`, the same alert by e-mail to each of those staff with
  an address, and to the group robots of the lead unit and/or of the dispatchers' areas;
- the requester's text message (`messages.resident_drafts`), when they gave a phone.

Everything is keyed (notification: event + recipient; message: template + event + channel +
recipient), so producing an event's messages twice adds nothing; a `Delivery` row written in the
same transaction marks the event as done, so the catch-up skips it.
"""

from collections import defaultdict
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from wenxu.accounts.models import Membership, User
from wenxu.core import generation
from wenxu.lib import clock
from wenxu.lib.prepared import Prepared
from wenxu.needs.models import Need, NeedEvent
from wenxu.needs.selectors import units_on_the_lines_q
from wenxu.needs.states import Action, Status
from wenxu.notify import messages
from wenxu.notify.models import Delivery, DigestRun, Message, Notification, Robot
from wenxu.notify.outbox import Draft, enqueue
from wenxu.organisations.models import Area, Unit

# action → who hears of it in-app
_TO_LEAD_UNIT = {
    Action.ASSIGN,
    Action.SUPERVISE,
    Action.REMIND,
    Action.REOPEN,
    Action.APPROVE_EXTENSION,
    Action.DENY_EXTENSION,
}
# A newly registered need waits for triage (交办) by the dispatchers covering its area; a
# resident's reopen request waits for their decision.
_TO_DISPATCHERS = {
    Action.REGISTER,
    Action.RETURN,
    Action.REQUEST_EXTENSION,
    Action.REPLY,
    Action.REQUEST_REOPEN,
}
_TO_RECORDER = {Action.REPLY}
# The sweep's reminders that reach dispatchers and leaders (督办), at the level in their data.
_SUPERVISING = {"overdue", "response_overdue"}
_ESCALATED = "escalated"

# Alerts that go to the lead unit's group robot, and to the dispatchers' area robots.
_UNIT_ROBOT = {
    "assigned",
    "due_soon",
    "response_due_soon",
    "response_overdue",
    "overdue",
    "escalated",
}
_AREA_ROBOT = {
    "response_overdue",
    "overdue",
    "escalated",
    "extension_requested",
    "reopen_requested",
}

CATCH_UP_WINDOW = timedelta(hours=48)
# Events younger than this are left to their own delivery, which is normally under way.
CATCH_UP_GRACE = timedelta(minutes=2)


def _lead_unit_id(event: NeedEvent) -> int | None:
    """The lead unit the event concerns, as it was when the event happened: delivery may come
    after a return and a reassignment, and must not reach the unit that leads the need by then.
    Events written before events carried it fall back to the need's current lead unit."""
    if "lead_unit" in event.data:
        unit_id = event.data["lead_unit"]
        return int(unit_id) if unit_id is not None else None
    return event.need.lead_unit_id


def _unit_members(unit_id: int | None, role: str) -> list[int]:
    if unit_id is None:
        return []
    return list(
        Membership.objects.filter(role=role, unit_id=unit_id).values_list("user_id", flat=True)
    )


def _area_members(area_id: int, roles: list[str]) -> list[int]:
    return list(
        Membership.objects.filter(role__in=roles, area_id=area_id).values_list("user_id", flat=True)
    )


def _dispatchers(need: Need) -> list[int]:
    ancestor_ids = need.area.ancestors_and_self_ids()
    return list(
        Membership.objects.filter(role="dispatcher", area_id__in=ancestor_ids).values_list(
            "user_id", flat=True
        )
    )


def _remind_kind(event: NeedEvent) -> str | None:
    if event.action != Action.REMIND:
        return None
    kind = (event.data or {}).get("kind")
    return str(kind) if kind else None


def _recipients(event: NeedEvent, lead_unit: int | None) -> set[int]:
    need = event.need
    data = event.data or {}
    kind = _remind_kind(event)
    recipients: set[int] = set()
    if event.action in _TO_LEAD_UNIT:
        recipients.update(_unit_members(lead_unit, "handler"))
    if kind in _SUPERVISING or kind == _ESCALATED:
        # 督办: the dispatchers of the escalation level the alert was written for (written by
        # the sweep with the alert; older alerts without one reach every dispatcher above),
        # the leaders of an escalated level's area, and the lead unit's leaders.
        area = data.get("area")
        if area is not None:
            roles = ["dispatcher", "leader"] if kind == _ESCALATED else ["dispatcher"]
            recipients.update(_area_members(int(area), roles))
        elif kind in _SUPERVISING:
            recipients.update(_dispatchers(need))
        recipients.update(_unit_members(lead_unit, "leader"))
    if event.action in _TO_DISPATCHERS:
        recipients.update(_dispatchers(need))
    if event.action in _TO_RECORDER and need.recorded_by_id:
        recipients.add(need.recorded_by_id)
    if event.actor_id:
        recipients.discard(event.actor_id)
    return recipients - _kept_from_criticism(need, recipients)


def _kept_from_criticism(need: Need, users: set[int]) -> set[int]:
    """Of `users`, those who may not see the need because it criticises a unit on the line of
    one they work in, not disclosed to it (`needs.selectors.scope_q`): a handler at the lead
    unit who also works in the criticised unit hears nothing of it. Their recording it, or an
    area scope over it, shows them the need as it does on every page."""
    if need.about_unit_id is None or need.about_unit_disclosed or not users:
        return set()
    about = need.about_unit
    assert about is not None
    on_line = set(
        Membership.objects.filter(
            user_id__in=users, unit__in=Unit.objects.filter(units_on_the_lines_q([about.path]))
        ).values_list("user_id", flat=True)
    )
    if not on_line:
        return set()
    over_area = set(
        Membership.objects.filter(
            user_id__in=on_line, area_id__in=need.area.ancestors_and_self_ids()
        ).values_list("user_id", flat=True)
    )
    return on_line - over_area - {need.recorded_by_id}


def _robot_area_ids(event: NeedEvent) -> list[int]:
    """The areas whose dispatchers' robots hear of the event.

    Ancestors-or-self of the need's area; for a 督办 alert only the rungs its escalation level
    covers: from the need's area up to the level's area (the first alert of a cycle), or from
    just above the level told before up to this one (an escalation). So each group hears of
    an overdue need once, when the escalation reaches it.
    """
    path = list(reversed(event.need.area.ancestors_and_self_ids()))  # nearest first
    data = event.data or {}
    kind = _remind_kind(event)
    area = data.get("area")
    if (kind in _SUPERVISING or kind == _ESCALATED) and area in path:
        top = path.index(area) + 1
        below = data.get("below") if kind == _ESCALATED else None
        start = path.index(below) + 1 if below in path else 0
        return path[start:top]
    return path


def _robots(template: str, event: NeedEvent, lead_unit: int | None) -> list[Robot]:
    q = Q()
    if template in _UNIT_ROBOT and lead_unit is not None:
        q |= Q(unit_id=lead_unit)
    if template in _AREA_ROBOT:
        q |= Q(area_id__in=_robot_area_ids(event))
    if not q:
        return []
    return list(Robot.objects.filter(q, active=True).order_by("pk"))


# An event with what its messages say of the need: compiled once per connection (ADR 0030),
# as building this five-table join cost more than running it, for every event delivered.
_EVENT = Prepared(
    NeedEvent,
    lambda pk: NeedEvent.objects.select_related(
        "need__area", "need__requester", "need__about_unit", "actor"
    ).filter(pk=pk),
)


@transaction.atomic
def notify_for_event(*, event_id: int) -> int:
    """Write the notifications and queue the messages an event calls for; returns how many
    in-app notifications were new."""
    event = _EVENT.first(event_id)
    if event is None:
        return 0
    need = event.need
    lead_unit = _lead_unit_id(event)
    recipients = _recipients(event, lead_unit)
    users = list(User.objects.filter(pk__in=recipients, is_active=True).order_by("pk"))

    unit_name = ""
    if lead_unit is not None:
        unit = generation.kept_instances(Unit, [lead_unit]).get(lead_unit)
        unit_name = str(unit) if unit else ""
    area_name = ""
    if _remind_kind(event) == _ESCALATED and event.data.get("area") is not None:
        area_name = (
            Area.objects.filter(pk=event.data["area"]).values_list("name", flat=True).first() or ""
        )
    alert = messages.staff_text(event, unit_name=unit_name, area_name=area_name)

    if alert is not None:
        text = alert.text
    else:
        text = _("%(number)s「%(title)s」：%(action)s") % {
            "number": need.number,
            "title": messages.title_of(need, 60),
            "action": Action(event.action).label,
        }
    before = Notification.objects.filter(event=event).count()
    Notification.objects.bulk_create(
        [
            Notification(recipient=user, need=need, event=event, message=text[:300])
            for user in users
        ],
        ignore_conflicts=True,
    )
    created = Notification.objects.filter(event=event).count() - before

    drafts: list[Draft] = messages.resident_drafts(event)
    if alert is not None:
        drafts += messages.staff_drafts(
            trigger=f"e{event.pk}",
            alert=alert,
            users=users,
            robots=_robots(alert.template, event, lead_unit),
            need=need,
            url=messages.staff_url(need),
        )
    enqueue(drafts)
    Delivery.objects.bulk_create(
        [Delivery(event=event, delivered_at=clock.now())], ignore_conflicts=True
    )
    return created


# --------------------------------------------------------------------------- sweep work


def deliver_missed(*, at: datetime, limit: int = 500) -> int:
    """Catch-up: produce the messages of recent events (`CATCH_UP_WINDOW`) whose delivery never
    ran (a crash between the event's commit and its task, a delivery that raised) or waits on
    the delivery queue (`notify.queue`) longer than `CATCH_UP_GRACE`. Returns how many events."""
    missed = list(
        NeedEvent.objects.filter(
            created_at__gte=at - CATCH_UP_WINDOW, created_at__lt=at - CATCH_UP_GRACE
        )
        .filter(~Exists(Delivery.objects.filter(event_id=OuterRef("pk"))))
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    for event_id in missed:
        notify_for_event(event_id=event_id)
    return len(missed)


def request_callbacks(*, at: datetime, limit: int = 500) -> int:
    """回访提醒: a reply the resident has not rated after `WENXU_CALLBACK_REQUEST_DAYS` days
    gets one more text with the rating link (once per reply, before the callback window
    closes the need as unreachable). Returns how many messages were written."""
    from wenxu.needs.rating import rating_link_issue

    waited = at - timedelta(days=settings.WENXU_CALLBACK_REQUEST_DAYS)
    window = at - timedelta(days=settings.WENXU_CALLBACK_WINDOW_DAYS)
    asked = Message.objects.filter(
        need_id=OuterRef("pk"), template="callback_request", created_at__gte=OuterRef("replied_at")
    )
    needs = (
        Need.objects.filter(
            status=Status.REPLIED,
            replied_at__lte=waited,
            replied_at__gt=window,
            requester__isnull=False,
        )
        .exclude(requester__phone="")
        .filter(~Exists(asked))
        .select_related("requester")
        .order_by("pk")[:limit]
    )
    written = 0
    for need in needs:
        with transaction.atomic():
            draft = messages.callback_request_draft(need, rating_link_issue(need))
            if draft is not None:
                written += len(enqueue([draft], at=at))
    return written


def _local_day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_default_timezone())


def produce_digests(*, at: datetime) -> int:
    """每日汇总: after `WENXU_DIGEST_HOUR` (local time), one digest per unit and date to the
    unit's robots and its handlers' e-mail: newly assigned yesterday, awaiting acceptance, due
    within 24 hours, overdue. Units with nothing to report are skipped. Returns how many
    messages were written (0 once the day's digests exist)."""
    local = timezone.localtime(at, timezone.get_default_timezone())
    today = local.date()
    if local.hour < settings.WENXU_DIGEST_HOUR or DigestRun.objects.filter(date=today).exists():
        return 0
    start = _local_day_start(today)
    yesterday = start - timedelta(days=1)
    running = Q(status__in=[Status.ASSIGNED, Status.IN_PROGRESS], replied_at__isnull=True)
    new = Q(assigned_at__gte=yesterday, assigned_at__lt=start)
    rows = (
        Need.objects.filter(lead_unit__isnull=False)
        .filter(running | new)
        .values("lead_unit")
        .annotate(
            new=Count("pk", filter=new),
            waiting=Count("pk", filter=Q(status=Status.ASSIGNED)),
            soon=Count(
                "pk",
                filter=running & Q(resolve_due__gt=at, resolve_due__lte=at + timedelta(hours=24)),
            ),
            overdue=Count("pk", filter=running & Q(resolve_due__lt=at)),
        )
        .order_by("lead_unit")
    )
    counts = {
        int(row["lead_unit"]): messages.DigestCounts(
            new=row["new"], waiting=row["waiting"], soon=row["soon"], overdue=row["overdue"]
        )
        for row in rows
    }
    counts = {unit: c for unit, c in counts.items() if c.any()}
    units = Unit.objects.in_bulk(list(counts))
    robots: dict[int, list[Robot]] = defaultdict(list)
    for robot in Robot.objects.filter(unit_id__in=list(counts), active=True).order_by("pk"):
        assert robot.unit_id is not None
        robots[robot.unit_id].append(robot)
    handlers: dict[int, list[User]] = defaultdict(list)
    for membership in Membership.objects.filter(
        role="handler", unit_id__in=list(counts), user__is_active=True
    ).select_related("user"):
        assert membership.unit_id is not None
        handlers[membership.unit_id].append(membership.user)
    written = 0
    with transaction.atomic():
        for unit_id, unit_counts in sorted(counts.items()):
            unit = units.get(unit_id)
            if unit is None:
                continue
            alert = messages.digest_text(unit_name=str(unit), day=today, counts=unit_counts)
            drafts = messages.staff_drafts(
                trigger=f"u{unit_id}:{today.isoformat()}",
                alert=alert,
                users=handlers[unit_id],
                robots=robots[unit_id],
                need=None,
                url=f"{settings.WENXU_SITE_URL}/ledger/",
            )
            written += len(enqueue(drafts, at=at))
        DigestRun.objects.bulk_create(
            [DigestRun(date=today, produced_at=at)], ignore_conflicts=True
        )
    return written
