"""Staff pages of the ledger export: the 导出 menu's target, a job's progress, its download.

Thin adapters over `wenxu.exchange.services`. The export form posts the chosen columns and
format; the ledger's filters ride in its query string, so the export holds what the page shows.
"""

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from wenxu.accounts.models import User
from wenxu.exchange import columns as cols
from wenxu.exchange import ledger, responses, selectors, services
from wenxu.needs.exceptions import InvalidInput, NotFound


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _back(request: HttpRequest) -> str:
    pairs = [
        (key, value)
        for key in ledger.FILTER_KEYS
        for value in request.GET.getlist(key)
        if value.strip()
    ]
    url = reverse("needs:ledger")
    return f"{url}?{urlencode(pairs)}" if pairs else url


@login_required
@require_POST
def ledger_export(request: HttpRequest) -> HttpResponseBase:
    user = _user(request)
    try:
        prepared = services.export_prepare(
            user=user,
            data=request.GET,
            columns=request.POST.getlist("columns"),
            format=request.POST.get("format", ""),
            reveal=request.POST.get("reveal") == "1",
            reveal_reason=request.POST.get("reveal_reason", ""),
        )
    except InvalidInput as error:
        for problems in error.errors.values():
            for problem in problems:
                messages.error(request, _("未能导出：%(problem)s") % {"problem": problem})
        return redirect(_back(request))
    services.export_reveal_record(prepared=prepared, request=request)
    if prepared.count > services.SYNC_LIMIT:
        job = services.export_job_create(prepared=prepared)
        return redirect("exchange:job", pk=job.pk)
    return responses.file_response(prepared)


@login_required
@require_GET
def job(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        found = selectors.export_job_get_for_user(user=_user(request), pk=pk)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    chosen = [cols.BY_KEY[key].label for key in found.columns if key in cols.BY_KEY]
    if len(chosen) == len(cols.COLUMNS):
        chosen = [_("全部 %(n)d 列") % {"n": len(chosen)}]
    context = {"job": found, "columns": chosen}
    partial = request.htmx and not request.htmx.history_restore_request  # type: ignore[attr-defined]
    template = "exchange/_job_status.html" if partial else "exchange/job.html"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


@login_required
@require_GET
def job_download(request: HttpRequest, pk: int) -> HttpResponseBase:
    try:
        found = selectors.export_job_get_for_user(user=_user(request), pk=pk)
        return responses.job_file_response(found, request=request)
    except NotFound as exc:
        raise Http404(exc.message) from exc
