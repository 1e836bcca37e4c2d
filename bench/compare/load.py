"""The operations and the load driver: N keep-alive clients (threads, one persistent `http.client` connection each)
hammer one operation on one server for a bounded time and a bounded number of requests.

The timed clients use the standard library's `http.client`, not `requests`: the clients run on the same 2 cores as
the servers, and `requests` costs about a millisecond of CPU per call under the GIL (a session, adapters, cookie
jar, header merging) — as much as a cached Modelgate answer takes to serve — so it capped the rate the benchmark
could drive, on both sides alike. `shape()` (untimed) still uses `requests`."""

from __future__ import annotations

import http.client
import itertools
import json
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests

from .seed import (
    BIG_MODEL,
    CREATE_MODEL,
    HUGE_NAME,
    HUGE_TAG,
    MODEL,
    TIMEOUT,
    Seeded,
    Target,
    now_ms,
    version_source,
)

POLL_SECONDS = 0.02


@dataclass(frozen=True)
class Req:
    method: str
    path: str
    params: dict[str, str] | None = None
    body: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        return {"method": self.method, "path": self.path, "params": self.params, "body": self.body}


@dataclass(frozen=True)
class Op:
    key: str
    title: str
    build: Callable[[Seeded], Req]
    until_ready: bool = False  # then poll model-versions/get until the created version is READY
    needs_big: bool = False
    needs_huge: bool = False


_steps = itertools.count(1)  # next() on a count is atomic under the GIL: unique steps across threads


def _log_batch(seeded: Seeded) -> Req:
    ts, step = now_ms(), next(_steps)
    metrics = [{"key": f"m{i}", "value": i * 0.5, "timestamp": ts, "step": step} for i in range(100)]
    return Req("POST", "runs/log-batch", body={"run_id": seeded.log_run_id, "metrics": metrics})


OPS: list[Op] = [
    Op(
        "alias",
        "get version by alias",
        lambda s: Req("GET", "registered-models/alias", {"name": MODEL, "alias": "champion"}),
    ),
    Op(
        "latest",
        "get-latest-versions (Production)",
        lambda s: Req(
            "POST", "registered-models/get-latest-versions", body={"name": MODEL, "stages": ["Production"]}
        ),
    ),
    Op(
        "get-version",
        "get version",
        lambda s: Req("GET", "model-versions/get", {"name": MODEL, "version": s.production_version}),
    ),
    Op(
        "search-name",
        "search versions by name",
        lambda s: Req("GET", "model-versions/search", {"filter": f"name='{MODEL}'"}),
    ),
    Op(
        "search-tag",
        "search versions by tag",
        lambda s: Req("GET", "model-versions/search", {"filter": "tags.k='v'"}),
    ),
    Op("log-batch", "log-batch (100 metrics)", _log_batch),
    Op(
        "create-version",
        "create version until READY",
        lambda s: Req(
            "POST",
            "model-versions/create",
            body={"name": CREATE_MODEL, "source": version_source(s.run_id), "run_id": s.run_id},
        ),
        until_ready=True,
    ),
    Op(
        "get-big",
        "get registered model (20,000 versions)",
        lambda s: Req("GET", "registered-models/get", {"name": BIG_MODEL}),
        needs_big=True,
    ),
    # --huge: the tenant also holds 10,000 models and 100,000 versions (seed.py); each search finds 10 versions.
    Op(
        "huge-tag",
        "search versions by tag (10,000 models)",
        lambda s: Req("GET", "model-versions/search", {"filter": f"tags.batch='{HUGE_TAG}'"}),
        needs_huge=True,
    ),
    Op(
        "huge-name",
        "search versions by name (10,000 models)",
        lambda s: Req("GET", "model-versions/search", {"filter": f"name='{HUGE_NAME}'"}),
        needs_huge=True,
    ),
]
OPS_BY_KEY = {op.key: op for op in OPS}


