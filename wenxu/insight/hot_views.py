"""热点 (/hot/): the newest hot topics for dispatchers and leaders; a group's needs; compute now.

Who may look: leaders and dispatchers (others 403; a user without any scope 404, like the
other scoped pages). What they see: the newest finished scheduled run (the whole ledger), or a
run they asked for themselves (computed on the needs they may see), each group recounted on
its members they may see (`hot_selectors`): the number of needs, distinct requesters,
identical copies, areas touched, the heat and the label are those of the visible members, and
a group that then falls under the minimum of distinct requesters is not shown. The list is
ordered by the heat shown, `PAGE_SIZE` groups a page. The growth is the whole group's and is
shown only when the viewer sees all of it.
"""

from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from wenxu.accounts.models import User
from wenxu.accounts.selectors import user_roles
from wenxu.insight import hot
from wenxu.insight import report as rp
from wenxu.insight.hot_runs import (
    WINDOW_CHOICES,
    RunRefused,
    hot_run_compared,
    hot_topic_run_create,
)
from wenxu.insight.hot_selectors import (
    PAGE_SIZE,
    ShownGroup,
    hot_group_for_user,
    hot_group_visible_needs,
    hot_groups_describe,
    hot_groups_for_user,
    hot_runs_for_user,
)
from wenxu.insight.models import HotTopicGroup, HotTopicRun
from wenxu.needs import ledger_forms
from wenxu.needs.models import Category
from wenxu.organisations.models import Area

ROLES = frozenset({"leader", "dispatcher"})


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _allowed(user: User) -> None:
    if not rp.has_scope(user):
        raise Http404(_("你的账号还没有负责的区域或单位。"))
    if not user_roles(user) & ROLES:
        raise PermissionDenied(_("热点只对领导和调度人员开放。"))


class RunForm(forms.Form):
    days = forms.TypedChoiceField(
        label=gettext_lazy("时间范围"),
        coerce=int,
        choices=[(d, gettext_lazy("最近 %(d)d 天") % {"d": d}) for d in WINDOW_CHOICES],
        initial=30,
        error_messages={"invalid_choice": gettext_lazy("请选择 7、30 或 90 天。")},
    )
    area = forms.IntegerField(
        required=False, min_value=1, error_messages={"invalid": gettext_lazy("区域参数无效。")}
    )
    category = forms.IntegerField(
        required=False, min_value=1, error_messages={"invalid": gettext_lazy("分类参数无效。")}
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_area(self) -> Area | None:
        pk = self.cleaned_data.get("area")
        if not pk:
            return None
        area = Area.objects.filter(pk=pk).first()
        if area is None or not rp.area_in_scope(self.user, area):
            raise forms.ValidationError(_("没有这个区域，或它不在你的权限范围内。"))
        return area

    def clean_category(self) -> Category | None:
        pk = self.cleaned_data.get("category")
        if not pk:
            return None
        category = Category.objects.filter(pk=pk).first()
        if category is None:
            raise forms.ValidationError(_("没有这个分类。"))
        return category


def _run_for(user: User, pk: int | None) -> HotTopicRun | None:
    runs = hot_runs_for_user(user=user).select_related("area", "category")
    if pk is not None:
        run = runs.filter(pk=pk).first()
        if run is None:
            raise Http404(_("没有这次热点计算，或它已被清理。"))
        return run
    return runs.filter(requested_by__isnull=True, state=HotTopicRun.State.DONE).first()


def _topic_url(group: HotTopicGroup) -> str | None:
    try:
        return f"{reverse('topics:create')}?group={group.pk}"
    except NoReverseMatch:
        return None


@login_required
@require_http_methods(["GET", "POST"])
def hot_page(request: HttpRequest) -> HttpResponseBase:
    user = _user(request)
    _allowed(user)
    if request.method == "POST":
        form = RunForm(request.POST, user=user)
        if form.is_valid():
            try:
                run = hot_topic_run_create(
                    actor=user,
                    area=form.cleaned_data["area"],
                    category=form.cleaned_data["category"],
                    days=form.cleaned_data["days"],
                )
            except RunRefused as error:
                form.add_error(None, error.message)
            else:
                return redirect(f"{reverse('insight:hot')}?run={run.pk}")
        status = 422
    else:
        form = RunForm(user=user, initial={"days": 30})
        status = 200
    run_param = request.GET.get("run", "")
    shown_run = _run_for(user, int(run_param) if run_param.isdigit() else None)
    groups: list[ShownGroup] = []
    page, pages = 1, 1
    compared = False
    if shown_run is not None and shown_run.state == HotTopicRun.State.DONE:
        groups = hot_groups_for_user(user=user, run=shown_run)
        compared = bool(groups) and hot_run_compared(shown_run)
        pages = max(1, -(-len(groups) // PAGE_SIZE))
        page_param = request.GET.get("page", "")
        page = min(max(int(page_param), 1), pages) if page_param.isdigit() else 1
        groups = groups[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
        hot_groups_describe(user=user, shown=groups)
    own_pending = None
    if shown_run is None or shown_run.requested_by_id is None:
        own_pending = (
            HotTopicRun.objects.filter(
                requested_by=user,
                state__in=[HotTopicRun.State.PENDING, HotTopicRun.State.RUNNING],
            )
            .only("id")
            .first()
        )
    selected_area = form.data.get("area") if form.is_bound else None
    context = {
        "run": shown_run,
        "groups": groups,
        "offset": (page - 1) * PAGE_SIZE,
        "compared": compared,
        "page": page,
        "pages": pages,
        "form": form,
        "own_pending": own_pending,
        "windows": WINDOW_CHOICES,
        "area_options": ledger_forms.area_options(
            user, int(selected_area) if selected_area and str(selected_area).isdigit() else None
        ),
        "category_options": ledger_forms.category_options(),
        "min_authors": hot.MIN_AUTHORS,
    }
    return render(request, "insight/hot/page.html", context, status=status)


@login_required
@require_GET
def hot_run_status(request: HttpRequest, pk: int) -> HttpResponse:
    """The polled status of a run; once it is done or failed the browser goes to its page."""
    user = _user(request)
    _allowed(user)
    run = _run_for(user, pk)
    assert run is not None
    response = render(request, "insight/hot/_run_status.html", {"run": run})
    if run.state in (HotTopicRun.State.DONE, HotTopicRun.State.FAILED) and request.headers.get(
        "HX-Request"
    ):
        response["HX-Redirect"] = f"{reverse('insight:hot')}?run={run.pk}"
    patch_vary_headers(response, ["HX-Request"])
    return response


@login_required
@require_GET
def hot_group(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    _allowed(user)
    shown = hot_group_for_user(user=user, group_id=pk)
    if shown is None:
        raise Http404(_("没有这个热点，或它不在你的权限范围内。"))
    group = shown.group
    needs = list(
        hot_group_visible_needs(user=user, group=group)
        .select_related("area", "lead_unit", "category")
        .only(
            "number",
            "title",
            "status",
            "registered_at",
            "area__name",
            "lead_unit__name",
            "lead_unit__short_name",
            "category__name",
        )
        .order_by("-registered_at", "-id")
    )
    context = {
        "shown": shown,
        "compared": hot_run_compared(group.run),
        "group": group,
        "run": group.run,
        "needs": needs,
        "topic_url": _topic_url(group),
    }
    return render(request, "insight/hot/group.html", context)
