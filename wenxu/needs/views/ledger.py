"""台账 (the ledger list), bulk assign and the search box: thin adapters over the selectors and
`services.need_assign`.

The ledger answers an htmx request (a filter changed, the next page) with the results fragment
only, and any other request with the whole page, so it works without JavaScript and a pushed
URL reloads to the same view.
"""

import dataclasses
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.safestring import mark_safe
from django.utils.translation import get_language, ngettext
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from wenxu.accounts.models import User
from wenxu.accounts.selectors import roles_over_area, scopes_for_user, user_roles
from wenxu.core import frames, generation
from wenxu.lib import clock
from wenxu.lib.text import join_list
from wenxu.needs import ledger_forms, ledger_kept, selectors, services, states
from wenxu.needs.exceptions import DomainError, InvalidInput, NotFound
from wenxu.needs.models import Urgency
from wenxu.organisations.models import Unit
from wenxu.residents import reveal

# Needs a page shows; the next by cursor. Twenty fit a laptop's screen and a phone's scroll, and
# the page's time is mostly rendering its rows (each twice: the table and the phone cards).
PAGE_SIZE = 20
BULK_LIMIT = 200  # needs per bulk assign: a few pages' worth
RESULTS_ID = "ledger-results"
# The query-string keys of the filters (all but the cursor), in the order links show them.
FILTER_KEYS = (
    "q",
    "status",
    "unit",
    "area",
    "category",
    "urgency",
    "source",
    "overdue",
    "due_soon",
    "supervised",
    "extension_pending",
    "date_from",
    "date_to",
    "sort",
)
# Selector error keys → the NeedFilters field to drop so the rest of the filters still apply.
_FILTER_FIELD = {
    "status": "status",
    "unit": "unit",
    "area": "area",
    "category": "category",
    "urgency": "urgency",
    "source": "source",
    "registered_to": "registered_to",
    "q": "q",
}


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _query(data: QueryDict) -> str:
    """The filters of `data` as a query string: known keys, non-empty values, no cursor, and
    no default sort."""
    pairs = [
        (key, value)
        for key in FILTER_KEYS
        for value in data.getlist(key)
        if value.strip() and (key, value) != ("sort", selectors.SORT_TIME)
    ]
    return urlencode(pairs)


def _ledger_url(query: str, cursor: str | None = None) -> str:
    url = reverse("needs:ledger")
    query = "&".join(
        part for part in (query, urlencode({"cursor": cursor}) if cursor else "") if part
    )
    return f"{url}?{query}" if query else url


def _page(
    user: User, filters: selectors.NeedFilters, sort: str, cursor: str | None
) -> tuple[selectors.LedgerPage, list[str]]:
    """The page, leaving out each condition the selector refuses (with its message)."""
    problems: list[str] = []
    while True:
        try:
            page = selectors.need_ledger_page_for_user(
                user=user, filters=filters, sort=sort, cursor=cursor, limit=PAGE_SIZE
            )
            return page, problems
        except InvalidInput as error:
            problems.extend(message for messages in error.errors.values() for message in messages)
            drop: dict[str, Any] = {
                _FILTER_FIELD[key]: None for key in error.errors if key in _FILTER_FIELD
            }
            if not drop and "cursor" not in error.errors and "sort" not in error.errors:
                raise
            filters = dataclasses.replace(filters, **drop)
            cursor = None if "cursor" in error.errors else cursor
            sort = selectors.SORT_TIME if "sort" in error.errors else sort


