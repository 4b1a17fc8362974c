"""Writing to the security log. Every security-relevant change calls `audit_record` (issue #9)."""

import ipaddress
from datetime import UTC
from typing import Any

from django.db import IntegrityError, transaction
from django.http import HttpRequest

from wenxu.accounts.models import User
from wenxu.audit import actions, chain
from wenxu.audit.models import AuditEntry, AuditHead
from wenxu.lib import clock


def _head_for_update() -> AuditHead:
    head = AuditHead.objects.select_for_update().filter(pk=1).first()
    if head is not None:
        return head
    try:
        with transaction.atomic():
            AuditHead.objects.create(pk=1)
    except IntegrityError:
        pass  # another process made it first
    return AuditHead.objects.select_for_update().get(pk=1)


def _client_ip(request: HttpRequest | None) -> str | None:
    if request is None:
        return None
    raw = request.META.get("REMOTE_ADDR") or ""
    try:
        return str(ipaddress.ip_address(raw))
    except ValueError:
        return None


def _clean(value: Any) -> Any:
    """JSON that both databases keep exactly: no NULs (PostgreSQL refuses them), no floats."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {str(k).replace("\x00", ""): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, float):
        return str(value)
    if value is None or isinstance(value, bool | int):
        return value
    return str(value)


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
    an entry written in a transaction that rolls back vanishes with it, leaving no gap.
    `detail` must hold no unmasked personal data.
    """
    if action not in actions.LABELS:
        raise ValueError(f"unknown audit action {action!r}")
    user = actor if actor is not None and actor.pk is not None else None
    with transaction.atomic():
        head = _head_for_update()
        at = clock.now().astimezone(UTC)
        values: dict[str, Any] = {
            "at": at,
            "action": action,
            "actor_id": user.pk if user else None,
            "actor_username": user.get_username() if user else "",
            "target": _clean(target)[:200],
            "detail": _clean(detail or {}),
            "ip": _client_ip(request),
        }
        digest = chain.entry_hash(prev_hash=head.last_hash, **values)
        entry = AuditEntry.objects.create(
            seq=head.last_seq + 1, prev_hash=head.last_hash, hash=digest, **values
        )
        head.last_seq = entry.seq
        head.last_hash = digest
        head.save(update_fields=["last_seq", "last_hash"])
    return entry
