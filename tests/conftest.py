"""Shared fixtures: tenants with an owner, a teammate and an outsider; tokens; API clients; a real Celery worker.

Tests run on PostgreSQL and Redis only (`make test` starts throwaway ones). Tests whose work crosses the worker
boundary use `transactional_db` (the worker is another process and only sees committed rows) and the `worker`
fixture, a real `celery -A config worker` subprocess bound to the test database and a queue of its own."""

from __future__ import annotations

import os

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from accounts import services as account_services
from tenants import services as tenant_services

# The helpers live in tests/helpers.py; they are imported here for the fixtures below and so that older
# `from tests.conftest import issue` lines keep working (new code imports from tests.helpers).
from tests.helpers import (  # noqa: F401
    ROOT,
    TEST_QUEUE,
    Worker,
    client_for,
    drain_registrations,
    issue,
    start_worker,
    stop_worker,
    wait_for_idle_broker,
)

if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise pytest.UsageError(
        "The test suite runs on PostgreSQL: set DATABASE_URL (make test does it for you)."
    )

# Full-strength password hashing costs ~0.5 s per user; tests are not about hashing.
settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# One queue per test session, so a worker never picks up tasks left in Redis by an earlier, interrupted run.
settings.CELERY_TASK_DEFAULT_QUEUE = TEST_QUEUE
os.environ["CELERY_QUEUE"] = TEST_QUEUE


@pytest.fixture(scope="session", autouse=True)
def _celery_queue():
    from config.celery_app import app

    app.conf.task_default_queue = TEST_QUEUE
    yield


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


@pytest.fixture(autouse=True)
def _drain_worker(request):
    """After a test that used the worker, let it finish: a task still holding row locks when the test database is
    flushed would deadlock the TRUNCATE."""
    yield
    if "worker" in request.fixturenames:
        drain_registrations()
    else:
        # `django_db(transaction=True)`: pytest-django's own autouse fixture set the database up before this one,
        # so this runs before the flush (a test asking for `transactional_db` by name flushes first).
        marker = request.node.get_closest_marker("django_db")
        if marker is not None and marker.kwargs.get("transaction"):
            wait_for_idle_broker()


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


@pytest.fixture
def api():
    """`api(user, tenant, scopes=None)` → an APIClient authenticated with a fresh token."""

    def make(user, tenant, scopes=None) -> APIClient:
        return client_for(issue(user, tenant, scopes))

    return make


@pytest.fixture(autouse=True)
def _reset_auth_throttle():
    """Failed-authentication counters live in Redis for minutes and every test client calls from 127.0.0.1: without
    this, the suite's many deliberate 401s would lock later tests out (accounts/throttling.py)."""
    from tests.helpers import reset_auth_throttle

    reset_auth_throttle()
    yield


@pytest.fixture(autouse=True)
def _publishing_backoff_reset():
    """A test that took the broker down must not leave this process skipping publishes for the next tests."""
    yield
    from registry import publishing

    publishing._broker_down_until = 0.0


@pytest.fixture
def root(db):
    """A platform superuser (the Django admin's tests)."""
    return get_user_model().objects.create_superuser("root", "root@example.com", "root-pw-123")


@pytest.fixture
def admin_client(client, root):
    """The Django test client signed in as `root` (replaces pytest-django's fixture of that name)."""
    client.force_login(root)
    return client


# --- browser tests (tests/registry/web, tests/tenants) -------------------------------------------------------

CHROMIUM = (
    "/usr/bin/chromium"  # Debian's package (.ci/run installs it); Playwright's own download is never used
)
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def chromium():
    """One headless Chromium for the session; each test opens its own contexts (cookies do not leak).

    Playwright's sync API keeps an asyncio loop registered in this thread and Django refuses ORM calls from such a
    thread; the test thread stays synchronous (Playwright switches greenlets), so Django's documented escape hatch
    is safe here, for the browser session only."""
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def browser_context(chromium, live_server):
    """`browser_context()` → a fresh browser context on the live server (cookies do not leak between them). The
    server's request threads open database connections that must not outlive a request (as the default
    CONN_MAX_AGE would let them, on kept-alive sockets): one still open when the session ends makes dropping the
    test database fail ("being accessed by other users")."""
    from django.db import connections

    database = connections.settings["default"]
    previous = database["CONN_MAX_AGE"]
    database["CONN_MAX_AGE"] = 0
    contexts = []

    def make():
        context = chromium.new_context(base_url=live_server.url)
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()
    database["CONN_MAX_AGE"] = previous
