"""What the benchmark starts besides PostgreSQL and Redis (bench/compare/servers.py): moto's S3 server, the
loopback limit server, and one Modelgate gunicorn per backend, as in production (`-c config/gunicorn.py`, 2
workers x 4 threads), each with a tenant and an admin service account of its own. No Celery worker: PUT and GET
through the artifact proxy do not need one (nothing is registered or collected)."""

from __future__ import annotations

import sys
import time
import uuid
from pathlib import Path

from compare.servers import (
    LOOPBACK,
    ROOT,
    Cleanup,
    Infra,
    free_port,
    log,
    manage,
    modelgate_env,
    spawn,
    wait_http,
)

from .paths import Target

S3_KEYS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}
S3_REGION = "us-east-1"


def start_moto(infra: Infra, cleanup: Cleanup) -> tuple[str, int]:
    """moto's standalone S3 server (moto[server] from PyPI) on loopback; returns (endpoint, pid)."""
    import boto3

    port = free_port()
    log_path = infra.workdir / "moto.log"
    env = {**modelgate_env(infra), **S3_KEYS, "TMPDIR": str(infra.workdir / "tmp")}
    (infra.workdir / "tmp").mkdir(exist_ok=True)
    proc = spawn(
        [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(port)],
        env=env,
        log_path=log_path,
        cleanup=cleanup,
        what="moto server",
    )
    endpoint = f"http://{LOOPBACK}:{port}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=S3_REGION,
        aws_access_key_id=S3_KEYS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=S3_KEYS["AWS_SECRET_ACCESS_KEY"],
    )
    deadline = time.monotonic() + 120
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"moto exited: {log_path.read_text()[-2000:]}")
        try:
            client.create_bucket(Bucket="modelgate-bench")
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)
    log(f"moto S3 on {port}, bucket modelgate-bench")
    return endpoint, proc.pid


def start_loopback(infra: Infra, cleanup: Cleanup) -> str:
    port = free_port()
    log_path = infra.workdir / "loopback.log"
    proc = spawn(
        [sys.executable, str(Path(__file__).with_name("loopback.py")), str(port)],
        env=modelgate_env(infra),
        log_path=log_path,
        cleanup=cleanup,
        what="loopback server",
    )
    url = f"http://{LOOPBACK}:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            from .client import get_discard

            get_discard(f"{url}/bytes/1", {})
            return url
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def start_modelgate(
    infra: Infra, cleanup: Cleanup, backend: str, s3_endpoint: str, *, presigned: bool = False
) -> tuple[Target, int]:
    """gunicorn on one backend; returns its Target and the master's pid (its workers are the serving processes)."""
    env = modelgate_env(infra)
    env["TMPDIR"] = str(infra.workdir / "tmp")  # the S3 upload spool: the same disk as everything else
    (infra.workdir / "tmp").mkdir(exist_ok=True)
    if backend == "s3":
        env.update(
            ARTIFACT_STORAGE="s3",
            S3_BUCKET="modelgate-bench",
            S3_ENDPOINT_URL=s3_endpoint,
            S3_REGION=S3_REGION,
            ARTIFACT_PRESIGNED_DOWNLOADS="true" if presigned else "false",
            **S3_KEYS,
        )
    slug = f"bench-{backend}-{uuid.uuid4().hex[:6]}"
    manage(env, "create_tenant", slug)
    token = manage(env, "create_service_account", slug, "bench", "--role", "admin").strip().splitlines()[-1]
    port = free_port()
    bin_dir = Path(sys.executable).parent
    cmd = [
        str(bin_dir / "gunicorn"),
        "-c",
        str(ROOT / "config" / "gunicorn.py"),
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
    log_path = infra.workdir / f"gunicorn-{backend}.log"
    proc = spawn(cmd, env=env, log_path=log_path, cleanup=cleanup, what=f"gunicorn ({backend})")
    wait_http(f"http://{LOOPBACK}:{port}/healthz", proc, log_path)
    log(f"Modelgate on {backend} at {port} (gunicorn 2x4), tenant {slug}")
    return Target(backend=backend, base_url=f"http://{LOOPBACK}:{port}/t/{slug}", token=token), proc.pid


def migrate(infra: Infra) -> None:
    manage(modelgate_env(infra), "migrate", "--noinput", "-v0")
