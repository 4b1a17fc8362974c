"""`wenxu_next_ledger_number(year)` (ADR 0036): the year's next ledger number, taken from the
year's counter (`needs_ledgercounter`, created by the year's first registration) in the
statement that calls it. A new need's INSERT calls it, the last statement before the commit,
so the counter's row lock, which orders the numbers and leaves no gaps, is held from there to
the commit only. PostgreSQL only: SQLite takes one writer at a time, and numbers in Python
(`services.register._next_number`). Its format is `wenxu.lib.ids.ledger_number`'s."""

from typing import Any

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION wenxu_next_ledger_number(of_year integer) RETURNS text
LANGUAGE sql VOLATILE AS $$
    INSERT INTO needs_ledgercounter AS counter (year, last) VALUES (of_year, 1)
    ON CONFLICT (year) DO UPDATE SET last = counter.last + 1
    RETURNING 'WX-' || lpad(year::text, 4, '0') || '-'
        || lpad(last::text, greatest(6, length(last::text)), '0');
$$;
"""


def create_function(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FUNCTION)


def drop_function(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP FUNCTION IF EXISTS wenxu_next_ledger_number(integer)")


class Migration(migrations.Migration):
    dependencies = [
        ("needs", "0009_kept_ledger"),
    ]

    operations = [
        migrations.RunPython(create_function, drop_function),
    ]
