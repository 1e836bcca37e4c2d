"""Helpers shared by the registry tests (no tests here): principals, and minimal tracking rows (a run, a logged
model, artifact entries pointing at blobs) made with the ORM, so registry tests do not depend on the tracking API."""

from __future__ import annotations

import hashlib
import time
import uuid
from types import SimpleNamespace

from accounts import services as account_services
from registry.tracking.models import ArtifactEntry, Blob, Experiment, LoggedModel, LoggedModelStatus, Run
from tenants.access import Principal, principal_for


def principal(user, tenant, scopes=None) -> Principal:
    """The principal a token with `scopes` (default: what the role allows) would give `user` in `tenant`."""
    token, _secret = account_services.token_issue(user=user, tenant=tenant, scopes=scopes)
    request = SimpleNamespace(tenant_slug=tenant.slug, method="POST")
    return principal_for(request, user, token)


def put_file(tenant, path: str, content: bytes) -> ArtifactEntry:
    """Index a file in the tenant's artifact tree (rows only: the registry never reads the bytes)."""
    digest = hashlib.sha256(content).hexdigest()
    blob, _ = Blob.objects.get_or_create(tenant=tenant, sha256=digest, defaults={"size": len(content)})
    entry, _ = ArtifactEntry.objects.update_or_create(
        tenant=tenant, path=path, defaults={"blob": blob, "sha256": digest, "size": len(content)}
    )
    return entry


def make_run(tenant, experiment_number: int = 0) -> Run:
    experiment = Experiment.objects.get(tenant=tenant, number=experiment_number)
    run_id = uuid.uuid4().hex
    return Run.objects.create(
        run_id=run_id,
        tenant=tenant,
        experiment=experiment,
        start_time=int(time.time() * 1000),
        artifact_uri=f"{experiment.artifact_location}/{run_id}/artifacts",
    )


MODEL_FILES = {
    "MLmodel": b"flavors:\n  python_function: {}\n",
    "model.pkl": b"\x80\x04pickled-bytes",
    "requirements.txt": b"scikit-learn\n",
}


def make_logged_model(tenant, run: Run | None = None, files: dict[str, bytes] | None = None) -> LoggedModel:
    run = run or make_run(tenant)
    model_id = "m-" + uuid.uuid4().hex
    experiment = run.experiment
    ts = int(time.time() * 1000)
    logged = LoggedModel.objects.create(
        model_id=model_id,
        tenant=tenant,
        experiment=experiment,
        name="model",
        source_run=run,
        status=LoggedModelStatus.READY,
        artifact_uri=f"{experiment.artifact_location}/models/{model_id}/artifacts",
        creation_timestamp=ts,
        last_updated_timestamp=ts,
    )
    for rel, content in (MODEL_FILES if files is None else files).items():
        put_file(tenant, f"{experiment.number}/models/{model_id}/artifacts/{rel}", content)
    return logged


def expected_manifest(files: dict[str, bytes]) -> list[dict]:
    return sorted(
        ({"path": p, "size": len(c), "sha256": hashlib.sha256(c).hexdigest()} for p, c in files.items()),
        key=lambda f: f["path"],
    )
