"""Who may decide a transition request: never the requester; approvers need the stage's level (a staging approver
cannot approve Production) and the `promote` scope; N-of-M approvals count distinct people; only the requester
cancels. Through the native API; applying is the worker's (tested in test_worker.py), so approvals here stop at
`approved`."""

from __future__ import annotations

import pytest

from registry import services
from registry.models import TransitionRequest, TransitionRequestEvent
from tests.helpers import client_for, issue

from .conftest import BASE, events, stage_of

pytestmark = pytest.mark.django_db


def request_stage(client, stage: str = "Production", version: int = 2, **extra) -> dict:
    body = {"model": "churn", "version": version, "stage": stage, "comment": "better auc", **extra}
    res = client.post(f"{BASE}/transition-requests", body, format="json")
    assert res.status_code == 201, res.content
    return res.json()


def decide(client, request_id: int, verb: str, comment: str = "ok"):
    return client.post(f"{BASE}/transition-requests/{request_id}/{verb}", {"comment": comment}, format="json")


def test_a_reader_requests_a_stage_and_gets_a_pending_request(clients, model, v2):
    body = request_stage(clients["rita"])
    assert body["status"] == "pending"
    assert body["model"] == "churn" and body["version"] == 2 and body["stage"] == "Production"
    assert body["requested_by"] == "rita" and body["approvals_required"] == 1 and body["approvals"] == 0
    assert body["from_stage"] == "None"
    assert [h["action"] for h in body["history"]] == ["created"]
    assert body["history"][0]["comment"] == "better auc"
    created = events("transition_request.created", model)
    assert len(created) == 1 and created[0].version == 2
    assert created[0].after["request_id"] == body["id"] and created[0].after["requester"] == "rita"


def test_the_requester_can_never_approve_their_own_request(clients, model, v2):
    # paul holds manage_production and would otherwise be an eligible approver.
    body = request_stage(clients["paul"])
    res = decide(clients["paul"], body["id"], "approve")
    assert res.status_code == 403 and res.json()["error_code"] == "PERMISSION_DENIED"
    assert "your own" in res.json()["message"]
    res = decide(clients["paul"], body["id"], "reject")
    assert res.status_code == 403
    assert TransitionRequest.objects.get(pk=body["id"]).status == "pending"


def test_a_staging_approver_cannot_approve_production_but_can_approve_staging(clients, model, v2):
    prod = request_stage(clients["rita"], "Production")
    res = decide(clients["stella"], prod["id"], "approve")
    assert res.status_code == 403 and "manage_production" in res.json()["message"]
    assert TransitionRequest.objects.get(pk=prod["id"]).status == "pending"

    staging = request_stage(clients["rita"], "Staging")
    res = decide(clients["stella"], staging["id"], "approve", "looks fine")
    assert res.status_code == 200, res.content
    assert res.json()["status"] == "approved"
    assert res.json()["approvers"][0]["user"] == "stella"
    assert res.json()["approvers"][0]["comment"] == "looks fine"
    assert stage_of(model, 2) == "None"  # applying is the worker's job


def test_an_approver_without_the_promote_scope_is_refused(clients, people, tenant, model, v2):
    body = request_stage(clients["rita"])
    read_write = client_for(issue(people["paul"], tenant, ["read", "write"]))
    res = decide(read_write, body["id"], "approve")
    assert res.status_code == 403 and "promote" in res.json()["message"]


def test_two_of_n_needs_two_different_approvers_and_the_same_one_twice_counts_once(
    clients, p_owner, model, v2
):
    services.transition_policy_set(
        principal=p_owner, model=model, stage="Production", requires_approval=True, approvals_required=2
    )
    body = request_stage(clients["rita"])
    assert body["approvals_required"] == 2

    first = decide(clients["paul"], body["id"], "approve", "yes")
    assert first.status_code == 200 and first.json()["status"] == "pending"
    again = decide(clients["paul"], body["id"], "approve", "yes, really")
    assert again.status_code == 409 and again.json()["error_code"] == "CONFLICT"
    detail = clients["rita"].get(f"{BASE}/transition-requests/{body['id']}").json()
    assert detail["status"] == "pending" and detail["approvals"] == 1

    second = decide(clients["petra"], body["id"], "approve", "agreed")
    assert second.status_code == 200 and second.json()["status"] == "approved"
    assert [a["user"] for a in second.json()["approvers"]] == ["paul", "petra"]
    approved = events("transition_request.approved", model)
    assert [e.after["completed"] for e in approved] == [False, True]
    assert [e.after["approvals"] for e in approved] == [1, 2]
    assert all(e.after["approvals_required"] == 2 and e.version == 2 for e in approved)
    assert approved[1].after["approver"] == "petra" and approved[1].after["comment"] == "agreed"


def test_one_reject_by_an_eligible_approver_rejects_the_request(clients, p_owner, model, v2):
    services.transition_policy_set(principal=p_owner, model=model, stage="Production", approvals_required=2)
    body = request_stage(clients["rita"])
    assert decide(clients["paul"], body["id"], "approve").status_code == 200
    res = decide(clients["petra"], body["id"], "reject", "auc gain is noise")
    assert res.status_code == 200 and res.json()["status"] == "rejected"
    assert [h["action"] for h in res.json()["history"]] == ["created", "approved", "rejected"]
    assert res.json()["history"][-1]["comment"] == "auc gain is noise"
    rejected = events("transition_request.rejected", model)
    assert len(rejected) == 1 and rejected[0].after["approver"] == "petra"
    # A decided request takes no more decisions.
    assert decide(clients["ada"], body["id"], "approve").status_code == 409
    assert stage_of(model, 2) == "None"


def test_a_read_only_user_cannot_approve_or_reject(clients, model, v2):
    body = request_stage(clients["rita"])
    for name in ("vera", "tom"):  # a viewer, a member who only reads
        for verb in ("approve", "reject"):
            res = decide(clients[name], body["id"], verb)
            assert res.status_code == 403, (name, verb, res.content)
            assert res.json()["error_code"] == "PERMISSION_DENIED"
    assert not TransitionRequestEvent.objects.filter(request_id=body["id"]).exclude(kind="created").exists()


def test_only_the_requester_cancels_and_only_while_open(clients, model, v2):
    body = request_stage(clients["rita"])
    for name in ("paul", "ada", "vera"):  # an approver, a tenant admin, a viewer
        res = decide(clients[name], body["id"], "cancel")
        assert res.status_code == 403, (name, res.content)
        assert "only the requester" in res.json()["message"]
    res = decide(clients["rita"], body["id"], "cancel", "not yet")
    assert res.status_code == 200 and res.json()["status"] == "cancelled"
    assert events("transition_request.cancelled", model)[0].after["comment"] == "not yet"
    assert decide(clients["rita"], body["id"], "cancel").status_code == 409
    assert decide(clients["paul"], body["id"], "approve").status_code == 409


def test_the_requester_can_cancel_an_approved_request_before_it_is_applied(clients, model, v2):
    body = request_stage(clients["rita"])
    assert decide(clients["paul"], body["id"], "approve").json()["status"] == "approved"
    res = decide(clients["rita"], body["id"], "cancel")
    assert res.status_code == 200 and res.json()["status"] == "cancelled"
    # The worker, arriving late, finds it no longer approved and changes nothing.
    assert services.transition_request_apply(request_id=body["id"]) == "cancelled"
    assert stage_of(model, 2) == "None"