def _render_ledger(request: HttpRequest, data: QueryDict, *, search_q: str = "") -> HttpResponse:
    user = _user(request)
    read = _read_filters(data)
    problems = list(read.problems)
    filters, sort, cursor = read.filters, read.sort, read.cursor
    roles = user_roles(user)
    can_bulk_assign = states.DISPATCHER in roles
    query = _query(data)

    # A handler's results, kept under the ledger marks of their units (ADR 0028); rendered
    # here when not kept, or for anyone else.
    key: tuple[Any, ...] | None = None
    if not problems and not can_bulk_assign:
        marks = ledger_kept.marks_key(user)
        if marks is not None:
            key = ("ledger", generation.current(), user.pk, get_language(), query, cursor, marks)
    results_html = ledger_kept.kept(key) if key is not None else None
    if results_html is None:
        made = clock.now()
        results_html, refused = _results(
            request, user, roles, filters, sort, cursor, query, problems
        )
        if key is not None and not refused:
            ledger_kept.keep(key, results_html, made=made)

    partial = request.htmx and not request.htmx.history_restore_request  # type: ignore[attr-defined]
    if partial:
        response = HttpResponse(results_html)
        # The address bar shows the filters people chose, not every empty field of the form.
        response["HX-Push-Url"] = _ledger_url(query, cursor)
    else:
        context = _frame(user, roles, data, read, query, search_q, results_html)
        html = frames.render_framed(
            request,
            "needs/ledger.html",
            context,
            # What the frame shows besides the viewer and its holes: the nav and 导入 follow
            # the roles, the export menu's 包含完整个人信息 the reveal permission.
            key=(frozenset(roles), reveal.may_reveal_personal_data(user)),
            holes={name: context[name] for name in _FRAME_HOLES},
        )
        response = HttpResponse(html)
    patch_vary_headers(response, ["HX-Request"])
    return response


def _results(
    request: HttpRequest,
    user: User,
    roles: set[str],
    filters: selectors.NeedFilters,
    sort: str,
    cursor: str | None,
    query: str,
    problems: list[str],
) -> tuple[str, list[str]]:
    """The results (count, rows, paging) rendered, and the filter conditions the selector
    refused (already among the problems they show)."""
    page, refused = _page(user, filters, sort, cursor)
    can_bulk_assign = states.DISPATCHER in roles
    assignable = {
        need.number
        for need in page.needs
        if can_bulk_assign
        and need.status == states.Status.REGISTERED
        and states.DISPATCHER in roles_over_area(user, need.area.path)
    }
    units = ledger_forms.unit_options()
    context = {
        "page": page,
        "problems": problems + refused,
        "assignable": assignable,
        "assign_units": [unit for unit in units if unit.active] if assignable else [],
        "query": query,
        "next_url": _ledger_url(query, page.next_cursor) if page.next_cursor else None,
        "first_url": _ledger_url(query) if cursor else None,
        "results_id": RESULTS_ID,
    }
    return render_to_string("needs/ledger_results.html", context, request), refused


@dataclass(frozen=True)
class _Read:
    """What the filter form made of a query."""

    problems: tuple[str, ...]
    filters: selectors.NeedFilters
    sort: str
    cursor: str | None
    cleaned: Mapping[str, Any]
    sorts: tuple[tuple[str, str], ...]


# The filter form's reading of recent queries, per process: a function of the query and the
# language, and building and cleaning the form (its fields copied, fifteen of them) was ~6 % of
# B9's server time.
_READS = generation.Kept(2_000)


def _read_filters(data: QueryDict) -> _Read:
    def read() -> _Read:
        form = ledger_forms.LedgerFilterForm(data)
        form.is_valid()
        return _Read(
            problems=tuple(form.problems()),
            filters=form.filters(),
            sort=form.chosen_sort(),
            cursor=form.cleaned_data.get("cursor") or None,
            cleaned=MappingProxyType(dict(form.cleaned_data)),
            sorts=tuple((value, str(label)) for value, label in form.fields["sort"].choices),  # type: ignore[attr-defined]
        )

    query = tuple(sorted((name, tuple(data.getlist(name))) for name in data))
    return generation.remember("ledger_read", (get_language(), query), read, store=_READS)


