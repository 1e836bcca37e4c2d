"""Downloads through the MLflow artifact proxy on both backends: streamed, HTTP Range (206, Content-Range, 416,
Accept-Ranges) on run artifacts and registered version files, and `?verify=1` refusing corrupt bytes."""

from __future__ import annotations

import hashlib
from types import SimpleNamespace

import pytest

from registry import services as registry_services
from registry.artifacts import storage
from registry.models import VersionStatus
from registry.tracking import services as tracking_services
from tenants.access import principal_for
from tests.helpers import client_for, issue, principal_of

ART = "/t/acme/api/2.0/mlflow-artifacts/artifacts"
DATA = bytes(range(256)) * 40 + b"tail"  # 10244 bytes, every offset recognisable


def body(res) -> bytes:
    assert res.streaming, "downloads must stream"
    return b"".join(res.streaming_content)


@pytest.fixture
def run_base(owner, tenant):
    me = principal_for(SimpleNamespace(tenant_slug=tenant.slug, method="POST"), owner, None)
    experiment = tracking_services.experiment_create(principal=me, name="downloads")
    run = tracking_services.run_create(principal=me, experiment=experiment, run_name="r")
    return f"{experiment.number}/{run.run_id}/artifacts"


@pytest.fixture
def uploaded(owner, tenant, run_base, artifact_backend):
    client = client_for(issue(owner, tenant))
    res = client.put(f"{ART}/{run_base}/model/model.bin", data=DATA, content_type="application/octet-stream")
    assert res.status_code == 200, res.content
    return SimpleNamespace(client=client, path=f"{run_base}/model/model.bin", backend=artifact_backend)


@pytest.fixture
def registered(owner, tenant, team, run_base, uploaded):
    """Version 1 of model `churn`, registered (READY) from the run's `model/` directory."""
    me = principal_of(owner, tenant)
    model = registry_services.registered_model_create(principal=me, name="churn", owner_team=team)
    version = registry_services.model_version_create(
        principal=me, model=model, source=f"mlflow-artifacts:/{run_base}/model"
    )
    assert registry_services.registration_finalize(version_id=version.pk) == VersionStatus.READY
    return f"_registry/{version.model_id}/1/model.bin"


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=2-5", 2, 5),
        ("bytes=10000-", 10000, len(DATA) - 1),
        ("bytes=-4", len(DATA) - 4, len(DATA) - 1),
        ("bytes=0-0", 0, 0),
        ("bytes=10240-99999", 10240, len(DATA) - 1),  # an end past the file is clipped
        ("bytes=-99999", 0, len(DATA) - 1),
    ],
)
def test_a_range_request_returns_exactly_those_bytes(uploaded, header, first, last):
    res = uploaded.client.get(f"{ART}/{uploaded.path}", HTTP_RANGE=header)
    assert res.status_code == 206
    assert body(res) == DATA[first : last + 1]
    assert res["Content-Range"] == f"bytes {first}-{last}/{len(DATA)}"
    assert res["Content-Length"] == str(last - first + 1)
    assert res["Accept-Ranges"] == "bytes"


def test_a_plain_download_streams_everything_and_advertises_ranges(uploaded):
    res = uploaded.client.get(f"{ART}/{uploaded.path}")
    assert res.status_code == 200
    assert body(res) == DATA
    assert res["Accept-Ranges"] == "bytes" and res["Content-Length"] == str(len(DATA))
    assert res["Content-Disposition"] == 'attachment; filename="model.bin"'
    assert "Content-Range" not in res


@pytest.mark.parametrize("header", ["bytes=10244-", "bytes=20000-20010", "bytes=-0"])
def test_an_unsatisfiable_range_is_a_416_naming_the_size(uploaded, header):
    res = uploaded.client.get(f"{ART}/{uploaded.path}", HTTP_RANGE=header)
    assert res.status_code == 416
    assert res["Content-Range"] == f"bytes */{len(DATA)}"


@pytest.mark.parametrize("header", ["bytes=5-2", "bytes=0-1,4-5", "items=0-1", "bytes=x-y", "bytes=-"])
def test_a_range_it_does_not_serve_is_ignored_and_the_whole_file_sent(uploaded, header):
    res = uploaded.client.get(f"{ART}/{uploaded.path}", HTTP_RANGE=header)
    assert res.status_code == 200 and body(res) == DATA


