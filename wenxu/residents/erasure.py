"""Anonymising requesters: on request (PIPL right to deletion) and at the end of retention.

A requester is anonymised in place: name "（已匿名）", phone, ID number and home address blank
(`Requester.save()` keeps the blind-index columns in step). The need and its history stay in the
ledger (the three rates and the unit's record must not change), but wherever the need's own text
repeats the person's name, phone, ID number or home address, that text is starred: the need's
title, description, reply, callback comment and pending extension reason, the notes of its
events, the resident's reopen comments, and the summary of the visit that raised it. The need's
location (`Need.address`, ADR 0006) is the matter's place and stays, unless it is the requester's
home address. Messages still waiting to go to the person are cancelled, and the files of
exports that showed requesters unmasked are deleted once the anonymisation commits.

`NeedEvent` rows are append-only; starring personal data in their notes is the one exception,
made with `QuerySet.update` (the model's `save` refuses updates on purpose).

An erasure on request is also appended to the erasure journal (`WENXU_ERASURE_JOURNAL`, outside
the database, fsynced): a restored backup re-applies the erasures made after it
(`erasures_reapply`), so an erased person does not come back. The journal holds no personal
data: time, requester id, need numbers and the reason (starred).
"""

import json
import logging
import os
import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils.translation import gettext as _

from wenxu.accounts.models import User
from wenxu.audit import actions
from wenxu.audit.services import audit_record
from wenxu.lib import clock, masking

# The residents app sits below needs; erasure reaches up to the needs that repeat a person's
# data, which only this module (and retention) does.
from wenxu.needs import states
from wenxu.needs.exceptions import IllegalTransition, InvalidInput, NotFound
from wenxu.needs.models import Need, NeedEvent, ReopenRequest
from wenxu.notify.models import Message
from wenxu.residents.models import ANONYMISED_NAME, Requester
from wenxu.residents.scrub import loose_pattern as _loose
from wenxu.residents.scrub import masked_forms, phone_pattern
from wenxu.visits.models import Place, Visit

logger = logging.getLogger(__name__)

STARS = "***"
REASON_MAX = 500
JOURNAL_VERSION = 1

# Mainland mobiles and ID numbers typed into a reason: starred before it is stored anywhere.
_MOBILE = re.compile(r"(?<!\d)(?:\+?86[\s-]?)?1\d{2}[\s-]?\d{4}[\s-]?\d{4}(?!\d)")
_ID = re.compile(r"(?<!\d)\d{17}[\dXx](?!\d)|(?<!\d)\d{15}(?!\d)")


def anonymised_q(prefix: str = "") -> Q:
    """Requesters (or `prefix`-related ones) that hold no personal data any more."""
    return Q(
        **{
            f"{prefix}name": ANONYMISED_NAME,
            f"{prefix}phone": "",
            f"{prefix}id_number": "",
            f"{prefix}address": "",
        }
    )


def is_anonymised(requester: Requester) -> bool:
    return (
        requester.name == ANONYMISED_NAME
        and not requester.phone
        and not requester.id_number
        and not requester.address
    )


# --------------------------------------------------------------------------- starring


@dataclass(frozen=True)
class _Person:
    """What is starred for one requester: their own values, read before they are blanked."""

    name: str
    phone: str
    id_number: str
    address: str

    @classmethod
    def of(cls, requester: Requester) -> "_Person":
        name = "" if requester.name == ANONYMISED_NAME else requester.name
        return cls(
            name=(name or "").strip(),
            phone=(requester.phone or "").strip(),
            id_number=(requester.id_number or "").strip(),
            address=(requester.address or "").strip(),
        )

    def patterns(self) -> list[re.Pattern[str]]:
        values = []
        if len("".join(self.name.split())) >= 2:
            values.append(self.name)
        for value in (self.id_number, self.address):
            if len("".join(value.split())) >= 4:
                values.append(value)
        # As the services stored them in the texts (138****5678: still the person's).
        values += masked_forms(phone=self.phone, id_number=self.id_number)
        patterns = [_loose(v) for v in sorted(values, key=len, reverse=True)]
        # The phone however written: with or without +86, spaced, dashed, full-width.
        patterns.append(phone_pattern(self.phone, min_digits=5))
        return [p for p in patterns if p is not None]

    def is_home(self, place: str) -> bool:
        pattern = _loose(self.address) if self.address else None
        return bool(pattern and place.strip() and pattern.fullmatch(place.strip()))


