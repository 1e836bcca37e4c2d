"""Who may use the Django admin for which tenant, and the one mixin that scopes every admin page to it.

The rule (README, "Django admin"): an active superuser (a platform admin) acts on every tenant. Any other staff
user needs BOTH Django's model permission for what a page does (view, add, change, delete; actions declare theirs)
AND the tenant-admin role (a Membership with role admin) in the tenant of each object; a suspended tenant is out
of its admins' reach here, as in the APIs. So a staff user's Django permissions say what kind of thing they may
touch, and their tenant-admin roles say where: neither alone is enough.

`TenantScoped` applies that to a ModelAdmin or an inline through its queryset, so the change, delete and history
views (which look the object up in `get_queryset`: another tenant's id is "does not exist", a redirect to the
index), the changelist, the actions (Django resolves the selected ids against `get_queryset`, so a forged id of
another tenant is dropped), the list filters (their choices come from the scoped queryset) and every foreign-key
and many-to-many choice (`scope_queryset`, by the related model's path to its tenant) all follow from it."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Model, QuerySet

from .models import Membership, Role, Tenant

# How each model reaches its tenant (a lookup path), for the querysets and the choices of the scoped admin. A
# model absent here offers no choices to anyone but superusers: a new relation stays closed until it is mapped.
TENANT_PATHS: dict[str, str] = {
    "tenants.tenant": "pk",
    "tenants.team": "tenant",
    "tenants.membership": "tenant",
    "tenants.teammembership": "team__tenant",
    "accounts.user": "memberships__tenant",
    "accounts.serviceaccount": "tenant",
    "accounts.apitoken": "tenant",
    "registry.registeredmodel": "tenant",
    "registry.registeredmodeltag": "model__tenant",
    "registry.modelversion": "model__tenant",
    "registry.modelversionfile": "version__model__tenant",
    "registry.modelalias": "model__tenant",
    "registry.transitionpolicy": "model__tenant",
    "registry.transitionrequest": "tenant",
    "registry.transitionrequestevent": "request__tenant",
    "registry.auditevent": "tenant",
    "registry.webhook": "tenant",
    "registry.webhookdelivery": "tenant",
    "registry.webhookattempt": "delivery__tenant",
}


def is_superuser(user: Any) -> bool:
    return bool(getattr(user, "is_active", False) and getattr(user, "is_superuser", False))


def admin_tenant_ids(user: Any) -> frozenset[int] | None:
    """The tenants `user` administers in the Django admin: None for a superuser (every tenant), else the active
    tenants where they hold the admin role. Not cached: a role removed takes effect on the next request."""
    if is_superuser(user):
        return None
    if not (getattr(user, "is_active", False) and getattr(user, "is_staff", False)):
        return frozenset()
    return frozenset(
        Membership.objects.filter(
            user=user, role=Role.ADMIN, tenant__status=Tenant.Status.ACTIVE
        ).values_list("tenant_id", flat=True)
    )


def _tenant_ids(request: Any) -> frozenset[int] | None:
    # Once per request: every permission check, queryset and form field of a page asks.
    if not hasattr(request, "_admin_tenant_ids"):
        request._admin_tenant_ids = admin_tenant_ids(request.user)
    return request._admin_tenant_ids


def scope_queryset(queryset: QuerySet, request: Any, path: str | None = None) -> QuerySet:
    """`queryset` narrowed to the tenants the request's user administers (unchanged for superusers)."""
    ids = _tenant_ids(request)
    if ids is None:
        return queryset
    path = path or TENANT_PATHS.get(queryset.model._meta.label_lower)
    if path is None or not ids:
        return queryset.none()
    if "memberships__" in path:
        # A reverse relation would repeat a user once per tenant: select by id instead.
        inner = queryset.model._default_manager.filter(**{f"{path}__in": ids}).values("pk")
        return queryset.filter(pk__in=inner)
    return queryset.filter(**{f"{path}__in": ids})


def tenant_id_of(obj: Model, path: str) -> int | None:
    """Follow `path` from `obj` to its tenant's id (`pk` for a tenant itself)."""
    if path == "pk":
        return obj.pk
    value: Any = obj
    *hops, last = path.split("__")
    for hop in hops:
        value = getattr(value, hop, None)
        if value is None:
            return None
    return getattr(value, f"{last}_id", None)


