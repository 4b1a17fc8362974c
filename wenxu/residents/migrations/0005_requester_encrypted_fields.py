# Issue #9: the phone and ID number columns (already encrypted by 0004) read and write through
# the encrypted field. The column type stays varchar(218): no change in the database.

from django.db import migrations

import wenxu.residents.fields


class Migration(migrations.Migration):

    dependencies = [
        ('residents', '0004_encrypt_requester_pii'),
    ]

    operations = [
        migrations.AlterField(
            model_name='requester',
            name='phone',
            field=wenxu.residents.fields.EncryptedCharField(blank=True, context='residents.requester.phone', max_length=30, verbose_name='联系电话'),
        ),
        migrations.AlterField(
            model_name='requester',
            name='id_number',
            field=wenxu.residents.fields.EncryptedCharField(blank=True, context='residents.requester.id_number', max_length=30, verbose_name='证件号码'),
        ),
    ]
