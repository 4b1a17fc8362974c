"""A need as an Open311 service request, personal data masked on the server.

Standard fields in the spec's order; with `extensions=true`, `extended_attributes` (the
FixMyStreet-style extended status and wenxu's own fields) and `notes` (the public steps), the
shape Chicago, Boston and San Francisco use (open311.org, GeoReport v2 Extensions).

Reads only what `selectors.requests_for_client` loaded, so a page costs a fixed number of
queries. What is public follows the resident's tracking page (`wenxu.public.tracking`): no
staff names, no internal notes; units are named, they answer to the public.
"""

import re
from collections.abc import Collection, Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from django.utils.translation import gettext as _

from wenxu.api.open311.render import w3c
from wenxu.lib.masking import mask_address
from wenxu.needs.models import Need, NeedEvent
from wenxu.needs.states import Action, Outcome, Status
from wenxu.public.responsiveness import NAME_MASK, scrub

CLOSED = frozenset({Status.CLOSED, Status.WITHDRAWN, Status.MERGED})
# Coordinates are rounded to 3 decimals (about 100 m): enough to find the place, not the home.
COORDINATE = Decimal("0.001")

# FixMyStreet's extended statuses ("Open311 FMS – Additional states"), from wenxu's status and
# the reply's outcome. docs/api/open311.md has the table.
_BY_OUTCOME: dict[str, str] = {
    Outcome.RESOLVED: "FIXED",
    Outcome.EXPLAINED: "NO_FURTHER_ACTION",
    Outcome.PLANNED: "ACTION_SCHEDULED",
    Outcome.REFERRED: "NOT_COUNCILS_RESPONSIBILITY",
}
_BY_STATUS: dict[str, str] = {
    Status.REGISTERED: "OPEN",
    Status.ASSIGNED: "ACTION_SCHEDULED",
    Status.IN_PROGRESS: "IN_PROGRESS",
    Status.WITHDRAWN: "CLOSED",
    Status.MERGED: "DUPLICATE",
}


def simple_status(status: str) -> str:
    return "closed" if status in CLOSED else "open"


def extended_status(status: str, outcome: str, verdict: str = "") -> str:
    """OPEN, ACTION_SCHEDULED, IN_PROGRESS, FIXED, NO_FURTHER_ACTION, …, CLOSED, DUPLICATE.

    `verdict` is the resident's answer at the callback: a need closed as resolved that the
    resident says is not (`no`) is CLOSED, not FIXED.
    """
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if status == Status.CLOSED and verdict == "no":
        return "CLOSED"
    if status == Status.CLOSED and outcome == Outcome.PLANNED:
        return "FIXED"  # the promise was fulfilled (a planned need closes only then)
    return _BY_OUTCOME.get(outcome, "CLOSED")


_LATIN = re.compile(r"[A-Za-z]")
# Where an address splits into parts: spaces and the punctuation people write between them.
_ADDRESS_PARTS = re.compile(r"[\s,，、;；/]+")
# A secret shorter than this is not masked on its own (it would mask ordinary words).
_SECRET_MIN = 4


def _spaced(value: str) -> str:
    """A pattern for `value` that also matches it with other spacing (村口 12 号 ~ 村口12号)."""
    return r"\s*".join(re.escape(c) for c in "".join(value.split()))


def _mask_latin_name(text: str, name: str) -> str:
    """A Latin name ("John Smith") as typed and each of its parts, whatever the case and the
    spacing, as whole words. (The shared `scrub` drops the spaces of the names it is given, so
    it never finds "John Smith".)"""
    parts = [p for p in name.split() if len(p) >= 2]
    if not parts:
        return text
    for pattern in [r"\s+".join(map(re.escape, parts)), *map(re.escape, parts)]:
        text = re.sub(rf"(?<![A-Za-z]){pattern}(?![A-Za-z])", NAME_MASK, text, flags=re.IGNORECASE)
    return text


def _address_secrets(address: str) -> list[str]:
    """What of an address is a secret: the whole of it, the part `mask_address` hides (house
    numbers and rooms) and each part of at least four characters."""
    address = " ".join((address or "").split())
    if not address:
        return []
    shown = mask_address(address).removesuffix("****").rstrip("*")
    hidden = address[len(shown) :] if address.startswith(shown) else ""
    parts = [p for p in _ADDRESS_PARTS.split(address) if p]
    return [address, hidden, *parts]


