"""`GET models/<name>/versions/<v>/provenance`: the whole story of a version in one document — the version, its
creator, source run, manifest, every transition and alias move with actors and times, transition requests, the
audit events with their hashes and the chain's state — with a fixed number of queries, and the usual refusals."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from registry import events, services
from registry.models import AuditEvent, ModelVersion
from tenants.models import Tenant
from tests.helpers import client_for, issue, principal
from tests.registry.audit_helpers import triggers_disabled

from .conftest import ALL_SCOPES, BASE, MODEL_FILES, audit_time, make_run, make_training_run, ready_version

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 11, 21, 9, 0, 0, tzinfo=dt.UTC)
URL = f"{BASE}/models/churn/versions/1/provenance"


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def iso(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@pytest.fixture
def lifecycle(p_owner, tenant, tenant_admin):
    """v1 of churn goes None → Staging (owner) → Production (admin, champion set on it) → Archived (when v2 is
    promoted with archiving, champion moving to v2)."""
    p_admin = principal(tenant_admin, tenant, ALL_SCOPES)
    run = make_training_run(tenant)
    with audit_time(at(0)):
        model = services.registered_model_create(principal=p_owner, name="churn")
        v1 = ready_version(p_owner, model, run)
        v2 = ready_version(p_owner, model, make_run(tenant))
    steps = [
        (
            10,
            lambda: services.model_version_transition_stage(
                principal=p_owner, version=v1, stage="Staging", comment="looks good"
            ),
        ),
        (
            20,
            lambda: services.model_version_transition_stage(
                principal=p_admin, version=v1, stage="Production"
            ),
        ),
        (21, lambda: services.alias_set(principal=p_admin, model=model, alias="champion", version=1)),
        (
            30,
            lambda: services.model_version_transition_stage(
                principal=p_admin, version=v2, stage="Production", archive_existing_versions=True
            ),
        ),
        (31, lambda: services.alias_set(principal=p_admin, model=model, alias="champion", version=2)),
    ]
    for seconds, step in steps:
        with audit_time(at(seconds)):
            step()
    return {"model": model, "run": run, "v1": v1}


def test_it_lists_every_transition_and_alias_move_with_actors_and_times(lifecycle, owner_api):
    res = owner_api.get(URL)
    assert res.status_code == 200, res.content
    doc = res.json()
    assert [(t["from"], t["to"], t["actor"], t["time"]) for t in doc["stage_transitions"]] == [
        ("None", "Staging", "olivia", iso(at(10))),
        ("Staging", "Production", "ada", iso(at(20))),
        ("Production", "Archived", "ada", iso(at(30))),
    ]
    assert doc["stage_transitions"][0]["comment"] == "looks good"
    assert doc["stage_transitions"][2]["archived_by"] == {"version": 2, "stage": "Production"}
    assert [
        (m["alias"], m["from_version"], m["to_version"], m["actor"], m["time"]) for m in doc["alias_moves"]
    ] == [
        ("champion", None, "1", "ada", iso(at(21))),
        ("champion", "1", "2", "ada", iso(at(31))),
    ]
    assert doc["version"]["stage"] == "Archived"
    assert doc["version"]["aliases"] == []


def test_it_shows_the_version_creator_run_and_manifest(lifecycle, owner_api):
    doc = owner_api.get(URL).json()
    v1 = lifecycle["v1"]
    assert doc["name"] == "churn"
    assert doc["version"]["version"] == "1"
    assert doc["version"]["status"] == "READY"
    assert doc["version"]["created_by"] == "olivia"
    assert doc["version"]["manifest_sha256"] == v1.manifest_sha256 != ""
    assert doc["version"]["source"] == f"runs:/{lifecycle['run'].run_id}/model"
    assert doc["creator"] == {"username": "olivia", "is_service_account": False, "full_name": ""}
    run = doc["source_run"]
    assert run["run_id"] == lifecycle["run"].run_id
    assert run["readable"] is True
    assert run["status"] == "FINISHED"
    assert run["params"] == {"data_version": "2026-11-30", "learning_rate": "0.01"}
    assert run["data_version"] == "2026-11-30"
    assert run["code"]["commit"] == "a1b2c3d4"
    assert run["code"]["source"] == "train.py"
    assert run["metrics"] == {"auc": 0.93, "loss": 0.21}
    assert run["tags"]["mlflow.source.git.commit"] == "a1b2c3d4"
    assert run["datasets"] == [
        {
            "name": "customers",
            "digest": "d1g3st",
            "source_type": "s3",
            "source": '{"uri": "s3://data/customers.parquet"}',
            "context": "training",
            "tags": {"mlflow.data.context": "training"},
        }
    ]
    assert run["parent_run"]["name"] == "sweep"
    files = doc["manifest"]["files"]
    assert [f["path"] for f in files] == sorted(MODEL_FILES)
    assert {f["path"]: f["size"] for f in files} == {p: len(c) for p, c in MODEL_FILES.items()}
    assert all(len(f["sha256"]) == 64 for f in files)
    assert doc["manifest"]["file_count"] == 3
    assert doc["logged_model_id"] is None


def test_it_lists_the_versions_audit_events_with_their_hashes_and_an_intact_chain(
    lifecycle, owner_api, tenant
):
    doc = owner_api.get(URL).json()
    listed = doc["audit"]["events"]
    expected = AuditEvent.objects.filter(tenant=tenant, model_id=lifecycle["model"].pk, version=1)
    # Plus the alias move away from v1 (recorded under v2).
    assert {e["seq"] for e in listed} == set(expected.values_list("seq", flat=True)) | {
        AuditEvent.objects.get(tenant=tenant, action="model_version_alias.set", version=2).seq
    }
    assert [e["action"] for e in listed][:2] == ["model_version.created", "model_version.ready"]
    for event in listed:
        row = AuditEvent.objects.get(tenant=tenant, seq=event["seq"])
        assert (event["hash"], event["prev_hash"]) == (row.hash, row.prev_hash)
    assert [e["seq"] for e in listed] == sorted(e["seq"] for e in listed)
    chain = doc["audit"]["chain"]
    assert chain["ok"] is True
    assert chain["first_bad_seq"] is None
    assert chain["scope"] == "tenant"
    assert chain["these_events"] == {"ok": True, "events": len(listed), "first_bad_seq": None}


def test_a_tampered_event_shows_in_the_chain_status(lifecycle, owner_api, tenant):
    victim = AuditEvent.objects.get(
        tenant=tenant, action="model_version.stage_changed", version=1, after__stage="Staging"
    )
    with triggers_disabled():  # as an attacker with database rights would
        AuditEvent.objects.filter(pk=victim.pk).update(after={"stage": "Production"})
    chain = owner_api.get(URL).json()["audit"]["chain"]
    # Both verifiers (the tenant's whole chain, and these events and their links) name the tampered event.
    assert (chain["ok"], chain["first_bad_seq"]) == (False, victim.seq)
    assert (chain["these_events"]["ok"], chain["these_events"]["first_bad_seq"]) == (False, victim.seq)


def test_transition_requests_are_rebuilt_from_their_events(
    lifecycle, p_owner, owner_api, tenant, tenant_admin
):
    # Requests are another module's; their events are what provenance reads. Emit the shapes it records.
    model, v1 = lifecycle["model"], lifecycle["v1"]
    for seconds, action, actor, after in [
        (
            40,
            "transition_request.created",
            p_owner.user,
            {"request_id": 7, "stage": "Production", "requester": "olivia", "comment": "ship it"},
        ),
        (
            41,
            "transition_request.approved",
            tenant_admin,
            {"request_id": 7, "stage": "Production", "approver": "ada", "comment": "ok"},
        ),
        (
            42,
            "gate.failed",
            None,
            {"request_id": 7, "stage": "Production", "gate_result": {"ok": False, "reason": "auc"}},
        ),
    ]:
        with audit_time(at(seconds)), transaction.atomic():
            events.emit(
                tenant=tenant, actor=actor, action=action, obj=v1, model_id=model.pk, version=1, after=after
            )
    requests = owner_api.get(URL).json()["transition_requests"]
    assert len(requests) == 1
    request = requests[0]
    assert (request["id"], request["stage"], request["requester"], request["comment"]) == (
        "7",
        "Production",
        "olivia",
        "ship it",
    )
    assert request["status"] == "failed"
    assert [(d["action"], d["actor"], d["time"]) for d in request["decisions"]] == [
        ("created", "olivia", iso(at(40))),
        ("approved", "ada", iso(at(41))),
        ("gate_failed", "system", iso(at(42))),
    ]
    assert request["decisions"][2]["gate"] == {"ok": False, "reason": "auc"}


def test_download_answers_an_attachment(lifecycle, owner_api):
    res = owner_api.get(URL, {"download": "1"})
    assert res.status_code == 200
    assert res["Content-Disposition"] == 'attachment; filename="churn-v1-provenance.json"'
    assert res.json()["version"]["version"] == "1"
    assert "Content-Disposition" not in owner_api.get(URL)


def test_the_query_count_does_not_grow_with_events_or_files(p_owner, tenant, owner_api):
    model = services.registered_model_create(principal=p_owner, name="churn")
    small = ready_version(p_owner, model, make_training_run(tenant))
    many_files = {f"part-{i:03}.bin": bytes([i]) * (i + 1) for i in range(40)}
    big = ready_version(p_owner, model, make_run(tenant, files=many_files))
    for i in range(15):
        services.model_version_set_tag(principal=p_owner, version=big, key=f"k{i}", value=str(i))
        services.alias_set(principal=p_owner, model=model, alias=f"a{i}", version=big.version)
    counts = []
    for version in (small, big):
        with CaptureQueriesContext(connection) as captured:
            res = owner_api.get(f"{BASE}/models/churn/versions/{version.version}/provenance")
        assert res.status_code == 200
        counts.append(len(captured.captured_queries))
    big_doc = res.json()
    assert len(big_doc["audit"]["events"]) >= 32 and big_doc["manifest"]["file_count"] == 40
    assert counts[1] <= counts[0], counts


def test_it_stays_under_a_fixed_query_budget(lifecycle, owner_api, django_assert_max_num_queries):
    with django_assert_max_num_queries(30):
        assert owner_api.get(URL).status_code == 200


def test_a_run_in_an_unreadable_experiment_shows_only_its_id(lifecycle, teammate, tenant):
    from registry.permissions import replace_grants

    Tenant.objects.filter(pk=tenant.pk).update(members_read_all=False)
    replace_grants(lifecycle["model"], [("user", teammate, "read")])
    res = client_for(issue(teammate, tenant)).get(URL)
    assert res.status_code == 200, res.content
    assert res.json()["source_run"] == {"run_id": lifecycle["run"].run_id, "readable": False}


def test_another_tenant_gets_a_404(lifecycle, outsider, other_tenant):
    client = client_for(issue(outsider, other_tenant))
    assert client.get("/t/globex/api/v1/models/churn/versions/1/provenance").status_code == 404
    assert client.get(URL).status_code == 404


def test_a_user_who_cannot_read_the_model_gets_a_404(lifecycle, teammate, viewer, tenant):
    Tenant.objects.filter(pk=tenant.pk).update(members_read_all=False)
    for user in (teammate, viewer):
        res = client_for(issue(user, tenant)).get(URL)
        assert res.status_code == 404
        assert res.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_a_read_only_viewer_may_read_it_and_a_missing_version_is_a_404(lifecycle, viewer, tenant):
    client = client_for(issue(viewer, tenant))
    assert client.get(URL).status_code == 200
    assert client.get(f"{BASE}/models/churn/versions/9/provenance").status_code == 404
    assert ModelVersion.objects.filter(model=lifecycle["model"]).count() == 2
