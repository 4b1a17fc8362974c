"""月报: the printable page /stats/report/ and the workbook /stats/report.xlsx.

Thin adapters over `wenxu.insight.report`. Both take `month` (YYYY-MM, default last month),
`area` and `unit` (ids, subtrees, within the viewer's scope). Leaders, dispatchers, admins and
handlers (for their own unit) may read it; a user without any scope gets 404 like the other
scoped pages, a user whose roles do not include those gets 403; an area or unit outside the
viewer's scope, or that does not exist, answers 404. A month or id the report cannot use
answers 422 with the form and the reason, and nothing is built.
"""

from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from wenxu.accounts.models import User
from wenxu.audit import actions
from wenxu.audit.services import audit_record
from wenxu.insight import report as rp
from wenxu.insight.report_xlsx import overdue_note, report_workbook, topics_text
from wenxu.lib import clock
from wenxu.needs import ledger_forms
from wenxu.organisations.models import Area, Unit

TEMPLATE = "insight/report.html"


class ReportForm(forms.Form):
    month = forms.CharField(required=False, max_length=20)
    area = forms.IntegerField(
        required=False, min_value=1, error_messages={"invalid": gettext_lazy("区域参数无效。")}
    )
    unit = forms.IntegerField(
        required=False,
        min_value=1,
        error_messages={"invalid": gettext_lazy("责任单位参数无效。")},
    )

    def clean_month(self) -> rp.Month:
        text = self.cleaned_data.get("month") or ""
        today = clock.today()
        if not text.strip():
            return rp.default_month(today)
        try:
            return rp.parse_month(text, today=today)
        except rp.BadMonth as exc:
            raise forms.ValidationError(exc.message) from exc


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _allowed(user: User) -> None:
    if not rp.has_scope(user):
        raise Http404(_("你的账号还没有负责的区域或单位。"))
    if not rp.may_read_report(user):
        raise PermissionDenied(_("月报只对领导、调度人员、管理员和责任单位承办人开放。"))


def _report(request: HttpRequest) -> tuple[ReportForm, rp.Report | None]:
    user = _user(request)
    _allowed(user)
    form = ReportForm(request.GET)
    if not form.is_valid():
        return form, None
    data = form.cleaned_data
    area: Area | None = None
    unit: Unit | None = None
    if data.get("area"):
        area = Area.objects.filter(pk=data["area"]).first()
        if area is None or not rp.area_in_scope(user, area):
            raise Http404(_("没有这个区域，或它不在你的权限范围内。"))
    if data.get("unit"):
        unit = Unit.objects.filter(pk=data["unit"]).first()
        if unit is None or not rp.unit_in_scope(user, unit):
            raise Http404(_("没有这个责任单位，或它不在你的权限范围内。"))
    report = rp.report_for_user(
        user=user, month=data["month"], area=area, unit=unit, now=clock.now()
    )
    return form, report


def _query(report: rp.Report) -> str:
    params: dict[str, Any] = {"month": report.month.value}
    if report.area is not None:
        params["area"] = report.area.pk
    if report.unit is not None:
        params["unit"] = report.unit.pk
    return urlencode(params)


def _problems(form: ReportForm) -> list[str]:
    return [str(error) for errors in form.errors.values() for error in errors]


def _context(request: HttpRequest, form: ReportForm, report: rp.Report | None) -> dict[str, Any]:
    user = _user(request)
    area = report.area if report is not None else None
    unit = report.unit if report is not None else None
    month_value = report.month.value if report is not None else str(request.GET.get("month", ""))
    return {
        "report": report,
        "problems": _problems(form),
        "month_value": month_value[:20],
        "max_month": rp.Month.of(clock.today()).value,
        "area": area,
        "unit": unit,
        "area_options": ledger_forms.area_options(user, area.pk if area else None),
        "unit_options": ledger_forms.unit_options(),
        "query": _query(report) if report is not None else "",
        "overdue_note": overdue_note(report) if report is not None else "",
        "topics_text": topics_text(report) if report is not None else "",
        "page_header_css": _css_string(f"{report.scope} · {report.title}") if report else "",
    }


def _css_string(text: str) -> str:
    """`text` as a CSS string literal for the printed page header: anything but letters, digits
    and spaces as a CSS escape, so no name can close the string or the style element."""
    escaped = "".join(c if c.isalnum() or c == " " else f"\\{ord(c):x} " for c in text)
    return mark_safe(f'"{escaped}"')  # noqa: S308 - every character above is inert


@login_required
@require_GET
def report_page(request: HttpRequest) -> HttpResponse:
    form, report = _report(request)
    status = 200 if report is not None else 422
    return render(request, TEMPLATE, _context(request, form, report), status=status)


@login_required
@require_GET
def report_xlsx(request: HttpRequest) -> HttpResponse:
    form, report = _report(request)
    if report is None:
        return render(request, TEMPLATE, _context(request, form, None), status=422)
    response = HttpResponse(
        report_workbook(report),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    name = f"wenxu-monthly-report-{report.month.value}.xlsx"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    audit_record(
        action=actions.EXPORT,
        actor=_user(request),
        target=f"report:{report.month.value}",
        detail={
            "kind": "monthly_report",
            "month": report.month.value,
            "area": report.area.pk if report.area is not None else None,
            "unit": report.unit.pk if report.unit is not None else None,
            "revealed": False,
        },
        request=request,
    )
    return response
