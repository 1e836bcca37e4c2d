"""The typed values tracking services take (the MLflow API's parsers build them from MLflow's JSON)."""

from __future__ import annotations

from dataclasses import dataclass

from .models import DATASET_CONTEXT_TAG


@dataclass(frozen=True)
class MetricPoint:
    """One point of a metric's history, validated."""

    key: str
    value: float
    timestamp: int
    step: int = 0
    model_id: str = ""
    dataset_name: str = ""
    dataset_digest: str = ""


@dataclass(frozen=True)
class DatasetInputSpec:
    """One validated `DatasetInput`: the dataset's description and the input tags (key → value)."""

    name: str
    digest: str
    source_type: str
    source: str
    schema: str | None
    profile: str | None
    tags: tuple[tuple[str, str], ...] = ()

    @property
    def context(self) -> str | None:
        return dict(self.tags).get(DATASET_CONTEXT_TAG)


@dataclass(frozen=True)
class ModelOutput:
    """A logged model a run produced (`runs/outputs`), at a step."""

    model_id: str
    step: int = 0
