"""Exporting the 台账: at once for a small result, as a background job for a large one.

`export_prepare` checks the request (filters as on the ledger page, columns, format) and counts
the rows; the web view and the API then either stream the file (`export_csv_chunks`,
`export_xlsx_file`) or, above `SYNC_LIMIT` rows, create an `ExportJob` that the worker runs
(`export_job_run`). `export_jobs_cleanup` deletes the files of jobs finished over a week ago
(a day for an export showing requesters unmasked, deleted at once after an anonymisation);
`export_jobs_recover` fails the jobs whose worker died mid-run (both for the periodic sweep).
"""

import hashlib
import json
import logging
import secrets
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO

from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest, QueryDict
from django.utils import timezone
from django.utils.translation import gettext as _

from wenxu.accounts.models import User
from wenxu.exchange import columns as cols
from wenxu.exchange import ledger, writers
from wenxu.exchange.models import ExportJob, export_storage
from wenxu.lib import clock
from wenxu.needs.exceptions import InvalidInput
from wenxu.needs.models import Need
from wenxu.residents.reveal import clean_reason, record_reveal

logger = logging.getLogger(__name__)

# Up to this many rows an export answers at once; above, it runs as a job (tests lower it).
SYNC_LIMIT = 5000
KEEP_FILES = timedelta(days=7)
# The file of an export showing requesters unmasked (`reveal_reason`, issue #9): a day at most.
KEEP_REVEALED_FILES = timedelta(hours=24)
# A finished job answers the same request again for this long (then a new export starts).
REUSE_FINISHED = timedelta(minutes=10)
# A job running longer than this lost its worker (a large export takes a few minutes).
STALE_RUNNING = timedelta(minutes=30)
FORMATS = (ExportJob.Format.XLSX, ExportJob.Format.CSV)
CONTENT_TYPES: dict[str, str] = {
    ExportJob.Format.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ExportJob.Format.CSV: "text/csv; charset=utf-8",
}


@dataclass(frozen=True)
class PreparedExport:
    user: User
    parsed: ledger.ExportFilters
    columns: list[cols.Column]
    format: str
    queryset: QuerySet[Need]
    count: int
    started: datetime
    # Non-empty: the user ticked 包含完整个人信息 and gave this reason (checked by
    # `export_prepare`); the rows then show personal data unmasked while the user may.
    reveal_reason: str = ""

    @property
    def download_name(self) -> str:
        local = timezone.localtime(self.started, timezone.get_default_timezone())
        return f"{_('诉求台账')}-{local:%Y%m%d-%H%M}.{self.format}"

    @property
    def title(self) -> str:
        return _("诉求台账（%(scope)s）") % {"scope": ledger.scope_text(self.user)}

    @property
    def reveal(self) -> bool:
        """Whether the rows show personal data unmasked: asked for, and the user may (the
        ledger's one decision, asked afresh)."""
        return bool(self.reveal_reason) and ledger.may_reveal_personal_data(self.user)

    @property
    def reveal_fields(self) -> list[str]:
        """The chosen columns that hold personal data (what a reveal shows)."""
        return [c.key for c in self.columns if c.key in ("requester", "phone", "address")]

    @property
    def subtitle(self) -> str:
        local = timezone.localtime(self.started, timezone.get_default_timezone())
        values = {
            "filters": ledger.filters_text(self.parsed),
            "count": self.count,
            "user": self.user,
            "at": f"{local:%Y-%m-%d %H:%M}",
        }
        if self.reveal:
            return (
                _("%(filters)s；共 %(count)d 条；%(user)s 导出于 %(at)s；含未脱敏个人信息") % values
            )
        return _("%(filters)s；共 %(count)d 条；%(user)s 导出于 %(at)s；个人信息已脱敏") % values

    @property
    def request_hash(self) -> str:
        """The same user asking for the same rows, columns and format: one job, not many."""
        return request_hash(
            user_id=self.user.pk,
            filters=self.parsed.query,
            columns=[column.key for column in self.columns],
            format=self.format,
            reveal=bool(self.reveal_reason),
        )


