"""Writing to the security log. Every security-relevant change calls `audit_record` (issue #9).

`audit_prune` is the one way entries leave the log: only entries older than
`WENXU_AUDIT_KEEP_DAYS`, only from the start of the chain, and the cut is itself an entry.
"""

import ipaddress
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.ipv6 import clean_ipv6_address
from django.utils.translation import gettext as _

from wenxu.accounts.models import User
from wenxu.audit import actions, chain
from wenxu.audit.models import AuditEntry, AuditHead
from wenxu.lib import clientip, masking


class AuditRefused(Exception):
    """A prune that would break the rules; nothing was deleted. `message` says why, for people."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
# Mobiles (3-4-4, spaced or not, with or without +86), landlines with their area code, and any
# other run of 7 or more digits; dates such as 2031-10-08 are none of these.
_PHONE = re.compile(
    r"(?<!\d)(?:(?:\+|00)?86[\s-]?)?(?:1\d{2}[\s-]?\d{4}[\s-]?\d{4}|0\d{2,3}[\s-]?\d{7,8})(?!\d)"
    r"|\d{7,}"
)


def scrub_text(text: str) -> str:
    """Free text for an entry's detail (a search term, an object's name) with ID numbers and
    phone numbers masked: it may have been typed from a resident's data."""
    text = _ID_NUMBER.sub(lambda m: masking.mask_id_number(m.group(0)), text)
    return _PHONE.sub(lambda m: masking.mask_phone(m.group(0)), text)


def logged_username(typed: object) -> tuple[int | None, str]:
    """A username typed at a sign-in (failed, or locked out) as the log keeps it, and the account
    it names.

    A name that is an account's is kept whole (it is a staff account's name, and the evidence of
    who was tried). Any other is cut to its first three characters and "…": people type their
    password, a phone or an ID number into the username box, and the log is kept for months.
    """
    name = str(typed or "")[:150]
    known = (
        User.objects.filter(**{User.USERNAME_FIELD: name}).values_list("pk", flat=True).first()
        if name
        else None
    )
    if known is not None:
        return known, name
    return None, scrub_text(name[:3] + "…" if len(name) > 3 else name)


def rebuilt_head() -> AuditHead:
    """The head as the entries say it should be (not saved): it ends at the highest entry, and
    starts where the latest prune entry says (after the walk's checks, it must)."""
    head = AuditHead(pk=1)
    last = AuditEntry.objects.order_by("-seq").values_list("seq", "hash").first()
    if last is None:
        return head
    head.last_seq, head.last_hash = last
    pruned = (
        AuditEntry.objects.filter(action=actions.AUDIT_PRUNE)
        .order_by("-seq")
        .values_list("detail", flat=True)
        .first()
    )
    named = pruned if isinstance(pruned, dict) else {}
    base_seq, base_hash = named.get("base_seq"), named.get("base_hash")
    if isinstance(base_seq, int) and isinstance(base_hash, str) and 0 < base_seq < head.last_seq:
        head.base_seq, head.base_hash = base_seq, base_hash[:64]
    return head


def _head_for_update() -> AuditHead:
    """The head row, locked. Made at the first entry; made again from the entries if it was
    deleted behind wenxu's back (else every append would collide with an existing seq), with an
    AUDIT_HEAD_REBUILT entry first, so that `audit_verify` reports it."""
    head = AuditHead.objects.select_for_update().filter(pk=1).first()
    if head is not None:
        return head
    try:
        with transaction.atomic():
            rebuilt_head().save(force_insert=True)
    except IntegrityError:
        return AuditHead.objects.select_for_update().get(pk=1)  # another process made it first
    head = AuditHead.objects.select_for_update().get(pk=1)
    if head.last_seq:
        _append(
            head,
            action=actions.AUDIT_HEAD_REBUILT,
            user=None,
            target="audit:head",
            detail={"last_seq": head.last_seq, "base_seq": head.base_seq},
            ip=None,
        )
    return head


def _client_ip(request: HttpRequest | None) -> str | None:
    """The address as the database gives it back (Django's IPv6 form), so that the HMAC written
    is the HMAC that verification computes: Python writes ::ffff:1.2.3.4 as ::ffff:102:304."""
    if request is None:
        return None
    raw = clientip.client_ip(request) or ""  # behind WENXU_TRUSTED_PROXIES: the client
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return None
    return clean_ipv6_address(raw) if address.version == 6 else str(address)


def _text(value: str) -> str:
    # No NULs (PostgreSQL refuses them) and no lone surrogates (UTF-8 cannot hold them).
    return value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


def _clean(value: Any) -> Any:
    """JSON that both databases keep exactly: no NULs, valid UTF-8, no floats."""
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, dict):
        return {_text(str(k)): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, float):
        return str(value)
    if value is None or isinstance(value, bool | int):
        return value
    return _text(str(value))


def audit_record(
    *,
    action: str,
    actor: User | None,
    target: str = "",
    detail: dict[str, object] | None = None,
    request: HttpRequest | None = None,
) -> AuditEntry:
    """Append one entry to the chain, inside the caller's transaction when there is one.

    Appends are serialised by the head row's lock, so the chain has one order on every database;
    an entry written in a transaction that rolls back vanishes with it, leaving no gap. Callers
    in a long transaction should record last: the lock is held until their commit.
    `detail` must hold no unmasked personal data.
    """
    if action not in actions.LABELS:
        raise ValueError(f"unknown audit action {action!r}")
    user = actor if actor is not None and actor.pk is not None else None
    with transaction.atomic():
        head = _head_for_update()
        return _append(
            head, action=action, user=user, target=target, detail=detail, ip=_client_ip(request)
        )


