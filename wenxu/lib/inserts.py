"""One-row INSERTs built once, for the models a registration writes (ADR 0036).

`Model.save()` builds its INSERT anew for every row: Django's compiler assembles the column
list, the placeholders and the RETURNING clause, and psycopg then writes the values into the
SQL text on the client, for PostgreSQL to parse and plan again. On the intake path (issue #10,
B1) that was a third of a registration's Python, in its four INSERTs.

A model whose bases include `BuiltInserts` keeps everything `save()` and `create()` do (its own
`save`, signals, `pre_save` of each field, `get_db_prep_save`, the database's errors, the
returned id) except the last step: its INSERT comes from a statement built once per
(model, columns, returned columns, connection vendor), and on PostgreSQL it runs as a prepared
statement through `wenxu.lib.planned` (bound on the server, planned once per connection). A
value that is an expression (`RawSQL`, `Func`) is compiled each time into the statement; the
statement is then kept under that SQL as well, and the expression's value is returned by the
INSERT and set on the instance, as Django does for a database default.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from django.db import connections
from django.db.models import Field, Model
from django.db.models.sql import InsertQuery
from django.db.models.sql.compiler import SQLInsertCompiler

from wenxu.lib.planned import planned_rows

_Key = tuple[Any, ...]
_statements: dict[_Key, str] = {}
_compilers: dict[tuple[type[Model], str], SQLInsertCompiler] = {}
_lock = threading.Lock()


class BuiltInserts:
    """A model mixin (before `models.Model` in the bases): see the module's docstring."""

    def _do_insert(
        self,
        manager: Any,
        using: str,
        fields: Sequence[Field[Any, Any]],
        returning_fields: Sequence[Field[Any, Any]],
        raw: bool,
    ) -> list[tuple[Any, ...]]:
        connection = connections[using]
        if (
            raw
            or not fields
            or not connection.features.can_return_columns_from_insert
            or connection.vendor not in {"postgresql", "sqlite"}
            or any(hasattr(field, "get_placeholder") for field in fields)
        ):
            return super()._do_insert(  # type: ignore[misc,no-any-return]
                manager, using, fields, returning_fields, raw
            )
        assert isinstance(self, Model)
        return insert(self, using, fields, returning_fields)


def insert(
    obj: Model,
    using: str,
    fields: Sequence[Field[Any, Any]],
    returning_fields: Sequence[Field[Any, Any]],
) -> list[tuple[Any, ...]]:
    """INSERT `obj`'s `fields` as Django's compiler would, returning `returning_fields` (the
    rows `Model._do_insert` returns); expressions' values are set on `obj`."""
    model = type(obj)
    connection = connections[using]
    compiler: SQLInsertCompiler | None = None
    shape: list[str | None] = []  # per field: None for a value, else the expression's SQL
    params: list[Any] = []
    computed: list[Field[Any, Any]] = []
    for field in fields:
        value = field.pre_save(obj, True)
        if hasattr(value, "resolve_expression"):
            compiler = compiler or _compiler(model, using)
            placeholder: Any = None  # an expression brings its own SQL
            sql, expression_params = compiler.field_as_sql(
                field, placeholder, compiler.prepare_value(field, value)
            )
            shape.append(sql)
            params.extend(expression_params)
            computed.append(field)
        else:
            shape.append(None)
            params.append(field.get_db_prep_save(value, connection=connection))
    returning = [*returning_fields, *(f for f in computed if f not in returning_fields)]
    # A statement that returns nothing still returns the key: `planned_rows` reads rows.
    returned = returning or [model._meta.pk]
    key = (
        model,
        connection.vendor,
        tuple(f.column for f in fields),
        tuple(f.column for f in returned),
        tuple(shape),
    )
    statement = _statements.get(key)
    if statement is None:
        statement = _build(model, using, fields, returned, shape)
        with _lock:
            _statements[key] = statement
    row = list(planned_rows(statement, params, using=using)[0])
    table = model._meta.db_table
    for i, field in enumerate(returning):  # as Django's compiler converts what it reads
        column = field.get_col(table)
        for convert in (
            *connection.ops.get_db_converters(column),
            *field.get_db_converters(connection),  # type: ignore[attr-defined]
        ):
            row[i] = convert(row[i], column, connection)
        if field in computed:
            setattr(obj, field.attname, row[i])
    return [tuple(row[: len(returning_fields)])] if returning_fields else []


def _compiler(model: type[Model], using: str) -> SQLInsertCompiler:
    """An INSERT compiler of `model` (to compile expressions), one per model and database."""
    found = _compilers.get((model, using))
    if found is None:
        found = InsertQuery(model).get_compiler(using=using)
        assert isinstance(found, SQLInsertCompiler)
        with _lock:
            _compilers[(model, using)] = found
    return found


def _build(
    model: type[Model],
    using: str,
    fields: Sequence[Field[Any, Any]],
    returning: Sequence[Field[Any, Any]],
    shape: Sequence[str | None],
) -> str:
    connection = connections[using]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    values = ", ".join("%s" if sql is None else sql for sql in shape)
    sql = f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({values})"  # noqa: S608
    if returning:
        clause, clause_params = connection.ops.return_insert_columns(returning)
        assert not clause_params
        sql = f"{sql} {clause}"
    return sql
