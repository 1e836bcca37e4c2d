"""The gunicorn settings every deployment uses (config/gunicorn.py): a request line far beyond gunicorn's default
4094 bytes reaches Django instead of gunicorn's own HTML 414 (the MLflow client sends registry search filters in the
query string)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import ROOT, free_port

GUNICORN = Path(sys.executable).parent / "gunicorn"


def serve(*config: str):
    port = free_port()
    proc = subprocess.Popen(
        [str(GUNICORN), *config, "config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).read()
            return proc, port
        except OSError:
            time.sleep(0.2)
    proc.kill()
    pytest.fail("gunicorn did not start")


def status_of(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as res:
            return res.status, res.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", "")


@pytest.fixture
def long_query() -> str:
    return "filter=" + "name%3D%27m%27+OR+" * 1500  # about 25 KB


def test_the_shipped_config_lets_a_long_request_line_reach_django(long_query):
    proc, port = serve("-c", str(ROOT / "config" / "gunicorn.py"))
    try:
        status, content_type = status_of(f"http://127.0.0.1:{port}/healthz?{long_query}")
        assert status == 200 and content_type.startswith("application/json")
        # A long header line too (16 KiB per field).
        req = urllib.request.Request(f"http://127.0.0.1:{port}/healthz", headers={"X-Long": "a" * 12000})
        assert urllib.request.urlopen(req, timeout=30).status == 200
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)


def test_without_it_gunicorn_answers_its_own_414(long_query):
    # What the config file is for: gunicorn's default limit refuses the same request before Django sees it.
    proc, port = serve()
    try:
        assert status_of(f"http://127.0.0.1:{port}/healthz?{long_query}")[0] == 414
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)


def test_every_way_of_serving_uses_the_config():
    assert "gunicorn -c config/gunicorn.py config.wsgi" in (ROOT / "Procfile.dev").read_text()
    assert "gunicorn -c config/gunicorn.py config.wsgi" in (ROOT / "README.md").read_text()
    assert '"config" / "gunicorn.py"' in (ROOT / "bench" / "compare" / "servers.py").read_text()
