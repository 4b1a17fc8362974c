"""The configuration generation changes with users and API tokens too (ADR 0032): the signed-in
user and a bearer token with its user are kept between requests under it, so a user
deactivated, renamed or given a new password, or a token revoked, is read afresh at the next
request, on every server.

What each request writes is left out: a login changes only `last_login`, a token's use only
`last_used_at` (it would change the generation at every sign-in and every few minutes of API
use). A new user changes it (an id used again, as in tests that roll back, is then not read as
the user kept under it before); a new token does not (tokens are kept by their key's hash).
"""

import importlib
from typing import Any

from django.db import migrations

_first = importlib.import_module("wenxu.core.migrations.0002_configuration_generation")

# (table, model, the column each use writes, whether an insert changes the generation)
WATCHED = (
    ("accounts_user", "User", "last_login", True),
    ("accounts_apitoken", "ApiToken", "last_used_at", False),
)


def _postgresql(table: str, written: str, inserts: bool) -> list[str]:
    """Any change but to `written`: the row compared whole, less that column, so that a column
    added later changes the generation too."""
    events = "INSERT OR DELETE OR TRUNCATE" if inserts else "DELETE OR TRUNCATE"
    return [
        f"CREATE TRIGGER wenxu_generation_row AFTER UPDATE ON {table} FOR EACH ROW "
        f"WHEN ((to_jsonb(OLD) - '{written}') IS DISTINCT FROM (to_jsonb(NEW) - '{written}')) "
        "EXECUTE FUNCTION wenxu_bump_generation()",
        f"CREATE TRIGGER wenxu_generation AFTER {events} ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION wenxu_bump_generation()",
    ]


def _sqlite(table: str, written: str, inserts: bool, columns: list[str]) -> list[str]:
    """SQLite compares no whole rows: any update that leaves `written` as it was, or that
    changes one of today's other columns along with it."""
    changed = " OR ".join(f'old."{c}" IS NOT new."{c}"' for c in columns)
    bump = _first.SQLITE_BUMP
    return [
        f"CREATE TRIGGER wenxu_generation_{table}_update AFTER UPDATE ON {table} "
        f'WHEN old."{written}" IS new."{written}" OR {changed} BEGIN {bump} END',
        *(
            f"CREATE TRIGGER wenxu_generation_{table}_{event.lower()} AFTER {event} ON {table} "
            f"BEGIN {bump} END"
            for event in (("INSERT", "DELETE") if inserts else ("DELETE",))
        ),
    ]


def create_triggers(apps: Any, schema_editor: Any) -> None:
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        for table, model, written, inserts in WATCHED:
            if connection.vendor == "postgresql":
                statements = _postgresql(table, written, inserts)
            else:
                fields = apps.get_model("accounts", model)._meta.concrete_fields
                columns = [f.column for f in fields if f.column != written]
                statements = _sqlite(table, written, inserts, columns)
            for statement in statements:
                cursor.execute(statement)


def drop_triggers(apps: Any, schema_editor: Any) -> None:
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        for table, _model, _written, _inserts in WATCHED:
            if connection.vendor == "postgresql":
                cursor.execute(f"DROP TRIGGER IF EXISTS wenxu_generation_row ON {table}")
                cursor.execute(f"DROP TRIGGER IF EXISTS wenxu_generation ON {table}")
            else:
                for event in ("update", "insert", "delete"):
                    cursor.execute(f"DROP TRIGGER IF EXISTS wenxu_generation_{table}_{event}")


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0002_configuration_generation"),
        ("accounts", "0004_login_security"),
    ]

    operations = [migrations.RunPython(create_triggers, drop_triggers)]