def _frame(
    user: User,
    roles: set[str],
    data: QueryDict,
    read: _Read,
    query: str,
    search_q: str,
    results_html: str,
) -> dict[str, Any]:
    """What the whole page shows around its results: the heading, export and import, the
    filter panel."""
    cleaned = read.cleaned
    sort = read.sort
    export_url = reverse("exchange:ledger_export")
    context = {
        # 导入台账: officers and dispatchers register needs, so they may import them.
        "may_import": bool(roles & {states.OFFICER, states.DISPATCHER}),
        "values": {
            "q": data.get("q", ""),
            "status": set(cleaned.get("status") or ()),
            "unit": cleaned.get("unit"),
            "area": cleaned.get("area"),
            "category": cleaned.get("category"),
            "urgency": cleaned.get("urgency") or "",
            "source": cleaned.get("source") or "",
            "overdue": bool(cleaned.get("overdue")),
            "due_soon": bool(cleaned.get("due_soon")),
            "supervised": bool(cleaned.get("supervised")),
            "extension_pending": bool(cleaned.get("extension_pending")),
            "date_from": data.get("date_from", ""),
            "date_to": data.get("date_to", ""),
            "sort": sort,
        },
        "active_filters": sum(
            1 for key in FILTER_KEYS if key not in ("q", "sort") and data.get(key, "").strip()
        ),
        "statuses": states.Status.choices,
        "urgencies": Urgency.choices,
        "sources": states.Source.choices,
        "sorts": read.sorts,
        "area_options": ledger_forms.area_options(user, cleaned.get("area")),
        "unit_options": ledger_forms.unit_options(),
        "category_options": ledger_forms.category_options(),
        "export_action": f"{export_url}?{query}" if query else export_url,
        "results_id": RESULTS_ID,
        "results_html": mark_safe(results_html),  # noqa: S308 - rendered by the template engine
        "search_q": search_q,
    }
    context["filters_html"] = _filters_html(user, context)
    return context


# The whole page's parts that change with each request (wenxu.core.frames, ADR 0029): the
# results, the filter panel (kept or rendered on their own), the keyword in the search box and
# the export menu's address, which carries the filters.
_FRAME_HOLES = ("results_html", "filters_html", "search_q", "export_action")
# What the filter panel (needs/_ledger_filters.html) reads of the page's context.
_FILTER_PANEL = (
    "values",
    "active_filters",
    "results_id",
    "statuses",
    "urgencies",
    "sources",
    "sorts",
    "area_options",
    "unit_options",
    "category_options",
)
# The panel's values a user types (any text): holes; the others are choices from bounded lists.
_TYPED = ("q", "date_from", "date_to")
# Rendered panels kept per process, apart from the small kept values: a city's panel is ~30,000
# characters (its unit and area lists), so at most ~60 MB.
_PANELS = generation.Kept(1_000)


def _filters_html(user: User, context: dict[str, Any]) -> str:
    """The filter panel, rendered once per language, choice of filters and area line, and kept
    between requests (ADR 0026): it is the same for every viewer with the same areas, and
    its option lists (a city's units and areas) were a tenth of the page's time. The lists
    come from tables the configuration generation watches; the rest of its input is the key.
    What a user types (a keyword, dates) goes into holes (`frames.render_kept`): a keyword
    search rendered the whole panel, ~30,000 characters for a city, each time."""
    values = context["values"]
    chosen = {name: value for name, value in values.items() if name not in _TYPED}

    def panel(marks: Mapping[str, str]) -> dict[str, Any]:
        return {
            **{name: context[name] for name in _FILTER_PANEL},
            "values": {**chosen, **marks},
        }

    key = (
        tuple(s.area_path for s in scopes_for_user(user) if s.area_path),
        tuple((name, tuple(sorted(v)) if isinstance(v, set) else v) for name, v in chosen.items()),
        context["active_filters"],
    )
    return frames.render_kept(
        "needs/_ledger_filters.html",
        panel,
        key=key,
        holes={name: str(values[name]) for name in _TYPED},
        store=_PANELS,
    )


@login_required
@require_GET
def ledger(request: HttpRequest) -> HttpResponse:
    return _render_ledger(request, request.GET)


