"""我的走访 and a visit's page: what became of each need a visit raised, so that the officer can
tell the residents on the next visit. Photos are served only here, through the visit's scope.

Every read goes through `wenxu.visits.selectors` (out of scope: 404). The list counts each
visit's needs with one aggregate query (only the needs the viewer may see), so a page costs the
same number of queries whatever its length.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Exists, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from wenxu.accounts.models import AREA_ROLES, User
from wenxu.accounts.selectors import user_roles
from wenxu.lib import clock
from wenxu.lib.private_files import private_file_response
from wenxu.needs import states
from wenxu.needs.exceptions import InvalidInput, NotFound
from wenxu.needs.models import Need, NeedEvent
from wenxu.needs.selectors import COUNT_CAP, keyset_page, need_queryset_for_user
from wenxu.organisations.models import Area
from wenxu.visits import periods, selectors
from wenxu.visits.models import Mood, Visit, VisitKind, VisitPhoto
from wenxu.visits.services import may_record_visit

PAGE_SIZE = 25
ORDER = ("-started_at", "-id")  # newest first; the list pages by cursor (keyset) in this order

# A need's state as the officer tells it to the residents.
_CLOSED = (states.Status.CLOSED,)
_ANSWERED = (states.Status.REPLIED, states.Status.FOLLOWING)
_PENDING = (states.Status.REGISTERED, states.Status.ASSIGNED, states.Status.IN_PROGRESS)

PERIODS: tuple[tuple[str, Any], ...] = (
    ("", gettext_lazy("全部时间")),
    ("week", gettext_lazy("近 7 天")),
    ("month", gettext_lazy("近 30 天")),
    ("quarter", gettext_lazy("本季度")),
    ("year", gettext_lazy("本年")),
)
NEEDS_CHOICES: tuple[tuple[str, Any], ...] = (
    ("", gettext_lazy("不限")),
    ("with", gettext_lazy("登记了诉求")),
    ("without", gettext_lazy("未登记诉求")),
)
SCOPES: tuple[tuple[str, Any], ...] = (
    ("mine", gettext_lazy("我的走访")),
    ("all", gettext_lazy("辖区全部")),
)


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _may_see_visits(user: User) -> bool:
    return bool(user_roles(user) & AREA_ROLES)


class VisitFilterForm(forms.Form):
    """The list's query string. A value it cannot use is dropped with a message, never a 500."""

    scope = forms.ChoiceField(choices=SCOPES, required=False)
    period = forms.ChoiceField(choices=PERIODS, required=False)
    kind = forms.ChoiceField(choices=[("", ""), *list(VisitKind.choices)], required=False)
    area = forms.IntegerField(required=False, min_value=1)
    needs = forms.ChoiceField(choices=NEEDS_CHOICES, required=False)
    mood = forms.TypedChoiceField(
        choices=[("", "")] + [(str(v), label) for v, label in Mood.choices],
        coerce=int,
        empty_value=None,
        required=False,
    )
    cursor = forms.CharField(required=False, max_length=500)

    def values(self) -> dict[str, Any]:
        """The valid values; each invalid field falls back to "not filtered"."""
        self.is_valid()
        cleaned = getattr(self, "cleaned_data", {})
        return {name: cleaned.get(name) for name in self.fields if name not in self.errors}


def _period_start(period: str, today: date) -> date | None:
    if period == "week":
        return today - timedelta(days=6)
    if period == "month":
        return today - timedelta(days=29)
    if period == "quarter":
        return periods.quarter_window(today).first_day  # the coverage page's 本季度
    if period == "year":
        return periods.year_window(today).first_day
    return None


def _start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, datetime.min.time()))


def _mine(user: User) -> Q:
    went = Visit.officers.through.objects.filter(visit_id=OuterRef("pk"), user_id=user.pk)
    return Q(recorded_by=user) | Q(Exists(went))


