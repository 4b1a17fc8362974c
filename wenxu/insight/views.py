"""统计 (/stats/): a thin adapter over `wenxu.insight.dashboards`.

A GET form (works without JavaScript) picks the period, area, unit and category; a value the
page cannot use becomes a message and is left out, so a hand-edited link never fails. Every
chart's table downloads as CSV with the same filters: `?format=csv&chart=<name>`.

Everyone signed in may open the page and sees their own scope only (leaders and dispatchers
their areas, handlers their unit); a user without any scope gets the page with no numbers and
a message, like the ledger.
"""

import csv
import re
from datetime import date
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from wenxu.accounts.models import User
from wenxu.insight import dashboards, periods
from wenxu.insight import report as rp
from wenxu.insight.selectors import StatsFilters
from wenxu.lib import clock
from wenxu.needs import ledger_forms
from wenxu.needs.models import Category
from wenxu.organisations.models import Area, Unit

SORT_CHOICES: tuple[tuple[str, Any], ...] = (
    ("ontime_rate", gettext_lazy("按期办结率")),
    ("response_rate", gettext_lazy("响应率")),
    ("resolution_rate", gettext_lazy("解决率")),
    ("satisfaction_rate", gettext_lazy("满意率")),
    ("callback_rate", gettext_lazy("回访率")),
    ("volume", gettext_lazy("交办件数")),
)
_DATE_FORMAT = ["%Y-%m-%d"]
_BAD_DATE = gettext_lazy("日期格式不正确，请按“年-月-日”填写，例如 2026-03-01。")
_PLAIN_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?%?$")


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


class StatsFilterForm(forms.Form):
    period = forms.ChoiceField(
        label=gettext_lazy("统计周期"),
        required=False,
        choices=periods.PERIOD_CHOICES,
        error_messages={"invalid_choice": gettext_lazy("未知的统计周期：%(value)s")},
    )
    start = forms.DateField(
        label=gettext_lazy("开始日期"),
        required=False,
        input_formats=_DATE_FORMAT,
        error_messages={"invalid": _BAD_DATE},
    )
    end = forms.DateField(
        label=gettext_lazy("结束日期"),
        required=False,
        input_formats=_DATE_FORMAT,
        error_messages={"invalid": _BAD_DATE},
    )
    area = forms.IntegerField(
        required=False,
        min_value=1,
        error_messages={"invalid": gettext_lazy("区域参数无效。")},
    )
    unit = forms.IntegerField(
        required=False,
        min_value=1,
        error_messages={"invalid": gettext_lazy("责任单位参数无效。")},
    )
    category = forms.IntegerField(
        required=False,
        min_value=1,
        error_messages={"invalid": gettext_lazy("分类参数无效。")},
    )
    sort = forms.ChoiceField(
        required=False,
        choices=SORT_CHOICES,
        error_messages={"invalid_choice": gettext_lazy("未知的排序方式：%(value)s")},
    )

    def problems(self) -> list[str]:
        return [str(error) for errors in self.errors.values() for error in errors]

    def window(self, today: date) -> tuple[str, date, date, list[str]]:
        """The chosen period's choice and days, or the default with a message why."""
        data = self.cleaned_data
        choice = data.get("period") or periods.DEFAULT_PERIOD
        start, end = data.get("start"), data.get("end")
        if choice != "custom":
            return (choice, *periods.period_dates(choice, today=today), [])
        problem = ""
        if start is None or end is None:
            problem = _("自定义周期请填写开始日期和结束日期。")
        elif start > end:
            problem = _("开始日期不能晚于结束日期。")
        elif (end - start).days >= periods.MAX_DAYS:
            problem = _("一次最多统计 3 年，请缩短日期范围。")
        if problem or start is None or end is None:
            choice = periods.DEFAULT_PERIOD
            return (choice, *periods.period_dates(choice, today=today), [problem])
        return choice, start, end, []


def _lookup(model: type[Area] | type[Unit] | type[Category], pk: int | None) -> Any:
    return model.objects.filter(pk=pk).first() if pk else None


def _csv_cell(text: str) -> str:
    # A cell starting with = + - @ could run as a formula in Excel; numbers ("-3.2") cannot.
    if text.startswith(("=", "+", "-", "@", "\t", "\r")) and not _PLAIN_NUMBER.match(text):
        return "'" + text
    return text


def _csv(table: dashboards.Table, start: date, end: date) -> HttpResponse:
    name = f"stats-{table.name}-{start:%Y%m%d}-{end:%Y%m%d}.csv"
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response.write("\ufeff")  # Excel reads UTF-8 only with a BOM
    writer = csv.writer(response)
    for row in table.csv_rows():
        writer.writerow([_csv_cell(cell) for cell in row])
    return response


@login_required
@require_GET
def stats(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    form = StatsFilterForm(request.GET)
    form.is_valid()
    problems = form.problems()
    choice, start, end, refused = form.window(clock.today())
    problems += refused
    cleaned = form.cleaned_data
    # An area or unit outside the viewer's scope is treated as unknown: never named on the page.
    area: Area | None = _lookup(Area, cleaned.get("area"))
    if area is not None and not rp.area_in_scope(user, area):
        area = None
    unit: Unit | None = _lookup(Unit, cleaned.get("unit"))
    if unit is not None and not rp.unit_in_scope(user, unit):
        unit = None
    category: Category | None = _lookup(Category, cleaned.get("category"))
    for key, found, message in (
        ("area", area, _("没有这个区域，或它不在你的权限范围内。")),
        ("unit", unit, _("没有这个责任单位，或它不在你的权限范围内。")),
        ("category", category, _("没有这个分类。")),
    ):
        if cleaned.get(key) and found is None:
            problems.append(message)
    sort = cleaned.get("sort") or dashboards.DEFAULT_SORT

    dash = dashboards.dashboard_for_user(
        user=user,
        filters=StatsFilters(start=start, end=end, area=area, unit=unit, category=category),
        sort=sort,
        period=choice,
        now=clock.now(),
    )

    filters: dict[str, Any] = {
        "period": choice,
        "area": area.pk if area else "",
        "unit": unit.pk if unit else "",
        "category": category.pk if category else "",
    }
    if choice == "custom":
        filters |= {"start": start.isoformat(), "end": end.isoformat()}
    query = urlencode({k: v for k, v in filters.items() if v})
    sorted_query = "&".join(
        part for part in (query, urlencode({"sort": sort}) if sort != "ontime_rate" else "") if part
    )

    if request.GET.get("format") == "csv":
        table = dash.table(request.GET.get("chart", ""))
        if table is None:
            raise Http404(_("没有这个图表。"))
        return _csv(table, start, end)

    base = reverse("insight:stats")
    context = {
        "dash": dash,
        "choice": choice,
        "choice_label": dict(periods.PERIOD_CHOICES)[choice],
        "periods": periods.PERIOD_CHOICES,
        "days": (end - start).days + 1,
        "area": area,
        "unit": unit,
        "category": category,
        "area_options": ledger_forms.area_options(user, area.pk if area else None),
        "unit_options": ledger_forms.unit_options(),
        "category_options": ledger_forms.category_options(),
        "sorts": [
            (
                value,
                label,
                f"{base}?{'&'.join(p for p in (query, urlencode({'sort': value})) if p)}",
            )
            for value, label in SORT_CHOICES
        ],
        "sort": dash.sort,
        "csv_base": f"{base}?{sorted_query}{'&' if sorted_query else ''}format=csv&chart=",
        "problems": problems,
        "unit_or_category": unit is not None or category is not None,
    }
    return render(request, "insight/stats.html", context)
