"""A database blip (the connection dropped, the backend terminated) answers 503 TEMPORARILY_UNAVAILABLE with
Retry-After, in the native API, the MLflow API, plain Django views and middleware alike; a query error stays a 500."""

from __future__ import annotations

import psycopg
import pytest
import requests
from django.db import InterfaceError, OperationalError, connection, connections
from django.test import Client

from registry import row_selectors, selectors
from registry.services.models import registered_model_create
from tenants import middleware as tenant_middleware
from tests.helpers import MLFLOW_API, client_for, issue, principal

BASE = "/t/acme/api/v1"


def raising(exc: Exception):
    def fail(*args, **kwargs):
        raise exc

    return fail


def assert_unavailable(res) -> None:
    assert res.status_code == 503, res.content
    assert res.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
    assert int(res["Retry-After"]) > 0


@pytest.fixture
def owner_client(owner, tenant):
    registered_model_create(principal=principal(owner, tenant), name="churn")
    return client_for(issue(owner, tenant))


@pytest.mark.django_db
@pytest.mark.parametrize(
    "exc",
    [
        OperationalError("server closed the connection unexpectedly"),
        InterfaceError("connection already closed"),
    ],
)
def test_a_lost_connection_in_the_native_and_mlflow_apis_is_a_503_with_retry_after(
    owner_client, monkeypatch, exc
):
    monkeypatch.setattr(selectors, "model_get", raising(exc))
    monkeypatch.setattr(row_selectors, "model_for_output", raising(exc))  # MLflow's get: one statement
    assert_unavailable(owner_client.get(f"{BASE}/models/churn"))
    assert_unavailable(owner_client.get(f"{MLFLOW_API}/registered-models/get", {"name": "churn"}))


@pytest.mark.django_db
def test_a_query_error_is_still_an_internal_error(owner_client, monkeypatch):
    cause = psycopg.errors.DivisionByZero("division by zero")  # carries a SQLSTATE (22012): a bug, not a blip
    exc = OperationalError("division by zero")
    exc.__cause__ = cause
    monkeypatch.setattr(selectors, "model_get", raising(exc))
    owner_client.raise_request_exception = False
    res = owner_client.get(f"{BASE}/models/churn")
    assert res.status_code == 500 and res.json()["error_code"] == "INTERNAL_ERROR"


@pytest.mark.django_db
def test_a_lost_connection_in_a_plain_django_view_is_a_503(owner, monkeypatch):
    import config.views

    client = Client()
    client.force_login(owner)
    monkeypatch.setattr(config.views, "render", raising(InterfaceError("connection already closed")))
    assert_unavailable(client.get("/"))


@pytest.mark.django_db
def test_a_lost_connection_in_a_middleware_is_a_503(monkeypatch):
    monkeypatch.setattr(
        tenant_middleware,
        "tenant_slug_for",
        raising(OperationalError("consuming input failed: server closed the connection unexpectedly")),
    )
    res = Client(raise_request_exception=False).get("/t/acme/api/v1/models/")
    assert_unavailable(res)


@pytest.mark.django_db(transaction=True)
def test_a_backend_terminated_mid_request_answers_503_and_the_retry_succeeds(
    owner, tenant, live_server, monkeypatch
):
    """For real: the server thread's PostgreSQL backend is terminated (pg_terminate_backend) in the middle of the
    request, so its next query fails the way a database restart makes it fail."""
    registered_model_create(principal=principal(owner, tenant), name="churn")
    secret = issue(owner, tenant)
    original = selectors.model_get
    terminated: list[int] = []
    params = connection.get_connection_params()

    def terminate_then_query(*args, **kwargs):
        if not terminated:
            pid = connections["default"].connection.info.backend_pid  # the server thread's own connection
            with psycopg.connect(**params, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", [pid])
            terminated.append(pid)
        return original(*args, **kwargs)

    monkeypatch.setattr(selectors, "model_get", terminate_then_query)
    headers = {"Authorization": f"Bearer {secret}"}
    res = requests.get(f"{live_server.url}{BASE}/models/churn", headers=headers, timeout=30)
    assert terminated, "the request did not reach the patched selector"
    assert res.status_code == 503, res.text
    assert res.json()["error_code"] == "TEMPORARILY_UNAVAILABLE" and int(res.headers["Retry-After"]) > 0
    # The broken connection is dropped at the end of the request: the client's retry just works.
    retry = requests.get(f"{live_server.url}{BASE}/models/churn", headers=headers, timeout=30)
    assert retry.status_code == 200, retry.text
