"""Every read of needs goes through here, scoped to the viewer (DESIGN §2).

A user sees a need when its area lies in one of their area scopes, or it is assigned (lead or
co) to one of their units or a sub-unit, or they recorded it. A criticism or complaint about a
unit (`Need.about_unit`) is not seen through unit scopes on that unit's line (the unit, the
units above it, the units under it) until a dispatcher discloses it (issue #9).
"""

import base64
import binascii
import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Exists, F, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from wenxu.accounts.models import AREA_ROLES, User
from wenxu.accounts.selectors import scopes_for_user
from wenxu.lib import clock
from wenxu.needs import deadlines, states
from wenxu.needs.exceptions import InvalidInput, NotFound
from wenxu.needs.models import Need, NeedEvent, Urgency
from wenxu.organisations.models import Area, Unit, under_q
from wenxu.residents import pii
from wenxu.residents.models import Requester


def scope_q(user: User) -> Q:
    """The Q that selects exactly the needs `user` may see (an empty match when none).

    One condition for the database, whatever the number of scopes: what the unit scopes show
    is cut by `criticism_hidden_q` (an uncorrelated subquery on the unit tree), never per row.
    """
    q = Q(recorded_by=user)
    through_units: Q | None = None
    for scope in scopes_for_user(user):
        if scope.area_path:
            q |= Q(area__path__startswith=scope.area_path)
        if scope.unit_path:
            here = Q(lead_unit__path__startswith=scope.unit_path) | Q(
                Exists(
                    Need.co_units.through.objects.filter(
                        need_id=OuterRef("pk"), unit__path__startswith=scope.unit_path
                    )
                )
            )
            through_units = here if through_units is None else through_units | here
    if through_units is not None:
        hidden = criticism_hidden_q(unit_scope_paths(user))
        q |= through_units & ~hidden if hidden is not None else through_units
    return q


# --------------------------------------------------------------------------- 批评/投诉 about a unit


def unit_scope_paths(user: User) -> list[str]:
    """The unit subtrees the user works in (handlers, unit leaders): who they are staff of."""
    return [scope.unit_path for scope in scopes_for_user(user) if scope.unit_path]


def on_the_line(path: str, other: str) -> bool:
    """Whether two units are one, or one lies above the other: a unit's line."""
    return path.startswith(other) or other.startswith(path)


def _ancestor_paths(path: str) -> list[str]:
    """The paths of the units above `path`: "/a/b/c/" gives "/a/" and "/a/b/"."""
    parts = [part for part in path.split("/") if part]
    return ["/" + "/".join(parts[:i]) + "/" for i in range(1, len(parts))]


def units_on_the_lines_q(paths: list[str]) -> Q:
    """Units on the line of any of `paths` (the unit itself, its sub-units, the units above)."""
    above = sorted({ancestor for path in paths for ancestor in _ancestor_paths(path)})
    return under_q(paths) | Q(path__in=above)


def criticism_hidden_q(paths: list[str]) -> Q | None:
    """Needs criticising (or complaining about) a unit on the line of `paths`, not disclosed to
    it by a dispatcher: hidden from staff holding those unit scopes. None when no paths.

    Staff of the units above see what their sub-units see, so a criticism of a sub-unit is
    hidden from them too; staff of the units below belong to the criticised unit.
    """
    if not paths:
        return None
    criticised = Unit.objects.filter(units_on_the_lines_q(paths)).values("pk")
    return Q(about_unit_disclosed=False, about_unit__in=criticised)


def requester_withheld(user: User, need: Need) -> bool:
    """Whether the requester stays confidential to `user`: they are staff on the line of the
    unit the need criticises, and see the need only as such (not as its recorder, nor through
    an area scope over it). Also after a disclosure, which shows the need, not the person.
    Reads `need.about_unit` and `need.area` (the selectors load them with the need)."""
    if need.about_unit_id is None or need.recorded_by_id == user.pk:
        return False
    about = need.about_unit
    assert about is not None
    scopes = scopes_for_user(user)
    if any(s.area_path and need.area.path.startswith(s.area_path) for s in scopes):
        return False
    return any(on_the_line(about.path, path) for path in unit_scope_paths(user))


def requester_for_viewer(user: User, need: Need) -> dict[str, object] | None:
    """The requester as `user` may see it (`Requester.masked()`), or as a confidential one
    (保密) when it is withheld from them."""
    if need.requester is None:
        return None
    shown = need.requester.masked()
    if requester_withheld(user, need):
        shown = {key: "" if isinstance(value, str) else value for key, value in shown.items()}
        shown.update(name=_("（保密）"), confidential=True)
    return shown


