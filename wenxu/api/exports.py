"""`/api/v1/exports`: the 台账 as Excel or CSV, a thin adapter over `wenxu.exchange.services`.

The filters are the ledger page's (same names, same meaning, same scope): an export holds
exactly what the caller's ledger shows. Up to `SYNC_LIMIT` rows the file comes at once; above,
the answer is 202 with a job to poll at `GET /exports/jobs/{id}` until it has a `download_url`.
A job is its creator's: anyone else gets 404.
"""

from datetime import date, datetime
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.http import HttpRequest, QueryDict
from django.urls import reverse
from django.utils.translation import gettext as _
from ninja import Query, Router, Schema, Status
from pydantic import Field

from wenxu.api import schemas as s
from wenxu.api.auth import current_user
from wenxu.exchange import columns as cols
from wenxu.exchange import responses, selectors, services
from wenxu.exchange.models import ExportJob
from wenxu.needs.exceptions import InvalidInput

router = Router(tags=["exports"])

ERRORS: dict[int, Any] = {401: s.ErrorOut, 422: s.InvalidOut}
# 422: a job id that is not a number.
JOB_ERRORS: dict[int, Any] = {401: s.ErrorOut, 404: s.ErrorOut, 422: s.InvalidOut}


class LedgerExportQuery(Schema):
    q: str | None = Field(None, description="关键词：编号、标题、内容或地点中的文字")
    status: list[str] = Field(default_factory=list, description="状态，可重复或用逗号分隔")
    unit: str | None = Field(None, description="主办或协办单位 id（含下级单位）")
    area: str | None = Field(None, description="区域 id（含下级区域）")
    category: str | None = Field(None, description="分类 id（含子分类）")
    urgency: str | None = Field(None, description="紧急程度：normal、urgent、complex")
    source: str | None = Field(None, description="来源渠道")
    overdue: str | None = Field(None, description="true：只导出超期未答复的")
    due_soon: str | None = Field(None, description="true：只导出临期的")
    supervised: str | None = Field(None, description="true：只导出督办中的")
    extension_pending: str | None = Field(None, description="true：只导出延期待批的")
    date_from: str | None = Field(None, description="登记日期自（YYYY-MM-DD，含当天）")
    date_to: str | None = Field(None, description="登记日期至（YYYY-MM-DD，含当天）")
    sort: str | None = Field(
        None, description="time：最新登记在前（默认）；deadline：办结时限最早在前"
    )
    columns: str | None = Field(
        None, description="要导出的列，逗号分隔（默认全部）：" + ", ".join(cols.KEYS)
    )


class ExportJobOut(Schema):
    id: int
    status: str = Field(description="pending、running、done、failed")
    format: str
    rows_done: int
    rows_total: int
    created_at: datetime
    finished_at: datetime | None
    error: str
    download_url: str | None = Field(description="完成后的下载地址（仅任务创建者可下载）")


def _job_json(job: ExportJob) -> dict[str, Any]:
    done = job.status == ExportJob.State.DONE and bool(job.file)
    return {
        "id": job.pk,
        "status": job.status,
        "format": job.format,
        "rows_done": job.rows_done,
        "rows_total": job.rows_total,
        "created_at": job.created_at,
        "finished_at": job.finished_at,
        "error": job.error,
        "download_url": reverse("api-v1:export_job_file", args=[job.pk]) if done else None,
    }


def _filters(request: HttpRequest) -> QueryDict:
    """The query string with `status` also accepted comma-separated, as `GET /needs` takes it."""
    data = request.GET.copy()
    statuses = [part.strip() for value in data.getlist("status") for part in value.split(",")]
    data.setlist("status", [status for status in statuses if status])
    return data


# The ledger's date filters overflow at the ends of the calendar (a 500 for `date_to` 9999-12-31
# or `date_from` 0001-01-01); no need was registered outside this range anyway.
DATE_RANGE = (date(2000, 1, 1), date(2099, 12, 31))


def _check_dates(params: LedgerExportQuery) -> None:
    errors: dict[str, list[str]] = {}
    for name in ("date_from", "date_to"):
        try:
            # Read as the ledger form reads it; what it cannot read, it reports itself.
            day = forms.DateField(required=False).clean(getattr(params, name))
        except ValidationError:
            continue
        if day is not None and not DATE_RANGE[0] <= day <= DATE_RANGE[1]:
            errors[name] = [_("日期须在 2000-01-01 至 2099-12-31 之间。")]
    if errors:
        raise InvalidInput(errors)


def _export(request: HttpRequest, params: LedgerExportQuery, format: str) -> Any:
    _check_dates(params)
    prepared = services.export_prepare(
        user=current_user(request),
        data=_filters(request),
        columns=(params.columns or "").split(","),
        format=format,
    )
    if prepared.count > services.SYNC_LIMIT:
        job = services.export_job_create(prepared=prepared)
        return Status(202, _job_json(job))
    return responses.file_response(prepared)


def _file_doc(*content_types: str, description: str) -> dict[str, Any]:
    binary = {"schema": {"type": "string", "format": "binary"}}
    return {
        "responses": {
            200: {
                "description": description,
                "content": dict.fromkeys(content_types, binary),
            }
        }
    }


SYNC_FILE = "文件（不超过同步导出上限时直接返回）"


@router.get(
    "/exports/ledger.xlsx",
    response={202: ExportJobOut, **ERRORS},
    operation_id="export_ledger_xlsx",
    summary="导出台账（Excel）",
    openapi_extra=_file_doc(services.CONTENT_TYPES[ExportJob.Format.XLSX], description=SYNC_FILE),
)
def export_ledger_xlsx(request: HttpRequest, params: Query[LedgerExportQuery]) -> Any:
    """The caller's ledger with the ledger page's filters as an .xlsx file: a title row with the
    scope and conditions, a frozen header, real date cells, personal data masked.

    Above the synchronous limit (5,000 rows) the answer is 202 with a job: poll
    `GET /exports/jobs/{id}` and download from its `download_url`."""
    return _export(request, params, ExportJob.Format.XLSX)


@router.get(
    "/exports/ledger.csv",
    response={202: ExportJobOut, **ERRORS},
    operation_id="export_ledger_csv",
    summary="导出台账（CSV）",
    openapi_extra=_file_doc(services.CONTENT_TYPES[ExportJob.Format.CSV], description=SYNC_FILE),
)
def export_ledger_csv(request: HttpRequest, params: Query[LedgerExportQuery]) -> Any:
    """The same as `ledger.xlsx` as CSV (UTF-8 with BOM, header row first, no title rows)."""
    return _export(request, params, ExportJob.Format.CSV)


@router.get(
    "/exports/jobs/{job_id}",
    response={200: ExportJobOut, **JOB_ERRORS},
    operation_id="export_job",
    summary="导出任务进度",
)
def export_job(request: HttpRequest, job_id: int) -> dict[str, Any]:
    job = selectors.export_job_get_for_user(user=current_user(request), pk=job_id)
    return _job_json(job)


@router.get(
    "/exports/jobs/{job_id}/file",
    response={**JOB_ERRORS},
    operation_id="export_job_file",
    url_name="export_job_file",
    summary="下载导出文件",
    # The file in the job's format (the type of `ledger.xlsx` or of `ledger.csv`).
    openapi_extra=_file_doc(*services.CONTENT_TYPES.values(), description="导出文件"),
)
def export_job_file(request: HttpRequest, job_id: int) -> Any:
    job = selectors.export_job_get_for_user(user=current_user(request), pk=job_id)
    return responses.job_file_response(job, request=request)
