"""The native registry API: one view per resource, each method calling one service (writes) or selector (reads).

Lookups go through the registry selectors, which answer 404 for a model that is missing and for one the caller may
not read; the services check the level each write needs (403 when the model is visible but the level is missing).
Preconditions (`expected_stage`, `expected_version`, `If-Match`) are handed to the services, which compare them
under the model's row lock, so a stale one is a 409 and never a lost update."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.response import Response

from config.errors import Conflict, InvalidParameter
from config.openapi import ALREADY_EXISTS, CONFLICT, ERRORS, errors
from config.pagination import Pagination
from config.validation import ascii_digits
from registry import permissions, selectors, services, usage
from registry.idempotency import idempotent
from registry.models import ModelVersion, RegisteredModel, Stage
from registry.validation import find_stage
from tenants.api import TenantAPIView

from . import filters
from . import selectors as api_selectors
from .serializers import (
    AliasOutput,
    AliasSetInput,
    DescriptionInput,
    GrantsDocument,
    GrantSerializer,
    ModelCreateInput,
    ModelDetailOutput,
    ModelOutput,
    OwnerInput,
    RenameInput,
    ResolveOutput,
    StageTransitionInput,
    TagInput,
    TagOutput,
    VersionCreateInput,
    VersionOutput,
    version_etag,
)

TAG = "registry"
IF_MATCH = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description="Precondition: the ETag from GET (or, for stages, a stage name; for aliases, a version number). "
    "Stale → 409 CONFLICT.",
)


def _validated(serializer_class, data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _if_match(request: HttpRequest) -> str | None:
    """The `If-Match` value without quotes or a weak marker; None when absent."""
    raw = request.headers.get("If-Match")
    if raw is None:
        return None
    value = raw.strip()
    if value.startswith("W/"):
        value = value[2:]
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    return value


def _model_detail(view: TenantAPIView, model: RegisteredModel) -> dict[str, Any]:
    """The model as the detail endpoints show it. `model` was found through a selector (or returned by the service
    that just changed it), so the caller was allowed to see it; re-read it by id so the answer shows the committed
    state. After giving a model away the caller may have lost read on it: show the result, without versions."""
    model = selectors.model_with_relations(model)
    level = permissions.effective_level(view.principal, model)
    latest = selectors.latest_versions(view.principal, model, list(Stage.values)) if level else []
    context = {"latest_versions": latest, "permission_level": level}
    return ModelDetailOutput(model, context=context).data


def _version_response(version: ModelVersion, *, status_code: int = 200) -> Response:
    version = api_selectors.version_for_output(version)
    response = Response(VersionOutput(version).data, status=status_code)
    response["ETag"] = version_etag(version)
    return response


# --- models -----------------------------------------------------------------------------------------------------


class ModelListView(TenantAPIView, generics.GenericAPIView):
    """List the models you may read (filters: name, name__contains, tag, team, stage) or create one."""

    queryset = RegisteredModel.objects.none()
    pagination_class = Pagination
    filter_backends = [DjangoFilterBackend]  # invalid filters → ValidationError → 400 INVALID_PARAMETER_VALUE
    filterset_class = filters.RegisteredModelFilter
    serializer_class = ModelOutput

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return RegisteredModel.objects.none()
        return api_selectors.readable_models(self.principal)

    @extend_schema(
        tags=[TAG],
        operation_id="models_list",
        description="The models you may read, by name.",
        responses={200: ModelOutput(many=True), **ERRORS},
    )
    def get(self, request, tenant: str):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(ModelOutput(page, many=True).data)

    @extend_schema(
        tags=[TAG],
        operation_id="models_create",
        request=ModelCreateInput,
        description="Create a model, owned by `owner_team` or by your team.",
        responses={201: ModelDetailOutput, **errors(ALREADY_EXISTS)},
    )
    # Idempotency-Key header: a retried create answers the first result (registry/idempotency.py).
    @idempotent(
        render=lambda view, pk: Response(_model_detail(view, RegisteredModel.objects.get(pk=pk)), status=201)
    )
    def post(self, request, tenant: str):
        data = _validated(ModelCreateInput, request.data)
        owner = data.get("owner_team")
        model = services.registered_model_create(
            principal=self.principal,
            name=data["name"],
            description=data.get("description", ""),
            tags=data.get("tags"),
            owner_team=owner or None,  # a slug: the service resolves it in the caller's tenant
        )
        response = Response(_model_detail(self, model), status=status.HTTP_201_CREATED)
        response["Location"] = request.build_absolute_uri(f"/t/{tenant}/api/v1/models/{model.name}")
        return response


class ModelDetailView(TenantAPIView):
    """One model: latest versions per stage, tags, aliases, owner team and your level."""

    @extend_schema(tags=[TAG], operation_id="models_retrieve", responses={200: ModelDetailOutput, **ERRORS})
    def get(self, request, tenant: str, name: str):
        return Response(_model_detail(self, selectors.model_get(self.principal, name)))

    @extend_schema(
        tags=[TAG],
        operation_id="models_update",
        request=DescriptionInput,
        responses={200: ModelDetailOutput, **ERRORS},
    )
    def patch(self, request, tenant: str, name: str):
        data = _validated(DescriptionInput, request.data)
        model = selectors.model_get(self.principal, name)
        model = (
            services.registered_model_update(
                principal=self.principal, model=model, description=data["description"]
            )
            or model
        )
        return Response(_model_detail(self, model))

    @extend_schema(tags=[TAG], operation_id="models_destroy", responses={204: None, **ERRORS})
    def delete(self, request, tenant: str, name: str):
        model = selectors.model_get(self.principal, name)
        services.registered_model_delete(principal=self.principal, model=model)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ModelRenameView(TenantAPIView):
    @extend_schema(
        tags=[TAG],
        operation_id="models_rename",
        request=RenameInput,
        responses={200: ModelDetailOutput, **errors(ALREADY_EXISTS)},
    )
    def post(self, request, tenant: str, name: str):
        data = _validated(RenameInput, request.data)
        model = selectors.model_get(self.principal, name)
        model = services.registered_model_rename(
            principal=self.principal, model=model, new_name=data["new_name"]
        )
        response = Response(_model_detail(self, model))
        response["Location"] = request.build_absolute_uri(f"/t/{tenant}/api/v1/models/{model.name}")
        return response


class ModelTagView(TenantAPIView):
    """A model tag. Ownership tags (`owner_team`, …) need manage; other tags need edit."""

    @extend_schema(
        tags=[TAG], operation_id="models_tags_set", request=TagInput, responses={200: TagOutput, **ERRORS}
    )
    def put(self, request, tenant: str, name: str, key: str):
        data = _validated(TagInput, request.data)
        model = selectors.model_get(self.principal, name)
        services.registered_model_set_tag(principal=self.principal, model=model, key=key, value=data["value"])
        return Response({"key": key, "value": data["value"]})

    @extend_schema(tags=[TAG], operation_id="models_tags_delete", responses={204: None, **ERRORS})
    def delete(self, request, tenant: str, name: str, key: str):
        model = selectors.model_get(self.principal, name)
        services.registered_model_delete_tag(principal=self.principal, model=model, key=key)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ModelOwnerView(TenantAPIView):
    """Change the owning team (a manage action; the new team gets manage by ownership)."""

    @extend_schema(
        tags=[TAG],
        operation_id="models_owner_set",
        request=OwnerInput,
        responses={200: ModelDetailOutput, **ERRORS},
    )
    def put(self, request, tenant: str, name: str):
        data = _validated(OwnerInput, request.data)
        model = selectors.model_get(self.principal, name)
        model = (
            services.registered_model_set_owner(principal=self.principal, model=model, team=data["team"])
            or model
        )
        return Response(_model_detail(self, model))


class ModelPermissionsView(TenantAPIView):
    """The model's grants, `{"grants": [{"team": slug} or {"user": username}, "level": …]}`. PUT replaces them
    all (manage); the owning team's manage comes from ownership and is not a grant."""

    @extend_schema(
        tags=[TAG], operation_id="models_permissions_retrieve", responses={200: GrantsDocument, **ERRORS}
    )
    def get(self, request, tenant: str, name: str):
        model = selectors.model_get(self.principal, name)
        return Response({"grants": permissions.grants_of(model)})

    @extend_schema(
        tags=[TAG],
        operation_id="models_permissions_update",
        request=GrantsDocument,
        responses={200: GrantsDocument, **ERRORS},
    )
    def put(self, request, tenant: str, name: str):
        data = _validated(GrantsDocument, request.data)
        model = selectors.model_get(self.principal, name)
        grants = [GrantSerializer().to_representation(dict(g)) for g in data["grants"]]
        result = services.registered_model_set_grants(principal=self.principal, model=model, grants=grants)
        return Response({"grants": result if result is not None else permissions.grants_of(model)})


