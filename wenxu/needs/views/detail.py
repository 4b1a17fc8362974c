"""诉求详情: a need with everything known about it, its timeline, and the forms for the actions
the viewer may take now.

`detail` reads through the scoped selector (out of scope: 404). `act` posts one form to its
service. On success it redirects with a message; when the service refuses, the page is shown
again with that form open and everything typed kept: field errors next to the fields (invalid
input), or the fresh state of the need under a prominent message (stale version, illegal
transition), so nothing typed is lost. A role that may not take the action gets 403 (raised as
`NotPermitted`, mapped by `DomainErrorMiddleware`).

GET on an action's URL serves the form's live parts to htmx (the assign deadline preview, the
merge target suggestions); without htmx it opens the page with that form open.
"""

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from wenxu.accounts.models import User
from wenxu.accounts.selectors import user_roles
from wenxu.core import frames, generation
from wenxu.lib import clock
from wenxu.needs import permissions, previews, selectors, services, states, timeline
from wenxu.needs.action_forms import FORMS, ActionForm
from wenxu.needs.exceptions import (
    IllegalTransition,
    InvalidInput,
    NotFound,
    NotPermitted,
    StaleVersion,
)
from wenxu.needs.models import Category, Need
from wenxu.needs.states import Action
from wenxu.organisations.models import Area
from wenxu.residents.reveal import may_reveal_requester

# URL slugs, as in the API: /needs/<number>/request-extension/
SLUGS: dict[str, str] = {action: action.replace("_", "-") for action in permissions.UI_ACTIONS}
ACTIONS: dict[str, str] = {slug: action for action, slug in SLUGS.items()}

SERVICES: dict[str, Callable[..., Need]] = {
    Action.ASSIGN: services.need_assign,
    Action.ACCEPT: services.need_accept,
    Action.RETURN: services.need_return,
    Action.PROGRESS: services.need_progress,
    Action.REQUEST_EXTENSION: services.need_request_extension,
    Action.APPROVE_EXTENSION: services.need_approve_extension,
    Action.DENY_EXTENSION: services.need_deny_extension,
    Action.REPLY: services.need_reply,
    Action.CALLBACK: services.need_callback,
    Action.FULFIL: services.need_fulfil,
    Action.CONFIRM_OBSERVED: services.need_confirm_observed,
    Action.REOPEN: services.need_reopen,
    Action.SUPERVISE: services.need_supervise,
    Action.REMIND: services.need_remind,
    Action.MERGE: services.need_merge,
    Action.WITHDRAW: services.need_withdraw,
}


@dataclass
class Panel:
    """One action form on the page."""

    action: str
    # None until `_fill_panels`: then the form, or, for a fresh form the page keeps, its panel
    # as markup (`html`).
    form: ActionForm | None
    open: bool = False
    # The action is no longer possible (the need changed meanwhile): the form is shown read-only
    # so that what the user typed stays on the screen.
    disabled: bool = False
    first: bool = False
    html: str = ""

    @property
    def slug(self) -> str:
        return SLUGS[self.action]

    @property
    def label(self) -> str:
        return str(Action(self.action).label)

    @property
    def template(self) -> str:
        return f"needs/detail/actions/{self.action}.html"


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _form(action: str, need: Need, data: Any = None) -> ActionForm:
    return FORMS[action](data, need=need, auto_id=f"id_{action}_%s")


def _mark_invalid(form: ActionForm) -> None:
    if not form.is_bound:
        return
    for name in form.errors:
        if name in form.fields:
            widget = form.fields[name].widget
            widget.attrs["class"] = (widget.attrs.get("class", "") + " is-invalid").strip()


def _area_path(need: Need) -> tuple[str, ...]:
    """The names of the need's area and those above it, from the top (kept between requests,
    ADR 0026)."""
    ids = tuple(need.area.ancestors_and_self_ids())

    def read() -> tuple[str, ...]:
        return tuple(
            Area.objects.filter(pk__in=ids).order_by("path").values_list("name", flat=True)
        )

    return generation.remember("area_names", ids, read)


