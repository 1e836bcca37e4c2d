"""The MLflow artifact proxy: upload, download, list and delete, by both tenant-selection routes; permissions,
isolation, malicious paths, quotas and the read-only registered-version snapshots."""

from __future__ import annotations

import hashlib
from types import SimpleNamespace

import pytest

from registry.tracking import services
from tenants.access import principal_for
from tests.helpers import client_for, issue

ART = "/t/acme/api/2.0/mlflow-artifacts/artifacts"


def principal(user, slug="acme"):
    return principal_for(SimpleNamespace(tenant_slug=slug, method="POST"), user, None)


@pytest.fixture
def run(owner, tenant):
    p = principal(owner)
    experiment = services.experiment_create(principal=p, name="exp-art")
    return services.run_create(principal=p, experiment=experiment, run_name="r")


def run_path(run, rel=""):
    base = f"{run.experiment.number}/{run.run_id}/artifacts"
    return f"{base}/{rel}" if rel else base


def body(res):
    return b"".join(res.streaming_content) if getattr(res, "streaming", False) else res.content


def test_an_owner_uploads_lists_downloads_and_deletes_artifacts(owner, tenant, run):
    client = client_for(issue(owner, tenant))
    res = client.put(
        f"{ART}/{run_path(run, 'model/MLmodel')}",
        data=b"flavors: {}\n",
        content_type="application/octet-stream",
    )
    assert res.status_code == 200, res.content
    res = client.put(f"{ART}/{run_path(run, 'data.json')}", data=b'{"a": 1}', content_type="application/json")
    assert res.status_code == 200, res.content

    listing = client.get(ART, {"path": run_path(run)})
    assert listing.status_code == 200
    assert listing.json() == {
        "files": [{"path": "data.json", "is_dir": False, "file_size": 8}, {"path": "model", "is_dir": True}]
    }
    assert client.get(ART, {"path": run_path(run, "model")}).json() == {
        "files": [{"path": "MLmodel", "is_dir": False, "file_size": 12}]
    }
    assert client.get(ART, {"path": run_path(run, "missing")}).json() == {}
    assert client.get(ART, {"path": run_path(run, "data.json")}).json() == {}

    res = client.get(f"{ART}/{run_path(run, 'data.json')}")
    assert res.status_code == 200
    assert body(res) == b'{"a": 1}'
    assert res["Content-Type"] == "application/json"
    assert res["Content-Disposition"].startswith("attachment")

    # Overwriting a path replaces its content; the blob is content-addressed.
    client.put(f"{ART}/{run_path(run, 'data.json')}", data=b"v2", content_type="application/octet-stream")
    assert body(client.get(f"{ART}/{run_path(run, 'data.json')}")) == b"v2"

    assert client.delete(f"{ART}/{run_path(run, 'model')}").status_code == 200
    assert client.get(ART, {"path": run_path(run)}).json() == {
        "files": [{"path": "data.json", "is_dir": False, "file_size": 2}]
    }
    missing = client.get(f"{ART}/{run_path(run, 'model/MLmodel')}")
    assert missing.status_code == 404 and missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_the_workspace_header_selects_the_tenant_on_unprefixed_paths(owner, tenant, run):
    client = client_for(issue(owner, tenant))
    res = client.put(
        f"/api/2.0/mlflow-artifacts/artifacts/{run_path(run, 'x.txt')}",
        data=b"hi",
        content_type="text/plain",
        HTTP_X_MLFLOW_WORKSPACE="acme",
    )
    assert res.status_code == 200, res.content
    res = client.get(
        "/api/2.0/mlflow-artifacts/artifacts", {"path": run_path(run)}, HTTP_X_MLFLOW_WORKSPACE="acme"
    )
    assert res.json()["files"][0]["path"] == "x.txt"
    assert body(client.get(f"{ART}/{run_path(run, 'x.txt')}")) == b"hi"
    assert client.get("/api/2.0/mlflow-artifacts/artifacts", {"path": run_path(run)}).status_code == 404


@pytest.mark.parametrize(
    "bad",
    [
        "../x",
        "1/../../x",
        "%2e%2e/x",
        "1/%2e%2e/%2e%2e/x",
        "/etc/passwd",
        "a%5Cb",
        "1/a%00b",
        "1/" + "a" * 2000,
        "1//x",
        "1/./x",
    ],
)
def test_malicious_artifact_paths_are_refused(owner, tenant, run, bad):
    client = client_for(issue(owner, tenant))
    for res in (
        client.put(f"{ART}/{bad}", data=b"x", content_type="application/octet-stream"),
        client.get(f"{ART}/{bad}"),
    ):
        assert res.status_code == 400, (bad, res.status_code, res.content)
        assert res.json()["error_code"] == "INVALID_PARAMETER_VALUE"


@pytest.mark.parametrize("bad", ["../x", "/etc/passwd", "a\\b", "a\x00b", "a" * 2000, "1/../2"])
def test_malicious_list_paths_are_refused(owner, tenant, run, bad):
    res = client_for(issue(owner, tenant)).get(ART, {"path": bad})
    assert res.status_code == 400
    assert res.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_another_tenant_sees_none_of_the_artifacts_by_either_route(
    owner, tenant, run, outsider, other_tenant
):
    client_for(issue(owner, tenant)).put(
        f"{ART}/{run_path(run, 'secret.txt')}", data=b"s", content_type="text/plain"
    )
    theirs = client_for(issue(outsider, other_tenant))
    assert theirs.get(f"{ART}/{run_path(run, 'secret.txt')}").status_code == 404
    assert theirs.get(ART, {"path": run_path(run)}).status_code == 404
    assert (
        theirs.put(f"{ART}/{run_path(run, 'evil.txt')}", data=b"e", content_type="text/plain").status_code
        == 404
    )
    header = {"HTTP_X_MLFLOW_WORKSPACE": "acme"}
    assert (
        theirs.get(f"/api/2.0/mlflow-artifacts/artifacts/{run_path(run, 'secret.txt')}", **header).status_code
        == 404
    )
    # Their own tenant has no such experiment: the same path names nothing there.
    own = {"HTTP_X_MLFLOW_WORKSPACE": "globex"}
    assert (
        theirs.get(f"/api/2.0/mlflow-artifacts/artifacts/{run_path(run, 'secret.txt')}", **own).status_code
        == 404
    )
    assert (
        theirs.get("/t/globex/api/2.0/mlflow-artifacts/artifacts", {"path": run_path(run)}).status_code == 404
    )


