"""台账导入 pages: upload → column mapping → dry run report → confirm. Thin adapters over
`wenxu.needs.ledger_import.service`; the batch (the file's rows) stays on the server and the
pages carry only its random id, looked up with the user."""

import re
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from wenxu.accounts.models import User
from wenxu.lib import masking
from wenxu.needs import states
from wenxu.needs.exceptions import NotFound
from wenxu.needs.ledger_import import service, workbooks
from wenxu.needs.ledger_import.fields import FIELDS, IGNORE
from wenxu.needs.ledger_import.files import MAX_IMPORT_BYTES, MAX_IMPORT_ROWS
from wenxu.needs.ledger_import.rows import RowProblem
from wenxu.needs.models import LedgerImportBatch

SAMPLES = 2
TEMPLATE = "needs/ledger_import.html"
BATCH_TEMPLATE = "needs/ledger_import_batch.html"


def _importer(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    if not service.may_import(user):
        raise PermissionDenied(_("只有走访干部、网格员或调度人员可以导入台账。"))
    return user


def _batch(user: User, batch_id: str) -> LedgerImportBatch:
    try:
        return service.ledger_import_batch_get(actor=user, batch_id=batch_id)
    except NotFound as error:
        raise Http404(error.message) from error


def _limits() -> dict[str, Any]:
    return {"max_rows": MAX_IMPORT_ROWS, "max_mb": MAX_IMPORT_BYTES // 1024 // 1024}


@login_required
@require_http_methods(["GET", "POST"])
def ledger_import(request: HttpRequest) -> HttpResponse:
    user = _importer(request)
    context: dict[str, Any] = {
        **_limits(),
        "recent": service.recent_batches(actor=user),
        "fields": FIELDS,
    }
    if request.method != "POST":
        return render(request, TEMPLATE, context)
    upload = request.FILES.get("file")
    if upload is None:
        context["error"] = _("请选择要导入的文件（.xlsx 或 .csv）。")
        return render(request, TEMPLATE, context, status=422)
    context["file_name"] = upload.name
    try:
        batch = service.ledger_import_upload(actor=user, upload=upload)
    except service.LedgerImportRejected as rejected:
        context["error"] = rejected.message
        return render(request, TEMPLATE, context, status=422)
    return redirect("needs:ledger_import_batch", batch_id=batch.pk)


@login_required
@require_GET
def ledger_import_template(request: HttpRequest) -> HttpResponse:
    user = _importer(request)
    return HttpResponse(
        workbooks.import_template(user=user),
        content_type=workbooks.XLSX,
        headers={
            "Content-Disposition": 'attachment; filename="ledger-import-template.xlsx"; '
            "filename*=UTF-8''%E5%8F%B0%E8%B4%A6%E5%AF%BC%E5%85%A5%E6%A8%A1%E6%9D%BF.xlsx"
        },
    )


_LONG_DIGITS = re.compile(r"\d{7,}")


def _sample(value: str, key: str) -> str:
    """A cell as the mapping page shows it: personal columns masked; in a column not (yet)
    mapped, long digit runs (phones, ID numbers) masked too."""
    if key == "requester_name":
        return masking.mask_name(value)
    if key == "phone":
        return masking.mask_phone(value)
    if key == "address":
        return masking.mask_address(value)
    if key == IGNORE:
        value = _LONG_DIGITS.sub(lambda m: masking.mask_phone(m.group(0)), value)
    return value if len(value) <= 30 else value[:30] + "…"


def _columns(batch: LedgerImportBatch) -> list[dict[str, Any]]:
    headers = batch.data.get("headers", [])
    rows = batch.data.get("rows", [])
    columns = []
    for index, header in enumerate(headers):
        key = batch.mapping[index] if index < len(batch.mapping) else IGNORE
        values = []
        for _number, cells in rows:
            if index < len(cells) and cells[index]:
                values.append(_sample(cells[index], key))
                if len(values) >= SAMPLES:
                    break
        columns.append(
            {
                "index": index,
                "header": header,
                "key": key,
                "samples": values,
                "name": f"col-{index}",
            }
        )
    return columns


def _batch_context(batch: LedgerImportBatch) -> dict[str, Any]:
    report = batch.report or {}
    return {
        **_limits(),
        "batch": batch,
        "columns": _columns(batch) if batch.state != LedgerImportBatch.State.COMMITTED else [],
        "fields": FIELDS,
        "sources": states.Source.choices,
        "report": report,
        "problems": [RowProblem.from_json(p) for p in report.get("problems", [])],
        "checked": batch.state
        in (LedgerImportBatch.State.CHECKED, LedgerImportBatch.State.REJECTED),
    }


@login_required
@require_http_methods(["GET", "POST"])
def ledger_import_batch(request: HttpRequest, batch_id: str) -> HttpResponse:
    """The mapping (a field for each column) and, after 检查, the dry run's report."""
    user = _importer(request)
    batch = _batch(user, batch_id)
    if request.method != "POST":
        return render(request, BATCH_TEMPLATE, _batch_context(batch))
    mapping = [
        request.POST.get(f"col-{i}", IGNORE) for i in range(len(batch.data.get("headers", [])))
    ]
    try:
        dry = service.ledger_import_check(
            actor=user,
            batch_id=batch.pk,
            mapping=mapping,
            default_source=request.POST.get("default_source", states.Source.WALK_IN),
        )
    except service.LedgerImportRejected as rejected:
        context = _batch_context(batch)
        context["error"] = rejected.message
        return render(request, BATCH_TEMPLATE, context, status=422)
    context = _batch_context(dry.batch)
    context["mapping_problems"] = dry.mapping_problems
    ok = dry.result is not None and dry.result.ok
    return render(request, BATCH_TEMPLATE, context, status=200 if ok else 422)


@login_required
@require_POST
def ledger_import_commit(request: HttpRequest, batch_id: str) -> HttpResponse:
    user = _importer(request)
    batch = _batch(user, batch_id)
    try:
        result = service.ledger_import_commit(actor=user, batch_id=batch.pk)
    except NotFound as error:
        raise Http404(error.message) from error
    except service.LedgerImportRejected as rejected:
        batch.refresh_from_db()
        context = _batch_context(batch)
        context["commit_problems"] = rejected.problems
        context["error"] = _("没有导入任何数据：%(reason)s") % {"reason": rejected.message}
        return render(request, BATCH_TEMPLATE, context, status=422)
    messages.success(
        request,
        _("导入完成：登记 %(n)d 条诉求，其中 %(a)d 条已交办。")
        % {"n": result.registered, "a": result.assigned},
    )
    return redirect("needs:ledger_import_batch", batch_id=batch.pk)


@login_required
@require_GET
def ledger_import_report(request: HttpRequest, batch_id: str) -> HttpResponse:
    """The dry run's problems as .xlsx (personal values masked, as on the page)."""
    user = _importer(request)
    batch = _batch(user, batch_id)
    problems = [RowProblem.from_json(p) for p in (batch.report or {}).get("problems", [])]
    return HttpResponse(
        workbooks.error_report(problems=problems, file_name=batch.file_name),
        content_type=workbooks.XLSX,
        headers={
            "Content-Disposition": 'attachment; filename="ledger-import-errors.xlsx"; '
            "filename*=UTF-8''%E5%AF%BC%E5%85%A5%E9%94%99%E8%AF%AF%E6%8A%A5%E5%91%8A.xlsx"
        },
    )