def _render(
    request: HttpRequest,
    need: Need,
    *,
    status: int = 200,
    open_action: str | None = None,
    form: ActionForm | None = None,
    alert: str = "",
    initial: dict[str, str] | None = None,
) -> HttpResponse:
    user = _user(request)
    available = permissions.available_actions(user, need)
    panels: list[Panel] = []
    for action in available:
        given = form if action == open_action else None
        panels.append(Panel(action, given, open=action == open_action))
    if open_action and form is not None and open_action not in available:
        panels.insert(0, Panel(open_action, form, open=True, disabled=True))
    if panels:
        panels[0].first = True
        if not any(panel.open for panel in panels):
            panels[0].open = True  # the next step, ready to fill in
    _fill_panels(request, need, panels, open_action=open_action, initial=initial)
    # Confidential to the staff of a unit the need criticises, even once disclosed (issue #9).
    requester = selectors.requester_for_viewer(user, need)
    co_units = list(need.co_units.all())
    known = [unit for unit in (need.lead_unit, need.about_unit, *co_units) if unit is not None]
    context = {
        "need": need,
        "panels": panels,
        "alert": alert,
        "alert_keeps_input": bool(alert and form is not None and form.is_bound),
        "requester": requester,
        "requester_kind": need.requester.get_kind_display() if need.requester else "",
        "area_path": _area_path(need),
        "nature_tags": [_tag_label(tag) for tag in need.nature_tags or []],
        "co_units": co_units,
        "attachments": selectors.need_attachments(need),
        "merged_from": selectors.needs_merged_into_for_user(user=user, need=need),
        "merged_into_visible": _merged_into_visible(user, need),
        "timeline": _visible_links(user, timeline.timeline(need.events.all(), known=known)),
        "visit": _visit(user, need),
        # 群众申请重办: a verdict on a replied or closed need, waiting for a dispatcher.
        "pending_reopen": (
            selectors.need_pending_reopen(need)
            if need.status in (states.Status.FOLLOWING, states.Status.CLOSED)
            else None
        ),
        "preview": previews.deadline_preview(need) if Action.ASSIGN in available else None,
        "now": clock.now(),
    }
    # The page around its body is the same for every need a viewer opens: kept with holes
    # (ADR 0029; base.html's navigation, menus and scripts were ~2 ms of each need page).
    content = render_to_string("needs/detail/_content.html", context, request)
    html = frames.render_framed(
        request,
        "needs/detail.html",
        {},
        key=frozenset(user_roles(user)),
        holes={"page_title": f"{need.number} · {need.title}", "content_html": mark_safe(content)},  # noqa: S308 - rendered by the template engine
    )
    response = HttpResponse(html, status=status)
    if may_reveal_requester(user, need):
        # 查看完整信息 swaps the requester unmasked into this page: no cache may keep it.
        add_never_cache_headers(response)
    return response


# A ledger number that is the same in a URL and in HTML: a kept panel's number goes into its
# form's address as escaped text.
_PLAIN_NUMBER = re.compile(r"[A-Za-z0-9_-]+")


def _fill_panels(
    request: HttpRequest,
    need: Need,
    panels: list[Panel],
    *,
    open_action: str | None,
    initial: dict[str, str] | None,
) -> None:
    """Give each panel its form, or its kept markup.

    A fresh form's panel shows nothing of the need but its number and version for most
    actions (`ActionForm.kept_key`), so it is rendered once per action, language and
    generation (ADR 0034) and filled with the need's number and version and this request's
    CSRF token. It cost ~1 ms a panel, most of a need page's rendering."""
    number_plain = bool(_PLAIN_NUMBER.fullmatch(need.number))
    for panel in panels:
        if panel.form is not None:
            _mark_invalid(panel.form)
            continue
        seeded = initial if panel.action == open_action else None
        key = FORMS[panel.action].kept_key(need)
        if key is None or seeded or not number_plain:
            panel.form = _form(panel.action, need)
            if seeded:
                panel.form.initial.update(seeded)
            continue
        panel.html = frames.render_kept(
            "needs/detail/_action_panel.html",
            partial(_kept_panel_context, panel.action, need, panel.open, panel.first),
            key=(panel.action, panel.open, panel.first, key),
            holes={
                "number": need.number,
                "version": str(need.version),
                "csrf_token": get_token(request),
            },
        )


@dataclass(frozen=True)
class _MarkedNeed:
    number: str


def _kept_panel_context(
    action: str, need: Need, open_: bool, first: bool, marks: Mapping[str, str]
) -> dict[str, Any]:
    form = _form(action, need)
    form.initial["version"] = marks["version"]
    return {
        "panel": Panel(action, form, open=open_, first=first),
        "need": _MarkedNeed(number=marks["number"]),
        "csrf_token": marks["csrf_token"],
    }


def _merged_into_visible(user: User, need: Need) -> bool:
    """Whether the viewer may see the need this one was merged into: else the page names only
    its number (a criticism hidden from the viewer's unit must not show its title)."""
    if need.merged_into_id is None:
        return False
    return selectors.need_queryset_for_user(user=user).filter(pk=need.merged_into_id).exists()


