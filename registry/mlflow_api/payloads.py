"""MLflow's JSON shapes for tracking, parsed into the typed values tracking services take, with MLflow's request
limits (mlflow/utils/validation.py, 3.17.2; its messages where the client branches on them).

Text PostgreSQL cannot hold (NUL, lone surrogates) never gets this far: `MlflowJSONParser` and `Call` refuse it
with `config.validation`'s helpers. Domain rules (key names, value sizes) are `registry.tracking.validation`'s."""

from __future__ import annotations

import math
from typing import Any

from config.common import now_ms
from config.errors import InvalidParameter
from registry.tracking import validation
from registry.tracking.entities import DatasetInputSpec, MetricPoint, ModelOutput

MAX_PARAMS_TAGS_PER_BATCH = 100
MAX_METRICS_PER_BATCH = 1000
MAX_ENTITIES_PER_BATCH = 1000
MAX_DATASETS_PER_BATCH = 1000

_SPECIAL_DOUBLES = {
    "nan": math.nan,
    "infinity": math.inf,
    "-infinity": -math.inf,
    "inf": math.inf,
    "-inf": -math.inf,
    "+infinity": math.inf,
}


# --- scalars ---------------------------------------------------------------------------------------------------


def text(value: Any, what: str) -> str:
    """A string parameter; JSON booleans and numbers are taken as their text (the client sends `True` as true)."""
    if value is None:
        raise InvalidParameter(f"Missing value for required parameter '{what}'.")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if not isinstance(value, str):
        raise InvalidParameter(f"Invalid value {value!r} for parameter '{what}': expected a string.")
    return value


def optional_text(value: Any, what: str) -> str | None:
    return None if value is None else text(value, what)


def key(value: Any, what: str = "key") -> str:
    """A param, metric or tag name, with MLflow's rule."""
    if value is None or value == "":
        raise validation.missing(what)
    if not isinstance(value, str):
        raise InvalidParameter(f"Invalid value {value!r} for parameter '{what}': expected a string.")
    return validation.validate_key(value, what)


def parse_double(value: Any, what: str = "value") -> float:
    """A metric value: a JSON number, or MLflow's strings for NaN and ±inf."""
    if isinstance(value, bool) or value is None:
        raise InvalidParameter(f"Missing or invalid value for parameter '{what}': expected a number.")
    if isinstance(value, float):
        return value
    if isinstance(value, int):
        try:
            return float(value)
        except OverflowError:  # a 400-digit integer literal: no double holds it
            raise InvalidParameter(
                f"Invalid value for parameter '{what}': the integer is out of range for a double."
            ) from None
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.lower() in _SPECIAL_DOUBLES:
            return _SPECIAL_DOUBLES[stripped.lower()]
        try:
            return float(stripped)
        except ValueError:
            pass
    raise InvalidParameter(f"Invalid value {value!r} for parameter '{what}': expected a number.")


def parse_int(value: Any, what: str, *, default: int | None = None) -> int:
    """An int64 (JSON number or its text). Missing: `default`, or 400 when there is none."""
    number = optional_int(value, what)
    if number is None:
        if default is None:
            raise InvalidParameter(f"Missing value for required parameter '{what}'.")
        return default
    return number


