from __future__ import annotations

from django.contrib import admin, messages

from . import services
from .models import Membership, Team, TeamMembership, Tenant


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "status", "quota_storage_bytes", "quota_models", "created_at"]
    list_filter = ["status"]
    search_fields = ["slug", "name"]
    readonly_fields = ["created_at", "last_experiment_number"]
    fields = ["slug", "name", "status", "quota_storage_bytes", "quota_models", "members_read_all",
              "protected_aliases", "last_experiment_number", "created_at"]
    inlines = [MembershipInline]
    actions = ["suspend", "activate"]

    def get_readonly_fields(self, request, obj=None):
        # Status changes go through the service (audited); the slug is part of every URL and never changes.
        ro = list(self.readonly_fields)
        return ro + ["slug", "status"] if obj else ro + ["status"]

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        created = services.tenant_create(
            slug=obj.slug, name=obj.name, actor=request.user,
            quota_storage_bytes=obj.quota_storage_bytes, quota_models=obj.quota_models,
        )
        obj.pk = created.pk
        obj.refresh_from_db()

    @admin.action(description="Suspend selected tenants")
    def suspend(self, request, queryset):
        for tenant in queryset:
            services.tenant_set_status(tenant=tenant, status=Tenant.Status.SUSPENDED, actor=request.user)
        messages.success(request, f"Suspended {queryset.count()} tenant(s).")

    @admin.action(description="Reactivate selected tenants")
    def activate(self, request, queryset):
        for tenant in queryset:
            services.tenant_set_status(tenant=tenant, status=Tenant.Status.ACTIVE, actor=request.user)
        messages.success(request, f"Reactivated {queryset.count()} tenant(s).")


class TeamMembershipInline(admin.TabularInline):
    model = TeamMembership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "tenant"]
    list_filter = ["tenant"]
    search_fields = ["slug", "name", "tenant__slug"]
    readonly_fields = ["group"]
    inlines = [TeamMembershipInline]

    def get_readonly_fields(self, request, obj=None):
        return ["group", "tenant", "slug"] if obj else ["group"]

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        created = services.team_create(tenant=obj.tenant, slug=obj.slug, name=obj.name, actor=request.user)
        obj.pk = created.pk
        obj.refresh_from_db()


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "tenant", "role", "created_at"]
    list_filter = ["tenant", "role"]
    search_fields = ["user__username", "tenant__slug"]
    autocomplete_fields = ["user"]
