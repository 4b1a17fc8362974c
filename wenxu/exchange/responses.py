"""HTTP responses carrying an export, shared by the staff pages and the API."""

from django.http import FileResponse, HttpResponseBase, StreamingHttpResponse
from django.utils.cache import patch_cache_control
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _

from wenxu.exchange import services
from wenxu.exchange.models import ExportJob
from wenxu.lib.private_files import private_file_response
from wenxu.needs.exceptions import NotFound


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


def job_file_response(job: ExportJob) -> FileResponse:
    """A finished job's file, for its owner (the caller found the job through the selector)."""
    if job.status != ExportJob.State.DONE or not job.file:
        raise NotFound(_("文件尚未生成或已过期清理，请重新导出。"))
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
