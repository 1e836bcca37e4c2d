"""Plain helpers shared by the test modules (fixtures live in the conftest.py files): tokens and API clients, the
real Celery worker the `worker` fixture runs, principals, minimal tracking rows (a run, a logged model, artifact
entries pointing at blobs) made with the ORM so registry tests do not depend on the tracking API, MLflow REST calls,
and the recorded MLflow traffic of the contract tests.

Test modules import from here, never from each other (nor from a conftest.py)."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from accounts import services as account_services
from accounts.models import SCOPES
from registry.tracking.models import ArtifactEntry, Blob, Experiment, LoggedModel, LoggedModelStatus, Run
from tenants.access import Principal, principal_for
from tenants.models import Membership, TeamMembership

ROOT = Path(__file__).resolve().parent.parent

# One queue per test session, so a worker never picks up tasks left in Redis by an earlier, interrupted run
# (tests/conftest.py points the settings and the Celery app at it).
TEST_QUEUE = f"modelgate-test-{uuid.uuid4().hex[:8]}"


# --- tokens and API clients -----------------------------------------------------------------------------------------


def issue(user, tenant, scopes=None, **kwargs) -> str:
    _token, secret = account_services.token_issue(user=user, tenant=tenant, scopes=scopes, **kwargs)
    return secret


def client_for(secret: str | None) -> APIClient:
    client = APIClient()
    if secret:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


# --- a real Celery worker -------------------------------------------------------------------------------------------


class Worker:
    def __init__(self, proc: subprocess.Popen, env: dict[str, str], log: Path, name: str = ""):
        self.proc = proc
        self.env = env
        self.log = log
        self.name = name  # the node name (`w1@host`) control commands address

    def logs(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def worker_env(db_name: str) -> dict[str, str]:
    from django.db import connection

    env = dict(os.environ)
    s = connection.settings_dict
    env["DATABASE_URL"] = (
        f"postgres://{s['USER']}:{s.get('PASSWORD') or ''}@{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}/{db_name}"
    )
    env["CELERY_QUEUE"] = TEST_QUEUE
    env["ARTIFACT_STORAGE"] = settings.ARTIFACT_STORAGE
    env["ARTIFACT_ROOT"] = str(settings.ARTIFACT_ROOT)
    env["PYTHONUNBUFFERED"] = "1"
    env["MODELGATE_WEBHOOK_ALLOW_PRIVATE"] = "true"  # webhook tests deliver to receivers on loopback
    return env


_started_workers: list[
    Worker
] = []  # every worker this session started (wait_for_idle_broker asks who still runs)


def start_worker(
    tmp_dir: Path,
    *,
    concurrency: int = 2,
    name: str | None = None,
    env: dict[str, str] | None = None,
    queue: str = TEST_QUEUE,
    ready_by_log: bool = False,
) -> Worker:
    """`env` adds to `worker_env` (e.g. S3 storage settings); `queue` is the queue it reads (a worker with other
    settings needs a queue of its own, or it would take tasks meant for the session's worker). `ready_by_log`: wait
    for the worker's "ready" line instead of a control ping (a worker on another broker than this process)."""
    from django.db import connection

    from config.celery_app import app

    env = {**worker_env(connection.settings_dict["NAME"]), **(env or {}), "CELERY_QUEUE": queue}
    name = name or f"w{uuid.uuid4().hex[:6]}"
    log = tmp_dir / f"celery-{name}.log"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-Q",
            queue,
            "-n",
            f"{name}@%h",
            "--pool=prefork",
            f"--concurrency={concurrency}",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=INFO",
        ],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    worker = Worker(proc, env, log, name=f"{name}@{os.uname().nodename}")
    _started_workers.append(worker)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"celery worker exited early:\n{log.read_text()}")
        if ready_by_log:
            if " ready." in worker.logs():
                return worker
            time.sleep(0.1)
        elif app.control.ping(destination=[worker.name], timeout=0.5):
            return worker
    proc.kill()
    raise RuntimeError(f"celery worker did not come up:\n{log.read_text()}")


def stop_worker(worker: Worker, *, kill: bool = False) -> None:
    if worker.proc.poll() is None:
        os.killpg(worker.proc.pid, 9 if kill else 15)
        try:
            worker.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.proc.pid, 9)
            worker.proc.wait(timeout=10)


