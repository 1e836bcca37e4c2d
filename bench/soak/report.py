"""The soak's printed table and JSON."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from .checks import Check
from .faults import Fault
from .traffic import Recorder


def per_op(rec: Recorder) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[Any]] = defaultdict(list)
    for s in rec.samples:
        groups[s.op].append(s)
    out: dict[str, dict[str, Any]] = {}
    for op, ss in sorted(groups.items()):
        lat = sorted(s.seconds for s in ss)
        codes: dict[str, int] = defaultdict(int)
        for s in ss:
            if s.status >= 400 or s.status == 0:
                codes[str(s.status)] += 1
        out[op] = {
            "requests": len(ss),
            "errors": dict(codes),
            "p99_s": lat[min(len(lat) - 1, int(len(lat) * 0.99))],
            "max_s": lat[-1],
        }
    return out


def table(rec: Recorder, faults: list[Fault], checks: list[Check], started: float) -> str:
    ops = per_op(rec)
    lines = [
        f"requests: {len(rec.samples)}",
        "",
        "| operation | requests | errors (status: count) | p99 s | max s |",
        "| --- | ---: | --- | ---: | ---: |",
    ]
    for op, r in ops.items():
        errs = ", ".join(f"{k}: {v}" for k, v in sorted(r["errors"].items())) or "-"
        lines.append(f"| {op} | {r['requests']} | {errs} | {r['p99_s']:.2f} | {r['max_s']:.2f} |")
    lines += ["", "| fault injected | at s | detail |", "| --- | ---: | --- |"]
    lines += [f"| {f.name} | {f.at - started:.1f} | {f.detail} |" for f in faults]
    lines += ["", "| invariant | held | detail |", "| --- | :---: | --- |"]
    lines += [f"| {c.name} | {'✓' if c.ok else '✗'} | {c.detail} |" for c in checks]
    return "\n".join(lines)


def as_json(rec: Recorder, faults: list[Fault], checks: list[Check], started: float) -> dict[str, Any]:
    return {
        "requests": len(rec.samples),
        "operations": per_op(rec),
        "faults": [{"name": f.name, "at_s": round(f.at - started, 2), "detail": f.detail} for f in faults],
        "invariants": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in checks],
    }