def _starrer(person: _Person) -> Callable[[str], str]:
    patterns = person.patterns()

    def star(text: str) -> str:
        for pattern in patterns:
            text = pattern.sub(STARS, text)
        return text

    return star


def star_reason(reason: str, requester: Requester | None = None) -> str:
    """A reason made safe to store: the requester's own values and any mobile or ID starred."""
    text = " ".join(unicodedata.normalize("NFKC", reason or "").split())
    if requester is not None:
        text = _starrer(_Person.of(requester))(text)
    text = _ID.sub(STARS, text)
    return _MOBILE.sub(STARS, text)


# --------------------------------------------------------------------------- anonymising


@dataclass
class AnonymiseCount:
    requesters: int = 0
    needs: int = 0
    texts: int = 0  # need fields, event notes, reopen comments, visit texts and places starred
    messages: int = 0

    def add(self, other: "AnonymiseCount") -> None:
        self.requesters += other.requesters
        self.needs += other.needs
        self.texts += other.texts
        self.messages += other.messages


_NEED_TEXTS = ("title", "description", "reply_text", "callback_comment", "extension_pending_reason")


def anonymise_requesters(
    requesters: Iterable[Requester], *, places: bool = False
) -> AnonymiseCount:
    """Anonymise `requesters` and star their data in the texts of their needs (module doc).

    Call inside a transaction, with the requester rows locked. `places`: also blank the contact
    of the visited place when it is the same person (an erasure on request; retention keeps
    the households register as it is, it is not the requester's record).
    """
    people = {r.pk: (r, _Person.of(r)) for r in requesters}
    count = AnonymiseCount()
    if not people:
        return count
    needs = list(
        Need.objects.filter(requester_id__in=people).only(
            "pk", "requester_id", "address", "visit_id", *_NEED_TEXTS
        )
    )
    owner: dict[int, int] = {n.pk: n.requester_id for n in needs if n.requester_id is not None}
    stars = {pk: _starrer(person) for pk, (_r, person) in people.items()}

    for need in needs:
        person = people[owner[need.pk]][1]
        star = stars[owner[need.pk]]
        changed: dict[str, Any] = {}
        for name in _NEED_TEXTS:
            before = getattr(need, name) or ""
            after = star(before)
            if after != before:
                changed[name] = after
        if need.address and person.is_home(need.address):
            changed["address"] = ""
        elif need.address and (starred := star(need.address)) != need.address:
            changed["address"] = starred
        if changed:
            # The version moves on, so that an edit based on the old text is refused (ADR 0003).
            Need.objects.filter(pk=need.pk).update(**changed, version=F("version") + 1)
            count.texts += len(changed)
    count.needs = len(needs)

    for event in (
        NeedEvent.objects.filter(need_id__in=owner).exclude(note="").only("pk", "need_id", "note")
    ):
        starred = stars[owner[event.need_id]](event.note)
        if starred != event.note:
            NeedEvent.objects.filter(pk=event.pk).update(note=starred)
            count.texts += 1

    for request in ReopenRequest.objects.filter(need_id__in=owner).only(
        "pk", "need_id", "comment", "decline_reason"
    ):
        star = stars[owner[request.need_id]]
        changed = {
            name: star(getattr(request, name))
            for name in ("comment", "decline_reason")
            if star(getattr(request, name)) != getattr(request, name)
        }
        if changed:
            ReopenRequest.objects.filter(pk=request.pk).update(**changed)
            count.texts += len(changed)

    by_visit: dict[int, set[int]] = defaultdict(set)
    for need in needs:
        if need.visit_id:
            by_visit[need.visit_id].add(owner[need.pk])
    for visit in Visit.objects.filter(pk__in=by_visit).only(
        "pk", "summary", "mood_note", "place_id"
    ):
        changed = {}
        for name in ("summary", "mood_note"):
            text = getattr(visit, name)
            for requester_id in by_visit[visit.pk]:
                text = stars[requester_id](text)
            if text != getattr(visit, name):
                changed[name] = text
        if changed:
            Visit.objects.filter(pk=visit.pk).update(**changed)
            count.texts += len(changed)
        if places and visit.place_id:
            count.texts += _forget_place_contact(
                visit.place_id, [people[r][1] for r in by_visit[visit.pk]]
            )

    count.messages = Message.objects.filter(
        requester_id__in=people, status__in=[Message.Status.PENDING, Message.Status.FAILED]
    ).update(status=Message.Status.CANCELLED, last_error=_("诉求人个人信息已删除，消息取消。"))
    Message.objects.filter(requester_id__in=people).update(to_masked=ANONYMISED_NAME)

    for requester, _person in people.values():
        requester.name = ANONYMISED_NAME
        requester.phone = ""
        requester.id_number = ""
        requester.address = ""
        requester.save()  # save(): the blind indexes follow the blanked values
    count.requesters = len(people)
    # Unmasked export files written before would still hold the people's data.
    transaction.on_commit(_forget_revealed_exports, robust=True)
    return count