@login_required
@require_GET
def search(request: HttpRequest) -> HttpResponse:
    """A ledger number or tracking code in scope opens the need; anything else is a keyword."""
    text = request.GET.get("q", "").strip()
    # A NUL names no need (and PostgreSQL refuses it in a query): the ledger's filter form
    # below tells the user what is wrong with the text.
    found = text and "\x00" not in text
    number = selectors.need_find_for_user(user=_user(request), text=text) if found else None
    if number is not None:
        return redirect(reverse("needs:detail", args=[number]))
    data = QueryDict(mutable=True)
    if text:
        data["q"] = text
    return _render_ledger(request, data, search_q=text)


# --------------------------------------------------------------------------- bulk assign


def _parse_selection(values: list[str]) -> tuple[dict[str, int], list[str]]:
    """`"WX-2026-000123:4"` → number and the version the dispatcher saw; the rest refused."""
    chosen: dict[str, int] = {}
    refused: list[str] = []
    for value in values:
        number, _sep, version = value.strip().rpartition(":")
        if not number or not version.isdigit() or int(version) < 1:
            refused.append(value)
            continue
        chosen.setdefault(number.upper(), int(version))
    return chosen, refused


def _ids(values: list[str]) -> list[int] | None:
    try:
        return list(dict.fromkeys(int(value) for value in values if value.strip()))
    except ValueError:
        return None


@login_required
@require_POST
def bulk_assign(request: HttpRequest) -> HttpResponse:
    """交办 each selected need to the same units, each in its own transaction: one refused need
    (changed meanwhile, out of scope, already assigned) is reported and the others go ahead."""
    user = _user(request)
    if states.DISPATCHER not in user_roles(user):
        raise PermissionDenied(_("只有调度员可以批量交办。"))
    back = _ledger_url(_query(QueryDict(request.POST.get("filters", ""))))

    chosen, refused = _parse_selection(request.POST.getlist("need"))
    lead_ids = _ids([request.POST.get("lead_unit", "")])
    co_ids = _ids(request.POST.getlist("co_units"))
    lead = Unit.objects.filter(pk=lead_ids[0]).first() if lead_ids else None
    co = list(Unit.objects.in_bulk(co_ids or []).values())
    problems: list[str] = []
    if not chosen:
        problems.append(_("请至少勾选一条待交办的诉求。"))
    if len(chosen) > BULK_LIMIT:
        problems.append(_("一次最多交办 %(limit)d 条诉求，请分批操作。") % {"limit": BULK_LIMIT})
    if lead is None:
        problems.append(_("请选择主办单位。"))
    if co_ids is None or len(co) != len(co_ids):
        problems.append(_("协办单位中有不存在的单位，请重新选择。"))
    if problems:
        for problem in problems:
            messages.error(request, problem)
        return redirect(back)
    assert lead is not None

    found = selectors.needs_by_number_for_user(user=user, numbers=list(chosen))
    done: list[str] = []
    failed: dict[str, list[str]] = defaultdict(list)  # reason → numbers
    for number, version in chosen.items():
        need = found.get(number)
        try:
            if need is None:
                raise NotFound()  # out of scope reads exactly like nonexistent
            services.need_assign(
                actor=user, need=need.pk, version=version, lead_unit=lead, co_units=co
            )
        except DomainError as error:
            failed[error.message].append(need.number if need else number)
        else:
            done.append(number)

    if done:
        messages.success(
            request,
            ngettext(
                "已交办 %(n)d 条诉求给%(unit)s：%(numbers)s",
                "已交办 %(n)d 条诉求给%(unit)s：%(numbers)s",
                len(done),
            )
            % {"n": len(done), "unit": lead, "numbers": join_list(done)},
        )
    for reason, numbers in failed.items():
        messages.error(
            request,
            _("%(numbers)s 未交办：%(reason)s") % {"numbers": join_list(numbers), "reason": reason},
        )
    if refused:
        messages.error(
            request,
            _("无法识别的选择已跳过：%(values)s") % {"values": join_list(refused)},
        )
    return redirect(back)
