"""/submit: a resident submits a need online (optional per deployment, off by default).

`WENXU_PUBLIC_SUBMIT` turns the page on; while off, /submit and /submit/areas answer 404.

The form works without JavaScript: the area search is a button that comes back with the
matching villages and grids as choices, keeping everything typed; with JavaScript (htmx) the
same choices follow the search box as one types. The resident reads the personal-information
notice and must agree to it. A filled honeypot field gets a page that looks like success and
stores nothing (not even a session). Submissions are rate-limited per client address (IPv6
addresses per /64, what one subscriber gets), per phone, and for the whole deployment per hour
(so that rotating numbers cannot make the site send unlimited text messages); the limit page
(429) keeps what was typed. A stored need redirects to a page with the tracking code, shown
once: the code leaves the session as it is shown (a shared kiosk's next user does not see it).

The area search is public too: rate-limited per address, it answers only queries of at least
one Chinese character or two Latin letters, and matches Latin queries (pinyin) against a list
of areas with their romanisations kept in the cache for a few minutes.
"""

import ipaddress
import logging
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.conf import settings
from django.core.cache import cache
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from wenxu.lib import clientip, ids, pinyin, ratelimit
from wenxu.lib.phones import normalise_phone
from wenxu.needs import services, states
from wenxu.needs.exceptions import InvalidInput
from wenxu.needs.models import Category, Need
from wenxu.needs.services.online import (
    DESCRIPTION_MAX,
    NAME_MAX,
    ONLINE_AREA_LEVELS,
    ONLINE_KINDS,
    online_errors,
)
from wenxu.organisations.models import Area

# Stored submissions per client address and per phone before the page asks to wait.
SUBMITS_PER_ADDRESS = (5, 3600)
SUBMITS_PER_PHONE = (3, 86400)
# All online submissions of the deployment per hour: each sends a text message.
SUBMITS_PER_HOUR_ALL = 200
# Area searches per client address (one per keystroke with JavaScript: generous).
AREA_SEARCHES_PER_ADDRESS = (120, 600)
AREA_RESULTS = 20
# The areas with their pinyin, kept in the cache for Latin (pinyin) queries.
AREA_INDEX_KEY = "wenxu:submit:area-index:v1"
AREA_INDEX_SECONDS = 300
SESSION_KEY = "wenxu_submitted_code"
HONEYPOT = "website"
# The error keys the form shows next to a field; messages for any other key go in the banner.
FIELD_KEYS = frozenset(
    {"kind", "category", "area", "description", "photo", "name", "phone", "consent"}
)

logger = logging.getLogger(__name__)


def _enabled() -> None:
    if not settings.WENXU_PUBLIC_SUBMIT:
        raise Http404


def _client(request: HttpRequest) -> str:
    """The client address as a rate-limit key: an IPv6 address counts as its /64 network,
    as one subscriber is given a whole /64 and could otherwise rotate through it. Behind a
    trusted proxy (WENXU_TRUSTED_PROXIES) the resident's own address, not the proxy's."""
    raw = clientip.client_ip(request) or ""
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return raw
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


# --------------------------------------------------------------------------- area search


@dataclass(frozen=True)
class AreaOption:
    id: int
    name: str
    context: str  # the township (and village, for a grid) it lies in


@dataclass
class AreaResults:
    query: str
    options: list[AreaOption] = field(default_factory=list)
    more: bool = False  # more matched than are shown
    too_short: bool = False  # typed, but too little to search with


# One area of the index: id, name, path, level, initials, pinyin, and the names of the
# township (and village) above with their initials and pinyin.
_Indexed = tuple[int, str, str, str, str, str, tuple[tuple[str, str, str], ...]]


def _ancestor_ids(path: str) -> list[int]:
    return [int(part) for part in path.strip("/").split("/") if part]


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower().replace(" ", "").strip()


def _is_han(char: str) -> bool:
    return "\u4e00" <= char <= "\u9fff" or "\u3400" <= char <= "\u4dbf"


def searchable(query: str) -> bool:
    """At least one Chinese character, or at least two Latin letters."""
    return any(_is_han(c) for c in query) or sum(c.isascii() and c.isalpha() for c in query) >= 2