def _visible_links(
    user: User, entries: list[timeline.TimelineEntry]
) -> list[timeline.TimelineEntry]:
    """The entries, with the ledger numbers they name (merge) linked only where the viewer may
    open that need."""
    numbers = {entry.link for entry in entries if entry.link}
    if not numbers:
        return entries
    visible = set(
        selectors.need_queryset_for_user(user=user)
        .filter(number__in=numbers)
        .values_list("number", flat=True)
    )
    return [
        entry if not entry.link or entry.link in visible else replace(entry, link="")
        for entry in entries
    ]


@dataclass(frozen=True)
class VisitLink:
    """来自走访: the visit that raised the need; `url` only when the viewer may open it."""

    kind: str
    started_at: Any
    url: str


def _visit(user: User, need: Need) -> VisitLink | None:
    if need.visit_id is None:
        return None
    # Imported here: the visits app builds on needs, not the other way round.
    from wenxu.visits.selectors import visit_queryset_for_user

    visit = need.visit
    assert visit is not None
    visible = visit_queryset_for_user(user=user).filter(pk=visit.pk).exists()
    return VisitLink(
        kind=visit.get_kind_display(),
        started_at=timezone.localtime(visit.started_at),
        url=reverse("visits:detail", args=[visit.pk]) if visible else "",
    )


def _tag_label(tag: str) -> str:
    try:
        return str(states.NatureTag(tag).label)
    except ValueError:
        return tag


@login_required
@require_GET
def detail(request: HttpRequest, number: str) -> HttpResponse:
    need = selectors.need_get_for_user(user=_user(request), number=number)
    open_action = ACTIONS.get(request.GET.get("open", ""))
    initial = None
    into = request.GET.get("into", "").strip()[:100]
    if open_action == Action.MERGE and into:
        initial = {"into": into}  # 合并 from the similar needs' list: the target chosen there
    return _render(request, need, open_action=open_action, initial=initial)


@login_required
@require_http_methods(["GET", "POST"])
def act(request: HttpRequest, number: str, action: str) -> HttpResponse:
    name = ACTIONS.get(action)
    if name is None:
        raise Http404(_("没有这个操作。"))
    user = _user(request)
    try:
        need = selectors.need_get_for_user(user=user, number=number, with_events=False)
    except NotFound:
        if request.method == "POST":
            # Not visible (any more: a colleague may have returned it): still 404, and the
            # page gives back what the user typed, which reveals nothing they did not write.
            return _gone(request, name)
        raise
    if not permissions.may_take(user, need, name):
        raise NotPermitted(
            _("您的角色不能对该诉求执行“%(action)s”。") % {"action": Action(name).label}
        )
    if request.method == "GET":
        return _act_get(request, user, need, name)

    form = _form(name, need, request.POST)
    try:
        if not form.is_valid():
            if "version" in form.errors:
                raise StaleVersion()
            raise InvalidInput({})
        result = _run(name, user, need, form)
    except InvalidInput as exc:
        for field, errors in exc.errors.items():
            for error in errors:
                form.add_error(field if field in form.fields else None, error)
        return _again(request, user, need, name, form, status=422)
    except (StaleVersion, IllegalTransition) as exc:
        return _again(request, user, need, name, form, status=409, alert=exc.message)

    messages.success(request, _success_message(name, result))
    if selectors.need_id_for_user(user=user, number=result.number) is not None:
        return HttpResponseRedirect(reverse("needs:detail", args=[result.number]))
    # The action handed the need on out of the user's scope (a handler returned it).
    return HttpResponseRedirect(reverse("needs:ledger"))


def _run(action: str, user: User, need: Need, form: ActionForm) -> Need:
    version = form.cleaned_data.get("version")
    if version is None:
        raise StaleVersion()
    kwargs = form.service_kwargs()
    if action == Action.MERGE:
        kwargs["into"] = _merge_target(user, kwargs.get("into") or "")
    return SERVICES[action](actor=user, need=need, version=version, **kwargs)


def _merge_target(user: User, number: str) -> Need | None:
    number = number.strip()
    if not number:
        return None  # the service says what is missing
    # The target is found through the same scope: a need the user cannot see does not exist.
    try:
        return selectors.need_get_for_user(user=user, number=number, with_events=False)
    except NotFound:
        raise InvalidInput(
            {"into": [_("找不到编号为 %(n)s 的诉求，或您无权查看。") % {"n": number}]}
        ) from None


