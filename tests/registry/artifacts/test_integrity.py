"""Integrity of stored artifacts on both backends: registration refuses a manifest whose rows disagree with their
blobs, `manage.py verify_artifacts` re-reads the bytes and names what a bad blob affects, and the periodic sample
check records what it finds."""

from __future__ import annotations

import hashlib
import io
from types import SimpleNamespace

import pytest
from django.core.management import CommandError, call_command

from registry import services as registry_services
from registry.artifacts import services as artifact_services
from registry.artifacts import storage
from registry.models import AuditEvent, ModelVersion, VersionStatus
from registry.tracking import services as tracking_services
from registry.tracking.models import ArtifactEntry, Blob
from tests.helpers import principal_of

WEIGHTS = b"weights " * 1000
MLMODEL = b"flavors: {}\n"


@pytest.fixture
def stored(owner, tenant, team, artifact_backend):
    """A run with `model/MLmodel` and `model/model.pkl` uploaded (bytes really stored), registered as churn v1."""
    me = principal_of(owner, tenant)
    experiment = tracking_services.experiment_create(principal=me, name="integrity")
    run = tracking_services.run_create(principal=me, experiment=experiment, run_name="r")
    base = f"{experiment.number}/{run.run_id}/artifacts"
    for rel, data in (("model/MLmodel", MLMODEL), ("model/model.pkl", WEIGHTS)):
        artifact_services.artifact_upload(principal=me, path=f"{base}/{rel}", read=io.BytesIO(data).read)
    model = registry_services.registered_model_create(principal=me, name="churn", owner_team=team)
    version = registry_services.model_version_create(
        principal=me, model=model, source=f"mlflow-artifacts:/{base}/model"
    )
    assert registry_services.registration_finalize(version_id=version.pk) == VersionStatus.READY
    return SimpleNamespace(backend=artifact_backend, base=base, me=me, model=model, tenant=tenant)


def flip_a_byte(backend, tenant, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    key = storage.blob_key(tenant.pk, digest)
    corrupt = bytearray(backend.read(key))
    corrupt[len(corrupt) // 2] ^= 0xFF
    backend.overwrite(key, bytes(corrupt))
    return digest


def verify(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command("verify_artifacts", *args, stdout=out)
    except CommandError as exc:
        return exc.returncode, out.getvalue() + str(exc)
    return 0, out.getvalue()


def test_verify_artifacts_passes_intact_blobs(stored):
    code, output = verify("acme")
    assert code == 0, output
    assert "All 2 blobs of tenant 'acme' are intact." in output
    assert verify("acme", "churn") == (0, "All 2 blobs of model 'churn' of tenant 'acme' are intact.\n")


def test_verify_artifacts_reports_a_flipped_byte_with_the_versions_and_paths_it_affects(stored):
    digest = flip_a_byte(stored.backend, stored.tenant, WEIGHTS)
    code, output = verify("acme")
    assert code == 1
    assert f"BAD blob {digest} ({len(WEIGHTS)} bytes): content does not match its sha256" in output
    assert "registered version: churn v1 (model.pkl)" in output
    assert f"artifact path: {stored.base}/model/model.pkl" in output
    assert "1 of 2 blobs of tenant 'acme' are bad." in output
    assert hashlib.sha256(MLMODEL).hexdigest() not in output
    code, output = verify("acme", "churn")
    assert code == 1 and "churn v1" in output


def test_verify_artifacts_reports_missing_bytes(stored):
    digest = hashlib.sha256(MLMODEL).hexdigest()
    stored.backend.remove(storage.blob_key(stored.tenant.pk, digest))
    code, output = verify("acme")
    assert code == 1
    assert f"BAD blob {digest} ({len(MLMODEL)} bytes): missing from storage" in output
    assert "registered version: churn v1 (MLmodel)" in output


def test_verify_artifacts_refuses_unknown_tenants_and_models(stored, other_tenant):
    assert verify("nope")[0] == 2
    assert verify("acme", "nope")[0] == 2
    assert verify("globex", "churn")[0] == 2  # another tenant's model is not found either
    assert verify("globex") == (0, "All 0 blobs of tenant 'globex' are intact.\n")


def test_a_verified_version_keeps_verifying_after_the_run_artifact_is_overwritten(stored):
    # Overwriting the run's file points its entry at new bytes; the version's snapshot still holds the old blob.
    artifact_services.artifact_upload(
        principal=stored.me, path=f"{stored.base}/model/model.pkl", read=io.BytesIO(b"new").read
    )
    assert verify("acme", "churn")[0] == 0
    flip_a_byte(stored.backend, stored.tenant, WEIGHTS)
    code, output = verify("acme", "churn")
    assert code == 1 and "churn v1 (model.pkl)" in output and "artifact path" not in output


def test_registration_refuses_a_manifest_whose_sha256_is_not_its_blobs(stored):
    entry = ArtifactEntry.objects.get(tenant=stored.tenant, path=f"{stored.base}/model/model.pkl")
    other = Blob.objects.get(tenant=stored.tenant, sha256=hashlib.sha256(MLMODEL).hexdigest())
    ArtifactEntry.objects.filter(pk=entry.pk).update(blob=other)  # rows disagree: sha256 says WEIGHTS
    version = registry_services.model_version_create(
        principal=stored.me, model=stored.model, source=f"mlflow-artifacts:/{stored.base}/model"
    )
    assert registry_services.registration_finalize(version_id=version.pk) == VersionStatus.FAILED_REGISTRATION
    version = ModelVersion.objects.get(pk=version.pk)
    assert version.status_message == f"Artifact integrity check failed for: {stored.base}/model/model.pkl."
    assert not version.files.exists()


def test_the_sample_check_records_a_corrupt_blob_as_an_audit_event(stored):
    from config.celery_app import app
    from registry.tasks import verify_artifact_sample

    schedule = app.conf.beat_schedule["verify-artifact-sample"]
    assert schedule["task"] == verify_artifact_sample.name == "modelgate.verify_artifact_sample"
    assert verify_artifact_sample(count=5) == 0
    assert not AuditEvent.objects.filter(action="artifact.corrupt_detected").exists()
    digest = flip_a_byte(stored.backend, stored.tenant, WEIGHTS)
    found = 0
    for _ in range(20):  # a random sample of 2 blobs: the bad one comes up within a few runs
        found += verify_artifact_sample(count=1)
        if found:
            break
    assert found == 1
    event = AuditEvent.objects.get(action="artifact.corrupt_detected")
    assert event.tenant_id == stored.tenant.pk and event.actor_id is None
    assert event.after["sha256"] == digest
    assert event.after["versions"] == [{"model": "churn", "version": 1, "path": "model.pkl"}]
    assert event.after["paths"] == [f"{stored.base}/model/model.pkl"]
    assert event.after["problem"].startswith("content does not match its sha256")
