"""The invariants checked after the soak: acknowledged writes present, gap-free version numbers, one Production,
no pending version left, audit chains intact, every webhook delivered and signed, no unexpected 5xx, no slow or
non-JSON answer."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass

import requests
from compare.servers import ROOT, log, psql

from .faults import Fault
from .receiver import Receiver
from .stack import Stack
from .traffic import Recorder

SLOW = 5.0  # seconds: "none took longer than a few seconds"
SETTLE_SQL = """
from registry.tasks import requeue_pending_registrations, requeue_approved_transition_requests
from registry.webhooks.tasks import requeue_webhook_deliveries
requeue_pending_registrations(older_than_seconds=0, resend_after_seconds=0)
requeue_approved_transition_requests(older_than_seconds=0)
requeue_webhook_deliveries(0)
"""


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def q(stack: Stack, sql: str) -> list[list[str]]:
    out = psql(stack.infra.pg_port, "modelgate", sql)
    return [line.split("|") for line in out.splitlines() if line]


VERSIONS = """SELECT t.slug, m.name, v.version, v.status, v.stage FROM registry_modelversion v
JOIN registry_registeredmodel m ON m.id = v.model_id JOIN tenants_tenant t ON t.id = m.tenant_id ORDER BY 1, 2, 3;"""
UNFINISHED = """SELECT (SELECT count(*) FROM registry_modelversion WHERE status = 'PENDING_REGISTRATION'),
(SELECT count(*) FROM registry_webhookdelivery WHERE status IN ('pending', 'delivering'));"""


def settle(stack: Stack, timeout: float) -> None:
    """Wait (bounded) for pending versions and deliveries; kick beat's requeue tasks once half-way."""
    deadline = time.monotonic() + timeout
    kicked = False
    while time.monotonic() < deadline:
        pending, undelivered = (int(x) for x in q(stack, UNFINISHED)[0])
        if pending == 0 and undelivered == 0:
            return
        if not kicked and time.monotonic() > deadline - timeout / 2:
            log(f"settling: {pending} pending versions, {undelivered} deliveries; running the requeue tasks")
            subprocess.run(
                [sys.executable, "manage.py", "shell", "-c", SETTLE_SQL],
                cwd=ROOT,
                env=stack.env,
                check=False,
                capture_output=True,
            )
            kicked = True
        time.sleep(1)