def _append(
    head: AuditHead,
    *,
    action: str,
    user: User | None,
    target: str,
    detail: dict[str, object] | None,
    ip: str | None,
) -> AuditEntry:
    """Write the entry after the (locked) head, and move the head to it."""
    # The real time, never `clock.travel`'s: the log says when things happened.
    at = timezone.now().astimezone(UTC)
    values: dict[str, Any] = {
        "at": at,
        "action": action,
        "actor_id": user.pk if user else None,
        "actor_username": user.get_username() if user else "",
        "target": _clean(target)[:200],
        "detail": _clean(detail or {}),
        "ip": ip,
    }
    digest = chain.entry_hash(prev_hash=head.last_hash, **values)
    entry = AuditEntry.objects.create(
        seq=head.last_seq + 1, prev_hash=head.last_hash, hash=digest, **values
    )
    head.last_seq = entry.seq
    head.last_hash = digest
    head.save(update_fields=["last_seq", "last_hash"])
    return entry


# --------------------------------------------------------------------------- pruning


@dataclass(frozen=True)
class PrunePlan:
    """What a prune deletes: entries `first_seq`–`last_seq` (none when `count` is 0)."""

    before: date
    count: int
    first_seq: int
    last_seq: int
    first_at: datetime | None
    last_at: datetime | None


def prune_cutoff(before: date) -> datetime:
    """Local midnight (Asia/Shanghai) starting `before`: entries before it go."""
    return timezone.make_aware(datetime.combine(before, time.min))


def latest_prunable_date(now: datetime | None = None) -> date:
    """The latest `--before` date allowed: nothing younger than the keep period goes."""
    oldest_kept = (now or timezone.now()) - timedelta(days=settings.WENXU_AUDIT_KEEP_DAYS)
    return timezone.localdate(oldest_kept)


def _refuse_young(before: date) -> None:
    latest = latest_prunable_date()
    if before > latest:
        raise AuditRefused(
            _(
                "不能清理 %(before)s 之前的审计日志：记录至少保留 %(days)d 天"
                "（WENXU_AUDIT_KEEP_DAYS），今天最晚只能清理 %(latest)s 之前的记录。"
            )
            % {
                "before": before.isoformat(),
                "days": settings.WENXU_AUDIT_KEEP_DAYS,
                "latest": latest.isoformat(),
            }
        )


def _plan(before: date, base_seq: int) -> PrunePlan:
    """The entries at the start of the chain (after the base) all older than the cutoff.

    A prefix, never a selection: the chain stays one unbroken run after the new base, even if
    a clock once went backwards.
    """
    cutoff = prune_cutoff(before)
    after_base = AuditEntry.objects.filter(seq__gt=base_seq)
    first_young = after_base.filter(at__gte=cutoff).order_by("seq").values_list("seq").first()
    if first_young is not None:
        last_seq = first_young[0] - 1
    else:
        last_seq = after_base.order_by("-seq").values_list("seq", flat=True).first() or base_seq
    doomed = AuditEntry.objects.filter(seq__gt=base_seq, seq__lte=last_seq)
    count = doomed.count()
    first = doomed.order_by("seq").values_list("seq", "at").first()
    last = doomed.order_by("-seq").values_list("seq", "at").first()
    return PrunePlan(
        before=before,
        count=count,
        first_seq=first[0] if first else 0,
        last_seq=last[0] if last else 0,
        first_at=first[1] if first else None,
        last_at=last[1] if last else None,
    )


def audit_prune_plan(*, before: date) -> PrunePlan:
    """What `audit_prune` would delete; refuses (`AuditRefused`) a date inside the keep period."""
    _refuse_young(before)
    head = AuditHead.objects.filter(pk=1).first()
    return _plan(before, head.base_seq if head else 0)


def audit_prune(*, before: date, actor: User | None = None) -> PrunePlan:
    """Delete the entries older than `before` (local midnight) from the start of the chain.

    Refused, with nothing deleted, for a date inside `WENXU_AUDIT_KEEP_DAYS` and when the chain
    does not verify (pruning would destroy the evidence). In one transaction: the deletion, the
    head's new base (the last deleted entry's seq and HMAC, where verification starts) and an
    AUDIT_PRUNE entry naming that base.
    """
    from wenxu.audit.verify import audit_verify

    _refuse_young(before)
    checked = audit_verify()
    if not checked.ok:
        raise AuditRefused(
            _("审计日志校验未通过，不能清理（清理会删掉证据）：%(problem)s")
            % {"problem": checked.message}
        )
    with transaction.atomic():
        head = _head_for_update()
        plan = _plan(before, head.base_seq)
        if not plan.count:
            return plan
        base_hash = AuditEntry.objects.values_list("hash", flat=True).get(seq=plan.last_seq)
        AuditEntry.objects.filter(seq__gt=head.base_seq, seq__lte=plan.last_seq).delete()
        head.base_seq = plan.last_seq
        head.base_hash = base_hash
        head.save(update_fields=["base_seq", "base_hash"])
        audit_record(
            action=actions.AUDIT_PRUNE,
            actor=actor,
            target=f"audit:{plan.first_seq}-{plan.last_seq}",
            detail={
                "before": before.isoformat(),
                "deleted": plan.count,
                "first_seq": plan.first_seq,
                "base_seq": plan.last_seq,
                "base_hash": base_hash,
                "keep_days": settings.WENXU_AUDIT_KEEP_DAYS,
            },
        )
    return plan
