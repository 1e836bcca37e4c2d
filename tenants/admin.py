"""Admin for platform admins and tenant admins: tenants (create, quotas, suspend: platform admins; a tenant admin
sees their own tenant and its usage), teams and memberships (platform admins, and tenant admins in their own
tenants: `admin_scope.TenantScoped`). Every change goes through `tenants.services`, so it is validated and audited
like any other write."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect

from config.errors import ModelgateError

from . import services
from .admin_scope import TenantScoped, is_superuser
from .models import Membership, Team, TeamMembership, Tenant


class ServiceAdmin(admin.ModelAdmin):
    """A ModelAdmin whose writes are durable service calls.

    Django runs the add/change and delete views inside `transaction.atomic()`, and a durable block refuses to nest
    in one. Each service is its own transaction, so these views run outside Django's wrapper; a service error is
    shown as a message instead of a 500."""

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return self._changeform_view(request, object_id, form_url, extra_context)
        except ModelgateError as exc:
            return self._refused(request, exc)

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return self._delete_view(request, object_id, extra_context)
        except ModelgateError as exc:
            return self._refused(request, exc)

    def _refused(self, request, exc: ModelgateError) -> HttpResponseRedirect:
        # Back to the page the form came from, with the service's reason on top.
        self.message_user(request, exc.message, level=messages.ERROR)
        return HttpResponseRedirect(request.get_full_path())


class ExistingRowsKeepTheirUser(forms.ModelForm):
    """Inline rows name a person; changing who a row is about would be a removal plus an addition, so existing rows
    only change their role."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and "user" in self.fields:
            self.fields["user"].disabled = True


class MembershipInline(TenantScoped, admin.TabularInline):
    model = Membership
    form = ExistingRowsKeepTheirUser
    extra = 0
    autocomplete_fields = ["user"]
    fields = ["user", "role", "created_at"]
    readonly_fields = ["created_at"]


def save_membership_formset(request, tenant: Tenant, formset) -> None:
    formset.save(commit=False)
    for membership in formset.deleted_objects:
        services.membership_remove(tenant=tenant, user=membership.user, actor=request.user)
    for membership in formset.new_objects + [obj for obj, _fields in formset.changed_objects]:
        services.membership_set(tenant=tenant, user=membership.user, role=membership.role, actor=request.user)


def _usage(tenant: Tenant) -> dict:
    # Imported here: tenants must not import registry at module load (registry imports tenants).
    from registry.artifacts.selectors import tenant_usage

    return tenant_usage(tenant)


