"""Checking the security log's chain: `audit_verify()` names the first edited, deleted or
reordered entry (issue #9, docs/security-log.md).

The walk reads entries in seq order, a batch at a time (constant memory, however long the log),
and checks each one three ways, in the order a reader meets the problems:

1. its seq follows the previous one: a gap means entries were deleted;
2. its HMAC matches its content: a mismatch means it was edited (or forged without the key);
3. its prev_hash is the previous entry's HMAC: if that HMAC belongs to an entry elsewhere, the
   entries were reordered (seq values swapped); if to no entry, entries were deleted and the
   rest renumbered.

The chain starts after `AuditHead.base_seq` / `base_hash` (moved by `audit_prune`, which writes
an AUDIT_PRUNE entry after the new base naming it, so that a cut-off start shows too; nothing may
lie at or before the base), and must end at `AuditHead.last_seq` / `last_hash` (so that a cut-off
tail shows). A head deleted behind wenxu's back is rebuilt from the entries at the next append,
with an AUDIT_HEAD_REBUILT entry: reported, after the entries have verified.
"""

import hmac
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from django.utils.translation import gettext as _

from wenxu.audit import actions, chain
from wenxu.audit.models import AuditEntry, AuditHead
from wenxu.audit.services import rebuilt_head

BATCH_SIZE = 2000
_FIELDS = (
    "seq",
    "at",
    "action",
    "actor_id",
    "actor_username",
    "target",
    "detail",
    "ip",
    "prev_hash",
    "hash",
)


class Kind(StrEnum):
    EDITED = "edited"
    DELETED = "deleted"
    REORDERED = "reordered"
    HEAD = "head"  # the head row disagrees with the entries
    BASE = "base"  # the start after pruning is not backed by a prune entry


@dataclass(frozen=True)
class Problem:
    kind: Kind
    seq: int  # the first entry concerned
    message: str


@dataclass(frozen=True)
class VerifyResult:
    checked: int
    first_seq: int | None
    last_seq: int | None
    problem: Problem | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None

    @property
    def message(self) -> str:
        if self.problem is not None:
            return self.problem.message
        if not self.checked:
            return _("审计日志完整：共 0 条。")
        return _("审计日志完整：共 %(count)d 条（第 %(first)d–%(last)d 条）。") % {
            "count": self.checked,
            "first": self.first_seq,
            "last": self.last_seq,
        }


def _seqs(first: int, last: int) -> str:
    if first == last:
        return _("第 %(seq)d 条") % {"seq": first}
    return _("第 %(first)d–%(last)d 条") % {"first": first, "last": last}


def _rows(after: int, batch_size: int) -> Iterator[tuple[Any, ...]]:
    """Entries with seq > `after` in seq order, `batch_size` at a time (keyset pagination)."""
    while True:
        batch = list(
            AuditEntry.objects.filter(seq__gt=after)
            .order_by("seq")
            .values_list(*_FIELDS)[:batch_size]
        )
        yield from batch
        if len(batch) < batch_size:
            return
        after = batch[-1][0]


def _content_hash(row: tuple[Any, ...]) -> str:
    _seq, at, action, actor_id, actor_username, target, detail, ip, prev_hash, _hash = row
    return chain.entry_hash(
        prev_hash=prev_hash,
        at=at,
        action=action,
        actor_id=actor_id,
        actor_username=actor_username,
        target=target,
        detail=detail,
        ip=ip,
    )


def _seq_of(digest: str) -> int | None:
    if not digest:
        return None
    return AuditEntry.objects.filter(hash=digest).values_list("seq", flat=True).first()


def _same(a: str, b: str) -> bool:
    """Constant-time equality that also takes what an intruder wrote (non-ASCII text, which
    `hmac.compare_digest` refuses for str): such a value is simply not the right one."""
    return hmac.compare_digest(a.encode("utf-8", "replace"), b.encode("utf-8", "replace"))


def _base_problem(head: AuditHead) -> Problem | None:
    """After a prune the base must be the one its AUDIT_PRUNE entry names: a start cut off
    behind wenxu's back (and the head's base moved to match) shows here.

    Only a prune entry after the base counts: the walk then checks its HMAC, so one forged
    without the key fails there. Nothing may lie at or before the base: a prune deletes it all.
    """
    if head.base_seq > 0 or head.base_hash:
        latest = (
            AuditEntry.objects.filter(action=actions.AUDIT_PRUNE, seq__gt=head.base_seq)
            .order_by("-seq")
            .values_list("detail", flat=True)
            .first()
        )
        named = latest if isinstance(latest, dict) else {}
        if named.get("base_seq") != head.base_seq or named.get("base_hash") != head.base_hash:
            return Problem(
                Kind.BASE,
                head.base_seq + 1,
                _(
                    "审计日志从第 %(seq)d 条开始，但没有与之对应的清理记录：开头的记录可能被删除了"
                    "（链头的起点被改动过）。"
                )
                % {"seq": head.base_seq + 1},
            )
    below = (
        AuditEntry.objects.filter(seq__lte=head.base_seq)
        .order_by("seq")
        .values_list("seq", flat=True)
        .first()
    )
    if below is not None:
        return Problem(
            Kind.BASE,
            below,
            _(
                "第 %(seq)d 条记录在日志的起点（第 %(start)d 条）之前：那里不应有任何记录，"
                "它是伪造后插入的，或链头的起点被改动过。"
            )
            % {"seq": below, "start": head.base_seq + 1},
        )
    return None


