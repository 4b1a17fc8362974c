"""The small forms on a need's page, one per lifecycle action (DESIGN §3).

They only turn what was typed into typed values (numbers, dates, units): every rule, including
what is required, stays in the services, whose field errors (`InvalidInput.errors`, keyed by the
same names as these fields) are shown next to the fields. `version` carries the need's version
as the page showed it, so a stale form is refused by the service, never silently applied.
"""

from collections.abc import Hashable
from typing import Any

from django import forms
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from wenxu.needs import deadlines, states
from wenxu.needs.models import Category, Need
from wenxu.organisations.models import Unit

TEXTAREA = {"rows": 3, "class": "form-control"}


class UnitChoiceField(forms.ModelChoiceField[Unit]):
    def label_from_instance(self, obj: Unit) -> str:
        return "\u3000" * obj.depth + obj.name


class UnitMultipleChoiceField(forms.ModelMultipleChoiceField[Unit]):
    def label_from_instance(self, obj: Unit) -> str:
        return "\u3000" * obj.depth + obj.name


def _units() -> Any:
    return Unit.objects.filter(active=True).order_by("path")


class ActionForm(forms.Form):
    """Base: the hidden version; `need` gives the form what it shows by default."""

    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args: Any, need: Need, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.need = need
        if not self.is_bound:
            self.initial.setdefault("version", need.version)

    def service_kwargs(self) -> dict[str, Any]:
        """The service's keyword arguments (besides actor, need and version)."""
        return {name: self.cleaned_data.get(name) for name in self.fields if name != "version"}

    @classmethod
    def kept_key(cls, need: Need) -> Hashable | None:
        """What the unbound form and its template show of `need` besides its number and
        version, for the need page to keep its rendered panel (views/detail.py); None, the
        default, where they show more: such panels are rendered each time."""
        return None


class _ShowsNothingOfTheNeed(ActionForm):
    """A form whose panel shows nothing of the need but its number and version."""

    @classmethod
    def kept_key(cls, need: Need) -> Hashable | None:
        return ()


def _text(label: Any, **attrs: Any) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,
        strip=True,
        max_length=4000,
        widget=forms.Textarea(attrs={**TEXTAREA, **attrs}),
    )


class CategoryChoiceField(forms.ModelChoiceField[Category]):
    def label_from_instance(self, obj: Category) -> str:
        return "\u3000" * obj.depth + obj.name


class AssignForm(ActionForm):
    category = CategoryChoiceField(
        queryset=Category.objects.none(),
        label=_("诉求分类"),
        required=False,
        empty_label=_("（不变）"),
        widget=forms.Select(attrs={"class": "form-select"}),
        help_text=_("分类不对时在此改正；办理时限按改正后的分类计算。"),
    )
    lead_unit = UnitChoiceField(
        queryset=Unit.objects.none(),
        label=_("主办单位"),
        required=False,
        empty_label=_("请选择主办单位"),
        widget=forms.Select(attrs={"class": "form-select"}),
    )
    co_units = UnitMultipleChoiceField(
        queryset=Unit.objects.none(),
        label=_("协办单位（可多选，可不选）"),
        required=False,
        widget=forms.CheckboxSelectMultiple(attrs={"class": "form-check-input"}),
    )

    def __init__(self, *args: Any, need: Need, **kwargs: Any) -> None:
        super().__init__(*args, need=need, **kwargs)
        units = _units()
        lead: Any = self.fields["lead_unit"]
        co: Any = self.fields["co_units"]
        lead.queryset = units
        co.queryset = units
        category: Any = self.fields["category"]
        current = Q(pk=need.category_id) if need.category_id else Q(pk__in=[])
        category.queryset = Category.objects.filter(Q(active=True) | current).order_by("path")
        if not self.is_bound:
            self.initial.setdefault("category", need.category_id)
        if not self.is_bound and need.category is not None and need.category.default_unit_id:
            self.initial.setdefault("lead_unit", need.category.default_unit_id)

    def service_kwargs(self) -> dict[str, Any]:
        return {
            "lead_unit": self.cleaned_data.get("lead_unit"),
            "co_units": list(self.cleaned_data.get("co_units") or []),
            "category": self.cleaned_data.get("category"),
        }


class AcceptForm(_ShowsNothingOfTheNeed):
    pass


class ReturnForm(_ShowsNothingOfTheNeed):
    reason = _text(_("退回理由"), placeholder=_("例如：不属于本单位职责，建议交县交通局"))


class ProgressForm(_ShowsNothingOfTheNeed):
    note = _text(_("进展情况"), placeholder=_("已做了什么，下一步做什么"))


class RequestExtensionForm(ActionForm):
    days = forms.IntegerField(
        label=_("延期天数（工作日）"),
        required=False,
        min_value=1,
        max_value=366,
        widget=forms.NumberInput(attrs={"class": "form-control", "min": 1, "inputmode": "numeric"}),
    )
    reason = _text(_("延期理由"))

    def __init__(self, *args: Any, need: Need, **kwargs: Any) -> None:
        super().__init__(*args, need=need, **kwargs)
        rule = deadlines.rule_for_need(need)
        self.max_days = rule.max_extension_days
        self.fields["days"].widget.attrs["max"] = rule.max_extension_days
        self.fields["days"].help_text = _("最多 %(max)d 个工作日。") % {
            "max": rule.max_extension_days
        }

    @classmethod
    def kept_key(cls, need: Need) -> Hashable | None:
        return (deadlines.rule_for_need(need).max_extension_days,)

    def service_kwargs(self) -> dict[str, Any]:
        days = self.cleaned_data.get("days")
        return {"days": days if days is not None else 0, "reason": self.cleaned_data.get("reason")}


