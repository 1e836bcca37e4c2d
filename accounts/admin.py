from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from . import services
from .models import ApiToken, ServiceAccount, User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ["username", "email", "is_staff", "is_superuser", "is_active"]


@admin.register(ServiceAccount)
class ServiceAccountAdmin(admin.ModelAdmin):
    list_display = ["name", "tenant", "team", "role", "created_at"]
    list_filter = ["tenant", "role"]
    search_fields = ["name", "tenant__slug"]
    readonly_fields = ["user", "tenant", "name", "created_at"]

    def has_add_permission(self, request):
        # Creating one issues a secret that must be shown once: use `manage.py create_service_account`.
        return False


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens can be inspected and revoked; the secret is never stored, so it can never be shown."""

    list_display = ["prefix", "user", "tenant", "name", "scopes", "expires_at", "revoked_at", "last_used_at"]
    list_filter = ["tenant", "revoked_at"]
    search_fields = ["prefix", "user__username", "name"]
    fields = ["prefix", "user", "tenant", "name", "scopes", "created_at", "expires_at", "revoked_at", "last_used_at"]
    readonly_fields = fields
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.action(description="Revoke selected tokens", permissions=["view"])
    def revoke(self, request, queryset):
        for token in queryset:
            services.token_revoke(token=token, actor=request.user)
        messages.success(request, f"Revoked {queryset.count()} token(s).")
