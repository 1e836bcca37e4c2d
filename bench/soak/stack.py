"""Start the soak stack: throwaway PostgreSQL and Redis, two gunicorn instances, two Celery workers, one beat,
three tenants each with a member service account and an admin (approver) token. Reuses bench/compare/servers.py."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from compare.servers import (
    LOOPBACK,
    ROOT,
    Cleanup,
    Infra,
    free_port,
    log,
    manage,
    modelgate_env,
    spawn,
    wait_http,
)

TENANTS = ("soak-a", "soak-b", "soak-c")
BIN = Path(sys.executable).parent


@dataclass
class Tenant:
    slug: str
    member: str  # token of a member service account of team `ml`
    approver: str  # token of a tenant admin (manage_production)


@dataclass
class Stack:
    infra: Infra
    env: dict[str, str]
    ports: list[int]
    tenants: list[Tenant]
    cleanup: Cleanup
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def base(self, i: int) -> str:
        return f"http://{LOOPBACK}:{self.ports[i % len(self.ports)]}"


def start_worker(stack: Stack, n: int) -> subprocess.Popen[bytes]:
    cmd = [str(BIN / "celery"), "-A", "config", "worker", "-n", f"soak{n}@%h", "--concurrency", "2"]
    cmd += ["--loglevel", "WARNING"]
    log_path = stack.infra.workdir / f"celery{n}.log"
    return spawn(cmd, env=stack.env, log_path=log_path, cleanup=stack.cleanup, what=f"celery worker {n}")


def start_stack(infra: Infra, cleanup: Cleanup) -> Stack:
    env = modelgate_env(infra)
    env["MODELGATE_WEBHOOK_ALLOW_PRIVATE"] = "true"  # the receiver listens on loopback
    manage(env, "migrate", "--noinput", "-v0")
    tenants = []
    for slug in TENANTS:
        manage(env, "create_tenant", slug)
        manage(env, "create_team", slug, "ml")
        out = manage(env, "create_service_account", slug, "trainer", "--role", "member", "--team", "ml")
        member = out.strip().splitlines()[-1]
        out = manage(env, "create_service_account", slug, "approver", "--role", "admin", "--team", "ml")
        tenants.append(Tenant(slug, member, out.strip().splitlines()[-1]))
    stack = Stack(infra=infra, env=env, ports=[], tenants=tenants, cleanup=cleanup)
    for n in range(2):
        port = free_port()
        cmd = [str(BIN / "gunicorn"), "-c", str(ROOT / "config" / "gunicorn.py"), "config.wsgi"]
        cmd += ["--bind", f"{LOOPBACK}:{port}", "--workers", "1", "--threads", "4", "--timeout", "60"]
        log_path = infra.workdir / f"gunicorn{n}.log"
        web = spawn(cmd, env=env, log_path=log_path, cleanup=cleanup, what=f"gunicorn {n}")
        wait_http(f"http://{LOOPBACK}:{port}/healthz", web, log_path)
        stack.ports.append(port)
    stack.workers = [start_worker(stack, 0), start_worker(stack, 1)]
    beat = [str(BIN / "celery"), "-A", "config", "beat", "--loglevel", "WARNING"]
    beat += ["-s", str(infra.workdir / "beat-schedule")]
    spawn(beat, env=env, log_path=infra.workdir / "beat.log", cleanup=cleanup, what="celery beat")
    log(f"web on {stack.ports}, 2 workers, beat; tenants {', '.join(TENANTS)}")
    return stack