class ApproveExtensionForm(ActionForm):
    note = _text(_("审批意见（可不填）"), rows=2)


class DenyExtensionForm(ActionForm):
    reason = _text(_("驳回理由"), rows=2)


class ReplyForm(_ShowsNothingOfTheNeed):
    outcome = forms.ChoiceField(
        label=_("办理结果"),
        required=False,
        choices=states.Outcome.choices,
        widget=forms.RadioSelect,
    )
    reply_text = _text(
        _("答复内容"), rows=4, placeholder=_("向群众说明办理情况：做了什么、结果如何")
    )
    followup_date = forms.DateField(
        label=_("下次跟进日期"),
        required=False,
        help_text=_("选择“创造条件推动”时必填：承诺下次向群众反馈进展的日期。"),
        widget=forms.DateInput(attrs={"type": "date", "class": "form-control"}, format="%Y-%m-%d"),
    )

    def service_kwargs(self) -> dict[str, Any]:
        return {
            "outcome": self.cleaned_data.get("outcome") or "",
            "reply_text": self.cleaned_data.get("reply_text") or "",
            "followup_date": self.cleaned_data.get("followup_date"),
        }


def _choices_with_blank(blank: Any, choices: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    return [("", blank), *choices]


class CallbackForm(_ShowsNothingOfTheNeed):
    channel = forms.ChoiceField(
        label=_("回访方式"),
        required=False,
        choices=_choices_with_blank(_("请选择回访方式"), states.CallbackChannel.choices),
        widget=forms.Select(attrs={"class": "form-select"}),
    )
    resolved = forms.ChoiceField(
        label=_("是否解决"),
        required=False,
        choices=_choices_with_blank(_("请选择（无法联系时留空）"), states.CallbackResolved.choices),
        widget=forms.Select(attrs={"class": "form-select"}),
    )
    satisfaction = forms.ChoiceField(
        label=_("满意度"),
        required=False,
        choices=_choices_with_blank(_("请选择（无法联系时留空）"), states.Satisfaction.choices),
        widget=forms.Select(attrs={"class": "form-select"}),
    )
    comment = _text(_("群众意见（可不填）"), rows=2)

    def service_kwargs(self) -> dict[str, Any]:
        return {
            "channel": self.cleaned_data.get("channel") or "",
            "resolved": self.cleaned_data.get("resolved") or "",
            "satisfaction": self.cleaned_data.get("satisfaction") or "",
            "comment": self.cleaned_data.get("comment") or "",
        }


class FulfilForm(_ShowsNothingOfTheNeed):
    note = _text(_("兑现情况"), placeholder=_("承诺的条件已具备，已再次告知群众"))


class ConfirmObservedForm(_ShowsNothingOfTheNeed):
    """群众确认: the resident has said the need the official observed (望闻问切) is theirs."""

    note = _text(
        _("确认情况（可不填）"),
        rows=2,
        placeholder=_("例如：再次入户时，群众确认确有此需求"),
    )


class ReopenForm(ActionForm):
    reason = _text(_("重办理由"))
    lead_unit = UnitChoiceField(
        queryset=Unit.objects.none(),
        label=_("主办单位"),
        required=False,
        widget=forms.Select(attrs={"class": "form-select"}),
    )

    def __init__(self, *args: Any, need: Need, **kwargs: Any) -> None:
        super().__init__(*args, need=need, **kwargs)
        field: Any = self.fields["lead_unit"]
        field.queryset = _units()
        if need.lead_unit is not None:
            field.empty_label = _("不变（%(unit)s）") % {"unit": need.lead_unit}
        else:
            field.empty_label = _("请选择主办单位")


class SuperviseForm(_ShowsNothingOfTheNeed):
    note = _text(_("督办意见"), rows=2)


class RemindForm(_ShowsNothingOfTheNeed):
    note = _text(_("催办内容（可不填）"), rows=2, placeholder=_("请抓紧办理。"))


class MergeForm(ActionForm):
    into = forms.CharField(
        label=_("并入的诉求"),
        required=False,
        max_length=100,
        widget=forms.TextInput(
            attrs={
                "class": "form-control",
                "autocomplete": "off",
                "placeholder": _("输入编号或关键词搜索"),
            }
        ),
    )


class WithdrawForm(_ShowsNothingOfTheNeed):
    reason = _text(_("撤销理由"), rows=2)


FORMS: dict[str, type[ActionForm]] = {
    states.Action.ASSIGN: AssignForm,
    states.Action.ACCEPT: AcceptForm,
    states.Action.RETURN: ReturnForm,
    states.Action.PROGRESS: ProgressForm,
    states.Action.REQUEST_EXTENSION: RequestExtensionForm,
    states.Action.APPROVE_EXTENSION: ApproveExtensionForm,
    states.Action.DENY_EXTENSION: DenyExtensionForm,
    states.Action.REPLY: ReplyForm,
    states.Action.CALLBACK: CallbackForm,
    states.Action.FULFIL: FulfilForm,
    states.Action.CONFIRM_OBSERVED: ConfirmObservedForm,
    states.Action.REOPEN: ReopenForm,
    states.Action.SUPERVISE: SuperviseForm,
    states.Action.REMIND: RemindForm,
    states.Action.MERGE: MergeForm,
    states.Action.WITHDRAW: WithdrawForm,
}
