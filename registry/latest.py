"""The newest version per stage of one or many models, in ONE query whatever the number of versions.

Why not "load the versions and pick": a model with 20,000 versions made `registered-models/get` read all of them.
On PostgreSQL each (model, stage) pair is one `LATERAL … ORDER BY version DESC LIMIT 1` probe of the index
`mv_model_stage_version` (model, stage, version DESC), so the cost is the number of pairs, not of
versions. Elsewhere (the embedded SQLite) a `ROW_NUMBER()` window over the models' versions gives the same rows.
Callers check read permission on the models first."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import connection
from django.db.models import F, QuerySet, Window
from django.db.models.expressions import RawSQL
from django.db.models.functions import RowNumber

from .models import ModelVersion, RegisteredModel, VersionStatus
from .rows import with_tags
from .validation import STAGES


def _postgres_ids(model_ids: list[int], stages: list[str], ready_only: bool) -> RawSQL:
    table = connection.ops.quote_name(ModelVersion._meta.db_table)
    status = "AND mv.status = %s" if ready_only else ""
    sql = (
        "SELECT latest.id FROM unnest(%s::bigint[]) AS m(id) CROSS JOIN unnest(%s::text[]) AS s(stage) "
        f"CROSS JOIN LATERAL (SELECT mv.id FROM {table} mv WHERE mv.model_id = m.id AND mv.stage = s.stage "
        f"{status} ORDER BY mv.version DESC LIMIT 1) AS latest"
    )
    params: list[object] = [model_ids, stages]
    if ready_only:
        params.append(VersionStatus.READY.value)
    return RawSQL(sql, params)


def latest_queryset(
    model_ids: Sequence[int], stages: Sequence[str] | None = None, *, ready_only: bool = False
) -> QuerySet[ModelVersion]:
    """The newest version in each of `stages` (default: all four) of each model, as one queryset."""
    wanted = list(dict.fromkeys(stages or STAGES))
    ids = list(model_ids)
    if connection.vendor == "postgresql":
        return ModelVersion.objects.filter(pk__in=_postgres_ids(ids, wanted, ready_only))
    qs = ModelVersion.objects.filter(model_id__in=ids, stage__in=wanted)
    if ready_only:
        qs = qs.filter(status=VersionStatus.READY)
    ranked = qs.annotate(
        newest_rank=Window(
            RowNumber(), partition_by=[F("model_id"), F("stage")], order_by=F("version").desc()
        )
    )
    return ranked.filter(newest_rank=1)


def attach_latest(models: Iterable[RegisteredModel]) -> None:
    """Set `latest_versions` (newest per stage, any status, ordered by version, with their tags) on each model:
    MLflow's `latest_versions` field of a registered model. One query (two where tags cannot be annotated)."""
    by_id = {m.pk: m for m in models}
    for model in by_id.values():
        model.latest_versions = []  # type: ignore[attr-defined]
    if not by_id:
        return
    for version in with_tags(latest_queryset(list(by_id))).order_by("version"):
        model = by_id[version.model_id]
        version.model = model
        model.latest_versions.append(version)  # type: ignore[attr-defined]
