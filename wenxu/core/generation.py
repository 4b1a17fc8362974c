"""What every page reads and almost nothing changes, kept between requests (ADR 0026).

Each page used to read again who the viewer is allowed to see (their memberships, the units and
areas under them, their permissions) and the lists its forms offer (units, areas, categories,
deadline rules): half of a ledger page's queries, for tables an administrator changes a few
times a month. They are kept here, in each process, under the **configuration generation**: a
number in the table `core_generation` that database triggers change whenever a row of those
tables is inserted, updated or deleted — through the ORM, the admin, a bulk load, a migration
or plain SQL alike (migration core 0002). A request reads the generation once, with one small
query, before anything it keeps; what it keeps is filed under that number, so a change made by
any process on any machine is seen by the next request everywhere. Nothing expires by time.

Only inside a web request (`GenerationMiddleware`): commands, tasks and tests that call
selectors directly read the tables as before. A request that finds no generation row (a
database just emptied by `flush`) keeps nothing.

Why it is safe: the generation is read before the data it guards, from the same database or an
older replica, so what is filed under a number is never older than the number says (a request
that reads a newer row meanwhile files newer data; the next change files anew). The values the
triggers write are a clock reading in microseconds (and one more than the last), so a number is
never reused for another state, even after a rolled-back transaction or a restored backup.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Collection, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from django.db.models import Model
    from django.http import HttpRequest, HttpResponseBase

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)
M = TypeVar("M", bound="Model")

NAME = "config"
# Entries kept per process. A city's viewers each hold a few (their scopes, permissions, option
# lists), and each area, unit and category a page showed holds one; all small. Past this the
# least recently used go.
MAX_ENTRIES = 20_000
# The tables whose rows `kept_instances` may keep: those the triggers watch (migrations core
# 0002 and 0003), by model label.
KEPT_MODELS = frozenset(
    {
        "accounts.ApiToken",
        "accounts.User",
        "organisations.Area",
        "organisations.Unit",
        "needs.Category",
        "needs.DeadlineRule",
    }
)

# The generation this request read (None: not read yet); absent outside a request.
_UNREAD = object()
_MISSING = object()
_request: ContextVar[object | None] = ContextVar("wenxu_generation", default=None)


class Kept:
    """A bounded least-recently-used map shared by the threads of a process."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any:
        with self._lock:
            value = self._items.get(key, _MISSING)
            if value is not _MISSING:
                self._items.move_to_end(key)
            return value

    def put(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def snapshot(self) -> list[Hashable]:
        """The keys kept now, least recently used first."""
        with self._lock:
            return list(self._items)

    def __len__(self) -> int:
        return len(self._items)


kept = Kept(MAX_ENTRIES)


def current() -> int | None:
    """This request's configuration generation (read at the first call); None outside a web
    request or when the database holds none."""
    state = _request.get()
    if state is None:
        return None
    if state is _UNREAD:
        value = _read()
        state = _MISSING if value is None else value
        _request.set(state)
    return None if state is _MISSING else state  # type: ignore[return-value]


def offer(alias: str, value: int | None) -> None:
    """The generation as read from database `alias` along with another statement (the
    session's, wenxu.accounts.sessions): this request's, if it has read none yet and would
    have read it there."""
    from django.db import router

    from wenxu.core.models import Generation

    if _request.get() is _UNREAD and router.db_for_read(Generation) == alias:
        _request.set(_MISSING if value is None else int(value))


def _read() -> int | None:
    """The generation, in plain SQL: every page reads it, and building the same one-row query
    through the ORM cost each request ~0.5 ms of Python (more than the database's work). From
    the database the ORM would have read it from (a replica's is never newer than the data
    read after it there)."""
    from django.db import connections, router

    from wenxu.core.models import Generation
    from wenxu.lib import healthcheck

    alias = router.db_for_read(Generation)
    connection = connections[alias]
    table = connection.ops.quote_name(Generation._meta.db_table)
    sql = f"SELECT value FROM {table} WHERE name = %s"  # noqa: S608 - a model's table
    # An API call's first statement: it checks the connection too (wenxu.lib.healthcheck).
    row = healthcheck.fetchone(connection, sql, [NAME])
    return None if row is None else int(row[0])


def remember(kind: str, key: Hashable, build: Callable[[], T], *, store: Kept = kept) -> T:
    """`build()`, kept under this request's generation for the next requests of this process.

    What `build` returns is shared between threads and requests: it must be immutable (tuples,
    frozensets, frozen dataclasses, strings). `kind` and `key` together name what `build`
    reads. `store`: a `Kept` of its own for large values, bounded apart from the small ones.
    """
    generation = current()
    if generation is None:
        return build()
    full = (kind, generation, key)
    found = store.get(full)
    if found is not _MISSING:
        return found  # type: ignore[no-any-return]
    value = build()
    store.put(full, value)
    return value


def remember_many(
    kind: str, keys: Collection[K], build: Callable[[list[K]], dict[K, T]]
) -> dict[K, T]:
    """`remember` for many keys at once: `build(missing)` reads the ones not kept (one query
    for all of them) and answers by key; a key it leaves out is absent from the answer."""
    generation = current()
    if generation is None:
        return build(list(keys)) if keys else {}
    found: dict[K, T] = {}
    missing: list[K] = []
    for key in keys:
        value = kept.get((kind, generation, key))
        if value is _MISSING:
            missing.append(key)
        else:
            found[key] = value
    if missing:
        built = build(missing)
        for key, value in built.items():
            kept.put((kind, generation, key), value)
        found.update(built)
    return found


def kept_instances(model: type[M], ids: Collection[int | None]) -> dict[int, M]:
    """Instances of `model` (a table the triggers watch) by id, each a new object built from
    values kept between requests: what `select_related` would have joined, without the join.
    A page's query that joins the need to its area, category and units costs PostgreSQL more
    to plan than to run (a star of joins: ~10 ms for the need page's nine tables)."""
    from django.db import DEFAULT_DB_ALIAS

    assert model._meta.label in KEPT_MODELS, f"{model._meta.label} is not watched"
    fields = [field.attname for field in model._meta.concrete_fields]
    pk = model._meta.pk
    assert pk is not None
    at = fields.index(pk.attname)

    def read(missing: list[int]) -> dict[int, tuple[Any, ...]]:
        if len(missing) == 1:  # the usual miss (an intake's area): a statement compiled once
            found = _by_id(model).first(missing[0])
            if found is None:
                return {}
            return {missing[0]: tuple(getattr(found, name) for name in fields)}
        rows = model._default_manager.filter(pk__in=missing).values_list(*fields)
        return {row[at]: tuple(row) for row in rows}

    wanted = {pk_value for pk_value in ids if pk_value is not None}
    values = remember_many(f"rows:{model._meta.label}", wanted, read)
    return {key: model.from_db(DEFAULT_DB_ALIAS, fields, row) for key, row in values.items()}


_BY_ID: dict[type[Model], Any] = {}


def _by_id(model: type[M]) -> Any:
    """`model`'s row by id, its statement compiled once per connection (ADR 0030): a process
    meets each area of a city once per generation, and building the one-row query cost more
    than reading it."""
    from wenxu.lib.prepared import Prepared  # it builds on this module's `Kept`

    found = _BY_ID.get(model)
    if found is None:
        found = _BY_ID.setdefault(
            model, Prepared(model, lambda pk: model._default_manager.filter(pk=pk))
        )
    return found


@contextmanager
def request_scope() -> Iterator[None]:
    """One request's generation: read at its first use inside, kept values used from then on.
    The middleware opens one per request; a benchmark that times what a page calls opens one
    per call, so that it pays what the page pays."""
    token = _request.set(_UNREAD)
    try:
        yield
    finally:
        _request.reset(token)


class GenerationMiddleware:
    """Opens the request's generation (read at its first use) and closes it after the answer."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        with request_scope():
            return self.get_response(request)
