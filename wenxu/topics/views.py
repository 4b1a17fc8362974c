"""专题 pages: list, create / edit, the topic page with its actions, and 加入专题 from a need.

Reads go through `topics.selectors` (a topic out of scope: 404), writes through
`topics.services`. A refused change shows the topic page again under the reason: 422 for bad
input, 409 for a stale version or a closed topic; a role that may not act gets 403
(`NotPermitted`, mapped by `DomainErrorMiddleware`).
"""

from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from wenxu.accounts.models import User
from wenxu.needs import selectors as need_selectors
from wenxu.needs.exceptions import (
    IllegalTransition,
    InvalidInput,
    NotFound,
    NotPermitted,
    StaleVersion,
)
from wenxu.needs.models import Need
from wenxu.organisations.models import Area, Unit
from wenxu.topics import effect, selectors, services, suggest
from wenxu.topics.forms import (
    LinkForm,
    MeasureForm,
    MeasureStatusForm,
    MilestoneCompleteForm,
    MilestoneForm,
    StatusForm,
    TopicForm,
    VersionForm,
)
from wenxu.topics.models import Measure, Milestone, Topic, TopicStatus

PAGE_SIZE = 50  # topics a list page shows; the next ones by cursor (keyset), newest first


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def _first_error(exc: InvalidInput) -> str:
    for errors in exc.errors.values():
        if errors:
            return errors[0]
    return exc.message


def _managed_topic(user: User, pk: int) -> Topic:
    """The topic (404 out of scope) when `user` may manage it, else 403."""
    topic = selectors.topic_get_for_user(user=user, pk=pk)
    if not selectors.may_manage(user, topic):
        raise NotPermitted(_("只有负责该区域的调度人员可以管理专题。"))
    return topic


def _invalid(form: forms.Form) -> InvalidInput:
    return InvalidInput({k: [str(e) for e in v] for k, v in form.errors.items()})


def _to_topic(topic: Topic, anchor: str = "") -> HttpResponseRedirect:
    url = reverse("topics:detail", args=[topic.pk])
    return HttpResponseRedirect(f"{url}#{anchor}" if anchor else url)


# --------------------------------------------------------------------------- list