def _mask_secrets(text: str, secrets: list[str]) -> str:
    found = {s.strip() for s in secrets if len("".join((s or "").split())) >= _SECRET_MIN}
    for secret in sorted(found, key=len, reverse=True):
        text = re.sub(_spaced(secret), "****", text, flags=re.IGNORECASE)
    return text


def _safe(need: Need, text: str) -> str:
    """Free text with the requester's name, phone and address, the need's own address (the
    place of a leak, a dispute: often the resident's home) and any phone, ID or e-mail masked,
    and without the tracking code (a resident's secret).

    Addresses and Latin names are masked here before the shared `scrub`, which masks digit runs
    first (so a full address with a house number would no longer match) and compares names
    without their spaces."""
    person = need.requester
    names = [person.name] if person is not None else []
    secrets = [need.tracking_code]
    addresses = [need.address]
    if person is not None:
        secrets += [person.phone, person.id_number]
        addresses.append(person.address)
    out = _mask_secrets(text or "", [s for a in addresses for s in _address_secrets(a)])
    for name in names:
        if name and _LATIN.search(name):
            out = _mask_latin_name(out, name)
    return scrub(out, names=names, secrets=secrets)


def _media_url(need: Need, url: str) -> str | None:
    """The client's link without its query string, fragment or user name (where signed links
    and personal data hide); none at all when its path holds the requester's data."""
    if not url:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    clean = urlunsplit((parts.scheme, host, parts.path, "", ""))
    person = need.requester
    secrets = [need.tracking_code]
    if person is not None:
        secrets += [person.phone, person.id_number]
        words = (person.name or "").split()
        if _LATIN.search(person.name or ""):  # john-smith, john_smith, JohnSmith …
            secrets += [sep.join(words) for sep in ("", "-", "_", ".", " ")]
        elif len("".join(words)) >= 2:  # a Chinese name is a secret even when short
            secrets.append("".join(words))
    lowered = unquote(clean).lower()
    for secret in secrets:
        secret = (secret or "").strip().lower()
        long_enough = len(secret) >= _SECRET_MIN or not _LATIN.search(secret)
        if secret and long_enough and secret in lowered:
            return None
    return clean


def _coordinate(value: Decimal | None) -> float | None:
    if value is None:
        return None
    return float(value.quantize(COORDINATE, rounding=ROUND_HALF_UP))


def _events(need: Need) -> list[NeedEvent]:
    return list(need.events.all())  # prefetched, in seq order


def _register_data(need: Need) -> dict[str, Any]:
    for event in _events(need):
        if event.action in (Action.REGISTER, Action.REGISTER_ON_THE_SPOT):
            return dict(event.data or {})
    return {}


def status_notes(need: Need, visible: Collection[int] = ()) -> str | None:
    """Why the need is where it is: the reply, its withdrawal, or its merge.

    A withdrawal's reason is a dispatcher's internal note: the public text is fixed, as on the
    resident's tracking page. A merge names the need it went into only when that need is in
    `visible` (the key covers it); else it is "another need"."""
    if need.status == Status.MERGED and need.merged_into is not None:
        if need.merged_into_id in visible:
            return _("与其他群众反映的相同问题合并办理（%(number)s）。") % {
                "number": need.merged_into.number
            }
        return _("与其他群众反映的相同问题合并办理。")
    if need.status == Status.WITHDRAWN:
        return _("该诉求已撤销。")
    if need.reply_text:
        return _safe(need, need.reply_text)
    return None


def service_notice(need: Need) -> str:
    unit = need.lead_unit.name if need.lead_unit is not None else ""
    if need.status == Status.REGISTERED:
        return _("诉求已登记，正在确定责任单位。")
    if need.status in (Status.ASSIGNED, Status.IN_PROGRESS) and unit:
        return _("由%(unit)s办理。") % {"unit": unit}
    if need.status == Status.REPLIED:
        return _("已答复，工作人员将回访听取群众意见。")
    if need.status == Status.FOLLOWING:
        return _("已答复；需要创造条件解决的事项正在跟进，办成后再告知群众。")
    return _("已办结。") if need.status == Status.CLOSED else ""


def _address(need: Need) -> str:
    if need.address:
        return mask_address(need.address)
    return need.area.name


def _updated(need: Need) -> Any:
    if need.status == Status.CLOSED and need.closed_at is not None:
        return need.closed_at
    return need.updated_at


