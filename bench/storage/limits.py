"""The raw limits every transfer is compared with, measured in the same run and for the same size: the disk
(write + fsync, then a cold read of the file) and loopback HTTP (bench/storage/loopback.py, PUT and GET)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from .client import MIB, drop_cache, get_discard, put_file


@dataclass(frozen=True)
class Limits:
    disk_write: float  # MB/s
    disk_read: float
    loopback_up: float
    loopback_down: float


def disk(workdir: Path, size: int) -> tuple[float, float]:
    """(write, read) MB/s of `size` bytes in 1 MiB blocks in `workdir` (the artifact root's file system)."""
    probe = workdir / "disk-probe.bin"
    block = os.urandom(MIB)
    started = time.monotonic()
    with probe.open("wb") as fh:
        left = size
        while left:
            n = min(MIB, left)
            fh.write(block[:n])
            left -= n
        fh.flush()
        os.fsync(fh.fileno())
    write = size / (time.monotonic() - started) / 1e6
    drop_cache(probe)
    buffer = bytearray(MIB)
    started = time.monotonic()
    with probe.open("rb", buffering=0) as fh:
        while fh.readinto(buffer):
            pass
    read = size / (time.monotonic() - started) / 1e6
    probe.unlink()
    return write, read


def loopback(base_url: str, source: Path, size: int) -> tuple[float, float]:
    """(up, down) MB/s through the trivial loopback server, with the benchmark's own client."""
    drop_cache(source)
    up = put_file(f"{base_url}/sink", source, {})
    down = get_discard(f"{base_url}/bytes/{size}", {})
    if down.size != size:
        raise RuntimeError(f"loopback GET returned {down.size} bytes, expected {size}")
    return size / up.seconds / 1e6, size / down.seconds / 1e6


def measure(workdir: Path, loopback_url: str, source: Path, size: int) -> Limits:
    write, read = disk(workdir, size)
    up, down = loopback(loopback_url, source, size)
    return Limits(disk_write=write, disk_read=read, loopback_up=up, loopback_down=down)
