"""Setting up real objects to aim at, the mutations, and the runs over routes, artifacts and tenant segments."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator
from typing import Any

import requests

from fuzz.client import Failure, Fixtures, Fuzzer, _dumps, _query
from fuzz.routes import baseline, concrete
from fuzz.values import (
    BAD_BODIES,
    BAD_FILTERS,
    BAD_LIST_ITEMS,
    BAD_PAGE_TOKENS,
    BAD_QUERY_STRINGS,
    BAD_VALUES,
)

# --- setup and the runs ------------------------------------------------------------------------------------------


def setup(fz: Fuzzer) -> Fixtures:
    """Real objects to aim at, so mutations reach the handlers' logic and not only the 404 of a missing id."""
    fx = Fixtures()

    def ok(method: str, api_path: str, params: dict[str, Any]) -> dict[str, Any]:
        response = fz.call(method, api_path, params, what="setup")
        if response is None or response.status_code != 200:
            raise SystemExit(
                f"setup failed: {method} {api_path}: "
                f"{response.status_code if response is not None else '-'} "
                f"{response.text[:300] if response is not None else ''}"
            )
        return response.json()

    fx.experiment_name = f"fz-{uuid.uuid4().hex[:8]}"
    fx.experiment_id = ok("POST", "mlflow/experiments/create", {"name": fx.experiment_name})["experiment_id"]
    fx.run_id = ok("POST", "mlflow/runs/create", {"experiment_id": fx.experiment_id})["run"]["info"]["run_id"]
    ok("POST", "mlflow/runs/log-metric", {"run_id": fx.run_id, "key": "m", "value": 1.0, "timestamp": 1})
    fx.logged_model_id = ok(
        "POST", "mlflow/logged-models", {"experiment_id": fx.experiment_id, "source_run_id": fx.run_id}
    )["model"]["info"]["model_id"]
    # A file under the run's `model/`, so the version registers READY (stage moves and aliases need READY).
    upload = fz.send(
        "PUT",
        f"api/2.0/mlflow-artifacts/artifacts/{fx.experiment_id}/{fx.run_id}/artifacts/model/MLmodel",
        what="setup",
        body=b"flavors: {}\n",
    )
    if upload is None or upload.status_code != 200:
        raise SystemExit(
            f"setup failed: artifact upload: {upload.status_code if upload is not None else '-'}"
        )
    fx.model_name = f"fz-{uuid.uuid4().hex[:8]}"
    ok("POST", "mlflow/registered-models/create", {"name": fx.model_name})
    fx.version = ok(
        "POST",
        "mlflow/model-versions/create",
        {"name": fx.model_name, "source": f"runs:/{fx.run_id}/model", "run_id": fx.run_id},
    )["model_version"]["version"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # registration runs in a Celery worker
        status = ok("GET", "mlflow/model-versions/get", {"name": fx.model_name, "version": fx.version})[
            "model_version"
        ]["status"]
        if status != "PENDING_REGISTRATION":
            break
        time.sleep(0.2)
    if status != "READY":
        print(
            f"setup: version {fx.version} is {status} (is a worker running?): stage and alias routes reach less"
        )
    else:
        ok(
            "POST",
            "mlflow/registered-models/alias",
            {"name": fx.model_name, "alias": "a1", "version": fx.version},
        )
    return fx


def mutations(params: dict[str, Any], rng: random.Random) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each field missing; each field replaced by each bad value (list fields: also by lists of bad items);
    then a few random multi-field mixes."""
    for key in params:
        yield f"missing {key}", {k: v for k, v in params.items() if k != key}
    for key, value in params.items():
        for bad in BAD_VALUES:
            yield f"{key}={_short(bad)}", {**params, key: bad}
        if isinstance(value, list):
            for item in BAD_LIST_ITEMS:
                yield f"{key}=[{_short(item)}]", {**params, key: [item]}
    keys = list(params) or ["name"]
    for _ in range(20):
        mixed = dict(params)
        for key in rng.sample(keys, k=min(len(keys), rng.randint(1, 3))):
            mixed[key] = rng.choice(BAD_VALUES)
        yield "mix " + ",".join(f"{k}={_short(v)}" for k, v in mixed.items()), mixed


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:30]}…(len {len(text)})"


def fuzz_route(fz: Fuzzer, fx: Fixtures, version: str, method: str, route: str) -> None:
    params = baseline(route, fx)
    path = concrete(route, fx)
    api = f"api/{version}/{path}"
    what = f"{method} {route}"
    response = fz.call(method, path, params, what=f"{what} baseline", version=version)
    if response is not None and response.status_code != 200:
        # Informational: a baseline that does not succeed means its mutations test less than they could.
        fz.baseline_refused.append(f"{what}: {response.status_code} {response.text[:120]}")
    for label, mutated in mutations(params, fz.rng):
        if fz.exhausted():
            return
        fz.call(method, path, mutated, what=f"{what} {label}", version=version)
    if "page_token" in params:
        for token in BAD_PAGE_TOKENS:
            fz.call(
                method,
                path,
                {**params, "page_token": token},
                what=f"{what} page_token={token[:30]}",
                version=version,
            )
    if "filter" in params:
        for bad_filter in BAD_FILTERS:
            fz.call(
                method,
                path,
                {**params, "filter": bad_filter},
                what=f"{what} filter={_short(bad_filter)}",
                version=version,
            )
    for label, raw in (
        BAD_BODIES if method != "GET" else []
    ):  # GET bodies are never read (nor sent by clients)
        fz.send(method, api, what=f"{what} {label}", body=raw)
    for qs in BAD_QUERY_STRINGS:
        fz.send(method, api, what=f"{what} ?{qs[:40]}", query=qs, body=None if method == "GET" else b"{}")
    if "{" in route:  # path arguments: junk in each
        for junk in ["%00", "x" * 1000, "%ED%A0%80", "..", "m-" + "f" * 32, "%FF"]:
            raw_path = route.replace("{model_id}", junk).replace("{tag_key}", junk)
            fz.send(method, f"api/{version}/{raw_path}", what=f"{what} path={junk[:20]}", body=_dumps(params))
    # The unprefixed route with junk workspace headers (latin-1 only: HTTP headers cannot carry more).
    for header in ["", "no-such-tenant", "\x7f", "a" * 300, "../acme", "ÿ"]:
        fz.send(
            method,
            api,
            what=f"{what} X-MLFLOW-WORKSPACE={header[:20]!r}",
            prefix=False,
            body=None if method == "GET" else _dumps(params),
            query=_query(params) if method == "GET" else "",
            headers={"X-MLFLOW-WORKSPACE": header},
        )


def fuzz_artifacts(fz: Fuzzer, fx: Fixtures) -> None:
    run_dir = f"{fx.experiment_id}/{fx.run_id}/artifacts"
    paths = [
        "a.txt",
        "../a",
        "..%2Fa",
        "%2e%2e/a",
        "a%00b",
        "%00",
        "a\\b",
        "/abs",
        "x" * 5000,
        "%ED%A0%80",
        "%FF%FE",
        "dir/",
        "dir//f",
        "./a",
        "a/./b",
        "_registry/1/1/x",
        "_registry/%00/1/x",
        "_registry/99999999999999999999/1/x",
        "_registry/1/99999999999999999999/x",
        "_registry/²/³/x",
        "a" * 255 + "/b",
        "%20",
        "~user",
    ]
    for rel in paths:
        for where in (f"{run_dir}/{rel}", rel, f"{'9' * 30}/{fx.run_id}/artifacts/{rel}", f"²/{rel}"):
            api = f"api/2.0/mlflow-artifacts/artifacts/{where}"
            fz.send("PUT", api, what=f"artifact PUT {where[:60]}", body=b"data")
            fz.send("GET", api, what=f"artifact GET {where[:60]}")
            fz.send("DELETE", api, what=f"artifact DELETE {where[:60]}")
            fz.send(
                "GET",
                "api/2.0/mlflow-artifacts/artifacts",
                what=f"artifact list {where[:60]}",
                query=f"path={where}",
            )
    for qs in ["path=%00", "path=..", "path=" + "x" * 10_000, "path=%ED%A0%80", "path=/etc", "path=a&path=b"]:
        fz.send("GET", "api/2.0/mlflow-artifacts/artifacts", what=f"artifact list ?{qs[:40]}", query=qs)
    fz.send(
        "PUT",
        f"api/2.0/mlflow-artifacts/artifacts/{run_dir}/c.txt",
        what="artifact PUT bad length",
        body=b"data",
        headers={"Content-Length": "abc"},
    )


def fuzz_tenant_segment(fz: Fuzzer, fx: Fixtures) -> None:
    """Junk where the tenant goes: `/t/<junk>/…` must be a JSON 404, whatever the junk."""
    for junk in ["%00", f"{fz.tenant}%00", "%ED%A0%80", "%C2%B2", "x" * 1000, "..", "%2e%2e", "%20", "%FF"]:
        for path, query in [
            ("api/2.0/mlflow/experiments/get", f"experiment_id={fx.experiment_id}"),
            ("api/2.0/mlflow/registered-models/get", f"name={fx.model_name}"),
            ("api/2.0/mlflow-artifacts/artifacts", f"path={fx.experiment_id}"),
            ("api/v1/me", ""),
            ("api/v1/models/", ""),
        ]:
            url = f"{fz.base}/t/{junk}/{path}"
            fz.sent += 1
            try:
                response = fz.session.get(
                    url + (f"?{query}" if query else ""),
                    timeout=60,
                    headers={"Authorization": f"Bearer {fz.token}"},
                )
            except requests.RequestException as exc:
                fz.failures.append(Failure("GET", url, "tenant segment", 0, f"connection failed: {exc}"))
                continue
            fz.statuses[response.status_code] = fz.statuses.get(response.status_code, 0) + 1
            fz.check("GET", url, f"tenant segment {junk[:20]!r}", None, response)
