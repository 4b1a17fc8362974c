"""Rows straight into the tables: COPY on PostgreSQL, batched executemany on SQLite.

The generator gives every row its primary key itself (from the table's current maximum), so that
rows can point at each other without a round trip; afterwards PostgreSQL's sequences are moved
past them (`reset_sequences`). SQLite's AUTOINCREMENT follows explicit ids by itself.

Columns come from the models: a column the generator does not fill gets the field's default, so a
column added later with a default needs no change here, and one without a default is refused at
once, naming it.
"""

import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC
from typing import Any

from django.core.management.color import no_style
from django.db import connection, models
from django.db.models.fields import AutoFieldMixin, Field

BATCH_ROWS = 5000

_CONVERTED_ON_SQLITE = frozenset({"DateTimeField", "DateField", "UUIDField", "DecimalField"})


def is_postgresql() -> bool:
    return connection.vendor == "postgresql"


def next_id(model: type[models.Model]) -> int:
    """The first free primary key of `model`'s table."""
    last = model._default_manager.order_by("-pk").values_list("pk", flat=True).first()
    return int(last or 0) + 1


class MissingColumn(Exception):
    pass


class Table:
    """One table's pending rows, written every `BATCH_ROWS` and on `flush()`."""

    def __init__(self, model: type[models.Model], columns: Sequence[str]) -> None:
        meta = model._meta
        fields: dict[str, Field[Any, Any]] = {f.attname: f for f in meta.concrete_fields}
        unknown = [name for name in columns if name not in fields]
        if unknown:
            raise MissingColumn(f"{meta.db_table}: no such columns {unknown}")
        self.table = meta.db_table
        self.count = 0
        extra: list[tuple[str, Any]] = []
        for attname, field in fields.items():
            if attname in columns or (field.primary_key and isinstance(field, AutoFieldMixin)):
                continue  # (an id left out is the database's to give)
            default = field.get_default()
            if default is None and not field.null:
                raise MissingColumn(
                    f"{meta.db_table}.{field.column} has no default: the generator must fill it."
                )
            extra.append((attname, default))
        ordered = [*columns, *(name for name, _value in extra)]
        self.columns = [fields[name].column for name in ordered]
        self.fields = [fields[name] for name in ordered]
        self.extra = tuple(value for _name, value in extra)
        self.rows: list[tuple[Any, ...]] = []
        self._converters: list[tuple[int, Callable[[Any], Any]]] = []
        if not is_postgresql():
            for index, field in enumerate(self.fields):
                if field.get_internal_type() in _CONVERTED_ON_SQLITE:
                    self._converters.append((index, _sqlite_converter(field)))
        if self.extra and self._converters:
            # Defaults are written as the database takes them, once.
            converted = list(self.extra)
            for index, convert in self._converters:
                if index >= len(columns):
                    position = index - len(columns)
                    converted[position] = convert(converted[position])
            self.extra = tuple(converted)
            self._converters = [(i, c) for i, c in self._converters if i < len(columns)]

    def add(self, *values: Any) -> None:
        row = values + self.extra if self.extra else values
        if self._converters:
            cells = list(row)
            for index, convert in self._converters:
                cells[index] = convert(cells[index])
            row = tuple(cells)
        self.rows.append(row)
        self.count += 1
        if len(self.rows) >= BATCH_ROWS:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        rows, self.rows = self.rows, []
        quote = connection.ops.quote_name
        columns = ", ".join(quote(column) for column in self.columns)
        if is_postgresql():
            COPIER.submit(f"COPY {quote(self.table)} ({columns}) FROM STDIN", rows)
        else:
            marks = ", ".join("?" * len(self.columns))
            raw: Any = connection.connection
            raw.executemany(
                f"INSERT INTO {quote(self.table)} ({columns}) VALUES ({marks})",  # noqa: S608
                rows,
            )


