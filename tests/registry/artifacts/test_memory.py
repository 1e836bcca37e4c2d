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

from tests.helpers import ROOT, free_port, issue, worker_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(600)]

MIB = 1024 * 1024
SIZE = 200 * MIB
MAX_GROWTH = 64 * MIB


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


# --- the resumable upload API (registry/artifacts/uploads) ----------------------------------------------------------

RESUMABLE_PART = 16 * MIB


class GeneratedPart:
    """Part `number` of the generated file as a sized stream (requests sends it with a Content-Length, reading it in
    blocks), made while it is read: the test never holds a part."""

    def __init__(self, block: bytes, number: int, size: int):
        self.block, self.offset, self.left = block, (number - 1) * RESUMABLE_PART, size

    def __len__(self) -> int:
        return self.left

    def read(self, n: int = -1) -> bytes:
        n = self.left if n is None or n < 0 else min(n, self.left)
        out = bytearray()
        while len(out) < n:
            within = self.offset % MIB
            start = self.offset - within
            piece = start.to_bytes(8, "big") + self.block[8:]  # as `generated`: every MiB differs
            take = piece[within : within + n - len(out)]
            out += take
            self.offset += len(take)
        self.left -= len(out)
        return bytes(out)


def break_mid_body(base_url: str, path: str, token: str, size: int, block: bytes, number: int) -> None:
    """Send half of a part's body and close the connection, as a client does when its network drops."""
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(
            (
                f"PUT {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
                f"Content-Type: application/octet-stream\r\nContent-Length: {size}\r\n\r\n"
            ).encode()
        )
        part = GeneratedPart(block, number, size)
        sent = 0
        while sent < size // 2:
            sent += len(chunk := part.read(MIB))
            sock.sendall(chunk)


def test_a_200_mib_resumable_upload_broken_and_resumed_keeps_the_server_memory_flat(
    server, artifact_backend, tenant, tenant_admin
):
    from registry.artifacts.uploads import assembly
    from registry.artifacts.uploads.models import UploadSession
    from registry.tracking import services as tracking_services
    from tests.helpers import principal

    me = principal(tenant_admin, tenant)
    experiment = tracking_services.experiment_create(principal=me, name="mem-resumable")
    run = tracking_services.run_create(principal=me, experiment=experiment, run_name="r")
    base_url, pid = server
    token = issue(tenant_admin, tenant)
    headers = {"Authorization": f"Bearer {token}"}
    uploads = f"/t/{tenant.slug}/api/v1/uploads"
    block = os.urandom(MIB)
    parts = -(-SIZE // RESUMABLE_PART)

    def part_size(number: int) -> int:
        return RESUMABLE_PART if number < parts else SIZE - RESUMABLE_PART * (parts - 1)

    whole = hashlib.sha256()
    whole_stream = GeneratedPart(block, 1, SIZE)
    while chunk := whole_stream.read(MIB):
        whole.update(chunk)

    with requests.Session() as http:

        def open_session(path: str, size: int) -> str:
            body = {"run_id": run.run_id, "path": path, "size": size, "part_size": RESUMABLE_PART}
            answer = http.post(f"{base_url}{uploads}", json=body, headers=headers, timeout=60)
            assert answer.status_code == 201, answer.text
            return answer.json()["id"]

        # Warm up: a small session through every endpoint the big one uses.
        warm = open_session("warm.bin", 4)
        http.put(
            f"{base_url}{uploads}/{warm}/parts/1", data=b"warm", headers=headers, timeout=60
        ).raise_for_status()
        http.get(f"{base_url}{uploads}/{warm}", headers=headers, timeout=60).raise_for_status()
        baseline = peak_rss(pid)

        session_id = open_session("big.bin", SIZE)
        half = parts // 2
        for number in range(1, half):
            answer = http.put(
                f"{base_url}{uploads}/{session_id}/parts/{number}",
                data=GeneratedPart(block, number, part_size(number)),
                headers=headers,
                timeout=600,
            )
            assert answer.status_code == 200, answer.text
        # The connection drops in the middle of part `half`: nothing of it is kept.
        break_mid_body(base_url, f"{uploads}/{session_id}/parts/{half}", token, part_size(half), block, half)
        state = http.get(f"{base_url}{uploads}/{session_id}", headers=headers, timeout=60).json()
        assert state["missing_parts"] == list(range(half, parts + 1))
        for number in state["missing_parts"]:
            answer = http.put(
                f"{base_url}{uploads}/{session_id}/parts/{number}",
                data=GeneratedPart(block, number, part_size(number)),
                headers=headers,
                timeout=600,
            )
            assert answer.status_code == 200, answer.text
        after_upload = peak_rss(pid)
        done = http.post(f"{base_url}{uploads}/{session_id}/complete", headers=headers, timeout=60)
        assert done.status_code == 202, done.text

        # Complete it here (this process has the backend's settings; a worker of the session may race us, harmless).
        deadline = time.monotonic() + 300
        while True:
            assembly.complete(session_id)
            session = UploadSession.objects.get(pk=session_id)
            if session.status in ("completed", "failed") or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert session.status == "completed", (session.error_code, session.error_message)
        assert session.result_sha256 == whole.hexdigest()

        received = hashlib.sha256()
        url = f"{base_url}/t/{tenant.slug}/api/2.0/mlflow-artifacts/artifacts/{session.path}"
        with http.get(url, headers=headers, stream=True, timeout=600) as down:
            assert down.status_code == 200
            for chunk in down.iter_content(MIB):
                received.update(chunk)
    assert received.hexdigest() == whole.hexdigest()
    assert after_upload - baseline < MAX_GROWTH, (
        f"the resumable upload grew the peak RSS by {(after_upload - baseline) / MIB:.1f} MiB"
    )
