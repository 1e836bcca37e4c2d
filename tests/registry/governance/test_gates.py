"""Promotion gates on direct transitions (native API `gate` and the model's standing policy gate): candidate versus
Production or an alias, absolute thresholds, required tags, "Production is still N". A failed gate changes no stage,
answers 409 CONFLICT with the gate result in `details`, and leaves a committed `gate.failed` audit event with the
numbers compared."""

from __future__ import annotations

import pytest

from config.errors import InvalidParameter
from registry import services
from registry.models import ModelVersionTag

from .conftest import BASE, add_version, events, stage_of

pytestmark = pytest.mark.django_db


def promote(client, version: int, gate=None, stage: str = "Production", **extra):
    body = {"stage": stage, "archive_existing_versions": True, **extra}
    if gate is not None:
        body["gate"] = gate
    return client.post(f"{BASE}/models/churn/versions/{version}/stage", body, format="json")


def assert_refused_and_recorded(res, model, *, reason: str) -> dict:
    """409 with the gate result, nothing moved, and the committed `gate.failed` event carrying the same result."""
    assert res.status_code == 409, res.content
    body = res.json()
    assert body["error_code"] == "CONFLICT"
    result = body["details"]["gate"]
    assert result["passed"] is False and reason in result["reason"]
    assert stage_of(model, 1) == "Production" and stage_of(model, 2) == "None"
    failed = events("gate.failed", model)
    assert len(failed) == 1
    assert failed[0].version == 2 and failed[0].actor_name == "olivia"
    after = failed[0].after or {}
    assert after["gate"] == result and after["stage"] == "Production"
    assert not [e for e in events("model_version.stage_changed", model) if e.version == 2]
    return result


def test_a_metric_better_than_production_by_the_margin_passes(clients, model, v2):
    gate = {"metric": "auc", "op": ">=", "compare_to": "Production", "min_delta": 0.02}
    res = promote(clients["olivia"], 2, gate)
    assert res.status_code == 200, res.content
    assert stage_of(model, 2) == "Production" and stage_of(model, 1) == "Archived"
    changed = [e for e in events("model_version.stage_changed", model) if e.version == 2][-1]
    check = changed.after["gate"]["checks"][0]
    assert changed.after["gate"]["passed"] is True
    assert check["candidate_value"] == 0.83 and check["incumbent_value"] == 0.80
    assert check["incumbent_version"] == 1 and check["required"] == pytest.approx(0.82)
    assert changed.after["request_id"] is None and changed.after["approvers"] == []


def test_a_metric_short_of_the_margin_over_production_fails_and_changes_nothing(clients, model, v2):
    gate = {"metric": "auc", "op": ">=", "compare_to": "Production", "min_delta": 0.05}
    result = assert_refused_and_recorded(
        promote(clients["olivia"], 2, gate), model, reason="auc 0.83 is not >="
    )
    check = result["checks"][0]
    assert check["candidate_value"] == 0.83 and check["incumbent_value"] == 0.80
    assert check["required"] == pytest.approx(0.85)


def test_an_absolute_threshold_passes_or_fails(clients, model, v2):
    failing = {"metric": "auc", "op": ">=", "threshold": 0.9}
    result = assert_refused_and_recorded(
        promote(clients["olivia"], 2, failing), model, reason="0.83 is not >= 0.9"
    )
    assert result["checks"][0]["threshold"] == 0.9
    assert promote(clients["olivia"], 2, {"metric": "auc", "op": ">", "threshold": 0.8}).status_code == 200
    assert stage_of(model, 2) == "Production"


def test_required_tags_come_from_the_version_then_the_run(clients, model, v2):
    missing = {"require_tags": {"fairness_audit": "passed", "security_review": "ok"}}
    result = assert_refused_and_recorded(
        promote(clients["olivia"], 2, missing), model, reason="security_review"
    )
    assert result["checks"][0]["found"] == {"fairness_audit": "passed", "security_review": None}
    assert result["checks"][0]["sources"] == {"fairness_audit": "run"}
    # A version tag wins over the run's.
    ModelVersionTag.objects.create(version=v2, key="fairness_audit", value="failed")
    res = promote(clients["olivia"], 2, {"require_tags": {"fairness_audit": "passed"}})
    assert res.status_code == 409 and res.json()["details"]["gate"]["checks"][0]["sources"] == {
        "fairness_audit": "version"
    }
    ModelVersionTag.objects.filter(version=v2).update(value="passed")
    assert promote(clients["olivia"], 2, {"require_tags": {"fairness_audit": "passed"}}).status_code == 200