def request_hash(
    *,
    user_id: int,
    filters: Mapping[str, list[str]],
    columns: list[str],
    format: str,
    reveal: bool = False,
) -> str:
    request: dict[str, object] = {
        "user": user_id,
        "filters": {key: sorted(values) for key, values in sorted(filters.items())},
        "columns": columns,
        "format": format,
    }
    if reveal:  # a masked and an unmasked export never share a job (nor a file)
        request["reveal"] = True
    canonical = json.dumps(
        request,
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def export_prepare(
    *,
    user: User,
    data: QueryDict | Mapping[str, list[str]],
    columns: list[str] | None,
    format: str,
    reveal: bool = False,
    reveal_reason: str = "",
) -> PreparedExport:
    """Check the request and count its rows. Bad input raises `InvalidInput` (nothing runs).

    `reveal` asks for personal data unmasked: only for a user who may, with a reason (2–200
    characters) that the security log keeps (`export_reveal_record`)."""
    errors: dict[str, list[str]] = {}
    if format not in FORMATS:
        errors["format"] = [_("导出格式只能是 xlsx 或 csv。")]
    reason = ""
    if reveal:
        if not ledger.may_reveal_personal_data(user):
            errors["reveal"] = [_("您没有导出完整个人信息的权限，请取消勾选“包含完整个人信息”。")]
        else:
            try:
                reason = clean_reason(reveal_reason)
            except InvalidInput as exc:
                errors.update(exc.errors)
    try:
        chosen = cols.choose(columns)
    except cols.UnknownColumns as exc:
        errors["columns"] = [exc.message]
        chosen = []
    parsed = ledger.parse_filters(data)
    for name, messages in parsed.form.errors.items():
        errors[name] = [str(message) for message in messages]
    if errors:
        raise InvalidInput(errors)
    qs = ledger.export_queryset(user=user, filters=parsed.filters, sort=parsed.sort)
    return PreparedExport(
        user=user,
        parsed=parsed,
        columns=chosen,
        format=format,
        queryset=qs,
        count=qs.count(),
        started=clock.now(),
        reveal_reason=reason,
    )


def export_reveal_record(*, prepared: PreparedExport, request: HttpRequest | None = None) -> None:
    """The security log's REVEAL entry for an export that shows personal data unmasked (one
    per export asked for; each download of a job's file adds its own)."""
    if not prepared.reveal:
        return
    record_reveal(
        actor=prepared.user,
        target="export:ledger",
        reason=prepared.reveal_reason,
        fields=prepared.reveal_fields,
        request=request,
        # Not the filters: a keyword may be a phone number someone searched for.
        extra={"format": prepared.format, "rows": prepared.count},
    )


def _export_record(prepared: PreparedExport, *, job: ExportJob | None = None) -> None:
    """The security log's EXPORT entry: who, which filters and columns, how many rows, whether
    personal data shows unmasked (issue #9). The search term may be a resident's phone: masked."""
    from wenxu.audit import actions
    from wenxu.audit.services import audit_record, scrub_text

    filters = {
        key: [scrub_text(value) for value in values] if key == "q" else values
        for key, values in prepared.parsed.query.items()
    }
    audit_record(
        action=actions.EXPORT,
        actor=prepared.user,
        target=f"export_job:{job.pk}" if job is not None else "export:ledger",
        detail={
            "kind": "ledger",
            "format": prepared.format,
            "rows": prepared.count,
            "filters": filters,
            "columns": [column.key for column in prepared.columns],
            "revealed": prepared.reveal,
        },
    )


def _rows(prepared: PreparedExport, chunk_size: int | None) -> Iterator[list[ledger.Value]]:
    ctx = ledger.RowContext.build(user=prepared.user, reveal=prepared.reveal)
    return ledger.rows(prepared.queryset, prepared.columns, ctx, chunk_size=chunk_size)


def export_csv_chunks(
    prepared: PreparedExport,
    *,
    chunk_size: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> Iterator[bytes]:
    _export_record(prepared)
    return writers.iter_csv(
        _rows(prepared, chunk_size), columns=prepared.columns, progress=progress
    )


def export_write(
    prepared: PreparedExport,
    target: IO[bytes],
    *,
    chunk_size: int | None = None,
    rows_per_sheet: int = writers.ROWS_PER_SHEET,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Write the whole file (either format) to `target`."""
    if prepared.format == ExportJob.Format.CSV:
        writers.write_csv(
            target,
            rows=_rows(prepared, chunk_size),
            columns=prepared.columns,
            progress=progress,
        )
        return
    writers.write_xlsx(
        target,
        rows=_rows(prepared, chunk_size),
        columns=prepared.columns,
        title=prepared.title,
        subtitle=prepared.subtitle,
        rows_per_sheet=rows_per_sheet,
        progress=progress,
    )


def export_xlsx_file(prepared: PreparedExport, **kwargs: object) -> IO[bytes]:
    """The workbook in an anonymous temporary file (gone when closed), rewound."""
    handle = tempfile.TemporaryFile()  # noqa: SIM115 - the response closes it
    export_write(prepared, handle, **kwargs)  # type: ignore[arg-type]
    _export_record(prepared)
    handle.seek(0)
    return handle


# --------------------------------------------------------------------------- jobs


@transaction.atomic
def export_job_create(*, prepared: PreparedExport) -> ExportJob:
    """An export for the worker; it starts once this transaction commits.

    Asking again for the same export (same user, filters, columns and format) while its job is
    pending or running, or within `REUSE_FINISHED` of its finishing, answers with that job: a
    client polling by repeating its GET does not start a new export each time."""
    digest = prepared.request_hash
    # The user's row lock: two identical requests at once must not both create a job.
    User.objects.select_for_update().filter(pk=prepared.user.pk).first()
    recent = clock.now() - REUSE_FINISHED
    same = (
        ExportJob.objects.filter(user=prepared.user, request_hash=digest)
        .filter(
            Q(status__in=[ExportJob.State.PENDING, ExportJob.State.RUNNING])
            | Q(status=ExportJob.State.DONE, finished_at__gte=recent) & ~Q(file="")
        )
        .order_by("-id")
        .first()
    )
    if same is not None:
        return same
    job = ExportJob(
        user=prepared.user,
        filters=prepared.parsed.query,
        columns=[column.key for column in prepared.columns],
        format=prepared.format,
        rows_total=prepared.count,
        download_name=prepared.download_name,
        request_hash=digest,
        reveal_reason=prepared.reveal_reason,
    )
    job.full_clean()
    job.save()
    from wenxu.exchange.tasks import run_export_job

    _export_record(prepared, job=job)
    transaction.on_commit(lambda: run_export_job.enqueue(job.pk))
    return job


def export_job_run(*, job_id: int) -> bool:
    """Run a pending job: claim it (a second worker finds it taken), write the file, record the
    outcome. Returns whether this call ran it."""
    claimed = ExportJob.objects.filter(pk=job_id, status=ExportJob.State.PENDING).update(
        status=ExportJob.State.RUNNING, started_at=clock.now()
    )
    if not claimed:
        return False
    job = ExportJob.objects.select_related("user").get(pk=job_id)

    def progress(done: int) -> None:
        ExportJob.objects.filter(pk=job_id).update(rows_done=done)

    name = f"{job.pk}-{secrets.token_urlsafe(12)}.{job.format}"
    path = Path(export_storage.path(name))
    try:
        prepared = export_prepare(
            user=job.user,
            data=job.filters,
            columns=job.columns,
            format=job.format,
            reveal=bool(job.reveal_reason),
            reveal_reason=job.reveal_reason,
        )
        ExportJob.objects.filter(pk=job_id).update(rows_total=prepared.count)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as target:
            export_write(prepared, target, progress=progress)
    except Exception:
        logger.exception("export job %s failed", job_id)
        path.unlink(missing_ok=True)
        ExportJob.objects.filter(pk=job_id).update(
            status=ExportJob.State.FAILED,
            error=_("导出失败，请重新导出；如果仍然失败，请缩小筛选范围或联系管理员。"),
            finished_at=clock.now(),
        )
        return True
    finished = ExportJob.objects.filter(pk=job_id, status=ExportJob.State.RUNNING).update(
        status=ExportJob.State.DONE,
        file=name,
        rows_done=prepared.count,
        rows_total=prepared.count,
        finished_at=clock.now(),
    )
    if not finished:  # given up on meanwhile (`export_jobs_recover`): the file has no job
        path.unlink(missing_ok=True)
    return True


def export_jobs_cleanup(*, now: datetime | None = None, keep: timedelta = KEEP_FILES) -> int:
    """Delete the files of jobs finished more than `keep` ago, or `KEEP_REVEALED_FILES` for a
    revealing export (the rows stay, without a file). Returns how many files went. Meant for the
    periodic sweep."""
    now = now or clock.now()
    revealed_cutoff = now - min(keep, KEEP_REVEALED_FILES)
    old = ExportJob.objects.filter(
        Q(finished_at__lt=now - keep) | Q(finished_at__lt=revealed_cutoff) & ~Q(reveal_reason="")
    )
    return _delete_files(old)


def export_revealed_files_delete() -> int:
    """Delete the files of every revealing export (`reveal_reason`): called once requesters have
    been anonymised (erasure, retention), whose data such a file would still hold. Returns how
    many files went; the jobs stay, without a file."""
    return _delete_files(ExportJob.objects.exclude(reveal_reason=""))


def _delete_files(jobs: QuerySet[ExportJob]) -> int:
    removed = 0
    for job in jobs.exclude(file="").only("id", "file"):
        job.file.delete(save=False)
        ExportJob.objects.filter(pk=job.pk).update(file="")
        removed += 1
    return removed


def export_jobs_recover(*, now: datetime | None = None, stale: timedelta = STALE_RUNNING) -> int:
    """Mark as failed the jobs running for over `stale` (their worker died: nothing will finish
    them) and delete their partial files. Returns how many jobs. Meant for the periodic sweep."""
    cutoff = (now or clock.now()) - stale
    recovered = 0
    stuck = ExportJob.objects.filter(status=ExportJob.State.RUNNING).filter(
        Q(started_at__lt=cutoff) | Q(started_at__isnull=True, created_at__lt=cutoff)
    )
    for job in stuck.only("id"):
        failed = ExportJob.objects.filter(pk=job.pk, status=ExportJob.State.RUNNING).update(
            status=ExportJob.State.FAILED,
            error=_("导出中断（处理程序已停止），请重新导出；如果仍然失败，请缩小筛选范围。"),
            finished_at=now or clock.now(),
            file="",
        )
        if not failed:
            continue
        # The worker writes to "<id>-<random>.<format>": whatever it left is incomplete.
        for partial in Path(export_storage.path("")).glob(f"{job.pk}-*"):
            partial.unlink(missing_ok=True)
        recovered += 1
    return recovered