def _area_index() -> list[_Indexed]:
    """Every village and grid with its romanisations, from the cache (built at most every
    AREA_INDEX_SECONDS: two queries, pinyin computed once for all)."""
    try:
        index: list[_Indexed] | None = cache.get(AREA_INDEX_KEY)
    except Exception:  # a cache server (Redis) that does not answer: build it from the database
        logger.warning("area index: the cache did not answer; reading the areas instead")
        index = None
    if index is not None:
        return index
    rows = list(
        Area.objects.filter(level__in=ONLINE_AREA_LEVELS).values_list("id", "name", "path", "level")
    )
    ancestors = {a for _pk, _name, path, _level in rows for a in _ancestor_ids(path)[:-1]}
    names = dict(
        Area.objects.filter(pk__in=ancestors)
        .exclude(level=Area.Level.COUNTY)
        .values_list("id", "name")
    )
    spelled = {
        pk: (name, pinyin.initials(name), pinyin.spelled(name)) for pk, name in names.items()
    }
    index = [
        (
            pk,
            name,
            path,
            level,
            pinyin.initials(name),
            pinyin.spelled(name),
            tuple(spelled[a] for a in _ancestor_ids(path)[:-1] if a in spelled),
        )
        for pk, name, path, level in rows
    ]
    try:
        cache.set(AREA_INDEX_KEY, index, timeout=AREA_INDEX_SECONDS)
    except Exception:
        logger.warning("area index: the cache did not answer; not kept this time")
    return index


def _latin_rank(entry: _Indexed, q: str) -> int | None:
    """0: the area's own name matches; 1: a place above it does; None: no match."""
    _pk, name, _path, _level, initials, spelled, above = entry
    if q in _fold(name) or q in initials or q in spelled:
        return 0
    if any(q in _fold(n) or q in i or q in s for n, i, s in above):
        return 1
    return None


def _latin_search(query: str, selected: int | None) -> AreaResults:
    """A Latin (pinyin) query against the cached index: no area query per keystroke."""
    results = AreaResults(query=query)
    q = _fold(query)
    ranked: list[tuple[int, int, str, int]] = []
    by_id: dict[int, _Indexed] = {}
    for entry in _area_index():
        pk, _name, path, level = entry[:4]
        rank = -1 if pk == selected else _latin_rank(entry, q)
        if rank is None:
            continue
        by_id[pk] = entry
        ranked.append((rank, 0 if level == Area.Level.VILLAGE else 1, path, pk))
    ranked.sort()
    results.more = len(ranked) > AREA_RESULTS
    for _rank, _level, _path, pk in ranked[:AREA_RESULTS]:
        entry = by_id[pk]
        results.options.append(AreaOption(pk, entry[1], " · ".join(n for n, _i, _s in entry[6])))
    return results


def area_search(query: str, *, selected: int | None = None) -> AreaResults:
    """Villages, communities and grids matching `query` by name (or, typed in Latin letters,
    by pinyin initials or pinyin), or by the name of the township they lie in; at most 20.
    The `selected` area is always listed, so that a new search does not lose the choice."""
    query = query.replace("\x00", "").strip()[:50]  # no NUL: PostgreSQL refuses it (a 500)
    if query and query.isascii() and searchable(query):
        return _latin_search(query, selected)
    results = AreaResults(query=query, too_short=bool(query) and not searchable(query))
    rows: list[tuple[int, str, str, str]] = []
    if query and not results.too_short:
        # Chinese: the database narrows it down (own name, village or township above).
        rows = list(
            Area.objects.filter(level__in=ONLINE_AREA_LEVELS)
            .filter(
                Q(name__icontains=query)
                | Q(parent__name__icontains=query)
                | Q(parent__parent__name__icontains=query)
            )
            .values_list("id", "name", "path", "level")
        )
    if selected is not None:
        rows += list(
            Area.objects.filter(pk=selected, level__in=ONLINE_AREA_LEVELS)
            .exclude(pk__in=[r[0] for r in rows])
            .values_list("id", "name", "path", "level")
        )
    if not rows:
        return results
    ancestors = {a for _pk, _name, path, _level in rows for a in _ancestor_ids(path)[:-1]}
    names = dict(
        Area.objects.filter(pk__in=ancestors)
        .exclude(level=Area.Level.COUNTY)
        .values_list("id", "name")
    )
    ranked: list[tuple[int, int, str, int]] = []
    for pk, name, path, level in rows:
        above = [names[a] for a in _ancestor_ids(path)[:-1] if a in names]
        if pk == selected:
            rank = -1
        elif pinyin.matches(name, query):
            rank = 0
        elif any(pinyin.matches(n, query) for n in above):
            rank = 1
        else:
            continue
        # Villages before their grids: residents know their village first.
        ranked.append((rank, 0 if level == Area.Level.VILLAGE else 1, path, pk))
    ranked.sort()
    results.more = len(ranked) > AREA_RESULTS
    by_id = {pk: (name, path) for pk, name, path, _level in rows}
    for _rank, _level, path, pk in ranked[:AREA_RESULTS]:
        above = [names[a] for a in _ancestor_ids(path)[:-1] if a in names]
        results.options.append(AreaOption(pk, by_id[pk][0], " · ".join(above)))
    return results


