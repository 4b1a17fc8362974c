"""Key rotation for the requesters' encrypted columns (`wenxu pii_rekey`, docs/operations.md).

Every row whose phone or ID number is sealed with a key other than the ring's first is decrypted
(with its old key, still in the ring) and sealed again with the first, in batches that each
commit: a run cut short loses nothing and the next run carries on with the rows still left.
The rows of a batch are locked while they are rewritten, so an edit made meanwhile is not lost.

A value that does not decrypt (its key already left the ring, or it was altered: `Unreadable`)
is left as stored, with its blind index, and counted; the run carries on with the other rows and
the row's other, readable column.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import models, transaction
from django.db.models.functions import Cast

from wenxu.audit import actions
from wenxu.audit.services import audit_record
from wenxu.lib import crypto
from wenxu.lib.masking import Unreadable
from wenxu.residents import pii
from wenxu.residents.models import Requester

ENCRYPTED = tuple(pii.ENCRYPTED_COLUMNS)
INDEXES = tuple(pii.INDEX_COLUMNS.values())


@dataclass
class RekeyResult:
    key_id: str
    pending: int  # rows sealed with another key when the run started
    done: int = 0
    unreadable: list[int] = field(default_factory=list)  # ids of rows left as they are


def _unreadable(row: Requester) -> list[str]:
    return [name for name in ENCRYPTED if isinstance(getattr(row, name), Unreadable)]


def _update_readable(row: Requester, names: list[str]) -> None:
    """Rewrite only `names` of `row` (plain values: sealed anew, indexed), nothing else."""
    if names:
        Requester.objects.filter(pk=row.pk).update(**{name: getattr(row, name) for name in names})


def _stale() -> "models.QuerySet[Requester]":
    """Rows with a phone or ID number not sealed with the current key (read as stored text)."""
    prefix = f"{crypto.VERSION}:{pii.key_ring().current_id}:"
    stale = models.Q()
    raw = {f"{field}_stored": Cast(field, output_field=models.TextField()) for field in ENCRYPTED}
    for name in raw:
        stale |= models.Q(**{f"{name}__gt": ""}) & ~models.Q(**{f"{name}__startswith": prefix})
    return Requester.objects.annotate(**raw).filter(stale)


def stale_count() -> int:
    return _stale().count()


def requester_rekey(
    *, batch: int = 1000, progress: Callable[[RekeyResult], None] | None = None
) -> RekeyResult:
    """Re-encrypt with the current key every row sealed with an older one; returns the counts."""
    if batch < 1:
        raise ValueError("batch must be at least 1")
    result = RekeyResult(key_id=pii.key_ring().current_id, pending=stale_count())
    last = 0
    while True:
        with transaction.atomic():
            pks = list(
                _stale().filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:batch]
            )
            if not pks:
                break
            rows = list(
                Requester.objects.select_for_update()
                .filter(pk__in=pks)
                .order_by("pk")
                .only("pk", *ENCRYPTED, *INDEXES)
            )
            whole = []
            for row in rows:
                if unreadable := _unreadable(row):
                    result.unreadable.append(row.pk)
                    _update_readable(row, [name for name in ENCRYPTED if name not in unreadable])
                else:
                    whole.append(row)
            # Read with the old key, written with the current one (and the indexes recomputed).
            Requester.objects.bulk_update(whole, ENCRYPTED)
        last = pks[-1]
        result.done += len(whole)
        if progress is not None:
            progress(result)
    if result.done:
        audit_record(
            action=actions.SETTING_CHANGE,
            actor=None,
            target="pii_keys",
            detail={
                "operation": "pii_rekey",
                "key_id": result.key_id,
                "rows": result.done,
                "unreadable": len(result.unreadable),
            },
        )
    return result


def requester_reindex(*, batch: int = 1000) -> int:
    """Recompute every blind index (after WENXU_PII_INDEX_KEY changed); the rows changed.

    The index of a value that does not decrypt stays as it is (it cannot be recomputed)."""
    changed_total = 0
    last = 0
    while True:
        with transaction.atomic():
            rows = list(
                Requester.objects.select_for_update()
                .filter(pk__gt=last)
                .order_by("pk")
                .only("pk", *ENCRYPTED, *INDEXES)[:batch]
            )
            if not rows:
                break
            changed = 0
            fully_readable = []
            for row in rows:
                fresh = {
                    pii.INDEX_COLUMNS[name]: pii.INDEXERS[name](getattr(row, name))
                    for name in ENCRYPTED
                    if not isinstance(getattr(row, name), Unreadable)
                }
                if all(getattr(row, index) == value for index, value in fresh.items()):
                    continue
                changed += 1
                if len(fresh) < len(ENCRYPTED):  # the unreadable column's index stays
                    Requester.objects.filter(pk=row.pk).update(**fresh)
                else:
                    fully_readable.append(row)  # bulk_update() recomputes its indexes
            if fully_readable:
                Requester.objects.bulk_update(fully_readable, INDEXES)
        last = rows[-1].pk
        changed_total += changed
    return changed_total