@admin.register(Tenant)
class TenantAdmin(TenantScoped, ServiceAdmin):
    list_display = ["slug", "name", "status", "quota_storage_bytes", "quota_models", "created_at"]
    list_filter = ["status"]
    search_fields = ["slug", "name"]
    readonly_fields = [
        "created_at",
        "last_experiment_number",
        "usage_storage_bytes",
        "usage_models",
        "usage_max_versions_in_a_model",
    ]
    fields = [
        "slug",
        "name",
        "status",
        "quota_storage_bytes",
        "quota_models",
        "quota_versions_per_model",
        "usage_storage_bytes",
        "usage_models",
        "usage_max_versions_in_a_model",
        "members_read_all",
        "protected_aliases",
        "last_experiment_number",
        "created_at",
    ]
    inlines = [MembershipInline]
    actions = ["suspend", "activate"]

    def get_readonly_fields(self, request, obj=None):
        # Status changes go through the suspend/activate actions; the slug is part of every URL and never changes.
        ro = list(self.readonly_fields)
        return ro + ["slug", "status"] if obj else ro + ["status"]

    # Usage (what is referenced, as the quotas count it): read-only, computed per page view.
    @admin.display(description="Storage used (bytes)")
    def usage_storage_bytes(self, obj):
        return _usage(obj)["storage_bytes"] if obj and obj.pk else "-"

    @admin.display(description="Models")
    def usage_models(self, obj):
        return _usage(obj)["models"] if obj and obj.pk else "-"

    @admin.display(description="Most versions in one model")
    def usage_max_versions_in_a_model(self, obj):
        return _usage(obj)["max_versions_in_a_model"] if obj and obj.pk else "-"

    def has_delete_permission(self, request, obj=None):
        # Deleting a tenant would take its audit log with it: suspend it instead.
        return False

    # Creating tenants, their quotas and suspension are platform decisions: a tenant admin only views their own.
    def has_add_permission(self, request, *args):
        return is_superuser(request.user) and super().has_add_permission(request, *args)

    def has_change_permission(self, request, obj=None):
        return is_superuser(request.user) and super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change):
        changes = {f: form.cleaned_data[f] for f in form.changed_data if f in services.TENANT_UPDATABLE}
        if change:
            saved = services.tenant_update(tenant=obj, actor=request.user, **changes)
        else:
            saved = services.tenant_create(
                slug=obj.slug,
                name=obj.name,
                actor=request.user,
                quota_storage_bytes=obj.quota_storage_bytes,
                quota_models=obj.quota_models,
                quota_versions_per_model=obj.quota_versions_per_model,
            )
            rest = {f: v for f, v in changes.items() if f in ("members_read_all", "protected_aliases")}
            if rest:
                saved = services.tenant_update(tenant=saved, actor=request.user, **rest)
        obj.pk = saved.pk
        obj.refresh_from_db()

    def save_formset(self, request, form, formset, change):
        save_membership_formset(request, form.instance, formset)

    @admin.action(description="Suspend selected tenants", permissions=["change"])
    def suspend(self, request, queryset):
        for tenant in queryset:
            services.tenant_set_status(tenant=tenant, status=Tenant.Status.SUSPENDED, actor=request.user)
        messages.success(request, f"Suspended {queryset.count()} tenant(s).")

    @admin.action(description="Reactivate selected tenants", permissions=["change"])
    def activate(self, request, queryset):
        for tenant in queryset:
            services.tenant_set_status(tenant=tenant, status=Tenant.Status.ACTIVE, actor=request.user)
        messages.success(request, f"Reactivated {queryset.count()} tenant(s).")


class TeamMembershipInline(TenantScoped, admin.TabularInline):
    model = TeamMembership
    form = ExistingRowsKeepTheirUser
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Team)
class TeamAdmin(TenantScoped, ServiceAdmin):
    list_display = ["slug", "name", "tenant"]
    list_filter = ["tenant"]
    search_fields = ["slug", "name", "tenant__slug"]
    fields = ["tenant", "slug", "name", "group"]
    inlines = [TeamMembershipInline]

    def get_readonly_fields(self, request, obj=None):
        return ["group", "tenant", "slug"] if obj else ["group"]

    def has_delete_permission(self, request, obj=None):
        # Teams own models and carry grants; deleting one would orphan both.
        return False

    def save_model(self, request, obj, form, change):
        if change:
            saved = services.team_update(team=obj, name=obj.name, actor=request.user)
        else:
            saved = services.team_create(tenant=obj.tenant, slug=obj.slug, name=obj.name, actor=request.user)
        obj.pk = saved.pk
        obj.refresh_from_db()

    def save_formset(self, request, form, formset, change):
        team = form.instance
        formset.save(commit=False)
        for tm in formset.deleted_objects:
            services.team_member_remove(team=team, user=tm.user, actor=request.user)
        for tm in formset.new_objects + [obj for obj, _fields in formset.changed_objects]:
            services.team_member_add(team=team, user=tm.user, role=tm.role, actor=request.user)


@admin.register(Membership)
class MembershipAdmin(TenantScoped, ServiceAdmin):
    list_display = ["user", "tenant", "role", "created_at"]
    list_filter = ["tenant", "role"]
    search_fields = ["user__username", "tenant__slug"]
    autocomplete_fields = ["user"]
    fields = ["tenant", "user", "role", "created_at"]

    def get_readonly_fields(self, request, obj=None):
        return ["tenant", "user", "created_at"] if obj else ["created_at"]

    def save_model(self, request, obj, form, change):
        saved = services.membership_set(tenant=obj.tenant, user=obj.user, role=obj.role, actor=request.user)
        obj.pk = saved.pk

    def delete_model(self, request, obj):
        services.membership_remove(tenant=obj.tenant, user=obj.user, actor=request.user)

    def delete_queryset(self, request, queryset):
        for membership in queryset.select_related("tenant", "user"):
            services.membership_remove(tenant=membership.tenant, user=membership.user, actor=request.user)