# --------------------------------------------------------------------------- categories


@dataclass
class CategoryGroup:
    label: str
    options: list[tuple[int, str]] = field(default_factory=list)


def category_groups() -> list[CategoryGroup]:
    """Active categories grouped under their top-level category (one query)."""
    rows = list(
        Category.objects.filter(active=True)
        .order_by("path")
        .values_list("id", "name", "path", "parent_id")
    )
    names = {pk: name for pk, name, _path, _parent in rows}
    with_children = {parent for _pk, _name, _path, parent in rows if parent}
    groups: dict[int, CategoryGroup] = {}
    loose = CategoryGroup(_("其他"))
    for pk, name, path, _parent in rows:
        chain = [a for a in _ancestor_ids(path) if a in names]
        if len(chain) == 1 and pk in with_children:
            groups.setdefault(pk, CategoryGroup(name))
        elif len(chain) == 1:
            loose.options.append((pk, name))
        else:
            group = groups.setdefault(chain[0], CategoryGroup(names[chain[0]]))
            group.options.append((pk, " / ".join(names[a] for a in chain[1:])))
    result = [g for g in groups.values() if g.options]
    if loose.options:
        result.append(loose)
    return result


# --------------------------------------------------------------------------- the form


def _kind_choices() -> list[tuple[str, str]]:
    return [(str(kind), str(states.Kind(kind).label)) for kind in ONLINE_KINDS]


class SubmitForm(forms.Form):
    """Parses what was posted; the service gives the messages about its content."""

    kind = forms.ChoiceField(choices=_kind_choices, required=False)
    category = forms.IntegerField(required=False)
    area_q = forms.CharField(required=False, max_length=50)
    area = forms.IntegerField(required=False)
    description = forms.CharField(required=False, strip=False)
    name = forms.CharField(required=False)
    phone = forms.CharField(required=False)
    photo = forms.FileField(required=False)
    consent = forms.BooleanField(required=False)
    public_consent = forms.BooleanField(required=False)
    website = forms.CharField(required=False)  # the honeypot: people never see it

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kind"].error_messages["invalid_choice"] = gettext_lazy("请选择诉求类型。")
        self.fields["category"].error_messages["invalid"] = gettext_lazy("请从列表中选择分类。")
        self.fields["area"].error_messages["invalid"] = gettext_lazy("请从搜索结果中选择区域。")

    def value(self, name: str) -> str:
        raw = self[name].value()
        return "" if raw is None else str(raw)

    def chosen_category(self) -> Category | None:
        pk = self.cleaned_data.get("category")
        return Category.objects.filter(pk=pk).first() if pk else None

    def chosen_area(self) -> Area | None:
        pk = self.cleaned_data.get("area")
        return Area.objects.filter(pk=pk).first() if pk else None

    def requester(self) -> services.RequesterInput:
        return services.RequesterInput(
            name=self.cleaned_data.get("name") or "", phone=self.cleaned_data.get("phone") or ""
        )


def _selected(value: object) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def _page(
    request: HttpRequest,
    form: SubmitForm,
    *,
    errors: dict[str, list[str]] | None = None,
    alert: str = "",
    status: int = 200,
    searched: bool = False,
) -> HttpResponse:
    area_id = _selected(form.value("area"))
    query = form.value("area_q")
    errors = errors or {}
    context = {
        "form": form,
        "errors": errors,
        # Messages for keys the form has no place for (e.g. the requester record's own checks):
        # shown in the banner, so that the resident is never told to look for a red mark
        # that is not there.
        "other_errors": [m for key, msgs in errors.items() if key not in FIELD_KEYS for m in msgs],
        "error_count": sum(len(v) for v in errors.values()),
        "field_error_count": sum(len(v) for k, v in errors.items() if k in FIELD_KEYS),
        "alert": alert,
        "areas": area_search(query, selected=area_id) if (query or area_id) else None,
        "area_selected": area_id,
        "searched": searched,
        "category_groups": category_groups(),
        "category_selected": _selected(form.value("category")),
        "kinds": _kind_choices(),
        "kind_selected": form.value("kind") or states.Kind.HELP,
        "photo_dropped": request.method == "POST" and bool(request.FILES) and bool(errors),
        "description_max": DESCRIPTION_MAX,
        "name_max": NAME_MAX,
        "honeypot": HONEYPOT,
    }
    return render(request, "public/submit.html", context, status=status)


def _done(request: HttpRequest, code: str) -> HttpResponse:
    request.session[SESSION_KEY] = code
    return redirect(reverse("public:submit") + "?done=1")


