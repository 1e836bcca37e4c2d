"""The native API for aliases, and resolve: what serving loads (by alias, stage or version)."""

from __future__ import annotations

from django.http import HttpRequest
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response

from config.errors import InvalidParameter
from config.openapi import CONFLICT, ERRORS, errors
from config.validation import ascii_digits
from registry import selectors, services, usage
from registry.models import RegisteredModel, Stage
from registry.validation import find_stage
from tenants.api import TenantAPIView

from .. import selectors as api_selectors
from ..serializers import (
    AliasOutput,
    AliasSetInput,
    ResolveOutput,
)
from ._common import IF_MATCH, TAG, _if_match, _validated


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
        # Only the types are parsed here; that exactly one target is given is selectors.resolve's rule (one place,
        # one message). Absent and empty parameters are the same thing.
        given = {
            k: v
            for k in ("alias", "stage", "version")
            if (v := request.query_params.get(k)) not in (None, "")
        }
        version: int | None = None
        if "version" in given:
            if not ascii_digits(given["version"]) or int(given["version"]) < 1:
                raise InvalidParameter(f"Invalid version {given['version']!r}: expected a positive integer.")
            version = int(given["version"])
        stage: str | None = None
        if "stage" in given:
            stage = find_stage(given["stage"])
            if stage is None:
                raise InvalidParameter(
                    f"Unknown stage {given['stage']!r}: use one of {', '.join(Stage.values)}."
                )
        alias = given.get("alias")
        model = selectors.model_get(self.principal, name)
        if alias is not None:
            # MLflow's get-by-alias answers 400 for an unknown alias; a REST resource that is not there is a 404.
            api_selectors.require_alias(model, alias)
        resolved = selectors.resolve(self.principal, model, alias=alias, stage=stage, version=version)
        usage.record_use(self.principal, usage.VersionRef(model.pk, int(resolved["version"])), "resolve")
        return Response(resolved)