def requester_known_q(user: User | None) -> Q:
    """Needs whose requester's identity `user` may know: `Viewer.identity_hidden` as one Q.

    As the recorder or through an area role, always; else not a confidential requester, nor one
    criticising a unit on the user's line. Without a user: neither, for anyone.
    """
    shown = Q(requester__confidential=False)
    if user is None:
        return shown & Q(about_unit__isnull=True)
    known = Q(recorded_by=user)
    for scope in scopes_for_user(user):
        if scope.area_path and scope.role in AREA_ROLES:
            known |= Q(area__path__startswith=scope.area_path)
    if paths := unit_scope_paths(user):
        criticised = Unit.objects.filter(units_on_the_lines_q(paths)).values("pk")
        shown &= ~Q(about_unit__in=criticised)
    return known | shown


_SEARCH_MOBILE = re.compile(r"1\d{10}")
_SEARCH_ID_NUMBER = re.compile(r"\d{17}[\dX]")
_SEARCH_NUMBER_ONLY = re.compile(r"[\d\s+()-]+")


def requester_number_q(text: str, *, viewer: User | None) -> Q | None:
    """Needs whose requester has the mainland mobile or 18-character ID number `text`, however
    written (+86, separators, full width), found exactly through the blind index; None when
    `text` is neither. Only requesters `viewer` may know: searching by a number must not tell
    who wrote a confidential need, or a criticism of the searcher's own unit."""
    plain = unicodedata.normalize("NFKC", text)
    if _SEARCH_NUMBER_ONLY.fullmatch(plain) and _SEARCH_MOBILE.fullmatch(
        pii.phone_for_index(plain)
    ):
        found = Q(requester__phone_index=pii.phone_index(plain))
    elif _SEARCH_ID_NUMBER.fullmatch(pii.id_number_for_index(plain)):
        found = Q(requester__id_number_index=pii.id_number_index(plain))
    else:
        return None
    return found & requester_known_q(viewer)


def need_queryset_for_user(*, user: User) -> QuerySet[Need]:
    if not user.is_active:
        return Need.objects.none()
    return Need.objects.filter(scope_q(user))


def _with_related(qs: QuerySet[Need]) -> QuerySet[Need]:
    return qs.select_related(
        "area", "category", "lead_unit", "requester", "merged_into", "about_unit"
    ).prefetch_related(Prefetch("co_units", queryset=Unit.objects.only("id", "name", "short_name")))


def need_get_for_user(*, user: User, number: str, with_events: bool = True) -> Need:
    if "\x00" in number:  # no such need; PostgreSQL would refuse the query (a 500)
        raise NotFound()
    qs = _with_related(need_queryset_for_user(user=user).filter(number=number))
    qs = qs.select_related("visit")  # the need page says which visit raised it
    if with_events:
        qs = qs.prefetch_related(
            Prefetch("events", queryset=NeedEvent.objects.select_related("actor").order_by("seq"))
        )
    need = qs.first()
    if need is None:
        raise NotFound()
    return need


@dataclass(frozen=True)
class NeedFilters:
    status: list[str] | None = None
    unit: int | None = None
    area: int | None = None
    category: int | None = None
    overdue: bool | None = None
    q: str | None = None
    # Added for the ledger page; the API does not pass them (their defaults filter nothing).
    urgency: str | None = None
    source: str | None = None
    due_soon: bool = False
    registered_from: date | None = None  # local (Asia/Shanghai) dates, both inclusive
    registered_to: date | None = None
    supervised: bool = False  # 督办中 and still active
    extension_pending: bool = False  # 延期待批: an extension request waits for a dispatcher


def _decode_cursor(cursor: str) -> int:
    try:
        return int(base64.urlsafe_b64decode(cursor.encode() + b"==").decode())
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidInput({"cursor": [_("分页游标无效，请从第一页重新查询。")]}) from exc


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(str(last_id).encode()).decode().rstrip("=")


def need_list_for_user(
    *, user: User, filters: NeedFilters, cursor: str | None = None, limit: int = 50
) -> tuple[list[Need], str | None]:
    """One page of the user's needs, newest first, with keyset pagination."""
    qs = need_queryset_for_user(user=user)
    qs = apply_filters(qs, filters, viewer=user)
    if cursor:
        qs = qs.filter(id__lt=_decode_cursor(cursor))
    page = list(_with_related(qs).order_by("-id")[: limit + 1])
    next_cursor = encode_cursor(page[limit - 1].id) if len(page) > limit else None
    return page[:limit], next_cursor