def test_a_viewer_reads_but_cannot_write_and_a_read_token_cannot_upload(owner, tenant, run, viewer, teammate):
    client_for(issue(owner, tenant)).put(
        f"{ART}/{run_path(run, 'a.txt')}", data=b"a", content_type="text/plain"
    )
    for user, scopes in ((viewer, None), (teammate, None), (owner, ["read"])):
        client = client_for(issue(user, tenant, scopes))
        assert body(client.get(f"{ART}/{run_path(run, 'a.txt')}")) == b"a"
        res = client.put(f"{ART}/{run_path(run, 'b.txt')}", data=b"b", content_type="text/plain")
        assert res.status_code == 403, (user, res.content)
        assert res.json()["error_code"] == "PERMISSION_DENIED"
        assert client.delete(f"{ART}/{run_path(run, 'a.txt')}").status_code == 403


def test_unknown_experiments_and_unauthenticated_calls_are_refused(owner, tenant, run):
    client = client_for(issue(owner, tenant))
    assert client.get(f"{ART}/999/x/artifacts/a").status_code == 404
    assert client.get(f"{ART}/notanumber/a").status_code == 404
    assert client_for(None).get(f"{ART}/{run_path(run, 'a.txt')}").status_code == 401


def test_the_storage_quota_refuses_uploads_beyond_it(owner, tenant, run):
    tenant.quota_storage_bytes = 10
    tenant.save(update_fields=["quota_storage_bytes"])
    client = client_for(issue(owner, tenant))
    assert (
        client.put(
            f"{ART}/{run_path(run, 'small')}", data=b"12345", content_type="application/octet-stream"
        ).status_code
        == 200
    )
    res = client.put(f"{ART}/{run_path(run, 'big')}", data=b"x" * 20, content_type="application/octet-stream")
    assert res.status_code == 403 and res.json()["error_code"] == "QUOTA_EXCEEDED"
    # The same bytes again cost nothing: they are already stored.
    assert (
        client.put(
            f"{ART}/{run_path(run, 'copy')}", data=b"12345", content_type="application/octet-stream"
        ).status_code
        == 200
    )


@pytest.fixture
def ready_version(owner, tenant, team):
    from registry import artifacts as storage
    from registry.models import ModelVersion, ModelVersionFile, RegisteredModel
    from registry.tracking.models import Blob

    stored = storage.store_bytes(tenant=tenant, data=b"model-bytes")
    blob = Blob.objects.create(tenant=tenant, sha256=stored.sha256, size=stored.size)
    model = RegisteredModel.objects.create(
        tenant=tenant, name="churn", owner_team=team, creation_timestamp=1, last_updated_timestamp=1
    )
    version = ModelVersion.objects.create(
        model=model, version=1, status="READY", source="x", creation_timestamp=1, last_updated_timestamp=1
    )
    ModelVersionFile.objects.create(
        version=version, path="model/model.pkl", blob=blob, sha256=stored.sha256, size=stored.size
    )
    return version


def test_registered_version_snapshots_are_served_read_only(
    owner, tenant, viewer, ready_version, outsider, other_tenant
):
    base = f"_registry/{ready_version.model_id}/1"
    for user in (owner, viewer):
        client = client_for(issue(user, tenant))
        assert client.get(ART, {"path": base}).json() == {"files": [{"path": "model", "is_dir": True}]}
        assert client.get(ART, {"path": f"{base}/model"}).json() == {
            "files": [{"path": "model.pkl", "is_dir": False, "file_size": 11}]
        }
        res = client.get(f"{ART}/{base}/model/model.pkl")
        assert res.status_code == 200 and body(res) == b"model-bytes"
        assert hashlib.sha256(b"model-bytes").hexdigest() == ready_version.files.get().sha256
    owner_client = client_for(issue(owner, tenant))
    assert (
        owner_client.put(
            f"{ART}/{base}/model/model.pkl", data=b"evil", content_type="application/octet-stream"
        ).status_code
        == 403
    )
    assert owner_client.delete(f"{ART}/{base}/model/model.pkl").status_code == 403
    assert owner_client.get(f"{ART}/_registry/{ready_version.model_id}/2/model/model.pkl").status_code == 404
    assert owner_client.get(f"{ART}/_registry/x/1/a").status_code == 404
    theirs = client_for(issue(outsider, other_tenant))
    assert (
        theirs.get(f"/t/globex/api/2.0/mlflow-artifacts/artifacts/{base}/model/model.pkl").status_code == 404
    )


def test_pending_versions_are_not_served(owner, tenant, ready_version):
    ready_version.status = "PENDING_REGISTRATION"
    ready_version.save(update_fields=["status"])
    client = client_for(issue(owner, tenant))
    base = f"_registry/{ready_version.model_id}/1"
    assert client.get(f"{ART}/{base}/model/model.pkl").status_code == 404
