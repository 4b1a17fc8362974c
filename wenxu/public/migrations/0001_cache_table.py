"""The table of the database cache (rate limits of the public pages), made by `migrate`, so
that every way of setting up a database (serve, demo, tests, a plain migrate) has it."""

from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps: object, schema_editor: object) -> None:
    call_command("createcachetable", verbosity=0)


class Migration(migrations.Migration):
    dependencies: list[tuple[str, str]] = []
    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop)]
