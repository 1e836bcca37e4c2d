"""Benchmark: Modelgate against MLflow 3.17.2's own server, side by side on this machine, in one run.

It starts one throwaway PostgreSQL cluster (a database for each side) and Redis under var/bench/run-<pid>/,
MLflow's server from its own venv (var/bench/mlflow-venv, installed on first use: `mlflow` is not a dependency of
the project) with `--workers 2`, and Modelgate as in production (gunicorn 2 workers x 4 threads, one Celery
worker, DEBUG off, a member service account's token, permission checks on). It seeds both the same way through
the MLflow REST API, then drives each operation with the same load: `--clients` keep-alive clients, alternating
rounds (MLflow, then Modelgate, `--rounds` times), `--duration` seconds each, and prints a Markdown table of
throughput, p50/p99 latency and the throughput ratio Modelgate/MLflow (>1: Modelgate is faster).

    .venv/bin/python bench/compare_mlflow.py                       # every operation but the 20,000-version one
    .venv/bin/python bench/compare_mlflow.py --big --rounds 1 --duration 3 --json var/bench/last.json
    .venv/bin/python bench/compare_mlflow.py --only log-batch --queries
    .venv/bin/python bench/compare_mlflow.py --huge --only huge-tag    # the 10,000-model tenant

A benchmark, not a test: nothing is asserted about time. Everything listens on 127.0.0.1 only; each round is
bounded by --duration and --max-requests. All processes and directories are removed on exit, Ctrl-C included,
unless --keep. Operations: alias, latest, get-version, search-name, search-tag, log-batch, create-version, get-big,
and with --huge (the tenant also holds 10,000 models and 100,000 versions with 3 tags each, bulk-copied into both
stores) huge-tag and huge-name.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

from compare.load import OPS, OPS_BY_KEY, Op, Req, Sample, run_round, shape
from compare.report import Results, as_json, error_digest, markdown, queries_markdown
from compare.seed import (
    CREATE_MODEL,
    Seeded,
    Target,
    mlflow_bulk_versions,
    mlflow_huge_tenant,
    modelgate_bulk_versions,
    modelgate_huge_tenant,
    seed,
)
from compare.servers import (
    ROOT,
    Cleanup,
    Modelgate,
    log,
    start_infra,
    start_mlflow,
    start_modelgate,
)

VAR = ROOT / "var" / "bench"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", choices=sorted(OPS_BY_KEY), help="run this one operation alone")
    p.add_argument(
        "--ops",
        help="run these operations, comma-separated (e.g. alias,latest,get-version: the serving reads)",
    )
    p.add_argument("--rounds", type=int, default=3, help="rounds per server per operation (default 3)")
    p.add_argument("--duration", type=float, default=5.0, help="seconds per round (default 5)")
    p.add_argument("--clients", type=int, default=8, help="concurrent keep-alive clients (default 8)")
    p.add_argument("--max-requests", type=int, default=20_000, help="cap per round (default 20000)")
    p.add_argument(
        "--big", action="store_true", help="include get-registered-model with --big-versions versions"
    )
    p.add_argument("--big-versions", type=int, default=20_000)
    p.add_argument(
        "--huge",
        action="store_true",
        help="add 10,000 models and 100,000 versions to the tenant and search them (huge-tag, huge-name)",
    )
    p.add_argument(
        "--queries", action="store_true", help="also count Modelgate's SQL statements per operation"
    )
    p.add_argument("--queries-sql", action="store_true", help="--queries, and print the statements too")
    p.add_argument("--keep", action="store_true", help="leave the servers running and print how to stop them")
    p.add_argument("--json", type=Path, help="also write the results here")
    p.add_argument("--mlflow-venv", type=Path, default=VAR / "mlflow-venv")
    args = p.parse_args(argv)
    if args.rounds < 1 or args.clients < 1 or args.duration <= 0 or args.max_requests < 1:
        p.error("--rounds, --clients, --max-requests must be >= 1 and --duration > 0")
    if args.queries_sql:
        args.queries = True
    if args.only == "get-big":
        args.big = True
    if args.only in ("huge-tag", "huge-name"):
        args.huge = True
    if args.ops:
        unknown = sorted(set(args.ops.split(",")) - set(OPS_BY_KEY))
        if unknown:
            p.error(f"unknown operations in --ops: {', '.join(unknown)}")
        args.big = args.big or "get-big" in args.ops.split(",")
        args.huge = args.huge or bool({"huge-tag", "huge-name"} & set(args.ops.split(",")))
    return args


def selected_ops(args: argparse.Namespace) -> list[Op]:
    if args.only:
        return [OPS_BY_KEY[args.only]]
    if args.ops:
        return [OPS_BY_KEY[key] for key in args.ops.split(",")]
    return [op for op in OPS if (args.big or not op.needs_big) and (args.huge or not op.needs_huge)]


def count_queries(mg: Modelgate, seeded: Seeded, ops: list[Op]) -> dict[str, Any]:
    reqs: dict[str, list[dict[str, Any]]] = {}
    for op in ops:
        reqs[op.key] = [op.build(seeded).as_json()]
        if op.until_ready:
            # The create, then one get of the version it made: nothing else exists in CREATE_MODEL yet, so it
            # is version 1 (the load rounds run after this).
            get = Req("GET", "model-versions/get", {"name": CREATE_MODEL, "version": "1"})
            reqs[op.key].append(get.as_json())
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "compare" / "django_side.py"),
            "queries",
            "--tenant",
            mg.tenant,
        ],
        cwd=ROOT,
        env={**mg.env, "BENCH_TOKEN": mg.token},
        input=json.dumps(reqs),
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def benchmark(args: argparse.Namespace, cleanup: Cleanup, workdir: Path) -> int:
    infra = start_infra(workdir, cleanup)
    mlflow_url = start_mlflow(infra, args.mlflow_venv, cleanup)
    mg = start_modelgate(infra, cleanup)
    targets = [
        Target("MLflow", mlflow_url, {}),
        Target("Modelgate", mg.url, {"Authorization": f"Bearer {mg.token}"}),
    ]
    seeded = {t.name: seed(t, big=args.big) for t in targets}
    if args.big:
        started = time.monotonic()
        mlflow_bulk_versions(infra.pg_port, args.big_versions)
        modelgate_bulk_versions(mg.env, mg.tenant, args.big_versions)
        log(f"bulk versions seeded in {time.monotonic() - started:.0f} s")
    if args.huge:
        started = time.monotonic()
        mlflow_huge_tenant(infra.pg_port)
        modelgate_huge_tenant(mg.env, mg.tenant)
        log(f"10,000-model tenant seeded in {time.monotonic() - started:.0f} s")

    ops = selected_ops(args)
    if args.queries:
        counts = count_queries(mg, seeded["Modelgate"], ops)
        print("\nModelgate SQL statements per request (in-process, Django test client, same database):\n")
        print(queries_markdown(counts))
        if args.queries_sql:
            for key, row in counts.items():
                print(f"\n{key}:")
                for statement in row["sql"]:
                    print(f"  {statement[:300]}")

    for op in ops:
        if op.until_ready or op.key == "log-batch":
            continue  # writes: the timed rounds check every answer's status
        shapes = {t.name: shape(t, op, seeded[t.name]) for t in targets}
        same = "same" if len(set(shapes.values())) == 1 else "DIFFERENT"
        log(f"{op.key} answers ({same}): " + "; ".join(f"{n}: {s}" for n, s in shapes.items()))

    results: Results = {}
    for op in ops:
        results[op.key] = {t.name: Sample() for t in targets}
        for r in range(args.rounds):
            for t in targets:  # alternate: MLflow round, Modelgate round, so drift in machine load hits both
                run_round(
                    t,
                    op,
                    seeded[t.name],
                    clients=args.clients,
                    duration=args.duration,
                    max_requests=args.max_requests,
                    into=results[op.key][t.name],
                )
            s = results[op.key]
            log(
                f"{op.key} round {r + 1}/{args.rounds}: MLflow {s['MLflow'].throughput:.1f} req/s, "
                f"Modelgate {s['Modelgate'].throughput:.1f} req/s (cumulative)"
            )

    print(
        f"\n{args.clients} clients, {args.rounds} round(s) x {args.duration:g} s per server per operation; "
        "ratio = Modelgate/MLflow throughput (>1: Modelgate is faster)\n"
    )
    print(markdown(results))
    for line in error_digest(results):
        print(f"  error: {line}")
    if args.json:
        meta = {
            "clients": args.clients,
            "rounds": args.rounds,
            "duration": args.duration,
            "big": args.big,
            "huge": args.huge,
        }
        args.json.write_text(json.dumps(as_json(results, meta), indent=2) + "\n")
        log(f"results written to {args.json}")
    if args.keep:
        print(f"\nkept running: MLflow {mlflow_url}, Modelgate {mg.url} (token {mg.token})")
        print(f"stop them with: bash scripts/services.sh stop {workdir}/services, and kill -- -PGID for:")
        for what, _ in cleanup.actions:
            if "process group" in what:
                print(f"  {what}")
        print(f"then remove {workdir}")
    return 0


def main() -> int:
    args = parse_args()

    def on_term(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)  # unwind through `finally`, like Ctrl-C does

    signal.signal(signal.SIGTERM, on_term)
    # Started in the background by a script, SIGINT arrives ignored: Ctrl-C / kill -INT must still clean up.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    workdir = VAR / f"run-{os.getpid()}"
    cleanup = Cleanup()

    def remove_workdir() -> None:
        # The servers' logs outlive the run (var/bench/last-logs/): a failed run must be explainable.
        logs = VAR / "last-logs"
        shutil.rmtree(logs, ignore_errors=True)
        logs.mkdir(parents=True)
        for f in workdir.glob("*.log"):
            shutil.copy(f, logs / f.name)
        shutil.rmtree(workdir, ignore_errors=True)

    cleanup.push("work directory", remove_workdir)
    workdir.mkdir(parents=True)
    try:
        return benchmark(args, cleanup, workdir)
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        if args.keep:
            cleanup.actions.clear()
        else:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the cleanup short
            cleanup.run()


if __name__ == "__main__":
    sys.exit(main())