def run_checks(stack: Stack, rec: Recorder, faults: list[Fault], receiver: Receiver) -> list[Check]:
    checks: list[Check] = []
    rows = q(stack, VERSIONS)
    have = {(t, m, int(v)) for t, m, v, _, _ in rows}
    missing = [a for a in rec.acked.versions if a not in have]
    checks.append(
        Check(
            "acknowledged versions exist",
            not missing,
            f"{len(rec.acked.versions)} acknowledged, missing {missing[:5]}",
        )
    )

    by_model: dict[tuple[str, str], list[int]] = defaultdict(list)
    prod: dict[tuple[str, str], int] = defaultdict(int)
    for t, m, v, _, stage in rows:
        by_model[(t, m)].append(int(v))
        prod[(t, m)] += stage == "Production"
    gaps = {k: vs for k, vs in by_model.items() if sorted(vs) != list(range(1, len(vs) + 1))}
    checks.append(
        Check(
            "version numbers 1..N, no gap or duplicate",
            not gaps,
            f"{len(by_model)} models, {len(rows)} versions" + (f"; bad {gaps}" if gaps else ""),
        )
    )
    many = {k: n for k, n in prod.items() if n > 1}
    checks.append(
        Check("at most one Production per model", not many, str(many) if many else "every promotion archived")
    )
    pending = [r for r in rows if r[3] not in ("READY", "FAILED_REGISTRATION")]
    statuses: dict[str, int] = defaultdict(int)
    for r in rows:
        statuses[r[3]] += 1
    checks.append(Check("every version READY or FAILED_REGISTRATION", not pending, dict(statuses).__repr__()))

    checks.append(metrics_check(stack, rec))

    bad_audit = []
    for tenant in stack.tenants:
        res = subprocess.run(
            [sys.executable, "manage.py", "verify_audit", tenant.slug],
            cwd=ROOT,
            env=stack.env,
            capture_output=True,
            text=True,
        )
        if res.returncode != 0:
            bad_audit.append(f"{tenant.slug}: {(res.stdout + res.stderr).strip()[-200:]}")
    checks.append(Check("audit chains verify", not bad_audit, "; ".join(bad_audit) or "3 tenants, exit 0"))

    checks.append(webhook_check(stack, receiver))

    windows = [(f.at, f.until) for f in faults]

    def during_outage(s) -> bool:
        # A request in flight when a fault began started before it: what counts is whether its lifetime
        # [start, start + duration] overlaps the fault's window, not where it started.
        return any(s.at <= b and a <= s.at + s.seconds for a, b in windows)

    bad5 = [s for s in rec.samples if s.status >= 500 and not (s.status == 503 and during_outage(s))]
    noans = [s for s in rec.samples if s.status == 0 and not during_outage(s)]
    checks.append(
        Check(
            "no 5xx except 503 during an outage (and no unanswered request outside one)",
            not bad5 and not noans,
            f"{len(bad5)} bad 5xx, {len(noans)} unanswered"
            + "".join(f"; {s.op} {s.status} {s.detail[:120]}" for s in (bad5 + noans)[:3]),
        )
    )
    slow = [s for s in rec.samples if s.seconds > SLOW]
    checks.append(
        Check(
            f"no request over {SLOW:g} s",
            not slow,
            f"max {max((s.seconds for s in rec.samples), default=0):.2f} s"
            + "".join(f"; {s.op} {s.seconds:.1f} s" for s in slow[:3]),
        )
    )
    html = [s for s in rec.samples if not s.json_ok]
    checks.append(
        Check(
            "every API answer is JSON",
            not html,
            f"{len(html)} not JSON" + "".join(f"; {s.op} {s.status}" for s in html[:3]),
        )
    )
    mism = [s for s in rec.samples if s.op == "artifact-mismatch"]
    checks.append(
        Check("downloaded artifacts equal uploads", not mism, f"{len(rec.acked.artifacts)} uploads")
    )
    return checks


def metrics_check(stack: Stack, rec: Recorder) -> Check:
    by_run: dict[tuple[str, str], set[tuple[int, float]]] = defaultdict(set)
    for t, run, step, value in rec.acked.metrics:
        by_run[(t, run)].add((step, value))
    missing = 0
    tokens = {t.slug: t.member for t in stack.tenants}
    for (t, run), want in by_run.items():
        url = f"{stack.base(0)}/t/{t}/api/2.0/mlflow/metrics/get-history"
        res = requests.get(
            url,
            params={"run_id": run, "metric_key": "loss", "max_results": "25000"},
            headers={"Authorization": f"Bearer {tokens[t]}"},
            timeout=60,
        )
        got = {(int(m["step"]), float(m["value"])) for m in res.json().get("metrics", [])}
        missing += len(want - got)
    return Check(
        "acknowledged metrics present",
        missing == 0,
        f"{len(rec.acked.metrics)} acknowledged, {missing} missing",
    )


def webhook_check(stack: Stack, receiver: Receiver) -> Check:
    rows = q(stack, "SELECT id, status, event FROM registry_webhookdelivery;")
    received = {d.delivery_id for d in receiver.deliveries}
    not_ok = [r for r in rows if r[1] != "succeeded"]
    not_seen = [r for r in rows if r[1] == "succeeded" and r[0] not in received]
    unsigned = [d for d in receiver.deliveries if not d.signed_ok]
    audit = q(stack, "SELECT count(*) FROM registry_auditevent;")[0][0]
    ok = not not_ok and not not_seen and not unsigned and bool(rows)
    return Check(
        "every webhook event delivered, signature valid",
        ok,
        f"{len(rows)} delivery rows ({audit} audit events), {len(receiver.deliveries)} received, "
        f"{len(not_ok)} not succeeded, {len(not_seen)} succeeded but unseen, {len(unsigned)} bad signatures",
    )
