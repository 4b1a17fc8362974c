"""Forms of the account pages: a personal API token on 我的令牌, a two-factor code, a new
password."""

from typing import Any

from django import forms
from django.contrib.auth.forms import PasswordChangeForm
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


class OtpForm(forms.Form):
    """One code from an authenticator app (TOTP, 6 digits)."""

    code = forms.CharField(
        label=_("动态口令"),
        max_length=12,
        help_text=_("打开手机上的身份验证器应用，输入“问需”当前显示的 6 位数字。"),
        error_messages={"required": _("请输入 6 位动态口令。")},
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["code"].widget.attrs.update(
            {
                "class": "form-control form-control-lg font-monospace",
                "autocomplete": "one-time-code",
                "inputmode": "numeric",
                "pattern": "[0-9 ]*",
                "autofocus": True,
            }
        )

    def clean_code(self) -> str:
        code = "".join(str(self.cleaned_data["code"]).split())
        if not code.isdigit() or len(code) != 6:
            raise forms.ValidationError(_("动态口令是 6 位数字，请检查后重新输入。"))
        return code


class PasswordForm(PasswordChangeForm):
    """Django's change form (old password, new twice; the policy runs on the new one)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            field.widget.attrs["class"] = "form-control"
            field.help_text = ""
            if name == "old_password":
                field.widget.attrs["autocomplete"] = "current-password"
            else:
                field.widget.attrs["autocomplete"] = "new-password"
