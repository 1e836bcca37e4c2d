"""Tenant usage against its quotas in the native API (tenant admins). Usage counts what is referenced: the distinct
blobs of the tenant's artifact trees and version snapshots, its models, and the most versions in one model."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from config.errors import PermissionDenied
from config.openapi import ERRORS
from registry.artifacts.selectors import tenant_usage
from tenants.api import TenantAPIView


class UsageOutput(serializers.Serializer):
    storage_bytes = serializers.IntegerField()
    quota_storage_bytes = serializers.IntegerField(allow_null=True)
    models = serializers.IntegerField()
    quota_models = serializers.IntegerField(allow_null=True)
    max_versions_in_a_model = serializers.IntegerField()
    quota_versions_per_model = serializers.IntegerField(allow_null=True)


class UsageView(TenantAPIView):
    """The tenant's usage and quotas (null: unlimited)."""

    @extend_schema(tags=["tenant"], operation_id="usage_get", responses={200: UsageOutput, **ERRORS})
    def get(self, request, tenant: str):
        if not self.principal.is_tenant_admin:
            raise PermissionDenied("Reading the tenant's usage needs the tenant admin role.")
        self.principal.require_scope("read")
        return Response(UsageOutput(tenant_usage(self.principal.tenant)).data)
