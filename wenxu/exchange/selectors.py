"""Reads of export jobs: a job is its owner's alone (everyone else gets 404)."""

from django.utils.translation import gettext as _

from wenxu.accounts.models import User
from wenxu.exchange.models import ExportJob
from wenxu.needs.exceptions import NotFound


def export_job_get_for_user(*, user: User, pk: int) -> ExportJob:
    job = ExportJob.objects.filter(pk=pk, user=user).first() if user.is_active else None
    if job is None:
        raise NotFound(_("没有这个导出任务，或它不属于您。"))
    return job
