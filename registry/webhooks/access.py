"""The webhook gatekeeper: tenant-wide webhooks belong to tenant admins; a model's webhooks to whoever may
`manage` that model. Reads need the same standing as writes (a subscription's URL and delivery log are
configuration, not model content) but only the `read` token scope; writes need the `admin` scope."""

from __future__ import annotations

from typing import TYPE_CHECKING

from config.errors import NotFound, PermissionDenied
from registry import permissions
from tenants.access import Principal

if TYPE_CHECKING:
    from registry.models import RegisteredModel


def require_webhook_access(
    principal: Principal, model: RegisteredModel | None, *, write: bool, action: str
) -> None:
    """Raise unless the caller may see (write=False) or change (write=True) webhooks of `model` (None: the
    tenant-wide ones). A model the caller may not read answers 404, like a missing one."""
    if model is None:
        if not principal.is_tenant_admin:
            raise PermissionDenied(
                f"Permission denied to {action}: tenant-wide webhooks are managed by tenant admins."
            )
        principal.require_scope("admin" if write else "read")
        return
    if write:
        permissions.require(principal, model, "manage", action=action)
        return
    level = permissions.effective_level(principal, model)
    if level is None or not principal.has_scope("read"):
        raise NotFound(f"Registered Model with name={model.name} not found")
    if level != "manage":
        raise PermissionDenied(
            f"Permission denied to {action}: needs 'manage' on registered model '{model.name}', you have '{level}'."
        )
