"""登记诉求: the capture form a grid worker fills in on a phone, in a courtyard or a field.

The form checks what a person can correct (a missing title, a wrong phone number, a photo that is
not a photo) and says so per field in plain Chinese; the registration services check the rest
(rights, scope) and their errors are put back on the same fields (`add_service_errors`).
"""

from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_stubs_ext import StrOrPromise

from wenxu.accounts.models import User
from wenxu.accounts.selectors import user_roles
from wenxu.lib.phones import normalise_phone
from wenxu.needs import pickers, services, states
from wenxu.needs.action_forms import UnitChoiceField
from wenxu.needs.exceptions import InvalidInput
from wenxu.needs.models import Attachment, Category, Need
from wenxu.needs.services import RequesterInput
from wenxu.needs.services.attachments import DOCX, XLSX
from wenxu.organisations.models import Area, Unit
from wenxu.residents.models import Requester


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files under one name; cleaned to a list of prepared uploads by the form."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(**kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile]:
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data if item]
        return [single(data, initial)] if data else []


def _required(message: StrOrPromise) -> dict[str, Any]:
    return {"required": message}


class CaptureForm(forms.Form):
    # --- what
    title = forms.CharField(
        label=gettext_lazy("标题"),
        max_length=200,
        error_messages=_required(
            gettext_lazy("请填写标题：用一句话说清是什么事，如“东河村三组自来水经常停水”。")
        ),
    )
    description = forms.CharField(
        label=gettext_lazy("诉求内容"),
        widget=forms.Textarea(attrs={"rows": 5}),
        error_messages=_required(
            gettext_lazy("请填写诉求内容：群众反映的具体情况，尽量用群众自己的话。")
        ),
    )
    kind = forms.ChoiceField(
        label=gettext_lazy("诉求类型"),
        choices=states.Kind.choices,
        widget=forms.RadioSelect,
        error_messages={
            "required": gettext_lazy("请选择诉求类型（求助、咨询、投诉……）。"),
            "invalid_choice": gettext_lazy("诉求类型无效，请重新选择。"),
        },
    )
    category = forms.ModelChoiceField(
        label=gettext_lazy("分类"),
        queryset=Category.objects.filter(active=True),
        required=False,
        error_messages={
            "invalid_choice": gettext_lazy("该分类不存在或已停用，请重新选择。"),
        },
    )
    urgency = forms.ChoiceField(
        label=gettext_lazy("紧急程度"),
        choices=Need.Urgency.choices,
        initial=Need.Urgency.NORMAL,
        widget=forms.RadioSelect,
        error_messages=_required(gettext_lazy("请选择紧急程度。")),
    )
    nature_tags = forms.MultipleChoiceField(
        label=gettext_lazy("急难愁盼"),
        choices=states.NatureTag.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    # 批评/投诉/举报 about a unit: hidden from that unit's staff (services.disclosure).
    about_unit = UnitChoiceField(
        label=gettext_lazy("被批评/投诉单位"),
        queryset=Unit.objects.filter(active=True).order_by("path"),
        required=False,
        empty_label=gettext_lazy("（不涉及具体单位）"),
        help_text=gettext_lazy(
            "群众批评、投诉或举报某个单位及其工作人员时选择该单位：该单位及其上下级单位的人员"
            "看不到这条诉求，也不会交由它办理，除非调度员决定公开。"
        ),
        error_messages={"invalid_choice": gettext_lazy("该单位不存在或已停用，请重新选择。")},
    )
    source = forms.ChoiceField(
        label=gettext_lazy("来源"),
        choices=states.Source.choices,
        initial=states.Source.VISIT,
        error_messages=_required(gettext_lazy("请选择诉求来源。")),
    )
    # --- where
    area: forms.ModelChoiceField[Area] = forms.ModelChoiceField(
        label=gettext_lazy("所属区域"),
        queryset=Area.objects.none(),  # the user's registration scope, set in __init__
        error_messages={
            "required": gettext_lazy("请选择诉求所属的区域，最好选到网格。"),
            "invalid_choice": gettext_lazy("该区域不在您的登记范围内，请在列表中重新选择。"),
        },
    )
    address = forms.CharField(
        label=gettext_lazy("事发地点"),
        max_length=200,
        required=False,
        help_text=gettext_lazy(
            "事情发生的具体位置，如“东河村三组村口”。群众住址请填在下方“诉求人”里。"
        ),
    )
    latitude = forms.DecimalField(
        label=gettext_lazy("纬度"),
        max_digits=9,
        decimal_places=6,
        min_value=Decimal(-90),
        max_value=Decimal(90),
        required=False,
    )
    longitude = forms.DecimalField(
        label=gettext_lazy("经度"),
        max_digits=9,
        decimal_places=6,
        min_value=Decimal(-180),
        max_value=Decimal(180),
        required=False,
    )
    # --- who (optional; personal data, masked in every output)
    requester_name = forms.CharField(
        label=gettext_lazy("姓名或名称"), max_length=100, required=False
    )
    requester_phone = forms.CharField(label=gettext_lazy("联系电话"), max_length=30, required=False)
    requester_kind = forms.ChoiceField(
        label=gettext_lazy("诉求人类型"),
        choices=Requester.Kind.choices,
        initial=Requester.Kind.PERSON,
        widget=forms.RadioSelect,
        error_messages=_required(gettext_lazy("请选择诉求人类型。")),
    )
    requester_confidential = forms.BooleanField(
        label=gettext_lazy("要求保密"),
        required=False,
        help_text=gettext_lazy("保密的诉求人姓名和电话不向承办单位展示。"),
    )
    requester_address = forms.CharField(label=gettext_lazy("住址"), max_length=200, required=False)
    # --- attachments
    photos = MultipleFileField(label=gettext_lazy("照片"), required=False)
    documents = MultipleFileField(label=gettext_lazy("文件"), required=False)
    # --- 马上就办
    on_the_spot = forms.BooleanField(label=gettext_lazy("现场已解决"), required=False)
    reply_text = forms.CharField(
        label=gettext_lazy("办理情况"),
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text=gettext_lazy("现场做了什么、结果如何；可在上方附上照片作为佐证。"),
    )
    confirmed = forms.BooleanField(label=gettext_lazy("群众现场确认已解决"), required=False)
    satisfaction = forms.ChoiceField(
        label=gettext_lazy("群众满意度"),
        choices=states.Satisfaction.choices,
        widget=forms.RadioSelect,
        required=False,
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.can_solve_on_the_spot = states.OFFICER in user_roles(user)
        self.about_unit_kinds = " ".join(sorted(states.ABOUT_UNIT_KINDS))  # about_unit.js
        area_field = self.fields["area"]
        assert isinstance(area_field, forms.ModelChoiceField)
        area_field.queryset = pickers.registration_areas(user)
        self.uploads: list[services.PreparedUpload] = []
        for name, field in self.fields.items():
            widget = field.widget
            if isinstance(widget, forms.RadioSelect | forms.CheckboxSelectMultiple):
                widget.attrs.update({"class": "btn-check", "autocomplete": "off"})
                continue
            if isinstance(widget, forms.CheckboxInput):
                widget.attrs["class"] = "form-check-input"
                widget.attrs["role"] = "switch"
            elif isinstance(widget, forms.Select):
                widget.attrs["class"] = "form-select"
            else:
                widget.attrs["class"] = "form-control"
            if field.help_text:
                widget.attrs["aria-describedby"] = f"id_{name}_help"
        for name in ("latitude", "longitude"):
            self.fields[name].widget.attrs.update({"inputmode": "decimal", "readonly": True})
        self.fields["requester_phone"].widget.attrs.update(
            {"type": "tel", "inputmode": "tel", "autocomplete": "off"}
        )
        self.fields["requester_name"].widget.attrs["autocomplete"] = "off"
        self.fields["requester_address"].widget.attrs["autocomplete"] = "off"
        # capture.js shows the section a switch names while it is on.
        self.fields["on_the_spot"].widget.attrs["data-wx-reveals"] = "wx-spot"
        self.fields["confirmed"].widget.attrs["data-wx-reveals"] = "wx-satisfaction"
        self.fields["photos"].widget.attrs["accept"] = "image/jpeg,image/png,image/webp"
        self.fields["documents"].widget.attrs["accept"] = (
            f".pdf,.docx,.xlsx,application/pdf,{DOCX},{XLSX}"
        )

    def add_error(self, field: str | None, error: Any) -> None:
        super().add_error(field, error)
        # Mark every field with an error for the eye (red border) and for screen readers.
        for name in self.errors:
            if name in self.fields:
                attrs = self.fields[name].widget.attrs
                if "is-invalid" not in attrs.get("class", ""):
                    attrs["class"] = (attrs.get("class", "") + " is-invalid").strip()
                attrs["aria-invalid"] = "true"

    # --- fields

    def clean_requester_phone(self) -> str:
        return normalise_phone(self.cleaned_data.get("requester_phone", ""))

    def _file_count(self) -> int:
        if not self.files:
            return 0
        return sum(
            len([f for f in self.files.getlist(name) if f]) for name in ("photos", "documents")
        )

    def _too_many(self) -> ValidationError:
        return ValidationError(
            _("每项诉求最多 %(max)d 个附件（照片和文件合计），这次选了 %(count)d 个。")
            % {"max": services.MAX_ATTACHMENTS, "count": self._file_count()},
            code="too_many",
        )

    def _prepare(self, name: str, kind: str) -> list[services.PreparedUpload]:
        prepared: list[services.PreparedUpload] = []
        problems: list[str] = []
        for upload in self.cleaned_data.get(name) or []:
            try:
                prepared.append(services.prepare_upload(upload, kind=kind))
            except InvalidInput as exc:
                problems.extend(message for messages in exc.errors.values() for message in messages)
        if problems:
            raise ValidationError(problems)
        return prepared

    def clean_photos(self) -> list[services.PreparedUpload]:
        if self._file_count() > services.MAX_ATTACHMENTS:
            if self.files.getlist("photos"):
                raise self._too_many()
            return []
        return self._prepare("photos", Attachment.Kind.PHOTO)

    def clean_documents(self) -> list[services.PreparedUpload]:
        if self._file_count() > services.MAX_ATTACHMENTS:
            if not self.files.getlist("photos"):
                raise self._too_many()
            return []  # said once, on the photos
        return self._prepare("documents", Attachment.Kind.DOCUMENT)

    # --- the whole

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        has_person = bool(data.get("requester_name", "").strip() or data.get("requester_phone"))
        if (
            data.get("requester_address", "").strip()
            and not has_person
            and "requester_phone" not in self.errors
        ):
            self.add_error(
                "requester_name",
                _("填写了诉求人住址，请同时填写姓名或联系电话；不登记诉求人时请清空住址。"),
            )
        if data.get("about_unit") is not None and data.get("kind") not in states.ABOUT_UNIT_KINDS:
            self.add_error(
                "about_unit",
                _("只有批评、投诉、举报类诉求填写被批评/投诉单位；请改选诉求类型或清空此项。"),
            )
        if (data.get("latitude") is None) != (data.get("longitude") is None):
            self.add_error("latitude", _("经纬度要同时填写；请重新点“获取当前位置”或清空。"))
        if data.get("on_the_spot"):
            if not self.can_solve_on_the_spot:
                self.add_error("on_the_spot", _("只有走访干部或网格员可以现场办结。"))
            if not data.get("reply_text", "").strip():
                self.add_error("reply_text", _("请填写现场办理情况：做了什么、结果如何。"))
            if data.get("confirmed") and not data.get("satisfaction"):
                self.add_error("satisfaction", _("群众现场确认时请选择满意度。"))
        self.uploads = [*data.get("photos", []), *data.get("documents", [])]
        return data

    # --- for the services

    def requester_input(self) -> RequesterInput | None:
        data = self.cleaned_data
        if not (data["requester_name"].strip() or data["requester_phone"]):
            return None
        return RequesterInput(
            name=data["requester_name"],
            phone=data["requester_phone"],
            kind=data["requester_kind"],
            confidential=data["requester_confidential"],
            address=data["requester_address"],
        )

    def need_values(self) -> dict[str, Any]:
        """The keyword arguments both registration services take."""
        data = self.cleaned_data
        return {
            "title": data["title"],
            "description": data["description"],
            "kind": data["kind"],
            "source": data["source"],
            "area": data["area"],
            "category": data["category"],
            "urgency": data["urgency"],
            "nature_tags": data["nature_tags"],
            "address": data["address"].strip(),
            "latitude": data["latitude"],
            "longitude": data["longitude"],
            "requester": self.requester_input(),
            "about_unit": data.get("about_unit"),
        }

    def on_the_spot_values(self) -> dict[str, Any]:
        data = self.cleaned_data
        confirmed = bool(data["confirmed"])
        return {
            "reply_text": data["reply_text"],
            "confirmed": confirmed,
            "satisfaction": data["satisfaction"] if confirmed else "",
        }

    def error_fields(self) -> list[tuple[str, str]]:
        """(element id, label) of each field with an error, for the summary's jump links."""
        return [
            (self[name].id_for_label or f"id_{name}", str(self[name].label))
            for name in self.errors
            if name in self.fields
        ]

    # The services name a few things differently from the form's fields.
    _SERVICE_FIELDS = {"requester": "requester_name", "handling": "on_the_spot"}

    def add_service_errors(self, exc: InvalidInput) -> None:
        for name, messages in exc.errors.items():
            field = self._SERVICE_FIELDS.get(name, name)
            for message in messages:
                self.add_error(field if field in self.fields else None, message)