def _with_counts(qs: QuerySet[Visit], user: User) -> QuerySet[Visit]:
    """Each visit's needs by how far they got: only needs the viewer may see are counted."""
    visible = Q(needs__in=need_queryset_for_user(user=user).values("pk"))
    photos = (
        VisitPhoto.objects.filter(visit_id=OuterRef("pk"))
        .order_by()
        .values("visit_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return qs.annotate(
        needs_total=Count("needs", filter=visible),
        needs_closed=Count("needs", filter=visible & Q(needs__status__in=_CLOSED)),
        needs_answered=Count("needs", filter=visible & Q(needs__status__in=_ANSWERED)),
        needs_pending=Count("needs", filter=visible & Q(needs__status__in=_PENDING)),
        needs_on_the_spot=Count(
            "needs", filter=visible & Q(needs__handling=states.Handling.ON_THE_SPOT)
        ),
        needs_observed_open=Count(
            "needs",
            filter=visible
            & Q(needs__source=states.Source.OBSERVED, needs__observed_confirmed_at__isnull=True),
        ),
        photo_count=Coalesce(Subquery(photos, output_field=IntegerField()), 0),
    )


def visit_list_queryset(user: User, values: dict[str, Any]) -> QuerySet[Visit]:
    """The visits the list shows, filtered, without what each row displays (`_for_rows`)."""
    qs = selectors.visit_queryset_for_user(user=user)
    if values.get("scope") == "mine":
        qs = qs.filter(_mine(user))
    start = _period_start(values.get("period") or "", clock.today())
    if start is not None:
        qs = qs.filter(started_at__gte=_start_of(start))
    if values.get("kind"):
        qs = qs.filter(kind=values["kind"])
    area = values.get("area_obj")
    if area is not None:
        qs = qs.filter(area__path__startswith=area.path)
    if values.get("mood"):
        qs = qs.filter(mood=values["mood"])
    visible_needs = need_queryset_for_user(user=user).filter(visit_id=OuterRef("pk"))
    if values.get("needs") == "with":
        qs = qs.filter(Exists(visible_needs))
    elif values.get("needs") == "without":
        qs = qs.filter(~Exists(visible_needs))
    return qs


def _page(qs: QuerySet[Visit], user: User, cursor: str | None) -> tuple[list[Visit], str | None]:
    """One page of `qs` after `cursor`, each visit with its need counts, place and officers:
    the counts are aggregated for the visits of the page only."""

    def rows(chosen: QuerySet[Visit]) -> list[Visit]:
        return list(
            _with_counts(Visit.objects.filter(pk__in=chosen), user)
            .select_related("area", "place")
            .prefetch_related("officers")
            .order_by(*ORDER)
        )

    return keyset_page(qs, ORDER, cursor, PAGE_SIZE, rows=rows)


def _default_scope(user: User) -> str:
    """Officers start on their own visits; dispatchers and leaders on their whole scope."""
    roles = user_roles(user)
    if states.OFFICER in roles and not roles & {states.DISPATCHER, states.LEADER, "admin"}:
        return "mine"
    return "all"


def _query(values: dict[str, Any], **changes: Any) -> str:
    merged = {**values, **changes}
    pairs = [
        (name, merged[name])
        for name in ("scope", "period", "kind", "area", "needs", "mood", "cursor")
        if merged.get(name) not in (None, "")
    ]
    return urlencode(pairs)


@login_required
@require_GET
def visit_list(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    if not _may_see_visits(user):
        raise PermissionDenied(_("走访记录只对区域内的干部、调度和领导开放。"))
    form = VisitFilterForm(request.GET)
    values = form.values()
    problems = [str(error) for errors in form.errors.values() for error in errors]
    values["scope"] = values.get("scope") or _default_scope(user)
    areas = list(selectors.areas_for_user(user=user))
    if values.get("area") is not None:
        values["area_obj"] = next((a for a in areas if a.pk == values["area"]), None)
        if values["area_obj"] is None:
            problems.append(_("所选区域不在您的范围内，已忽略。"))
            values["area"] = None

    qs = visit_list_queryset(user, values)
    cursor = values.get("cursor") or None
    try:
        visits, next_cursor = _page(qs, user, cursor)
    except InvalidInput as error:
        problems += [message for messages in error.errors.values() for message in messages]
        cursor = None
        visits, next_cursor = _page(qs, user, cursor)
    count = qs.order_by()[: COUNT_CAP + 1].count()
    state = {k: v for k, v in values.items() if k not in ("area_obj", "cursor")}
    base = reverse("visits:list")
    context = {
        "visits": visits,
        "count": min(count, COUNT_CAP),
        "count_capped": count > COUNT_CAP,
        "values": state,
        "problems": problems,
        "scopes": SCOPES,
        "periods": PERIODS,
        "kinds": VisitKind.choices,
        "moods": Mood.choices,
        "needs_choices": NEEDS_CHOICES,
        "area_options": [{"id": a.pk, "label": "\u3000" * a.depth + a.name} for a in areas],
        "may_record": may_record_visit(user),
        "scope_links": [
            (key, label, f"{base}?{_query(state, scope=key)}") for key, label in SCOPES
        ],
        "clear_url": f"{base}?{_query({'scope': state['scope']})}",
        "first_url": f"{base}?{_query(state)}" if cursor else "",
        "next_url": f"{base}?{_query(state, cursor=next_cursor)}" if next_cursor else "",
        "active_filters": sum(
            1 for key in ("period", "kind", "area", "needs", "mood") if state.get(key)
        ),
    }
    return render(request, "visits/list.html", context)


# --------------------------------------------------------------------------- detail


@dataclass(frozen=True)
class NeedRow:
    """One need the visit raised, as the officer will tell it to the residents."""

    need: Need
    latest: str  # the reply, or the latest progress note, or ""
    latest_label: str
    latest_at: datetime | None


def _need_rows(needs: list[Need]) -> list[NeedRow]:
    progress: dict[int, NeedEvent] = {}
    if needs:
        events = NeedEvent.objects.filter(
            need_id__in=[n.pk for n in needs], action=states.Action.PROGRESS
        ).order_by("need_id", "-seq")
        for event in events.only("need_id", "seq", "note", "created_at"):
            progress.setdefault(event.need_id, event)
    rows = []
    for need in needs:
        if need.replied_at and need.reply_text:
            rows.append(NeedRow(need, need.reply_text, _("答复"), need.replied_at))
        elif need.pk in progress and progress[need.pk].note:
            event = progress[need.pk]
            rows.append(NeedRow(need, event.note, _("最新进展"), event.created_at))
        else:
            rows.append(NeedRow(need, "", "", None))
    return rows


@login_required
@require_GET
def visit_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    visit = selectors.visit_get_for_user(user=user, pk=pk)
    needs = selectors.visit_needs_for_user(user=user, visit=visit)
    area_path = Area.objects.filter(pk__in=visit.area.ancestors_and_self_ids()).order_by("path")
    again = reverse("visits:capture")
    query: dict[str, Any] = {"area": visit.area_id}
    if visit.place_id is not None:
        query["place"] = visit.place_id
    context = {
        "visit": visit,
        "area_path": list(area_path),
        "officers": list(visit.officers.all()),
        "photos": list(visit.photos.all()),
        "rows": _need_rows(needs),
        "counts": {
            "total": len(needs),
            "closed": sum(1 for n in needs if n.status in _CLOSED),
            "answered": sum(1 for n in needs if n.status in _ANSWERED),
            "pending": sum(1 for n in needs if n.status in _PENDING),
        },
        "senses": [
            (label, getattr(visit, name), getattr(visit, f"get_{name}_display")())
            for name, label in (
                ("sense_gain", _("获得感")),
                ("sense_happiness", _("幸福感")),
                ("sense_security", _("安全感")),
            )
            if getattr(visit, name) is not None
        ],
        "again_url": f"{again}?{urlencode(query)}" if may_record_visit(user, visit.area) else "",
    }
    return render(request, "visits/detail.html", context)


# --------------------------------------------------------------------------- photos


@login_required
@require_GET
def visit_photo(request: HttpRequest, pk: int, photo: int) -> FileResponse:
    """A visit's photo, only for those who may see the visit; `?thumb=1` gives the small one.

    There is no public URL for MEDIA_ROOT: a photo of a resident's home is personal data.
    """
    try:
        visit = selectors.visit_get_for_user(user=_user(request), pk=pk)
    except NotFound as exc:
        raise Http404() from exc
    found = next((p for p in visit.photos.all() if p.pk == photo), None)
    if found is None:
        raise Http404()
    thumb = bool(request.GET.get("thumb") and found.thumbnail)
    return private_file_response(
        stored=found.thumbnail if thumb else found.file,
        content_type="image/jpeg" if thumb else found.content_type,
        original_name=found.original_name,
        inline=True,
    )
