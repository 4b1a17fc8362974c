"""`wenxu_serial_plan()` (ADR 0040): a marker that keeps a statement's plan serial. PostgreSQL
plans a statement without parallel workers when it calls any function marked PARALLEL UNSAFE
(it looks before it simplifies, so the call costs nothing: an immutable constant, folded away).
The area ranking calls it: a `SET LOCAL max_parallel_workers_per_gather = 0` in a transaction
of its own did the same for three more round trips. PostgreSQL only: SQLite has no parallel
plans, and its statements leave the call out."""

from typing import Any

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION wenxu_serial_plan() RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL UNSAFE AS $$ SELECT true $$;
"""


def create_function(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FUNCTION)


def drop_function(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP FUNCTION IF EXISTS wenxu_serial_plan()")


class Migration(migrations.Migration):
    dependencies = [
        ("insight", "0004_scope_counts"),
    ]

    operations = [
        migrations.RunPython(create_function, drop_function),
    ]
