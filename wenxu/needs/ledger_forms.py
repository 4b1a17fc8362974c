"""The ledger page's filter form and the option lists its pickers and bulk assign offer.

The form reads the query string; a value it cannot use (a bad date, an unknown status) becomes
a message in the user's language and the condition is left out, so the page never fails on a
hand-edited or outdated link. Reference data (areas, units, categories) names the county's
organisation, not residents: every signed-in user may read it (see `wenxu.api.refs`).
"""

from dataclasses import dataclass
from datetime import date
from typing import Any

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from wenxu.accounts.models import User
from wenxu.accounts.selectors import scopes_for_user
from wenxu.core import generation
from wenxu.needs import selectors, states
from wenxu.needs.models import Category, Urgency
from wenxu.organisations.models import Area, Unit

TRUE_VALUES = frozenset({"true", "1", "on", "yes"})
FALSE_VALUES = frozenset({"false", "0", "off", "no"})

# How far below the viewer's own area the area picker reaches (county → township → village);
# deeper places are found with the capture form's search or by following a link.
AREA_PICKER_DEPTH = 2


class FlagField(forms.Field):
    """A yes/no switch in a query string: "true" (also 1, on, yes), "false", or absent."""

    default_error_messages = {"invalid": _("开关参数只能是 true 或 false。")}

    def to_python(self, value: Any) -> bool | None:
        text = str(value or "").strip().lower()
        if not text:
            return None
        if text in TRUE_VALUES:
            return True
        if text in FALSE_VALUES:
            return False
        raise forms.ValidationError(self.error_messages["invalid"], code="invalid")


def _id_field(label: Any, message: Any) -> forms.IntegerField:
    return forms.IntegerField(
        label=label,
        required=False,
        min_value=1,
        error_messages={"invalid": message, "min_value": message},
    )


# Dates outside these overflow in the filters (the day after 9999-12-31) and mean nothing.
DATE_MIN = date(2000, 1, 1)
DATE_MAX = date(2099, 12, 31)


def _date_field(label: Any, message: Any) -> forms.DateField:
    bounds = _("日期须在 2000-01-01 至 2099-12-31 之间。")
    return forms.DateField(
        label=label,
        required=False,
        input_formats=["%Y-%m-%d"],
        error_messages={"invalid": message},
        validators=[
            MinValueValidator(DATE_MIN, message=bounds),
            MaxValueValidator(DATE_MAX, message=bounds),
        ],
    )


class LedgerFilterForm(forms.Form):
    q = forms.CharField(
        label=_("关键词"),
        required=False,
        max_length=100,
        strip=True,
        error_messages={"max_length": _("搜索词太长（最多 100 字）。")},
    )
    status = forms.MultipleChoiceField(
        label=_("状态"),
        required=False,
        choices=states.Status.choices,
        error_messages={"invalid_choice": _("未知的状态：%(value)s")},
    )
    unit = _id_field(_("责任单位"), _("责任单位参数无效。"))
    area = _id_field(_("区域"), _("区域参数无效。"))
    category = _id_field(_("分类"), _("分类参数无效。"))
    urgency = forms.ChoiceField(
        label=_("紧急程度"),
        required=False,
        choices=[("", _("全部")), *Urgency.choices],
        error_messages={"invalid_choice": _("未知的紧急程度：%(value)s")},
    )
    source = forms.ChoiceField(
        label=_("来源"),
        required=False,
        choices=[("", _("全部")), *states.Source.choices],
        error_messages={"invalid_choice": _("未知的来源：%(value)s")},
    )
    overdue = FlagField(label=_("超期"), required=False)
    due_soon = FlagField(label=_("临期"), required=False)
    supervised = FlagField(label=_("督办"), required=False)
    extension_pending = FlagField(label=_("延期待批"), required=False)
    # Messages name their condition themselves, except the switches' shared one.
    _LABELLED = ("overdue", "due_soon", "supervised", "extension_pending")
    date_from = _date_field(
        _("登记日期自"), _("开始日期格式不正确，请按“年-月-日”填写，例如 2026-03-01。")
    )
    date_to = _date_field(
        _("登记日期至"), _("结束日期格式不正确，请按“年-月-日”填写，例如 2026-03-31。")
    )
    sort = forms.ChoiceField(
        label=_("排序"),
        required=False,
        choices=[
            (selectors.SORT_TIME, _("最新登记在前")),
            (selectors.SORT_DEADLINE, _("办结时限最早在前")),
        ],
        error_messages={"invalid_choice": _("未知的排序方式：%(value)s")},
    )
    cursor = forms.CharField(
        required=False,
        max_length=200,
        error_messages={"max_length": _("分页游标无效，请从第一页重新查询。")},
    )

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        start, end = data.get("date_from"), data.get("date_to")
        if isinstance(start, date) and isinstance(end, date) and start > end:
            self.add_error("date_to", _("结束日期不能早于开始日期。"))
        return data

    def problems(self) -> list[str]:
        """Each invalid condition, for people ("未知的状态：…", "临期：开关参数只能是…")."""
        out: list[str] = []
        for name, errors in self.errors.items():
            label = self.fields[name].label if name in self._LABELLED else None
            out.extend(f"{label}：{error}" if label else str(error) for error in errors)
        return out

    def filters(self) -> selectors.NeedFilters:
        """The valid conditions (an invalid one is absent from `cleaned_data`)."""
        data = self.cleaned_data
        return selectors.NeedFilters(
            status=data.get("status") or None,
            unit=data.get("unit"),
            area=data.get("area"),
            category=data.get("category"),
            urgency=data.get("urgency") or None,
            source=data.get("source") or None,
            overdue=True if data.get("overdue") else None,
            due_soon=bool(data.get("due_soon")),
            supervised=bool(data.get("supervised")),
            extension_pending=bool(data.get("extension_pending")),
            registered_from=data.get("date_from"),
            registered_to=data.get("date_to"),
            q=data.get("q") or None,
        )

    def chosen_sort(self) -> str:
        value: str = self.cleaned_data.get("sort") or selectors.SORT_TIME
        return value


