"""Soak test with fault injection and invariants (issue 10, Reliability).

Starts a throwaway PostgreSQL and Redis (scripts/services.sh) under var/soak/run-<pid>/, two gunicorn instances,
two Celery workers, one beat and a loopback webhook receiver; drives mixed traffic from three tenants for
--duration seconds (bounded by --max-requests per tenant too) while injecting, once each at random moments, a
SIGKILL of a worker (restarted), a Redis stop/restart and a termination of every database connection; then lets
the system settle (bounded) and checks the invariants. Prints a table; exits 1 if an invariant failed.

    .venv/bin/python bench/soak.py --duration 60 --seed 1 --json var/soak/last.json

Everything listens on 127.0.0.1; processes and directories are removed on exit unless --keep.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType

from compare.servers import ROOT, Cleanup, log, start_infra
from soak.checks import run_checks, settle
from soak.faults import Injector
from soak.receiver import Receiver
from soak.report import as_json, table
from soak.stack import start_stack
from soak.traffic import Client, Recorder, TenantTraffic

VAR = ROOT / "var" / "soak"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=float, default=60.0, help="seconds of traffic (default 60)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: random, printed)")
    p.add_argument(
        "--max-requests", type=int, default=5000, help="operations per tenant at most (default 5000)"
    )
    p.add_argument(
        "--settle", type=float, default=120.0, help="bounded wait for pending work (default 120 s)"
    )
    p.add_argument("--keep", action="store_true", help="leave everything running and print how to stop it")
    p.add_argument("--json", type=Path, help="also write the results here")
    args = p.parse_args(argv)
    if args.duration <= 0 or args.max_requests < 1:
        p.error("--duration must be > 0 and --max-requests >= 1")
    return args


def soak(args: argparse.Namespace, cleanup: Cleanup, workdir: Path) -> int:
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    log(f"seed {seed}")
    rng = random.Random(seed)
    infra = start_infra(workdir, cleanup)
    stack = start_stack(infra, cleanup)
    secret = "soak-" + os.urandom(8).hex()
    receiver = Receiver(secret)
    hook_port = receiver.start()
    cleanup.push("webhook receiver", receiver.stop)
    rec = Recorder()
    traffic = []
    for i, tenant in enumerate(stack.tenants):
        t = TenantTraffic(
            Client(stack, tenant, rec, i),
            random.Random(rng.random()),
            f"http://127.0.0.1:{hook_port}/",
            secret,
        )
        t.setup()
        traffic.append(t)
    started = time.monotonic()
    deadline = started + args.duration
    injector = Injector(stack, random.Random(rng.random()), started)
    threads = [threading.Thread(target=t.loop, args=(deadline, args.max_requests)) for t in traffic]
    threads.append(threading.Thread(target=injector.run, args=(args.duration,)))
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    log(f"traffic done: {len(rec.samples)} requests; settling (at most {args.settle:g} s)")
    settle(stack, args.settle)
    checks = run_checks(stack, rec, injector.faults, receiver)
    print(f"\nsoak: {args.duration:g} s, seed {seed}, 3 tenants, 2 web processes, 2 workers, 1 beat\n")
    print(table(rec, injector.faults, checks, started))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        data = {"seed": seed, "duration": args.duration, **as_json(rec, injector.faults, checks, started)}
        args.json.write_text(json.dumps(data, indent=2) + "\n")
    if args.keep:
        print(
            f"\nkept running under {workdir}; stop with: bash scripts/services.sh stop {workdir}/services and:"
        )
        for what, _ in cleanup.actions:
            if "process group" in what:
                print(f"  kill -- -PGID for {what}")
    return 0 if all(c.ok for c in checks) else 1


def main() -> int:
    args = parse_args()

    def on_term(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    workdir = VAR / f"run-{os.getpid()}"
    cleanup = Cleanup()

    def remove_workdir() -> None:
        logs = VAR / "last-logs"  # the logs outlive the run: a failed invariant must be explainable
        shutil.rmtree(logs, ignore_errors=True)
        logs.mkdir(parents=True)
        for f in workdir.glob("*.log"):
            shutil.copy(f, logs / f.name)
        shutil.rmtree(workdir, ignore_errors=True)

    cleanup.push("work directory", remove_workdir)
    workdir.mkdir(parents=True)
    try:
        return soak(args, cleanup, workdir)
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        if args.keep:
            cleanup.actions.clear()
        else:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            cleanup.run()


if __name__ == "__main__":
    sys.exit(main())
