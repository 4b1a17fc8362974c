"""Forms of the place pages: the list's filters, hand entry, and the import upload.

The contact person and phone are personal data: the edit form never puts the stored values in
the page. It shows them masked; a blank field keeps what is stored, a new value replaces it, and
a tick clears it.
"""

from datetime import datetime
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from wenxu.accounts.models import User
from wenxu.lib.phones import normalise_phone
from wenxu.needs.exceptions import InvalidInput
from wenxu.organisations.models import Area
from wenxu.visits import places
from wenxu.visits.models import Place, PlaceKind
from wenxu.visits.selectors import areas_for_user


def area_label(area: Area, top_depth: int) -> str:
    return "\u3000" * max(area.depth - top_depth, 0) + area.name


def area_choices(areas: list[Area]) -> list[tuple[str, str]]:
    top = min((area.depth for area in areas), default=0)
    return [(str(area.pk), area_label(area, top)) for area in areas]


class PlaceFilterForm(forms.Form):
    ACTIVE_CHOICES = (
        ("1", gettext_lazy("在册")),
        ("0", gettext_lazy("已注销")),
        ("all", gettext_lazy("全部")),
    )

    q = forms.CharField(label=gettext_lazy("名称或地址"), max_length=100, required=False)
    area = forms.ChoiceField(label=gettext_lazy("区域（含下级）"), required=False)
    kind = forms.ChoiceField(
        label=gettext_lazy("类型"),
        required=False,
        choices=[("", gettext_lazy("全部类型")), *PlaceKind.choices],
    )
    active = forms.ChoiceField(label=gettext_lazy("状态"), required=False, choices=ACTIVE_CHOICES)

    def __init__(self, data: Any, *, user: User) -> None:
        super().__init__(data)
        self.areas = {
            area.pk: area for area in areas_for_user(user=user).only("name", "depth", "path")
        }
        choices: list[tuple[str, str]] = [("", _("全部区域"))]
        choices += area_choices(list(self.areas.values()))
        self.fields["area"].choices = choices  # type: ignore[attr-defined]

    def filters(self) -> places.PlaceFilters:
        data = self.cleaned_data if self.is_valid() else {}
        area_id = data.get("area") or ""
        active = data.get("active") or "1"
        return places.PlaceFilters(
            area=self.areas.get(int(area_id)) if area_id.isdigit() else None,
            kind=data.get("kind") or "",
            active=None if active == "all" else active == "1",
            q=(data.get("q") or "").strip(),
        )


