"""The audit log hashes every stored field (hash_version 2), the actor becomes a plain integer, and a tenant with
audit events can no longer be deleted.

Existing events keep their hashes and get `hash_version = 1` (the content they were hashed with): rehashing them
would bless whatever was done to them before. New events default to 2. The actor column keeps its name and values
(`actor_id`); only its foreign key constraint and index go, so a user deletion never UPDATEs an audit row."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0003_initial"),
        ("tenants", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            # The database keeps the `actor_id` column and its values; only the constraint and index are dropped.
            database_operations=[
                migrations.AlterField(
                    model_name="auditevent",
                    name="actor",
                    field=models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                        db_constraint=False,
                        db_index=False,
                    ),
                ),
            ],
            state_operations=[
                migrations.RemoveField(model_name="auditevent", name="actor"),
                migrations.AddField(
                    model_name="auditevent",
                    name="actor_id",
                    field=models.BigIntegerField(blank=True, null=True),
                ),
            ],
        ),
        # Rows already there were hashed with the original content: version 1. New rows: version 2.
        migrations.AddField(
            model_name="auditevent",
            name="hash_version",
            field=models.PositiveSmallIntegerField(default=1),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="hash_version",
            field=models.PositiveSmallIntegerField(default=2),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="tenant",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="audit_events", to="tenants.tenant"
            ),
        ),
        migrations.AddField(
            model_name="auditchainhead",
            name="checkpointed_seq",
            field=models.BigIntegerField(default=0),
        ),
    ]