def may_act_in(request: Any, tenant_id: int | None) -> bool:
    ids = _tenant_ids(request)
    return ids is None or (tenant_id is not None and tenant_id in ids)


class TenantScoped:
    """Mix into a ModelAdmin or an InlineModelAdmin (before the admin class). `tenant_path` is the lookup from the
    model to its tenant (defaults to `TENANT_PATHS`)."""

    tenant_path: str = ""

    def get_tenant_path(self) -> str:
        return self.tenant_path or TENANT_PATHS[self.model._meta.label_lower]  # type: ignore[attr-defined]

    def get_queryset(self, request):
        return scope_queryset(super().get_queryset(request), request, self.get_tenant_path())  # type: ignore[misc]

    def _in_scope(self, request, obj) -> bool:
        ids = _tenant_ids(request)
        if ids is None:
            return True
        if not ids:
            return False
        if obj is None:
            return True
        path = self.get_tenant_path()
        if "memberships__" in path:  # a user: in scope when a member of one of these tenants
            return scope_queryset(type(obj)._default_manager.filter(pk=obj.pk), request, path).exists()
        return tenant_id_of(obj, path) in ids

    # Django's model permission AND the tenant-admin role (in the object's tenant, when there is one).
    def has_module_permission(self, request):
        return bool(_tenant_ids(request) != frozenset() and super().has_module_permission(request))  # type: ignore[misc]

    def has_view_permission(self, request, obj=None):
        return self._in_scope(request, obj) and super().has_view_permission(request, obj)  # type: ignore[misc]

    def has_add_permission(self, request, *args):
        # ModelAdmin passes (request), inlines (request, obj): obj is the parent, in scope already.
        return _tenant_ids(request) != frozenset() and super().has_add_permission(request, *args)  # type: ignore[misc]

    def has_change_permission(self, request, obj=None):
        return self._in_scope(request, obj) and super().has_change_permission(request, obj)  # type: ignore[misc]

    def has_delete_permission(self, request, obj=None):
        return self._in_scope(request, obj) and super().has_delete_permission(request, obj)  # type: ignore[misc]

    # Choices: only the rows of the user's tenants, so a forged id of another tenant fails form validation.
    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if "queryset" not in kwargs:
            base = self.get_field_queryset(None, db_field, request)  # type: ignore[attr-defined]
            if base is None:
                base = db_field.remote_field.model._default_manager.all()
            kwargs["queryset"] = scope_queryset(base, request)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)  # type: ignore[misc]

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if "queryset" not in kwargs:
            base = self.get_field_queryset(None, db_field, request)  # type: ignore[attr-defined]
            if base is None:
                base = db_field.remote_field.model._default_manager.all()
            kwargs["queryset"] = scope_queryset(base, request)
        return super().formfield_for_manytomany(db_field, request, **kwargs)  # type: ignore[misc]

    def get_list_filter(self, request):
        # A plain related-field filter lists every row of the related table; these list only those referenced
        # by the (scoped) changelist.
        filters = []
        for item in super().get_list_filter(request):  # type: ignore[misc]
            if isinstance(item, str) and _is_relation(self.model, item):  # type: ignore[attr-defined]
                item = (item, admin.RelatedOnlyFieldListFilter)
            filters.append(item)
        return filters


def _is_relation(model: type[Model], path: str) -> bool:
    field = None
    for name in path.split("__"):
        field = model._meta.get_field(name)
        if field.is_relation and field.related_model is not None:
            model = field.related_model
        else:
            return False
    return field is not None and field.is_relation


def admin_principal(request: Any, tenant: Tenant):
    """The principal a Django-admin write acts as in `tenant`: a platform admin's (superuser) or, for a staff user
    who administers `tenant`, that tenant admin's own (full scopes, no token). Refused to anyone else, and in a
    suspended tenant to all but platform admins, as the APIs do."""
    from accounts.models import SCOPES
    from config.errors import PermissionDenied

    from .access import Principal, platform_admin_principal, team_ids_in

    if is_superuser(request.user):
        return platform_admin_principal(user=request.user, tenant=tenant)
    if not may_act_in(request, tenant.pk):
        raise PermissionDenied(f"You do not administer tenant '{tenant.slug}'.")
    return Principal(
        user=request.user,
        tenant=tenant,
        role=Role.ADMIN,
        scopes=frozenset(SCOPES),
        token=None,
        team_ids=team_ids_in(request.user, tenant),
    )