@login_required
@require_GET
def topic_list(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    status = request.GET.get("status", "")
    if status not in TopicStatus.values:
        status = ""
    area_id = _int(request.GET.get("area"))
    area = Area.objects.filter(pk=area_id).first() if area_id else None
    filters = selectors.TopicFilters(status=status or None, area=area)
    cursor = request.GET.get("cursor") or None
    problems: list[str] = []
    try:
        topics, next_cursor = selectors.topic_page_for_user(
            user=user, filters=filters, cursor=cursor, limit=PAGE_SIZE
        )
    except InvalidInput as error:
        problems = [message for messages in error.errors.values() for message in messages]
        cursor = None
        topics, next_cursor = selectors.topic_page_for_user(
            user=user, filters=filters, limit=PAGE_SIZE
        )
    query = urlencode(
        [(key, value) for key, value in (("status", status), ("area", area_id)) if value]
    )
    context = {
        "topics": topics,
        "problems": problems,
        "first_url": f"?{query}" if cursor else "",
        "next_url": f"?{query}{'&' if query else ''}{urlencode({'cursor': next_cursor})}"
        if next_cursor
        else "",
        "statuses": TopicStatus.choices,
        "status": status,
        "area": area,
        "area_options": selectors.area_choices(user)
        or [(a.pk, a.name) for a in {t.area for t in topics}],
        "may_create": selectors.may_create(user),
    }
    return render(request, "topics/list.html", context)


# --------------------------------------------------------------------------- create / edit


@login_required
@require_http_methods(["GET", "POST"])
def topic_create(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    if not selectors.may_create(user):
        raise NotPermitted(_("只有调度人员可以建立专题。"))
    group_id = _int(request.GET.get("group") or request.POST.get("group"))
    prefill = selectors.prefill_from_group(user=user, group_id=group_id) if group_id else None
    need_number = request.GET.get("need") or request.POST.get("need") or ""
    first_need: Need | None = None
    if need_number:
        first_need = need_selectors.need_get_for_user(
            user=user, number=need_number, with_events=False
        )
    offered: list[Need] = prefill.needs if prefill else ([first_need] if first_need else [])

    if request.method == "POST":
        form = TopicForm(request.POST, user=user)
        chosen = {_int(v) for v in request.POST.getlist("needs")}
        picked = [n for n in offered if n.pk in chosen]
        if form.is_valid():
            try:
                topic = services.topic_create(
                    actor=user,
                    source_group_id=prefill.group_id if prefill else None,
                    needs=picked,
                    **form.service_kwargs(),
                )
            except InvalidInput as exc:
                for field, errors in exc.errors.items():
                    for error in errors:
                        form.add_error(field if field in form.fields else None, error)
                form.mark_invalid()
            else:
                messages.success(request, _("专题已建立。"))
                return _to_topic(topic)
        selected = {n.pk for n in picked}
        status = 422
    else:
        initial: dict[str, Any] = {}
        if prefill:
            initial = {
                "title": prefill.title,
                "area": prefill.area.pk if prefill.area else None,
                "category": prefill.category.pk if prefill.category else None,
            }
        elif first_need is not None:
            initial = {
                "title": first_need.title,
                "area": first_need.area_id,
                "category": first_need.category_id,
            }
        form = TopicForm(initial=initial, user=user)
        selected = {n.pk for n in offered}
        status = 200
    context = {
        "form": form,
        "topic": None,
        "offered": offered,
        "selected": selected,
        "group_id": prefill.group_id if prefill else None,
        "need_number": need_number,
    }
    return render(request, "topics/form.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def topic_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    topic = _managed_topic(user, pk)
    alert = ""
    status = 200
    if request.method == "POST":
        form = TopicForm(request.POST, user=user)
        if form.is_valid():
            try:
                services.topic_update(
                    actor=user,
                    topic=topic,
                    version=form.cleaned_data.get("version") or 0,
                    **form.service_kwargs(),
                )
            except InvalidInput as exc:
                for field, errors in exc.errors.items():
                    for error in errors:
                        form.add_error(field if field in form.fields else None, error)
                form.mark_invalid()
                status = 422
            except StaleVersion as exc:
                # Keep what was typed, now on top of the current version.
                fresh = selectors.topic_get_for_user(user=user, pk=pk)
                data = request.POST.copy()
                data["version"] = str(fresh.version)
                form = TopicForm(data, user=user)
                form.is_valid()
                topic, alert, status = fresh, exc.message, 409
            else:
                messages.success(request, _("专题已保存。"))
                return _to_topic(topic)
        else:
            status = 422
    else:
        form = TopicForm(
            initial={
                "title": topic.title,
                "summary": topic.summary,
                "root_cause": topic.root_cause,
                "area": topic.area_id,
                "category": topic.category_id,
                "owner_unit": topic.owner_unit_id,
                "measures_from": topic.measures_from,
                "version": topic.version,
            },
            user=user,
        )
    context = {"form": form, "topic": topic, "alert": alert, "offered": [], "selected": set()}
    return render(request, "topics/form.html", context, status=status)


# --------------------------------------------------------------------------- the topic page


def _detail(
    request: HttpRequest, topic: Topic, *, status: int = 200, alert: str = ""
) -> HttpResponse:
    user = _user(request)
    manage = selectors.may_manage(user, topic)
    measures = list(topic.measures.all())
    unit_paths = selectors.measure_unit_paths(user)
    for measure in measures:
        measure.may_update = manage or any(  # type: ignore[attr-defined]
            measure.owner_unit.path.startswith(p) for p in unit_paths
        )
    topic_effect = effect.topic_effect(user=user, topic=topic)
    chart = (
        topic_effect.chart(label_registered=_("同类新增诉求"), label_linked=_("其中关联本专题"))
        if topic_effect.start is not None
        else None
    )
    closed = topic.status == TopicStatus.CLOSED
    context = {
        "topic": topic,
        "alert": alert,
        "manage": manage,
        "closed": closed,
        "needs": selectors.linked_needs_for_user(user=user, topic=topic),
        "measures": measures,
        "measures_done": sum(1 for m in measures if m.status == Measure.Status.DONE),
        "measure_statuses": Measure.Status.choices,
        "milestones": list(topic.milestones.all()),
        "progress": selectors.topic_progress(topic),
        "effect": topic_effect,
        "chart": chart,
        "events": selectors.topic_events_for_user(user=user, topic=topic),
        "status_form": StatusForm(initial={"status": topic.status, "version": topic.version}),
        "version_form": VersionForm(initial={"version": topic.version}),
        "measure_form": MeasureForm(auto_id="id_measure_%s"),
        "milestone_form": MilestoneForm(auto_id="id_milestone_%s"),
        "link_form": LinkForm(auto_id="id_link_%s"),
    }
    return render(request, "topics/detail.html", context, status=status)


@login_required
@require_GET
def topic_detail(request: HttpRequest, pk: int) -> HttpResponse:
    topic = selectors.topic_get_for_user(user=_user(request), pk=pk)
    return _detail(request, topic)


@login_required
@require_GET
def topic_suggestions(request: HttpRequest, pk: int) -> HttpResponse:
    """The "可能同类的诉求" list, loaded by the topic page after it is shown (htmx): ranking up
    to 5,000 candidates takes a moment, the page itself should not wait for it."""
    user = _user(request)
    topic = _managed_topic(user, pk)
    closed = topic.status == TopicStatus.CLOSED
    context = {
        "topic": topic,
        "suggestions": [] if closed else suggest.suggestions_for_topic(user=user, topic=topic),
        "has_needs": selectors.has_visible_needs(user=user, topic=topic),
    }
    return render(request, "topics/_suggestions.html", context)


def _refused(request: HttpRequest, pk: int, exc: Exception) -> HttpResponse:
    """The topic page as it is now, under the reason the change was refused."""
    topic = selectors.topic_get_for_user(user=_user(request), pk=pk)
    if isinstance(exc, InvalidInput):
        return _detail(request, topic, status=422, alert=_first_error(exc))
    assert isinstance(exc, StaleVersion | IllegalTransition)
    return _detail(request, topic, status=409, alert=exc.message)


_REFUSALS = (InvalidInput, StaleVersion, IllegalTransition)


def _version(request: HttpRequest) -> int:
    form = VersionForm(request.POST)
    if not form.is_valid():
        raise StaleVersion()
    value: int = form.cleaned_data["version"]
    return value


@login_required
@require_POST
def topic_status(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    topic = selectors.topic_get_for_user(user=user, pk=pk)
    form = StatusForm(request.POST)
    try:
        if not form.is_valid():
            if "version" in form.errors:
                raise StaleVersion()
            raise InvalidInput({"status": [_("未知的专题状态。")]})
        services.topic_set_status(
            actor=user,
            topic=topic,
            version=form.cleaned_data["version"],
            status=form.cleaned_data["status"],
        )
    except _REFUSALS as exc:
        return _refused(request, pk, exc)
    messages.success(request, _("专题状态已更新。"))
    return _to_topic(topic)


@login_required
@require_POST
def topic_close(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    topic = selectors.topic_get_for_user(user=user, pk=pk)
    try:
        services.topic_close(actor=user, topic=topic, version=_version(request))
    except _REFUSALS as exc:
        return _refused(request, pk, exc)
    messages.success(request, _("专题已办结，已通知关联诉求的群众。"))
    return _to_topic(topic)


@login_required
@require_POST
def topic_link(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    topic = _managed_topic(user, pk)
    form = LinkForm(request.POST)
    try:
        if not form.is_valid():
            raise InvalidInput({"numbers": [_("请填写要关联的诉求编号。")]})
        numbers: list[str] = form.cleaned_data["numbers"]
        found = need_selectors.needs_by_number_for_user(user=user, numbers=numbers)
        missing = [n for n in numbers if n not in found]
        if missing:
            raise InvalidInput(
                {
                    "numbers": [
                        _("找不到编号为 %(n)s 的诉求，或您无权查看；未作任何修改。")
                        % {"n": "、".join(missing[:5])}
                    ]
                }
            )
        added = services.topic_link_needs(actor=user, topic=topic, needs=list(found.values()))
    except _REFUSALS as exc:
        return _refused(request, pk, exc)
    messages.success(request, _("已关联 %(n)s 件诉求。") % {"n": added})
    return _to_topic(topic, "needs")


@login_required
@require_POST
def topic_unlink(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    topic = _managed_topic(user, pk)  # 403 before the need is looked up
    try:
        need = need_selectors.need_get_for_user(
            user=user, number=request.POST.get("need", ""), with_events=False
        )
        services.topic_unlink_need(actor=user, topic=topic, need=need)
    except NotFound:
        return _refused(request, pk, InvalidInput({"needs": [NotFound().message]}))
    except _REFUSALS as exc:
        return _refused(request, pk, exc)
    messages.success(request, _("已取消关联 %(n)s。") % {"n": need.number})
    return _to_topic(topic, "needs")


@login_required
@require_POST
def measure_add(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    topic = _managed_topic(user, pk)
    form = MeasureForm(request.POST)
    try:
        if not form.is_valid():
            raise _invalid(form)
        data = form.cleaned_data
        services.measure_add(
            actor=user,
            topic=topic,
            title=data["title"],
            owner_unit=Unit.objects.filter(pk=data["owner_unit"]).first(),
            due_date=data["due_date"],
            description=data.get("description") or "",
        )
    except _REFUSALS as exc:
        return _refused(request, pk, exc)
    messages.success(request, _("已添加治理措施。"))
    return _to_topic(topic, "measures")


@login_required
@require_POST
def measure_status(request: HttpRequest, pk: int, measure_id: int) -> HttpResponse:
    user = _user(request)
    topic = selectors.topic_get_for_user(user=user, pk=pk)
    measure = next((m for m in topic.measures.all() if m.pk == measure_id), None)
    if measure is None:
        raise Http404(_("没有这项措施。"))
    form = MeasureStatusForm(request.POST)
    try:
        if not form.is_valid():
            if "seen" in form.errors and "status" not in form.errors:
                raise StaleVersion()
            raise InvalidInput({"status": [_("未知的措施状态。")]})
        services.measure_update(
            actor=user,
            measure=measure,
            status=form.cleaned_data["status"],
            seen_status=form.cleaned_data["seen"],
        )
    except _REFUSALS as exc:
        return _refused(request, pk, exc)
    messages.success(request, _("措施状态已更新。"))
    return _to_topic(topic, "measures")


@login_required
@require_POST
def milestone_add(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    topic = _managed_topic(user, pk)
    form = MilestoneForm(request.POST)
    try:
        if not form.is_valid():
            raise _invalid(form)
        data = form.cleaned_data
        services.milestone_add(
            actor=user,
            topic=topic,
            title=data["title"],
            progress=data["progress"],
            due_date=data.get("due_date"),
        )
    except _REFUSALS as exc:
        return _refused(request, pk, exc)
    messages.success(request, _("已添加进度节点。"))
    return _to_topic(topic, "milestones")


@login_required
@require_POST
def milestone_complete(request: HttpRequest, pk: int, milestone_id: int) -> HttpResponse:
    user = _user(request)
    topic = selectors.topic_get_for_user(user=user, pk=pk)
    milestone: Milestone | None = next(
        (m for m in topic.milestones.all() if m.pk == milestone_id), None
    )
    if milestone is None:
        raise Http404(_("没有这个进度节点。"))
    form = MilestoneCompleteForm(request.POST)
    try:
        if not form.is_valid():
            raise _invalid(form)
        services.milestone_complete(
            actor=user, milestone=milestone, note=form.cleaned_data.get("note") or ""
        )
    except _REFUSALS as exc:
        return _refused(request, pk, exc)
    messages.success(request, _("节点已完成，已通知关联诉求的群众。"))
    return _to_topic(topic, "milestones")


# --------------------------------------------------------------------------- from a need


@login_required
@require_http_methods(["GET", "POST"])
def topic_attach(request: HttpRequest) -> HttpResponse:
    """加入专题: link one need to a topic the user manages, or start a topic with it."""
    user = _user(request)
    number = request.GET.get("need") or request.POST.get("need") or ""
    need = need_selectors.need_get_for_user(user=user, number=number, with_events=False)
    if not selectors.may_create(user):
        raise NotPermitted(_("只有调度人员可以把诉求加入专题。"))
    topics = selectors.attachable_topics(user=user, need=need)
    alert = ""
    status = 200
    if request.method == "POST":
        chosen = next((t for t in topics if t.pk == _int(request.POST.get("topic"))), None)
        if chosen is None:
            alert, status = _("请选择一个专题。"), 422
        else:
            try:
                services.topic_link_needs(actor=user, topic=chosen, needs=[need])
            except _REFUSALS as exc:
                alert, status = exc.message, 409
            else:
                messages.success(request, _("已加入专题“%(title)s”。") % {"title": chosen.title})
                return HttpResponseRedirect(reverse("needs:detail", args=[need.number]))
    context = {"need": need, "topics": topics, "alert": alert}
    return render(request, "topics/attach.html", context, status=status)
