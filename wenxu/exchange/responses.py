"""HTTP responses carrying an export, shared by the staff pages and the API."""

from django.http import FileResponse, HttpRequest, HttpResponseBase, StreamingHttpResponse
from django.utils.cache import patch_cache_control
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _

from wenxu.exchange import ledger, services
from wenxu.exchange.models import ExportJob
from wenxu.lib.private_files import private_file_response
from wenxu.needs.exceptions import NotFound, NotPermitted
from wenxu.residents.reveal import record_reveal


def file_response(prepared: services.PreparedExport) -> HttpResponseBase:
    """The file at once: CSV streamed from the database row by row, XLSX from a temporary
    file (XlsxWriter needs to finish the workbook before its first byte can go)."""
    content_type = services.CONTENT_TYPES[prepared.format]
    response: HttpResponseBase
    if prepared.format == ExportJob.Format.CSV:
        response = StreamingHttpResponse(
            services.export_csv_chunks(prepared), content_type=content_type
        )
        disposition = content_disposition_header(True, prepared.download_name)
        if disposition:
            response["Content-Disposition"] = disposition
    else:
        response = FileResponse(
            services.export_xlsx_file(prepared),
            content_type=content_type,
            as_attachment=True,
            filename=prepared.download_name,
        )
    patch_cache_control(response, private=True, no_store=True)
    response["X-Export-Rows"] = str(prepared.count)
    return response


def job_file_response(job: ExportJob, *, request: HttpRequest | None = None) -> FileResponse:
    """A finished job's file, for its owner (the caller found the job through the selector).

    A file with personal data unmasked is served only while its owner may still reveal, and
    each download is a reveal in the security log."""
    if job.status != ExportJob.State.DONE or not job.file:
        raise NotFound(_("文件尚未生成或已过期清理，请重新导出。"))
    if job.reveal_reason:
        if not ledger.may_reveal_personal_data(job.user):
            raise NotPermitted(
                _("该文件包含完整个人信息，您已没有相应权限，不能下载；请重新导出（脱敏）。")
            )
        record_reveal(
            actor=job.user,
            target=f"export_job:{job.pk}",
            reason=job.reveal_reason,
            fields=[key for key in job.columns if key in ("requester", "phone", "address")],
            request=request,
            extra={"format": job.format, "rows": job.rows_total},
        )
    response = private_file_response(
        stored=job.file,
        content_type=services.CONTENT_TYPES[job.format],
        original_name=job.download_name,
        inline=False,
    )
    # The whole ledger with personal data: kept by no cache, the browser's included, as the
    # files answered at once (`file_response`) are.
    response["Cache-Control"] = "private, no-store"
    return response