# --- versions ---------------------------------------------------------------------------------------------------


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
        responses={201: VersionOutput, **ERRORS},
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


# --- aliases ----------------------------------------------------------------------------------------------------


def _alias_response(model: RegisteredModel, alias: str) -> Response:
    row = api_selectors.alias_get(model, alias)
    response = Response(AliasOutput(row).data)
    response["ETag"] = f'"{row.version.version}"'
    return response


def _expected_version(request: HttpRequest, body_value: int | None) -> int | None:
    """`expected_version` from the body, `If-Match: "N"` (must point to N) or `If-None-Match: *` (must not exist)."""
    expected = body_value
    header = _if_match(request)
    if header is not None:
        if not ascii_digits(header):
            raise InvalidParameter(f"If-Match {header!r} must be the version the alias points to now.")
        if expected is not None and expected != int(header):
            raise InvalidParameter("If-Match and expected_version disagree.")
        expected = int(header)
    if request.headers.get("If-None-Match", "").strip() == "*":
        if expected not in (None, 0):
            raise InvalidParameter("If-None-Match: * and expected_version disagree.")
        expected = 0
    return expected


class AliasView(TenantAPIView):
    """An alias (`models:/<name>@<alias>`). Moving a protected alias (default `champion`, `production`) needs
    manage_production and the `promote` scope; others need edit. Preconditions: `expected_version` in the body,
    `If-Match: "N"` or `If-None-Match: *`; stale → 409 CONFLICT."""

    @extend_schema(tags=[TAG], operation_id="models_aliases_retrieve", responses={200: AliasOutput, **ERRORS})
    def get(self, request, tenant: str, name: str, alias: str):
        return _alias_response(selectors.model_get(self.principal, name), alias)

    @extend_schema(
        tags=[TAG],
        operation_id="models_aliases_set",
        request=AliasSetInput,
        parameters=[IF_MATCH],
        responses={200: AliasOutput, **errors(CONFLICT)},
    )
    def put(self, request, tenant: str, name: str, alias: str):
        data = _validated(AliasSetInput, request.data)
        model = selectors.model_get(self.principal, name)
        services.alias_set(
            principal=self.principal,
            model=model,
            alias=alias,
            version=data["version"],
            expected_version=_expected_version(request, data.get("expected_version")),
        )
        return _alias_response(model, alias)

    @extend_schema(
        tags=[TAG],
        operation_id="models_aliases_delete",
        parameters=[IF_MATCH],
        responses={204: None, **errors(CONFLICT)},
    )
    def delete(self, request, tenant: str, name: str, alias: str):
        model = selectors.model_get(self.principal, name)
        services.alias_delete(
            principal=self.principal,
            model=model,
            alias=alias,
            expected_version=_expected_version(request, None),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- resolve ----------------------------------------------------------------------------------------------------


class ResolveView(TenantAPIView):
    """What serving loads: the version a name resolves to by alias, stage or number (exactly one of them)."""

    @extend_schema(
        tags=[TAG],
        operation_id="models_resolve",
        parameters=[
            OpenApiParameter("alias", OpenApiTypes.STR, description="An alias, e.g. `champion`."),
            OpenApiParameter(
                "stage", OpenApiTypes.STR, description="A stage: the newest READY version in it."
            ),
            OpenApiParameter("version", OpenApiTypes.INT, description="A version number."),
        ],
        responses={200: ResolveOutput, **ERRORS},
    )
    def get(self, request, tenant: str, name: str):
        params = {k: request.query_params.get(k) for k in ("alias", "stage", "version")}
        given = {k: v for k, v in params.items() if v not in (None, "")}
        if len(given) != 1:
            raise InvalidParameter("Give exactly one of 'alias', 'stage' or 'version'.")
        kwargs: dict[str, Any] = {}
        if "version" in given:
            if not ascii_digits(given["version"]) or int(given["version"]) < 1:
                raise InvalidParameter(f"Invalid version {given['version']!r}: expected a positive integer.")
            kwargs["version"] = int(given["version"])
        elif "stage" in given:
            stage = find_stage(given["stage"])
            if stage is None:
                raise InvalidParameter(
                    f"Unknown stage {given['stage']!r}: use one of {', '.join(Stage.values)}."
                )
            kwargs["stage"] = stage
        else:
            kwargs["alias"] = given["alias"]
        model = selectors.model_get(self.principal, name)
        if "alias" in kwargs:
            # MLflow's get-by-alias answers 400 for an unknown alias; a REST resource that is not there is a 404.
            api_selectors.alias_get(model, kwargs["alias"])
        resolved = selectors.resolve(self.principal, model, **kwargs)
        usage.record_use(self.principal, usage.VersionRef(model.pk, int(resolved["version"])), "resolve")
        return Response(resolved)
