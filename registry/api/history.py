"""History endpoints of the native API: stages and aliases at a past moment, and a version's provenance.

Both are reads over the audit log (`registry.history`); the model is looked up through the selectors, so another
tenant's model and one the caller may not read are the same 404."""

from __future__ import annotations

from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from config.openapi import ERRORS
from registry.history import provenance as history_provenance
from registry.history import timetravel
from tenants.api import TenantAPIView

TAG = "history"


def _maybe_str(**kwargs) -> serializers.CharField:
    """A string that may be null or left out."""
    return serializers.CharField(allow_null=True, required=False, **kwargs)


# --- output shapes (for the OpenAPI schema; the views answer plain dicts) -------------------------------------------


class StagesAtOutput(serializers.Serializer):
    name = serializers.CharField()
    at = serializers.DateTimeField(help_text="The moment answered for (now when `at` was missing or later).")
    stages = serializers.DictField(
        child=serializers.CharField(), help_text='Stage → version, e.g. {"Production": "3", "Staging": "4"}.'
    )
    aliases = serializers.DictField(
        child=serializers.CharField(), help_text='Alias → version: {"champion": "3"}.'
    )
    stage_versions = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Every version in each stage (a promotion without archiving leaves several).",
    )


class ProvenanceVersion(serializers.Serializer):
    name = serializers.CharField()
    version = serializers.CharField()
    status = serializers.CharField()
    status_message = _maybe_str()
    stage = serializers.CharField()
    description = serializers.CharField()
    tags = serializers.DictField(child=serializers.CharField())
    aliases = serializers.ListField(child=serializers.CharField())
    source = serializers.CharField()  # type: ignore[assignment]  # a field named like Field.source (drf-stubs)
    run_id = _maybe_str()
    run_link = _maybe_str()
    created_at = serializers.DateTimeField()
    created_by = _maybe_str()
    creation_timestamp = serializers.IntegerField()
    last_updated_timestamp = serializers.IntegerField()
    manifest_sha256 = _maybe_str()
    download_uri = serializers.CharField()


class ProvenanceCreator(serializers.Serializer):
    username = _maybe_str()
    is_service_account = serializers.BooleanField()
    full_name = serializers.CharField()


class ProvenanceDataset(serializers.Serializer):
    name = serializers.CharField()
    digest = serializers.CharField()
    source_type = serializers.CharField()
    source = serializers.CharField()  # type: ignore[assignment]  # as above
    context = _maybe_str()  # type: ignore[assignment]  # a field named like Field.context
    tags = serializers.DictField(child=serializers.CharField())


class ProvenanceRun(serializers.Serializer):
    run_id = serializers.CharField()
    readable = serializers.BooleanField(help_text="False: the caller may not read the run's experiment.")
    name = serializers.CharField(required=False)
    experiment = serializers.DictField(child=serializers.CharField(), required=False)
    user = _maybe_str()
    status = serializers.CharField(required=False)
    start_time = serializers.IntegerField(required=False)
    end_time = serializers.IntegerField(allow_null=True, required=False)
    data_version = _maybe_str()
    code = serializers.DictField(
        child=serializers.CharField(allow_null=True),
        required=False,
        help_text="commit, source, branch, repo_url",
    )
    params = serializers.DictField(child=serializers.CharField(), required=False)
    metrics = serializers.DictField(
        child=serializers.FloatField(), required=False, help_text="Latest values."
    )
    tags = serializers.DictField(child=serializers.CharField(), required=False)
    datasets = ProvenanceDataset(many=True, required=False)
    parent_run = serializers.JSONField(required=False, allow_null=True)


class ProvenanceFile(serializers.Serializer):
    path = serializers.CharField()
    size = serializers.IntegerField()
    sha256 = serializers.CharField()


class ProvenanceManifest(serializers.Serializer):
    sha256 = _maybe_str()
    file_count = serializers.IntegerField()
    total_size = serializers.IntegerField()
    files = ProvenanceFile(many=True)


class ProvenanceTransition(serializers.Serializer):
    seq = serializers.IntegerField()
    to = serializers.CharField()
    actor = serializers.CharField()
    time = serializers.DateTimeField()
    comment = _maybe_str()
    request_id = _maybe_str()
    approvers = serializers.ListField(child=serializers.CharField())
    gate = serializers.JSONField(required=False, allow_null=True)
    archived_by = serializers.JSONField(required=False, allow_null=True)
    archived_versions = serializers.ListField(child=serializers.CharField())


# `from` is a Python keyword: add the field under its wire name.
ProvenanceTransition._declared_fields["from"] = _maybe_str()


