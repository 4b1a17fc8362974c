"""Trigram indexes for the ledger's keyword search (ADR 0038), PostgreSQL only.

A search (`q`) finds its words anywhere in a need's number, title, description or address
(`LIKE '%…%'`). Without an index PostgreSQL reads every need of the list to look: at 100 k
needs a unit's search read its ~14,000 needs in ~20 ms, and at 1 M it would read ten times as
many. pg_trgm's GIN indexes give it the few needs that hold the words' trigrams, Chinese ones
too (in a UTF-8 locale), and PostgreSQL combines them with the unit's index.

Built CONCURRENTLY, so a city's ledger keeps taking needs meanwhile, and with GIN's
`fastupdate` off: each registration updates the indexes itself (~0.2 ms). With it on, new
entries wait in a pending list that the insert which fills it merges, inside the registration's
transaction, while it holds the year's ledger counter (ADR 0036), so every other registration
would wait for the merge. Bulk writes pay for it: B4's import of 100 k rows ran at 1,222 rows/s
instead of ~2,900.

Where the pg_trgm extension is not installed (PostgreSQL's contrib package), the indexes are
left out with a warning and the search reads the needs as before. SQLite has no such index.
"""

import logging
from typing import Any

from django.db import migrations

logger = logging.getLogger("wenxu.migrations")

COLUMNS = ("number", "title", "description", "address")


def _index(column: str) -> str:
    return f"needs_need_{column}_trgm"


def create_indexes(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")
        if cursor.fetchone() is None:
            logger.warning(
                "PostgreSQL's pg_trgm extension is not available (install the server's contrib "
                "package): the ledger's keyword search works without its indexes, but reads "
                "every need of the list."
            )
            return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for column in COLUMNS:
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {_index(column)} ON needs_need "
            f"USING gin ({column} gin_trgm_ops) WITH (fastupdate = off)"
        )


def drop_indexes(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for column in COLUMNS:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {_index(column)}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("needs", "0010_ledger_number_function"),
    ]

    operations = [
        migrations.RunPython(create_indexes, drop_indexes),
    ]
