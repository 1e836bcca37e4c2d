"""Flat memory on both backends: a 200 MiB upload through the MLflow artifact proxy, then its download, grow the
serving process's peak RSS (VmHWM) by far less than the file. The server is a real gunicorn subprocess on the test
database; the body is generated while it is sent and hashed while it is received, so the test holds none of it."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.db import connection

from tests.helpers import ROOT, issue, worker_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(600)]

MIB = 1024 * 1024
SIZE = 200 * MIB
MAX_GROWTH = 64 * MIB


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def generated(size: int, digest):
    block = os.urandom(MIB)
    sent = 0
    while sent < size:
        chunk = block[: min(MIB, size - sent)]
        # Vary each block a little so parts differ (a store deduplicating parts would flatter the numbers).
        chunk = sent.to_bytes(8, "big") + chunk[8:]
        digest.update(chunk)
        sent += len(chunk)
        yield chunk


@pytest.fixture
def server(artifact_backend, tmp_path):
    """gunicorn (one sync worker) on the test database and the backend under test; yields (base URL, worker pid)."""
    env = {**worker_env(connection.settings_dict["NAME"]), **artifact_backend.env}
    port = free_port()
    log = tmp_path / "gunicorn.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}"]
        + ["--workers", "1", "--timeout", "600"],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except requests.RequestException:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        assert len(children) == 1, children
        yield f"http://127.0.0.1:{port}", int(children[0])
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def test_a_200_mib_upload_and_download_keep_the_server_memory_flat(server, tenant, tenant_admin):
    base_url, pid = server
    url = f"{base_url}/t/{tenant.slug}/api/2.0/mlflow-artifacts/artifacts/0/mem/artifacts"
    headers = {"Authorization": f"Bearer {issue(tenant_admin, tenant)}"}
    with requests.Session() as http:
        # Warm up imports, connections and clients: the baseline is the steady state.
        http.put(f"{url}/warm.bin", data=b"warm", headers=headers, timeout=60).raise_for_status()
        assert http.get(f"{url}/warm.bin", headers=headers, timeout=60).content == b"warm"
        baseline = peak_rss(pid)

        sent = hashlib.sha256()
        up = http.put(f"{url}/big.bin", data=generated(SIZE, sent), headers=headers, timeout=600)
        assert up.status_code == 200, up.text
        after_upload = peak_rss(pid)

        received = hashlib.sha256()
        size = 0
        with http.get(f"{url}/big.bin", headers=headers, stream=True, timeout=600) as down:
            assert down.status_code == 200
            assert down.headers["Content-Length"] == str(SIZE)
            for chunk in down.iter_content(MIB):
                received.update(chunk)
                size += len(chunk)
        after_download = peak_rss(pid)
    assert size == SIZE and received.hexdigest() == sent.hexdigest()
    assert after_upload - baseline < MAX_GROWTH, (
        f"upload grew the peak RSS by {(after_upload - baseline) / MIB:.1f} MiB"
    )
    assert after_download - baseline < MAX_GROWTH, (
        f"download grew the peak RSS by {(after_download - baseline) / MIB:.1f} MiB"
    )
