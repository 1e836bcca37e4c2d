"""Fault injection, once each at a random moment: SIGKILL of a Celery worker (restarted), Redis stopped for a few
seconds and restarted on its port, every database connection terminated. Outage windows are recorded so that a
503 inside one is accepted."""

from __future__ import annotations

import os
import random
import shlex
import signal
import subprocess
import time
from dataclasses import dataclass, field

from compare.servers import SERVICES, log, psql

from .stack import Stack, start_worker

GRACE = 5.0  # seconds after a fault during which a 503 is an honest "try again"


@dataclass
class Fault:
    name: str
    at: float  # monotonic
    until: float
    detail: str = ""


@dataclass
class Injector:
    stack: Stack
    rng: random.Random
    started: float
    faults: list[Fault] = field(default_factory=list)

    def run(self, duration: float) -> None:
        kinds = ["worker-sigkill", "redis-restart", "db-terminate"]
        self.rng.shuffle(kinds)
        moments = sorted(self.rng.uniform(0.15, 0.75) * duration for _ in kinds)
        for kind, when in zip(kinds, moments, strict=True):
            time.sleep(max(0.0, self.started + when - time.monotonic()))
            getattr(self, kind.replace("-", "_"))()

    def worker_sigkill(self) -> None:
        i = self.rng.randrange(len(self.stack.workers))
        proc = self.stack.workers[i]
        at = time.monotonic()
        os.killpg(proc.pid, signal.SIGKILL)  # a group we created: the worker and its pool
        proc.wait(timeout=10)
        self.stack.workers[i] = start_worker(self.stack, i)
        self.faults.append(
            Fault("SIGKILL celery worker", at, time.monotonic() + GRACE, f"worker {i} restarted")
        )
        log(f"fault: SIGKILL worker {i}")

    def redis_restart(self) -> None:
        d = shlex.quote(str(self.stack.infra.workdir / "services"))
        port = self.stack.infra.redis_port
        at = time.monotonic()
        subprocess.run(["bash", "-c", f"source {SERVICES}; mg_stop_redis $(cd {d} && pwd -P)"], check=True)
        time.sleep(4)
        subprocess.run(
            ["bash", str(SERVICES), "start-redis", str(self.stack.infra.workdir / "services"), str(port)],
            check=True,
            capture_output=True,
        )
        up = time.monotonic()
        self.faults.append(Fault("Redis stopped and restarted", at, up + GRACE, f"down {up - at:.1f} s"))
        log(f"fault: Redis down {up - at:.1f} s")

    def db_terminate(self) -> None:
        at = time.monotonic()
        sql = (
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = 'modelgate' AND pid <> pg_backend_pid();"
        )
        n = psql(self.stack.infra.pg_port, "postgres", sql)
        self.faults.append(Fault("terminate every DB connection", at, at + GRACE, f"{n} connections"))
        log(f"fault: {n} database connections terminated")
