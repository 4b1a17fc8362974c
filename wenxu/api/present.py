"""A need as the API shows it: issue #2's field names, personal data masked on the server.

Reads only what the scoped selector has already loaded (select_related / prefetch_related),
so a page of needs costs a constant number of queries.
"""

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from wenxu.accounts.models import User
from wenxu.needs.models import Need, NeedEvent
from wenxu.needs.selectors import requester_for_viewer


def _local(value: datetime | None) -> datetime | None:
    return timezone.localtime(value) if value is not None else None


def _ref(obj: Any) -> dict[str, Any] | None:
    return {"id": obj.pk, "name": obj.name} if obj is not None else None


def need_json(need: Need, *, now: datetime, viewer: User) -> dict[str, Any]:
    """`viewer`: who asks; the requester stays confidential to the staff of a unit the need
    criticises (issue #9)."""
    callback = None
    if need.callback_at is not None:
        callback = {
            "resolved": need.callback_resolved or None,
            "satisfaction": need.callback_satisfaction or None,
            "channel": need.callback_channel or None,
            "at": _local(need.callback_at),
        }
    return {
        "number": need.number,
        "tracking_code": need.tracking_code,
        "title": need.title,
        "description": need.description,
        "category": _ref(need.category),
        "kind": need.kind,
        "urgency": need.urgency,
        "nature_tags": list(need.nature_tags or []),
        "source": need.source,
        "area": _ref(need.area),
        "address": need.address,
        "requester": requester_for_viewer(viewer, need),
        "status": need.status,
        "handling": need.handling,
        "registered_at": _local(need.registered_at),
        "lead_unit": _ref(need.lead_unit),
        "co_units": [_ref(unit) for unit in need.co_units.all()],
        "response_due": _local(need.response_due),
        "resolve_due": _local(need.resolve_due),
        "responded_at": _local(need.responded_at),
        "replied_at": _local(need.replied_at),
        "outcome": need.outcome or None,
        "reply_text": need.reply_text,
        "followup_date": need.followup_date,
        "callback": callback,
        "reopen_count": need.reopen_count,
        "extension_count": need.extension_count,
        "extension_pending_days": need.extension_pending_days,
        "supervised": need.supervised,
        "merged_into": need.merged_into.number if need.merged_into is not None else None,
        "about_unit": _ref(need.about_unit),
        "about_unit_disclosed": need.about_unit_disclosed,
        "overdue": need.is_overdue(now),
        "version": need.version,
        "client_uuid": need.client_uuid,
    }


def event_json(event: NeedEvent) -> dict[str, Any]:
    # Only who, what and the note: `data` may carry earlier replies and is kept internal.
    return {
        "seq": event.seq,
        "action": event.action,
        "from_status": event.from_status or None,
        "to_status": event.to_status,
        "actor": str(event.actor) if event.actor is not None else _("系统"),
        "note": event.note,
        "at": _local(event.created_at),
    }


def need_detail_json(
    need: Need, *, now: datetime, events: Iterable[NeedEvent], viewer: User
) -> dict[str, Any]:
    return {**need_json(need, now=now, viewer=viewer), "events": [event_json(e) for e in events]}