def _forget_revealed_exports() -> None:
    # Imported here: the exchange app builds on residents, not the other way round.
    from wenxu.exchange.services import export_revealed_files_delete

    export_revealed_files_delete()


def _forget_place_contact(place_id: int, persons: list[_Person]) -> int:
    place = Place.objects.filter(pk=place_id).only("pk", "contact_name", "contact_phone").first()
    if place is None:
        return 0
    for person in persons:
        phone = _loose(re.sub(r"\D", "", person.phone)) if person.phone else None
        same_phone = bool(
            phone and place.contact_phone and phone.fullmatch(place.contact_phone.strip())
        )
        same_name = bool(person.name and place.contact_name.strip() == person.name)
        if same_phone or same_name:
            Place.objects.filter(pk=place.pk).update(contact_name="", contact_phone="")
            return 2
    return 0


# --------------------------------------------------------------------------- the journal


def _journal_path() -> Path:
    return Path(settings.WENXU_ERASURE_JOURNAL)


def journal_append(entry: dict[str, object]) -> None:
    """One JSON line, written with one `write` (O_APPEND) and fsynced before returning."""
    path = _journal_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n").encode()
    created = not path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:  # the new file's name must survive a crash too
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


@dataclass(frozen=True)
class JournalEntry:
    at: datetime
    requester_id: int
    needs: tuple[str, ...]
    reason: str


