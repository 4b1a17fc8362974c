"""The forms of the topic pages; choices come from the viewer's scope (topics.selectors)."""

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from wenxu.needs.models import Category
from wenxu.organisations.models import Area, Unit
from wenxu.topics import selectors
from wenxu.topics.models import MeasureStatus, TopicStatus

_TEXT = {"class": "form-control"}
_SELECT = {"class": "form-select"}


def _model_choice(
    model: type[Area] | type[Category] | type[Unit],
    choices: list[tuple[int, str]],
    *,
    label: Any,
    required: bool,
    empty: Any,
) -> forms.TypedChoiceField:
    options: list[tuple[Any, str]] = [("", str(empty))] + [(pk, text) for pk, text in choices]
    return forms.TypedChoiceField(
        label=label,
        choices=options,
        coerce=int,
        required=required,
        empty_value=None,
        widget=forms.Select(attrs=_SELECT),
    )


class TopicForm(forms.Form):
    def full_clean(self) -> None:
        super().full_clean()
        self.mark_invalid()

    def mark_invalid(self) -> None:
        """Bootstrap's red outline on the fields with errors."""
        for name in self.errors if self.is_bound else ():
            if name in self.fields:
                widget = self.fields[name].widget
                widget.attrs["class"] = (widget.attrs.get("class", "") + " is-invalid").strip()

    title = forms.CharField(
        label=_("专题名称"), max_length=200, widget=forms.TextInput(attrs=_TEXT)
    )
    summary = forms.CharField(
        label=_("问题概述"),
        required=False,
        widget=forms.Textarea(attrs={**_TEXT, "rows": 3}),
    )
    root_cause = forms.CharField(
        label=_("根源分析"),
        required=False,
        widget=forms.Textarea(attrs={**_TEXT, "rows": 3}),
        help_text=_("这些诉求反复出现的深层原因：制度、设施、管理或政策上的短板。"),
    )
    measures_from = forms.DateField(
        label=_("治理措施起始日期"),
        required=False,
        widget=forms.DateInput(attrs={**_TEXT, "type": "date"}, format="%Y-%m-%d"),
        help_text=_("成效对比以此日期为界；留空时取第一项措施的创建日期。"),
    )
    version = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["area"] = _model_choice(
            Area,
            selectors.area_choices(user),
            label=_("涉及区域"),
            required=True,
            empty=_("请选择"),
        )
        self.fields["category"] = _model_choice(
            Category,
            selectors.category_choices(),
            label=_("诉求类别"),
            required=False,
            empty=_("全部类别"),
        )
        self.fields["owner_unit"] = _model_choice(
            Unit, selectors.unit_choices(), label=_("牵头单位"), required=False, empty=_("未指定")
        )
        self.order_fields(
            [
                "title",
                "area",
                "category",
                "owner_unit",
                "summary",
                "root_cause",
                "measures_from",
                "version",
            ]
        )

    def service_kwargs(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "title": data["title"],
            "summary": data.get("summary") or "",
            "root_cause": data.get("root_cause") or "",
            "area": Area.objects.filter(pk=data["area"]).first() if data.get("area") else None,
            "category": (
                Category.objects.filter(pk=data["category"]).first()
                if data.get("category")
                else None
            ),
            "owner_unit": (
                Unit.objects.filter(pk=data["owner_unit"]).first()
                if data.get("owner_unit")
                else None
            ),
            "measures_from": data.get("measures_from"),
        }


class StatusForm(forms.Form):
    status = forms.ChoiceField(
        label=_("专题状态"),
        choices=TopicStatus.choices,
        widget=forms.Select(attrs={**_SELECT, "class": "form-select form-select-sm"}),
    )
    version = forms.IntegerField(widget=forms.HiddenInput)


class VersionForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput)


class MeasureForm(forms.Form):
    title = forms.CharField(label=_("措施"), max_length=200, widget=forms.TextInput(attrs=_TEXT))
    due_date = forms.DateField(
        label=_("完成时限"), widget=forms.DateInput(attrs={**_TEXT, "type": "date"})
    )
    description = forms.CharField(
        label=_("具体内容"), required=False, widget=forms.Textarea(attrs={**_TEXT, "rows": 2})
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["owner_unit"] = _model_choice(
            Unit, selectors.unit_choices(), label=_("责任单位"), required=True, empty=_("请选择")
        )
        self.order_fields(["title", "owner_unit", "due_date", "description"])


class MeasureStatusForm(forms.Form):
    """The new status, and the status the user saw (`seen`): a measure changed since is not
    overwritten."""

    status = forms.ChoiceField(choices=MeasureStatus.choices)
    seen = forms.ChoiceField(choices=MeasureStatus.choices)


class MilestoneForm(forms.Form):
    title = forms.CharField(label=_("节点"), max_length=200, widget=forms.TextInput(attrs=_TEXT))
    progress = forms.IntegerField(
        label=_("完成进度（%）"),
        min_value=0,
        max_value=100,
        widget=forms.NumberInput(attrs={**_TEXT, "inputmode": "numeric"}),
    )
    due_date = forms.DateField(
        label=_("计划日期"),
        required=False,
        widget=forms.DateInput(attrs={**_TEXT, "type": "date"}),
    )


class MilestoneCompleteForm(forms.Form):
    note = forms.CharField(
        label=_("进展说明"), required=False, max_length=1000, widget=forms.TextInput(attrs=_TEXT)
    )


class LinkForm(forms.Form):
    """One or more ledger numbers, separated by spaces, commas or new lines."""

    numbers = forms.CharField(
        label=_("诉求编号"),
        max_length=5000,
        widget=forms.TextInput(attrs={**_TEXT, "placeholder": "WX-2026-000123"}),
    )

    def clean_numbers(self) -> list[str]:
        raw: str = self.cleaned_data["numbers"]
        parts = [p.strip() for p in raw.replace("，", ",").replace(",", " ").split()]
        return [p for p in dict.fromkeys(parts) if p][:200]
