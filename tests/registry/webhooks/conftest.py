"""Fixtures for the webhook tests: a recording HTTP receiver on loopback, principals, and a settled-deliveries check.

The session worker is another process and reads its settings from the environment it was started with, so the
small backoff and attempt limit the delivery tests rely on are put in the environment here, at collection time,
before any test starts the worker (`MODELGATE_WEBHOOK_ALLOW_PRIVATE` comes from `_worker_env`)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

os.environ.setdefault("MODELGATE_WEBHOOK_BACKOFF", "0.2")
os.environ.setdefault("MODELGATE_WEBHOOK_MAX_ATTEMPTS", "4")

SECRET = "s3cret-for-webhook-tests"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Records every POST; answers with the queued behaviours in order, then with `default`. A behaviour is a status
    code, `("redirect", location)`, or a `threading.Event` to wait on before answering 200 (a stalled receiver)."""

    url: str = ""
    requests: list[Received] = field(default_factory=list)
    behaviours: list[Any] = field(default_factory=list)
    default: Any = 200
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_behaviour(self) -> Any:
        with self.lock:
            return self.behaviours.pop(0) if self.behaviours else self.default

    def wait_for(self, count: int, timeout: float = 30) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.requests) >= count:
                    return list(self.requests)
            time.sleep(0.02)
        raise AssertionError(f"receiver got {len(self.requests)} requests, expected {count}")


def _handler(receiver: Receiver):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            with receiver.lock:
                receiver.requests.append(Received(self.path, dict(self.headers.items()), body))
            behaviour = receiver.next_behaviour()
            if isinstance(behaviour, threading.Event):
                behaviour.wait(60)
                behaviour = 200
            try:
                if isinstance(behaviour, tuple):
                    self.send_response(302)
                    self.send_header("Location", behaviour[1])
                else:
                    self.send_response(behaviour)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            except OSError:  # the client (a killed worker) is gone
                pass

        def log_message(self, format, *args):  # quiet
            pass

    return Handler


@pytest.fixture
def make_receiver():
    servers: list[ThreadingHTTPServer] = []

    def make() -> Receiver:
        receiver = Receiver()
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
        server.daemon_threads = True
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        receiver.url = f"http://127.0.0.1:{server.server_address[1]}"
        return receiver

    yield make
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def receiver(make_receiver) -> Receiver:
    return make_receiver()


def expected_signature(body: bytes, secret: str = SECRET) -> str:
    """What a receiver computes: HMAC-SHA256 of the raw body with the shared secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def settled(timeout: float = 30) -> None:
    """Wait until no delivery is pending or in flight."""
    from registry.models import DeliveryStatus, WebhookDelivery

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not WebhookDelivery.objects.filter(
            status__in=[DeliveryStatus.PENDING, DeliveryStatus.DELIVERING]
        ).exists():
            return
        time.sleep(0.05)
    raise AssertionError(
        "webhook deliveries did not settle: "
        + repr(list(WebhookDelivery.objects.values_list("event", "status", "attempts", "last_error")))
    )


@pytest.fixture(autouse=True)
def _settle_deliveries(request):
    """A test that used the worker ends only once its deliveries are done, so none is in flight while the test
    database is flushed."""
    yield
    if "worker" in request.fixturenames:
        settled()
