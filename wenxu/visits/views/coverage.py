"""走访覆盖 and 走访计划 pages: thin adapters over `wenxu.visits.coverage` and `.plans`.

Users with an area role (officer, dispatcher, leader, admin) read coverage and plans over their
areas; an area filter outside those areas answers 404; users without an area role (handlers)
get 403. Dispatchers and admins write plans over their areas.
"""

import csv
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from wenxu.accounts.models import User
from wenxu.lib import clock
from wenxu.needs import ledger_forms
from wenxu.needs.exceptions import InvalidInput
from wenxu.organisations.models import Area, path_roots
from wenxu.visits import coverage as cov
from wenxu.visits import periods, plans
from wenxu.visits.models import Mood, VisitPlan
from wenxu.visits.plan_forms import PeriodForm, PlanForm, plan_initial
from wenxu.visits.selectors import area_paths_for_user, areas_for_user

UNREACHED_LIMIT = 500


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _area_paths(user: User) -> list[str]:
    paths = area_paths_for_user(user)
    if not paths:
        raise PermissionDenied(_("走访覆盖只对走访干部、调度、领导和管理员开放。"))
    return path_roots(paths)


def _mood_label(value: float | None) -> str:
    if value is None:
        return ""
    # "温暖（基本认可）" → "温暖": the short word fits the summary card.
    return str(Mood(min(max(round(value), 1), 5)).label).split("（")[0]


@login_required
@require_GET
def coverage(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    user_paths = _area_paths(user)
    form = PeriodForm(request.GET)
    window, choice, problems = form.window(clock.today())
    if form.errors.get("area") or form.errors.get("grid"):
        raise Http404
    area_id = form.cleaned_data.get("area")
    area: Area | None = None
    if area_id:
        area = areas_for_user(user=user).filter(pk=area_id).first()
        if area is None:
            raise Http404
    paths = [area.path] if area is not None else user_paths
    report = cov.coverage_report(paths=paths, window=window)

    filters = {"period": choice, "area": area.pk if area else ""}
    if choice == "custom":
        filters |= {"start": window.first_day.isoformat(), "end": window.last_day.isoformat()}
    query = urlencode({k: v for k, v in filters.items() if v})
    if request.GET.get("format") == "csv":
        return _csv(report)

    grid_id = form.cleaned_data.get("grid")
    opened = None
    unreached: list[Any] = []
    if grid_id:
        opened = next((row for row in report.grids if row.area.pk == grid_id), None)
        if opened is None:
            raise Http404
        unreached = list(cov.unreached_places(area=opened.area, window=window)[:UNREACHED_LIMIT])

    sentiment_areas = list(
        Area.objects.filter(Q(path__in=report.paths) | Q(parent__path__in=report.paths)).order_by(
            "path"
        )
    )
    sentiments = cov.area_sentiment(areas=sentiment_areas, start=window.start, end=window.end)
    context = {
        "report": report,
        "window": window,
        "choice": choice,
        "choice_label": dict(periods.PERIOD_CHOICES)[choice],
        "periods": periods.PERIOD_CHOICES,
        "problems": problems,
        "area": area,
        "area_options": ledger_forms.area_options(user, area.pk if area else None),
        "query": query,
        "opened": opened,
        "unreached": unreached,
        "unreached_limit": UNREACHED_LIMIT,
        "sentiments": [
            {"area": a, "s": sentiments[a.pk], "top": a.path in report.paths}
            for a in sentiment_areas
        ],
        "total_mood_label": _mood_label(report.total.mood),
        "can_edit_plans": plans.may_edit_plans(user),
    }
    return render(request, "visits/coverage/page.html", context)


def _csv(report: cov.Report) -> HttpResponse:
    window = report.window
    name = f"coverage-{window.first_day:%Y%m%d}-{window.last_day:%Y%m%d}.csv"
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response.write("\ufeff")  # Excel reads UTF-8 only with a BOM
    writer = csv.writer(response)
    writer.writerow(
        [
            _("网格"),
            _("上级"),
            _("在册对象"),
            _("已走访"),
            _("未走访"),
            _("覆盖率(%)"),
            _("本期走访次数"),
            _("最近走访日期"),
            _("平均民情温度"),
        ]
    )
    for row in report.grids:
        writer.writerow(
            [
                row.area.name,
                str(row.area.parent) if row.area.parent else "",
                row.places,
                row.reached,
                row.not_reached,
                "" if row.coverage is None else f"{row.coverage * 100:.1f}",
                row.visits,
                timezone.localdate(row.last_visit).isoformat() if row.last_visit else "",
                "" if row.mood is None else f"{row.mood:.2f}",
            ]
        )
    return response


# --------------------------------------------------------------------------- plans


@login_required
@require_GET
def plan_list(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    paths = _area_paths(user)
    rows = list(cov.plans_in_scope(paths).order_by("-active", "area__path", "name"))
    editable = {plan.pk for plan in rows if plans.may_edit_plans(user, plan.area)}
    return render(
        request,
        "visits/coverage/plans.html",
        {"plans": rows, "editable": editable, "can_create": plans.may_edit_plans(user)},
    )


def _save(request: HttpRequest, form: PlanForm, plan: VisitPlan | None) -> HttpResponse | None:
    if not form.is_valid():
        return None
    user = _user(request)
    try:
        if plan is None:
            saved = plans.plan_create(actor=user, data=form.to_input())
            messages.success(request, _("已制定走访计划“%(name)s”。") % {"name": saved.name})
        else:
            saved = plans.plan_update(actor=user, plan=plan, data=form.to_input())
            messages.success(request, _("已保存走访计划“%(name)s”。") % {"name": saved.name})
    except InvalidInput as exc:
        for name, errors in exc.errors.items():
            for error in errors:
                form.add_error(name if name in form.fields else None, error)
        return None
    return redirect(reverse("visits:plans"))


@login_required
@require_http_methods(["GET", "POST"])
def plan_create(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    if not plans.may_edit_plans(user):
        raise PermissionDenied(_("只有调度人员或管理员可以制定走访计划。"))
    form = PlanForm(
        request.POST if request.method == "POST" else None,
        user=user,
        initial={"kind": "coverage", "period": "quarter", "starts_on": clock.today()},
    )
    if request.method == "POST" and (done := _save(request, form, None)) is not None:
        return done
    return render(request, "visits/coverage/plan_form.html", {"form": form, "plan": None})


@login_required
@require_http_methods(["GET", "POST"])
def plan_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    plan = cov.plans_in_scope(_area_paths(user)).filter(pk=pk).first()
    if plan is None:
        raise Http404
    if not plans.may_edit_plans(user, plan.area):
        raise PermissionDenied(_("只有该区域的调度人员或管理员可以修改走访计划。"))
    form = PlanForm(
        request.POST if request.method == "POST" else None, user=user, initial=plan_initial(plan)
    )
    if request.method == "POST" and (done := _save(request, form, plan)) is not None:
        return done
    return render(request, "visits/coverage/plan_form.html", {"form": form, "plan": plan})