def test_a_stale_production_is_still_n_fails(clients, model, v2):
    result = assert_refused_and_recorded(
        promote(clients["olivia"], 2, {"expected_current_version": 7}),
        model,
        reason="Production is version 1, not the expected 7",
    )
    assert result["checks"][0]["current"] == 1
    assert promote(clients["olivia"], 2, {"expected_current_version": 1}).status_code == 200


def test_with_no_incumbent_a_comparison_passes_and_says_so(clients, p_owner, model, tenant):
    add_version(p_owner, model, tenant, metrics={"auc": 0.7})
    res = promote(clients["olivia"], 1, {"metric": "auc", "op": ">=", "compare_to": "Production"})
    assert res.status_code == 200, res.content
    changed = events("model_version.stage_changed", model)[-1]
    check = changed.after["gate"]["checks"][0]
    assert check["passed"] is True and check["incumbent_version"] is None and "no incumbent" in check["note"]


def test_a_candidate_without_the_metric_fails(clients, model, v2):
    gate = {"metric": "f1", "op": ">=", "compare_to": "Production"}
    assert_refused_and_recorded(promote(clients["olivia"], 2, gate), model, reason="has no metric 'f1'")


def test_compare_to_an_alias(clients, p_owner, model, tenant, v1, v2):
    v3 = add_version(p_owner, model, tenant, metrics={"auc": 0.9})
    services.alias_set(principal=p_owner, model=model, alias="champion", version=3)
    res = promote(clients["olivia"], 2, {"metric": "auc", "op": ">=", "compare_to": "@champion"})
    result = assert_refused_and_recorded(res, model, reason="auc 0.83 is not >= 0.9")
    assert result["checks"][0]["incumbent_version"] == v3.version


def test_the_policy_gate_applies_to_direct_transitions_with_the_request_gate(clients, p_owner, model, v2):
    services.transition_policy_set(
        principal=p_owner,
        model=model,
        stage="Production",
        requires_approval=False,
        gate={"metric": "auc", "op": ">=", "threshold": 0.85},
    )
    res = promote(clients["olivia"], 2, {"expected_current_version": 1})
    result = assert_refused_and_recorded(res, model, reason="0.83 is not >= 0.85")
    assert [(c["source"], c["passed"]) for c in result["checks"]] == [("policy", False), ("transition", True)]


@pytest.mark.parametrize(
    "gate",
    [
        {},
        {"metric": "auc"},
        {"metric": "auc", "op": "=="},
        {"metric": "auc", "op": ">=", "compare_to": "Staging"},
        {"metric": "auc", "op": ">=", "threshold": "high"},
        {"metric": "auc", "op": ">=", "threshold": 0.9, "min_delta": 0.1},
        {"metric": "auc", "op": ">=", "threshold": 0.9, "colour": "red"},
        {"op": ">=", "threshold": 0.9},
        {"require_tags": []},
        {"require_tags": {"k": 1}},
        {"expected_current_version": "5"},
        {"expected_current_version": True},
        [],
        "auc >= 0.9",
    ],
)
def test_it_rejects_malformed_gates_strictly(clients, model, v2, gate):
    res = promote(clients["olivia"], 2, gate)
    assert res.status_code == 400, res.content
    assert res.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert stage_of(model, 2) == "None" and not events("gate.failed", model)


def test_validate_gate_accepts_a_list_of_conditions():
    gate = [{"metric": "auc", "op": ">=", "threshold": 0.9}, {"require_tags": {"a": "b"}}]
    assert services.validate_gate(gate) == gate
    with pytest.raises(InvalidParameter):
        services.validate_gate([{"metric": "auc", "op": ">=", "threshold": 0.9}, {"nope": 1}])
