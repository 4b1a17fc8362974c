"""Querysets compiled once per database connection, then run again with another id.

Django builds and compiles a queryset's SQL on every run. For most queries that is a small
part of a page; for a few it is most of it: a need with its requester, visit and recorder
(~130 columns in three joins) cost the need page ~1.7 ms of Python to compile, for a
primary-key look-up PostgreSQL answers in 0.1 ms. `Prepared` compiles such a queryset once
per connection (connections belong to a thread) and runs its SQL again with the one value that
changes, building instances as Django's ModelIterable does (select_related included).

What it takes (checked when it compiles, but for the last): a queryset of model instances
with the id it is built with among its parameters, with no annotations, extra columns or
prefetching (prefetch on the results), and whose SQL depends on nothing else: no clock, no
settings, no user.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from weakref import WeakKeyDictionary

from django.db import connections, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model, QuerySet
from django.db.models.query import get_related_populators  # type: ignore[attr-defined]
from django.db.models.sql.compiler import SQLCompiler

from wenxu.core.generation import Kept

M = TypeVar("M", bound=Model)

# The id a queryset is compiled with: no row has it, and it appears nowhere else in the SQL.
MARK = -6_930_248_117


@dataclass(frozen=True)
class _Compiled:
    compiler: SQLCompiler
    sql: str
    params: tuple[Any, ...]
    at: tuple[int, ...]
    init_list: list[str]
    start: int
    end: int
    populators: list[Any]


def _run(
    connection: BaseDatabaseWrapper,
    sql: str,
    params: tuple[Any, ...],
    at: tuple[int, ...],
    value: Any,
) -> list[Any]:
    """The rows of `sql` with `value` in the parameters at `at`."""
    values = list(params)
    for i in at:
        values[i] = value
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        return list(cursor.fetchall())


class Prepared(Generic[M]):
    """`build(id)`'s rows, its SQL compiled once per connection and run with each id."""

    def __init__(
        self, model: type[M], build: Callable[[int], QuerySet[M]], *, write: bool = False
    ) -> None:
        """`write`: run on the database the model is written to (a locking read)."""
        self.model = model
        self._build = build
        self._write = write
        self._compiled: WeakKeyDictionary[BaseDatabaseWrapper, _Compiled] = WeakKeyDictionary()
        self._lock = threading.Lock()

    def all(self, value: int) -> list[M]:
        alias = (router.db_for_write if self._write else router.db_for_read)(self.model)
        connection = connections[alias]
        compiled = self._compiled.get(connection)
        if compiled is None:
            compiled = self._compile(connection, alias)
        rows = _run(connection, compiled.sql, compiled.params, compiled.at, value)
        found: list[M] = []
        for row in compiled.compiler.results_iter([rows]):
            obj = self.model.from_db(alias, compiled.init_list, row[compiled.start : compiled.end])
            for populator in compiled.populators:
                populator.populate(row, obj)
            found.append(obj)
        return found

    def first(self, value: int) -> M | None:
        found = self.all(value)
        return found[0] if found else None

    def _compile(self, connection: BaseDatabaseWrapper, alias: str) -> _Compiled:
        queryset = self._build(MARK)
        query = queryset.query
        if (
            queryset.model is not self.model
            or queryset._prefetch_related_lookups  # type: ignore[attr-defined]
            or query.annotation_select
            or query.extra_select
            or queryset._iterable_class.__name__ != "ModelIterable"
        ):
            raise ValueError("Prepared takes a plain queryset of model instances.")
        compiler = query.get_compiler(connection=connection)
        sql, params = compiler.as_sql()
        at = [i for i, param in enumerate(params) if type(param) is int and param == MARK]
        if not at or str(MARK) in sql or compiler.has_extra_select:
            raise ValueError("Prepared takes a queryset with its id as a parameter.")
        klass_info = compiler.klass_info
        assert klass_info is not None
        fields = klass_info["select_fields"]
        start, end = fields[0], fields[-1] + 1
        compiled = _Compiled(
            compiler=compiler,
            sql=sql,
            params=tuple(params),
            at=tuple(at),
            init_list=[column[0].target.attname for column in compiler.select[start:end]],
            start=start,
            end=end,
            populators=get_related_populators(klass_info, compiler.select, alias),
        )
        with self._lock:
            self._compiled[connection] = compiled
        return compiled


@dataclass(frozen=True)
class _Statement:
    sql: str
    params: tuple[Any, ...]
    at: tuple[int, ...]


# The text a `PreparedValue` query is compiled with: no ledger number, path or name holds it.
TEXT_MARK = "\x1fwenxu-prepared\x1f"


class PreparedValue:
    """The first column of the first row of a query whose SQL depends on a key and one text
    value: compiled once per connection and key (the least recently used of `size` go), run
    with each value. For a viewer's scoped look-ups, whose SQL is the viewer's scope: the key
    must name everything the SQL reads besides the value (the viewer, their scopes). The
    column must come from the database as Python wants it (an id), as no converter runs."""

    def __init__(self, model: type[Model], *, size: int = 1_000) -> None:
        self.model = model
        self._size = size
        self._kept: WeakKeyDictionary[BaseDatabaseWrapper, Kept] = WeakKeyDictionary()
        self._lock = threading.Lock()

    def first(self, key: Hashable, build: Callable[[str], QuerySet[Any]], value: str) -> Any:
        """`build(value)`'s first value (None without rows). `build` runs only when the key is
        new on this connection, with TEXT_MARK in place of the value."""
        alias = router.db_for_read(self.model)
        connection = connections[alias]
        kept = self._kept.get(connection)
        if kept is None:
            with self._lock:
                kept = self._kept.setdefault(connection, Kept(self._size))
        statement = kept.get(key)
        if not isinstance(statement, _Statement):
            statement = self._compile(build, connection)
            kept.put(key, statement)
        rows = _run(connection, statement.sql, statement.params, statement.at, value)
        return rows[0][0] if rows else None

    def _compile(
        self, build: Callable[[str], QuerySet[Any]], connection: BaseDatabaseWrapper
    ) -> _Statement:
        sql, params = build(TEXT_MARK).query.get_compiler(connection=connection).as_sql()
        at = tuple(i for i, param in enumerate(params) if param == TEXT_MARK)
        if not at or TEXT_MARK in sql:
            raise ValueError("PreparedValue takes a queryset with its value as a parameter.")
        return _Statement(sql=sql, params=tuple(params), at=at)


def known_related(obj: Model, **related: list[Any]) -> None:
    """Note what `obj`'s relations hold, as `prefetch_related` would after reading them, for an
    object about to be shown and dropped: `obj.<name>.all()` then answers without a query."""
    cache: dict[str, Any] = obj.__dict__.setdefault("_prefetched_objects_cache", {})
    for name, items in related.items():
        queryset = getattr(obj, name).all()
        queryset._result_cache = list(items)
        queryset._prefetch_done = True
        cache[name] = queryset