def apply_filters(
    qs: QuerySet[Need], filters: NeedFilters, *, viewer: User | None = None
) -> QuerySet[Need]:
    """`qs` cut by `filters`. `viewer`: who searches (`q` by a requester's phone or ID number
    finds only the requesters they may know, `requester_number_q`)."""
    errors: dict[str, list[str]] = {}
    if filters.status:
        unknown = [s for s in filters.status if s not in states.Status.values]
        if unknown:
            errors["status"] = [_("未知的状态：%(values)s") % {"values": ", ".join(unknown)}]
        qs = qs.filter(status__in=filters.status)
    if filters.unit is not None:
        unit = Unit.objects.filter(pk=filters.unit).only("path").first()
        if unit is None:
            errors["unit"] = [_("没有这个责任单位。")]
        else:
            qs = qs.filter(
                Q(lead_unit__path__startswith=unit.path)
                | Exists(
                    Need.co_units.through.objects.filter(
                        need_id=OuterRef("pk"), unit__path__startswith=unit.path
                    )
                )
            )
    if filters.area is not None:
        area = Area.objects.filter(pk=filters.area).only("path").first()
        if area is None:
            errors["area"] = [_("没有这个区域。")]
        else:
            qs = qs.filter(area__path__startswith=area.path)
    if filters.category is not None:
        from wenxu.needs.models import Category

        category = Category.objects.filter(pk=filters.category).only("path").first()
        if category is None:
            errors["category"] = [_("没有这个分类。")]
        else:
            qs = qs.filter(category__path__startswith=category.path)
    if filters.overdue is not None:
        overdue_q = Q(
            status__in=states.ACTIVE, replied_at__isnull=True, resolve_due__lt=clock.now()
        )
        qs = qs.filter(overdue_q) if filters.overdue else qs.exclude(overdue_q)
    if filters.urgency:
        if filters.urgency not in Urgency.values:
            errors["urgency"] = [_("未知的紧急程度：%(value)s") % {"value": filters.urgency}]
        qs = qs.filter(urgency=filters.urgency)
    if filters.source:
        if filters.source not in states.Source.values:
            errors["source"] = [_("未知的来源：%(value)s") % {"value": filters.source}]
        qs = qs.filter(source=filters.source)
    if filters.due_soon:
        qs = qs.filter(due_soon_q(now=clock.now()))
    if filters.supervised:
        qs = qs.filter(status__in=states.ACTIVE, supervised=True)
    if filters.extension_pending:
        qs = qs.filter(status__in=states.ACTIVE, extension_pending_days__isnull=False)
    if filters.registered_from is not None:
        qs = qs.filter(registered_at__gte=_start_of_local_day(filters.registered_from))
    if filters.registered_to is not None:
        qs = qs.filter(
            registered_at__lt=_start_of_local_day(filters.registered_to + timedelta(days=1))
        )
    if (
        filters.registered_from is not None
        and filters.registered_to is not None
        and filters.registered_from > filters.registered_to
    ):
        errors["registered_to"] = [_("结束日期不能早于开始日期。")]
    if filters.q:
        text = filters.q.strip()
        if len(text) > 100:
            errors["q"] = [_("搜索词太长（最多 100 字）。")]
        matches = (
            Q(number__icontains=text)
            | Q(title__icontains=text)
            | Q(description__icontains=text)
            | Q(address__icontains=text)
        )
        if (by_requester := requester_number_q(text, viewer=viewer)) is not None:
            matches |= by_requester
        qs = qs.filter(matches)
    if errors:
        raise InvalidInput(errors)
    return qs


def _start_of_local_day(day: date) -> datetime:
    # The site's zone (Asia/Shanghai): a date typed into the ledger means the same day for all.
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_default_timezone())


def due_soon_q(*, now: datetime) -> Q:
    """临期: the clock runs (active, no reply), the resolution deadline has not passed, and it
    falls within the reminder lead time of the need's deadline rule: the rule of its category
    or nearest ruled ancestor for its urgency, else the rule for all categories, else the shipped
    default (urgent 4 h, normal 24 h, complex 48 h). The same lead time the sweep reminds with
    and the workbench counts with (`deadlines.RuleBook`); one query reads the rules.
    """
    running = Q(status__in=states.ACTIVE, replied_at__isnull=True, resolve_due__gte=now)
    return running & deadlines.RuleBook().within_lead_time_q(now=now)


# --------------------------------------------------------------------------- the ledger page

SORT_TIME = "time"  # newest registration first
SORT_DEADLINE = "deadline"  # resolution deadline, earliest first; needs without one last
LEDGER_SORTS = (SORT_TIME, SORT_DEADLINE)


@dataclass(frozen=True)
class LedgerPage:
    needs: list[Need]
    count: int  # all needs matching the filters in the viewer's scope, not just this page
    next_cursor: str | None


def _bad_cursor() -> InvalidInput:
    return InvalidInput({"cursor": [_("分页游标无效，请从第一页重新查询。")]})


