"""The history endpoints are in the OpenAPI schema with their contract shapes, and generate no warnings."""

from __future__ import annotations

import pytest
from django.urls import include, path
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema

STAGES = "/t/{tenant}/api/v1/models/{name}/stages"
PROVENANCE = "/t/{tenant}/api/v1/models/{name}/versions/{version}/provenance"


def _component(schema: dict, operation: dict) -> dict:
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    return schema["components"]["schemas"][ref]


@pytest.mark.django_db
def test_the_schema_documents_the_history_endpoints_with_their_shapes(client):
    schema = client.get("/api/schema/?format=json").json()
    stages = schema["paths"][STAGES]["get"]
    assert "at" in {p["name"] for p in stages["parameters"]}
    assert {"at", "stages", "aliases"} <= set(_component(schema, stages)["properties"])
    provenance = schema["paths"][PROVENANCE]["get"]
    assert "download" in {p["name"] for p in provenance["parameters"]}
    assert {
        "version",
        "creator",
        "source_run",
        "manifest",
        "stage_transitions",
        "alias_moves",
        "transition_requests",
        "audit",
        "usage",
    } <= set(_component(schema, provenance)["properties"])
    assert {"400", "404"} <= set(stages["responses"]) and "404" in provenance["responses"]


def test_the_history_views_generate_a_valid_schema_without_warnings():
    GENERATOR_STATS.reset()
    generator = SchemaGenerator(patterns=[path("t/<str:tenant>/api/v1/", include("registry.api.urls"))])
    schema = generator.get_schema(request=None, public=True)
    assert not dict(GENERATOR_STATS._warn_cache)
    assert not dict(GENERATOR_STATS._error_cache)
    validate_schema(schema)
    assert {STAGES, PROVENANCE} <= set(schema["paths"])
    transition = schema["components"]["schemas"]["ProvenanceTransition"]["properties"]
    assert {"from", "to", "actor", "time", "approvers", "gate", "request_id"} <= set(transition)
