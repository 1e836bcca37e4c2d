"""The native API for model versions: list, register, detail, tags, stage transitions."""

from __future__ import annotations

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.response import Response

from config.errors import Conflict, InvalidParameter
from config.openapi import CONFLICT, ERRORS, errors
from config.pagination import Pagination
from config.validation import ascii_digits
from registry import selectors, services
from registry.idempotency import idempotent
from registry.models import ModelVersion
from registry.validation import find_stage
from tenants.api import TenantAPIView

from .. import filters
from .. import selectors as api_selectors
from ..serializers import (
    DescriptionInput,
    StageTransitionInput,
    TagInput,
    TagOutput,
    VersionCreateInput,
    VersionOutput,
    version_etag,
)
from ._common import IDEMPOTENCY_KEY, IDEMPOTENCY_REUSED, IF_MATCH, TAG, _if_match, _validated


def _version_response(version: ModelVersion, *, status_code: int = 200) -> Response:
    version = api_selectors.version_for_output(version)
    response = Response(VersionOutput(version).data, status=status_code)
    response["ETag"] = version_etag(version)
    return response


class VersionListView(TenantAPIView, generics.GenericAPIView):
    """A model's versions (newest first; filters: stage, status), or register a new one."""

    queryset = ModelVersion.objects.none()
    pagination_class = Pagination
    filter_backends = [DjangoFilterBackend]  # invalid filters → ValidationError → 400 INVALID_PARAMETER_VALUE
    filterset_class = filters.ModelVersionFilter
    serializer_class = VersionOutput

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ModelVersion.objects.none()
        return api_selectors.versions_of(selectors.model_get(self.principal, self.kwargs["name"]))

    @extend_schema(
        tags=[TAG],
        operation_id="models_versions_list",
        description="A model's versions, newest first.",
        responses={200: VersionOutput(many=True), **ERRORS},
    )
    def get(self, request, tenant: str, name: str):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(VersionOutput(page, many=True).data)

    @extend_schema(
        tags=[TAG],
        operation_id="models_versions_create",
        request=VersionCreateInput,
        parameters=[IDEMPOTENCY_KEY],
        responses={201: VersionOutput, **errors(IDEMPOTENCY_REUSED)},
        description="Records the version as PENDING_REGISTRATION; a worker snapshots the source's files "
        "and marks it READY (or FAILED_REGISTRATION). Poll the version until then.",
    )
    # Idempotency-Key header: a retried create answers the first result (registry/idempotency.py).
    @idempotent(render=lambda view, pk: _version_response(ModelVersion.objects.get(pk=pk), status_code=201))
    def post(self, request, tenant: str, name: str):
        data = _validated(VersionCreateInput, request.data)
        model = selectors.model_get(self.principal, name)
        version = services.model_version_create(
            principal=self.principal,
            model=model,
            source=data["source"],
            run_id=data.get("run_id") or None,
            description=data.get("description", ""),
            tags=data.get("tags"),
            run_link=data.get("run_link", ""),
        )
        response = _version_response(version, status_code=status.HTTP_201_CREATED)
        response["Location"] = request.build_absolute_uri(
            f"/t/{tenant}/api/v1/models/{model.name}/versions/{version.version}"
        )
        return response


class VersionDetailView(TenantAPIView):
    """One version. Its `ETag` changes with every update; send it back in `If-Match` to the stage endpoint."""

    @extend_schema(
        tags=[TAG], operation_id="models_versions_retrieve", responses={200: VersionOutput, **ERRORS}
    )
    def get(self, request, tenant: str, name: str, version: int):
        return _version_response(selectors.version_get(self.principal, name, version))

    @extend_schema(
        tags=[TAG],
        operation_id="models_versions_update",
        request=DescriptionInput,
        responses={200: VersionOutput, **ERRORS},
    )
    def patch(self, request, tenant: str, name: str, version: int):
        data = _validated(DescriptionInput, request.data)
        mv = selectors.version_get(self.principal, name, version)
        mv = (
            services.model_version_update(
                principal=self.principal, version=mv, description=data["description"]
            )
            or mv
        )
        return _version_response(mv)

    @extend_schema(tags=[TAG], operation_id="models_versions_destroy", responses={204: None, **ERRORS})
    def delete(self, request, tenant: str, name: str, version: int):
        mv = selectors.version_get(self.principal, name, version)
        services.model_version_delete(principal=self.principal, version=mv)
        return Response(status=status.HTTP_204_NO_CONTENT)


class VersionTagView(TenantAPIView):
    @extend_schema(
        tags=[TAG],
        operation_id="models_versions_tags_set",
        request=TagInput,
        responses={200: TagOutput, **ERRORS},
    )
    def put(self, request, tenant: str, name: str, version: int, key: str):
        data = _validated(TagInput, request.data)
        mv = selectors.version_get(self.principal, name, version)
        services.model_version_set_tag(principal=self.principal, version=mv, key=key, value=data["value"])
        return Response({"key": key, "value": data["value"]})

    @extend_schema(tags=[TAG], operation_id="models_versions_tags_delete", responses={204: None, **ERRORS})
    def delete(self, request, tenant: str, name: str, version: int, key: str):
        mv = selectors.version_get(self.principal, name, version)
        services.model_version_delete_tag(principal=self.principal, version=mv, key=key)
        return Response(status=status.HTTP_204_NO_CONTENT)


class VersionStageView(TenantAPIView):
    """Move a version to another stage. Preconditions: `expected_stage` in the body, or `If-Match` with the
    version's ETag or its current stage name; stale → 409 CONFLICT."""

    @extend_schema(
        tags=[TAG],
        operation_id="models_versions_stage",
        request=StageTransitionInput,
        parameters=[IF_MATCH],
        responses={200: VersionOutput, **errors(CONFLICT)},
    )
    def post(self, request, tenant: str, name: str, version: int):
        data = _validated(StageTransitionInput, request.data)
        mv = selectors.version_get(self.principal, name, version)
        expected = data.get("expected_stage")
        expected_updated: int | None = None
        header = _if_match(request)
        if header is not None and header != "*":
            if ":" in header:
                # A full ETag ("version:stage:last_updated"): anything about the version changed since it was read
                # is a conflict. Both parts go to the service, which compares them under the model's row lock
                # (comparing here, before the lock, would let a concurrent change slip in between).
                number, _, rest = header.partition(":")
                header_stage_text, _, updated = rest.partition(":")
                header_stage = find_stage(header_stage_text)
                if number != str(mv.version) or header_stage is None or not ascii_digits(updated):
                    raise Conflict(
                        f"Version {mv.version} of '{mv.model.name}' changed since it was read "
                        f"(If-Match {header!r}, now {version_etag(mv)})."
                    )
                expected_updated = int(updated)
            else:
                header_stage = find_stage(header)
                if header_stage is None:
                    raise InvalidParameter(
                        f"If-Match {header!r} is neither this version's ETag nor a stage name."
                    )
            if expected is not None and expected != header_stage:
                raise InvalidParameter("If-Match and expected_stage disagree.")
            expected = header_stage
        mv = services.model_version_transition_stage(
            principal=self.principal,
            version=mv,
            stage=data["stage"],
            archive_existing_versions=data["archive_existing_versions"],
            expected_stage=expected,
            expected_last_updated_timestamp=expected_updated,
            comment=data.get("comment", ""),
            gate=data.get("gate"),
        )
        return _version_response(mv)
