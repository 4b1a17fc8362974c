"""Forms of the plan pages and the coverage period picker."""

from datetime import date
from typing import Any

from django import forms
from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from wenxu.accounts.models import Membership, Role, User
from wenxu.accounts.selectors import scopes_for_user
from wenxu.organisations.models import Area, under_q
from wenxu.visits import coverage, periods
from wenxu.visits.models import PlaceKind, PlanKind, PlanPeriod, VisitKind
from wenxu.visits.plans import PLAN_EDITORS, PlanInput


class _AreaChoice(forms.ModelChoiceField):  # type: ignore[type-arg]
    def label_from_instance(self, obj: Any) -> str:
        return "\u3000" * max(int(obj.depth) - self.top_depth, 0) + str(obj.name)

    top_depth = 0


class _OfficerChoice(forms.ModelChoiceField):  # type: ignore[type-arg]
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.display_name or obj.username}（{obj.username}）"


def editable_areas(user: User) -> QuerySet[Area]:
    """The areas where the user may write plans: their dispatcher and admin subtrees."""
    paths = [s.area_path for s in scopes_for_user(user) if s.area_path and s.role in PLAN_EDITORS]
    return Area.objects.filter(under_q(paths)).order_by("path")


def officer_choices(user: User) -> QuerySet[User]:
    """Active users holding an area role in (or above) the user's plan areas."""
    paths = [s.area_path for s in scopes_for_user(user) if s.area_path and s.role in PLAN_EDITORS]
    q = under_q(paths, "area")
    for path in paths:
        q |= Q(area__path__in=coverage.ancestor_paths(path))
    members = Membership.objects.filter(q, role=Role.OFFICER).values("user_id")
    return User.objects.filter(pk__in=members, is_active=True).order_by("username")


class PlanForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("计划名称"), max_length=100)
    kind = forms.ChoiceField(
        label=gettext_lazy("计划类型"),
        choices=PlanKind.choices,
        widget=forms.RadioSelect,
        help_text=gettext_lazy(
            "全覆盖走访：范围内每个在册对象每周期至少走访一次；走访次数：每周期完成规定次数。"
        ),
    )
    period = forms.ChoiceField(label=gettext_lazy("周期"), choices=PlanPeriod.choices)
    area = _AreaChoice(label=gettext_lazy("范围（含下级）"), queryset=Area.objects.none())
    place_kind = forms.ChoiceField(
        label=gettext_lazy("走访对象类型"),
        choices=[("", gettext_lazy("所有类型")), *list(PlaceKind.choices)],
        required=False,
        help_text=gettext_lazy("仅用于全覆盖走访。"),
    )
    visit_kind = forms.ChoiceField(
        label=gettext_lazy("走访形式"),
        choices=[("", gettext_lazy("任何形式")), *list(VisitKind.choices)],
        required=False,
        help_text=gettext_lazy("仅用于走访次数计划。"),
    )
    target = forms.IntegerField(
        label=gettext_lazy("每周期次数"),
        min_value=1,
        max_value=10000,
        required=False,
        help_text=gettext_lazy("走访次数计划必填。"),
    )
    officer = _OfficerChoice(
        label=gettext_lazy("责任干部"),
        queryset=User.objects.none(),
        required=False,
        empty_label=gettext_lazy("范围内干部共同完成"),
    )
    starts_on = forms.DateField(
        label=gettext_lazy("开始日期"),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    ends_on = forms.DateField(
        label=gettext_lazy("结束日期"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text=gettext_lazy("留空表示长期有效。"),
    )
    active = forms.BooleanField(label=gettext_lazy("启用"), required=False, initial=True)

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        areas = editable_areas(user)
        area_field: Any = self.fields["area"]
        area_field.queryset = areas
        first = areas.only("depth").first()
        area_field.top_depth = first.depth if first else 0
        officer_field: Any = self.fields["officer"]
        officer_field.queryset = officer_choices(user)
        for name, field in self.fields.items():
            if name in ("kind", "active"):
                continue
            css = "form-select" if isinstance(field.widget, forms.Select) else "form-control"
            field.widget.attrs.setdefault("class", css)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("kind") == PlanKind.COUNT and not data.get("target"):
            self.add_error("target", _("走访次数计划请填写每周期次数。"))
        return data

    def to_input(self) -> PlanInput:
        d = self.cleaned_data
        return PlanInput(
            name=d["name"],
            kind=d["kind"],
            period=d["period"],
            area=d["area"],
            starts_on=d["starts_on"],
            ends_on=d.get("ends_on"),
            place_kind=d.get("place_kind") or "",
            visit_kind=d.get("visit_kind") or "",
            target=d.get("target"),
            officer=d.get("officer"),
            active=bool(d.get("active")),
        )


def plan_initial(plan: Any) -> dict[str, Any]:
    return {
        "name": plan.name,
        "kind": plan.kind,
        "period": plan.period,
        "area": plan.area_id,
        "place_kind": plan.place_kind,
        "visit_kind": plan.visit_kind,
        "target": plan.target,
        "officer": plan.officer_id,
        "starts_on": plan.starts_on,
        "ends_on": plan.ends_on,
        "active": plan.active,
    }


class PeriodForm(forms.Form):
    """The coverage page's filters: period, custom dates, area and the grid opened."""

    period = forms.ChoiceField(choices=periods.PERIOD_CHOICES, required=False)
    start = forms.DateField(required=False)
    end = forms.DateField(required=False)
    area = forms.IntegerField(required=False, min_value=1)
    grid = forms.IntegerField(required=False, min_value=1)

    def window(self, today: date) -> tuple[periods.Window, str, list[str]]:
        """The window chosen, the choice in force, and problems with what was asked."""
        problems: list[str] = []
        self.is_valid()
        data = self.cleaned_data
        if self.errors.get("period") or self.errors.get("start") or self.errors.get("end"):
            problems.append(_("统计周期或日期格式有误，已改为本季度。"))
        choice = data.get("period") or periods.DEFAULT_PERIOD
        start, end = data.get("start"), data.get("end")
        if choice == "custom":
            if start is None or end is None:
                problems.append(_("自定义周期请同时填写开始和结束日期，已改为本季度。"))
                choice = periods.DEFAULT_PERIOD
            elif end < start:
                problems.append(_("结束日期不能早于开始日期，已改为本季度。"))
                choice = periods.DEFAULT_PERIOD
            elif (end - start).days > periods.MAX_CUSTOM_DAYS:
                problems.append(_("自定义周期最长三年，已改为本季度。"))
                choice = periods.DEFAULT_PERIOD
        window = periods.window_for_choice(choice, today=today, start=start, end=end)
        return window, choice, problems
