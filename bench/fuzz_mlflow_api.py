"""Fuzz the MLflow-compatible API of a live Modelgate with malformed input.

For every route in `registry.mlflow_api.base`'s route tables (and the artifact proxy), it sends a valid baseline
request built from real objects it creates first (an experiment, a run, a logged model, a registered model with a
version), then mutations of it: every field replaced by values of the wrong type or shape (numbers for strings,
lists for objects, null, huge and NUL-bearing strings, lone surrogates, out-of-range integers, NaN), every field
left out, non-JSON and non-object bodies, deeply nested JSON, junk query strings and headers. It checks what the
brief promises: no response is a 5xx, and every 4xx is JSON with an `error_code`.

    # a running Modelgate (gunicorn config.wsgi) and a token of an admin of TENANT:
    .venv/bin/python bench/fuzz_mlflow_api.py --base http://127.0.0.1:8000 --tenant acme --token mgt_… \\
        --max-requests 5000 --max-seconds 300

Only loopback addresses are accepted: this sends junk and must never aim at someone else's server. Exit status 1
when a request broke the promise; the failures are printed, one line each, with enough to replay them.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import random
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import requests

ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = {"127.0.0.1", "localhost", "::1"}

# Values of the wrong type, shape or size for any field.
BAD_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    1.5,
    -(2**63) - 1,
    2**63,
    2**64,
    10**30,
    10**400,
    -(10**400),
    1e308,
    -1e308,
    math.nan,
    math.inf,
    "",
    " ",
    "x" * 251,
    "x" * 501,
    "x" * 70_000,
    "\x00",
    "a\x00b",
    "\ud800",
    "é☃😀",
    "NaN",
    "-Infinity",
    "1e400",
    "../../etc/passwd",
    "/abs",
    "%00",
    "' OR 1=1 --",
    "9" * 40,
    "-1",
    "²",
    "٣",
    [],
    [1, 2],
    ["a"],
    [None],
    [{}],
    {},
    {"a": 1},
    {"key": None},
    [[[]]],
]
# Values for list fields (tags, metrics, order_by…): each element malformed.
BAD_LIST_ITEMS: list[Any] = [
    None,
    1,
    "x",
    [],
    {},
    {"key": 1, "value": 2},
    {"key": "k" * 300, "value": "v"},
    {"key": "ok", "value": "\x00"},
    {"key": "a\x00b", "value": "v"},
    {"key": "\ud800", "value": "v"},
    {"key": "ok", "value": {"nested": 1}},
    {"key": "m", "value": "NaN", "timestamp": 2**64, "step": -(2**70)},
    {"key": "m", "value": 1, "timestamp": "soon", "step": 1.5},
    {"key": "m", "value": [1], "timestamp": None, "step": None},
    {"dataset": None},
    {"dataset": {"name": 1, "digest": []}},
    {"model_id": 1},
    {"model_id": "m-" + "0" * 32},
    {
        "dataset": {"name": "n" * 600, "digest": "d" * 100, "source_type": "s" * 100, "source": "x" * 70_000},
        "tags": [{"key": "k" * 300, "value": "v" * 600}],
    },
    {
        "dataset": {
            "name": "n",
            "digest": "d",
            "source_type": "local",
            "source": "{}",
            "schema": 5,
            "profile": [],
        }
    },
    {"dataset": {"name": "n", "digest": "d", "source_type": "local", "source": "{}"}, "tags": "x"},
    {"field_name": "\x00", "ascending": "yes"},
    {"field_name": "metrics.m", "dataset_name": 1},
]
BAD_BODIES: list[tuple[str, bytes]] = [
    ("non-json", b"this is not json"),
    ("truncated json", b'{"name": '),
    ("json list", b"[1, 2, 3]"),
    ("json string", b'"name"'),
    ("json number", b"42"),
    ("json null", b"null"),
    ("latin-1 bytes", b'{"name": "\xe9"}'),
    ("deeply nested", b"[" * 100_000 + b"]" * 100_000),
    ("deeply nested object", b'{"a":' * 50_000 + b"1" + b"}" * 50_000),
    ("huge number", b'{"max_results": ' + b"9" * 5000 + b"}"),
    ("NaN literal", b'{"value": NaN, "max_results": NaN}'),
    ("duplicate keys", b'{"name": "a", "name": 1}'),
    ("bom", "\ufeff{}".encode()),
]
# The search routes' filter grammar: junk that must parse to a 400, never reach SQL as a 500.
BAD_FILTERS = [
    "attributes.start_time > 99999999999999999999999",
    "attributes.start_time < -99999999999999999999999",
    "metrics.m > 1e400",
    "metrics.m > NaN",
    "metrics.m = 'x'",
    "params.p LIKE '%\\'",
    "tags.`a` IN ()",
    "attributes.run_id IN ('a', '\x00')",
    "name = '\ud800'",
    "version_number > 99999999999999999999",
    "name LIKE '%' AND " * 200 + "name = 'x'",
    "(" * 500,
    "tags.k = '" + "v" * 10_000 + "'",
    "attributes.status IN ('RUNNING'",
    "datasets.name = 'd'",
    "metrics.`m` >= -1e308",
    "run_name ILIKE '_%'",
    "creation_timestamp > 2e63",
    "last_updated_timestamp < 1.5",
    "params.`` = 'x'",
    "tags.`a\x00` = 'b'",
]
# Page tokens that decode (base64 JSON) to offsets no server made: past bigint, negative, not a number.
BAD_PAGE_TOKENS = [
    base64.b64encode(json.dumps(v).encode()).decode()
    for v in (
        {"offset": 10**30},
        {"offset": 2**63},
        {"offset": -1},
        {"offset": 1e300},
        {"offset": "1"},
        {"offset": None},
        [1],
        "x",
        {"offset": 2**53 + 1},
    )
]
FRONT_SERVER_STATUSES = (400, 414, 431)
BAD_QUERY_STRINGS = [
    "max_results=-1",
    "max_results=99999999999999999999999",
    "max_results=abc",
    "max_results=1e3",
    "page_token=%00",
    "page_token=not-base64!",
    "page_token=" + "A" * 5000,
    "filter=%00",
    "filter=name%3D%27%00%27",
    "run_id=%00",
    "run_id=%ED%A0%80",
    "name=%FF%FE",
    "experiment_id=%C0%AF",
    "stages=%00&stages=x",
    "order_by=%00",
    "view_type=SOMETHING",
    "a=" + "b" * 10_000,
]


@dataclass
class Fixtures:
    experiment_id: str = ""
    experiment_name: str = ""
    run_id: str = ""
    logged_model_id: str = ""
    model_name: str = ""
    version: str = "1"


@dataclass
class Failure:
    method: str
    url: str
    what: str
    status: int
    body: str


@dataclass
class Fuzzer:
    base: str
    tenant: str
    token: str
    max_requests: int
    deadline: float
    rng: random.Random
    session: requests.Session = field(default_factory=requests.Session)
    sent: int = 0
    failures: list[Failure] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    front_server: int = 0
    baseline_refused: list[str] = field(default_factory=list)

    @property
    def root(self) -> str:
        return f"{self.base}/t/{self.tenant}"

    def exhausted(self) -> bool:
        return self.sent >= self.max_requests or time.monotonic() > self.deadline

    def send(
        self,
        method: str,
        path: str,
        *,
        what: str,
        body: bytes | None = None,
        query: str = "",
        headers: dict[str, str] | None = None,
        prefix: bool = True,
    ) -> requests.Response | None:
        if self.exhausted():
            return None
        url = (self.root if prefix else self.base) + "/" + path + (f"?{query}" if query else "")
        all_headers = {"Authorization": f"Bearer {self.token}"}
        if body is not None:
            all_headers["Content-Type"] = "application/json"
        all_headers.update(headers or {})
        self.sent += 1
        try:
            response = self.session.request(method, url, data=body, headers=all_headers, timeout=60)
        except requests.RequestException as exc:
            self.failures.append(Failure(method, url, what, 0, f"connection failed: {exc}"))
            return None
        self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
        self.check(method, url, what, body, response)
        return response

    def check(
        self, method: str, url: str, what: str, body: bytes | None, response: requests.Response
    ) -> None:
        status = response.status_code
        if status in FRONT_SERVER_STATUSES and response.headers.get("Content-Type", "").startswith(
            "text/html"
        ):
            # gunicorn's own refusal (request line over 4094 bytes, a control character in a header): the
            # request never reached Modelgate, so there is no error code to give. Counted, not failed.
            self.front_server += 1
            return
        problem = ""
        if status >= 500:
            problem = "5xx"
        elif status >= 400:
            try:
                payload = response.json()
            except ValueError:
                payload = None
            if not isinstance(payload, dict) or not isinstance(payload.get("error_code"), str):
                problem = "4xx without a JSON error_code"
        if problem:
            shown = body[:300].decode("utf-8", "replace") if body else ""
            self.failures.append(
                Failure(method, url[:300], f"{problem}: {what} body={shown!r}", status, response.text[:300])
            )

    # --- JSON helpers -------------------------------------------------------------------------------------------

    def call(
        self, method: str, api_path: str, params: dict[str, Any], *, what: str, version: str = "2.0"
    ) -> requests.Response | None:
        """One MLflow call: query string for GET, JSON body otherwise (as the MLflow client does)."""
        path = f"api/{version}/{api_path}"
        if method == "GET":
            return self.send(method, path, what=what, query=_query(params))
        return self.send(method, path, what=what, body=_dumps(params))


def _dumps(value: Any) -> bytes:
    # allow_nan: MLflow's client sends NaN literals; lone surrogates are escaped (\ud800), which is what a buggy
    # client would send.
    return json.dumps(value, allow_nan=True).encode()


def _query(params: dict[str, Any]) -> str:
    parts = []
    for key, value in params.items():
        values = value if isinstance(value, list) else [value]
        for item in values:
            if item is None:
                continue
            text = item if isinstance(item, str) else json.dumps(item, allow_nan=True)
            parts.append(f"{quote(key)}={quote(text.encode('utf-8', 'surrogatepass'))}")
    return "&".join(parts)


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
        import re

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base", required=True, help="http://127.0.0.1:PORT (loopback only)")
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--token", required=True, help="a token of an admin of the tenant, all scopes")
    parser.add_argument("--max-requests", type=int, default=20_000)
    parser.add_argument("--max-seconds", type=float, default=600)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--only", default="", help="fuzz only routes containing this text")
    args = parser.parse_args(argv)

    host = urlsplit(args.base).hostname
    if host not in LOOPBACK:
        parser.error(f"--base must be a loopback address, not {host!r}")
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    fz = Fuzzer(
        base=args.base.rstrip("/"),
        tenant=args.tenant,
        token=args.token,
        max_requests=args.max_requests,
        deadline=time.monotonic() + args.max_seconds,
        rng=random.Random(seed),
    )
    routes = load_routes()
    fx = setup(fz)
    unknown = [r for r in routes if not baseline(r[2], fx) and "{tag_key}" not in r[2]]
    started = time.monotonic()
    for version, method, route in routes:
        if args.only and args.only not in route:
            continue
        fuzz_route(fz, fx, version, method, route)
    if not args.only or "artifact" in args.only:
        fuzz_artifacts(fz, fx)
    if not args.only:
        fuzz_tenant_segment(fz, fx)

    elapsed = time.monotonic() - started
    print(
        f"seed {seed}: {fz.sent} requests in {elapsed:.0f}s over {len(routes)} routes; statuses "
        + ", ".join(f"{k}×{v}" for k, v in sorted(fz.statuses.items()))
    )
    if unknown:
        print(
            "routes without a baseline (body-level mutations only): "
            + ", ".join(f"{m} {p}" for _v, m, p in unknown)
        )
    for line in fz.baseline_refused:
        print(f"baseline not 200 (its mutations reach less): {line}")
    if fz.front_server:
        print(
            f"{fz.front_server} requests refused by the front server (gunicorn's HTML 400/414/431: request "
            f"line or header limits), before Modelgate saw them"
        )
    if fz.exhausted():
        print("stopped at the request or time limit")
    for f in fz.failures:
        print(f"FAIL {f.status} {f.method} {f.url} | {f.what} | {f.body!r}")
    print(f"{len(fz.failures)} failures")
    return 1 if fz.failures else 0


if __name__ == "__main__":
    sys.exit(main())
