"""The JSON bodies: what a receiver learns of a need event, without personal data.

Only the ledger number, statuses, category, area, lead unit, deadlines and version go out: no
requester, no title or description, no notes, no staff names (any of them may name a person).
The `need` block is the need as the fan-out read it when writing the delivery (within a sweep
of the event, so two events fanned out together carry the same later `need`); the `event` block
is exactly the event, with `seq`, its number in the need's history (1, 2, …): the key to
order a need's events by. Chinese stays Chinese (UTF-8, not \\u escapes).
"""

import json
from datetime import datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from wenxu.integrations.webhooks import events
from wenxu.needs.models import Need, NeedEvent

SHANGHAI = ZoneInfo("Asia/Shanghai")


def w3c(moment: datetime | None) -> str | None:
    """`2026-11-29T19:21:18+08:00`: W3C date-time in China time."""
    if moment is None:
        return None
    return moment.astimezone(SHANGHAI).isoformat(timespec="seconds")


def need_block(need: Need) -> dict[str, Any]:
    category = need.category
    unit = need.lead_unit
    return {
        "number": need.number,
        "status": need.status,
        "category": {"id": category.pk, "name": category.name} if category else None,
        "area": {"id": need.area.pk, "name": need.area.name, "code": need.area.code},
        "lead_unit": {"id": unit.pk, "name": unit.name} if unit else None,
        "response_due": w3c(need.response_due),
        "resolve_due": w3c(need.resolve_due),
        "version": need.version,
    }


def event_body(*, delivery_id: UUID, created_at: datetime, event: NeedEvent) -> str:
    payload = {
        "id": str(delivery_id),
        "type": events.type_of(event.action),
        "created_at": w3c(created_at),
        "need": need_block(event.need),
        "event": {
            "seq": event.seq,
            "action": event.action,
            "from_status": event.from_status or None,
            "to_status": event.to_status or None,
            "at": w3c(event.created_at),
        },
    }
    return dumps(payload)


def test_body(*, delivery_id: UUID, created_at: datetime) -> str:
    return dumps(
        {
            "id": str(delivery_id),
            "type": events.TEST,
            "created_at": w3c(created_at),
            "need": None,
            "event": None,
        }
    )


def dumps(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
