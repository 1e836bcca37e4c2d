"""The route table, read from the server's own MLflow route tables, and a valid baseline request per route."""

from __future__ import annotations

import os
import re
import sys
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fuzz.client import Fixtures

ROOT = Path(__file__).resolve().parent.parent.parent  # the repository (this file is bench/fuzz/routes.py)


# --- the route table ---------------------------------------------------------------------------------------------


def load_routes() -> list[tuple[str, str, str]]:
    """(version, method, path) of every registered MLflow route, from the server's own route tables."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from registry.mlflow_api import handlers  # noqa: F401  (registers the routes)
    from registry.mlflow_api.base import _PATTERN_ROUTES, _ROUTES

    routes = [(v, m, p) for (v, m, p) in _ROUTES]
    for version, method, regex, _fn in _PATTERN_ROUTES:
        # ^mlflow/logged-models/(?P<model_id>[^/]+)/tags$ → mlflow/logged-models/{model_id}/tags
        path = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", regex.pattern.strip("^$"))
        routes.append((version, method, path))
    return sorted(routes)


def baseline(route: str, fx: Fixtures) -> dict[str, Any]:
    """A valid request for each route (keys as the MLflow client sends them). Routes missing here are fuzzed
    with the body-level mutations only, and reported, so a new route does not go unnoticed."""
    exp, run, lm, name, ver = fx.experiment_id, fx.run_id, fx.logged_model_id, fx.model_name, fx.version
    tag = [{"key": "k", "value": "v"}]
    table: dict[str, dict[str, Any]] = {
        "mlflow/experiments/create": {
            "name": f"fz-{uuid.uuid4().hex[:8]}",
            "tags": tag,
            "artifact_location": "",
        },
        "mlflow/experiments/get": {"experiment_id": exp},
        "mlflow/experiments/get-by-name": {"experiment_name": fx.experiment_name},
        "mlflow/experiments/search": {
            "max_results": 10,
            "filter": "name LIKE 'fz%'",
            "order_by": ["name"],
            "view_type": "ACTIVE_ONLY",
            "page_token": None,
        },
        "mlflow/experiments/update": {"experiment_id": exp, "new_name": fx.experiment_name},
        "mlflow/experiments/delete": {"experiment_id": "999999"},
        "mlflow/experiments/restore": {"experiment_id": "999999"},
        "mlflow/experiments/set-experiment-tag": {"experiment_id": exp, "key": "k", "value": "v"},
        "mlflow/experiments/delete-experiment-tag": {"experiment_id": exp, "key": "nope"},
        "mlflow/runs/create": {
            "experiment_id": exp,
            "run_name": "r",
            "start_time": 1,
            "tags": tag,
            "user_id": "u",
        },
        "mlflow/runs/get": {"run_id": run},
        "mlflow/runs/update": {"run_id": run, "status": "RUNNING", "end_time": 2, "run_name": "r"},
        "mlflow/runs/delete": {"run_id": "0" * 32},
        "mlflow/runs/restore": {"run_id": run},
        "mlflow/runs/log-metric": {
            "run_id": run,
            "key": "m",
            "value": 1.0,
            "timestamp": 1,
            "step": 0,
            "model_id": None,
        },
        "mlflow/runs/log-parameter": {"run_id": run, "key": "p", "value": "1"},
        "mlflow/runs/set-tag": {"run_id": run, "key": "t", "value": "v"},
        "mlflow/runs/delete-tag": {"run_id": run, "key": "nope"},
        "mlflow/runs/log-batch": {
            "run_id": run,
            "metrics": [{"key": "m", "value": 1, "timestamp": 1, "step": 1}],
            "params": [{"key": "p", "value": "1"}],
            "tags": tag,
        },
        "mlflow/runs/outputs": {"run_id": run, "models": [{"model_id": lm, "step": 0}]},
        "mlflow/runs/log-inputs": {
            "run_id": run,
            "datasets": [
                {
                    "dataset": {"name": "d", "digest": "abc", "source_type": "local", "source": "{}"},
                    "tags": tag,
                }
            ],
            "models": [{"model_id": lm}],
        },
        "mlflow/runs/search": {
            "experiment_ids": [exp],
            "filter": "metrics.m > 0",
            "max_results": 5,
            "order_by": ["metrics.m DESC"],
            "run_view_type": "ACTIVE_ONLY",
            "page_token": None,
        },
        "mlflow/metrics/get-history": {
            "run_id": run,
            "metric_key": "m",
            "max_results": 10,
            "page_token": None,
        },
        "mlflow/logged-models": {
            "experiment_id": exp,
            "name": "lm",
            "source_run_id": run,
            "model_type": "t",
            "params": tag,
            "tags": tag,
        },
        "mlflow/logged-models/search": {
            "experiment_ids": [exp],
            "filter": "name = 'lm'",
            "max_results": 5,
            "order_by": [{"field_name": "creation_time", "ascending": True}],
            "page_token": None,
        },
        "mlflow/logged-models/{model_id}": {"status": "LOGGED_MODEL_READY"},
        "mlflow/logged-models/{model_id}/tags": {"tags": tag},
        "mlflow/logged-models/{model_id}/tags/{tag_key}": {},
        "mlflow/registered-models/create": {
            "name": f"fz-{uuid.uuid4().hex[:8]}",
            "description": "d",
            "tags": tag,
        },
        "mlflow/registered-models/get": {"name": name},
        "mlflow/registered-models/search": {
            "filter": "name LIKE 'fz%'",
            "max_results": 5,
            "order_by": ["name"],
            "page_token": None,
        },
        "mlflow/registered-models/update": {"name": name, "description": "d"},
        "mlflow/registered-models/rename": {"name": "fz-missing", "new_name": "fz-missing-2"},
        "mlflow/registered-models/delete": {"name": "fz-missing"},
        "mlflow/registered-models/set-tag": {"name": name, "key": "k", "value": "v"},
        "mlflow/registered-models/delete-tag": {"name": name, "key": "nope"},
        "mlflow/registered-models/get-latest-versions": {"name": name, "stages": ["None"]},
        "mlflow/registered-models/alias": {"name": name, "alias": "a1", "version": ver},
        "mlflow/model-versions/create": {
            "name": name,
            "source": f"runs:/{run}/model",
            "run_id": run,
            "description": "d",
            "tags": tag,
            "run_link": "",
            "model_id": None,
        },
        "mlflow/model-versions/get": {"name": name, "version": ver},
        "mlflow/model-versions/search": {
            "filter": f"name = '{name}'",
            "max_results": 5,
            "order_by": ["version_number"],
            "page_token": None,
        },
        "mlflow/model-versions/update": {"name": name, "version": ver, "description": "d"},
        "mlflow/model-versions/delete": {"name": name, "version": "999"},
        "mlflow/model-versions/transition-stage": {
            "name": name,
            "version": ver,
            "stage": "Staging",
            "archive_existing_versions": False,
        },
        "mlflow/model-versions/set-tag": {"name": name, "version": ver, "key": "k", "value": "v"},
        "mlflow/model-versions/delete-tag": {"name": name, "version": ver, "key": "nope"},
        "mlflow/model-versions/get-download-uri": {"name": name, "version": ver},
    }
    return dict(table[route]) if route in table else {}


def concrete(path: str, fx: Fixtures, overrides: dict[str, str] | None = None) -> str:
    values = {"model_id": fx.logged_model_id, "tag_key": "nope", **(overrides or {})}
    for key, value in values.items():
        path = path.replace("{" + key + "}", quote(value, safe=""))
    return path