# --------------------------------------------------------------------------- option lists


@dataclass(frozen=True)
class Option:
    id: int
    label: str
    active: bool = True


def _indented(rows: list[tuple[int, int, str, bool]]) -> list[Option]:
    """Options from (id, depth, label, active) rows in tree order. Plain rows, not model
    instances: the unit list (hundreds in a city) is built on every ledger page, and creating
    an object per unit cost more than the rest of the filter panel."""
    top = min((depth for _pk, depth, _label, _active in rows), default=0)
    # U+3000 (ideographic space): browsers keep it at the start of an <option>.
    return [
        Option(pk, "\u3000" * (depth - top) + label, active) for pk, depth, label, active in rows
    ]


def area_options(user: User, selected: int | None = None) -> list[Option]:
    """The areas of the viewer's own area scopes, down to AREA_PICKER_DEPTH levels below; the
    county and its townships for a viewer scoped by unit only; and the selected area. Kept
    between requests under the configuration generation (ADR 0026), as are the lists below."""
    roots = tuple(s.area_path for s in scopes_for_user(user) if s.area_path)
    return list(
        generation.remember("area_options", (roots, selected), lambda: _areas(roots, selected))
    )


def _areas(roots: tuple[str, ...], selected: int | None) -> tuple[Option, ...]:
    wanted = Q(pk=selected) if selected else Q(pk__in=[])
    for path in roots:
        wanted |= Q(path__startswith=path, depth__lte=path.count("/") - 2 + AREA_PICKER_DEPTH)
    if not roots:
        wanted |= Q(depth__lte=1)
    rows = Area.objects.filter(wanted).order_by("path").values_list("pk", "depth", "name")
    return tuple(_indented([(pk, depth, name, True) for pk, depth, name in rows]))


def unit_options() -> list[Option]:
    """Every unit (a filter may look for a unit since retired); `active` tells which may be
    given new needs."""
    return list(generation.remember("unit_options", None, _units))


def _units() -> tuple[Option, ...]:
    rows = Unit.objects.order_by("path").values_list("pk", "depth", "short_name", "name", "active")
    # Labelled as Unit.__str__: the short name, else the name.
    return tuple(_indented([(pk, depth, short or name, on) for pk, depth, short, name, on in rows]))


def category_options() -> list[Option]:
    return list(generation.remember("category_options", None, _categories))


def _categories() -> tuple[Option, ...]:
    rows = Category.objects.order_by("path").values_list("pk", "depth", "name", "active")
    return tuple(_indented(list(rows)))
