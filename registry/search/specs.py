"""What each kind of search accepts: entities, operators, attributes and their aliases (MLflow 3.17.2's
`search_utils.py`, see wire-contract.md §4), and the parsed shapes `Clause` and `OrderBy`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

KINDS = ("runs", "experiments", "logged_models", "registered_models", "model_versions")
ENTITIES = ("metric", "param", "tag", "attribute", "dataset")

MAX_FILTER_LENGTH = 20_000
MAX_CLAUSES = 100
MAX_IN_VALUES = 1000

PROMPT_TAG = "mlflow.prompt.is_prompt"

# Entity prefixes MLflow accepts, mapped to our entity names.
_PREFIXES = {
    "metric": "metric",
    "metrics": "metric",
    "param": "param",
    "params": "param",
    "parameter": "param",
    "parameters": "param",
    "tag": "tag",
    "tags": "tag",
    "attribute": "attribute",
    "attributes": "attribute",
    "attr": "attribute",
    "run": "attribute",
    "dataset": "dataset",
    "datasets": "dataset",
}

NUMERIC_OPS = frozenset({"=", "!=", "<", "<=", ">", ">="})
STRING_OPS = frozenset({"=", "!=", "LIKE", "ILIKE"})
LIST_OPS = frozenset({"IN", "NOT IN"})
NULL_OPS = frozenset({"IS NULL", "IS NOT NULL"})


@dataclass(frozen=True)
class Clause:
    """One comparison. `value` is a float (metrics), an int or float (numeric attributes), a str, a tuple of str
    (`IN`/`NOT IN`) or None (`IS NULL`/`IS NOT NULL`). `op` is upper-case."""

    entity: str
    key: str
    op: str
    value: Any


@dataclass(frozen=True)
class OrderBy:
    entity: str
    key: str
    ascending: bool = True


@dataclass(frozen=True)
class _Spec:
    entities: dict[
        str, frozenset[str] | None
    ]  # entity → allowed ops (None: not this entity's rules, see attrs)
    string_attrs: frozenset[str]
    numeric_attrs: frozenset[str]
    list_attrs: frozenset[str]  # string attributes that accept IN / NOT IN
    aliases: dict[str, str]  # attribute aliases → canonical name
    dataset_attrs: frozenset[str] = frozenset()
    order_entities: frozenset[str] = frozenset({"attribute"})
    order_attrs: frozenset[str] = frozenset()


_RUN_STRING_ATTRS = frozenset({"run_id", "run_name", "status", "user_id", "artifact_uri"})
_RUN_NUMERIC_ATTRS = frozenset({"start_time", "end_time"})

SPECS: dict[str, _Spec] = {
    "runs": _Spec(
        entities={
            "metric": NUMERIC_OPS,
            "param": STRING_OPS | NULL_OPS,
            "tag": STRING_OPS | NULL_OPS,
            "attribute": None,
            "dataset": STRING_OPS | LIST_OPS,
        },
        string_attrs=_RUN_STRING_ATTRS,
        numeric_attrs=_RUN_NUMERIC_ATTRS,
        list_attrs=frozenset({"run_id"}),
        aliases={
            "created": "start_time",
            "Created": "start_time",
            "run name": "run_name",
            "Run name": "run_name",
            "Run Name": "run_name",
        },
        dataset_attrs=frozenset({"name", "digest", "context"}),
        order_entities=frozenset({"attribute", "metric", "param", "tag"}),
        order_attrs=_RUN_STRING_ATTRS | _RUN_NUMERIC_ATTRS,
    ),
    "experiments": _Spec(
        entities={"tag": STRING_OPS | NULL_OPS, "attribute": None},
        string_attrs=frozenset({"name", "experiment_id"}),
        numeric_attrs=frozenset({"creation_time", "last_update_time"}),
        list_attrs=frozenset({"experiment_id"}),
        aliases={},
        order_attrs=frozenset({"name", "experiment_id", "creation_time", "last_update_time"}),
    ),
    "registered_models": _Spec(
        entities={"tag": STRING_OPS, "attribute": None},
        string_attrs=frozenset({"name"}),
        numeric_attrs=frozenset(),
        list_attrs=frozenset({"name"}),
        aliases={"timestamp": "last_updated_timestamp"},
        order_attrs=frozenset({"name", "creation_timestamp", "last_updated_timestamp"}),
    ),
    "model_versions": _Spec(
        entities={"tag": STRING_OPS, "attribute": None},
        string_attrs=frozenset({"name", "run_id", "source_path"}),
        numeric_attrs=frozenset({"version_number"}),
        list_attrs=frozenset({"name", "run_id", "source_path"}),
        aliases={"timestamp": "last_updated_timestamp"},
        order_attrs=frozenset({"name", "version_number", "creation_timestamp", "last_updated_timestamp"}),
    ),
    "logged_models": _Spec(
        entities={"metric": NUMERIC_OPS, "param": STRING_OPS, "tag": STRING_OPS, "attribute": None},
        string_attrs=frozenset({"name", "model_id", "model_type", "status", "source_run_id"}),
        numeric_attrs=frozenset({"creation_timestamp", "last_updated_timestamp"}),
        list_attrs=frozenset(),
        aliases={"creation_time": "creation_timestamp", "last_updated_time": "last_updated_timestamp"},
        order_entities=frozenset({"attribute", "metric"}),
        order_attrs=frozenset(
            {
                "name",
                "model_id",
                "model_type",
                "status",
                "source_run_id",
                "creation_timestamp",
                "last_updated_timestamp",
            }
        ),
    ),
}
