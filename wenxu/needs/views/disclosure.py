"""被批评/投诉单位: a dispatcher corrects the unit a criticism is about, or discloses it to that
unit (issue #9; `services.disclosure`).

One page per need, for dispatchers over it (others: 403; out of scope: 404, as the need page),
with two forms. A refused submit shows the page again with what was typed kept: field errors
next to the fields (422), or the need's fresh state under the reason (409: changed meanwhile,
already disclosed). Success goes back to the need page with a message.
"""

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from wenxu.accounts.models import User
from wenxu.needs import permissions, selectors, services
from wenxu.needs.action_forms import TEXTAREA, UnitChoiceField
from wenxu.needs.exceptions import IllegalTransition, InvalidInput, NotPermitted, StaleVersion
from wenxu.needs.models import Need
from wenxu.needs.services.disclosure import REASON_MAX
from wenxu.needs.states import ABOUT_UNIT_KINDS, Action
from wenxu.organisations.models import Unit

ABOUT_UNIT, DISCLOSE = "about_unit", "disclose"


class _Form(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)
    reason = forms.CharField(
        required=False,
        max_length=REASON_MAX,
        widget=forms.Textarea(attrs={**TEXTAREA, "rows": 2}),
    )

    def __init__(self, *args: Any, need: Need, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("version", need.version)


class AboutUnitForm(_Form):
    about_unit = UnitChoiceField(
        label=gettext_lazy("被批评/投诉单位"),
        queryset=Unit.objects.filter(active=True).order_by("path"),
        required=False,
        empty_label=gettext_lazy("（不涉及具体单位）"),
        widget=forms.Select(attrs={"class": "form-select"}),
        error_messages={"invalid_choice": gettext_lazy("该单位不存在或已停用，请重新选择。")},
    )

    def __init__(self, *args: Any, need: Need, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "id_about_%s")
        super().__init__(*args, need=need, **kwargs)
        self.fields["reason"].label = _("更正理由")
        if not self.is_bound:
            self.initial.setdefault("about_unit", need.about_unit_id)


class DiscloseForm(_Form):
    def __init__(self, *args: Any, need: Need, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "id_disclose_%s")
        super().__init__(*args, need=need, **kwargs)
        self.fields["reason"].label = _("公开理由")
        self.fields["reason"].help_text = _(
            "例如：经核实需由该单位说明情况。理由记入办理记录和安全日志。"
        )


FORMS: dict[str, type[_Form]] = {ABOUT_UNIT: AboutUnitForm, DISCLOSE: DiscloseForm}


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _need_for_dispatcher(user: User, number: str) -> Need:
    need = selectors.need_get_for_user(user=user, number=number, with_events=False)
    if not permissions.may_take(user, need, Action.DISCLOSE_TO_UNIT):
        raise NotPermitted(_("只有负责该区域的调度员可以更正被批评单位或决定公开。"))
    return need


def _page(
    request: HttpRequest,
    need: Need,
    *,
    status: int = 200,
    bound: _Form | None = None,
    op: str = "",
    alert: str = "",
) -> HttpResponse:
    forms_ = {name: form_class(need=need) for name, form_class in FORMS.items()}
    if bound is not None:
        forms_[op] = bound
    for form in forms_.values():
        for name in form.errors:
            if name in form.fields:
                widget = form.fields[name].widget
                widget.attrs["class"] = (widget.attrs.get("class", "") + " is-invalid").strip()
    context = {
        "need": need,
        "about_form": forms_[ABOUT_UNIT],
        "disclose_form": forms_[DISCLOSE],
        "may_name_unit": need.kind in ABOUT_UNIT_KINDS,
        "alert": alert,
    }
    return render(request, "needs/disclosure.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def disclosure(request: HttpRequest, number: str) -> HttpResponse:
    user = _user(request)
    need = _need_for_dispatcher(user, number)
    if request.method == "GET":
        return _page(request, need)
    op = request.POST.get("op", "")
    if op not in FORMS:
        raise Http404(_("没有这个操作。"))
    form = FORMS[op](request.POST, need=need)
    try:
        if not form.is_valid():
            raise InvalidInput({})
        version = form.cleaned_data.get("version")
        if version is None:
            raise StaleVersion()
        reason = form.cleaned_data.get("reason") or ""
        if op == ABOUT_UNIT:
            services.need_set_about_unit(
                actor=user,
                need=need,
                version=version,
                about_unit=form.cleaned_data.get("about_unit"),
                reason=reason,
                request=request,
            )
            done = _("已更正被批评/投诉单位。")
        else:
            services.need_disclose_to_unit(
                actor=user, need=need, version=version, reason=reason, request=request
            )
            done = _("已决定向被批评单位公开；诉求人身份仍对该单位保密。")
    except InvalidInput as exc:
        for name, errors in exc.errors.items():
            for error in errors:
                form.add_error(name if name in form.fields else None, error)
        return _page(request, need, status=422, bound=form, op=op)
    except (StaleVersion, IllegalTransition) as exc:
        fresh = _need_for_dispatcher(user, number)
        data = request.POST.copy()
        data["version"] = str(fresh.version)
        # Bound again with the version the page now shows: what was typed stays, and
        # submitting once more applies it to the need as the dispatcher now sees it.
        again = FORMS[op](data, need=fresh)
        return _page(request, fresh, status=409, bound=again, op=op, alert=exc.message)
    messages.success(request, done)
    return HttpResponseRedirect(reverse("needs:detail", args=[need.number]))