def _again(
    request: HttpRequest,
    user: User,
    need: Need,
    action: str,
    form: ActionForm,
    *,
    status: int,
    alert: str = "",
) -> HttpResponse:
    """The page again, as the need is now, with the user's form open and their input kept."""
    try:
        fresh = selectors.need_get_for_user(user=user, number=need.number)
    except NotFound:
        return _gone(request, action)
    if alert:
        # Bind the typed data again, now carrying the version the page shows: submitting once
        # more applies it to the need as the user now sees it.
        data = request.POST.copy()
        data["version"] = str(fresh.version)
        form = _form(action, fresh, data)
    return _render(request, fresh, status=status, open_action=action, form=form, alert=alert)


def _gone(request: HttpRequest, action: str) -> HttpResponse:
    """404, with the text the user posted given back to copy: nothing about the need itself."""
    fields = FORMS[action].base_fields
    kept = [  # the words they wrote; choices and units are quickly picked again
        (field.label, request.POST.get(name, "").strip())
        for name, field in fields.items()
        if isinstance(field, forms.CharField) and request.POST.get(name, "").strip()
    ]
    context = {"kept": kept, "not_found": NotFound().message}
    return render(request, "needs/detail/gone.html", context, status=404)


def _act_get(request: HttpRequest, user: User, need: Need, action: str) -> HttpResponse:
    if request.htmx and action == Action.ASSIGN:  # type: ignore[attr-defined]
        # The preview follows the category chosen in the form (a correction changes the rule).
        category = _chosen_category(request.GET.get("category", ""))
        if category is not None:
            need.category = category
        preview = previews.deadline_preview(need)
        return render(request, "needs/detail/_assign_preview.html", {"preview": preview})
    if request.htmx and action == Action.MERGE:  # type: ignore[attr-defined]
        q = request.GET.get("into", "")
        context = {
            "q": q.strip(),
            "candidates": previews.merge_candidates(user=user, need=need, q=q),
            "empty_message": previews.no_candidates_message(q),
        }
        return render(request, "needs/detail/_merge_suggestions.html", context)
    url = reverse("needs:detail", args=[need.number])
    return HttpResponseRedirect(f"{url}?open={SLUGS[action]}#act-{SLUGS[action]}")


def _chosen_category(value: str) -> Category | None:
    if not value.strip().isdigit():
        return None
    return Category.objects.filter(pk=int(value), active=True).first()


def _success_message(action: str, need: Need) -> str:
    if action == Action.ASSIGN:
        due = timezone.localtime(need.resolve_due) if need.resolve_due else None
        return _("已交办给 %(unit)s，办结时限 %(due)s。") % {
            "unit": need.lead_unit,
            "due": f"{due:%Y-%m-%d %H:%M}" if due else "—",
        }
    if action == Action.ACCEPT:
        return _("已签收，请在办结时限前办理并答复群众。")
    if action == Action.RETURN:
        return _("已退回调度重新交办。")
    if action == Action.PROGRESS:
        return _("已记录办理进展。")
    if action == Action.REQUEST_EXTENSION:
        return _("已提交延期申请，等待调度审批。")
    if action == Action.APPROVE_EXTENSION:
        due = timezone.localtime(need.resolve_due) if need.resolve_due else None
        return _("已批准延期，办结时限延至 %(due)s。") % {
            "due": f"{due:%Y-%m-%d %H:%M}" if due else "—"
        }
    if action == Action.DENY_EXTENSION:
        return _("已驳回延期申请，原办结时限不变。")
    if action == Action.REPLY:
        return _("已答复，等待回访。")
    if action == Action.CALLBACK:
        if need.status == states.Status.FOLLOWING:
            return _("已记录回访结果，承诺事项转入跟进。")
        return _("已记录回访结果，诉求办结。")
    if action == Action.FULFIL:
        return _("已确认兑现承诺，诉求办结。")
    if action == Action.CONFIRM_OBSERVED:
        return _("已记录群众确认。")
    if action == Action.REOPEN:
        return _("已重办，交 %(unit)s 重新办理。") % {"unit": need.lead_unit}
    if action == Action.SUPERVISE:
        return _("已督办，承办单位会收到通知。")
    if action == Action.REMIND:
        return _("已催办，承办单位会收到提醒。")
    if action == Action.MERGE:
        target = need.merged_into.number if need.merged_into else ""
        return _("已合并到 %(number)s。") % {"number": target}
    if action == Action.WITHDRAW:
        return _("已撤销该诉求。")
    return _("操作成功。")
