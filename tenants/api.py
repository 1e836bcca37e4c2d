"""Base class of every tenant-scoped API view (native and MLflow): authenticate, then resolve the tenant and the
caller's role and scopes (`self.principal`) before the handler runs."""

from __future__ import annotations

from rest_framework.views import APIView

from accounts.models import ApiToken
from config.errors import Unauthenticated

from .access import Principal, principal_for


class TenantAPIView(APIView):
    principal: Principal

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        user = request.user
        if user is None or not user.is_authenticated:
            raise Unauthenticated("Authentication required: send 'Authorization: Bearer <token>'.")
        token = request.auth if isinstance(request.auth, ApiToken) else None
        if getattr(request, "tenant_slug", None) is None:
            request.tenant_slug = self.default_tenant_slug(request)
        self.principal = principal_for(request, user, token)
        request.principal = self.principal

    def default_tenant_slug(self, request) -> str | None:
        """The tenant when neither the path nor the workspace header names one."""
        return None