class Client:
    """One keep-alive HTTP/1.1 connection to a target, with its headers (the token on Modelgate's side). Each
    request is sent whole and its body read whole, as the MLflow client does; a broken connection is reopened on
    the next request."""

    ERRORS = (OSError, http.client.HTTPException)

    def __init__(self, target: Target) -> None:
        root = urlsplit(target.root)
        self.host, self.port = root.hostname or "127.0.0.1", root.port or 80
        self.headers = {"Accept": "application/json", **target.headers}
        self.target = target
        self.conn: http.client.HTTPConnection | None = None

    def request(
        self, method: str, path: str, params: dict[str, str] | None = None, body: Any = None
    ) -> tuple[int, bytes]:
        url = urlsplit(self.target.api(path)).path + (f"?{urlencode(params, doseq=True)}" if params else "")
        headers = self.headers
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers = {**headers, "Content-Type": "application/json"}
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT)
        try:
            self.conn.request(method, url, body=data, headers=headers)
            response = self.conn.getresponse()
            return response.status, response.read()
        except self.ERRORS:
            self.close()
            raise

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def execute(client: Client, op: Op, seeded: Seeded) -> str | None:
    """One logical request (for create-version: the create and its polls). Returns an error or None."""
    req = op.build(seeded)
    status, payload = client.request(req.method, req.path, req.params, req.body)
    if status != 200:
        return f"{status} {payload[:200].decode(errors='replace')}"
    if not op.until_ready:
        return None
    mv = json.loads(payload)["model_version"]
    deadline = time.monotonic() + TIMEOUT
    while mv.get("status") != "READY":
        if mv.get("status") == "FAILED_REGISTRATION" or time.monotonic() > deadline:
            return f"version ended {mv.get('status')}"
        time.sleep(POLL_SECONDS)
        params = {"name": CREATE_MODEL, "version": str(mv["version"])}
        status, payload = client.request("GET", "model-versions/get", params)
        if status != 200:
            return f"poll {status} {payload[:200].decode(errors='replace')}"
        mv = json.loads(payload)["model_version"]
    return None


@dataclass
class Sample:
    """Latencies (s) and errors of one server on one operation, summed over rounds."""

    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def percentile(self, q: int) -> float:
        if not self.latencies:
            return float("nan")
        if len(self.latencies) == 1:
            return self.latencies[0]
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[q - 1]


class Budget:
    """At most `left` requests in a round, shared by every client thread."""

    def __init__(self, left: int) -> None:
        self.left = left
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            if self.left <= 0:
                return False
            self.left -= 1
            return True


def run_round(
    target: Target, op: Op, seeded: Seeded, *, clients: int, duration: float, max_requests: int, into: Sample
) -> None:
    budget = Budget(max_requests)
    window: dict[str, float] = {}

    def start_clock() -> None:  # runs once, when every client has its warm connection
        window["start"] = time.monotonic()
        window["deadline"] = window["start"] + duration

    barrier = threading.Barrier(clients, action=start_clock)
    lock = threading.Lock()

    def client() -> None:
        latencies: list[float] = []
        errors: list[str] = []
        http = Client(target)
        try:  # untimed: the connection, caches, the worker's first task
            warm = execute(http, op, seeded)
        except Client.ERRORS as exc:
            warm = f"{type(exc).__name__}: {exc}"
        if warm:
            errors.append(f"warm-up: {warm}")
        barrier.wait()
        while time.monotonic() < window["deadline"] and budget.take():
            started = time.perf_counter()
            try:
                error = execute(http, op, seeded)
            except Client.ERRORS as exc:
                error = f"{type(exc).__name__}: {exc}"
            elapsed = time.perf_counter() - started
            if error:
                errors.append(error)
            else:
                latencies.append(elapsed)
        http.close()
        with lock:
            into.latencies.extend(latencies)
            into.errors.extend(errors)

    threads = [threading.Thread(target=client, name=f"client-{i}", daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Wall time of the measured window, including the last requests that ran past the deadline.
    into.seconds += time.monotonic() - window["start"]


def shape(target: Target, op: Op, seeded: Seeded) -> str:
    """A one-line summary of one answer (status, top-level keys, list lengths), to check that both servers do
    the same work for an operation before they are timed: a search that finds nothing on one side is no race."""
    req = op.build(seeded)
    with requests.Session() as session:
        session.headers.update(target.headers)
        res = session.request(
            req.method, target.api(req.path), params=req.params, json=req.body, timeout=TIMEOUT
        )
    if res.status_code != 200:
        return f"HTTP {res.status_code}"
    data = res.json() if res.content else {}
    parts = []
    for key, value in sorted(data.items()):
        if isinstance(value, list):
            parts.append(f"{key}[{len(value)}]")
        elif isinstance(value, dict):
            inner = ",".join(f"{k}[{len(v)}]" for k, v in sorted(value.items()) if isinstance(v, list))
            parts.append(f"{key}{{{inner}}}")
        else:
            parts.append(key)
    return " ".join(parts) or "{}"
