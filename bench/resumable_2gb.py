"""Issue 12's "Done when", end to end on S3: a 2 GB model uploaded through the resumable upload API with a break and
a resume in the middle, registered as a version, promoted to Production, and downloaded back with the MLflow client,
its sha256 checked; reports the web process's peak RSS.

Starts everything throwaway under var/bench/resumable-<pid>/ (removed on exit unless --keep): PostgreSQL and Redis
(scripts/services.sh, through bench/compare/servers.py), moto's S3 server on loopback, gunicorn (one sync worker, the
process whose memory is measured) and one Celery worker. The 2 GB file is generated while it is sent and hashed as
it goes: nothing holds it in memory, and only the MLflow client's download lands on disk (then is deleted).

    .venv/bin/python bench/resumable_2gb.py            # --size-mib 2048 --part-mib 16 by default

Exit status 1 if anything fails or the web process's peak RSS grew by more than --max-growth-mib.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

import requests
from compare.servers import (
    ROOT,
    Cleanup,
    free_port,
    log,
    manage,
    modelgate_env,
    spawn,
    start_infra,
    wait_http,
)

MIB = 1024 * 1024
BIN = Path(sys.executable).parent
S3_KEYS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


class Generated:
    """Bytes [offset, offset + size) of the generated file, made while read (each MiB stamped with its offset, so
    no two MiB are equal); sized, so requests sends it with a Content-Length."""

    def __init__(self, block: bytes, offset: int, size: int):
        self.block, self.offset, self.left = block, offset, size

    def __len__(self) -> int:
        return self.left

    def read(self, n: int = -1) -> bytes:
        n = self.left if n is None or n < 0 else min(n, self.left)
        out = bytearray()
        while len(out) < n:
            within = self.offset % MIB
            piece = (self.offset - within).to_bytes(8, "big") + self.block[8:]
            take = piece[within : within + n - len(out)]
            out += take
            self.offset += len(take)
        self.left -= len(out)
        return bytes(out)


def start_moto(workdir: Path, cleanup: Cleanup) -> str:
    import boto3

    port = free_port()
    env = {**os.environ, **S3_KEYS}
    log_path = workdir / "moto.log"
    proc = spawn(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        log_path=log_path,
        cleanup=cleanup,
        what="moto S3 server",
    )
    endpoint = f"http://127.0.0.1:{port}"
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **_keys())
    for _ in range(300):
        if proc.poll() is not None:
            raise RuntimeError(log_path.read_text())
        try:
            client.create_bucket(Bucket="modelgate-bench")
            return endpoint
        except Exception:
            time.sleep(0.2)
    raise RuntimeError("moto did not come up")


def _keys() -> dict[str, str]:
    return {
        "aws_access_key_id": S3_KEYS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": S3_KEYS["AWS_SECRET_ACCESS_KEY"],
    }


def break_mid_body(port: int, path: str, token: str, data: Generated) -> None:
    """Send half of a part and drop the connection, as a client whose network fails does."""
    size = len(data)
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        head = (
            f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: {size}\r\n\r\n"
        )
        sock.sendall(head.encode())
        sent = 0
        while sent < size // 2:
            chunk = data.read(MIB)
            sock.sendall(chunk)
            sent += len(chunk)


def run(args: argparse.Namespace, cleanup: Cleanup, workdir: Path) -> int:
    size = args.size_mib * MIB
    infra = start_infra(workdir, cleanup)
    endpoint = start_moto(workdir, cleanup)
    env = modelgate_env(infra)
    env.update(
        ARTIFACT_STORAGE="s3",
        S3_BUCKET="modelgate-bench",
        S3_ENDPOINT_URL=endpoint,
        S3_REGION="us-east-1",
        TMPDIR=str(workdir / "tmp"),
        **S3_KEYS,
    )
    (workdir / "tmp").mkdir()
    slug = "bench"
    manage(env, "migrate", "--noinput", "-v0")
    manage(env, "create_tenant", slug)
    manage(env, "create_team", slug, "ml")
    token = manage(env, "create_service_account", slug, "trainer", "--role", "member", "--team", "ml")
    token = token.strip().splitlines()[-1]
    port = free_port()
    web_log = workdir / "gunicorn.log"
    web = spawn(
        [
            str(BIN / "gunicorn"),
            "config.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--timeout",
            "900",
        ],
        env=env,
        log_path=web_log,
        cleanup=cleanup,
        what="gunicorn",
    )
    wait_http(f"http://127.0.0.1:{port}/healthz", web, web_log)
    web_pid = int(Path(f"/proc/{web.pid}/task/{web.pid}/children").read_text().split()[0])
    worker = spawn(
        [str(BIN / "celery"), "-A", "config", "worker", "--concurrency", "1", "--loglevel", "INFO"],
        env=env,
        log_path=workdir / "celery.log",
        cleanup=cleanup,
        what="celery worker",
    )
    base = f"http://127.0.0.1:{port}/t/{slug}"
    headers = {"Authorization": f"Bearer {token}"}
    http = requests.Session()
    http.headers.update(headers)

    def call(method: str, url: str, expect: int = 200, **kwargs):
        answer = http.request(method, url, timeout=900, **kwargs)
        if answer.status_code != expect:
            raise RuntimeError(f"{method} {url} → {answer.status_code}: {answer.text[:500]}")
        return answer.json() if answer.content else {}

    # A run to hold the model (the MLflow REST API, as the client does).
    experiment = call("POST", f"{base}/api/2.0/mlflow/experiments/create", json={"name": "big"})[
        "experiment_id"
    ]
    run_info = call("POST", f"{base}/api/2.0/mlflow/runs/create", json={"experiment_id": experiment})["run"][
        "info"
    ]
    run_id = run_info["run_id"]
    artifacts = f"{base}/api/2.0/mlflow-artifacts/artifacts/{experiment}/{run_id}/artifacts"
    mlmodel = (
        f"artifact_path: model\nrun_id: {run_id}\nflavors: {{}}\n"
        f"metadata:\n  data: data/weights.bin\n  size: {size}\n"
    ).encode()
    call("PUT", f"{artifacts}/model/MLmodel", data=mlmodel)
    baseline = peak_rss_mib(web_pid)
    log(f"web worker pid {web_pid}, baseline peak RSS {baseline:.1f} MiB")

    # The expected digest, computed by streaming the generator once (nothing held).
    block = os.urandom(MIB)
    whole = hashlib.sha256()
    stream = Generated(block, 0, size)
    while chunk := stream.read(8 * MIB):
        whole.update(chunk)
    digest = whole.hexdigest()

    started = time.monotonic()
    body = {"run_id": run_id, "path": "model/data/weights.bin", "size": size, "sha256": digest}
    if args.part_mib:
        body["part_size"] = args.part_mib * MIB
    session = call("POST", f"{base}/api/v1/uploads", expect=201, json=body)
    sid, part_size, parts = session["id"], session["part_size"], session["part_count"]
    log(f"session {sid}: {parts} parts of {part_size // MIB} MiB")

    def part(number: int) -> Generated:
        offset = (number - 1) * part_size
        return Generated(block, offset, min(part_size, size - offset))

    middle = parts // 2
    for number in range(1, middle):
        call("PUT", f"{base}/api/v1/uploads/{sid}/parts/{number}", data=part(number))
    break_mid_body(port, f"/t/{slug}/api/v1/uploads/{sid}/parts/{middle}", token, part(middle))
    state = call("GET", f"{base}/api/v1/uploads/{sid}")
    missing = state["missing_parts"]
    log(
        f"connection broken in part {middle}; the session lists {len(state['parts'])} stored, {len(missing)} missing"
    )
    assert missing == list(range(middle, parts + 1)), missing
    for number in missing:
        call("PUT", f"{base}/api/v1/uploads/{sid}/parts/{number}", data=part(number))
    sent = time.monotonic() - started
    call("POST", f"{base}/api/v1/uploads/{sid}/complete", expect=202)
    while (state := call("GET", f"{base}/api/v1/uploads/{sid}"))["status"] == "completing":
        time.sleep(1)
    completed = time.monotonic() - started
    if state["status"] != "completed" or state["result_sha256"] != digest:
        raise RuntimeError(f"upload ended {state['status']}: {state['error_code']} {state['error_message']}")
    after_upload = peak_rss_mib(web_pid)
    log(
        f"uploaded {args.size_mib} MiB in {sent:.1f} s ({args.size_mib / sent:.0f} MiB/s), completed after {completed:.1f} s"
    )

    # Register, promote and download back with the MLflow client.
    os.environ.update(
        MLFLOW_TRACKING_URI=base,
        MLFLOW_TRACKING_TOKEN=token,
        MLFLOW_DISABLE_TELEMETRY="true",
        MLFLOW_HTTP_REQUEST_TIMEOUT="900",
    )
    import mlflow
    from mlflow import MlflowClient

    client = MlflowClient()
    client.create_registered_model("big-model")
    version = client.create_model_version("big-model", f"{run_info['artifact_uri']}/model", run_id=run_id)
    while (mv := client.get_model_version("big-model", version.version)).status == "PENDING_REGISTRATION":
        time.sleep(0.5)
    if mv.status != "READY":
        raise RuntimeError(f"registration ended {mv.status}: {mv.status_message}")
    client.transition_model_version_stage("big-model", version.version, "Production")
    started = time.monotonic()
    dst = Path(tempfile.mkdtemp(dir=workdir))
    local = Path(mlflow.artifacts.download_artifacts("models:/big-model/Production", dst_path=str(dst)))
    fetched = time.monotonic() - started
    got = hashlib.sha256()
    with (local / "data" / "weights.bin").open("rb") as fh:
        while chunk := fh.read(8 * MIB):
            got.update(chunk)
    shutil.rmtree(dst)
    peak = peak_rss_mib(web_pid)
    worker_peak = max(
        (
            peak_rss_mib(int(p))
            for p in Path(f"/proc/{worker.pid}/task/{worker.pid}/children").read_text().split()
        ),
        default=0.0,
    )
    ok = got.hexdigest() == digest and peak - baseline <= args.max_growth_mib
    print(
        f"size                      {args.size_mib} MiB in {parts} parts of {part_size // MIB} MiB (S3, moto)"
    )
    print(f"break and resume          part {middle} cut mid-body, {len(missing)} parts re-listed and sent")
    print(
        f"upload                    {sent:.1f} s ({args.size_mib / sent:.0f} MiB/s); completed (assembled, hashed, copied) after {completed:.1f} s"
    )
    print(
        f"register + Production     version {version.version} READY, stage {client.get_model_version('big-model', version.version).current_stage}"
    )
    print(
        f"download (MLflow client)  {fetched:.1f} s ({args.size_mib / fetched:.0f} MiB/s), sha256 {'matches' if got.hexdigest() == digest else 'DIFFERS'}"
    )
    print(
        f"web peak RSS              baseline {baseline:.1f} MiB, after upload {after_upload:.1f} MiB, after download {peak:.1f} MiB (growth {peak - baseline:.1f} MiB, limit {args.max_growth_mib})"
    )
    print(f"worker peak RSS           {worker_peak:.1f} MiB")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mib", type=int, default=2048)
    parser.add_argument("--part-mib", type=int, default=0, help="part size (default: the server's)")
    parser.add_argument("--max-growth-mib", type=float, default=64)
    parser.add_argument("--keep", action="store_true", help="leave the work directory")
    args = parser.parse_args()
    workdir = ROOT / "var" / "bench" / f"resumable-{os.getpid()}"
    workdir.mkdir(parents=True)
    cleanup = Cleanup()
    try:
        return run(args, cleanup, workdir)
    finally:
        cleanup.run()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