class PlaceForm(forms.Form):
    area = forms.ChoiceField(label=gettext_lazy("所属网格"))
    kind = forms.ChoiceField(label=gettext_lazy("类型"), choices=PlaceKind.choices)
    name = forms.CharField(
        label=gettext_lazy("名称/门牌"),
        max_length=100,
        help_text=gettext_lazy(
            "住户填门牌（如 3栋2单元401），企业和公共场所填名称。同一网格内不能重名。"
        ),
    )
    address = forms.CharField(label=gettext_lazy("地址"), max_length=200, required=False)
    contact_name = forms.CharField(
        label=gettext_lazy("户主/负责人"), max_length=100, required=False
    )
    contact_phone = forms.CharField(label=gettext_lazy("联系电话"), max_length=30, required=False)
    clear_contact = forms.BooleanField(
        label=gettext_lazy("清除已登记的户主/负责人和联系电话"), required=False
    )
    members = forms.IntegerField(
        label=gettext_lazy("人数"), min_value=0, max_value=999_999, required=False
    )
    note = forms.CharField(label=gettext_lazy("备注"), max_length=200, required=False)
    active = forms.BooleanField(
        label=gettext_lazy("在册"),
        required=False,
        initial=True,
        help_text=gettext_lazy("搬离、注销或关停后关闭：记录保留，不再计入走访覆盖。"),
    )
    updated = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args: Any, user: User, place: Place | None = None, **kwargs: Any) -> None:
        if place is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "area": str(place.area_id),
                "kind": place.kind,
                "name": place.name,
                "address": place.address,
                "members": place.members,
                "note": place.note,
                "active": place.active,
                "updated": place.updated_at.isoformat(),
            }
        super().__init__(*args, **kwargs)
        self.user = user
        self.place = place
        areas = list(places.editable_areas(user=user).only("name", "depth", "path"))
        if place is not None and place.area not in areas:
            areas.insert(0, place.area)
        self.areas = {area.pk: area for area in areas}
        self.fields["area"].choices = [("", _("请选择")), *area_choices(areas)]  # type: ignore[attr-defined]
        for name, field in self.fields.items():
            widget = field.widget
            if isinstance(widget, forms.CheckboxInput):
                widget.attrs.update({"class": "form-check-input", "role": "switch"})
            elif isinstance(widget, forms.Select):
                widget.attrs["class"] = "form-select"
            elif not isinstance(widget, forms.HiddenInput):
                widget.attrs["class"] = "form-control"
            if field.help_text:
                widget.attrs["aria-describedby"] = f"id_{name}_help"
        self.fields["contact_phone"].widget.attrs.update(
            {"type": "tel", "inputmode": "tel", "autocomplete": "off"}
        )
        self.fields["contact_name"].widget.attrs["autocomplete"] = "off"
        self.fields["members"].widget.attrs["inputmode"] = "numeric"
        if place is None:
            del self.fields["clear_contact"]
        else:
            # The stored values stay on the server: the page shows them masked.
            for name, masked in (
                ("contact_name", place.masked_contact_name()),
                ("contact_phone", place.masked_contact_phone()),
            ):
                if masked:
                    self.fields[name].help_text = _("现为 %(masked)s；不修改请留空。") % {
                        "masked": masked
                    }
                    self.fields[name].widget.attrs["placeholder"] = masked

    def clean_area(self) -> Area:
        value = self.cleaned_data["area"]
        area = self.areas.get(int(value)) if str(value).isdigit() else None
        if area is None:
            raise ValidationError(_("请选择所属网格。"))
        return area

    def clean_contact_phone(self) -> str:
        return normalise_phone(self.cleaned_data.get("contact_phone", ""))

    def clean_updated(self) -> datetime | None:
        value = self.cleaned_data.get("updated") or ""
        return parse_datetime(value) if value else None

    def values(self) -> places.PlaceValues:
        data = self.cleaned_data
        contact_name = data["contact_name"].strip()
        contact_phone = data["contact_phone"]
        if self.place is not None:
            if data.get("clear_contact"):
                contact_name = contact_phone = ""
            else:
                contact_name = contact_name or self.place.contact_name
                contact_phone = contact_phone or self.place.contact_phone
        return places.PlaceValues(
            area=data["area"],
            kind=data["kind"],
            name=data["name"].strip(),
            address=data["address"],
            contact_name=contact_name,
            contact_phone=contact_phone,
            members=data["members"],
            note=data["note"],
            active=data["active"],
        )

    def add_error(self, field: str | None, error: Any) -> None:
        super().add_error(field, error)
        for name in self.errors:
            if name in self.fields:
                attrs = self.fields[name].widget.attrs
                if "is-invalid" not in attrs.get("class", ""):
                    attrs["class"] = (attrs.get("class", "") + " is-invalid").strip()
                attrs["aria-invalid"] = "true"

    def add_service_errors(self, error: InvalidInput) -> None:
        for name, messages in error.errors.items():
            field = name if name in self.fields else None
            for message in messages:
                self.add_error(field, message)


class PlaceImportForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("Excel 文件"),
        help_text=gettext_lazy("按模板填写的 .xlsx 文件（也可以是 CSV），最多 5 MB、20000 行。"),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["file"].widget.attrs["class"] = "form-control"
        self.fields["file"].widget.attrs["accept"] = (
            ".xlsx,.csv,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet,text/csv"
        )
