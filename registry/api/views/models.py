"""The native API for registered models: list, create, detail, rename, tags, owner, grants."""

from __future__ import annotations

from typing import Any

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.response import Response

from config.openapi import ALREADY_EXISTS, ERRORS, errors
from config.pagination import Pagination
from registry import permissions, selectors, services
from registry.idempotency import idempotent
from registry.models import RegisteredModel, Stage
from tenants.api import TenantAPIView

from .. import filters
from .. import selectors as api_selectors
from ..serializers import (
    DescriptionInput,
    GrantsDocument,
    GrantSerializer,
    ModelCreateInput,
    ModelDetailOutput,
    ModelOutput,
    OwnerInput,
    RenameInput,
    TagInput,
    TagOutput,
)
from ._common import IDEMPOTENCY_KEY, IDEMPOTENCY_REUSED, TAG, _validated


def _model_detail(view: TenantAPIView, model: RegisteredModel) -> dict[str, Any]:
    """The model as the detail endpoints show it. `model` was found through a selector (or returned by the service
    that just changed it), so the caller was allowed to see it; re-read it by id so the answer shows the committed
    state. After giving a model away the caller may have lost read on it: show the result, without versions."""
    model = selectors.model_with_relations(model)
    level = permissions.effective_level(view.principal, model)
    latest = selectors.latest_versions(view.principal, model, list(Stage.values)) if level else []
    context = {"latest_versions": latest, "permission_level": level}
    return ModelDetailOutput(model, context=context).data


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
        parameters=[IDEMPOTENCY_KEY],
        responses={201: ModelDetailOutput, **errors(ALREADY_EXISTS, IDEMPOTENCY_REUSED)},
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
