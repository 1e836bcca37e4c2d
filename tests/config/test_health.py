"""`/healthz` (the process is up) and `/readyz` (database, broker and artifact storage answer), both without
credentials so load balancers can call them."""

from __future__ import annotations

import socket

import pytest
from django.core.files.storage import storages


def closed_port() -> int:
    """A port nothing listens on: bind one, then let it go."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_healthz_answers_without_credentials_or_database(client):
    res = client.get("/healthz")
    assert res.status_code == 200
    assert res.json() == {"status": "ok"}


def test_readyz_is_200_when_everything_answers(client, db):
    res = client.get("/readyz")
    assert res.status_code == 200, res.content
    body = res.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "redis", "storage"}
    assert all(check["ok"] for check in body["checks"].values())
    assert "message" not in body


def test_readyz_leaves_nothing_behind_in_storage(client, db):
    assert client.get("/readyz").status_code == 200
    storage = storages["artifacts"]
    leftovers = storage.listdir("_readyz")[1] if storage.exists("_readyz") else []
    assert leftovers == []


def test_readyz_is_503_naming_redis_when_the_broker_is_down(client, db, settings):
    # A real failed connection: the broker URL points at a port nobody listens on.
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{closed_port()}/0"
    res = client.get("/readyz")
    assert res.status_code == 503, res.content
    body = res.json()
    assert body["status"] == "unavailable"
    assert body["message"] == "Not ready: redis unavailable."
    assert body["checks"]["redis"]["ok"] is False
    assert body["checks"]["database"]["ok"] and body["checks"]["storage"]["ok"]


def test_readyz_shows_the_error_only_to_a_platform_admin(client, db, settings):
    from accounts.models import User

    port = closed_port()
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{port}/0"
    anonymous = client.get("/readyz").json()
    # Anonymous callers learn which check failed, not internal hosts and ports.
    assert anonymous["checks"]["redis"] == {"ok": False, "ms": anonymous["checks"]["redis"]["ms"]}
    assert str(port) not in str(anonymous)

    member = User.objects.create_user(username="mia", password="pw-12345678")
    client.force_login(member)
    assert "error" not in client.get("/readyz").json()["checks"]["redis"]

    admin = User.objects.create_superuser(username="root", password="pw-12345678")
    client.force_login(admin)
    error = client.get("/readyz").json()["checks"]["redis"]["error"]
    assert "ConnectionError" in error and str(port) in error


def test_readyz_is_503_naming_storage_when_artifacts_cannot_be_written(client, db, settings, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the artifact root should be")
    settings.STORAGES = {
        **settings.STORAGES,
        "artifacts": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(blocker)},
        },
    }
    res = client.get("/readyz")
    assert res.status_code == 503, res.content
    assert res.json()["message"] == "Not ready: storage unavailable."
    assert res.json()["checks"]["redis"]["ok"] is True


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_ignore_bad_credentials(client, db, path):
    # A probe must not depend on auth; a stale header on a load balancer must not flip it.
    assert client.get(path, HTTP_AUTHORIZATION="Bearer mgt_nonsense").status_code == 200