class _Copier:
    """COPY on a thread of its own, so PostgreSQL stores one batch while the next is made.

    The thread uses the connection (and so the transaction) of the caller's thread: the caller
    must not use the connection until `drain()` has returned. At most `DEPTH` batches wait;
    an error in the thread is raised again by the next `submit` or `drain`.
    """

    DEPTH = 4

    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[str, list[tuple[Any, ...]]] | None] = queue.Queue(self.DEPTH)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._raw: Any = None

    def submit(self, statement: str, rows: list[tuple[Any, ...]]) -> None:
        self._raise()
        if self._thread is None:
            connection.ensure_connection()
            self._raw = connection.connection
            self._thread = threading.Thread(target=self._run, name="wenxu-copy", daemon=True)
            self._thread.start()
        self._queue.put((statement, rows))

    def drain(self) -> None:
        """Wait until every submitted batch is stored (raises the thread's error, if any)."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            if self._error is not None:
                continue  # drop the rest: the transaction is lost anyway
            statement, rows = job
            try:
                with self._raw.cursor() as cursor, cursor.copy(statement) as copy:
                    for row in rows:
                        copy.write_row(row)
            except BaseException as error:  # handed to the caller's thread
                self._error = error


COPIER = _Copier()


def _sqlite_converter(field: Field[Any, Any]) -> Callable[[Any], Any]:
    """What Django's SQLite backend stores for the field (its own code for the rare types)."""
    kind = field.get_internal_type()
    if kind == "DateTimeField":  # adapt_datetimefield_value: naive UTC, str()
        return lambda value: (
            None if value is None else str(value.astimezone(UTC).replace(tzinfo=None))
        )
    if kind == "DateField":
        return lambda value: None if value is None else str(value)
    if kind == "UUIDField":
        return lambda value: None if value is None else value.hex

    def convert(value: Any) -> Any:
        return None if value is None else field.get_db_prep_save(value, connection)

    return convert


def reset_sequences(model_list: Sequence[type[models.Model]]) -> None:
    """Move PostgreSQL's id sequences (and their many-to-many tables') past the rows written."""
    if not is_postgresql():
        return
    statements = connection.ops.sequence_reset_sql(no_style(), list(model_list))
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


@contextmanager
def bulk_load(models_loaded: Sequence[type[models.Model]]) -> Iterator[None]:
    """On PostgreSQL, load the tables of `models_loaded` (and their many-to-many tables) without
    their secondary indexes and foreign keys, then put both back: an index built once is much
    cheaper than one maintained row by row, and a foreign key added afterwards is checked with
    one join instead of one trigger per row (queued in memory until the commit). Runs inside the
    caller's transaction, so a failure puts everything back as it was. The definitions are read
    from the catalogue, so indexes and constraints added by later migrations come back too.
    Primary keys and unique constraints stay.
    """
    if not is_postgresql():
        yield
        return
    tables: list[str] = []
    for model in models_loaded:
        tables.append(model._meta.db_table)
        for m2m in model._meta.local_many_to_many:
            through: Any = m2m.remote_field.through
            tables.append(through._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)
            FROM pg_constraint c
            WHERE c.contype = 'f' AND c.conrelid = ANY(%s::regclass[]) AND c.conparentid = 0
            ORDER BY 1, 2
            """,
            [tables],
        )
        foreign_keys = cursor.fetchall()
        cursor.execute(
            """
            SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
            FROM pg_index i
            JOIN pg_class ic ON ic.oid = i.indexrelid
            WHERE i.indrelid = ANY(%s::regclass[])
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
              AND NOT EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = i.indexrelid)
            ORDER BY 1
            """,
            [tables],
        )
        indexes = cursor.fetchall()
        quote = connection.ops.quote_name
        _check_pending(cursor)  # DDL waits for no deferred check
        for table, name, _definition in foreign_keys:
            cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {quote(name)}")
        for index, _definition in indexes:
            cursor.execute(f"DROP INDEX {index}")
        cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
    try:
        yield
    finally:
        COPIER.drain()
    with connection.cursor() as cursor:
        _check_pending(cursor)
        for _index, definition in indexes:
            cursor.execute(definition)
        for table, name, definition in foreign_keys:
            cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {quote(name)} {definition}")


def _check_pending(cursor: Any) -> None:
    """Run the deferred foreign key checks queued so far, and defer the later ones again."""
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def analyze(tables: Sequence[str]) -> None:
    """On PostgreSQL, VACUUM (ANALYZE) the tables: fresh planner statistics, so the first queries
    do not plan for empty tables, and a set visibility map, so index-only scans do not visit
    the heap for rows every transaction sees. That is the state of a running ledger (autovacuum
    keeps it so); freshly copied rows are not in it. Inside a transaction (tests), where VACUUM
    cannot run, ANALYZE only."""
    if not is_postgresql():
        return
    command = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"{command} {connection.ops.quote_name(table)}")