def _done_page(request: HttpRequest, code: str) -> HttpResponse:
    track = reverse("public:track") + "?" + urlencode({"code": code})
    return render(request, "public/submit_done.html", {"code": code, "track_url": track})


def _limit_problem(request: HttpRequest, phone: str) -> str:
    """Why this submission must wait ("" when it may go ahead); counts it against each limit
    it passes."""
    too_often = _(
        "提交太频繁了：同一网络每小时最多提交 %(per_address)d 次，"
        "同一手机号每天最多 %(per_phone)d 次。您填写的内容还在，请过一段时间再提交；"
        "事情紧急的，请直接联系村（社区）工作人员或拨打当地服务热线。"
    ) % {"per_address": SUBMITS_PER_ADDRESS[0], "per_phone": SUBMITS_PER_PHONE[0]}
    if not ratelimit.hit(
        "submit", _client(request), limit=SUBMITS_PER_ADDRESS[0], window=SUBMITS_PER_ADDRESS[1]
    ):
        return too_often
    if not phone:
        return ""
    if not ratelimit.hit(
        "submit-phone", phone, limit=SUBMITS_PER_PHONE[0], window=SUBMITS_PER_PHONE[1]
    ):
        return too_often
    if not ratelimit.hit("submit-all", "all", limit=SUBMITS_PER_HOUR_ALL, window=3600):
        return _(
            "提交太频繁了：这一小时网上提交的诉求已经很多，请过一段时间再提交。您填写的内容"
            "还在；事情紧急的，请直接联系村（社区）工作人员或拨打当地服务热线。"
        )
    return ""


@never_cache
@require_http_methods(["GET", "POST"])
def submit(request: HttpRequest) -> HttpResponse:
    """网上反映诉求: the form, its area search without JavaScript, and the stored result."""
    _enabled()
    if request.method == "GET":
        # Shown once: the code leaves the session with this page.
        code = request.session.pop(SESSION_KEY, None) if request.GET.get("done") else None
        if code:
            return _done_page(request, str(code))
        initial = {"area": _selected(request.GET.get("area")), "kind": states.Kind.HELP}
        return _page(request, SubmitForm(initial=initial))

    form = SubmitForm(request.POST, request.FILES)
    if request.POST.get(HONEYPOT, "").strip():
        # A robot filled the field people cannot see: look like success, store nothing (no
        # session either: the made-up code is shown at once).
        _limit_problem(request, "")
        return _done_page(request, ids.tracking_code())
    if "find_area" in request.POST:
        return _page(request, form, searched=True)
    if not form.is_valid():
        return _page(request, form, errors={k: [str(e) for e in v] for k, v in form.errors.items()})

    values: dict[str, Any] = {
        "description": form.cleaned_data["description"] or "",
        "category": form.chosen_category(),
        "area": form.chosen_area(),
        "requester": form.requester(),
        "kind": form.cleaned_data["kind"] or states.Kind.HELP,
    }
    errors = online_errors(**values)
    if not form.cleaned_data["consent"]:
        errors["consent"] = [_("请阅读上面的个人信息说明，勾选同意后再提交。")]
    if errors:
        return _page(request, form, errors=errors)

    phone = normalise_phone(values["requester"].phone)
    problem = _limit_problem(request, phone)
    if problem:
        return _page(request, form, alert=problem, status=429)
    try:
        need: Need = services.need_submit_online(
            **values,
            public_consent=form.cleaned_data["public_consent"],
            photo=form.cleaned_data.get("photo"),
        )
    except InvalidInput as exc:
        return _page(request, form, errors=exc.errors)
    return _done(request, need.tracking_code)


@never_cache
@require_GET
def submit_areas(request: HttpRequest) -> HttpResponse:
    """The villages and grids matching ?q= (or ?area_q=): the choices for the form (htmx), or
    a small page of links that open the form with the area chosen."""
    _enabled()
    query = (request.GET.get("q") or request.GET.get("area_q") or "").strip()[:50]
    selected = _selected(request.GET.get("area"))
    limit, window = AREA_SEARCHES_PER_ADDRESS
    limited = not ratelimit.hit("submit-areas", _client(request), limit=limit, window=window)
    results = AreaResults(query=query) if limited else area_search(query, selected=selected)
    if getattr(request, "htmx", False):
        # 200 even when limited: htmx discards a 429, and the message must replace the list.
        context = {"areas": results, "area_selected": selected, "searched": True}
        return render(request, "public/submit_areas.html", {**context, "limited": limited})
    status = 429 if limited else 200
    return render(
        request,
        "public/submit_areas_page.html",
        {"areas": results, "limited": limited},
        status=status,
    )
