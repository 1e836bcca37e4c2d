"""Benchmark: artifact upload and download throughput, and the serving process's peak memory, on both storage
backends, against the raw limits of the disk and of loopback HTTP measured in the same run.

Starts its own throwaway PostgreSQL and Redis (bench/compare/servers.py), moto's S3 server on loopback (moto keeps
objects in memory, spilling large ones to temporary files; its multipart completion and its GET assemble a whole
object in memory, so S3 numbers are moto's as much as ours), a trivial loopback HTTP server, and one Modelgate
gunicorn per backend as in production (`-c config/gunicorn.py`, 2 workers x 4 threads). For each size it writes a
file of random bytes to disk, measures the disk (write + fsync, cold read) and loopback (PUT, GET) with that size,
then for each backend and transfer path (bench/storage/paths.py) uploads the file (streamed from disk, page cache
dropped first) and downloads it (counted and dropped, stored pages dropped first on the file backend), checks the
size and `X-Content-SHA256`, and records MB/s (10^6 bytes per second) and the peak RSS growth of the gunicorn
worker that served it.

    .venv/bin/python bench/storage_throughput.py --sizes 100,1000,2000 [--backends file,s3] [--presigned] [--json]

Sizes are in MB (10^6 bytes). Needs free disk of about three times the largest size (file, spool, stored copy)
plus what moto spills, and memory for moto of about twice the largest size on S3.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from compare.servers import Cleanup, log, start_infra
from storage import limits as limits_mod
from storage.client import MIB, drop_cache
from storage.memory import PeakWatch, children
from storage.paths import PATHS, Target
from storage.report import Row, as_json, table
from storage.servers import migrate, start_loopback, start_modelgate, start_moto


def make_file(path: Path, size: int) -> str:
    """Random bytes (nothing compresses or deduplicates), written 1 MiB at a time; returns their sha256."""
    digest = hashlib.sha256()
    with path.open("wb") as fh:
        left = size
        while left:
            block = os.urandom(min(MIB, left))
            digest.update(block)
            fh.write(block)
            left -= len(block)
    return digest.hexdigest()


def warm_up(target: Target) -> None:
    """Import everything and open connections in both workers before any memory is measured."""
    from storage.client import get_discard, put_file

    tmp = Path(tempfile.mkstemp()[1])
    tmp.write_bytes(b"warm")
    try:
        for _ in range(8):
            put_file(target.artifact_url("warm"), tmp, target.auth)
            get_discard(target.artifact_url("warm"), target.auth)
    finally:
        tmp.unlink()


def evict_stored(artifact_root: Path, sha256: str) -> None:
    for name in glob.glob(str(artifact_root / "tenants" / "*" / "blobs" / "sha256" / sha256[:2] / sha256)):
        drop_cache(Path(name))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", default="100,1000,2000", help="file sizes in MB (10^6 bytes), comma-separated"
    )
    parser.add_argument("--backends", default="file,s3")
    parser.add_argument("--paths", default=",".join(PATHS), help=f"transfer paths: {', '.join(PATHS)}")
    parser.add_argument("--presigned", action="store_true", help="also S3 with ARTIFACT_PRESIGNED_DOWNLOADS")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.add_argument("--workdir", help="default: a new temporary directory, removed at the end")
    args = parser.parse_args()
    sizes = [int(float(s) * 1_000_000) for s in args.sizes.split(",")]
    backends = args.backends.split(",")
    paths = [PATHS[p] for p in args.paths.split(",")]
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="storagebench-", dir=os.environ.get("BENCH_TMP")))
    workdir.mkdir(parents=True, exist_ok=True)
    cleanup = Cleanup()
    rows: list[Row] = []
    try:
        infra = start_infra(workdir, cleanup)
        migrate(infra)
        loopback_url = start_loopback(infra, cleanup)
        s3_endpoint = ""
        if "s3" in backends:
            s3_endpoint, _ = start_moto(infra, cleanup)
        targets: list[tuple[str, Target, PeakWatch]] = []
        for backend in backends:
            target, master = start_modelgate(infra, cleanup, backend, s3_endpoint)
            targets.append((backend, target, PeakWatch(children(master))))
        if args.presigned and "s3" in backends:
            target, master = start_modelgate(infra, cleanup, "s3", s3_endpoint, presigned=True)
            targets.append(("s3, presigned GET", target, PeakWatch(children(master))))
        for _, target, _ in targets:
            warm_up(target)
        artifact_root = workdir / "modelgate-artifacts"
        data = workdir / "data"
        data.mkdir(exist_ok=True)
        for size in sizes:
            source = data / f"file-{size}.bin"
            log(f"{size / 1e6:g} MB: generating the file")
            sha256 = make_file(source, size)
            limits = limits_mod.measure(workdir, loopback_url, source, size)
            log(f"limits: {limits}")
            for label, target, watch in targets:
                for path in paths:
                    name = f"{path.name}-{size}.bin"
                    drop_cache(source)
                    watch.reset()
                    started = time.monotonic()
                    path.upload(target, source, name)
                    up = time.monotonic() - started
                    if target.backend == "file":
                        evict_stored(artifact_root, sha256)
                    got = path.download(target, name)
                    if got.size != size or got.headers.get("X-Content-SHA256", sha256) != sha256:
                        raise RuntimeError(f"{label} {path.name}: got {got.size} bytes, {got.headers}")
                    row = Row(
                        backend=label,
                        path=path.name,
                        size_mb=size / 1e6,
                        upload_mbps=size / up / 1e6,
                        download_mbps=size / got.seconds / 1e6,
                        rss_growth_mib=watch.growth_mib(),
                        limits=limits,
                    )
                    log(
                        f"{label} {path.name} {row.size_mb:g} MB: up {row.upload_mbps:.0f} MB/s, "
                        f"down {row.download_mbps:.0f} MB/s, RSS +{row.rss_growth_mib:.1f} MiB"
                    )
                    rows.append(row)
            source.unlink()
    finally:
        cleanup.run()
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    meta = {
        "loadavg_at_end": os.getloadavg(),
        "cpus": os.cpu_count(),
        "server": "gunicorn -c config/gunicorn.py --workers 2 --threads 4",
        "s3": "moto[server] on loopback",
    }
    print(as_json(rows, meta) if args.json else table(rows))
    if not args.json:
        print(f"\nload average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
