"""台账导入: upload → column mapping → dry run → commit, all or nothing (ADR 0010's pattern).

- `ledger_import_upload` reads the file (every file-level check), refuses a file whose sha256
  was committed before (naming that batch's date and user), and keeps its rows in a
  `LedgerImportBatch` of the uploading user with an automatic column mapping.
- `ledger_import_check` (the dry run) stores the user's mapping and checks every row; the
  report (row number, column, masked value, reason) is kept on the batch for the page and the
  .xlsx download. Nothing else is written.
- `ledger_import_commit` checks again under the batch's row lock and registers every row with
  `services.bulk.need_register_batch` (`need_register`'s and, when the file names the unit, the
  row is not closed in the file and the importer is a dispatcher over the area, `need_assign`'s
  checks and results), at the registration time the file gives, all in one transaction: any
  failure leaves no need, no event, and the batch uncommitted. The rows are checked and written
  in one pass, a chunk at a time, so no step holds the whole file's rows (ADR 0022). The
  assignment happens at the import's own time, so deadlines run from the import; the file's
  交办时间 stays in the description.
- `ledger_import_check_and_commit` is the dry run and the commit in that one pass, for a caller
  that commits a clean file at once (`wenxu import_ledger`): a bad row gives the dry run's
  report and writes nothing else.
- `ledger_import_purge_stale` (for the sweep) deletes uncommitted batches past their lifetime.
"""

import gc
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from wenxu.accounts.models import User
from wenxu.audit import actions
from wenxu.audit.services import audit_record, scrub_text
from wenxu.insight.models import RollupCursor
from wenxu.lib import clock
from wenxu.needs import states
from wenxu.needs.exceptions import DomainError, NotFound, NotPermitted
from wenxu.needs.ledger_import.fields import BY_KEY, IGNORE, auto_mapping, mapping_problems
from wenxu.needs.ledger_import.files import LedgerFile, LedgerFileRejected, ledger_file_read
from wenxu.needs.ledger_import.rows import (
    MAX_REPORTED_PROBLEMS,
    CheckResult,
    PlannedRow,
    RowChecker,
    RowProblem,
    check_rows,
)
from wenxu.needs.models import LedgerImportBatch, LedgerImportRow
from wenxu.needs.services import bulk
from wenxu.visits.places import edit_area_paths

State = LedgerImportBatch.State
# Uncommitted batches (with the file's names and phones) are deleted by the next upload after:
BATCH_LIFETIME = timedelta(days=1)
IMPORT_SOURCES = tuple(states.Source.values)


class LedgerImportRejected(DomainError):
    """Nothing was imported; `problems` says why (row None: the whole file)."""

    status_code = 422
    code = "import_rejected"

    def __init__(self, problems: list[RowProblem]) -> None:
        self.problems = problems[:MAX_REPORTED_PROBLEMS]
        self.problem_count = len(problems)
        self.bad_rows = len({p.row for p in problems if p.row is not None})
        super().__init__(problems[0].message if problems else _("文件有误，未导入。"))


def _file_problem(message: str) -> LedgerImportRejected:
    return LedgerImportRejected([RowProblem(None, "", "", message)])


def may_import(user: User) -> bool:
    """Officers and dispatchers, over the areas they hold (`need_register`'s own rule)."""
    return bool(edit_area_paths(user))


def _require(actor: User) -> None:
    if not may_import(actor):
        raise NotPermitted(_("只有走访干部、网格员或调度人员可以导入台账。"))


def _committed_twin(sha256: str) -> LedgerImportBatch | None:
    return (
        LedgerImportBatch.objects.filter(sha256=sha256, state=State.COMMITTED)
        .select_related("user")
        .first()
    )


def _duplicate_file(earlier: LedgerImportBatch) -> LedgerImportRejected:
    moment = earlier.committed_at or earlier.created_at
    return _file_problem(
        _(
            "这个文件已于 %(date)s 由 %(user)s 导入（“%(name)s”，%(rows)d 行），"
            "不能重复导入。如有新增的诉求，请只把新增的行放进一个新文件再导入。"
        )
        % {
            "date": timezone.localtime(moment).strftime("%Y-%m-%d %H:%M"),
            "user": earlier.user.display_name or earlier.user.username,
            "name": earlier.file_name,
            "rows": earlier.row_count,
        }
    )


def _purge_stale() -> int:
    deleted, _by_model = (
        LedgerImportBatch.objects.exclude(state=State.COMMITTED)
        .filter(created_at__lte=clock.now() - BATCH_LIFETIME)
        .delete()
    )
    return deleted