def journal_entries(*, malformed: list[int] | None = None) -> Iterator[JournalEntry]:
    """The journal's entries in order; the numbers of unreadable lines go to `malformed`."""
    path = _journal_path()
    if not path.exists():
        return
    with path.open(encoding="utf-8", errors="replace") as fp:
        for number, line in enumerate(fp, start=1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
                at = datetime.fromisoformat(raw["time"])
                if at.tzinfo is None:
                    raise ValueError("naive time")
                entry = JournalEntry(
                    at=at,
                    requester_id=int(raw["requester"]),
                    needs=tuple(str(n) for n in raw.get("needs", [])),
                    reason=str(raw.get("reason", "")),
                )
            except (ValueError, KeyError, TypeError):
                if malformed is not None:
                    malformed.append(number)
                continue
            yield entry


# --------------------------------------------------------------------------- erasure on request


@dataclass(frozen=True)
class ErasureResult:
    requester_id: int
    masked_name: str
    masked_phone: str
    need_numbers: list[str]
    count: AnonymiseCount
    already: bool = False  # nothing left to erase: no journal line, no audit entry


def requester_erase(
    *,
    actor: User | None,
    reason: str,
    need_number: str = "",
    requester_id: int | None = None,
) -> ErasureResult:
    """删除个人信息: anonymise the requester of `need_number` (or `requester_id`) on request.

    Refused, changing nothing, without a reason, for an unknown need or requester, and while
    any of the requester's needs is still active (withdraw or close it first: every matter gets
    a reply). Audited (ERASURE) and appended to the erasure journal in the same step.
    """
    reason = " ".join((reason or "").split())
    if not reason:
        raise InvalidInput(
            {"reason": [_("请填写删除理由，例如“本人于某日书面申请删除个人信息”。")]}
        )
    if len(reason) > REASON_MAX:
        raise InvalidInput({"reason": [_("删除理由不能超过 %(max)s 个字。") % {"max": REASON_MAX}]})
    need_number = (need_number or "").strip().upper()
    if bool(need_number) == (requester_id is not None):
        raise InvalidInput(
            {"need": [_("请指定一件诉求的台账编号，或一位诉求人的编号（二选一）。")]}
        )

    with transaction.atomic():
        if need_number:
            need = Need.objects.filter(number=need_number).only("pk", "requester_id").first()
            if need is None:
                raise NotFound(_("未找到台账编号为 %(number)s 的诉求。") % {"number": need_number})
            if need.requester_id is None:
                raise InvalidInput(
                    {
                        "need": [
                            _("诉求 %(number)s 没有登记诉求人，无需删除个人信息。")
                            % {"number": need_number}
                        ]
                    }
                )
            requester_id = need.requester_id
        assert requester_id is not None  # one of the two was given (checked above)
        requester = Requester.objects.select_for_update().filter(pk=requester_id).first()
        if requester is None:
            raise NotFound(_("未找到编号为 %(id)s 的诉求人。") % {"id": requester_id})
        needs = list(
            Need.objects.select_for_update()
            .filter(requester=requester)
            .order_by("pk")
            .only("pk", "number", "status")
        )
        numbers = [n.number for n in needs]
        masked_name, masked_phone = requester.masked_name(), requester.masked_phone()
        if is_anonymised(requester):
            return ErasureResult(
                requester.pk, masked_name, masked_phone, numbers, AnonymiseCount(), already=True
            )
        active = [n.number for n in needs if n.status in states.ACTIVE]
        if active:
            raise IllegalTransition(
                _("诉求人还有未办结的诉求（%(numbers)s），请先办结或撤销，再删除个人信息。")
                % {"numbers": "、".join(active)}
            )
        safe_reason = star_reason(reason, requester)
        count = anonymise_requesters([requester], places=True)
        now = clock.now().astimezone(UTC)
        audit_record(
            action=actions.ERASURE,
            actor=actor,
            target=f"requester:{requester.pk}",
            detail={"needs": numbers, "reason": safe_reason, "changed": count.texts},
        )
        # Last, just before the commit: if the commit then fails, the journal names an erasure
        # the person asked for, and a restore carries it out; never the other way round.
        journal_append(
            {
                "v": JOURNAL_VERSION,
                "time": now.isoformat(timespec="microseconds"),
                "requester": requester.pk,
                "needs": numbers,
                "reason": safe_reason,
                "actor": actor.get_username() if actor is not None else "",
            }
        )
    return ErasureResult(requester.pk, masked_name, masked_phone, numbers, count)


# --------------------------------------------------------------------------- after a restore


@dataclass
class ReapplyResult:
    applied: list[int] = field(default_factory=list)  # requester ids anonymised again
    already: int = 0  # anonymised in the restored data already
    missing: int = 0  # the requester is not in the restored data (registered after it)
    mismatched: list[int] = field(default_factory=list)  # id there, but with other needs
    malformed: list[int] = field(default_factory=list)  # journal line numbers


def erasures_reapply(*, since: datetime) -> ReapplyResult:
    """Carry out again every journalled erasure made at or after `since` (a restore).

    An entry is applied only when the requester still has exactly the needs it names: a
    journal from another database (other ids) must not anonymise the wrong person. The
    requester's needs may be active in the restored data: the person asked, so it is done.
    Each erasure applied is audited again (its original entry was lost with the restore).
    """
    result = ReapplyResult()
    for entry in journal_entries(malformed=result.malformed):
        if entry.at < since:
            continue
        with transaction.atomic():
            requester = Requester.objects.select_for_update().filter(pk=entry.requester_id).first()
            if requester is None:
                result.missing += 1
                continue
            numbers = set(Need.objects.filter(requester=requester).values_list("number", flat=True))
            if numbers != set(entry.needs):
                result.mismatched.append(entry.requester_id)
                logger.warning(
                    "erasure journal: requester %s has other needs than journalled; not applied",
                    entry.requester_id,
                )
                continue
            if is_anonymised(requester):
                result.already += 1
                continue
            count = anonymise_requesters([requester], places=True)
            audit_record(
                action=actions.ERASURE,
                actor=None,
                target=f"requester:{requester.pk}",
                detail={
                    "needs": sorted(numbers),
                    "reason": entry.reason,
                    "changed": count.texts,
                    "reapplied": entry.at.isoformat(timespec="seconds"),
                },
            )
            result.applied.append(requester.pk)
    return result


def masked_label(requester: Requester) -> str:
    """How a requester is named in command output: id, masked name and phone."""
    parts = [f"#{requester.pk}", requester.masked_name() or "-"]
    if phone := requester.masked_phone():
        parts.append(phone)
    elif requester.id_number and not requester.confidential:
        parts.append(masking.mask_id_number(requester.id_number))
    return " ".join(parts)
