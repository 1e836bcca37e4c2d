"""The benchmark's HTTP client: http.client with 1 MiB reads and sends, so a file is streamed from disk and a
response is counted and dropped, never held in memory; the same code measures the loopback limit and Modelgate."""

from __future__ import annotations

import http.client
import os
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

MIB = 1024 * 1024
TIMEOUT = 1800


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    size: int
    seconds: float


def _connection(url: str) -> tuple[http.client.HTTPConnection, str]:
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=TIMEOUT), path


def put_file(url: str, file: Path, headers: dict[str, str]) -> Response:
    """PUT the file's bytes with a Content-Length (as the MLflow client does), read from disk 1 MiB at a time."""
    size = file.stat().st_size
    conn, path = _connection(url)
    started = time.monotonic()
    try:
        conn.putrequest("PUT", path, skip_accept_encoding=True)
        for name, value in {
            "Content-Length": str(size),
            "Content-Type": "application/octet-stream",
            **headers,
        }.items():
            conn.putheader(name, value)
        conn.endheaders()
        with file.open("rb") as fh:
            while chunk := fh.read(MIB):
                conn.sock.sendall(chunk)
        res = conn.getresponse()
        body = res.read()
        seconds = time.monotonic() - started
        if res.status != 200:
            raise RuntimeError(f"PUT {url}: {res.status} {body[:500]!r}")
        return Response(res.status, dict(res.getheaders()), size, seconds)
    finally:
        conn.close()


def get_discard(url: str, headers: dict[str, str], *, follow: bool = True) -> Response:
    """GET a body and count it in 1 MiB reads into one reused buffer; follows one redirect (presigned URLs) with
    no credentials, as requests does across hosts."""
    conn, path = _connection(url)
    started = time.monotonic()
    try:
        conn.request("GET", path, headers=headers)
        res = conn.getresponse()
        if follow and res.status in (301, 302, 303, 307):
            location = res.getheader("Location") or ""
            res.read()
            conn.close()
            inner = get_discard(location, {}, follow=False)
            return Response(inner.status, inner.headers, inner.size, time.monotonic() - started)
        if res.status not in (200, 206):
            raise RuntimeError(f"GET {url}: {res.status} {res.read()[:500]!r}")
        buffer = bytearray(MIB)
        size = 0
        while n := res.readinto(buffer):
            size += n
        return Response(res.status, dict(res.getheaders()), size, time.monotonic() - started)
    finally:
        conn.close()


def drop_cache(path: Path) -> None:
    """Write back and evict a file's pages, so the next read comes from the disk (cold), not from memory."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
