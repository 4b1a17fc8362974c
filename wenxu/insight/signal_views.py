"""预警信号 (/signals/): early signals for dispatchers and leaders, and turning one into a visit
task or dismissing it. Thin adapters over `wenxu.insight.signals`.

Leaders, dispatchers and admins (the roles that see statistics) read the signals of their area
scopes; anyone else gets 403. A signal outside the viewer's areas answers 404, for reading and
for acting. Dispatchers (and admins) over the signal's area act on it; a leader reads and
supervises, and is refused (403) like on the visit plans, which only dispatchers write. An
action on a signal someone else has handled meanwhile answers 409 and changes nothing.
"""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from wenxu.accounts.models import User
from wenxu.insight import signals as sg
from wenxu.insight.models import Signal
from wenxu.lib import clock
from wenxu.needs import ledger_forms
from wenxu.needs.exceptions import InvalidInput, NotPermitted, StaleVersion
from wenxu.needs.selectors import keyset_page
from wenxu.organisations.models import Area
from wenxu.visits.plans import may_edit_plans

PAGE_SIZE = 20
# Latest periods first, the most significant first within one; pages by cursor (keyset).
ORDER = ("-period_end", "-score", "-id")
ALL = "all"
STATE_CHOICES: tuple[tuple[str, Any], ...] = (
    *Signal.State.choices,
    (ALL, gettext_lazy("全部")),
)
_BAD_DATE = gettext_lazy("日期格式不正确，请按“年-月-日”填写，例如 2026-03-01。")

# The little bar chart: bars in a 12 × 10 wide, 40 high box (SVG attributes, no inline styles).
_CHART_HEIGHT = 40
_BAR_STEP = 10


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    if not sg.may_view_signals(request.user):
        raise PermissionDenied(_("预警信号只对领导、调度人员和管理员开放。"))
    return request.user


class FilterForm(forms.Form):
    state = forms.ChoiceField(
        required=False,
        choices=STATE_CHOICES,
        error_messages={"invalid_choice": gettext_lazy("未知的状态：%(value)s")},
    )
    area = forms.IntegerField(
        required=False,
        min_value=1,
        error_messages={
            "invalid": gettext_lazy("区域参数无效。"),
            "min_value": gettext_lazy("区域参数无效。"),
        },
    )


class TaskForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("任务名称"), max_length=100)
    target = forms.IntegerField(
        label=gettext_lazy("走访次数"),
        min_value=1,
        max_value=100,
        error_messages={
            "required": gettext_lazy("请填写走访次数。"),
            "invalid": gettext_lazy("走访次数须为 1 到 100 的整数。"),
            "min_value": gettext_lazy("走访次数须为 1 到 100 的整数。"),
            "max_value": gettext_lazy("走访次数须为 1 到 100 的整数。"),
        },
    )
    starts_on = forms.DateField(
        label=gettext_lazy("开始日期"),
        input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"invalid": _BAD_DATE, "required": gettext_lazy("请填写开始日期。")},
    )
    ends_on = forms.DateField(
        label=gettext_lazy("结束日期"),
        input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"invalid": _BAD_DATE, "required": gettext_lazy("请填写结束日期。")},
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.widget.attrs["class"] = "form-control"

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        starts, ends = data.get("starts_on"), data.get("ends_on")
        if starts and ends and ends < starts:
            self.add_error("ends_on", _("结束日期不能早于开始日期。"))
        return data


class DismissForm(forms.Form):
    note = forms.CharField(
        label=gettext_lazy("忽略理由"),
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={
            "required": gettext_lazy("请填写忽略的理由。"),
            "max_length": gettext_lazy("理由太长（最多 1000 字）。"),
        },
    )


@dataclass(frozen=True)
class ChartBar:
    bar: sg.Bar
    x: int
    y: float
    height: float


@dataclass(frozen=True)
class Row:
    signal: Signal
    place: str
    category: str  # 全部类别 when the signal has none
    expected: float
    bars: list[ChartBar]
    ledger_url: str


def _place(area: Area) -> str:
    """A village with its township ("东河镇 · 东河村"): village names repeat across a county."""
    parent = area.parent
    if area.level == Area.Level.VILLAGE and isinstance(parent, Area):
        return f"{parent.name} · {area.name}"
    return area.name


def _ledger_url(signal: Signal) -> str:
    query = {
        "area": signal.area_id,
        "category": signal.category_id or "",
        "date_from": signal.period_start.isoformat(),
        "date_to": signal.period_end.isoformat(),
    }
    return f"{reverse('needs:ledger')}?{urlencode({k: v for k, v in query.items() if v})}"


def _rows(signals: list[Signal]) -> list[Row]:
    history = sg.histories(signals)
    rows = []
    for signal in signals:
        bars = history.get(signal.pk, [])
        peak = max([b.count for b in bars] + [1])
        chart = []
        for index, bar in enumerate(bars):
            height = round(bar.count / peak * (_CHART_HEIGHT - 4), 1) if bar.count else 0.0
            chart.append(
                ChartBar(bar=bar, x=index * _BAR_STEP + 1, y=_CHART_HEIGHT - height, height=height)
            )
        rows.append(
            Row(
                signal=signal,
                place=_place(signal.area),
                category=signal.category.name if signal.category else _("全部类别"),
                expected=signal.count / signal.ratio if signal.ratio else signal.baseline,
                bars=chart,
                ledger_url=_ledger_url(signal),
            )
        )
    return rows


def _area_in_scope(user: User, area: Area) -> bool:
    return any(area.path.startswith(path) for path in sg.viewer_area_paths(user))


