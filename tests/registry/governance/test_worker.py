"""Approved requests are applied by the real Celery worker: the request approved through the API ends `applied`
with the version moved and provenance recorded; a gate failing at apply time ends it `failed` with the gate result;
two candidates approved for Production against the same incumbent and applied concurrently leave exactly one
winner; a lost enqueue (broker down) is recovered by the beat task; applying twice changes nothing."""

from __future__ import annotations

import time

import pytest
from django.db import connection, transaction

from config.celery_app import app as celery_app
from registry.models import AuditEvent, ModelVersion, RegisteredModel, TransitionRequest
from registry.tasks import apply_transition_request, requeue_approved_transition_requests

from .conftest import BASE, add_version, events, stage_of

pytestmark = pytest.mark.django_db(transaction=True)


def wait_for_status(
    request_id: int, statuses=("applied", "failed"), timeout: float = 30
) -> TransitionRequest:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        req = TransitionRequest.objects.get(pk=request_id)
        if req.status in statuses:
            return req
        time.sleep(0.05)
    raise AssertionError(
        f"request {request_id} is still {TransitionRequest.objects.get(pk=request_id).status}"
    )


def request_and_approve(clients, version: int, gate=None, approver: str = "paul") -> int:
    body = {"model": "churn", "version": version, "stage": "Production", "archive_existing_versions": True}
    if gate is not None:
        body["gate"] = gate
    res = clients["rita"].post(f"{BASE}/transition-requests", body, format="json")
    assert res.status_code == 201, res.content
    rid = res.json()["id"]
    res = clients[approver].post(
        f"{BASE}/transition-requests/{rid}/approve", {"comment": "go"}, format="json"
    )
    assert res.status_code == 200 and res.json()["status"] == "approved", res.content
    return rid


def test_a_request_approved_via_the_api_is_applied_by_the_worker(worker, clients, model, v2):
    gate = {"metric": "auc", "op": ">=", "compare_to": "Production", "min_delta": 0.01}
    rid = request_and_approve(clients, 2, gate)
    req = wait_for_status(rid)
    assert req.status == "applied", (req.status_message, worker.logs()[-3000:])
    assert stage_of(model, 2) == "Production" and stage_of(model, 1) == "Archived"
    detail = clients["rita"].get(f"{BASE}/transition-requests/{rid}").json()
    assert detail["status"] == "applied" and detail["result"]["passed"] is True
    assert [h["action"] for h in detail["history"]] == ["created", "approved", "applied"]

    changed = [e for e in events("model_version.stage_changed", model) if e.version == 2][-1]
    assert changed.after["request_id"] == rid and changed.after["approvers"] == ["paul"]
    assert changed.after["gate"]["checks"][0]["incumbent_version"] == 1
    assert changed.actor_name == "rita"
    applied = events("transition_request.applied", model)
    assert len(applied) == 1 and applied[0].version == 2
    assert applied[0].after["request_id"] == rid and applied[0].after["approvers"] == ["paul"]
    # A duplicate delivery finds it applied and changes nothing.
    audit_before = AuditEvent.objects.filter(model_id=model.pk).count()
    assert apply_transition_request.apply_async(args=[rid], ignore_result=False).get(timeout=30) == "applied"
    assert AuditEvent.objects.filter(model_id=model.pk).count() == audit_before
    assert len(events("transition_request.applied", model)) == 1


def test_a_gate_failing_at_apply_time_fails_the_request_with_the_gate_result(worker, clients, model, v2):
    rid = request_and_approve(clients, 2, {"metric": "auc", "op": ">=", "threshold": 0.95})
    req = wait_for_status(rid)
    assert req.status == "failed"
    assert "gate failed" in req.status_message and "0.83 is not >= 0.95" in req.status_message
    assert req.result["passed"] is False and req.result["checks"][0]["candidate_value"] == 0.83
    assert stage_of(model, 2) == "None" and stage_of(model, 1) == "Production"
    failed = events("gate.failed", model)
    assert len(failed) == 1 and failed[0].version == 2 and failed[0].after["request_id"] == rid
    assert failed[0].after["approvers"] == ["paul"]
    assert events("transition_request.failed", model)[0].after["reason"] == req.status_message


def _lock_waiters() -> int:
    with connection.cursor() as cursor:
        # Inside a transaction PostgreSQL serves pg_stat_activity from a snapshot: refresh it on every poll.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def test_two_candidates_approved_against_the_same_incumbent_leave_exactly_one_winner(
    worker, clients, p_owner, model, tenant, v2, monkeypatch
):
    add_version(p_owner, model, tenant, metrics={"auc": 0.84})
    gate = {"expected_current_version": 1}

    # The broker is down while both are approved: the approvals still succeed, and the requests wait `approved`.
    def broker_down(*args, **kwargs):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(celery_app, "send_task", broker_down)
    ids = [request_and_approve(clients, 2, gate), request_and_approve(clients, 3, gate, approver="petra")]
    monkeypatch.undo()
    assert set(TransitionRequest.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"approved"}

    # Hold the model row lock while the beat task re-enqueues both, so the worker's two processes start both
    # applications and queue up on the lock; releasing it lets them race.
    with transaction.atomic():
        RegisteredModel.objects.select_for_update().get(pk=model.pk)
        assert requeue_approved_transition_requests(older_than_seconds=0) == 2
        deadline = time.monotonic() + 30
        while _lock_waiters() < 2:
            assert time.monotonic() < deadline, worker.logs()[-3000:]
            time.sleep(0.05)

    done = [wait_for_status(rid) for rid in ids]
    assert sorted(r.status for r in done) == ["applied", "failed"], [r.status_message for r in done]
    winner = next(r for r in done if r.status == "applied")
    loser = next(r for r in done if r.status == "failed")
    production = list(
        ModelVersion.objects.filter(model=model, stage="Production").values_list("pk", flat=True)
    )
    assert production == [winner.version_id]
    assert stage_of(model, 1) == "Archived"
    assert ModelVersion.objects.get(pk=loser.version_id).stage == "None"
    winner_number = ModelVersion.objects.get(pk=winner.version_id).version
    assert f"Production is version {winner_number}, not the expected 1" in loser.status_message
    failed = events("gate.failed", model)
    assert len(failed) == 1 and failed[0].after["request_id"] == loser.pk


def test_the_beat_task_leaves_fresh_and_decided_requests_alone(worker, clients, model, v2):
    rid = request_and_approve(clients, 2)
    wait_for_status(rid)
    assert requeue_approved_transition_requests(older_than_seconds=0) == 0