@transaction.atomic
def ledger_import_purge_stale() -> int:
    """Deletes uncommitted batches (the uploaded rows, names and phones included) older than
    `BATCH_LIFETIME`; for the sweep, so an abandoned upload does not linger until the next one.
    Returns how many batches went."""
    return _purge_stale()


def ledger_import_upload(*, actor: User, upload: UploadedFile) -> LedgerImportBatch:
    """Reads the file and keeps it for the mapping step, or refuses it as a whole."""
    _require(actor)
    try:
        file = ledger_file_read(upload=upload)
    except LedgerFileRejected as error:
        raise _file_problem(error.message) from error
    earlier = _committed_twin(file.sha256)
    if earlier is not None:
        raise _duplicate_file(earlier)
    _purge_stale()
    return LedgerImportBatch.objects.create(
        id=secrets.token_urlsafe(32),
        user=actor,
        file_name=(file.name or "")[-200:],
        sha256=file.sha256,
        row_count=file.row_count,
        data=file.to_json(),
        mapping=auto_mapping(file.headers),
        created_at=clock.now(),
    )


def ledger_import_batch_get(*, actor: User, batch_id: str) -> LedgerImportBatch:
    """The user's own batch; anyone else's is as absent as a missing one."""
    batch = LedgerImportBatch.objects.filter(pk=batch_id, user=actor).first()
    if batch is None:
        raise NotFound(_("找不到这次导入：可能已过期或已被清理，请重新上传文件。"))
    return batch


def batch_file(batch: LedgerImportBatch) -> LedgerFile:
    return LedgerFile.from_json(name=batch.file_name, sha256=batch.sha256, data=batch.data)


def clean_mapping(batch: LedgerImportBatch, mapping: list[str]) -> list[str]:
    width = len(batch.data.get("headers", []))
    keys = [key if key in BY_KEY else IGNORE for key in mapping[:width]]
    return keys + [IGNORE] * (width - len(keys))


def _report(result: CheckResult, total: int) -> dict[str, Any]:
    return {
        "total": total,
        "bad_rows": result.bad_rows,
        "problem_count": len(result.problems),
        "problems": [p.to_json() for p in result.problems[:MAX_REPORTED_PROBLEMS]],
        "to_register": result.planned if result.ok else 0,
        "to_assign": result.to_assign if result.ok else 0,
        # (rows closed in the file are never assigned: they are counted as closed_in_file)
        "unit_not_assigned": result.unit_not_assigned if result.ok else 0,
        "closed_in_file": result.closed_in_file if result.ok else 0,
        "with_dates": result.with_dates if result.ok else 0,
    }


@dataclass(frozen=True)
class DryRun:
    batch: LedgerImportBatch
    mapping_problems: list[str]
    result: CheckResult | None


@transaction.atomic
def ledger_import_check(
    *, actor: User, batch_id: str, mapping: list[str], default_source: str
) -> DryRun:
    """The dry run: keeps the mapping, checks every row, keeps the report. Writes no need."""
    with _without_cycle_collection():
        return _check(
            actor=actor, batch_id=batch_id, mapping=mapping, default_source=default_source
        )


def _check(*, actor: User, batch_id: str, mapping: list[str], default_source: str) -> DryRun:
    _require(actor)
    batch = ledger_import_batch_get(actor=actor, batch_id=batch_id)
    if batch.state == State.COMMITTED:
        raise _file_problem(_("这个文件已经导入，不能再次检查或导入。"))
    batch.mapping = clean_mapping(batch, mapping)
    batch.default_source = (
        default_source if default_source in IMPORT_SOURCES else states.Source.WALK_IN
    )
    problems = mapping_problems(batch.mapping)
    result = None
    if problems:
        batch.state = State.UPLOADED
        batch.report = {}
    else:
        result = check_rows(
            actor=actor,
            file=batch_file(batch),
            mapping=batch.mapping,
            default_source=batch.default_source,
            keep_rows=False,  # the report counts them; the commit checks them again
        )
        batch.state = State.CHECKED if result.ok else State.REJECTED
        batch.report = _report(result, batch.row_count)
    batch.checked_at = clock.now()
    batch.save(update_fields=["mapping", "default_source", "state", "report", "checked_at"])
    return DryRun(batch=batch, mapping_problems=problems, result=result)


@dataclass(frozen=True)
class CommitResult:
    batch: LedgerImportBatch
    registered: int
    assigned: int


