"""The configuration generation (ADR 0026): a table of one row and the triggers that change it
whenever a table that pages keep between requests changes (wenxu.core.generation).

Triggers, not signals or service calls: the admin, bulk loads (`wenxu generate`, imports of
areas), data migrations and plain SQL all change these tables, and a page that kept an old
membership would show a viewer what they may no longer see.
"""

from typing import Any

from django.db import migrations, models

# Who may see what (memberships, permissions, groups) and what the forms and rules offer.
WATCHED = (
    "accounts_membership",
    "accounts_user_groups",
    "accounts_user_user_permissions",
    "auth_group_permissions",
    "organisations_area",
    "organisations_unit",
    "needs_category",
    "needs_deadlinerule",
)

POSTGRESQL_BUMP = """
INSERT INTO core_generation (name, value)
VALUES ('config', (extract(epoch FROM clock_timestamp()) * 1000000)::bigint)
ON CONFLICT (name) DO UPDATE SET value = GREATEST(core_generation.value + 1, EXCLUDED.value);
"""
POSTGRESQL_FUNCTION = f"""
CREATE OR REPLACE FUNCTION wenxu_bump_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {POSTGRESQL_BUMP}
    RETURN NULL;
END
$$;
"""

# SQLite has no statement triggers and a clock in milliseconds: the last three digits are
# random, so two states a millisecond apart (a rolled-back test and the next) differ.
SQLITE_BUMP = """
INSERT INTO core_generation (name, value)
VALUES ('config', CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)
                  + abs(random() % 1000))
ON CONFLICT (name) DO UPDATE SET value = max(core_generation.value + 1, excluded.value);
"""


def create_triggers(apps: Any, schema_editor: Any) -> None:
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(POSTGRESQL_FUNCTION)
            for table in WATCHED:
                cursor.execute(
                    f"CREATE TRIGGER wenxu_generation AFTER INSERT OR UPDATE OR DELETE "
                    f"OR TRUNCATE ON {table} FOR EACH STATEMENT "
                    "EXECUTE FUNCTION wenxu_bump_generation()"
                )
        else:
            for table in WATCHED:
                for event in ("INSERT", "UPDATE", "DELETE"):
                    cursor.execute(
                        f"CREATE TRIGGER wenxu_generation_{table}_{event.lower()} "
                        f"AFTER {event} ON {table} BEGIN {SQLITE_BUMP} END"
                    )
        # The first value.
        cursor.execute(POSTGRESQL_BUMP if connection.vendor == "postgresql" else SQLITE_BUMP)


def drop_triggers(apps: Any, schema_editor: Any) -> None:
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for table in WATCHED:
                cursor.execute(f"DROP TRIGGER IF EXISTS wenxu_generation ON {table}")
            cursor.execute("DROP FUNCTION IF EXISTS wenxu_bump_generation()")
        else:
            for table in WATCHED:
                for event in ("insert", "update", "delete"):
                    cursor.execute(f"DROP TRIGGER IF EXISTS wenxu_generation_{table}_{event}")


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0001_rate_counters"),
        ("accounts", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("organisations", "0001_initial"),
        ("needs", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="Generation",
            fields=[
                ("name", models.CharField(max_length=32, primary_key=True, serialize=False)),
                ("value", models.BigIntegerField()),
            ],
            options={
                "verbose_name": "配置版本",
                "verbose_name_plural": "配置版本",
            },
        ),
        migrations.RunPython(create_triggers, drop_triggers),
    ]