def test_registered_version_files_answer_ranges_too(uploaded, registered, viewer, tenant):
    for client in (uploaded.client, client_for(issue(viewer, tenant))):
        res = client.get(f"{ART}/{registered}", HTTP_RANGE="bytes=256-259")
        assert res.status_code == 206 and body(res) == DATA[256:260]
        assert res["Content-Range"] == f"bytes 256-259/{len(DATA)}"
        assert body(client.get(f"{ART}/{registered}", {"verify": "1"})) == DATA


def test_another_tenant_gets_404_for_ranges_and_verified_downloads(
    uploaded, registered, outsider, other_tenant
):
    theirs = client_for(issue(outsider, other_tenant))
    for path in (uploaded.path, registered):
        for extra in ({"HTTP_RANGE": "bytes=0-3"}, {}):
            res = theirs.get(f"/t/globex/api/2.0/mlflow-artifacts/artifacts/{path}", {"verify": "1"}, **extra)
            assert res.status_code == 404 and res.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
        assert theirs.get(f"{ART}/{path}", HTTP_RANGE="bytes=0-3").status_code == 404


def test_a_read_only_user_downloads_ranges_but_cannot_overwrite(uploaded, viewer, tenant):
    client = client_for(issue(viewer, tenant))
    res = client.get(f"{ART}/{uploaded.path}", {"verify": "1"}, HTTP_RANGE="bytes=0-1")
    assert res.status_code == 206 and body(res) == DATA[:2]
    put = client.put(f"{ART}/{uploaded.path}", data=b"x", content_type="application/octet-stream")
    assert put.status_code == 403


def test_a_verified_download_of_intact_bytes_is_served(uploaded):
    res = uploaded.client.get(f"{ART}/{uploaded.path}", {"verify": "1"}, HTTP_RANGE="bytes=1-2")
    assert res.status_code == 206 and body(res) == DATA[1:3]


def test_a_verified_download_refuses_corrupt_bytes_before_sending_any(uploaded, registered, tenant):
    digest = hashlib.sha256(DATA).hexdigest()
    flipped = bytearray(DATA)
    flipped[100] ^= 0x01
    uploaded.backend.overwrite(storage.blob_key(tenant.pk, digest), bytes(flipped))
    # Without verify the corrupt bytes go out as stored (the client can check X-Content-SHA256 itself)...
    plain = uploaded.client.get(f"{ART}/{uploaded.path}")
    assert body(plain) == bytes(flipped) and plain["X-Content-SHA256"] == digest
    # ... with it, nothing is sent but the error.
    for path in (uploaded.path, registered):
        res = uploaded.client.get(f"{ART}/{path}", {"verify": "1"})
        assert res.status_code == 409
        assert not res.streaming
        assert res.json()["error_code"] == "ARTIFACT_CORRUPT"
        assert res.json()["details"]["sha256"] == digest
        assert res.json()["details"]["actual_sha256"] == hashlib.sha256(flipped).hexdigest()


def test_a_download_whose_bytes_are_gone_is_a_404(uploaded, tenant):
    uploaded.backend.remove(storage.blob_key(tenant.pk, hashlib.sha256(DATA).hexdigest()))
    for params in ({}, {"verify": "1"}):
        res = uploaded.client.get(f"{ART}/{uploaded.path}", params)
        assert res.status_code == 404 and res.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_an_empty_file_downloads_empty_and_any_range_of_it_is_unsatisfiable(
    owner, tenant, run_base, artifact_backend
):
    client = client_for(issue(owner, tenant))
    assert (
        client.put(f"{ART}/{run_base}/empty", data=b"", content_type="application/octet-stream").status_code
        == 200
    )
    res = client.get(f"{ART}/{run_base}/empty")
    assert res.status_code == 200 and body(res) == b"" and res["Content-Length"] == "0"
    assert client.get(f"{ART}/{run_base}/empty", HTTP_RANGE="bytes=0-").status_code == 416
