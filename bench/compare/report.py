"""The Markdown table and the JSON dump of a comparison."""

from __future__ import annotations

import math
from typing import Any

from .load import OPS_BY_KEY, Sample

Results = dict[str, dict[str, Sample]]  # op key -> {"MLflow": Sample, "Modelgate": Sample}


def _ms(value: float) -> str:
    return "–" if math.isnan(value) else f"{value * 1000:.1f}"


def _ratio(mg: Sample, ml: Sample) -> float:
    return mg.throughput / ml.throughput if ml.throughput and mg.throughput else float("nan")


def markdown(results: Results) -> str:
    lines = [
        "| operation | MLflow req/s | Modelgate req/s | ratio MG/MLflow | MLflow p50 ms | Modelgate p50 ms "
        "| MLflow p99 ms | Modelgate p99 ms | errors MLflow/MG |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for key, by_target in results.items():
        ml, mg = by_target["MLflow"], by_target["Modelgate"]
        ratio = _ratio(mg, ml)
        lines.append(
            f"| {OPS_BY_KEY[key].title} | {ml.throughput:.1f} | {mg.throughput:.1f} | "
            f"{'–' if math.isnan(ratio) else f'{ratio:.2f}'} | {_ms(ml.percentile(50))} | {_ms(mg.percentile(50))} | "
            f"{_ms(ml.percentile(99))} | {_ms(mg.percentile(99))} | {len(ml.errors)}/{len(mg.errors)} |"
        )
    return "\n".join(lines)


def error_digest(results: Results, limit: int = 3) -> list[str]:
    out = []
    for key, by_target in results.items():
        for name, sample in by_target.items():
            for err in sorted(set(sample.errors))[:limit]:
                out.append(f"{key} on {name}: {err}")
    return out


def queries_markdown(counts: dict[str, Any]) -> str:
    lines = ["| operation | Modelgate SQL statements | HTTP status |", "| --- | ---: | --- |"]
    for key, row in counts.items():
        title = OPS_BY_KEY[key].title
        if row["requests"] > 1:
            title += " (create + first get)"
        lines.append(f"| {title} | {row['queries']} | {', '.join(map(str, row['status']))} |")
    return "\n".join(lines)


def as_json(results: Results, meta: dict[str, Any]) -> dict[str, Any]:
    ops: dict[str, Any] = {}
    for key, by_target in results.items():
        ops[key] = {"title": OPS_BY_KEY[key].title}
        for name, s in by_target.items():
            ops[key][name] = {
                "requests": len(s.latencies),
                "errors": len(s.errors),
                "seconds": round(s.seconds, 3),
                "throughput": round(s.throughput, 2),
                "p50_ms": round(s.percentile(50) * 1000, 2) if s.latencies else None,
                "p99_ms": round(s.percentile(99) * 1000, 2) if s.latencies else None,
            }
        ratio = _ratio(by_target["Modelgate"], by_target["MLflow"])
        ops[key]["throughput_ratio"] = None if math.isnan(ratio) else round(ratio, 3)
    return {**meta, "operations": ops}
