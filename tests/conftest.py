"""Shared fixtures: tenants with an owner, a teammate and an outsider; tokens; API clients; a real Celery worker.

Tests run on PostgreSQL and Redis only (`make test` starts throwaway ones). Tests whose work crosses the worker
boundary use `transactional_db` (the worker is another process and only sees committed rows) and the `worker`
fixture, a real `celery -A config worker` subprocess bound to the test database and a queue of its own."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from accounts import services as account_services
from tenants import services as tenant_services

ROOT = Path(__file__).resolve().parent.parent

if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise pytest.UsageError(
        "The test suite runs on PostgreSQL: set DATABASE_URL (make test does it for you)."
    )

# Full-strength password hashing costs ~0.5 s per user; tests are not about hashing.
settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# One queue per test session, so a worker never picks up tasks left in Redis by an earlier, interrupted run.
TEST_QUEUE = f"modelgate-test-{uuid.uuid4().hex[:8]}"
settings.CELERY_TASK_DEFAULT_QUEUE = TEST_QUEUE
os.environ["CELERY_QUEUE"] = TEST_QUEUE


@pytest.fixture(scope="session", autouse=True)
def _celery_queue():
    from config.celery_app import app

    app.conf.task_default_queue = TEST_QUEUE
    yield


class Worker:
    def __init__(self, proc: subprocess.Popen, env: dict[str, str], log: Path):
        self.proc = proc
        self.env = env
        self.log = log

    def logs(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def _worker_env(db_name: str) -> dict[str, str]:
    from django.db import connection

    env = dict(os.environ)
    s = connection.settings_dict
    env["DATABASE_URL"] = (
        f"postgres://{s['USER']}:{s.get('PASSWORD') or ''}@{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}/{db_name}"
    )
    env["CELERY_QUEUE"] = TEST_QUEUE
    env["ARTIFACT_STORAGE"] = settings.ARTIFACT_STORAGE
    env["ARTIFACT_ROOT"] = str(settings.ARTIFACT_ROOT)
    env["PYTHONUNBUFFERED"] = "1"
    env["MODELGATE_WEBHOOK_ALLOW_PRIVATE"] = "true"  # webhook tests deliver to receivers on loopback
    return env


def start_worker(tmp_dir: Path, *, concurrency: int = 2, name: str | None = None) -> Worker:
    from django.db import connection

    from config.celery_app import app

    env = _worker_env(connection.settings_dict["NAME"])
    name = name or f"w{uuid.uuid4().hex[:6]}"
    log = tmp_dir / f"celery-{name}.log"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-Q",
            TEST_QUEUE,
            "-n",
            f"{name}@%h",
            "--pool=prefork",
            f"--concurrency={concurrency}",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=INFO",
        ],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"celery worker exited early:\n{log.read_text()}")
        replies = app.control.ping(destination=[f"{name}@{os.uname().nodename}"], timeout=0.5) or []
        if replies:
            return Worker(proc, env, log)
    proc.kill()
    raise RuntimeError(f"celery worker did not come up:\n{log.read_text()}")


def stop_worker(worker: Worker, *, kill: bool = False) -> None:
    if worker.proc.poll() is None:
        os.killpg(worker.proc.pid, 9 if kill else 15)
        try:
            worker.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.proc.pid, 9)
            worker.proc.wait(timeout=10)


@pytest.fixture(scope="session")
def worker(django_db_setup, django_db_blocker, tmp_path_factory):
    """A real Celery worker (prefork, 2 processes) on Redis, bound to the test database."""
    w = start_worker(tmp_path_factory.mktemp("celery"))
    yield w
    stop_worker(w)
    # The pool's children may outlive the main process by a moment; their sessions would block dropping the
    # test database.
    from django.db import connection

    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


def drain_registrations(timeout: float = 60) -> None:
    """Wait until the worker has finished every registration task of this test: no version PENDING, nothing active,
    reserved or queued. Call it before a transactional test ends, or the worker may still hold row locks when the
    test database is flushed (TRUNCATE then deadlocks against it)."""
    from amqp.exceptions import ChannelError

    from config.celery_app import app
    from registry.models import ModelVersion, VersionStatus

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        inspect = app.control.inspect(timeout=0.5)
        busy = any((inspect.active() or {}).values()) or any((inspect.reserved() or {}).values())
        with app.connection_or_acquire() as conn:
            try:
                queued = conn.default_channel.queue_declare(queue=TEST_QUEUE, passive=True).message_count
            except ChannelError:  # Redis: an empty queue has no key, and a passive declare says "not found"
                queued = 0
        pending = ModelVersion.objects.filter(status=VersionStatus.PENDING_REGISTRATION).exists()
        if not (busy or queued or pending):
            return
        time.sleep(0.1)
    raise AssertionError("registration tasks did not drain")


@pytest.fixture(autouse=True)
def _drain_worker(request):
    """After a test that used the worker, let it finish: a task still holding row locks when the test database is
    flushed would deadlock the TRUNCATE."""
    yield
    if "worker" in request.fixturenames:
        drain_registrations()


# --- people and tenants -----------------------------------------------------------------------------------------


@pytest.fixture
def tenant(db):
    return tenant_services.tenant_create(slug="acme", name="Acme")


@pytest.fixture
def other_tenant(db):
    return tenant_services.tenant_create(slug="globex", name="Globex")


@pytest.fixture
def team(tenant):
    return tenant_services.team_create(tenant=tenant, slug="alpha")


@pytest.fixture
def other_team(tenant):
    return tenant_services.team_create(tenant=tenant, slug="beta")


@pytest.fixture
def owner(tenant, team):
    """A member of the owning team."""
    return account_services.user_create(
        username="olivia", tenant=tenant, role="member", teams=[team], password="olivia-pw-123"
    )


@pytest.fixture
def teammate(tenant, other_team):
    """A tenant member in another team."""
    return account_services.user_create(username="tom", tenant=tenant, role="member", teams=[other_team])


@pytest.fixture
def viewer(tenant):
    return account_services.user_create(username="vera", tenant=tenant, role="viewer")


@pytest.fixture
def tenant_admin(tenant):
    return account_services.user_create(username="ada", tenant=tenant, role="admin")


@pytest.fixture
def outsider(other_tenant):
    """Someone from another tenant."""
    return account_services.user_create(username="oscar", tenant=other_tenant, role="admin")


def issue(user, tenant, scopes=None, **kwargs) -> str:
    _token, secret = account_services.token_issue(user=user, tenant=tenant, scopes=scopes, **kwargs)
    return secret


def client_for(secret: str | None) -> APIClient:
    client = APIClient()
    if secret:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


@pytest.fixture
def api():
    """`api(user, tenant, scopes=None)` → an APIClient authenticated with a fresh token."""

    def make(user, tenant, scopes=None) -> APIClient:
        return client_for(issue(user, tenant, scopes))

    return make
