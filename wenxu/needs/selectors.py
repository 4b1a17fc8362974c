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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, connections, router
from django.db.models import (
    F,
    Field,
    ManyToManyField,
    Model,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    prefetch_related_objects,
)
from django.db.models.lookups import In
from django.utils import timezone
from django.utils.translation import gettext as _

from wenxu.accounts.models import AREA_ROLES, User
from wenxu.accounts.selectors import scopes_for_user
from wenxu.core import generation
from wenxu.lib import clock
from wenxu.lib.prepared import Prepared, PreparedValue, known_related
from wenxu.needs import deadlines, states
from wenxu.needs.exceptions import InvalidInput, NotFound
from wenxu.needs.models import Attachment, Category, Need, NeedEvent, ReopenRequest, Urgency
from wenxu.organisations.models import Area, Unit, under_q
from wenxu.residents import pii
from wenxu.residents.models import Requester


class AnyOf(In):  # type: ignore[type-arg]  # generic in django-stubs only
    """`field IN (values)` or `field IN (subquery)`, written `field = ANY(...)` on PostgreSQL.

    A list goes as one array parameter, not one parameter per value. A subquery becomes
    `ANY(ARRAY(subquery))`: computed once (an InitPlan), it is an index condition the planner
    can combine with others under an OR (a BitmapOr), where `IN (subquery)` under an OR can
    only be checked row by row. Other databases get the plain `IN`.
    """

    def as_postgresql(self, compiler: Any, connection: Any) -> tuple[str, tuple[Any, ...]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        if self.rhs_is_direct_value():
            return f"{lhs} = ANY(%s)", (*lhs_params, list(rhs_params))
        return f"{lhs} = ANY(ARRAY{rhs})", (*lhs_params, *rhs_params)


def _co_handled(units: Any) -> QuerySet[Any]:
    """The ids of the needs any of `units` (ids, or a subquery of ids) co-handles (协办)."""
    return Need.co_units.through.objects.filter(AnyOf(F("unit_id"), units)).values("need_id")


def scope_q(user: User) -> Q:
    """The Q that selects exactly the needs `user` may see (an empty match when none).

    One condition for the database, whatever the number of scopes, and no join: each kind of
    scope is one uncorrelated subquery on the area or unit tree (all the user's area subtrees
    in one, all their unit subtrees in another), which PostgreSQL reads once per query and
    then checks row by row in a hash, so the order of the page can come from an index (ADR
    0021). What the unit scopes show is cut by `criticism_hidden_q`, never per row.
    """
    q = Q(recorded_by=user)
    scopes = scopes_for_user(user)
    area_paths = [scope.area_path for scope in scopes if scope.area_path]
    if area_paths:
        q |= Q(area__in=Area.objects.filter(under_q(area_paths)).order_by().values("pk"))
    unit_paths = [scope.unit_path for scope in scopes if scope.unit_path]
    if unit_paths:
        units = Unit.objects.filter(under_q(unit_paths)).order_by().values("pk")
        through_units = Q(lead_unit__in=units) | Q(pk__in=_co_handled(units))
        hidden = criticism_hidden_q(unit_paths)
        q |= through_units & ~hidden if hidden is not None else through_units
    return q


# A viewer whose area or unit scope holds at most this many nodes is "narrow": the ledger
# names those nodes in its queries (`narrow_scope_q`). Above it the scope is broad, and walking
# an index in the order of the page is the better way in anyway.
NARROW_SCOPE_MAX_NODES = 1000


@dataclass(frozen=True)
class NarrowScope:
    """`narrow_scope_q`'s answer: the condition, and its main part: the needs in the viewer's
    areas, or else those their units lead (see `_short_list`); None without either. `others`:
    the condition without its main part (what `_short_list` reads after the main part)."""

    q: Q
    main: "_Part | None"
    others: Q


def narrow_scope_q(user: User) -> NarrowScope | None:
    """For a viewer with a narrow scope: a condition that every need they may see meets (so
    `scope_q(user) & narrow_scope_q(user).q` selects the same needs as `scope_q(user)`), written
    for the planner: the ids of their areas and units as literal arrays, the co-handled needs
    as one array, so PostgreSQL counts and pages from the indexes on `area_id` and
    `lead_unit_id` and knows how many needs that is. None for a broad scope. One query per
    kind of scope the user holds (areas, units); the user's memberships are cached.
    """
    scopes = scopes_for_user(user)
    area_paths = [scope.area_path for scope in scopes if scope.area_path]
    unit_paths = [scope.unit_path for scope in scopes if scope.unit_path]
    parts: list[Q] = [Q(recorded_by=user)]
    main: _Part | None = None
    for model, paths in ((Unit, unit_paths), (Area, area_paths)):
        if not paths:
            continue
        ids = list(nodes_under(model, tuple(paths)))
        if len(ids) > NARROW_SCOPE_MAX_NODES:
            return None
        if model is Area:
            if main is not None:
                parts.append(main.inside)  # the areas are the main part, the units' lead too
            main = _Part.of("area_id", ids)
        else:
            main = _Part.of("lead_unit_id", ids)
            parts.append(Q(AnyOf(F("pk"), _co_handled(ids))))
    others = _any_of(parts)
    return NarrowScope(q=others | main.inside if main else others, main=main, others=others)


def nodes_under(model: type[Area] | type[Unit], paths: tuple[str, ...]) -> tuple[int, ...]:
    """The ids of the nodes under `paths` (up to one past NARROW_SCOPE_MAX_NODES), kept
    between requests under the configuration generation (ADR 0026)."""

    def read() -> tuple[int, ...]:
        return tuple(
            model._default_manager.filter(under_q(list(paths)))
            .order_by()
            .values_list("pk", flat=True)[: NARROW_SCOPE_MAX_NODES + 1]
        )

    return generation.remember(f"nodes_under:{model._meta.label}", paths, read)


def _any_of(parts: list[Q]) -> Q:
    q = parts[0]
    for part in parts[1:]:
        q |= part
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


def requester_name_for_viewer(user: User, need: Need) -> str:
    """`requester_for_viewer(user, need)["name"]` ("" without a requester), reading only the
    requester's name and confidentiality (lists load no more of it)."""
    if need.requester is None:
        return ""
    if requester_withheld(user, need):
        return str(_("（保密）"))
    return need.requester.masked_name()


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
    """The needs `user` may see (`scope_q`), handed out as a fresh copy each time.

    Built once per viewer and scopes, and kept between requests under the configuration
    generation (ADR 0026): `scope_q` reads nothing else (the trees under the scopes' paths are
    subqueries the database runs). The kept queryset is never evaluated, only copied, so the
    threads that share it read it and never change it."""
    if not user.is_active:
        return Need.objects.none()
    built: QuerySet[Need] | None = getattr(user, "_wenxu_needs_in_scope", None)
    if built is None:
        built = generation.remember(
            "needs_in_scope",
            (user.pk, tuple(scopes_for_user(user))),
            lambda: Need.objects.filter(scope_q(user)),
        )
        user._wenxu_needs_in_scope = built  # type: ignore[attr-defined]
    return built.all()


@dataclass(frozen=True)
class _Part:
    """The needs whose `field` is one of some ids, and the others (a NULL is not in it, and
    `NOT (NULL = ANY(…))` is not true either: the complement says so)."""

    inside: Q
    outside: Q

    @classmethod
    def of(cls, field: str, ids: list[int]) -> "_Part":
        inside = Q(AnyOf(F(field), ids))
        return cls(inside=inside, outside=~inside | Q(**{f"{field}__isnull": True}))


@dataclass(frozen=True)
class _Listing:
    needs: QuerySet[Need]
    # `needs` without the narrow scope's hint (the same rows), and a part of them an index
    # finds alone (the needs of a unit filter's units, of a viewer's areas or units), which
    # `_short_list` reads first; None when there is none.
    plain: QuerySet[Need]
    main: _Part | None
    # Where `_short_list` looks for the needs outside the main part: for a narrow scope, `plain`
    # with the hint's other parts only (co-handled, recorded by the viewer), so that PostgreSQL
    # does not visit the main part's needs a second time to throw them away.
    others: QuerySet[Need]


def _listed(user: User, filters: "NeedFilters") -> _Listing:
    """The needs of a list: in the user's scope, cut by `filters`, and, for a narrow scope,
    with its hint (`narrow_scope_q`). A unit or an area filter already names where the
    needs are: no hint then (it would cost its query for nothing)."""
    units: list[int] = []
    qs = apply_filters(need_queryset_for_user(user=user), filters, viewer=user, units=units)
    main = _Part.of("lead_unit_id", units) if units else None
    if not user.is_active or filters.unit is not None or filters.area is not None:
        return _Listing(qs, qs, main, qs)
    narrow = narrow_scope_q(user)
    if narrow is None:
        return _Listing(qs, qs, main, qs)
    return _Listing(qs.filter(narrow.q), qs, narrow.main, qs.filter(narrow.others))


def _short_list(
    listing: _Listing, field: str, cap: int, *, costly_rows: bool = False
) -> list[tuple[int, Any]] | None:
    """Every need of `listing` as (id, `field`), when there are at most `cap`; None past it.

    Read in two parts: the needs of the main part (a unit's or an area's, through their index
    alone, without the hint, whose OR would have the planner walk the whole open ledger or
    every co-handled need), then the others (co-handled, recorded by the viewer). The main
    part is counted first: when it alone passes the cap, nothing more is read (a busy unit's
    co-handled needs, thousands over the years, are looked at only when the list can still be
    short). Three queries for a short list, one for a long one. `costly_rows`: each row costs
    the database more than sending it (a keyword search reads every text): the main part is
    read once, up to `cap` + 1 rows, instead of counted and then read (at 100 k needs a busy
    unit's search: two passes of ~80 ms each).
    """
    assert listing.main is not None
    main = listing.plain.filter(listing.main.inside).order_by()
    if costly_rows:
        found = list(main.values_list("pk", field)[: cap + 1])
        if len(found) > cap:
            return None
    elif main[: cap + 1].count() > cap:  # a number, not a thousand rows to parse
        return None
    else:
        found = list(main.values_list("pk", field))
    rest = listing.others.filter(listing.main.outside).order_by().values_list("pk", field)
    found += list(rest[: cap + 1 - len(found)])
    return None if len(found) > cap else found


def _with_related(qs: QuerySet[Need]) -> QuerySet[Need]:
    return qs.select_related(
        "area", "category", "lead_unit", "requester", "merged_into", "about_unit"
    ).prefetch_related(Prefetch("co_units", queryset=Unit.objects.only("id", "name", "short_name")))


# A need's references that change only with the configuration (watched by the generation's
# triggers, ADR 0026): pages take them from `generation.kept_instances` instead of a join.
_KEPT_REFERENCES: tuple[tuple[str, type[Model]], ...] = (
    ("area", Area),
    ("category", Category),
    ("lead_unit", Unit),
    ("about_unit", Unit),
)


def with_kept_references(needs: list[Need]) -> list[Need]:
    """`needs` with their area, category, lead unit and criticised unit set, from the rows kept
    between requests (one query per kind for those not kept yet; outside a request, one query
    per kind). Each need gets objects of its own page, never shared with another request."""
    wanted: dict[type[Model], set[int]] = {}
    for name, model in _KEPT_REFERENCES:
        ids = wanted.setdefault(model, set())
        ids.update(getattr(need, f"{name}_id") for need in needs)
    found = {model: generation.kept_instances(model, ids) for model, ids in wanted.items()}
    for need in needs:
        for name, model in _KEPT_REFERENCES:
            pk = getattr(need, f"{name}_id")
            field = Need._meta.get_field(name)
            field.set_cached_value(need, None if pk is None else found[model].get(pk))  # type: ignore[union-attr]
    return needs


# The scoped look-up of a need's id by its number: the viewer's scope compiled into SQL once
# per connection and viewer (~1.5 ms of Python each time before).
_SCOPED_ID = PreparedValue(Need)
# A need with what its pages name (the requester, the visit, the recorder): ~130 columns whose
# SQL took longer to compile than to run, so compiled once per connection.
_NEED_PAGE = Prepared(
    Need,
    lambda pk: Need.objects.filter(pk=pk).select_related("requester", "visit", "recorded_by"),
)


def need_id_for_user(*, user: User, number: str) -> int | None:
    """The id of the need numbered `number` if `user` may see it, else None: one statement,
    the viewer's scope compiled into it once per connection (`_SCOPED_ID`)."""
    if "\x00" in number or not user.is_active:  # no such need (PostgreSQL refuses a NUL)
        return None

    def scoped(value: str) -> QuerySet[Need, int]:
        return (
            need_queryset_for_user(user=user)
            .filter(number=value)
            .order_by()
            .values_list("pk", flat=True)[:1]
        )

    # The SQL is the viewer's scope (their id, their memberships' paths) and the number.
    found: int | None = _SCOPED_ID.first((user.pk, tuple(scopes_for_user(user))), scoped, number)
    return found


def need_get_for_user(*, user: User, number: str, with_events: bool = True) -> Need:
    """The need numbered `number` if `user` may see it, with what its pages show; NotFound
    otherwise (out of scope reads exactly like nonexistent).

    Two queries instead of one: the scoped look-up of its id, then the need by id with its
    requester, visit and recorder. One query joining all of it to the area, category and units
    as well cost PostgreSQL ~10 ms to plan (nine tables in a star), for 0.5 ms of work; those
    come from `with_kept_references`. The second query's SQL is compiled once per connection
    (`_NEED_PAGE`). With its events (the page), two more: the events, and whether it has
    co-units, attachments, merged needs, a pending reopen request and the rows other apps
    link to it (`register_side_read`), which most needs have none of (`_side_reads`)."""
    found = need_id_for_user(user=user, number=number)
    if found is None:
        raise NotFound()
    need = _NEED_PAGE.first(found)
    if need is None:  # deleted meanwhile
        raise NotFound()
    if not with_events:
        prefetch_related_objects([need], _CO_UNITS)
        return with_kept_references([need])[0]
    side = _side_reads(need.pk)
    if side.co_units:
        prefetch_related_objects([need], _CO_UNITS)
    else:
        known_related(need, co_units=[])
    known_related(need, events=_EVENTS.all(need.pk))
    need.__dict__[_SIDE] = side
    return with_kept_references([need])[0]


_CO_UNITS: Prefetch[Any, Any, Any] = Prefetch(
    "co_units", queryset=Unit.objects.only("id", "name", "short_name")
)
_EVENTS = Prepared(
    NeedEvent,
    lambda pk: NeedEvent.objects.filter(need_id=pk).select_related("actor").order_by("seq"),
)
_SIDE = "_wenxu_side_reads"


@dataclass(frozen=True)
class _Side:
    co_units: bool
    attachments: bool
    merged_from: bool
    reopen_pending: bool
    linked: frozenset[str]  # the names of the registered side reads that found rows


# Tables of other apps whose rows name a need (the topics app's links): read with the need
# page's side reads, so that the app's panel skips its own read when there are none.
_SIDE_READS: dict[str, tuple[type[Model], str]] = {}


def register_side_read(name: str, model: type[Model], field: str) -> None:
    """Read, with each need page's side reads, whether rows of `model` name the need through
    the foreign key `field`; `need_has_side_rows(need, name)` then tells. Called from an app's
    `ready()`: an app that builds on needs adds to the page's one statement without the needs
    app importing it."""
    _SIDE_READS[name] = (model, field)


def _side_reads(pk: int) -> _Side:
    """Whether the need has co-units, attachments, needs merged into it, a pending reopen
    request and rows of the registered side reads, in one statement: reads that find nothing
    for most needs, ~0.5 ms each."""
    db = connections[router.db_for_read(Need)]
    q = db.ops.quote_name
    field = Need._meta.get_field("co_units")
    assert isinstance(field, ManyToManyField)
    linked = sorted(_SIDE_READS.items())
    tables = [
        (field.m2m_db_table(), field.m2m_column_name()),
        (Attachment._meta.db_table, Attachment._meta.get_field("need").column),
        (Need._meta.db_table, Need._meta.get_field("merged_into").column),
        *((model._meta.db_table, _column(model, column)) for _, (model, column) in linked),
    ]
    exists = "EXISTS (SELECT 1 FROM {} WHERE {} = %s)"  # the models' own tables and columns
    probes = [exists.format(q(table), q(column)) for table, column in tables]
    pending = "EXISTS (SELECT 1 FROM {} WHERE {} = %s AND {} = %s)"
    probes.append(
        pending.format(
            q(ReopenRequest._meta.db_table),
            q(_column(ReopenRequest, "need")),
            q(_column(ReopenRequest, "state")),
        )
    )
    with db.cursor() as cursor:
        cursor.execute(
            "SELECT " + ", ".join(probes),
            [pk] * len(tables) + [pk, ReopenRequest.State.PENDING.value],
        )
        row = cursor.fetchone()
    found = [bool(value) for value in row]
    return _Side(
        co_units=found[0],
        attachments=found[1],
        merged_from=found[2],
        reopen_pending=found[-1],
        linked=frozenset(name for (name, _), hit in zip(linked, found[3:-1], strict=True) if hit),
    )


def _column(model: type[Model], name: str) -> str:
    field = model._meta.get_field(name)
    assert isinstance(field, Field)
    assert field.column
    return field.column


def need_has_side_rows(need: Need, name: str) -> bool | None:
    """Whether rows of the side read registered as `name` name `need`, as `need_get_for_user`
    found when it read it; None for a need read elsewhere (the caller reads for itself)."""
    side = _side(need)
    return None if side is None else name in side.linked


_PENDING_REOPEN = Prepared(
    ReopenRequest,
    lambda pk: ReopenRequest.objects.filter(need_id=pk, state=ReopenRequest.State.PENDING),
)


def need_pending_reopen(need: Need) -> ReopenRequest | None:
    """The resident's reopen request (群众申请重办) waiting for a decision on `need`, if any (at
    most one: a partial unique constraint)."""
    side = _side(need)
    if side is not None and not side.reopen_pending:
        return None
    return _PENDING_REOPEN.first(need.pk)


def _side(need: Need) -> _Side | None:
    """What `need_get_for_user` found out about the need's side reads, if it read the need."""
    side = need.__dict__.get(_SIDE)
    return side if isinstance(side, _Side) else None


# The needs merged into a need, unscoped and by id: most needs have none, and then the scoped
# query (its scope compiled, ~1 ms of Python) is not needed.
_MERGED_FROM = Prepared(Need, lambda pk: Need.objects.filter(merged_into_id=pk).only("id"))


def needs_merged_into_for_user(*, user: User, need: Need) -> list[Need]:
    """The needs merged into `need` that `user` may see (number and title), oldest first."""
    side = _side(need)
    if (side is not None and not side.merged_from) or not _MERGED_FROM.all(need.pk):
        return []
    return list(
        need_queryset_for_user(user=user)
        .filter(merged_into=need)
        .only("number", "title")
        .order_by("id")
    )


_ATTACHMENTS = Prepared(Attachment, lambda pk: Attachment.objects.filter(need_id=pk))


def need_attachments(need: Need) -> list[Attachment]:
    """The photos and files of `need` (a need the caller already may see), in upload order."""
    side = _side(need)
    if side is not None and not side.attachments:
        return []
    return _ATTACHMENTS.all(need.pk)


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
    """One page of the user's needs, newest first, with keyset pagination (`id < cursor`)."""
    # Without the narrow scope's hint (`_listed`): walking the ids backwards, the page stops
    # after `limit` needs in scope, and the API's query count stays that of a plain list.
    qs = apply_filters(need_queryset_for_user(user=user), filters, viewer=user)
    if cursor:
        qs = qs.filter(id__lt=_decode_cursor(cursor))
    page = _rows([qs], ("-id",), limit + 1)
    next_cursor = encode_cursor(page[limit - 1].id) if len(page) > limit else None
    return page[:limit], next_cursor


def _rows(
    sources: list[QuerySet[Need]],
    order: tuple[Any, ...],
    limit: int,
    related: Callable[[QuerySet[Need]], QuerySet[Need]] = _with_related,
    *,
    ids_first: bool = False,
) -> list[Need]:
    """The first `limit` needs of `sources` (one query set, or the parts of one that share no
    need) in `order`, with what a list shows of them (`related`).

    The page is chosen by ids alone (an inner query the planner can answer from an index; for
    parts, the first `limit` of each, `UNION ALL`), then only those needs are joined to their
    area, units, category and requester: the joins cost the same on page 1 and page 100, and
    nothing for the rows the filters pass over. `ids_first`: the ids are read first, in a
    query of their own, and the rows then by a literal list: one more round trip, but the
    joined query is planned without the scope's subqueries (the ledger's page: 2.4 → 1.1 ms
    of planning at 100 k needs).
    """
    firsts = [qs.order_by(*order).values_list("pk", flat=True)[:limit] for qs in sources]
    chosen = firsts[0] if len(firsts) == 1 else firsts[0].union(*firsts[1:], all=True)
    if not ids_first:
        return list(related(Need.objects.filter(pk__in=chosen)).order_by(*order)[:limit])
    ids = list(chosen)
    if not ids:
        return []
    return list(related(Need.objects.filter(AnyOf(F("pk"), ids))).order_by(*order)[:limit])


def _for_ledger(qs: QuerySet[Need]) -> QuerySet[Need]:
    """What a ledger row shows: area, category, lead and co units, requester, and (for the
    requester's confidentiality) the criticised unit. Only the requester is joined: the area,
    category and units are set afterwards from the rows kept between requests
    (`_with_criticised_units`): every join costs the planner time on every page (ADR 0021,
    0026)."""
    return qs.select_related("requester").only(*_LEDGER_ROW)


# What a ledger row reads (the template, its deadline and status badges, `requester_name_for_
# viewer`, the view's bulk-assign check): only these columns are sent and set on the page's
# hundred-odd objects, a third of a page's Python time with every column. A template reading
# another field costs a query per row: tests/test_ledger_views.py's query budget catches it.
_LEDGER_ROW = (
    "id",
    "number",
    "title",
    "kind",
    "urgency",
    "status",
    "version",
    "supervised",
    "registered_at",
    "response_due",
    "resolve_due",
    "replied_at",
    "recorded_by_id",
    "about_unit_id",
    "about_unit_disclosed",
    "area_id",
    "category_id",
    "lead_unit_id",
    "requester__name",
    "requester__confidential",
)


def _with_criticised_units(needs: list[Need]) -> list[Need]:
    """`needs` with their area, category, lead unit and criticised unit set
    (`with_kept_references`); and with `co_unit_names`, the names of their co units (协办) in
    the unit tree's order, in one query of plain values (a prefetch of Unit objects costs a
    page more in Python than all its other rows' joins)."""
    with_kept_references(needs)
    names: dict[int, list[str]] = {need.pk: [] for need in needs}
    if needs:
        links = (
            Need.co_units.through.objects.filter(AnyOf(F("need_id"), list(names)))
            .order_by("unit__path")
            .values_list("need_id", "unit__short_name", "unit__name")
        )
        for need_id, short_name, name in links:
            names[need_id].append(short_name or name)  # as Unit.__str__
    for need in needs:
        need.co_unit_names = names[need.pk]  # type: ignore[attr-defined]
    return needs


def apply_filters(
    qs: QuerySet[Need],
    filters: NeedFilters,
    *,
    viewer: User | None = None,
    units: list[int] | None = None,
) -> QuerySet[Need]:
    """`qs` cut by `filters`. `viewer`: who searches (`q` by a requester's phone or ID number
    finds only the requesters they may know, `requester_number_q`). `units`, when given, gets
    the ids of the unit filter's subtree."""
    errors: dict[str, list[str]] = {}
    if filters.status:
        unknown = [s for s in filters.status if s not in states.Status.values]
        if unknown:
            errors["status"] = [_("未知的状态：%(values)s") % {"values": ", ".join(unknown)}]
        qs = qs.filter(status__in=filters.status)
    if filters.unit is not None:
        subtree = _subtree_ids(Unit, filters.unit)
        if not subtree:
            errors["unit"] = [_("没有这个责任单位。")]
        else:
            qs = qs.filter(
                Q(AnyOf(F("lead_unit_id"), subtree)) | Q(AnyOf(F("pk"), _co_handled(subtree)))
            )
            if units is not None:
                units.extend(subtree)
    if filters.area is not None:
        areas = _subtree_ids(Area, filters.area)
        if not areas:
            errors["area"] = [_("没有这个区域。")]
        else:
            qs = qs.filter(_area_in(filters.area, areas))
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
        lookup = text_lookup(text)
        matches = (
            Q(**{f"number__{lookup}": text})
            | Q(**{f"title__{lookup}": text})
            | Q(**{f"description__{lookup}": text})
            | Q(**{f"address__{lookup}": text})
        )
        if (by_requester := requester_number_q(text, viewer=viewer)) is not None:
            matches |= by_requester
        qs = qs.filter(matches)
    if errors:
        raise InvalidInput(errors)
    return qs


def text_lookup(text: str) -> str:
    """The lookup that finds `text` in a column whatever its letters' case: `contains` when it
    has no letter with a case (Chinese words, numbers), `icontains` otherwise. On PostgreSQL
    `icontains` upper-cases every text it reads: a unit's keyword search at 100 k needs read
    ~14,000 rows' four texts in ~50 ms that way and in ~25 ms without (both find the same
    rows, as a text without cased letters matches the same wherever it stands)."""
    return "contains" if text.upper() == text.lower() else "icontains"


# PostgreSQL plans best from the ids themselves (it then knows how many needs they hold);
# SQLite takes at most 999 parameters in a statement, so a large subtree goes as a subquery.
_SQLITE_MAX_IDS = 900


def _subtree(model: type[Model], pk: int) -> QuerySet[Any]:
    """The ids of the node `pk` of a tree (areas, units) and of everything under it."""
    root = model._default_manager.filter(pk=pk).values("path")[:1]
    return (
        model._default_manager.filter(path__startswith=Subquery(root))
        .order_by()
        .values_list("pk", flat=True)
    )


def _subtree_ids(model: type[Model], pk: int) -> list[int]:
    """`_subtree` read in one query; empty when there is no such node."""
    return list(_subtree(model, pk))


def _area_in(pk: int, areas: list[int]) -> Q:
    if connection.vendor == "sqlite" and len(areas) > _SQLITE_MAX_IDS:
        return Q(area__in=_subtree(Area, pk))
    return Q(AnyOf(F("area_id"), areas))


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


# The ledger counts exactly up to here and then says "1000+": an exact count of a whole
# city's ledger reads every row in scope, and nobody pages through a thousand needs; they
# filter (ADR 0021).
COUNT_CAP = 1_000


@dataclass(frozen=True)
class LedgerPage:
    needs: list[Need]
    # The needs matching the filters in the viewer's scope (not just this page), counted up to
    # COUNT_CAP; `count_capped` says there are more.
    count: int
    next_cursor: str | None
    count_capped: bool = False


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


# Each keyset condition carries a plain range on the sort key (`registered_at <= key`,
# `resolve_due >= key`) that says the same as the rest: the index scan starts at the cursor,
# so page 100 reads as many rows as page 1.
_BY_TIME = ("-registered_at", "-id")
_BY_DEADLINE = (F("resolve_due").asc(nulls_last=True), "id")
_WITHOUT_DEADLINE = ("id",)


def _ledger_rows(
    sources: list[QuerySet[Need]],
    sort: str,
    key: datetime | None,
    last_id: int | None,
    limit: int,
) -> list[Need]:
    """`limit` needs of `sources` after (key, last_id) in the sort; from the start without a
    cursor.

    By deadline, the needs without one come last, by id. Their part is read separately once
    the dated part runs out (one more query, on the page where that happens): a condition
    "later deadline, or none" has no range an index could start from.
    """

    def rows(where: Q | None, order: tuple[Any, ...], limit: int) -> list[Need]:
        cut = sources if where is None else [qs.filter(where) for qs in sources]
        return _rows(cut, order, limit, _for_ledger, ids_first=True)

    if last_id is None:
        return rows(None, _BY_TIME if sort == SORT_TIME else _BY_DEADLINE, limit)
    if sort == SORT_TIME:
        after = Q(registered_at__lte=key) & (Q(registered_at__lt=key) | Q(id__lt=last_id))
        return rows(after, _BY_TIME, limit)
    dated: list[Need] = []
    if key is not None:
        after = Q(resolve_due__gte=key) & (Q(resolve_due__gt=key) | Q(id__gt=last_id))
        dated = rows(after, _BY_DEADLINE, limit)
        if len(dated) == limit:
            return dated
        last_id = 0
    undated = Q(resolve_due__isnull=True, id__gt=last_id)
    return dated + rows(undated, _WITHOUT_DEADLINE, limit - len(dated))


def _cut(
    found: list[tuple[int, Any]], sort: str, key: datetime | None, last_id: int | None, n: int
) -> list[int]:
    """The ids of the first `n` of `found` (id, sort key) after (key, last_id) in the sort:
    `_ledger_rows` done in memory, for a short list read whole."""
    if sort == SORT_TIME:
        ordered = sorted(found, key=lambda row: (row[1], row[0]), reverse=True)
        if last_id is not None:
            ordered = [row for row in ordered if (row[1], row[0]) < (key, last_id)]
    else:

        def position(due: datetime | None, pk: int) -> tuple[bool, datetime, int]:
            return (due is None, due or datetime.min.replace(tzinfo=UTC), pk)

        ordered = sorted(found, key=lambda row: position(row[1], row[0]))
        if last_id is not None:
            start = position(key, last_id)
            ordered = [row for row in ordered if position(row[1], row[0]) > start]
    return [pk for pk, _key in ordered[:n]]


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
    deadline changes meanwhile moves to its new place in the order).

    A list with a main part (a unit filter, a narrow scope) of at most COUNT_CAP needs is read
    whole as ids and sort keys (`_short_list`): its count is exact and the page is cut from it.
    Any other list is counted up to COUNT_CAP and its page read in order from an index, after
    the cursor (ADR 0021). Queries: the filters' own look-ups (a unit, area or category; the
    rules for 临期), the scope's ids for a narrow scope, two reads of the list or one COUNT,
    the page, and the prefetch of co units, however long the page; by deadline, one more on
    the page where the needs without a deadline begin.
    """
    if sort not in LEDGER_SORTS:
        raise InvalidInput({"sort": [_("未知的排序方式：%(value)s") % {"value": sort}]})
    limit = max(1, limit)
    key, last_id = _decode_ledger_cursor(sort, cursor) if cursor else (None, None)
    listing = _listed(user, filters)
    field = "registered_at" if sort == SORT_TIME else "resolve_due"
    found = (
        _short_list(listing, field, COUNT_CAP, costly_rows=bool(filters.q))
        if listing.main is not None
        else None
    )
    if found is not None:
        count = len(found)
        ids = _cut(found, sort, key, last_id, limit + 1)
        order = _BY_TIME if sort == SORT_TIME else _BY_DEADLINE
        page = list(_for_ledger(Need.objects.filter(pk__in=ids)).order_by(*order)) if ids else []
    else:
        if listing.main is None:
            count = listing.needs.order_by()[: COUNT_CAP + 1].count()
        else:
            count = COUNT_CAP + 1  # `_short_list` found more
        # A long list is read in its order from an index and stops after a page, without the
        # hint: its OR would have every row checked against the co-handled needs.
        needs = listing.plain if count > COUNT_CAP else listing.needs
        page = _ledger_rows([needs], sort, key, last_id, limit + 1)
    next_cursor = encode_ledger_cursor(sort, page[limit - 1]) if len(page) > limit else None
    return LedgerPage(
        needs=_with_criticised_units(page[:limit]),
        count=min(count, COUNT_CAP),
        next_cursor=next_cursor,
        count_capped=count > COUNT_CAP,
    )


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


# --------------------------------------------------------------------------- keyset pages
# For any list that grows without bound (visits, places, topics, signals): a page starts after
# the last row of the page before, by its values of the list's order, never at an OFFSET (which
# reads and throws away every earlier row, and shifts when rows are added). The order must end
# in a unique field (the id). Cursors are opaque to people, and name the order they were made
# for, so one list's cursor is refused by another.


def _keyset_fields(order: tuple[str, ...]) -> list[tuple[str, bool]]:
    """(field path, descending) for each term of `order`: "-started_at" → ("started_at", True)."""
    return [(term.lstrip("-"), term.startswith("-")) for term in order]


def _keyset_value(row: Model, path: str) -> Any:
    value: Any = row
    for name in path.split("__"):
        value = getattr(value, name)
    return value


def keyset_cursor(row: Model, order: tuple[str, ...]) -> str:
    """The cursor of the page after `row`, in a list ordered by `order`."""
    values: list[Any] = []
    for path, _descending in _keyset_fields(order):
        value = _keyset_value(row, path)
        values.append(value.isoformat() if isinstance(value, date) else value)
    raw = json.dumps([",".join(order), values], separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _keyset_field(model: type[Model], path: str) -> Any:
    *relations, name = path.split("__")
    for relation in relations:
        model = model._meta.get_field(relation).related_model  # type: ignore[assignment]
    return model._meta.pk if name == "pk" else model._meta.get_field(name)


def keyset_after(qs: QuerySet[Any], order: tuple[str, ...], cursor: str) -> QuerySet[Any]:
    """`qs` cut to the rows after `cursor` in `order`. A cursor that is not one of this list's
    (tampered with, cut short, from another list) raises InvalidInput.

    The condition is the row comparison spelled out (a later first key, or the same first key
    and a later second, …) plus a plain range on the first key, so the index scan starts at the
    cursor: page 100 reads as many rows as page 1.
    """
    fields = _keyset_fields(order)
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor.encode() + b"==").decode())
        made_for, encoded = raw
        if made_for != ",".join(order) or len(encoded) != len(fields):
            raise ValueError(made_for)
        values = [
            _keyset_field(qs.model, path).to_python(value)
            for (path, _descending), value in zip(fields, encoded, strict=True)
        ]
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError, ValidationError) as exc:
        raise _bad_cursor() from exc
    if any(value is None for value in values) or any(
        isinstance(value, datetime) and timezone.is_naive(value) for value in values
    ):
        raise _bad_cursor()
    after = Q(pk__in=[])
    for i, (path, descending) in enumerate(fields):
        step = Q(**{f"{path}__{'lt' if descending else 'gt'}": values[i]})
        for earlier, earlier_value in zip(fields[:i], values[:i], strict=False):
            step &= Q(**{earlier[0]: earlier_value})
        after |= step
    first, first_descending = fields[0]
    start = Q(**{f"{first}__{'lte' if first_descending else 'gte'}": values[0]})
    return qs.filter(start & after)


def keyset_page(
    qs: QuerySet[Any],
    order: tuple[str, ...],
    cursor: str | None,
    limit: int,
    *,
    rows: Callable[[QuerySet[Any]], list[Any]] | None = None,
) -> tuple[list[Any], str | None]:
    """Up to `limit` rows of `qs` in `order` after `cursor` (from the start without one), and
    the cursor of the next page (None on the last page).

    `rows`, when given, turns the page's ids (a subquery) into the rows shown, in `order`: the
    joins and annotations a row needs are then computed for the page only. One query (plus
    what `rows` prefetches).
    """
    if cursor:
        qs = keyset_after(qs, order, cursor)
    chosen = qs.order_by(*order)[: limit + 1]
    found = list(chosen) if rows is None else rows(chosen.values("pk"))
    next_cursor = keyset_cursor(found[limit - 1], order) if len(found) > limit else None
    return found[:limit], next_cursor