def _registration(row: PlannedRow) -> bulk.Registration:
    return bulk.Registration(
        title=row.title,
        description=row.description,
        kind=row.kind,
        source=row.source,
        area=row.area,
        category=row.category,
        urgency=row.urgency,
        address=row.address,
        requester=row.requester,
        registered_at=row.registered_at,
        # Assigned now, not at the file's 交办时间 (kept in the description's 【原台账信息】):
        # a historical assignment would make the row overdue at once, and the sweep would
        # remind, escalate and count it against the unit for the days before the import.
        assign_to=row.unit if row.assign else None,
    )


def _record_rows(
    batch: LedgerImportBatch, places: list[tuple[int, str, int]], need_ids: list[int]
) -> None:
    """The `LedgerImportRow` of each need (area, 原编号 and sheet row)."""
    row = bulk.Positional(LedgerImportRow)
    bulk.insert_rows(
        LedgerImportRow,
        [
            row(
                batch_id=batch.pk,
                need_id=need_id,
                area_id=area_id,
                original_number=original_number,
                row_number=row_number,
            )
            for (area_id, original_number, row_number), need_id in zip(
                places, need_ids, strict=True
            )
        ],
    )


@dataclass
class _Written:
    """One pass over a batch's rows: checked, and registered as they come while none is bad."""

    result: CheckResult
    registered: int = 0
    assigned: int = 0
    rejected: LedgerImportRejected | None = None  # a good row the services refused


def _check_and_write(actor: User, batch: LedgerImportBatch) -> _Written:
    """Checks every row (`RowChecker`) and hands the good ones to `need_register_batch` while
    they are read, a chunk at a time, so no step holds the whole file's rows. Once a row is bad
    the rest are only checked (for the report) and the caller rolls the writes back; the same
    when the services refuse a row (`rejected`), which counts only if no row is bad, as when
    the whole file was checked before anything was written."""
    checker = RowChecker(
        actor=actor,
        file=batch_file(batch),
        mapping=batch.mapping,
        default_source=batch.default_source,
    )
    checked = checker.rows()
    # (area, 原编号, sheet row) of the registrations handed on and not yet recorded
    places: list[tuple[int, str, int]] = []
    written = _Written(result=checker.result)

    def registrations() -> Iterator[bulk.Registration]:
        for row in checked:
            if checker.result.problems:
                continue  # nothing more to write: the caller will roll back
            places.append((row.area.pk, row.original_number, row.number))
            written.assigned += row.assign
            yield _registration(row)

    def record(need_ids: list[int]) -> None:
        if not checker.result.problems:  # (else all is rolled back)
            _record_rows(batch, places[: len(need_ids)], need_ids)
        written.registered += len(need_ids)
        del places[: len(need_ids)]

    try:
        bulk.need_register_batch(actor=actor, registrations=registrations(), written=record)
    except bulk.RegistrationRejected as error:
        for _row in checked:  # the rows after it, for the report
            pass
        written.rejected = LedgerImportRejected(
            [
                RowProblem(
                    places[error.index - written.registered][2],
                    "",
                    "",
                    _("这一行未能登记（%(reason)s）：整个文件都没有导入，请改正后重新检查。")
                    % {"reason": error.message},
                )
            ]
        )
    written.result = checker.finish()
    return written


