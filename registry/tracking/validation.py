"""The one home of tracking's domain rules: MLflow's rules for keys and names, and the size limits of what a run,
an experiment or a logged model holds (mlflow/utils/validation.py, 3.17.2, with MLflow's messages where the client
branches on them).

These take typed values (the MLflow API's parsers, `registry/mlflow_api/payloads.py`, turn JSON into them) and raise
`InvalidParameter`. Text PostgreSQL cannot hold (NUL, lone surrogates) is refused by `config.validation`."""

from __future__ import annotations

import posixpath

from config.common import MLFLOW_NAME_RE, path_not_unique
from config.errors import InvalidParameter
from config.validation import check_name, check_text

MAX_PARAM_VAL_LENGTH = 6000
MAX_TAG_VAL_LENGTH = 8000
MAX_EXPERIMENT_NAME_LENGTH = 500
MAX_EXPERIMENT_TAG_VAL_LENGTH = 20000
MAX_ENTITY_KEY_LENGTH = 250
MAX_RUN_NAME_LENGTH = 250
MAX_LOGGED_MODEL_NAME_LENGTH = 500
MAX_MODEL_TYPE_LENGTH = 500
MAX_MODEL_ID_LENGTH = 64
MAX_DATASET_NAME_SIZE = 500
MAX_DATASET_DIGEST_SIZE = 36
# MLflow does not validate source_type; its column is 36 wide, so a longer one is a 500 there and a 400 here.
MAX_DATASET_SOURCE_TYPE_SIZE = 36
MAX_DATASET_SOURCE_SIZE = 65535
MAX_DATASET_SCHEMA_SIZE = 1048575
MAX_DATASET_PROFILE_SIZE = 16777215
MAX_INPUT_TAG_KEY_SIZE = 255
MAX_INPUT_TAG_VALUE_SIZE = 500
MAX_METRIC_DATASET_DIGEST_SIZE = 64  # a metric's dataset_digest column

RUN_STATUSES = ("RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED")


def missing(what: str) -> InvalidParameter:
    return InvalidParameter(
        f"Missing value for required parameter '{what}'. See the API docs for more "
        f"information about request parameters."
    )


def validate_key(key: str, what: str = "key") -> str:
    """MLflow's rule for param, metric and tag names."""
    if key == "":
        raise missing(what)
    check_name(key, what)
    if not MLFLOW_NAME_RE.match(key):
        raise InvalidParameter(
            f"Invalid value '{key}' for parameter '{what}' supplied: Names may only contain alphanumerics, "
            f"underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and slashes (/)."
        )
    if path_not_unique(key):
        raise InvalidParameter(
            f"Invalid value '{key}' for parameter '{what}' supplied: Names may be treated as files in certain "
            f"cases, and must not resolve to other names when treated as such. This name would resolve to "
            f"'{posixpath.normpath(key)}'"
        )
    if len(key) > MAX_ENTITY_KEY_LENGTH:
        raise InvalidParameter(f"'{what}' exceeds the maximum length of {MAX_ENTITY_KEY_LENGTH} characters.")
    return key


def validate_text(value: str, what: str, limit: int) -> str:
    """A stored string: storable (no NUL) and at most `limit` characters."""
    check_text(value, what)
    if len(value) > limit:
        raise InvalidParameter(
            f"'{what}' exceeds the maximum length of {limit} characters (got {len(value)})."
        )
    return value


def validate_tags(tags: dict[str, str] | None, *, limit: int = MAX_TAG_VAL_LENGTH) -> dict[str, str]:
    """`{key: value}` tags (or params) with MLflow's key rule and a value limit."""
    return {validate_key(key): validate_text(value, "value", limit) for key, value in (tags or {}).items()}


def validate_experiment_name(name: str) -> str:
    if not name.strip():
        raise InvalidParameter(f"Invalid experiment name: '{name}'. Experiment name cannot be empty.")
    if len(name) > MAX_EXPERIMENT_NAME_LENGTH:
        raise InvalidParameter(f"Experiment name exceeds the maximum length of {MAX_EXPERIMENT_NAME_LENGTH}.")
    check_name(name, "name")  # control characters, bidirectional overrides and other invisible characters
    return name


def validate_name(value: str, what: str, limit: int) -> str:
    """A stored name (run name, logged model name): `validate_text` plus no hidden characters (`check_name`)."""
    check_name(value, what)
    return validate_text(value, what, limit)


def validate_run_status(status: str) -> str:
    if status not in RUN_STATUSES:
        raise InvalidParameter(f"Invalid run status '{status}': one of {', '.join(RUN_STATUSES)}.")
    return status
