"""Ledger marks (ADR 0028): database triggers add a row per unit (`u<id>`) and per recorder
(`r<id>`) whenever a need that scope's ledger lists changes in a way a ledger shows. The
ledger keeps a handler's rendered results under them (wenxu.needs.ledger_kept).

Triggers, not service calls: imports (COPY), `wenxu generate`, the admin, sweeps, data
migrations and plain SQL all write needs, and a kept ledger that missed one would show a
handler an old list. Statement triggers with transition tables, so that a bulk load marks each
scope once, not once per row. PostgreSQL only: on SQLite (one machine, the embedded default) the
ledger keeps nothing, so the table stays empty there.
"""

from typing import Any

from django.db import migrations, models

# A need's columns that a ledger never shows and no filter reads: a change to these alone (a
# progress note, 办理进展) marks nothing. Any other column, present or future, marks.
UNSHOWN = ("version", "updated_at")
_SHOWN_CHANGED = "(to_jsonb(o) {minus}) IS DISTINCT FROM (to_jsonb(n) {minus})".format(
    minus=" ".join(f"- '{column}'" for column in UNSHOWN)
)

FUNCTIONS = f"""
CREATE OR REPLACE FUNCTION wenxu_ledger_mark(scopes text[]) RETURNS void LANGUAGE sql AS $$
    -- Rows only added: two writers never wait for each other here.
    INSERT INTO needs_ledgermark (scope)
    SELECT DISTINCT s FROM unnest(scopes) AS s WHERE s IS NOT NULL;
$$;

CREATE OR REPLACE FUNCTION wenxu_ledger_mark_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM wenxu_ledger_mark(ARRAY(
        SELECT 'u' || n.lead_unit_id FROM new_rows n
        UNION SELECT 'r' || n.recorded_by_id FROM new_rows n));
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION wenxu_ledger_mark_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM wenxu_ledger_mark(ARRAY(
        SELECT 'u' || o.lead_unit_id FROM old_rows o
        UNION SELECT 'r' || o.recorded_by_id FROM old_rows o
        UNION SELECT 'u' || c.unit_id FROM old_rows o
              JOIN needs_need_co_units c ON c.need_id = o.id));
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION wenxu_ledger_mark_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM wenxu_ledger_mark(ARRAY(
        WITH changed AS (
            SELECT o.lead_unit_id AS old_unit, n.lead_unit_id AS new_unit,
                   o.recorded_by_id AS old_recorder, n.recorded_by_id AS new_recorder, n.id
            FROM old_rows o JOIN new_rows n ON n.id = o.id
            WHERE {_SHOWN_CHANGED})
        SELECT 'u' || old_unit FROM changed
        UNION SELECT 'u' || new_unit FROM changed
        UNION SELECT 'r' || old_recorder FROM changed
        UNION SELECT 'r' || new_recorder FROM changed
        UNION SELECT 'u' || c.unit_id FROM changed JOIN needs_need_co_units c ON c.need_id = changed.id));
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION wenxu_ledger_mark_co_units() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM wenxu_ledger_mark(ARRAY(SELECT 'u' || r.unit_id FROM new_rows r));
    ELSE
        PERFORM wenxu_ledger_mark(ARRAY(SELECT 'u' || r.unit_id FROM old_rows r));
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION wenxu_ledger_mark_requesters() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM wenxu_ledger_mark(ARRAY(
        WITH needs AS (
            SELECT n.id, n.lead_unit_id, n.recorded_by_id FROM needs_need n
            WHERE n.requester_id IN (SELECT r.id FROM new_rows r))
        SELECT 'u' || lead_unit_id FROM needs
        UNION SELECT 'r' || recorded_by_id FROM needs
        UNION SELECT 'u' || c.unit_id FROM needs JOIN needs_need_co_units c ON c.need_id = needs.id));
    RETURN NULL;
END $$;
"""

TRIGGERS = (
    ("needs_need", "INSERT", "NEW TABLE AS new_rows", "wenxu_ledger_mark_inserted"),
    (
        "needs_need",
        "UPDATE",
        "OLD TABLE AS old_rows NEW TABLE AS new_rows",
        "wenxu_ledger_mark_updated",
    ),
    ("needs_need", "DELETE", "OLD TABLE AS old_rows", "wenxu_ledger_mark_deleted"),
    ("needs_need_co_units", "INSERT", "NEW TABLE AS new_rows", "wenxu_ledger_mark_co_units"),
    ("needs_need_co_units", "DELETE", "OLD TABLE AS old_rows", "wenxu_ledger_mark_co_units"),
    ("residents_requester", "UPDATE", "NEW TABLE AS new_rows", "wenxu_ledger_mark_requesters"),
)
FUNCTION_NAMES = (
    "wenxu_ledger_mark_inserted",
    "wenxu_ledger_mark_updated",
    "wenxu_ledger_mark_deleted",
    "wenxu_ledger_mark_co_units",
    "wenxu_ledger_mark_requesters",
)


def _trigger_name(table: str, event: str) -> str:
    return f"wenxu_ledger_mark_{event.lower()}"


def create_triggers(apps: Any, schema_editor: Any) -> None:
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(FUNCTIONS)
        for table, event, referencing, function in TRIGGERS:
            cursor.execute(
                f"CREATE TRIGGER {_trigger_name(table, event)} AFTER {event} ON {table} "
                f"REFERENCING {referencing} FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
            )


def drop_triggers(apps: Any, schema_editor: Any) -> None:
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for table, event, _referencing, _function in TRIGGERS:
            cursor.execute(f"DROP TRIGGER IF EXISTS {_trigger_name(table, event)} ON {table}")
        for function in FUNCTION_NAMES:
            cursor.execute(f"DROP FUNCTION IF EXISTS {function}()")
        cursor.execute("DROP FUNCTION IF EXISTS wenxu_ledger_mark(text[])")


class Migration(migrations.Migration):
    dependencies = [
        ("needs", "0007_partial_indexes_for_the_active_ledger"),
        ("residents", "0005_requester_encrypted_fields"),
    ]

    operations = [
        migrations.CreateModel(
            name="LedgerMark",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("scope", models.CharField(db_index=True, max_length=24)),
            ],
            options={
                "verbose_name": "台账变更标记",
                "verbose_name_plural": "台账变更标记",
            },
        ),
        migrations.RunPython(create_triggers, drop_triggers),
    ]
