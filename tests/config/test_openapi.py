"""The native registry API is documented in the OpenAPI schema, and generating it raises no warnings or errors."""

from __future__ import annotations

import pytest
from django.urls import include, path
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema

REGISTRY_PATHS = {
    "/t/{tenant}/api/v1/models/": {"get", "post"},
    "/t/{tenant}/api/v1/models/{name}": {"get", "patch", "delete"},
    "/t/{tenant}/api/v1/models/{name}/rename": {"post"},
    "/t/{tenant}/api/v1/models/{name}/tags/{key}": {"put", "delete"},
    "/t/{tenant}/api/v1/models/{name}/owner": {"put"},
    "/t/{tenant}/api/v1/models/{name}/permissions": {"get", "put"},
    "/t/{tenant}/api/v1/models/{name}/resolve": {"get"},
    "/t/{tenant}/api/v1/models/{name}/versions/": {"get", "post"},
    "/t/{tenant}/api/v1/models/{name}/versions/{version}": {"get", "patch", "delete"},
    "/t/{tenant}/api/v1/models/{name}/versions/{version}/stage": {"post"},
    "/t/{tenant}/api/v1/models/{name}/versions/{version}/tags/{key}": {"put", "delete"},
    "/t/{tenant}/api/v1/models/{name}/aliases/{alias}": {"get", "put", "delete"},
    "/t/{tenant}/api/v1/audit": {"get"},
    "/t/{tenant}/api/v1/audit/verify": {"get"},
    "/t/{tenant}/api/v1/usage": {"get"},
    # webhooks
    "/t/{tenant}/api/v1/webhooks": {"get", "post"},
    "/t/{tenant}/api/v1/webhooks/{webhook_id}": {"get", "patch", "delete"},
    "/t/{tenant}/api/v1/webhooks/{webhook_id}/deliveries": {"get"},
    "/t/{tenant}/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/replay": {"post"},
    # History and provenance (registry/api/history.py)
    "/t/{tenant}/api/v1/models/{name}/stages": {"get"},
    "/t/{tenant}/api/v1/models/{name}/versions/{version}/provenance": {"get"},
    # governance: transition requests and policies
    "/t/{tenant}/api/v1/transition-requests": {"get", "post"},
    "/t/{tenant}/api/v1/transition-requests/{request_id}": {"get"},
    "/t/{tenant}/api/v1/transition-requests/{request_id}/approve": {"post"},
    "/t/{tenant}/api/v1/transition-requests/{request_id}/reject": {"post"},
    "/t/{tenant}/api/v1/transition-requests/{request_id}/cancel": {"post"},
    "/t/{tenant}/api/v1/models/{name}/transition-requests": {"get", "post"},
    "/t/{tenant}/api/v1/models/{name}/policies": {"get"},
    "/t/{tenant}/api/v1/models/{name}/policies/{stage}": {"get", "put", "delete"},
    # resumable uploads of run artifacts (registry/api/views/uploads.py)
    "/t/{tenant}/api/v1/uploads": {"post"},
    "/t/{tenant}/api/v1/uploads/{session_id}": {"get", "delete"},
    "/t/{tenant}/api/v1/uploads/{session_id}/parts/{number}": {"put"},
    "/t/{tenant}/api/v1/uploads/{session_id}/complete": {"post"},
}


@pytest.mark.django_db
def test_the_schema_endpoint_documents_every_registry_operation(client):
    res = client.get("/api/schema/?format=json")
    assert res.status_code == 200, res.content[:500]
    paths = res.json()["paths"]
    for url, methods in REGISTRY_PATHS.items():
        assert url in paths, url
        assert methods <= set(paths[url]), (url, set(paths[url]))


@pytest.mark.django_db
def test_the_contract_shapes_are_in_the_schema(client):
    schema = client.get("/api/schema/?format=json").json()
    components = schema["components"]["schemas"]
    grants = schema["paths"]["/t/{tenant}/api/v1/models/{name}/permissions"]["put"]["requestBody"]
    ref = grants["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert list(components[ref]["properties"]) == ["grants"]
    resolve = schema["paths"]["/t/{tenant}/api/v1/models/{name}/resolve"]["get"]
    assert {p["name"] for p in resolve["parameters"]} >= {"alias", "stage", "version"}
    ref = resolve["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert {"name", "version", "stage", "aliases", "status", "download_uri", "manifest_sha256"} <= set(
        components[ref]["properties"]
    )
    listing = schema["paths"]["/t/{tenant}/api/v1/models/"]["get"]
    assert {p["name"] for p in listing["parameters"]} >= {
        "name",
        "name__contains",
        "tag",
        "team",
        "stage",
        "limit",
        "offset",
    }
    stage = schema["paths"]["/t/{tenant}/api/v1/models/{name}/versions/{version}/stage"]["post"]
    assert "If-Match" in {p["name"] for p in stage["parameters"]}


def test_the_registry_views_generate_a_valid_schema_without_warnings():
    GENERATOR_STATS.reset()
    generator = SchemaGenerator(patterns=[path("t/<str:tenant>/api/v1/", include("registry.api.urls"))])
    schema = generator.get_schema(request=None, public=True)
    warnings = dict(GENERATOR_STATS._warn_cache)
    errors = dict(GENERATOR_STATS._error_cache)
    assert not warnings, warnings
    assert not errors, errors
    validate_schema(schema)
    assert set(REGISTRY_PATHS) == set(schema["paths"])


@pytest.mark.django_db
def test_the_creates_document_their_idempotency_key(client):
    paths = client.get("/api/schema/?format=json").json()["paths"]
    for url in ("/t/{tenant}/api/v1/models/", "/t/{tenant}/api/v1/models/{name}/versions/"):
        operation = paths[url]["post"]
        assert "Idempotency-Key" in {p["name"] for p in operation.get("parameters", [])}, url
        assert "422" in operation["responses"], url
