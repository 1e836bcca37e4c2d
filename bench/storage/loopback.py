"""The loopback HTTP limit: a trivial threaded HTTP/1.1 server that discards PUT bodies and produces GET bodies
(`GET /bytes/<n>`), in 1 MiB reads and writes, with no other work. Run as its own process (`python loopback.py
PORT`) so the client measuring it does not share a GIL with it, as it does not with gunicorn.

What it measures: the most one Python HTTP client and one Python HTTP server can move over loopback on this
machine, which bounds anything an HTTP proxy in Python can do (Modelgate adds hashing, a spool file and storage)."""

from __future__ import annotations

import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MIB = 1024 * 1024
BLOCK = bytes(range(256)) * (MIB // 256)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_PUT(self) -> None:
        remaining = int(self.headers.get("Content-Length") or 0)
        while remaining:
            chunk = self.rfile.read(min(MIB, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        size = int(self.path.rsplit("/", 1)[-1]) if self.path.startswith("/bytes/") else 0
        self.send_response(200)
        self.send_header("Content-Length", str(size))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        view = memoryview(BLOCK)
        while size:
            n = min(MIB, size)
            self.wfile.write(view[:n])
            size -= n

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    server.serve_forever()


if __name__ == "__main__":
    main()
