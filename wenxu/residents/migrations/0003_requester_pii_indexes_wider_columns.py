# Issue #9: blind-index columns, and phone / ID columns wide enough for the encrypted text
# (wenxu.lib.crypto.sealed_length(30) == 218). 0004 encrypts, 0005 switches to the encrypted field.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('residents', '0002_reveal_permission'),
    ]

    operations = [
        migrations.AddField(
            model_name='requester',
            name='phone_index',
            field=models.CharField(blank=True, db_index=True, default='', editable=False, max_length=64),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name='requester',
            name='id_number_index',
            field=models.CharField(blank=True, db_index=True, default='', editable=False, max_length=64),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name='requester',
            name='phone',
            field=models.CharField(blank=True, max_length=218, verbose_name='联系电话'),
        ),
        migrations.AlterField(
            model_name='requester',
            name='id_number',
            field=models.CharField(blank=True, max_length=218, verbose_name='证件号码'),
        ),
    ]
