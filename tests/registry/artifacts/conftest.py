"""Artifact storage for real on both backends: the local file system, and S3 served by moto's standalone server on
loopback (a subprocess for the session, a fresh bucket per test).

`artifact_backend` is parametrized over both: the in-process code gets `STORAGES["artifacts"]` through the
`settings` fixture, and `backend.env` holds the environment a subprocess (a web server, a Celery worker) needs to
see the same storage."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from registry.artifacts import storage
from tests.helpers import free_port

S3_REGION = "us-east-1"
S3_KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def s3_client(endpoint: str):
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=S3_REGION,
        aws_access_key_id=S3_KEYS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=S3_KEYS["AWS_SECRET_ACCESS_KEY"],
    )


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """moto's S3 server in a subprocess on loopback; yields its endpoint URL."""
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    env = {**os.environ, **S3_KEYS}
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    endpoint = f"http://127.0.0.1:{port}"
    client = s3_client(endpoint)
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"moto server exited:\n{log.read_text()}")
        try:
            client.list_buckets()
            break
        except Exception:
            if time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"moto server did not come up:\n{log.read_text()}") from None
            time.sleep(0.2)
    yield endpoint
    os.killpg(proc.pid, 15)
    proc.wait(timeout=30)


class Backend:
    """One artifact backend as a test sees it: its name, the env a subprocess needs, and raw access to the stored
    objects by storage key (to list them and to corrupt them behind the application's back)."""

    def __init__(
        self, name: str, env: dict[str, str], *, root: Path | None = None, endpoint: str = "", bucket=""
    ):
        self.name = name
        self.env = env
        self.root = root
        self.endpoint = endpoint
        self.bucket = bucket

    def keys(self) -> set[str]:
        if self.name == "s3":
            client = s3_client(self.endpoint)
            pages = client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
            return {o["Key"] for page in pages for o in page.get("Contents", [])}
        assert self.root is not None
        return {
            os.path.relpath(os.path.join(d, f), self.root)
            for d, _dirs, files in os.walk(self.root)
            for f in files
            if ".uploads" not in d
        }

    def blob_keys(self) -> set[str]:
        return {k for k in self.keys() if "/blobs/" in k}

    def staged(self) -> set[str]:
        """What resumable upload sessions have staged: part files (file backend), or S3 staging objects and
        multipart uploads still in progress."""
        if self.name == "s3":
            client = s3_client(self.endpoint)
            uploads = client.list_multipart_uploads(Bucket=self.bucket).get("Uploads", [])
            return {k for k in self.keys() if "/uploads/" in k} | {f"multipart:{u['Key']}" for u in uploads}
        assert self.root is not None
        sessions = self.root / ".uploads" / "sessions"
        return {str(p.relative_to(self.root)) for p in sessions.rglob("*") if p.is_file()}

    def read(self, key: str) -> bytes:
        if self.name == "s3":
            return s3_client(self.endpoint).get_object(Bucket=self.bucket, Key=key)["Body"].read()
        assert self.root is not None
        return (self.root / key).read_bytes()

    def overwrite(self, key: str, data: bytes) -> None:
        """Replace stored bytes directly (file: write to the path; S3: put_object over the key)."""
        if self.name == "s3":
            s3_client(self.endpoint).put_object(Bucket=self.bucket, Key=key, Body=data)
        else:
            assert self.root is not None
            (self.root / key).write_bytes(data)

    def remove(self, key: str) -> None:
        if self.name == "s3":
            s3_client(self.endpoint).delete_object(Bucket=self.bucket, Key=key)
        else:
            assert self.root is not None
            (self.root / key).unlink()


def use_s3(settings, endpoint: str) -> Backend:
    """Point the in-process storage at a fresh bucket of the moto server (the `settings` fixture restores it)."""
    bucket = f"mg-{uuid.uuid4().hex[:12]}"
    s3_client(endpoint).create_bucket(Bucket=bucket)
    settings.ARTIFACT_STORAGE = "s3"
    settings.STORAGES = {
        **django_settings.STORAGES,
        "artifacts": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": bucket,
                "endpoint_url": endpoint,
                "region_name": S3_REGION,
                "access_key": S3_KEYS["AWS_ACCESS_KEY_ID"],
                "secret_key": S3_KEYS["AWS_SECRET_ACCESS_KEY"],
                "file_overwrite": True,
                "default_acl": None,
                "querystring_auth": True,
            },
        },
    }
    assert storage.is_s3(storage.backend())
    env = {
        "ARTIFACT_STORAGE": "s3",
        "S3_BUCKET": bucket,
        "S3_ENDPOINT_URL": endpoint,
        "S3_REGION": S3_REGION,
        **S3_KEYS,
    }
    return Backend("s3", env, endpoint=endpoint, bucket=bucket)


def use_file() -> Backend:
    root = Path(django_settings.ARTIFACT_ROOT)
    env = {"ARTIFACT_STORAGE": "file", "ARTIFACT_ROOT": str(root)}
    return Backend("file", env, root=root)


@pytest.fixture(params=["file", "s3"])
def artifact_backend(request, settings) -> Backend:
    """Runs the test on the file system backend and again on S3 (moto)."""
    if request.param == "s3":
        return use_s3(settings, request.getfixturevalue("s3_server"))
    assert not storage.is_s3(storage.backend())
    return use_file()


@pytest.fixture
def s3_backend(settings, s3_server) -> Backend:
    return use_s3(settings, s3_server)


@pytest.fixture(scope="session")
def _no_stray_sessions_at_exit(django_db_setup, django_db_blocker):
    """At the end of the session, end the database sessions other processes and threads left open (the live server's
    request threads keep theirs, the worker's pool children can outlive it by a moment): they would block dropping
    the test database. The session `worker` fixture does the same when it is used."""
    yield
    from django.db import connection

    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.fixture
def s3_worker(s3_backend, tmp_path, _no_stray_sessions_at_exit):
    """A second real Celery worker, with the S3 storage settings in its environment, on a queue of its own; while
    it runs, this process routes every task there (the session's `worker` keeps reading the default queue)."""
    from config.celery_app import app
    from tests.helpers import TEST_QUEUE, drain_registrations, start_worker, stop_worker

    queue = f"{TEST_QUEUE}-s3"
    app_name = "modelgate-test-s3-worker"  # libpq's PGAPPNAME: finds this worker's sessions at teardown
    worker = start_worker(tmp_path, concurrency=1, env={**s3_backend.env, "PGAPPNAME": app_name}, queue=queue)
    original = app.conf.task_routes

    def route(routes) -> None:
        app.conf.task_routes = routes
        app.amqp.flush_routes()
        app.amqp.__dict__.pop("router", None)  # the cached Router holds the old route table

    route({"modelgate.*": {"queue": queue}})
    try:
        yield worker
        drain_registrations()
    finally:
        route(original)
        stop_worker(worker)
        # Its pool child's sessions can outlive it by a moment; left, they block dropping the test database.
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
                [app_name],
            )


@pytest.fixture(params=["file", "s3"])
def backend_with_worker(request, settings) -> Backend:
    """Like `artifact_backend`, with a real Celery worker configured for the same storage: the session's `worker`
    for files, `s3_worker` (its own queue, S3 settings in its environment) for S3."""
    if request.param == "s3":
        backend = request.getfixturevalue("s3_backend")
        request.getfixturevalue("s3_worker")
        return backend
    request.getfixturevalue("worker")
    return use_file()
