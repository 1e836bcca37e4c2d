"""Indexes for the hot read path.

- `mv_model_stage_version` (model, stage, version DESC) replaces (model, stage): the newest version per
  stage becomes one index probe (`registry.latest`), however many versions a model has.
- Tag search (`tags.k = 'v'`, `registered_models/search`, `model-versions/search`): on PostgreSQL a HASH index on
  each tag table's `value` and a btree on `key`. Not a btree on (key, value): values may hold 100,000 characters
  and a btree entry is limited to about 2.7 kB, so a long value would fail to insert; a hash index stores only the
  value's 32-bit hash and serves the `=` and `IN` comparisons search uses. SQLite (the embedded setup) gets the
  btree on `key` only."""

from __future__ import annotations

from django.db import migrations, models

TAG_TABLES = ("registry_registeredmodeltag", "registry_modelversiontag")


def _hash_indexes(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TAG_TABLES:
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {table}_value_hash ON {table} USING hash (value)")


def _drop_hash_indexes(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TAG_TABLES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {table}_value_hash")


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0009_idempotency_keys_and_enqueued_at"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="modelversion", name="modelversion_model_stage"),
        migrations.AddIndex(
            model_name="modelversion",
            index=models.Index(fields=["model", "stage", "-version"], name="mv_model_stage_version"),
        ),
        migrations.AddIndex(
            model_name="registeredmodeltag",
            index=models.Index(fields=["key"], name="registeredmodeltag_key"),
        ),
        migrations.AddIndex(
            model_name="modelversiontag",
            index=models.Index(fields=["key"], name="modelversiontag_key"),
        ),
        migrations.RunPython(_hash_indexes, _drop_hash_indexes, elidable=False),
    ]