def drain_registrations(timeout: float = 60) -> None:
    """Wait until the worker has finished every registration task of this test: no version PENDING, nothing active,
    reserved or queued. Call it before a transactional test ends, or the worker may still hold row locks when the
    test database is flushed (TRUNCATE then deadlocks against it)."""
    from amqp.exceptions import ChannelError

    from config.celery_app import app
    from registry.models import ModelVersion, VersionStatus

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        inspect = app.control.inspect(timeout=0.5)
        busy = any((inspect.active() or {}).values()) or any((inspect.reserved() or {}).values())
        with app.connection_or_acquire() as conn:
            try:
                queued = conn.default_channel.queue_declare(queue=TEST_QUEUE, passive=True).message_count
            except ChannelError:  # Redis: an empty queue has no key, and a passive declare says "not found"
                queued = 0
        pending = ModelVersion.objects.filter(status=VersionStatus.PENDING_REGISTRATION).exists()
        if not (busy or queued or pending):
            return
        time.sleep(0.1)
    raise AssertionError("registration tasks did not drain")


def wait_for_idle_broker(timeout: float = 10) -> None:
    """Wait until, while a worker runs, no task is queued on the test queue and none delivered in the last minute is
    still unacknowledged (kombu's Redis transport keeps a delivered message in its `unacked_index` until the task
    acks, late; older entries are a killed worker's, restored later by the visibility timeout). Two Redis reads when
    idle, so it can follow every transactional test: a task published by the test's commit (the GC of a deleted
    artifact, a webhook delivery) and still running when the test database is flushed would deadlock the TRUNCATE."""
    import redis

    if not any(w.proc.poll() is None for w in _started_workers):
        return  # nothing consumes: whatever is queued cannot touch this test's rows
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    deadline = time.monotonic() + timeout
    idle_reads = 0
    try:
        while time.monotonic() < deadline:
            if client.llen(TEST_QUEUE) or client.zcount("unacked_index", time.time() - 60, "+inf"):
                idle_reads = 0
            else:
                idle_reads += 1
                if idle_reads == 2:  # twice, a moment apart: a message between the pop and the unacked index
                    return
            time.sleep(0.05)
    finally:
        client.close()


# --- principals and tracking rows (ORM only) -----------------------------------------------------------------------


def principal(user, tenant, scopes=None) -> Principal:
    """The principal a token with `scopes` (default: what the role allows) would give `user` in `tenant`."""
    token, _secret = account_services.token_issue(user=user, tenant=tenant, scopes=scopes)
    # principal_for reads only these two attributes of the request
    request: Any = SimpleNamespace(tenant_slug=tenant.slug, method="POST")
    return principal_for(request, user, token)


def put_file(tenant, path: str, content: bytes) -> ArtifactEntry:
    """Index a file in the tenant's artifact tree (rows only: the registry never reads the bytes)."""
    digest = hashlib.sha256(content).hexdigest()
    blob, _ = Blob.objects.get_or_create(tenant=tenant, sha256=digest, defaults={"size": len(content)})
    entry, _ = ArtifactEntry.objects.update_or_create(
        tenant=tenant, path=path, defaults={"blob": blob, "sha256": digest, "size": len(content)}
    )
    return entry


def make_run(tenant, experiment_number: int = 0) -> Run:
    experiment = Experiment.objects.get(tenant=tenant, number=experiment_number)
    run_id = uuid.uuid4().hex
    return Run.objects.create(
        run_id=run_id,
        tenant=tenant,
        experiment=experiment,
        start_time=int(time.time() * 1000),
        artifact_uri=f"{experiment.artifact_location}/{run_id}/artifacts",
    )


MODEL_FILES = {
    "MLmodel": b"flavors:\n  python_function: {}\n",
    "model.pkl": b"\x80\x04pickled-bytes",
    "requirements.txt": b"scikit-learn\n",
}