@login_required
@require_GET
def signal_list(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    form = FilterForm(request.GET)
    form.is_valid()
    problems = [str(e) for errors in form.errors.values() for e in errors]
    data = form.cleaned_data
    state = data.get("state") or Signal.State.NEW
    area = Area.objects.filter(pk=data["area"]).first() if data.get("area") else None
    if data.get("area") and (area is None or not _area_in_scope(user, area)):
        area = None
        problems.append(_("没有这个区域，或它不在你的权限范围内。"))

    signals = sg.signals_for_user(user)
    if state != ALL:
        signals = signals.filter(state=state)
    if area is not None:
        signals = signals.filter(area__path__startswith=area.path)
    cursor = request.GET.get("cursor") or None
    try:
        found, next_cursor = keyset_page(signals, ORDER, cursor, PAGE_SIZE)
    except InvalidInput as error:
        problems += [message for messages in error.errors.values() for message in messages]
        cursor = None
        found, next_cursor = keyset_page(signals, ORDER, cursor, PAGE_SIZE)
    query = {"state": state if state != Signal.State.NEW else "", "area": area.pk if area else ""}
    base_query = urlencode({k: v for k, v in query.items() if v})
    context = {
        "rows": _rows(found),
        "first_url": f"?{base_query}" if cursor else "",
        "next_url": f"?{base_query}{'&' if base_query else ''}{urlencode({'cursor': next_cursor})}"
        if next_cursor
        else "",
        "state": state,
        "states": STATE_CHOICES,
        "area": area,
        "area_options": ledger_forms.area_options(user, area.pk if area else None),
        "problems": problems,
        "has_scope": bool(sg.viewer_area_paths(user)),
        "settings_days": settings.WENXU_SIGNALS_DAYS,
        "settings_weeks": settings.WENXU_SIGNALS_BASELINE_WEEKS,
        "history_periods": sg.HISTORY_PERIODS,
        "chart_width": sg.HISTORY_PERIODS * _BAR_STEP,
        "chart_height": _CHART_HEIGHT,
    }
    return render(request, "insight/signals/list.html", context)


def _signal(user: User, pk: int) -> Signal:
    signal = sg.signals_for_user(user).filter(pk=pk).first()
    if signal is None:
        raise Http404(_("没有这个预警，或它不在你的权限范围内。"))
    return signal


def _task_initial(signal: Signal) -> dict[str, Any]:
    today = clock.today()
    return {
        "name": sg.default_plan_name(signal)[:100],
        "target": 1,
        "starts_on": today,
        "ends_on": today + timedelta(days=sg.TASK_DAYS),
    }


def _detail(
    request: HttpRequest,
    user: User,
    signal: Signal,
    *,
    task_form: TaskForm | None = None,
    dismiss_form: DismissForm | None = None,
    problem: str = "",
    status: int = 200,
) -> HttpResponse:
    context = {
        "row": _rows([signal])[0],
        "signal": signal,
        "may_act": signal.state == Signal.State.NEW and may_edit_plans(user, signal.area),
        "may_edit_plan": signal.visit_plan is not None
        and may_edit_plans(user, signal.visit_plan.area),
        "task_form": task_form or TaskForm(initial=_task_initial(signal)),
        "dismiss_form": dismiss_form or DismissForm(),
        "problem": problem,
        "settings_weeks": settings.WENXU_SIGNALS_BASELINE_WEEKS,
        "history_periods": sg.HISTORY_PERIODS,
        "chart_width": sg.HISTORY_PERIODS * _BAR_STEP,
        "chart_height": _CHART_HEIGHT,
    }
    return render(request, "insight/signals/detail.html", context, status=status)


@login_required
@require_GET
def signal_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    return _detail(request, user, _signal(user, pk))


@login_required
@require_POST
def signal_task(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    signal = _signal(user, pk)
    form = TaskForm(request.POST)
    if not may_edit_plans(user, signal.area):
        raise PermissionDenied(_("只有该区域的调度人员可以处理预警。"))
    if not form.is_valid():
        return _detail(request, user, signal, task_form=form, status=422)
    data = form.cleaned_data
    try:
        plan = sg.signal_task(
            actor=user,
            signal=signal,
            target=data["target"],
            starts_on=data["starts_on"],
            ends_on=data["ends_on"],
            name=data["name"],
        )
    except NotPermitted as error:
        raise PermissionDenied(error.message) from error
    except StaleVersion as error:
        signal = _signal(user, pk)
        return _detail(request, user, signal, problem=error.message, status=409)
    except InvalidInput as error:
        for field, errors in error.errors.items():
            for message in errors:
                form.add_error(field if field in form.fields else None, message)
        return _detail(request, user, signal, task_form=form, status=422)
    messages.success(
        request,
        _("已安排走访任务“%(name)s”，该区域的走访干部会在覆盖页面看到。") % {"name": plan.name},
    )
    return redirect("insight:signals")


@login_required
@require_POST
def signal_dismiss(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    signal = _signal(user, pk)
    if not may_edit_plans(user, signal.area):
        raise PermissionDenied(_("只有该区域的调度人员可以处理预警。"))
    form = DismissForm(request.POST)
    if not form.is_valid():
        return _detail(request, user, signal, dismiss_form=form, status=422)
    try:
        sg.signal_dismiss(actor=user, signal=signal, note=form.cleaned_data["note"])
    except NotPermitted as error:
        raise PermissionDenied(error.message) from error
    except StaleVersion as error:
        signal = _signal(user, pk)
        return _detail(request, user, signal, problem=error.message, status=409)
    except InvalidInput as error:
        form.add_error("note", error.message)
        return _detail(request, user, signal, dismiss_form=form, status=422)
    messages.success(request, _("已忽略该预警。"))
    return redirect("insight:signals")