def request_json(
    need: Need,
    *,
    extensions: bool = False,
    units: Mapping[int, str] | None = None,
    visible: Collection[int] = (),
) -> dict[str, Any]:
    """One service request; `units` names the lead units the events mention (for `notes`),
    `visible` the needs the key may see (`selectors.visible_needs`, for a merge's target)."""
    registered = _register_data(need)
    item: dict[str, Any] = {
        "service_request_id": need.number,
        "status": simple_status(need.status),
        "status_notes": status_notes(need, visible),
        "service_name": need.category.name if need.category is not None else None,
        "service_code": str(need.category_id) if need.category_id is not None else None,
        "description": _safe(need, need.description),
        "agency_responsible": need.lead_unit.name if need.lead_unit is not None else None,
        "service_notice": service_notice(need) or None,
        "requested_datetime": w3c(need.registered_at),
        "updated_datetime": w3c(_updated(need)),
        "expected_datetime": w3c(need.resolve_due),
        "address": _address(need),
        "address_id": None,
        "zipcode": None,
        "lat": _coordinate(need.latitude),
        "long": _coordinate(need.longitude),
        "media_url": _media_url(need, str(registered.get("media_url") or "")),
    }
    if extensions:
        item["extended_attributes"] = extended_attributes(need)
        item["notes"] = notes(need, units or {})
    return item


def extended_attributes(need: Need) -> dict[str, Any]:
    return {
        "status": extended_status(need.status, need.outcome, need.callback_resolved),
        "wenxu_status": need.status,
        "ledger_number": need.number,
        "area": need.area.name,
        "lead_unit": need.lead_unit.name if need.lead_unit is not None else None,
        "co_units": [unit.name for unit in need.co_units.all()],
        "response_due": w3c(need.response_due),
        "resolve_due": w3c(need.resolve_due),
        "replied_datetime": w3c(need.replied_at),
        "outcome": need.outcome or None,
        "followup_date": need.followup_date.isoformat() if need.followup_date else None,
        "verdict_resolved": need.callback_resolved or None,
        "verdict_satisfaction": need.callback_satisfaction or None,
        "reopen_count": need.reopen_count,
    }


# The steps a resident sees on /track (wenxu.public.tracking), said of "the resident" rather
# than "you"; the rest (progress notes, reminders, extension requests) stay inside.
def _note_text(event: NeedEvent, units: Mapping[int, str]) -> str | None:
    unit = units.get(event.data.get("lead_unit") or 0, "")
    texts: dict[str, str] = {
        Action.REGISTER: _("诉求已登记"),
        Action.REGISTER_ON_THE_SPOT: _("工作人员现场办理（马上就办）"),
        Action.ASSIGN: _("交由%(unit)s办理") % {"unit": unit} if unit else _("已交办"),
        Action.ACCEPT: _("%(unit)s已受理") % {"unit": unit} if unit else _("已受理"),
        Action.RETURN: _("重新确定责任单位"),
        Action.APPROVE_EXTENSION: _("办理时限延长"),
        Action.REPLY: _("%(unit)s已答复") % {"unit": unit} if unit else _("已答复"),
        Action.CALLBACK: _("回访"),
        Action.FULFIL: _("承诺事项已办成"),
        Action.REOPEN: _("重新办理"),
        Action.REQUEST_REOPEN: _("群众对办理结果不满意，申请重办"),
        Action.DECLINE_REOPEN: _("不予重办"),
        Action.SUPERVISE: _("列入督办"),
        Action.WITHDRAW: _("撤销"),
        Action.MERGE: _("合并办理"),
    }
    return texts.get(event.action)


def _note_status(event: NeedEvent, outcome: str, verdict: str) -> str:
    if event.action == Action.RETURN:
        return "INTERNAL_REFERRAL"
    return extended_status(event.to_status, outcome, verdict)


def notes(need: Need, units: Mapping[int, str]) -> list[dict[str, Any]]:
    """The public steps, each with the extended status it left the need in."""
    result = []
    outcome = verdict = ""
    for event in _events(need):
        data = event.data if isinstance(event.data, dict) else {}
        if event.action == Action.REPLY:
            outcome, verdict = str(data.get("outcome") or ""), ""
        elif event.action == Action.REGISTER_ON_THE_SPOT:
            outcome = Outcome.RESOLVED
        elif event.action == Action.CALLBACK:
            verdict = str(data.get("resolved") or "")
        text = _note_text(event, units)
        if text is None:
            continue
        result.append(
            {
                "datetime": w3c(event.created_at),
                "type": event.action,
                "status": _note_status(event, outcome, verdict),
                "description": text,
            }
        )
    return result
