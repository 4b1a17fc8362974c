"""可能相同或相似的诉求: the htmx partials of the capture form and of the need page.

Staff only (a user with at least one role), through the viewer's scope; they show ledger
numbers, titles, status, area, unit and topics, never anything about the requester.
"""

from dataclasses import dataclass

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from wenxu.accounts.models import User
from wenxu.accounts.selectors import user_roles
from wenxu.insight.similar import SimilarNeed, similar_needs, similar_to_need
from wenxu.insight.text import need_text
from wenxu.needs import permissions, selectors, states
from wenxu.needs.states import Action

# The capture form sends what has been typed so far; more than this adds nothing.
MAX_TEXT = 2000


def _staff(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    if not user_roles(user):
        raise PermissionDenied(_("只有工作人员可以查看相似诉求。"))
    return user


def _int(value: str | None) -> int | None:
    try:
        return int(value or "")
    except ValueError:
        return None


def _url(name: str, *args: object) -> str:
    """The URL, or "" while the route does not exist (the topics app may be switched off)."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return ""


@dataclass(frozen=True)
class TopicLink:
    title: str
    url: str


@dataclass(frozen=True)
class Row:
    need: SimilarNeed
    url: str
    merge_url: str
    attach_url: str
    topics: list[TopicLink]


def _rows(
    user: User, items: list[SimilarNeed], *, merge_base: str = "", attach: bool = False
) -> list[Row]:
    attach_base = _url("topics:attach") if attach else ""
    rows = []
    for item in items:
        topics = []
        for topic in item.topics:
            url = _url("topics:detail", topic.id)
            topics.append(TopicLink(topic.title, url))
        rows.append(
            Row(
                need=item,
                url=reverse("needs:detail", args=[item.number]),
                merge_url=(
                    f"{merge_base}?open=merge&into={item.number}#act-merge"
                    if merge_base and item.status in states.ACTIVE
                    else ""
                ),
                attach_url=f"{attach_base}?need={item.number}" if attach_base else "",
                topics=topics,
            )
        )
    return rows


@login_required
@require_POST
def similar_capture(request: HttpRequest) -> HttpResponse:
    """The needs like the one being typed into the capture form (htmx, on a pause in typing).

    POST, with the CSRF token: what is typed often holds names, phone numbers and addresses,
    and a query string would put it into access logs."""
    user = _staff(request)
    title = request.POST.get("title", "")[:MAX_TEXT]
    description = request.POST.get("description", "")[:MAX_TEXT]
    items = similar_needs(
        user=user,
        text=need_text(title, description),
        area_id=_int(request.POST.get("area")),
        category_id=_int(request.POST.get("category")),
    )
    return render(request, "insight/similar/_capture.html", {"rows": _rows(user, items)})


def _may_attach(user: User) -> bool:
    try:
        from wenxu.topics.selectors import may_create
    except ImportError:  # pragma: no cover - the topics app is part of the project
        return False
    return may_create(user)


@login_required
@require_GET
def similar_need(request: HttpRequest, number: str) -> HttpResponse:
    """The needs like this one, on its page: merge into one of them, or put it in a topic."""
    user = _staff(request)
    need = selectors.need_get_for_user(user=user, number=number, with_events=False)
    items = similar_to_need(user=user, need=need)
    merge_base = ""
    if Action.MERGE in permissions.available_actions(user, need):
        # The merge form opens with `into` filled by similar.js; `into` in the URL is for a
        # page that reads it (without JavaScript).
        merge_base = reverse("needs:detail", args=[need.number])
    context = {
        "need": need,
        "rows": _rows(user, items, merge_base=merge_base, attach=_may_attach(user)),
    }
    return render(request, "insight/similar/_need.html", context)