def make_logged_model(tenant, run: Run | None = None, files: dict[str, bytes] | None = None) -> LoggedModel:
    run = run or make_run(tenant)
    model_id = "m-" + uuid.uuid4().hex
    experiment = run.experiment
    ts = int(time.time() * 1000)
    logged = LoggedModel.objects.create(
        model_id=model_id,
        tenant=tenant,
        experiment=experiment,
        name="model",
        source_run=run,
        status=LoggedModelStatus.READY,
        artifact_uri=f"{experiment.artifact_location}/models/{model_id}/artifacts",
        creation_timestamp=ts,
        last_updated_timestamp=ts,
    )
    for rel, content in (MODEL_FILES if files is None else files).items():
        put_file(tenant, f"{experiment.number}/models/{model_id}/artifacts/{rel}", content)
    return logged


def expected_manifest(files: dict[str, bytes]) -> list[dict]:
    return sorted(
        ({"path": p, "size": len(c), "sha256": hashlib.sha256(c).hexdigest()} for p, c in files.items()),
        key=lambda f: f["path"],
    )


def principal_of(user, tenant) -> Principal:
    """The principal a full-scope token of `user` would get in `tenant` (for building state through services)."""
    return Principal(
        user=user,
        tenant=tenant,
        role=Membership.objects.get(tenant=tenant, user=user).role,
        scopes=frozenset(SCOPES),
        team_ids=frozenset(
            TeamMembership.objects.filter(user=user, team__tenant=tenant).values_list("team_id", flat=True)
        ),
    )


def make_run_in_new_experiment(tenant, files: dict[str, bytes] | None = None) -> Run:
    """A finished run, in an experiment of its own, with artifacts under `model/` (rows only: registration
    snapshots rows, not bytes)."""
    files = files or {"model/MLmodel": b"flavors: {}\n", "model/model.pkl": uuid.uuid4().bytes}
    now = int(time.time() * 1000)
    number = (
        Experiment.objects.filter(tenant=tenant).order_by("-number").values_list("number", flat=True).first()
        or 0
    ) + 1
    experiment = Experiment.objects.create(
        tenant=tenant,
        number=number,
        name=f"exp-{number}-{uuid.uuid4().hex[:6]}",
        artifact_location=f"mlflow-artifacts:/{number}",
        creation_time=now,
        last_update_time=now,
    )
    run_id = uuid.uuid4().hex
    run = Run.objects.create(
        run_id=run_id,
        tenant=tenant,
        experiment=experiment,
        start_time=now,
        artifact_uri=f"mlflow-artifacts:/{number}/{run_id}/artifacts",
    )
    for path, content in files.items():
        digest = hashlib.sha256(content).hexdigest()
        blob, _ = Blob.objects.get_or_create(tenant=tenant, sha256=digest, defaults={"size": len(content)})
        ArtifactEntry.objects.create(
            tenant=tenant,
            path=f"{number}/{run_id}/artifacts/{path}",
            blob=blob,
            sha256=digest,
            size=len(content),
        )
    return run


# --- the MLflow REST API, as the tracking tests call it ------------------------------------------------------------

MLFLOW_API = "/t/acme/api/2.0/mlflow"


def mlflow_post(client, path, body, status=200, prefix=MLFLOW_API, **extra):
    res = client.post(f"{prefix}/{path}", body, format="json", **extra)
    assert res.status_code == status, (path, res.status_code, res.content)
    return res.json()


def mlflow_get(client, path, params=None, status=200, prefix=MLFLOW_API, **extra):
    res = client.get(f"{prefix}/{path}", params or {}, **extra)
    assert res.status_code == status, (path, res.status_code, res.content)
    return res.json()


def mlflow_create_experiment(client, name="exp-a"):
    return mlflow_post(client, "experiments/create", {"name": name})["experiment_id"]


def mlflow_create_run(client, experiment_id, name="r", tags=None, start_time=None):
    body = {
        "experiment_id": experiment_id,
        "run_name": name,
        "user_id": "spoofed",
        "tags": tags or [{"key": "mlflow.user", "value": "spoofed"}],
    }
    if start_time is not None:
        body["start_time"] = start_time
    return mlflow_post(client, "runs/create", body)["run"]["info"]["run_id"]


# --- the recorded MLflow traffic (contract tests) -------------------------------------------------------------------

TRAFFIC_NAME = "traffic-3.17.2.jsonl"
TRAFFIC_ENV = ("MLFLOW_TRAFFIC_FILE", "MLFLOW_TRAFFIC")


