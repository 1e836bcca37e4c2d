"""Start and stop everything the comparison needs: one throwaway PostgreSQL cluster (a database for each side),
Redis, MLflow's own server from its private venv, and Modelgate as in production (gunicorn + one Celery worker).

Every process is started in its own session so that stopping it also stops what it forked (uvicorn workers,
gunicorn workers, Celery pool processes); we only ever signal process groups we created, by their id."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ROOT / "scripts" / "services.sh"
MLFLOW_VERSION = "3.17.2"
LOOPBACK = "127.0.0.1"


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


@dataclass
class Cleanup:
    """LIFO stack of undo actions; run once, even when interrupted half-way."""

    actions: list[tuple[str, Callable[[], None]]] = field(default_factory=list)

    def push(self, what: str, action: Callable[[], None]) -> None:
        self.actions.append((what, action))

    def run(self) -> None:
        while self.actions:
            what, action = self.actions.pop()
            try:
                action()
            except Exception as exc:  # keep going: one stuck piece must not leave the others running
                log(f"cleanup of {what} failed: {exc}")


def services(*args: str) -> str:
    """Call a function of scripts/services.sh; returns its stdout (the port for start-*)."""
    out = subprocess.run(
        ["bash", str(SERVICES), *args],
        check=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    return out.stdout.strip()


def psql(pg_port: int, db: str, sql: str) -> str:
    """Run SQL with the cluster's own psql over TCP (trust auth); returns unaligned, tuples-only output."""
    script = (
        f"source {shlex.quote(str(SERVICES))}; "
        f'"$(mg_pg_bindir)/psql" -X -q -At -v ON_ERROR_STOP=1 -h {LOOPBACK} -p {pg_port} -U modelgate -d {db}'
    )
    out = subprocess.run(["bash", "-c", script], input=sql, check=True, capture_output=True, text=True)
    return out.stdout.strip()


def free_port() -> int:
    return int(services("free-port"))


def spawn(
    cmd: list[str], *, env: dict[str, str], log_path: Path, cleanup: Cleanup, what: str
) -> subprocess.Popen[bytes]:
    log_file = log_path.open("ab")
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
    )
    log_file.close()  # the child keeps its own descriptor

    def stop() -> None:
        stop_group(proc)

    cleanup.push(f"{what} (process group {proc.pid})", stop)
    return proc


def stop_group(proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)  # the group we created with start_new_session
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=timeout)
    except ProcessLookupError:
        pass


def wait_http(url: str, proc: subprocess.Popen[bytes], log_path: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace").splitlines()[-25:]
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}:\n" + "\n".join(tail))
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s; see {log_path}")


@dataclass
class Infra:
    workdir: Path
    pg_port: int
    redis_port: int


def start_infra(workdir: Path, cleanup: Cleanup) -> Infra:
    svc_dir = workdir / "services"
    svc_dir.mkdir(parents=True, exist_ok=True)

    def stop() -> None:
        services("stop", str(svc_dir))

    cleanup.push("PostgreSQL and Redis", stop)
    pg_port = int(services("start-postgres", str(svc_dir)))
    redis_port = int(services("start-redis", str(svc_dir)))
    psql(pg_port, "postgres", "CREATE DATABASE mlflow OWNER modelgate;")
    log(f"PostgreSQL on {pg_port} (databases modelgate, mlflow), Redis on {redis_port}")
    return Infra(workdir=workdir, pg_port=pg_port, redis_port=redis_port)


# ---------------------------------------------------------------- MLflow


def ensure_mlflow_venv(venv: Path) -> Path:
    """MLflow (full, with its server) lives in its own venv: it is not a dependency of the project."""
    mlflow = venv / "bin" / "mlflow"
    if mlflow.exists():
        out = subprocess.run([str(mlflow), "--version"], capture_output=True, text=True, env=_mlflow_env())
        if MLFLOW_VERSION in out.stdout:
            return mlflow
    log(f"installing mlflow=={MLFLOW_VERSION} into {venv} (once)")
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", f"mlflow=={MLFLOW_VERSION}", "psycopg2-binary"],
        check=True,
    )
    return mlflow


def _mlflow_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "DJANGO_"))}
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    env["DO_NOT_TRACK"] = "true"
    return env


