# The ledger's indexes move to the active set (ADR 0021). On PostgreSQL they are built and
# dropped CONCURRENTLY, so a city's ledger keeps taking needs while the indexes are built;
# other databases (SQLite) get the plain operations. Also on PostgreSQL: the needs table is
# vacuumed after 2 % of its rows changed instead of 20 %, so the visibility map stays fresh
# and counts and pages are answered from the covering indexes alone.

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models
from django.db.migrations.operations import AddIndex, RemoveIndex

ACTIVE = ["assigned", "following", "in_progress", "registered", "replied"]


class AddIndexConcurrentlyOnPostgreSQL(AddIndexConcurrently):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)
        else:
            AddIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
        else:
            AddIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)


class RemoveIndexConcurrentlyOnPostgreSQL(RemoveIndexConcurrently):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)
        else:
            RemoveIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
        else:
            RemoveIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)


AUTOVACUUM = (
    "autovacuum_vacuum_scale_factor",
    "autovacuum_vacuum_insert_scale_factor",
    "autovacuum_analyze_scale_factor",
)


def vacuum_often(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        settings = ", ".join(f"{name} = 0.02" for name in AUTOVACUUM)
        schema_editor.execute(f"ALTER TABLE needs_need SET ({settings})")


def vacuum_as_default(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE needs_need RESET ({', '.join(AUTOVACUUM)})")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("needs", "0006_need_about_unit"),
    ]

    operations = [
        # New first: the ledger is never without an index while this runs.
        AddIndexConcurrentlyOnPostgreSQL(
            model_name="need",
            index=models.Index(
                condition=models.Q(("status__in", ACTIVE)),
                fields=["resolve_due", "id"],
                include=[
                    "status",
                    "area",
                    "lead_unit",
                    "recorded_by",
                    "about_unit",
                    "about_unit_disclosed",
                ],
                name="need_active_due",
            ),
        ),
        AddIndexConcurrentlyOnPostgreSQL(
            model_name="need",
            index=models.Index(
                condition=models.Q(("status__in", ACTIVE)),
                fields=["lead_unit", "resolve_due", "id"],
                include=["status", "area", "recorded_by", "about_unit", "about_unit_disclosed"],
                name="need_active_unit_due",
            ),
        ),
        AddIndexConcurrentlyOnPostgreSQL(
            model_name="need",
            index=models.Index(
                condition=models.Q(("status__in", ACTIVE)),
                fields=["area", "resolve_due", "id"],
                include=[
                    "status",
                    "lead_unit",
                    "recorded_by",
                    "about_unit",
                    "about_unit_disclosed",
                ],
                name="need_active_area_due",
            ),
        ),
        AddIndexConcurrentlyOnPostgreSQL(
            model_name="need",
            index=models.Index(
                condition=models.Q(("status__in", ACTIVE)),
                fields=["status", "resolve_due", "id"],
                include=["response_due", "replied_at", "followup_date"],
                name="need_active_status_due",
            ),
        ),
        AddIndexConcurrentlyOnPostgreSQL(
            model_name="need",
            index=models.Index(
                condition=models.Q(("replied_at__isnull", True), ("status__in", ACTIVE)),
                fields=["resolve_due", "id"],
                include=[
                    "status",
                    "area",
                    "lead_unit",
                    "recorded_by",
                    "about_unit",
                    "about_unit_disclosed",
                ],
                name="need_running_due",
            ),
        ),
        RemoveIndexConcurrentlyOnPostgreSQL(model_name="need", name="need_status_due"),
        RemoveIndexConcurrentlyOnPostgreSQL(model_name="need", name="need_unit_status"),
        RemoveIndexConcurrentlyOnPostgreSQL(model_name="need", name="need_area_status"),
        migrations.RunPython(vacuum_often, vacuum_as_default),
    ]
