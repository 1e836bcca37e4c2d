"""Mixed traffic for one tenant: versions (native and MLflow), promotions with archive, alias moves with If-Match,
Production requests approved by the approver, metrics, artifacts. Every answer is recorded as a Sample; every
acknowledged (2xx) write is remembered so the checks can look for it afterwards."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import requests

from .stack import Stack, Tenant

TIMEOUT = 30


@dataclass
class Sample:
    op: str
    tenant: str
    status: int  # 0: no answer (connection error or timeout)
    seconds: float
    at: float  # monotonic start
    json_ok: bool
    detail: str = ""


@dataclass
class Acked:
    versions: list[tuple[str, str, int]] = field(default_factory=list)  # tenant, model, version
    metrics: list[tuple[str, str, int, float]] = field(default_factory=list)  # tenant, run, step, value
    artifacts: list[tuple[str, str, bytes]] = field(default_factory=list)  # tenant, path, content


@dataclass
class Recorder:
    samples: list[Sample] = field(default_factory=list)
    acked: Acked = field(default_factory=Acked)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, s: Sample) -> None:
        with self.lock:
            self.samples.append(s)


class Client:
    def __init__(self, stack: Stack, tenant: Tenant, rec: Recorder, index: int) -> None:
        self.tenant = tenant
        self.rec = rec
        self.root = f"{stack.base(index)}/t/{tenant.slug}"
        self.member = requests.Session()
        self.member.headers["Authorization"] = f"Bearer {tenant.member}"
        self.approver = requests.Session()
        self.approver.headers["Authorization"] = f"Bearer {tenant.approver}"

    def call(
        self, op: str, method: str, path: str, *, approver: bool = False, **kw: Any
    ) -> tuple[int, dict[str, Any], bytes]:
        session = self.approver if approver else self.member
        started = time.monotonic()
        try:
            res = session.request(method, f"{self.root}/{path}", timeout=TIMEOUT, **kw)
        except requests.RequestException as exc:
            self.rec.add(
                Sample(op, self.tenant.slug, 0, time.monotonic() - started, started, True, str(exc)[:200])
            )
            return 0, {}, b""
        took = time.monotonic() - started
        ctype = res.headers.get("Content-Type", "")
        is_json = "json" in ctype
        # Artifact downloads are bytes by design; every other answer must be JSON (an empty 200 included).
        json_ok = is_json or op == "artifact-get" and res.status_code == 200 or not res.content
        body: dict[str, Any] = {}
        if is_json:
            try:
                parsed = res.json()
                body = parsed if isinstance(parsed, dict) else {}
            except ValueError:
                json_ok = False
        detail = "" if res.status_code < 400 else res.text[:200]
        self.rec.add(Sample(op, self.tenant.slug, res.status_code, took, started, json_ok, detail))
        return res.status_code, body, res.content


class TenantTraffic:
    """Setup, then one loop of random operations until the deadline or the request budget is spent."""

    def __init__(self, client: Client, rng: random.Random, hook_url: str, secret: str) -> None:
        self.c = client
        self.rng = rng
        self.hook_url = hook_url
        self.secret = secret
        self.models = [f"soak-{i}" for i in range(3)]
        self.run_id = ""
        self.run_path = ""
        self.alias_at: dict[str, int | None] = {}
        self.n = 0

    def setup(self) -> None:
        c = self.c
        body = {"url": self.hook_url + c.tenant.slug, "events": ["*"], "secret": self.secret}
        status, _, _ = c.call("setup", "POST", "api/v1/webhooks", json=body, approver=True)
        if status not in (200, 201):
            raise RuntimeError(f"{c.tenant.slug}: webhook subscription answered {status}")
        _, exp, _ = c.call("setup", "POST", "api/2.0/mlflow/experiments/create", json={"name": "soak"})
        run_body = {"experiment_id": exp["experiment_id"], "start_time": int(time.time() * 1000)}
        _, run, _ = c.call("setup", "POST", "api/2.0/mlflow/runs/create", json=run_body)
        self.run_id = run["run"]["info"]["run_id"]
        uri = run["run"]["info"]["artifact_uri"]
        self.run_path = uri[len("mlflow-artifacts:") :].lstrip("/")
        mlmodel = b"artifact_path: model\nflavors: {}\n"
        c.call(
            "setup", "PUT", f"api/2.0/mlflow-artifacts/artifacts/{self.run_path}/model/MLmodel", data=mlmodel
        )
        for m in self.models:
            c.call("setup", "POST", "api/v1/models/", json={"name": m, "owner_team": "ml"})
            self.alias_at[m] = None

    def loop(self, deadline: float, budget: int) -> None:
        ops = [
            (self.native_create, 3),
            (self.mlflow_create, 2),
            (self.promote, 2),
            (self.alias, 2),
            (self.request_approve, 1),
            (self.log_batch, 3),
            (self.artifact, 2),
        ]
        funcs = [f for f, w in ops for _ in range(w)]
        while time.monotonic() < deadline and self.n < budget:
            self.n += 1
            self.rng.choice(funcs)()

    def _source(self) -> dict[str, str]:
        return {"source": f"runs:/{self.run_id}/model", "run_id": self.run_id}

    def native_create(self) -> None:
        m = self.rng.choice(self.models)
        status, body, _ = self.c.call(
            "version-create-native", "POST", f"api/v1/models/{m}/versions/", json=self._source()
        )
        if 200 <= status < 300:
            with self.c.rec.lock:
                self.c.rec.acked.versions.append((self.c.tenant.slug, m, int(body["version"])))

    def mlflow_create(self) -> None:
        m = self.rng.choice(self.models)
        path = "api/2.0/mlflow/model-versions/create"
        status, body, _ = self.c.call(
            "version-create-mlflow", "POST", path, json={"name": m, **self._source()}
        )
        if 200 <= status < 300:
            with self.c.rec.lock:
                self.c.rec.acked.versions.append(
                    (self.c.tenant.slug, m, int(body["model_version"]["version"]))
                )

    def _some_version(self, m: str) -> int | None:
        with self.c.rec.lock:
            mine = [v for t, mm, v in self.c.rec.acked.versions if t == self.c.tenant.slug and mm == m]
        return self.rng.choice(mine) if mine else None

    def promote(self) -> None:
        m = self.rng.choice(self.models)
        v = self._some_version(m)
        if v is None:
            return
        body = {"stage": self.rng.choice(["Staging", "Production"]), "archive_existing_versions": True}
        self.c.call("stage", "POST", f"api/v1/models/{m}/versions/{v}/stage", json=body, approver=True)

    def alias(self) -> None:
        m = self.rng.choice(self.models)
        v = self._some_version(m)
        if v is None:
            return
        known = self.alias_at[m]
        headers = {"If-None-Match": "*"} if known is None else {"If-Match": f'"{known}"'}
        path = f"api/v1/models/{m}/aliases/champion"
        status, _, _ = self.c.call("alias", "PUT", path, json={"version": v}, headers=headers)
        if 200 <= status < 300:
            self.alias_at[m] = v
        elif status == 409:
            _, got, _ = self.c.call(
                "alias-get", "GET", f"api/v1/models/{m}/resolve", params={"alias": "champion"}
            )
            if got.get("version") is not None:
                self.alias_at[m] = int(got["version"])

    def request_approve(self) -> None:
        m = self.rng.choice(self.models)
        v = self._some_version(m)
        if v is None:
            return
        body = {
            "model": m,
            "version": v,
            "stage": "Production",
            "archive_existing_versions": True,
            "comment": "soak",
        }
        status, req, _ = self.c.call("request", "POST", "api/v1/transition-requests", json=body)
        if 200 <= status < 300 and "id" in req:
            path = f"api/v1/transition-requests/{req['id']}/approve"
            self.c.call("approve", "POST", path, json={"comment": "ok"}, approver=True)

    def log_batch(self) -> None:
        step = self.n
        value = self.rng.random()
        metric = {"key": "loss", "value": value, "timestamp": int(time.time() * 1000), "step": step}
        body = {"run_id": self.run_id, "metrics": [metric], "params": [], "tags": []}
        status, _, _ = self.c.call("log-batch", "POST", "api/2.0/mlflow/runs/log-batch", json=body)
        if 200 <= status < 300:
            with self.c.rec.lock:
                self.c.rec.acked.metrics.append((self.c.tenant.slug, self.run_id, step, value))

    def artifact(self) -> None:
        path = f"{self.run_path}/files/f{self.n}.txt"
        content = f"soak {self.c.tenant.slug} {self.n} {self.rng.random()}\n".encode()
        url = f"api/2.0/mlflow-artifacts/artifacts/{path}"
        status, _, _ = self.c.call("artifact-put", "PUT", url, data=content)
        if 200 <= status < 300:
            with self.c.rec.lock:
                self.c.rec.acked.artifacts.append((self.c.tenant.slug, path, content))
            status, _, got = self.c.call("artifact-get", "GET", url)
            if status == 200 and got != content:
                self.c.rec.add(
                    Sample("artifact-mismatch", self.c.tenant.slug, 200, 0, time.monotonic(), True)
                )
