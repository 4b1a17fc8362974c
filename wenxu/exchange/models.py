"""Ledger export jobs: an export too large to answer at once runs in the worker (issue #6).

The file lands under `DATA_DIR/exports/` and is served only to the job's owner, through
`wenxu.lib.private_files` (it holds the ledger, masked unless `reveal_reason` says otherwise).
"""

from pathlib import Path
from typing import ClassVar

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.db import models
from django.utils.deconstruct import deconstructible
from django.utils.translation import gettext_lazy as _

from wenxu.lib import clock


@deconstructible
class ExportStorage(FileSystemStorage):
    """`DATA_DIR/exports`, read from the settings at each use (tests point DATA_DIR elsewhere)."""

    @property
    def base_location(self) -> str:
        return str(Path(settings.DATA_DIR) / "exports")

    @property
    def location(self) -> str:
        return str(Path(self.base_location).resolve())


export_storage = ExportStorage()


class ExportJob(models.Model):
    class Format(models.TextChoices):
        XLSX = "xlsx", "Excel (.xlsx)"
        CSV = "csv", "CSV"

    class State(models.TextChoices):
        PENDING = "pending", _("排队中")
        RUNNING = "running", _("导出中")
        DONE = "done", _("已完成")
        FAILED = "failed", _("失败")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("导出人"),
        on_delete=models.CASCADE,
        related_name="export_jobs",
    )
    # The ledger's query-string filters as {key: [values]}, parsed again when the job runs.
    filters = models.JSONField(_("筛选条件"), default=dict, blank=True)
    columns = models.JSONField(_("导出列"), default=list)
    format = models.CharField(_("格式"), max_length=8, choices=Format.choices)
    status = models.CharField(
        _("状态"), max_length=16, choices=State.choices, default=State.PENDING
    )
    rows_done = models.PositiveIntegerField(_("已导出行数"), default=0)
    rows_total = models.PositiveIntegerField(_("总行数"), default=0)
    file = models.FileField(_("文件"), storage=export_storage, max_length=200, blank=True)
    download_name = models.CharField(_("下载文件名"), max_length=100, blank=True)
    error = models.TextField(_("错误"), blank=True)
    created_at = models.DateTimeField(_("创建时间"), default=clock.now)
    started_at = models.DateTimeField(_("开始时间"), null=True, blank=True)
    finished_at = models.DateTimeField(_("完成时间"), null=True, blank=True)
    # sha256 of user, filters, columns and format: the same request reuses its job.
    request_hash = models.CharField(_("请求摘要"), max_length=64, blank=True, db_index=True)
    # Non-empty: the rows show personal data unmasked, asked for with this reason (issue #9);
    # the permission is checked again when the job runs and at each download.
    reveal_reason = models.CharField(_("包含完整个人信息的原因"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("台账导出任务")
        verbose_name_plural = _("台账导出任务")
        ordering: ClassVar = ["-id"]
        constraints: ClassVar = [
            models.CheckConstraint(
                condition=models.Q(format__in=["xlsx", "csv"]), name="export_job_format_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=["pending", "running", "done", "failed"]),
                name="export_job_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.pk} {self.format} {self.status}"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.State.DONE, self.State.FAILED)

    @property
    def percent(self) -> int:
        if self.status == self.State.DONE:
            return 100
        if not self.rows_total:
            return 0
        return min(99, self.rows_done * 100 // self.rows_total)
