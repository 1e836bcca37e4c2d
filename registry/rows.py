"""Rows instead of model instances on the hottest reads, and relations fetched in the row's own statement.

On PostgreSQL a row can carry its relations as arrays (`ARRAY(SELECT ARRAY[key, value] …)` for tags, the same
for aliases) and a model row its newest version per stage as JSON, so `registered-models/get` is one statement
and `model-versions/search` one (`registry/search/versions.py`) where prefetching took three to five: under load
every round trip waits for a turn on the CPU. Elsewhere (the embedded SQLite) callers prefetch as before.

A version row is `search.VERSION_ROW_FIELDS`: name, version, creation and update timestamps, stage, description,
source, run id, status, run link, user label, status message, tags as `[[key, value], …]`."""

from __future__ import annotations

import json
from typing import Any

from django.contrib.postgres.fields import ArrayField
from django.db import connection
from django.db.models import Model, QuerySet, TextField
from django.db.models.expressions import RawSQL

from .models import ModelAlias, ModelVersion, ModelVersionTag, RegisteredModel
from .validation import STAGES


def _qn(name: str) -> str:
    return connection.ops.quote_name(name)


def _pairs_field() -> ArrayField:
    return ArrayField(ArrayField(TextField()))


def tag_pairs(table: type[Model], owner_table: type[Model], fk: str) -> RawSQL:
    """The row's tags as `[[key, value], …]`. `owner_table` is the queried model: Django aliases its table by
    its own name in the outer query."""
    owner = f"{_qn(owner_table._meta.db_table)}.{_qn('id')}"
    sql = (
        f"ARRAY(SELECT ARRAY[t.key, t.value] FROM {_qn(table._meta.db_table)} t WHERE t.{_qn(fk)} = {owner})"
    )
    return RawSQL(sql, [], output_field=_pairs_field())


def alias_pairs() -> RawSQL:
    """A registered model's aliases as `[[alias, version number], …]`."""
    sql = (
        f"ARRAY(SELECT ARRAY[a.alias, v.version::text] FROM {_qn(ModelAlias._meta.db_table)} a "
        f"JOIN {_qn(ModelVersion._meta.db_table)} v ON v.id = a.version_id "
        f"WHERE a.model_id = {_qn(RegisteredModel._meta.db_table)}.{_qn('id')})"
    )
    return RawSQL(sql, [], output_field=_pairs_field())


def latest_json() -> RawSQL:
    """A registered model's newest version per stage (any status, by version), as JSON text of version rows
    without the name: one `LATERAL … ORDER BY version DESC LIMIT 1` probe of `mv_model_stage_version` per stage,
    as `registry.latest` does, inside the model's own statement. NULL when the model has no version."""
    versions, tags = _qn(ModelVersion._meta.db_table), _qn(ModelVersionTag._meta.db_table)
    model_id = f"{_qn(RegisteredModel._meta.db_table)}.{_qn('id')}"
    sql = (
        "(SELECT json_agg(json_build_array(v.version, v.creation_timestamp, v.last_updated_timestamp, v.stage, "
        "v.description, v.source, v.run_id, v.status, v.run_link, v.user_label, v.status_message, "
        f"ARRAY(SELECT ARRAY[t.key, t.value] FROM {tags} t WHERE t.version_id = v.id)) ORDER BY v.version)::text "
        "FROM unnest(%s::text[]) AS s(stage) CROSS JOIN LATERAL "
        f"(SELECT mv.* FROM {versions} mv WHERE mv.model_id = {model_id} AND mv.stage = s.stage "
        "ORDER BY mv.version DESC LIMIT 1) AS v)"
    )
    return RawSQL(sql, [list(STAGES)], output_field=TextField())


def latest_rows_from_json(model: RegisteredModel, text: str | None) -> list[tuple[Any, ...]]:
    return [(model.name, *item) for item in json.loads(text or "[]")]


def with_tags(qs: QuerySet[ModelVersion]) -> QuerySet[ModelVersion]:
    """Versions with their tags: annotated as `tag_pairs` on PostgreSQL (same statement), prefetched elsewhere."""
    if connection.vendor == "postgresql":
        return qs.annotate(tag_pairs=tag_pairs(ModelVersionTag, ModelVersion, "version_id"))
    return qs.prefetch_related("tags")


def version_row(version: ModelVersion, model_name: str | None = None) -> tuple[Any, ...]:
    """A version as a row; its tags from `tag_pairs` when the query annotated them, else `tags.all()`."""
    pairs = getattr(version, "tag_pairs", None)
    if pairs is None:
        pairs = [[t.key, t.value] for t in version.tags.all()]
    return (
        model_name or version.model.name,
        version.version,
        version.creation_timestamp,
        version.last_updated_timestamp,
        version.stage,
        version.description,
        version.source,
        version.run_id,
        version.status,
        version.run_link,
        version.user_label,
        version.status_message,
        pairs,
    )