def optional_int(value: Any, what: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise InvalidParameter(f"Invalid value {value!r} for parameter '{what}': expected an integer.")
    number: int | None
    try:
        number = int(value) if not isinstance(value, float) else (int(value) if value.is_integer() else None)
    except (TypeError, ValueError):
        number = None
    if number is None or not (-(2**63) <= number < 2**63):
        raise InvalidParameter(f"Invalid value {value!r} for parameter '{what}': expected an integer.")
    return number


# --- key/value lists -------------------------------------------------------------------------------------------


def parse_tags(tags: Any) -> dict[str, str]:
    """`[{"key", "value"}]` (MLflow) or a dict → `{key: value}` (last one wins, as in MLflow). Keys must be strings;
    their rule and the value limits are the service's (they differ between runs, experiments and models)."""
    if tags is None:
        return {}
    items: list[tuple[Any, Any]]
    if isinstance(tags, dict):
        items = list(tags.items())
    elif isinstance(tags, list):
        items = []
        for index, tag in enumerate(tags):
            if not isinstance(tag, dict):
                raise InvalidParameter(f"tags[{index}] must be an object with 'key' and 'value'.")
            items.append((tag.get("key"), tag.get("value", "")))
    else:
        raise InvalidParameter("'tags' must be a list of {key, value} objects.")
    result: dict[str, str] = {}
    for raw_key, value in items:
        if raw_key is None or raw_key == "":
            raise validation.missing("key")
        if not isinstance(raw_key, str):
            raise InvalidParameter(f"Invalid value {raw_key!r} for parameter 'key': expected a string.")
        result[raw_key] = text("" if value is None else value, "value")
    return result


# --- metrics and log-batch -------------------------------------------------------------------------------------


def _bounded(value: Any, what: str, limit: int) -> str:
    return validation.validate_text(text(value, what), what, limit)


def parse_metric(data: Any, *, path: str = "") -> MetricPoint:
    """A metric from MLflow's JSON: `{key, value, timestamp, step?, model_id?, dataset_name?, dataset_digest?}`."""
    if not isinstance(data, dict):
        raise InvalidParameter(f"{path or 'metric'} must be an object.")
    metric_key = key(data.get("key"), "key" if not path else f"{path}.key")
    if data.get("value") is None:
        raise InvalidParameter(f"Missing value for required parameter '{path + '.' if path else ''}value'.")
    return MetricPoint(
        key=metric_key,
        value=parse_double(data.get("value"), "value"),
        timestamp=parse_int(data.get("timestamp"), "timestamp", default=now_ms()),
        step=parse_int(data.get("step"), "step", default=0),
        model_id=_bounded(data.get("model_id") or "", "model_id", validation.MAX_MODEL_ID_LENGTH),
        dataset_name=_bounded(
            data.get("dataset_name") or "", "dataset_name", validation.MAX_DATASET_NAME_SIZE
        ),
        dataset_digest=_bounded(
            data.get("dataset_digest") or "", "dataset_digest", validation.MAX_METRIC_DATASET_DIGEST_SIZE
        ),
    )


def _check_batch_sizes(metrics: list, params: list, tags: list) -> None:
    for what, count in (("metrics", len(metrics)), ("params", len(params)), ("tags", len(tags))):
        limit = MAX_METRICS_PER_BATCH if what == "metrics" else MAX_PARAMS_TAGS_PER_BATCH
        if count > limit:
            raise InvalidParameter(
                f"A batch logging request can contain at most {limit} {what}. Got {count} {what}."
            )
    total = len(metrics) + len(params) + len(tags)
    if total > MAX_ENTITIES_PER_BATCH:
        raise InvalidParameter(
            f"A batch logging request can contain at most {MAX_ENTITIES_PER_BATCH} total "
            f"metrics, params, and tags. Got {total}."
        )


def parse_batch(
    metrics: Any, params: Any, tags: Any
) -> tuple[list[MetricPoint], dict[str, str], dict[str, str]]:
    """A log-batch payload with MLflow's limits → (metric points, params, tags)."""
    metrics = metrics or []
    params = params or []
    tags = tags or []
    for name, value in (("metrics", metrics), ("params", params), ("tags", tags)):
        if not isinstance(value, list):
            raise InvalidParameter(f"'{name}' must be a list.")
    _check_batch_sizes(metrics, params, tags)
    points = [parse_metric(m, path=f"metrics[{i}]") for i, m in enumerate(metrics)]
    # Identical points sent twice (a client retry) are one point, as in MLflow.
    points = list(dict.fromkeys(points))
    clean_params: dict[str, str] = {}
    for index, param in enumerate(params):
        if not isinstance(param, dict):
            raise InvalidParameter(f"params[{index}] must be an object with 'key' and 'value'.")
        param_key = key(param.get("key"), f"params[{index}].key")
        value = _bounded(param.get("value"), f"params[{index}].value", validation.MAX_PARAM_VAL_LENGTH)
        if param_key in clean_params and clean_params[param_key] != value:
            raise InvalidParameter(
                f"Duplicate parameter keys have been submitted: ['{param_key}']. Please ensure the "
                f"request contains only one param value per param key."
            )
        clean_params[param_key] = value
    clean_tags = validation.validate_tags(parse_tags(tags))
    return points, clean_params, clean_tags


# --- inputs and outputs ----------------------------------------------------------------------------------------


def _optional_bounded(value: Any, what: str, limit: int) -> str | None:
    return None if value is None else _bounded(value, what, limit)


def _parse_dataset_input(item: Any, path: str) -> DatasetInputSpec:
    if not isinstance(item, dict) or not isinstance(item.get("dataset"), dict):
        raise InvalidParameter(f"{path} must be an object with a 'dataset' object.")
    data = item["dataset"]
    name = _bounded(data.get("name"), f"{path}.dataset.name", validation.MAX_DATASET_NAME_SIZE)
    digest = _bounded(data.get("digest"), f"{path}.dataset.digest", validation.MAX_DATASET_DIGEST_SIZE)
    if not name or not digest:
        raise InvalidParameter(f"{path}.dataset must have a non-empty 'name' and 'digest'.")
    source_type = _bounded(
        data.get("source_type"), f"{path}.dataset.source_type", validation.MAX_DATASET_SOURCE_TYPE_SIZE
    )
    source = _bounded(data.get("source"), f"{path}.dataset.source", validation.MAX_DATASET_SOURCE_SIZE)
    schema = _optional_bounded(
        data.get("schema"), f"{path}.dataset.schema", validation.MAX_DATASET_SCHEMA_SIZE
    )
    profile = _optional_bounded(
        data.get("profile"), f"{path}.dataset.profile", validation.MAX_DATASET_PROFILE_SIZE
    )
    raw_tags = item.get("tags") or []
    if not isinstance(raw_tags, list):
        raise InvalidParameter(f"{path}.tags must be a list of {{key, value}} objects.")
    tags: dict[str, str] = {}
    for tag_index, tag in enumerate(raw_tags):
        tag_path = f"{path}.tags[{tag_index}]"
        if not isinstance(tag, dict):
            raise InvalidParameter(f"{tag_path} must be an object with 'key' and 'value'.")
        tag_key = _bounded(tag.get("key"), f"{tag_path}.key", validation.MAX_INPUT_TAG_KEY_SIZE)
        tags[tag_key] = _bounded(tag.get("value"), f"{tag_path}.value", validation.MAX_INPUT_TAG_VALUE_SIZE)
    return DatasetInputSpec(name, digest, source_type, source, schema, profile, tuple(tags.items()))


def parse_dataset_inputs(datasets: Any) -> list[DatasetInputSpec]:
    """MLflow's `[{dataset: {name, digest, source_type, source, schema?, profile?}, tags?: [{key, value}]}]`,
    validated with MLflow's limits (`utils/validation.py:_validate_dataset_inputs`). Inputs naming the same
    (name, digest) twice are one input: the first wins, as in MLflow."""
    if datasets is None:
        return []
    if not isinstance(datasets, list):
        raise InvalidParameter("'datasets' must be a list.")
    if len(datasets) > MAX_DATASETS_PER_BATCH:
        raise InvalidParameter(
            f"A request can log at most {MAX_DATASETS_PER_BATCH} datasets. Got {len(datasets)} datasets."
        )
    specs: dict[tuple[str, str], DatasetInputSpec] = {}
    for index, item in enumerate(datasets):
        spec = _parse_dataset_input(item, f"datasets[{index}]")
        specs.setdefault((spec.name, spec.digest), spec)
    return list(specs.values())


def parse_model_inputs(models: Any) -> list[str]:
    """MLflow 3's `[{model_id}]` → the distinct logged-model ids, in order."""
    if models is None:
        return []
    if not isinstance(models, list):
        raise InvalidParameter("'models' must be a list.")
    if len(models) > MAX_DATASETS_PER_BATCH:
        raise InvalidParameter(f"A request can log at most {MAX_DATASETS_PER_BATCH} model inputs.")
    ids = []
    for index, item in enumerate(models):
        model_id = item.get("model_id") if isinstance(item, dict) else None
        if not isinstance(model_id, str) or not model_id:
            raise InvalidParameter(f"models[{index}] must be an object with a string 'model_id'.")
        ids.append(model_id)
    return list(dict.fromkeys(ids))


def parse_model_outputs(models: list[Any]) -> list[ModelOutput]:
    """`runs/outputs`' `[{model_id, step?}]`."""
    outputs = []
    for index, item in enumerate(models):
        if not isinstance(item, dict) or not isinstance(item.get("model_id"), str):
            raise InvalidParameter(f"models[{index}] must be an object with a string 'model_id'.")
        outputs.append(ModelOutput(item["model_id"], parse_int(item.get("step"), "step", default=0)))
    return outputs