def _rebuilt_problem(seq: int, detail: object) -> Problem:
    named = detail if isinstance(detail, dict) else {}
    return Problem(
        Kind.HEAD,
        seq,
        _(
            "第 %(seq)d 条：链头记录曾被删除，已按当时最后一条记录（第 %(last)s 条）重建。"
            "各条记录校验无误，但在那之前日志末尾是否有记录被删除已无法确认。"
        )
        % {"seq": seq, "last": named.get("last_seq", "?")},
    )


def _missing_head_problem(seq: int) -> Problem:
    return Problem(
        Kind.HEAD,
        seq,
        _(
            "链头记录不存在：它被删除了（下一次写入审计日志时会按最后一条记录重建）。"
            "各条记录校验无误，但日志末尾是否有记录被删除已无法确认。"
        ),
    )


def audit_verify(*, from_seq: int | None = None, batch_size: int = BATCH_SIZE) -> VerifyResult:
    """Walk the chain from its base (or from `from_seq`) to its end; stop at the first problem.

    A head rebuilt after its deletion (an AUDIT_HEAD_REBUILT entry), or missing, is reported
    only when the entries themselves all verify.
    """
    stored = AuditHead.objects.filter(pk=1).first()
    head = stored or rebuilt_head()  # missing: checked against what the entries say
    start = head.base_seq + 1
    if from_seq is not None and from_seq > start:
        start = min(from_seq, head.last_seq + 1)  # past the end: only the end is checked
        prev_seq = start - 1
        # The link to the entry before is checked when that entry is there; when it is not
        # (a deletion reported before), the check starts afresh, to see the rest of the chain.
        found = AuditEntry.objects.filter(seq=prev_seq).values_list("hash", flat=True).first()
        if found is None:
            named = (
                AuditEntry.objects.filter(seq__gte=start)
                .order_by("seq")
                .values_list("prev_hash", flat=True)
                .first()
            )
            found = named if named is not None else head.last_hash
        prev_hash = found
    else:
        prev_seq, prev_hash = head.base_seq, head.base_hash
        problem = _base_problem(head)
        if problem is not None:
            return VerifyResult(0, None, None, problem)

    checked = 0
    first_seq: int | None = None
    # A missing head with entries in the log: reported last, if nothing worse is found.
    rebuilt = _missing_head_problem(head.last_seq) if stored is None and head.last_seq else None

    def result(problem: Problem | None = None) -> VerifyResult:
        return VerifyResult(checked, first_seq, prev_seq if checked else None, problem)

    while True:
        for row in _rows(prev_seq, batch_size):
            seq, digest, named_prev = row[0], row[-1], row[-2]
            if seq != prev_seq + 1:
                return result(
                    Problem(
                        Kind.DELETED,
                        prev_seq + 1,
                        _("%(seqs)s记录缺失：被删除了。") % {"seqs": _seqs(prev_seq + 1, seq - 1)},
                    )
                )
            if not _same(_content_hash(row), digest):
                message = _("第 %(seq)d 条记录的内容被修改过：它的校验值与内容不符。") % {
                    "seq": seq
                }
                if not checked:
                    message += _(
                        "如果每一条都不符，请检查校验密钥（WENXU_AUDIT_KEY 或数据目录中的 "
                        "audit_key）是否与写入时相同。"
                    )
                return result(Problem(Kind.EDITED, seq, message))
            if not _same(named_prev, prev_hash):
                other = _seq_of(named_prev)
                if other is not None:
                    message = _(
                        "第 %(seq)d 条记录的顺序被改动过：它原本接在现第 %(other)d 条之后，"
                        "而不是第 %(prev)d 条之后（记录被调换或重排）。"
                    ) % {"seq": seq, "other": other, "prev": prev_seq}
                    return result(Problem(Kind.REORDERED, seq, message))
                message = _(
                    "第 %(seq)d 条记录的前一条已不存在：第 %(prev)d 条和第 %(seq)d 条之间"
                    "有记录被删除（其后的序号被改过）。"
                ) % {"seq": seq, "prev": prev_seq}
                return result(Problem(Kind.DELETED, seq, message))
            if rebuilt is None and row[2] == actions.AUDIT_HEAD_REBUILT:
                rebuilt = _rebuilt_problem(seq, row[6])
            checked += 1
            first_seq = seq if first_seq is None else first_seq
            prev_seq, prev_hash = seq, digest
        # The end: the head is read afresh, since entries may have been added during the walk
        # (an append commits its entry and the head together, so the head never runs ahead of
        # what a read made after it can see).
        now = AuditHead.objects.filter(pk=1).first() or rebuilt_head()
        if now.last_seq > prev_seq:
            if AuditEntry.objects.filter(seq__gt=prev_seq).exists():
                continue  # appended meanwhile: walk on
            message = _("%(seqs)s记录缺失：日志末尾被删除了（链头记录到第 %(last)d 条为止）。") % {
                "seqs": _seqs(prev_seq + 1, now.last_seq),
                "last": now.last_seq,
            }
            return result(Problem(Kind.DELETED, prev_seq + 1, message))
        if now.last_seq < prev_seq:
            message = _(
                "%(seqs)s记录在链头记录的末尾（第 %(last)d 条）之后：链头被改动过，"
                "或这些记录是伪造后插入的。"
            ) % {"seqs": _seqs(now.last_seq + 1, prev_seq), "last": now.last_seq}
            return result(Problem(Kind.HEAD, now.last_seq + 1, message))
        if not _same(now.last_hash, prev_hash):
            message = _(
                "最后一条（第 %(seq)d 条）记录与链头记录的校验值不符：末尾的记录被替换过，"
                "或链头被改动过。"
            ) % {"seq": prev_seq}
            return result(Problem(Kind.HEAD, prev_seq, message))
        return result(rebuilt)
