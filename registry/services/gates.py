"""Promotion gates: conditions a promotion must pass, checked in the same locked transaction as the promotion.

A gate is a JSON object (or a list of them, all of which must pass) with any of these conditions:

- `{"metric": "auc", "op": ">=", "compare_to": "Production", "min_delta": 0.005}`: candidate versus incumbent,
  `candidate.auc >= incumbent.auc + min_delta` (literally `+ min_delta` for every op: for a lower-is-better
  metric say `{"metric": "loss", "op": "<=", "compare_to": "Production", "min_delta": -0.01}`). The incumbent is
  the newest version in Production other than the candidate, or with `"compare_to": "@champion"` the version the
  alias points to. No incumbent, or an incumbent without the metric: the check passes, and its result says why.
- `{"metric": "auc", "op": ">=", "threshold": 0.9}`: an absolute threshold (may be combined with `compare_to`).
- `{"require_tags": {"fairness_audit": "passed"}}`: each key must have that value among the candidate version's
  tags; a key the version does not have is looked up in its source run's tags (version tags win).
- `{"expected_current_version": 5}`: the newest version in Production must still be 5 (0: nothing is in
  Production), so two promotions prepared against the same incumbent cannot both win.

Metric values are the candidate's (and incumbent's) source run metrics, latest value per key (MLflow's rule: max
step, then timestamp, then value). A candidate without a source run or without the metric fails the check.

`validate_gate` is strict (unknown keys, ops or types are a 400); `evaluate` is a pure function of the locked rows
and returns `{"passed", "checks": [...], "reason"}`, where each check carries the numbers it compared."""

from __future__ import annotations

import math
from typing import Any

from config.errors import InvalidParameter
from registry.models import ModelAlias, ModelVersion, ModelVersionTag, RegisteredModel, Stage
from registry.tracking.models import LatestMetric, Metric, RunTag
from registry.validation import validate_alias

OPS = (">=", ">", "<=", "<")
GATE_KEYS = frozenset(
    {"metric", "op", "compare_to", "min_delta", "threshold", "require_tags", "expected_current_version"}
)
MAX_CONDITIONS = 20


def _compare(left: float, op: str, right: float) -> bool:
    if op == ">=":
        return left >= right
    if op == ">":
        return left > right
    if op == "<=":
        return left <= right
    return left < right


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidParameter(f"{where} must be a number.")
    number = float(value)
    if not math.isfinite(number):
        raise InvalidParameter(f"{where} must be a finite number.")
    return number


def _validate_one(gate: Any, where: str) -> dict[str, Any]:
    if not isinstance(gate, dict):
        raise InvalidParameter(f"{where} must be an object.")
    unknown = sorted(set(gate) - GATE_KEYS)
    if unknown:
        raise InvalidParameter(
            f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(sorted(GATE_KEYS))}."
        )
    clean: dict[str, Any] = {}
    metric_keys = {"metric", "op", "compare_to", "min_delta", "threshold"} & set(gate)
    if metric_keys:
        metric, op = gate.get("metric"), gate.get("op")
        if not isinstance(metric, str) or not metric.strip() or len(metric) > 250:
            raise InvalidParameter(f"{where}.metric must be a metric name (a non-empty string).")
        if op not in OPS:
            raise InvalidParameter(f"{where}.op must be one of {', '.join(OPS)}.")
        clean["metric"], clean["op"] = metric, op
        if "compare_to" not in gate and "threshold" not in gate:
            raise InvalidParameter(f"{where}: a metric condition needs 'compare_to' or 'threshold'.")
        if "compare_to" in gate:
            target = gate["compare_to"]
            if target == Stage.PRODUCTION:
                clean["compare_to"] = target
            elif isinstance(target, str) and target.startswith("@") and len(target) > 1:
                clean["compare_to"] = "@" + validate_alias(target[1:])
            else:
                raise InvalidParameter(f'{where}.compare_to must be "Production" or "@<alias>".')
            clean["min_delta"] = _number(gate.get("min_delta", 0), f"{where}.min_delta")
        elif "min_delta" in gate:
            raise InvalidParameter(f"{where}.min_delta needs 'compare_to'.")
        if "threshold" in gate:
            clean["threshold"] = _number(gate["threshold"], f"{where}.threshold")
    if "require_tags" in gate:
        tags = gate["require_tags"]
        if not isinstance(tags, dict) or not tags:
            raise InvalidParameter(f"{where}.require_tags must be a non-empty object of tag: value.")
        for key, value in tags.items():
            if not key or not isinstance(value, str):
                raise InvalidParameter(f"{where}.require_tags: each key needs a string value.")
        clean["require_tags"] = dict(tags)
    if "expected_current_version" in gate:
        expected = gate["expected_current_version"]
        if isinstance(expected, bool) or not isinstance(expected, int) or expected < 0:
            raise InvalidParameter(
                f"{where}.expected_current_version must be a version number (0: nothing in Production)."
            )
        clean["expected_current_version"] = expected
    if not clean:
        raise InvalidParameter(f"{where} has no condition.")
    return clean


def validate_gate(gate: Any, field: str = "gate") -> dict[str, Any] | list[dict[str, Any]] | None:
    """A clean copy of a gate (an object, or a list of objects), or None for no gate. Anything unknown is a 400."""
    if gate is None:
        return None
    if isinstance(gate, list):
        if not gate or len(gate) > MAX_CONDITIONS:
            raise InvalidParameter(f"{field} must list 1 to {MAX_CONDITIONS} conditions.")
        return [_validate_one(item, f"{field}[{i}]") for i, item in enumerate(gate)]
    return _validate_one(gate, field)


