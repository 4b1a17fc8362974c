# Issue #9: encrypt the phones and ID numbers already stored and fill their blind indexes.
# Batches of 1,000 by primary key, each committed on its own (the migration is not atomic: a
# large table is not rewritten in one transaction); values already encrypted are left alone, so
# a run cut short is simply run again. Reversible: the reverse decrypts them back and clears the
# indexes.

from django.db import migrations, transaction

from wenxu.lib import crypto
from wenxu.residents import pii

BATCH = 1000
FIELDS = ("phone", "id_number")
INDEXES = tuple(pii.INDEX_COLUMNS[field] for field in FIELDS)


def _batches(Requester):
    last = 0
    while True:
        rows = list(
            Requester.objects.filter(pk__gt=last).order_by("pk").only("pk", *FIELDS, *INDEXES)[:BATCH]
        )
        if not rows:
            return
        yield rows
        last = rows[-1].pk


def encrypt_existing(apps, schema_editor):
    Requester = apps.get_model("residents", "Requester")
    for rows in _batches(Requester):
        changed = []
        for row in rows:
            for field in FIELDS:
                plain = getattr(row, field)
                if plain and not crypto.is_sealed(plain):
                    setattr(row, pii.INDEX_COLUMNS[field], pii.INDEXERS[field](plain))
                    setattr(row, field, pii.encrypt(field, plain))
                    changed.append(row)
        if changed:
            with transaction.atomic():
                Requester.objects.bulk_update(set(changed), [*FIELDS, *INDEXES])


def decrypt_existing(apps, schema_editor):
    Requester = apps.get_model("residents", "Requester")
    for rows in _batches(Requester):
        changed = []
        for row in rows:
            for field in FIELDS:
                stored = getattr(row, field)
                if crypto.is_sealed(stored):
                    setattr(row, field, pii.decrypt(field, stored))
                    setattr(row, pii.INDEX_COLUMNS[field], "")
                    changed.append(row)
        if changed:
            with transaction.atomic():
                Requester.objects.bulk_update(set(changed), [*FIELDS, *INDEXES])


class Migration(migrations.Migration):

    atomic = False  # one transaction per batch (above)

    dependencies = [
        ('residents', '0003_requester_pii_indexes_wider_columns'),
    ]

    operations = [
        migrations.RunPython(encrypt_existing, decrypt_existing),
    ]