@contextmanager
def _without_cycle_collection() -> Iterator[None]:
    """The garbage collector's cycle detection off while a large file is checked and written.

    A 100,000-row import keeps about a million objects alive (the planned rows, their texts):
    each of the collector's full passes walks all of them, and its thresholds trigger one pass
    after another as they grow, which took a third of the time. Reference counting still frees
    everything else as it goes; the collector runs again, as configured, once this is done."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _locked_batch(actor: User, batch_id: str, *, checking: bool) -> LedgerImportBatch:
    """The user's batch under its row lock, in the commit's transaction, after the rollup
    cursor's row lock: this transaction gives its events ids now but commits them late, and
    dated in the past (`clock.travel`), so a rollup catch-up running meanwhile could move its
    cursor past ids it cannot see yet and never count them. Holding the lock keeps the catch-up
    off (it waits, or skips this round with skip_locked) until the import has committed."""
    RollupCursor.objects.get_or_create(name="main")
    RollupCursor.objects.select_for_update().get(name="main")
    batch = LedgerImportBatch.objects.select_for_update().filter(pk=batch_id, user=actor).first()
    if batch is None:
        raise NotFound(_("找不到这次导入：可能已过期或已被清理，请重新上传文件。"))
    if batch.state == State.COMMITTED:
        if checking:
            raise _file_problem(_("这个文件已经导入，不能再次检查或导入。"))
        raise _file_problem(_("这个文件已经导入过了（不会重复导入）。"))
    if not checking and batch.state != State.CHECKED:
        raise _file_problem(_("请先检查文件，全部无误后才能确认导入。"))
    earlier = _committed_twin(batch.sha256)
    if earlier is not None:
        raise _duplicate_file(earlier)
    return batch


def _mark_committed(
    actor: User, batch: LedgerImportBatch, written: _Written, also: Sequence[str] = ()
) -> CommitResult:
    batch.state = State.COMMITTED
    batch.committed_at = clock.now()
    batch.data = {}  # the rows (names, phones) now live in the needs, scoped and masked
    batch.report = {
        **batch.report,
        "registered": written.registered,
        "assigned": written.assigned,
    }
    batch.save(update_fields=["state", "committed_at", "data", "report", *also])
    # Last in the transaction: the security log's lock is held only until the commit.
    audit_record(
        action=actions.IMPORT,
        actor=actor,
        target=f"ledger_import:{batch.pk}",
        detail={
            "kind": "ledger",
            "file_name": scrub_text(batch.file_name),
            "sha256": batch.sha256,
            "rows": written.registered,
            "assigned": written.assigned,
        },
    )
    return CommitResult(batch=batch, registered=written.registered, assigned=written.assigned)


def _concurrent_import() -> LedgerImportRejected:
    return _file_problem(
        _(
            "导入时有人同时导入了同一文件或相同原编号的诉求，本次没有写入任何数据："
            "请重新检查后再确认。"
        )
    )


def ledger_import_commit(*, actor: User, batch_id: str) -> CommitResult:
    """Registers every checked row in one transaction, or nothing (and says which row failed)."""
    _require(actor)
    try:
        with _without_cycle_collection(), transaction.atomic():
            batch = _locked_batch(actor, batch_id, checking=False)
            # Areas, units, rights and earlier imports may have changed since the dry run: the
            # rows are checked again as they are written.
            written = _check_and_write(actor, batch)
            if not written.result.ok:
                raise LedgerImportRejected(written.result.problems)
            if written.rejected is not None:
                raise written.rejected
            return _mark_committed(actor, batch, written)
    except IntegrityError as error:
        raise _concurrent_import() from error


class _RollBack(Exception):
    """Undoes the writes of a pass that found a bad row (the batch's report stays)."""


def ledger_import_check_and_commit(
    *, actor: User, batch_id: str, mapping: list[str], default_source: str
) -> tuple[DryRun, CommitResult | None]:
    """The dry run and the commit in one pass over the rows, for a caller that commits at once
    when the file is clean (`wenxu import_ledger`): the dry run's result and report (also when
    rows are bad: then nothing but the report is written, as by `ledger_import_check`), and
    the commit's result when every row was good and is now registered. A row the services
    refuse raises `LedgerImportRejected`, as `ledger_import_commit` does."""
    _require(actor)
    try:
        with _without_cycle_collection(), transaction.atomic():
            batch = _locked_batch(actor, batch_id, checking=True)
            batch.mapping = clean_mapping(batch, mapping)
            batch.default_source = (
                default_source if default_source in IMPORT_SOURCES else states.Source.WALK_IN
            )
            batch.checked_at = clock.now()
            checked = ["mapping", "default_source", "state", "report", "checked_at"]
            problems = mapping_problems(batch.mapping)
            if problems:
                batch.state = State.UPLOADED
                batch.report = {}
                batch.save(update_fields=checked)
                return DryRun(batch=batch, mapping_problems=problems, result=None), None
            try:
                with transaction.atomic():
                    written = _check_and_write(actor, batch)
                    if not written.result.ok:
                        raise _RollBack
            except _RollBack:
                pass
            result = written.result
            batch.state = State.CHECKED if result.ok else State.REJECTED
            batch.report = _report(result, batch.row_count)
            dry = DryRun(batch=batch, mapping_problems=[], result=result)
            if not result.ok:
                batch.save(update_fields=checked)
                return dry, None
            if written.rejected is not None:
                raise written.rejected
            return dry, _mark_committed(actor, batch, written, also=checked[:2] + checked[4:])
    except IntegrityError as error:
        raise _concurrent_import() from error


def ledger_import_discard(*, actor: User, batch_id: str) -> None:
    """Forgets an uncommitted batch (a dry run from the command line, a cancelled upload)."""
    LedgerImportBatch.objects.filter(pk=batch_id, user=actor).exclude(
        state=State.COMMITTED
    ).delete()


def recent_batches(*, actor: User, limit: int = 10) -> list[LedgerImportBatch]:
    return list(
        LedgerImportBatch.objects.filter(user=actor, state=State.COMMITTED).order_by(
            "-committed_at"
        )[:limit]
    )