def recorded_traffic() -> Path:
    """The traffic recorded from a real MLflow 3.17.2 server: $MLFLOW_TRAFFIC_FILE (or $MLFLOW_TRAFFIC) when set,
    else `../shared/mlflow/` beside the checkout, else /work/shared/mlflow/. Missing, it FAILS the calling test:
    a contract test that skips proves nothing, and CI always has the recording."""
    explicit = [os.environ[name] for name in TRAFFIC_ENV if os.environ.get(name)]
    candidates = (
        [Path(explicit[0])]
        if explicit
        else [ROOT.parent / "shared" / "mlflow" / TRAFFIC_NAME, Path("/work/shared/mlflow") / TRAFFIC_NAME]
    )
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    pytest.fail(
        "the recorded MLflow traffic the contract tests replay is missing: looked for "
        + ", ".join(str(c) for c in candidates)
        + f" (put {TRAFFIC_NAME} from the shared folder there, or point MLFLOW_TRAFFIC_FILE at it)",
        pytrace=False,
    )


def reset_auth_throttle() -> None:
    """Forget every failed-authentication counter and address block (accounts/throttling.py) and the module's
    'Redis is down' backoff. Never fails: a test that stopped Redis on purpose still runs."""
    from django.core.cache import caches

    import accounts.throttling as throttling

    throttling._down_until = 0.0
    try:
        cache = caches["throttle"]
        client = cache._cache.get_client(write=True)  # type: ignore[attr-defined]
        pattern = cache.make_key("auth*")
        keys = list(client.scan_iter(match=pattern, count=1000))
        if keys:
            client.delete(*keys)
    except Exception:
        pass


# --- the Django admin -----------------------------------------------------------------------------------------------

ADMIN_APPS = ("tenants", "accounts", "registry")


def staff_tenant_admin(username: str, tenant, *, actions=("view", "add", "change", "delete"), password=None):
    """A staff user who is a tenant admin of `tenant` (and nowhere else), with Django's model permissions for
    `actions` on every model of the admin's apps: what the admin's rule asks of a tenant admin there."""
    from django.contrib.auth.models import Permission

    user = account_services.user_create(username=username, tenant=tenant, role="admin", password=password)
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    perms = Permission.objects.filter(content_type__app_label__in=ADMIN_APPS)
    user.user_permissions.add(*[p for p in perms if p.codename.split("_", 1)[0] in actions])
    return user


def admin_action(client, url: str, action: str, ids, **extra):
    """POST a changelist action on `ids` (forged or not), following the redirect."""
    data = {"action": action, "_selected_action": [str(i) for i in ids], **extra}
    return client.post(url, data, follow=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mlflow_serve(model_uri: str, tmp_path: Path) -> tuple[subprocess.Popen, int, Path]:
    """Start `mlflow models serve -m MODEL_URI` (this process's environment: tracking URI and token) on a free
    port, in its own process group; wait for it with `wait_for_mlflow_serve`, stop it with os.killpg."""
    port = free_port()
    env = dict(os.environ)
    env["PATH"] = (
        f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # `uvicorn` is run by name
    )
    log = tmp_path / "serve.log"
    command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", model_uri, "--env-manager", "local"]
    proc = subprocess.Popen(
        [*command, "-h", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return proc, port, log


def wait_for_mlflow_serve(proc: subprocess.Popen, port: int, log: Path, timeout: float = 180) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"mlflow models serve exited:\n{log.read_text()}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/ping", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise AssertionError(f"mlflow models serve did not come up:\n{log.read_text()}")


def mlflow_serve_predict(model_uri: str, inputs: list, tmp_path: Path) -> list:
    """Serve MODEL_URI with `mlflow models serve`, score INPUTS over HTTP, stop the server; the predictions."""
    import signal

    import requests

    proc, port, log = mlflow_serve(model_uri, tmp_path)
    try:
        wait_for_mlflow_serve(proc, port, log)
        res = requests.post(f"http://127.0.0.1:{port}/invocations", json={"inputs": inputs}, timeout=60)
        assert res.status_code == 200, res.text
        return list(res.json()["predictions"])
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