class ProvenanceAliasMove(serializers.Serializer):
    seq = serializers.IntegerField()
    action = serializers.ChoiceField(choices=["set", "deleted"])
    alias = serializers.CharField()
    from_version = _maybe_str()
    to_version = _maybe_str()
    actor = serializers.CharField()
    time = serializers.DateTimeField()


class ProvenanceRequest(serializers.Serializer):
    id = serializers.CharField()
    stage = _maybe_str()
    requester = _maybe_str()
    comment = _maybe_str()
    status = _maybe_str()
    created_at = serializers.DateTimeField(allow_null=True)
    gate = serializers.JSONField(required=False, allow_null=True)
    decisions = serializers.ListField(child=serializers.JSONField())


class ProvenanceEvent(serializers.Serializer):
    seq = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    actor = serializers.CharField()
    action = serializers.CharField()
    object_type = serializers.CharField()
    object_id = serializers.CharField()
    version = _maybe_str()
    before = serializers.JSONField(allow_null=True)
    after = serializers.JSONField(allow_null=True)
    prev_hash = serializers.CharField()
    hash = serializers.CharField()


class ProvenanceChain(serializers.Serializer):
    scope = serializers.ChoiceField(
        choices=["tenant", "events"],
        help_text="tenant: the whole chain was verified; events: these events' hashes and links were checked.",
    )
    ok = serializers.BooleanField()
    events = serializers.IntegerField(allow_null=True)
    first_bad_seq = serializers.IntegerField(allow_null=True)


class ProvenanceAudit(serializers.Serializer):
    events = ProvenanceEvent(many=True)
    chain = ProvenanceChain()


class ProvenanceUsageDay(serializers.Serializer):
    day = serializers.DateField()
    principal = serializers.CharField()
    resolves = serializers.IntegerField()
    downloads = serializers.IntegerField()


class ProvenanceUsage(serializers.Serializer):
    days = ProvenanceUsageDay(many=True)
    principals = serializers.ListField(child=serializers.CharField())
    resolves = serializers.IntegerField()
    downloads = serializers.IntegerField()
    pending_included = serializers.BooleanField(
        help_text="False when the not-yet-flushed counters could not be read (Redis unavailable)."
    )


class ProvenanceOutput(serializers.Serializer):
    name = serializers.CharField()
    version = ProvenanceVersion()
    creator = ProvenanceCreator()
    source_run = ProvenanceRun(allow_null=True)
    logged_model = serializers.JSONField(allow_null=True)
    logged_model_id = serializers.CharField(allow_null=True)
    manifest = ProvenanceManifest()
    stage_transitions = ProvenanceTransition(many=True)
    alias_moves = ProvenanceAliasMove(many=True)
    transition_requests = ProvenanceRequest(many=True)
    audit = ProvenanceAudit()
    usage = ProvenanceUsage()


# --- views ------------------------------------------------------------------------------------------------------


class StagesAtView(TenantAPIView):
    """Which version held each stage, and where each alias pointed, at a past moment (replayed from the audit
    log: right for versions deleted since and models renamed since)."""

    @extend_schema(
        tags=[TAG],
        operation_id="models_stages_at",
        parameters=[
            OpenApiParameter(
                "at",
                OpenApiTypes.STR,
                description="ISO-8601 (`2026-01-31T12:00:00.250Z`; no offset: UTC) or epoch milliseconds. "
                "Missing or in the future: now.",
            )
        ],
        responses={200: StagesAtOutput, **ERRORS},
    )
    def get(self, request, tenant: str, name: str):
        return Response(timetravel.stages_at(self.principal, name, request.query_params.get("at")))


class ProvenanceView(TenantAPIView):
    """Everything about one version in one JSON document: the version, its creator, source run (params, data
    version, code commit, metrics, tags, datasets, parent run), manifest, stage transitions, alias moves, transition
    requests, audit events with the chain's state, and usage per day and principal."""

    @extend_schema(
        tags=[TAG],
        operation_id="models_versions_provenance",
        parameters=[
            OpenApiParameter(
                "download",
                OpenApiTypes.BOOL,
                description="`1`: answer as an attachment, `<name>-v<version>-provenance.json`.",
            )
        ],
        responses={200: ProvenanceOutput, **ERRORS},
    )
    def get(self, request, tenant: str, name: str, version: int):
        document = history_provenance.provenance(self.principal, name, version)
        response = Response(document)
        if request.query_params.get("download", "").lower() in ("1", "true", "yes"):
            filename = f"{document['name']}-v{document['version']['version']}-provenance.json"
            response["Content-Disposition"] = content_disposition_header(True, filename)
        return response
