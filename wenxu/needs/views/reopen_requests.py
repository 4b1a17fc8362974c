"""群众重办申请: dispatchers decide on residents' unsatisfied ratings.

`reopen_requests` lists the pending requests on needs in the viewer's scope (read through the
needs scoping selector: a request on a need out of scope does not exist for them). Each has two
forms posted to `reopen_request_decide`: 同意重办 (optional reason and other lead unit; the page
shows the deadline the rule would give) and 不予重办 (reason required, shown to the resident).
A refused submit shows the list again with that form open and everything typed kept, under the
message saying why (stale page, decided meanwhile), as the need page does.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from wenxu.accounts.models import User
from wenxu.lib import clock
from wenxu.needs import deadlines, services, states
from wenxu.needs.action_forms import TEXTAREA
from wenxu.needs.exceptions import IllegalTransition, InvalidInput, StaleVersion
from wenxu.needs.models import Need, ReopenRequest
from wenxu.needs.selectors import need_queryset_for_user
from wenxu.needs.services.reopen import DECIDABLE, default_accept_reason
from wenxu.organisations.models import Unit

LIST_LIMIT = 100
ACCEPT, DECLINE = "accept", "decline"


class _DecisionForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args: Any, need: Need, request_pk: int, kind: str, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", f"id_rr{request_pk}_{kind}_%s")
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("version", need.version)


def active_units() -> list[Unit]:
    """The units a reopened need may go to: read once per page, whatever the number of forms."""
    return list(Unit.objects.filter(active=True).order_by("path"))


class AcceptForm(_DecisionForm):
    reason = forms.CharField(
        label=gettext_lazy("重办理由（可不填，默认引用群众意见）"),
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={**TEXTAREA, "rows": 2}),
    )
    lead_unit = forms.ChoiceField(
        label=gettext_lazy("主办单位"),
        required=False,
        widget=forms.Select(attrs={"class": "form-select"}),
    )

    def __init__(
        self,
        *args: Any,
        need: Need,
        request_pk: int,
        units: list[Unit] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, need=need, request_pk=request_pk, kind=ACCEPT, **kwargs)
        self.units = {unit.pk: unit for unit in (active_units() if units is None else units)}
        if need.lead_unit is not None:
            empty = _("不变（%(unit)s）") % {"unit": need.lead_unit}
        else:
            empty = _("请选择主办单位")
        field: Any = self.fields["lead_unit"]
        field.choices = [("", empty)] + [
            (str(unit.pk), "\u3000" * unit.depth + unit.name) for unit in self.units.values()
        ]

    def clean_lead_unit(self) -> Unit | None:
        raw = self.cleaned_data.get("lead_unit") or ""
        if not raw:
            return None
        unit = self.units.get(int(raw)) if raw.isdigit() else None
        if unit is None:
            raise forms.ValidationError(_("请从列表中选择主办单位。"))
        return unit


class DeclineForm(_DecisionForm):
    reason = forms.CharField(
        label=gettext_lazy("不予重办的理由（群众查询时可以看到）"),
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={**TEXTAREA, "rows": 2}),
        help_text=gettext_lazy(
            "这段话会原样显示在群众的查询页面和短信里：请写给群众看，说明不予重办的依据；"
            "不要写工作人员的姓名、电话等个人信息。"
        ),
    )

    def __init__(self, *args: Any, need: Need, request_pk: int, **kwargs: Any) -> None:
        super().__init__(*args, need=need, request_pk=request_pk, kind=DECLINE, **kwargs)


@dataclass
class Item:
    """One request on the page with its two forms."""

    request: ReopenRequest
    need: Need
    accept: AcceptForm
    decline: DeclineForm
    new_due: datetime | None
    open: str = ""  # the form to show open: accept / decline
    alert: str = ""
    detail: str = ""
    disabled: bool = False  # decided meanwhile: the typed text stays on screen, read-only
    may_decide: bool = False  # the viewer is a dispatcher over this need (not merely somewhere)

    @property
    def default_reason(self) -> str:
        return default_accept_reason(self.request)


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


# What deciding on a request reads of its need: the page's facts and the viewer's roles over it
# (`actor_roles` reads the area, the lead unit and the co units).
_NEED_RELATED = ("need__area", "need__lead_unit", "need__category")


def _scoped(user: User) -> Any:
    return ReopenRequest.objects.filter(need__in=need_queryset_for_user(user=user))


def pending_for_user(*, user: User, number: str | None = None) -> list[ReopenRequest]:
    """Pending requests a dispatcher may decide now, oldest first, within the user's scope
    (only the one on the need numbered `number` when given)."""
    qs = _scoped(user).filter(state=ReopenRequest.State.PENDING, need__status__in=DECIDABLE)
    if number is not None:
        qs = qs.filter(need__number=number)
    return list(
        qs.select_related(*_NEED_RELATED)
        .prefetch_related("need__co_units")
        .order_by("created_at", "id")[:LIST_LIMIT]
    )


class _PageBook:
    """What every item on a page shares: the units to choose from (one query), and the deadline
    a reopen now would give (one rule lookup per category and urgency)."""

    def __init__(self) -> None:
        self.now = clock.now()
        self.calendar = deadlines.cached_calendar()
        self.rules: dict[tuple[int | None, str], deadlines.RuleValues] = {}
        self.units = active_units()

    def due(self, need: Need) -> datetime:
        key = (need.category_id, need.urgency)
        if key not in self.rules:
            self.rules[key] = deadlines.rule_for(category=need.category, urgency=need.urgency)
        rule = self.rules[key]
        due, _provisional = deadlines.due_after(
            self.now, rule.resolve_value, rule.resolve_unit, self.calendar
        )
        return due


def _item(request: ReopenRequest, book: _PageBook, user: User) -> Item:
    need = request.need
    return Item(
        request=request,
        need=need,
        accept=AcceptForm(need=need, request_pk=request.pk, units=book.units),
        decline=DeclineForm(need=need, request_pk=request.pk),
        new_due=book.due(need),
        # The service's own check (a dispatcher over this need's area), so that no form is
        # offered that would be refused on submit.
        may_decide=states.DISPATCHER in services.actor_roles(user, need),
    )


def _render(request: HttpRequest, *, focus: Item | None = None, status: int = 200) -> HttpResponse:
    user = _user(request)
    book = _PageBook()
    items = [_item(r, book, user) for r in pending_for_user(user=user)]
    if focus is not None:
        items = [i for i in items if i.request.pk != focus.request.pk]
        items.insert(0, focus)
    for item in items:
        for form in (item.accept, item.decline):
            for name in form.errors:
                if name in form.fields:
                    widget = form.fields[name].widget
                    widget.attrs["class"] = (widget.attrs.get("class", "") + " is-invalid").strip()
    context = {"items": items, "limit": LIST_LIMIT}
    return render(request, "needs/reopen_requests.html", context, status=status)


@login_required
@require_GET
def reopen_requests(request: HttpRequest) -> HttpResponse:
    """群众重办申请: what waits for a dispatcher's decision.

    With `?need=<number>` from htmx: only the forms for that need's pending request, for the
    panel on the need page (empty when there is none the viewer can see).
    """
    number = request.GET.get("need")
    if number is not None and request.htmx:  # type: ignore[attr-defined]
        user = _user(request)
        book = _PageBook()
        found = pending_for_user(user=user, number=number.strip()[:40])
        context = {"item": _item(found[0], book, user) if found else None, "next": "need"}
        return render(request, "needs/reopen_requests_forms_fragment.html", context)
    return _render(request)


@login_required
@require_POST
def reopen_request_decide(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    found = _scoped(user).select_related(*_NEED_RELATED)
    reopen = found.filter(pk=pk).first()
    if reopen is None:
        raise Http404(_("未找到该重办申请，或您无权查看。"))
    need = reopen.need
    decision = request.POST.get("decision", "")
    if decision not in (ACCEPT, DECLINE):
        raise Http404(_("没有这个操作。"))
    data = request.POST
    form: AcceptForm | DeclineForm = (
        AcceptForm(data, need=need, request_pk=pk)
        if decision == ACCEPT
        else DeclineForm(data, need=need, request_pk=pk)
    )
    try:
        if not form.is_valid():
            raise InvalidInput({})
        version = form.cleaned_data.get("version")
        if version is None:
            raise StaleVersion()
        if decision == ACCEPT:
            result = services.reopen_request_accept(
                actor=user,
                request=reopen,
                version=version,
                reason=form.cleaned_data.get("reason") or "",
                lead_unit=form.cleaned_data.get("lead_unit"),
            )
        else:
            result = services.reopen_request_decline(
                actor=user,
                request=reopen,
                version=version,
                reason=form.cleaned_data.get("reason") or "",
            )
    except InvalidInput as exc:
        for field, errors in exc.errors.items():
            for error in errors:
                form.add_error(field if field in form.fields else None, error)
        return _again(request, reopen, decision, form, status=422)
    except StaleVersion as exc:
        return _again(request, reopen, decision, form, status=409, alert=exc.message)
    except IllegalTransition as exc:
        alert = StaleVersion().message
        return _again(request, reopen, decision, form, status=409, alert=alert, detail=exc.message)

    if decision == ACCEPT:
        due = result.resolve_due
        messages.success(
            request,
            _("已同意重办，交 %(unit)s 重新办理，办结时限 %(due)s。")
            % {
                "unit": result.lead_unit,
                "due": f"{timezone.localtime(due):%Y-%m-%d %H:%M}" if due else "—",
            },
        )
    else:
        messages.success(request, _("已不予重办，理由会在群众查询办理进度时显示。"))
    if request.POST.get("next") == "need":
        return HttpResponseRedirect(reverse("needs:detail", args=[result.number]))
    return HttpResponseRedirect(reverse("needs:reopen_requests"))


def _again(
    request: HttpRequest,
    reopen: ReopenRequest,
    decision: str,
    form: AcceptForm | DeclineForm,
    *,
    status: int,
    alert: str = "",
    detail: str = "",
) -> HttpResponse:
    """The list again, this request first with the user's form open and their input kept."""
    fresh = (
        ReopenRequest.objects.select_related(*_NEED_RELATED)
        .prefetch_related("need__co_units")
        .filter(pk=reopen.pk)
        .first()
    )
    if fresh is None:
        raise Http404
    need = fresh.need
    if alert:
        # Bound again with the version the page now shows: submitting once more applies it
        # to the need as the user now sees it.
        data: QueryDict = request.POST.copy()
        data["version"] = str(need.version)
        form = (
            AcceptForm(data, need=need, request_pk=fresh.pk)
            if decision == ACCEPT
            else DeclineForm(data, need=need, request_pk=fresh.pk)
        )
        form.is_valid()
    book = _PageBook()
    item = _item(fresh, book, _user(request))
    if decision == ACCEPT:
        assert isinstance(form, AcceptForm)
        item.accept = form
    else:
        assert isinstance(form, DeclineForm)
        item.decline = form
    item.open = decision
    item.alert = alert
    item.detail = detail
    item.disabled = fresh.state != ReopenRequest.State.PENDING or need.status not in DECIDABLE
    return _render(request, focus=item, status=status)


__all__ = [
    "AcceptForm",
    "DeclineForm",
    "pending_for_user",
    "reopen_request_decide",
    "reopen_requests",
]
