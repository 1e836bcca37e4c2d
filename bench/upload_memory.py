"""Benchmark: memory of a streamed artifact upload and download stays flat in the file size.

Starts gunicorn (one sync worker) on the configured DATABASE_URL/REDIS_URL, creates a throwaway tenant and token,
then PUTs and GETs files of growing size through the MLflow artifact proxy and reports the worker's peak RSS
(VmHWM) after each. Flat means the peak grows by far less than the file: the body is never buffered.

    source /tmp/dev/env.sh   # or any PostgreSQL/Redis; `make test`'s servers are gone after the run
    .venv/bin/python bench/upload_memory.py --sizes 16,128,512

Exit status 1 if the peak grew by more than --max-growth-mib across the run.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def manage(*args: str) -> str:
    out = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, check=True, capture_output=True, text=True
    )
    return out.stdout


def worker_pids(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def body(size: int, chunk: int = MIB):
    block = os.urandom(chunk)
    sent = 0
    while sent < size:
        n = min(chunk, size - sent)
        yield block[:n]
        sent += n


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="16,128,512", help="file sizes in MiB")
    parser.add_argument("--max-growth-mib", type=float, default=64)
    args = parser.parse_args()

    slug = f"bench-{uuid.uuid4().hex[:6]}"
    manage("migrate", "--noinput", "-v0")
    manage("create_tenant", slug)
    token = manage("create_service_account", slug, "bench", "--role", "admin").strip().splitlines()[-1]
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--timeout",
            "600",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}/t/{slug}"
        headers = {"Authorization": f"Bearer {token}"}
        for _ in range(600):
            try:
                requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.1)
        worker = worker_pids(proc.pid)[0]
        # Warm up imports and connections first, so the baseline is the steady state.
        requests.put(
            f"{base}/api/2.0/mlflow-artifacts/artifacts/0/warm/artifacts/x",
            data=b"x",
            headers=headers,
            timeout=60,
        ).raise_for_status()
        baseline = peak_rss_mib(worker)
        print(f"baseline peak RSS {baseline:.1f} MiB")
        for size_mib in (int(s) for s in args.sizes.split(",")):
            path = f"0/bench/artifacts/file-{size_mib}.bin"
            started = time.monotonic()
            requests.put(
                f"{base}/api/2.0/mlflow-artifacts/artifacts/{path}",
                data=body(size_mib * MIB),
                headers=headers,
                timeout=600,
            ).raise_for_status()
            up = time.monotonic() - started
            started = time.monotonic()
            with requests.get(
                f"{base}/api/2.0/mlflow-artifacts/artifacts/{path}", headers=headers, stream=True, timeout=600
            ) as res:
                res.raise_for_status()
                received = sum(len(c) for c in res.iter_content(MIB))
            down = time.monotonic() - started
            assert received == size_mib * MIB, received
            print(
                f"{size_mib:>6} MiB  up {size_mib / up:7.1f} MiB/s  down {size_mib / down:7.1f} MiB/s  "
                f"peak RSS {peak_rss_mib(worker):.1f} MiB"
            )
        growth = peak_rss_mib(worker) - baseline
        print(f"peak RSS growth over the run: {growth:.1f} MiB (limit {args.max_growth_mib} MiB)")
        return 0 if growth <= args.max_growth_mib else 1
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