def conditions(*gates: Any) -> list[dict[str, Any]]:
    """Every condition of the given gates (None, an object or a list), in order."""
    out: list[dict[str, Any]] = []
    for gate in gates:
        if gate is None:
            continue
        out.extend(gate if isinstance(gate, list) else [gate])
    return out


# --- evaluation -------------------------------------------------------------------------------------------------


def _latest_metric(run_id: int | None, key: str) -> float | None:
    if run_id is None:
        return None
    row = LatestMetric.objects.filter(run_id=run_id, key=key).values_list("value", flat=True).first()
    if row is not None:
        return row
    # Rows logged before LatestMetric existed: the same rule, computed from the history.
    return (
        Metric.objects.filter(run_id=run_id, key=key)
        .order_by("-step", "-timestamp", "-value")
        .values_list("value", flat=True)
        .first()
    )


def production_versions(model: RegisteredModel) -> list[ModelVersion]:
    return list(ModelVersion.objects.filter(model=model, stage=Stage.PRODUCTION).order_by("-version"))


def _incumbent(model: RegisteredModel, candidate: ModelVersion, target: str) -> ModelVersion | None:
    if target == Stage.PRODUCTION:
        return next((v for v in production_versions(model) if v.pk != candidate.pk), None)
    row = ModelAlias.objects.select_related("version").filter(model=model, alias=target[1:]).first()
    return row.version if row is not None else None


def _check_metric(model: RegisteredModel, candidate: ModelVersion, cond: dict[str, Any]) -> list[dict]:
    metric, op = cond["metric"], cond["op"]
    value = _latest_metric(candidate.source_run_id, metric)
    checks: list[dict[str, Any]] = []
    base = {"metric": metric, "op": op, "candidate_version": candidate.version, "candidate_value": value}
    if "threshold" in cond:
        check = {**base, "kind": "threshold", "threshold": cond["threshold"], "required": cond["threshold"]}
        if value is None:
            check.update(passed=False, reason=f"version {candidate.version} has no metric '{metric}'")
        else:
            ok = _compare(value, op, cond["threshold"])
            check.update(
                passed=ok, reason=None if ok else f"{metric} {value} is not {op} {cond['threshold']}"
            )
        checks.append(check)
    if "compare_to" in cond:
        target, delta = cond["compare_to"], cond.get("min_delta", 0.0)
        incumbent = _incumbent(model, candidate, target)
        check = {**base, "kind": "compare", "compare_to": target, "min_delta": delta}
        if value is None:
            check.update(passed=False, reason=f"version {candidate.version} has no metric '{metric}'")
        elif incumbent is None:
            check.update(
                incumbent_version=None,
                passed=True,
                note=f"no incumbent ({target} has no version): nothing to compare against",
            )
        else:
            inc_value = _latest_metric(incumbent.source_run_id, metric)
            check.update(incumbent_version=incumbent.version, incumbent_value=inc_value)
            if inc_value is None:
                check.update(
                    passed=True, note=f"incumbent version {incumbent.version} has no metric '{metric}'"
                )
            else:
                required = inc_value + delta
                ok = _compare(value, op, required)
                check.update(
                    required=required,
                    passed=ok,
                    reason=None
                    if ok
                    else f"{metric} {value} is not {op} {required} "
                    f"(version {incumbent.version}'s {inc_value} {delta:+g})",
                )
        checks.append(check)
    return checks


def _check_tags(candidate: ModelVersion, required: dict[str, str]) -> dict[str, Any]:
    found = dict(
        ModelVersionTag.objects.filter(version=candidate, key__in=list(required)).values_list("key", "value")
    )
    sources = dict.fromkeys(found, "version")
    missing = [k for k in required if k not in found]
    if missing and candidate.source_run_id is not None:
        for key, value in RunTag.objects.filter(run_id=candidate.source_run_id, key__in=missing).values_list(
            "key", "value"
        ):
            found[key], sources[key] = value, "run"
    wrong = {k: found.get(k) for k, v in required.items() if found.get(k) != v}
    return {
        "kind": "tags",
        "required": required,
        "found": {k: found.get(k) for k in required},
        "sources": sources,
        "passed": not wrong,
        "reason": None
        if not wrong
        else "required tags not set as required: "
        + ", ".join(f"{k}={found.get(k)!r} (needs {required[k]!r})" for k in wrong),
    }


def _check_expected(model: RegisteredModel, expected: int) -> dict[str, Any]:
    current = production_versions(model)
    now = current[0].version if current else 0
    ok = now == expected
    return {
        "kind": "expected_current_version",
        "expected": expected,
        "current": now,
        "passed": ok,
        "reason": None
        if ok
        else f"Production is version {now or 'none'}, not the expected {expected or 'none'}",
    }


def evaluate(
    *, model: RegisteredModel, candidate: ModelVersion, gates: list[dict[str, Any]], sources: list[str]
) -> dict[str, Any] | None:
    """Evaluate validated conditions against locked rows (the caller holds the model row lock, so Production and
    the aliases cannot move meanwhile). `sources[i]` says where condition i came from ("policy", "request", …).
    Returns None when there is no condition."""
    if not gates:
        return None
    checks: list[dict[str, Any]] = []
    for cond, source in zip(gates, sources, strict=True):
        found: list[dict[str, Any]] = []
        if "metric" in cond:
            found += _check_metric(model, candidate, cond)
        if "require_tags" in cond:
            found.append(_check_tags(candidate, cond["require_tags"]))
        if "expected_current_version" in cond:
            found.append(_check_expected(model, cond["expected_current_version"]))
        checks += [{"source": source, **c} for c in found]
    failed = [c for c in checks if not c["passed"]]
    return {
        "passed": not failed,
        "version": candidate.version,
        "checks": checks,
        "reason": "; ".join(c["reason"] for c in failed) if failed else None,
    }
