"""Kept ledger results shared by every server process (ADR 0031).

On PostgreSQL the table is unlogged: it is a cache, so it writes no WAL, a crash empties it,
and replicas do not have its rows (wenxu reads it on the primary only).
"""

from typing import Any

from django.db import migrations, models


def _unlogged(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE needs_keptledger SET UNLOGGED")


class Migration(migrations.Migration):
    dependencies = [
        ("needs", "0008_ledger_marks"),
    ]

    operations = [
        migrations.CreateModel(
            name="KeptLedger",
            fields=[
                ("key", models.CharField(max_length=64, primary_key=True, serialize=False)),
                ("made", models.DateTimeField()),
                ("html", models.TextField()),
            ],
            options={
                "verbose_name": "台账结果缓存",
                "verbose_name_plural": "台账结果缓存",
            },
        ),
        migrations.RunPython(_unlogged, migrations.RunPython.noop, elidable=True),
    ]