def encode_ledger_cursor(sort: str, need: Need) -> str:
    key = need.registered_at if sort == SORT_TIME else need.resolve_due
    raw = json.dumps([sort, key.isoformat() if key else None, need.pk], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_ledger_cursor(sort: str, cursor: str) -> tuple[datetime | None, int]:
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor.encode() + b"==").decode())
        cursor_sort, key, last_id = raw
        moment = datetime.fromisoformat(key) if key is not None else None
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise _bad_cursor() from exc
    if (
        cursor_sort != sort
        or not isinstance(last_id, int)
        or (moment is not None and timezone.is_naive(moment))
        or (moment is None and sort == SORT_TIME)
    ):
        raise _bad_cursor()
    return moment, last_id


def _after(sort: str, key: datetime | None, last_id: int) -> Q:
    """The rows after (key, id) in the sort order: the keyset condition."""
    if sort == SORT_TIME:
        return Q(registered_at__lt=key) | Q(registered_at=key, id__lt=last_id)
    if key is None:  # already among the needs without a deadline
        return Q(resolve_due__isnull=True, id__gt=last_id)
    return Q(resolve_due__gt=key) | Q(resolve_due=key, id__gt=last_id) | Q(resolve_due__isnull=True)


def need_ledger_page_for_user(
    *,
    user: User,
    filters: NeedFilters,
    sort: str = SORT_TIME,
    cursor: str | None = None,
    limit: int = 50,
) -> LedgerPage:
    """One page of the ledger (台账) in the viewer's scope, keyset-paginated in either sort.

    The cursor names the sort it was made for and the last row's (sort key, id): needs that
    share a sort key (a day's deadlines all fall at 23:59:59) are neither skipped nor repeated
    at a page boundary, and needs registered meanwhile do not shift the pages (a need whose
    deadline changes meanwhile moves to its new place in the order). Queries: the
    filters' own look-ups (a unit, area or category path; the rules for 临期), one COUNT, one
    page and one prefetch of co units, however long the page.
    """
    if sort not in LEDGER_SORTS:
        raise InvalidInput({"sort": [_("未知的排序方式：%(value)s") % {"value": sort}]})
    limit = max(1, limit)
    key, last_id = _decode_ledger_cursor(sort, cursor) if cursor else (None, 0)
    qs = apply_filters(need_queryset_for_user(user=user), filters, viewer=user)
    count = qs.count()
    if cursor:
        qs = qs.filter(_after(sort, key, last_id))
    if sort == SORT_TIME:
        qs = qs.order_by("-registered_at", "-id")
    else:
        qs = qs.order_by(F("resolve_due").asc(nulls_last=True), "id")
    # The list shows neither the long texts nor the callback: leave them in the database.
    page = list(
        _with_related(qs).defer(
            "description", "reply_text", "callback_comment", "extension_pending_reason"
        )[: limit + 1]
    )
    next_cursor = encode_ledger_cursor(sort, page[limit - 1]) if len(page) > limit else None
    return LedgerPage(needs=page[:limit], count=count, next_cursor=next_cursor)


def needs_by_number_for_user(*, user: User, numbers: list[str]) -> dict[str, Need]:
    """The needs among `numbers` the viewer may see, by number; the others are simply absent."""
    qs = need_queryset_for_user(user=user).filter(number__in=numbers).only("id", "number")
    return {need.number: need for need in qs}


# A ledger number as people type it: WX-2026-000123, wx2026000123, 2026-000123.
LEDGER_NUMBER_RE = re.compile(r"(?:WX-?)?(?P<year>\d{4})-?(?P<serial>\d{6})")


def need_find_for_user(*, user: User, text: str) -> str | None:
    """The ledger number of the need `text` names exactly, if the viewer may see it.

    `text` is a ledger number (WX-2026-000123, any case, with or without "WX-", the dashes
    optional) or a resident's tracking code. A need out of scope is not found, exactly like
    one that does not exist.
    """
    text = text.strip().upper()
    if not text:
        return None
    wanted = Q(tracking_code=text)
    number = LEDGER_NUMBER_RE.fullmatch(text)
    if number:
        wanted |= Q(number=f"WX-{number['year']}-{number['serial']}")
    found: str | None = (
        need_queryset_for_user(user=user).filter(wanted).values_list("number", flat=True).first()
    )
    return found


def need_requesters(*, need: Need) -> list[Requester]:
    """Everyone waiting on `need`: its requester and those of the needs merged into it.

    合并: a merged need's requester follows the target, so replies and callbacks about the
    target reach them too. Merges can chain (A into B, B into C); all levels are followed.
    """
    requesters: list[Requester] = [need.requester] if need.requester else []
    seen = {need.pk}
    frontier = [need.pk]
    while frontier:
        merged = list(
            Need.objects.filter(merged_into_id__in=frontier)
            .exclude(pk__in=seen)
            .select_related("requester")
        )
        seen.update(n.pk for n in merged)
        frontier = [n.pk for n in merged]
        requesters.extend(n.requester for n in merged if n.requester)
    unique: dict[int, Requester] = {r.pk: r for r in requesters}
    return list(unique.values())
