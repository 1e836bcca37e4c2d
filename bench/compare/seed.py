"""Seed both servers the same way through their MLflow REST API (identical payloads), plus the bulk 20,000-version
model and the 10,000-model tenant (`--huge`), which are copied in each side's own store because that many HTTP
creations would take longer than the bench."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from .servers import ROOT, log, psql

MODEL = "bench-m"  # versions, a Production stage, the `champion` alias, tags
CREATE_MODEL = "bench-create"  # the create-version-until-READY case adds its versions here, not to MODEL
BIG_MODEL = "bench-big"
# --huge: HUGE_MODELS models named huge-00000… with HUGE_VERSIONS versions each. Version i (0-based over the
# tenant: model i // HUGE_VERSIONS, number i % HUGE_VERSIONS + 1) has three tags: `batch` = b<i % 10000> (10
# versions in 10 models match one batch), `commit` = i as 8 hex digits (unique), `split` = x or y (half of them).
HUGE_MODELS = 10_000
HUGE_VERSIONS = 10
HUGE_BATCHES = 10_000
HUGE_TAG = "b4242"  # tags.batch = 'b4242': versions 4242, 14242, … 94242
HUGE_NAME = "huge-04242"
SEED_VERSIONS = 10
TIMEOUT = 120


class HttpError(RuntimeError):
    pass


@dataclass(frozen=True)
class Target:
    name: str  # "MLflow" or "Modelgate"
    root: str  # what MLFLOW_TRACKING_URI would be
    headers: dict[str, str]

    def api(self, path: str) -> str:
        return f"{self.root}/api/2.0/mlflow/{path}"

    def artifact(self, path: str) -> str:
        return f"{self.root}/api/2.0/mlflow-artifacts/artifacts/{path}"


@dataclass
class Seeded:
    run_id: str  # the run whose `model/` directory is every version's source
    log_run_id: str  # the run log-batch writes to
    production_version: str


def call(
    session: requests.Session,
    target: Target,
    method: str,
    path: str,
    *,
    params: dict[str, str] | None = None,
    body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    res = session.request(method, target.api(path), params=params, json=body, timeout=TIMEOUT)
    if res.status_code != 200:
        raise HttpError(f"{target.name} {method} {path}: {res.status_code} {res.text[:300]}")
    data: dict[str, Any] = res.json() if res.content else {}
    return data


def now_ms() -> int:
    return int(time.time() * 1000)


def version_source(run_id: str) -> str:
    return f"runs:/{run_id}/model"


def create_version_ready(
    session: requests.Session,
    target: Target,
    name: str,
    run_id: str,
    tags: list[dict[str, str]] | None = None,
) -> str:
    """Create a version and poll until READY, as `mlflow.register_model` does (MLflow answers READY at once)."""
    body: dict[str, Any] = {"name": name, "source": version_source(run_id), "run_id": run_id}
    if tags:
        body["tags"] = tags
    mv = call(session, target, "POST", "model-versions/create", body=body)["model_version"]
    deadline = time.monotonic() + TIMEOUT
    while mv.get("status") != "READY":
        if mv.get("status") == "FAILED_REGISTRATION" or time.monotonic() > deadline:
            raise HttpError(f"{target.name}: version {name}/{mv.get('version')} ended {mv.get('status')}")
        time.sleep(0.02)
        params = {"name": name, "version": str(mv["version"])}
        mv = call(session, target, "GET", "model-versions/get", params=params)["model_version"]
    return str(mv["version"])


def seed(target: Target, *, big: bool) -> Seeded:
    with requests.Session() as s:
        s.headers.update(target.headers)
        exp = call(s, target, "POST", "experiments/create", body={"name": "bench"})["experiment_id"]
        run_body = {"experiment_id": exp, "start_time": now_ms(), "run_name": "source", "tags": []}
        run = call(s, target, "POST", "runs/create", body=run_body)["run"]["info"]
        uri: str = run["artifact_uri"]
        if not uri.startswith("mlflow-artifacts:"):
            raise HttpError(f"{target.name}: run artifact_uri {uri!r} is not proxied (mlflow-artifacts:)")
        # Modelgate snapshots the source's files when it registers a version: give the source a file.
        path = uri[len("mlflow-artifacts:") :].lstrip("/") + "/model/MLmodel"
        res = s.put(target.artifact(path), data=b"artifact_path: model\nflavors: {}\n", timeout=TIMEOUT)
        if res.status_code != 200:
            raise HttpError(f"{target.name} PUT artifact: {res.status_code} {res.text[:300]}")
        log_body = {"experiment_id": exp, "start_time": now_ms(), "run_name": "log-batch", "tags": []}
        log_run = call(s, target, "POST", "runs/create", body=log_body)["run"]["info"]["run_id"]

        model_body = {"name": MODEL, "description": "bench", "tags": [{"key": "team", "value": "bench"}]}
        call(s, target, "POST", "registered-models/create", body=model_body)
        last = ""
        for i in range(1, SEED_VERSIONS + 1):
            tags = [{"key": "k", "value": "v" if i % 2 else "w"}]
            last = create_version_ready(s, target, MODEL, run["run_id"], tags)
        stage = {"name": MODEL, "version": last, "stage": "Production", "archive_existing_versions": False}
        call(s, target, "POST", "model-versions/transition-stage", body=stage)
        call(
            s,
            target,
            "POST",
            "registered-models/alias",
            body={"name": MODEL, "alias": "champion", "version": last},
        )
        call(s, target, "POST", "registered-models/create", body={"name": CREATE_MODEL})
        if big:
            call(s, target, "POST", "registered-models/create", body={"name": BIG_MODEL})
            create_version_ready(s, target, BIG_MODEL, run["run_id"])
    log(f"{target.name}: seeded {MODEL} ({SEED_VERSIONS} versions, v{last} Production and @champion)")
    return Seeded(run_id=run["run_id"], log_run_id=log_run, production_version=last)


# ---------------------------------------------------------------- the 20,000-version model


def mlflow_bulk_versions(pg_port: int, count: int) -> None:
    """Copy version 1 of BIG_MODEL into versions 2..count in MLflow's own tables, in one INSERT … SELECT.

    Copying every column of the row the server itself wrote (whatever 3.17.2's schema holds, e.g. workspace)
    keeps the store exactly as the server would have left it after `count` creations."""
    cols = psql(
        pg_port,
        "mlflow",
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = 'public' AND table_name = 'model_versions' ORDER BY ordinal_position;",
    ).split()
    select = [
        "g" if c == "version" else f"{c} + g" if c in ("creation_time", "last_updated_time") else f'"{c}"'
        for c in cols
    ]
    quoted = ", ".join(f'"{c}"' for c in cols)
    psql(
        pg_port,
        "mlflow",
        f"INSERT INTO model_versions ({quoted}) SELECT {', '.join(select)} FROM model_versions, "
        f"generate_series(2, {int(count)}) AS g WHERE name = '{BIG_MODEL}' AND version = 1;",
    )
    n = psql(pg_port, "mlflow", f"SELECT count(*) FROM model_versions WHERE name = '{BIG_MODEL}';")
    log(f"MLflow: {BIG_MODEL} has {n} versions")


def modelgate_bulk_versions(env: dict[str, str], tenant: str, count: int) -> None:
    script = Path(__file__).with_name("django_side.py")
    out = subprocess.run(
        [sys.executable, str(script), "big", "--tenant", tenant, "--model", BIG_MODEL, "--count", str(count)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    log(f"Modelgate: {json.loads(out.stdout.strip().splitlines()[-1])}")


# ---------------------------------------------------------------- the 10,000-model tenant


def _copy_sql(table: str, columns: list[str], overrides: dict[str, str], source: str) -> str:
    """INSERT INTO table SELECT every column of a template row, some replaced by expressions: whatever columns
    3.17.2's schema has (e.g. `workspace`) keep the value the server itself wrote."""
    quoted = ", ".join(f'"{c}"' for c in columns)
    exprs = ", ".join(overrides.get(c, f't."{c}"') for c in columns)
    return f"INSERT INTO {table} ({quoted}) SELECT {exprs} FROM {source};"


def mlflow_huge_tenant(pg_port: int, models: int = HUGE_MODELS, versions: int = HUGE_VERSIONS) -> None:
    """MLflow's side of `--huge`, from MODEL's rows (model, its `team` tag, version 1, its tag), in SQL."""

    def columns(table: str) -> list[str]:
        sql = (
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' "
            f"AND table_name = '{table}' ORDER BY ordinal_position;"
        )
        return psql(pg_port, "mlflow", sql).split()

    total = models * versions
    model_name = f"'huge-' || lpad((g / {int(versions)})::text, 5, '0')"
    number = f"(g % {int(versions)}) + 1"
    statements = [
        _copy_sql(
            "registered_models",
            columns("registered_models"),
            {
                "name": "'huge-' || lpad(g::text, 5, '0')",
                "creation_time": "t.creation_time + g",
                "last_updated_time": "t.last_updated_time + g",
            },
            f"registered_models t, generate_series(0, {int(models) - 1}) g WHERE t.name = '{MODEL}'",
        ),
        _copy_sql(
            "registered_model_tags",
            columns("registered_model_tags"),
            {"name": "'huge-' || lpad(g::text, 5, '0')"},
            f"registered_model_tags t, generate_series(0, {int(models) - 1}) g WHERE t.name = '{MODEL}'",
        ),
        _copy_sql(
            "model_versions",
            columns("model_versions"),
            {
                "name": model_name,
                "version": number,
                "creation_time": "t.creation_time + g",
                "last_updated_time": "t.last_updated_time + g",
            },
            f"model_versions t, generate_series(0, {total - 1}) g WHERE t.name = '{MODEL}' AND t.version = 1",
        ),
        _copy_sql(
            "model_version_tags",
            columns("model_version_tags"),
            {
                "key": "k.kk",
                "value": f"CASE k.kk WHEN 'batch' THEN 'b' || (g % {HUGE_BATCHES}) WHEN 'commit' THEN "
                "lpad(to_hex(g), 8, '0') WHEN 'split' THEN (CASE WHEN g % 2 = 0 THEN 'x' ELSE 'y' END) END",
                "name": model_name,
                "version": number,
            },
            f"model_version_tags t, generate_series(0, {total - 1}) g, "
            "(VALUES ('batch'), ('commit'), ('split')) AS k(kk) "
            f"WHERE t.name = '{MODEL}' AND t.version = 1",
        ),
        "ANALYZE registered_models, registered_model_tags, model_versions, model_version_tags;",
    ]
    psql(pg_port, "mlflow", "\n".join(statements))
    n = psql(pg_port, "mlflow", "SELECT count(*) FROM model_versions WHERE name LIKE 'huge-%';")
    log(f"MLflow: {models} huge-* models, {n} versions")


def modelgate_huge_tenant(
    env: dict[str, str], tenant: str, models: int = HUGE_MODELS, versions: int = HUGE_VERSIONS
) -> None:
    script = Path(__file__).with_name("django_side.py")
    cmd = [sys.executable, str(script), "huge", "--tenant", tenant, "--template", MODEL]
    cmd += ["--models", str(models), "--versions", str(versions), "--batches", str(HUGE_BATCHES)]
    out = subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    log(f"Modelgate: {json.loads(out.stdout.strip().splitlines()[-1])}")
