"""Forms of the account pages: issuing a personal API token on 我的令牌."""

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from wenxu.accounts.services import api_token_day_choices


class TokenForm(forms.Form):
    name = forms.CharField(
        label=_("名称"),
        max_length=100,
        help_text=_("写明用途，例如“12345 热线对接”或“数据分析脚本”。"),
        error_messages={
            "required": _("请填写令牌名称，例如用途或所在系统。"),
            "max_length": _("令牌名称不能超过 100 个字。"),
        },
    )
    days = forms.TypedChoiceField(
        label=_("有效期"),
        coerce=int,
        error_messages={
            "required": _("请选择有效期。"),
            "invalid_choice": _("请选择有效期。"),
        },
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = api_token_day_choices()
        field = self.fields["days"]
        assert isinstance(field, forms.TypedChoiceField)
        field.choices = [
            (d, ngettext("%(days)d 天", "%(days)d 天", d) % {"days": d}) for d in choices
        ]
        field.initial = 30 if 30 in choices else choices[-1]
        self.fields["name"].widget.attrs.update({"autocomplete": "off", "class": "form-control"})
        field.widget.attrs.update({"class": "form-select"})
