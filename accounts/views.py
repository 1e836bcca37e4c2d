from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from config.errors import PermissionDenied
from tenants.access import is_platform_admin, tenant_not_found
from tenants.api import TenantAPIView
from tenants.models import Membership, Tenant

from .models import ApiToken
from .selectors import me_payload


class MeOutput(serializers.Serializer):
    username = serializers.CharField()
    tenant = serializers.CharField()
    role = serializers.CharField()
    teams = serializers.ListField(child=serializers.CharField())
    scopes = serializers.ListField(child=serializers.CharField())
    is_service_account = serializers.BooleanField()


class MeView(TenantAPIView):
    """Who am I: the caller's tenant, role, teams and the scopes in force.

    Unprefixed (`/api/v1/me`), the tenant is the token's own (or, for a session, the `X-MLFLOW-WORKSPACE` header or
    the user's only tenant)."""

    @extend_schema(responses=MeOutput)
    def get(self, request, tenant: str | None = None):
        return Response(me_payload(self.principal))

    def default_tenant_slug(self, request) -> str | None:
        return _default_tenant_slug(request)


def _default_tenant_slug(request) -> str | None:
    if isinstance(request.auth, ApiToken):
        return request.auth.tenant.slug
    header = request.headers.get("X-MLFLOW-WORKSPACE")
    if header:
        return header.strip()
    if request.user is not None and request.user.is_authenticated:
        slugs = list(Membership.objects.filter(user=request.user).values_list("tenant__slug", flat=True)[:2])
        if len(slugs) == 1:
            return slugs[0]
    return None


class TenantOutput(serializers.ModelSerializer):
    class Meta:
        model = Tenant
        fields = [
            "slug",
            "name",
            "status",
            "quota_storage_bytes",
            "quota_models",
            "members_read_all",
            "created_at",
        ]


class TenantListOutput(serializers.Serializer):
    tenants = TenantOutput(many=True)


class TenantListView(APIView):
    """All tenants: platform admins only (superusers)."""

    @extend_schema(
        responses={
            200: TenantListOutput,
            403: OpenApiResponse(description="PERMISSION_DENIED: platform admins only."),
        }
    )
    def get(self, request):
        token = request.auth if isinstance(request.auth, ApiToken) else None
        if not is_platform_admin(request.user, token):
            raise PermissionDenied("Only platform admins can list tenants.")
        return Response({"tenants": TenantOutput(Tenant.objects.order_by("slug"), many=True).data})


__all__ = ["MeView", "TenantListView", "tenant_not_found"]
