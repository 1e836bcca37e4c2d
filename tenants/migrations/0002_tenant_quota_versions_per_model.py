from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("tenants", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="tenant",
            name="quota_versions_per_model",
            field=models.IntegerField(blank=True, help_text="Empty: unlimited.", null=True),
        ),
    ]
