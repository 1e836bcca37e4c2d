"""A loopback webhook receiver: records every delivery and whether its X-Modelgate-Signature verifies."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Delivery:
    tenant: str
    event: str
    delivery_id: str
    signed_ok: bool
    body: dict[str, object]


@dataclass
class Receiver:
    secret: str
    deliveries: list[Delivery] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    def start(self) -> int:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                want = "sha256=" + hmac.new(receiver.secret.encode(), raw, hashlib.sha256).hexdigest()
                got = self.headers.get("X-Modelgate-Signature", "")
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {}
                d = Delivery(
                    tenant=self.path.strip("/"),
                    event=self.headers.get("X-Modelgate-Event", ""),
                    delivery_id=self.headers.get("X-Modelgate-Delivery", ""),
                    signed_ok=hmac.compare_digest(want, got),
                    body=body if isinstance(body, dict) else {},
                )
                with receiver.lock:
                    receiver.deliveries.append(d)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return int(self.server.server_address[1])

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
