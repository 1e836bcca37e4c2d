"""Who is calling, in which tenant, with which role and scopes: the tenant gatekeeper every tenant view runs first."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest

from accounts.models import SCOPES, ApiToken, User
from config.errors import NotFound, PermissionDenied, TenantSuspended, Unauthenticated
from config.validation import is_storable

from .models import Membership, Role, Team, TeamMembership, Tenant

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


@dataclass
class Principal:
    user: User
    tenant: Tenant
    role: str
    scopes: frozenset[str]
    token: ApiToken | None = None
    team_ids: frozenset[int] = field(default_factory=frozenset)
    platform_admin: bool = False

    @property
    def is_tenant_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def is_viewer(self) -> bool:
        return self.role == Role.VIEWER

    def default_team(self) -> Team | None:
        """The team that owns what this caller creates: a service account's own team, else the user's only (or
        alphabetically first) team in this tenant."""
        sa = getattr(self.user, "service_account", None) if hasattr(self.user, "service_account") else None
        if sa is not None and sa.team_id and sa.tenant_id == self.tenant.pk:
            return Team.objects.filter(pk=sa.team_id, tenant=self.tenant).first()
        if not self.team_ids:
            return None
        return Team.objects.filter(pk__in=self.team_ids, tenant=self.tenant).order_by("slug").first()

    def require_contributor(self, action: str) -> None:
        """Creating something new in the tenant (a model, an experiment): members and admins, with the `write`
        scope. Viewers only read."""
        if self.is_viewer:
            raise PermissionDenied(f"Permission denied to {action}: viewers only read.")
        self.require_scope("write")

    def has_scope(self, scope: str) -> bool:
        return "admin" in self.scopes or scope in self.scopes

    def require_scope(self, scope: str) -> None:
        if not self.has_scope(scope):
            raise PermissionDenied(f"This token lacks the '{scope}' scope.")


def is_platform_admin(user: Any, token: ApiToken | None) -> bool:
    """The one rule for platform-admin power (every tenant, suspended ones read-only, the tenant list, the Django
    admin): an active superuser signed in with a session. Never through an API token: a token belongs to one tenant
    and carries only that tenant's role, so a leaked token can never reach across tenants."""
    return token is None and bool(getattr(user, "is_active", False) and getattr(user, "is_superuser", False))


def team_ids_in(user: Any, tenant: Tenant) -> frozenset[int]:
    """The user's teams in one tenant."""
    return frozenset(
        TeamMembership.objects.filter(user=user, team__tenant=tenant).values_list("team_id", flat=True)
    )


def platform_admin_principal(*, user: Any, tenant: Tenant) -> Principal:
    """A tenant-admin principal for a platform admin acting through the Django admin: full scopes, no token.
    Refused to anyone else, for whom it would be an escalation."""
    if not is_platform_admin(user, None):
        raise PermissionDenied("Only platform admins act on the registry through the admin.")
    return Principal(
        user=user,
        tenant=tenant,
        role=Role.ADMIN,
        scopes=frozenset(SCOPES),
        token=None,
        team_ids=team_ids_in(user, tenant),
        platform_admin=True,
    )


def tenant_not_found(slug: str | None) -> NotFound:
    if not slug:
        return NotFound("No tenant selected: use /t/<tenant>/… or the X-MLFLOW-WORKSPACE header.")
    return NotFound(f"Tenant '{slug}' not found.")


def principal_for(request: HttpRequest, user, token: ApiToken | None) -> Principal:
    """Resolve the request's tenant for an authenticated user. Unknown and not-yours answer the same 404."""
    slug = getattr(request, "tenant_slug", None)
    if user is None or not getattr(user, "is_authenticated", False):
        raise Unauthenticated("Authentication required.")
    if token is not None and hasattr(token, "principal_role"):
        return _token_principal(request, slug, user, token)
    # A slug PostgreSQL cannot compare (NUL from `/t/%00/`) names no tenant: a 404, not a database error.
    tenant = Tenant.objects.filter(slug=slug).first() if slug and is_storable(slug) else None
    if tenant is None:
        raise tenant_not_found(slug)
    if token is not None and token.tenant_id != tenant.pk:
        raise tenant_not_found(slug)
    membership = Membership.objects.filter(tenant=tenant, user=user).only("role").first()
    platform_admin = is_platform_admin(user, token)
    if membership is None and not platform_admin:
        raise tenant_not_found(slug)
    role = membership.role if membership else Role.ADMIN
    if tenant.is_suspended:
        if not platform_admin:
            raise TenantSuspended(
                f"Tenant '{tenant.slug}' is suspended; contact your platform administrator."
            )
        if request.method not in SAFE_METHODS:
            raise PermissionDenied(f"Tenant '{tenant.slug}' is suspended: read-only for platform admins.")
    scopes = frozenset(token.scopes) if token is not None else frozenset(SCOPES)
    if role == Role.VIEWER:
        scopes = scopes & {"read"}  # a viewer's token can never write, whatever it was issued with
    team_ids = team_ids_in(user, tenant)
    return Principal(
        user=user,
        tenant=tenant,
        role=role,
        scopes=scopes,
        token=token,
        team_ids=team_ids,
        platform_admin=platform_admin,
    )


def _token_principal(request: HttpRequest, slug: str | None, user: Any, token: ApiToken) -> Principal:
    """`principal_for` from a token loaded by `accounts.authentication.token_with_principal`: the token's tenant,
    the user's role and (on PostgreSQL) team ids came in the token's own query, so no further query is needed.

    A token belongs to one tenant (slugs are unique): a request naming any other slug, existing or not, gets the
    same 404 as an unknown tenant. A token is never a platform admin (`is_platform_admin`)."""
    tenant = token.tenant
    role = getattr(token, "principal_role", None)
    if not slug or tenant.slug != slug or role is None:
        raise tenant_not_found(slug)
    if tenant.is_suspended:
        raise TenantSuspended(f"Tenant '{tenant.slug}' is suspended; contact your platform administrator.")
    scopes = frozenset(token.scopes)
    if role == Role.VIEWER:
        scopes = scopes & {"read"}  # a viewer's token can never write, whatever it was issued with
    annotated = getattr(token, "principal_team_ids", None)
    team_ids = frozenset(annotated) if annotated is not None else team_ids_in(user, tenant)
    return Principal(user=user, tenant=tenant, role=role, scopes=scopes, token=token, team_ids=team_ids)
