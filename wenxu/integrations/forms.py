"""Forms of the 接口密钥 page: issue a client key, change its scope."""

from datetime import date, datetime, time
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from wenxu.accounts.models import User
from wenxu.integrations import selectors
from wenxu.integrations.models import ApiClient, ClientAction
from wenxu.lib import clock
from wenxu.needs.states import Source
from wenxu.organisations.models import Area

RATE_LIMIT_MAX = 100_000


class AreaChoiceField(forms.ModelMultipleChoiceField):  # type: ignore[type-arg]
    def label_from_instance(self, obj: Any) -> str:
        assert isinstance(obj, Area)
        return "\u3000" * obj.depth + obj.name


class ClientScopeForm(forms.Form):
    """What a key may do: shared by creation and editing."""

    areas = AreaChoiceField(
        label=_("区域范围"),
        queryset=Area.objects.none(),
        required=False,
        help_text=_("只能查询和提交这些区域（含下级）的诉求。可多选（按住 Ctrl 或 ⌘）。"),
        error_messages={
            "invalid_choice": _("所选区域不在您的管理范围内，请重新选择。"),
            "invalid_pk_value": _("所选区域不在您的管理范围内，请重新选择。"),
        },
    )
    actions = forms.MultipleChoiceField(
        label=_("允许的操作"),
        choices=ClientAction.choices,
        widget=forms.CheckboxSelectMultiple,
        error_messages={
            "required": _("请至少选择一项允许的操作。"),
            "invalid_choice": _("未知的操作：%(value)s。"),
        },
    )
    rate_limit = forms.IntegerField(
        label=_("每分钟请求上限"),
        min_value=1,
        max_value=RATE_LIMIT_MAX,
        initial=120,
        help_text=_("超过后接口返回 429，下一分钟恢复。"),
        error_messages={
            "required": _("请填写每分钟请求上限。"),
            "invalid": _("每分钟请求上限须是整数。"),
            "min_value": _("每分钟请求上限至少为 1。"),
            "max_value": _("每分钟请求上限不能超过 %(limit_value)s。"),
        },
    )
    note = forms.CharField(
        label=_("备注"),
        max_length=200,
        required=False,
        error_messages={"max_length": _("备注不能超过 200 个字。")},
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.all_areas_allowed = selectors.covers_all_areas(user)
        field = self.fields["areas"]
        assert isinstance(field, AreaChoiceField)
        field.queryset = selectors.area_choices(user)
        if not self.all_areas_allowed:
            field.help_text = _("只能查询和提交这些区域（含下级）的诉求；至少选择一个。")

    def clean_areas(self) -> list[Area]:
        areas = list(self.cleaned_data.get("areas") or [])
        if not areas and not self.all_areas_allowed:
            raise forms.ValidationError(
                _("您只能管理部分区域，请至少选择一个区域（不选表示全部区域）。")
            )
        return areas


class ClientCreateForm(ClientScopeForm):
    name = forms.CharField(
        label=_("名称"),
        max_length=100,
        help_text=_("对接的系统，例如“12345 热线平台”。名称不能重复。"),
        error_messages={
            "required": _("请填写名称，例如对接的系统。"),
            "max_length": _("名称不能超过 100 个字。"),
        },
    )
    source = forms.ChoiceField(
        label=_("诉求来源"),
        choices=Source.choices,
        initial=Source.ONLINE,
        help_text=_("经此密钥提交的诉求记为此来源。"),
        error_messages={"invalid_choice": _("未知的诉求来源：%(value)s。")},
    )
    expires_on = forms.DateField(
        label=_("有效期至"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("不填则长期有效，可随时吊销。"),
        error_messages={"invalid": _("日期格式不正确，请按“年-月-日”填写，例如 2027-01-31。")},
    )

    field_order = ("name", "areas", "actions", "source", "rate_limit", "expires_on", "note")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["actions"].initial = [ClientAction.READ, ClientAction.CREATE]

    def clean_name(self) -> str:
        name = str(self.cleaned_data["name"]).strip()
        if not name:
            raise forms.ValidationError(_("请填写名称，例如对接的系统。"))
        if ApiClient.objects.filter(name=name).exists():
            raise forms.ValidationError(_("已有同名的接口密钥，请换一个名称。"))
        return name

    def clean_expires_on(self) -> date | None:
        value: date | None = self.cleaned_data.get("expires_on")
        if value is not None and value <= clock.today():
            raise forms.ValidationError(_("有效期须晚于今天。"))
        return value

    def expires_at(self) -> datetime | None:
        value: date | None = self.cleaned_data.get("expires_on")
        if value is None:
            return None
        # The key works through the whole chosen day, in the site's time zone.
        return timezone.make_aware(datetime.combine(value, time.max))


class ClientEditForm(ClientScopeForm):
    pass
