"""Presigned S3 downloads (`ARTIFACT_PRESIGNED_DOWNLOADS`), against moto's S3 server on loopback: a whole-file GET
of a run artifact or a registered version's file is authorised like a proxied download, audited as
`artifact.presigned`, and answered with a 302 to a presigned GET that serves the file; Range and `?verify=1` stay
proxied; callers who may not read get no URL; the MLflow client downloads and loads models through the redirects.

moto does not enforce a presigned URL's expiry (real S3 answers 403 once `X-Amz-Date` + `X-Amz-Expires` has
passed), so the expiry is checked where S3 reads it: in the signed query of the URL, against the audited time."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.conf import settings as django_settings

from registry import services as registry_services
from registry.artifacts import storage
from registry.models import AuditEvent, VersionStatus
from registry.tracking import services as tracking_services
from tests.helpers import client_for, issue, principal_of

ART = "/t/acme/api/2.0/mlflow-artifacts/artifacts"
DATA = bytes(range(256)) * 40 + b"tail"
TTL = 120


@pytest.fixture
def presigned(settings, s3_backend):
    settings.ARTIFACT_PRESIGNED_DOWNLOADS = True
    settings.ARTIFACT_PRESIGNED_TTL_SECONDS = TTL
    return s3_backend


@pytest.fixture
def files(owner, tenant, team, presigned):
    """A run artifact `…/model/model.bin` and version 1 of model `churn` registered from `model/`."""
    me = principal_of(owner, tenant)
    experiment = tracking_services.experiment_create(principal=me, name="presigned")
    run = tracking_services.run_create(principal=me, experiment=experiment, run_name="r")
    base = f"{experiment.number}/{run.run_id}/artifacts"
    client = client_for(issue(owner, tenant))
    res = client.put(f"{ART}/{base}/model/model.bin", data=DATA, content_type="application/octet-stream")
    assert res.status_code == 200, res.content
    model = registry_services.registered_model_create(principal=me, name="churn", owner_team=team)
    version = registry_services.model_version_create(
        principal=me, model=model, source=f"mlflow-artifacts:/{base}/model"
    )
    assert registry_services.registration_finalize(version_id=version.pk) == VersionStatus.READY
    return SimpleNamespace(
        client=client,
        run_path=f"{base}/model/model.bin",
        version_path=f"_registry/{model.pk}/1/model.bin",
        model=model,
        backend=presigned,
    )


def presigned_events(tenant):
    return list(AuditEvent.objects.filter(tenant_id=tenant.pk, action="artifact.presigned").order_by("seq"))


@pytest.mark.parametrize("which", ["run_path", "version_path"])
def test_a_download_redirects_to_a_presigned_url_that_serves_the_file(files, which, tenant):
    res = files.client.get(f"{ART}/{getattr(files, which)}")
    assert res.status_code == 302
    assert res["Cache-Control"] == "no-store"
    digest = hashlib.sha256(DATA).hexdigest()
    assert res["X-Content-SHA256"] == digest
    url = res["Location"]
    # The content-addressed object itself, never a key derived from the client's path.
    assert urlsplit(url).path == f"/{files.backend.bucket}/{storage.blob_key(tenant.pk, digest)}"
    fetched = requests.get(url, timeout=30)
    assert fetched.status_code == 200
    assert fetched.content == DATA
    assert fetched.headers["Content-Disposition"] == 'attachment; filename="model.bin"'
    assert fetched.headers["Content-Type"] == "application/octet-stream"


def test_the_presigned_url_expires_after_the_ttl_and_the_audit_event_says_when(files, owner, tenant):
    before = datetime.now(UTC).replace(microsecond=0)
    url = files.client.get(f"{ART}/{files.run_path}")["Location"]
    after = datetime.now(UTC)
    query = parse_qs(urlsplit(url).query)
    # SigV4 query signing: the URL is valid from X-Amz-Date for X-Amz-Expires seconds, both covered by the signature.
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"] and query["X-Amz-Signature"]
    assert query["X-Amz-Expires"] == [str(TTL)]
    signed_at = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert before <= signed_at <= after
    (event,) = presigned_events(tenant)
    expires_at = datetime.fromisoformat(event.after["expires_at"])
    assert abs(expires_at - (signed_at + timedelta(seconds=TTL))) < timedelta(seconds=2)


def test_every_presigned_url_is_audited_with_actor_path_digest_and_expiry(files, owner, tenant):
    files.client.get(f"{ART}/{files.run_path}")
    files.client.get(f"{ART}/{files.version_path}")
    run_event, version_event = presigned_events(tenant)
    digest = hashlib.sha256(DATA).hexdigest()
    for event, path in ((run_event, files.run_path), (version_event, files.version_path)):
        assert event.actor_id == owner.pk
        assert event.after["path"] == path
        assert event.after["sha256"] == digest and event.after["size"] == len(DATA)
        assert event.after["expires_at"]
    assert run_event.object_type == "artifactentry" and run_event.model_id is None
    assert version_event.object_type == "modelversion"
    assert (version_event.model_id, version_event.version) == (files.model.pk, 1)


def test_a_read_only_user_gets_a_url_like_they_get_the_bytes(files, viewer, tenant):
    client = client_for(issue(viewer, tenant, ["read"]))
    for path in (files.run_path, files.version_path):
        res = client.get(f"{ART}/{path}")
        assert res.status_code == 302
        assert requests.get(res["Location"], timeout=30).content == DATA
    assert {e.actor_id for e in presigned_events(tenant)} == {viewer.pk}


def test_callers_who_may_not_read_get_no_url_and_nothing_is_audited(
    files, outsider, other_tenant, teammate, tenant
):
    theirs = client_for(issue(outsider, other_tenant))
    for path in (files.run_path, files.version_path):
        res = theirs.get(f"/t/globex/api/2.0/mlflow-artifacts/artifacts/{path}")
        assert res.status_code == 404 and res.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
        res = theirs.get(f"{ART}/{path}")
        assert res.status_code == 404 and "Location" not in res
        anonymous = client_for(None).get(f"{ART}/{path}")
        assert anonymous.status_code in (401, 403) and "Location" not in anonymous
    # A teammate outside the owning team, once the tenant stops letting members read everything.
    tenant.members_read_all = False
    tenant.save(update_fields=["members_read_all"])
    res = client_for(issue(teammate, tenant)).get(f"{ART}/{files.version_path}")
    assert res.status_code in (403, 404) and "Location" not in res
    assert presigned_events(tenant) == []


def test_range_and_verified_downloads_stay_proxied(files, tenant):
    for path in (files.run_path, files.version_path):
        ranged = files.client.get(f"{ART}/{path}", HTTP_RANGE="bytes=2-5")
        assert ranged.status_code == 206 and b"".join(ranged.streaming_content) == DATA[2:6]
        verified = files.client.get(f"{ART}/{path}", {"verify": "1"})
        assert verified.status_code == 200 and b"".join(verified.streaming_content) == DATA
    assert presigned_events(tenant) == []


def test_a_missing_path_is_a_404_without_a_url(files, tenant):
    res = files.client.get(f"{ART}/{files.run_path}.nope")
    assert res.status_code == 404 and "Location" not in res
    assert presigned_events(tenant) == []


def test_without_the_setting_downloads_are_proxied(files, settings, tenant):
    settings.ARTIFACT_PRESIGNED_DOWNLOADS = False
    res = files.client.get(f"{ART}/{files.run_path}")
    assert res.status_code == 200 and b"".join(res.streaming_content) == DATA
    assert presigned_events(tenant) == []


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ARTIFACT_STORAGE": "s3", "ARTIFACT_PRESIGNED_DOWNLOADS": "ture"}, "is not a boolean"),
        ({"ARTIFACT_STORAGE": "file", "ARTIFACT_PRESIGNED_DOWNLOADS": "true"}, "needs ARTIFACT_STORAGE=s3"),
        ({"ARTIFACT_PRESIGNED_TTL_SECONDS": "86400"}, "from 10 to 3600"),
        ({"ARTIFACT_PRESIGNED_TTL_SECONDS": "5m"}, "from 10 to 3600"),
    ],
)
def test_bad_presigned_settings_stop_the_process(env, message):
    result = subprocess.run(
        [sys.executable, "-c", "import config.settings"],
        env={**os.environ, "SECRET_KEY": "x", **env},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=django_settings.BASE_DIR,
    )
    assert result.returncode != 0
    assert message in result.stderr


@pytest.mark.mlflow_client
@pytest.mark.django_db(transaction=True)
@pytest.mark.filterwarnings("ignore:.*Model registry stages will be removed:FutureWarning")
def test_the_mlflow_client_loads_and_downloads_models_through_presigned_urls(
    mlflow_env, presigned, s3_worker, owner, tenant, tmp_path
):
    import mlflow
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    mlflow_env(issue(owner, tenant, ["read", "write", "promote"]))
    mlflow.set_experiment("presigned")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    clf = LogisticRegression().fit(X, (X[:, 0] > 0).astype(int))
    with mlflow.start_run() as run:
        mlflow.log_text("hello", "notes/readme.txt")
        mlflow.sklearn.log_model(
            clf, name="model", registered_model_name="churn-presigned", serialization_format="cloudpickle"
        )
    loaded = mlflow.pyfunc.load_model("models:/churn-presigned/1")
    assert np.array_equal(loaded.predict(X[:10]), clf.predict(X[:10]))
    local = mlflow.artifacts.download_artifacts(
        run_id=run.info.run_id, artifact_path="notes/readme.txt", dst_path=str(tmp_path)
    )
    assert open(local).read() == "hello"
    # The files went through redirects: each one handed out is audited, the model's and the run's.
    paths = [e.after["path"] for e in presigned_events(tenant)]
    assert any(p.startswith("_registry/") and p.endswith("model.pkl") for p in paths)
    assert any(p.endswith("/artifacts/notes/readme.txt") for p in paths)