def start_mlflow(infra: Infra, venv: Path, cleanup: Cleanup) -> str:
    """MLflow's server as its docs run it for a team: PostgreSQL backend, proxied artifacts, 2 workers, no auth.

    `--artifacts-destination` (proxied artifacts) rather than `--default-artifact-root file:` so that runs get
    `mlflow-artifacts:/` URIs exactly like Modelgate's: both sides then take byte-identical seeding payloads."""
    mlflow = ensure_mlflow_venv(venv)
    port = free_port()
    art = infra.workdir / "mlflow-artifacts"
    art.mkdir(parents=True, exist_ok=True)
    log_path = infra.workdir / "mlflow.log"
    cmd = [
        str(mlflow),
        "server",
        "--backend-store-uri",
        f"postgresql+psycopg2://modelgate@{LOOPBACK}:{infra.pg_port}/mlflow",
        "--serve-artifacts",
        "--artifacts-destination",
        art.as_uri(),
        "--workers",
        "2",
        # uvicorn kills a worker that misses its 5 s health check: on a loaded shared machine that cuts
        # requests off mid-way (gunicorn, Modelgate's server, gets --timeout 120); give MLflow the same slack.
        "--uvicorn-opts",
        "--timeout-worker-healthcheck 120",
        "--host",
        LOOPBACK,
        "--port",
        str(port),
    ]
    proc = spawn(cmd, env=_mlflow_env(), log_path=log_path, cleanup=cleanup, what="mlflow server")
    wait_http(f"http://{LOOPBACK}:{port}/health", proc, log_path)
    log(f"MLflow {MLFLOW_VERSION} server on {port}")
    return f"http://{LOOPBACK}:{port}"


# ---------------------------------------------------------------- Modelgate


@dataclass
class Modelgate:
    url: str  # tenant base URL: http://127.0.0.1:P/t/<tenant>
    token: str
    tenant: str
    env: dict[str, str]


def modelgate_env(infra: Infra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "DJANGO_"))}
    env.update(
        DATABASE_URL=f"postgres://modelgate@{LOOPBACK}:{infra.pg_port}/modelgate",
        REDIS_URL=f"redis://{LOOPBACK}:{infra.redis_port}/0",
        ARTIFACT_STORAGE="file",
        ARTIFACT_ROOT=str(infra.workdir / "modelgate-artifacts"),
        STATIC_ROOT=str(infra.workdir / "static"),
        MODELGATE_VAR_DIR=str(infra.workdir / "mg-var"),
        SECRET_KEY="bench-" + os.urandom(24).hex(),
        DEBUG="false",
        LOG_LEVEL="WARNING",
        MLFLOW_DISABLE_TELEMETRY="true",
    )
    return env


def manage(env: dict[str, str], *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    return out.stdout


def start_modelgate(infra: Infra, cleanup: Cleanup) -> Modelgate:
    env = modelgate_env(infra)
    tenant, team = "bench", "ml"
    manage(env, "migrate", "--noinput", "-v0")
    manage(env, "create_tenant", tenant)
    manage(env, "create_team", tenant, team)
    # A member of the owning team, not an admin: the permission checks a real training job goes through.
    out = manage(env, "create_service_account", tenant, "bench", "--role", "member", "--team", team)
    token = out.strip().splitlines()[-1]
    port = free_port()
    bin_dir = Path(sys.executable).parent
    gunicorn = [
        str(bin_dir / "gunicorn"),
        "-c",
        str(ROOT / "config" / "gunicorn.py"),  # the same request-line limits as production
        "config.wsgi",
        "--bind",
        f"{LOOPBACK}:{port}",
        "--workers",
        "2",
        "--threads",
        "4",
        "--timeout",
        "120",
    ]
    web_log = infra.workdir / "gunicorn.log"
    web = spawn(gunicorn, env=env, log_path=web_log, cleanup=cleanup, what="gunicorn")
    celery = [
        str(bin_dir / "celery"),
        "-A",
        "config",
        "worker",
        "--concurrency",
        "2",
        "--loglevel",
        "WARNING",
    ]
    spawn(celery, env=env, log_path=infra.workdir / "celery.log", cleanup=cleanup, what="celery worker")
    wait_http(f"http://{LOOPBACK}:{port}/healthz", web, web_log)
    log(f"Modelgate (gunicorn 2x4 + celery 2) on {port}, tenant {tenant}")
    return Modelgate(url=f"http://{LOOPBACK}:{port}/t/{tenant}", token=token, tenant=tenant, env=env)
