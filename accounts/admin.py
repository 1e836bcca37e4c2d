"""Admin for platform admins: users, service accounts (read-only: creating one shows a secret once, so it is a
command) and API tokens (inspect and revoke; the secret is never stored, so it can never be shown)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from tenants.admin import ServiceAdmin

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
    fields = readonly_fields = (
        "name",
        "user",
        "tenant",
        "team",
        "role",
        "created_at",
        "tokens",
    )
    actions = ["revoke_tokens"]

    def has_add_permission(self, request):
        # Creating one issues a secret that must be shown once: use `manage.py create_service_account`.
        return False

    def has_change_permission(self, request, obj=None):
        # The role lives in the tenant membership (change it there); the rest never changes.
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Tokens")
    def tokens(self, obj: ServiceAccount) -> str:
        rows = ApiToken.objects.filter(user=obj.user).order_by("-created_at")
        return (
            ", ".join(
                f"{t.prefix}… ({'revoked' if t.is_revoked else 'expired' if t.is_expired else 'active'})"
                for t in rows
            )
            or "none"
        )

    @admin.action(description="Revoke every token of the selected service accounts", permissions=["view"])
    def revoke_tokens(self, request, queryset):
        count = 0
        for token in ApiToken.objects.filter(user__service_account__in=queryset, revoked_at__isnull=True):
            services.token_revoke(token=token, actor=request.user)
            count += 1
        messages.success(request, f"Revoked {count} token(s).")


@admin.register(ApiToken)
class ApiTokenAdmin(ServiceAdmin):
    """Tokens can be inspected and revoked. Only the visible prefix is shown: the hash is never displayed either."""

    list_display = ["prefix", "user", "tenant", "name", "scopes", "expires_at", "revoked_at", "last_used_at"]
    list_filter = ["tenant", "revoked_at"]
    search_fields = ["prefix", "user__username", "name"]
    fields = readonly_fields = (
        "prefix",
        "user",
        "tenant",
        "name",
        "scopes",
        "created_at",
        "expires_at",
        "revoked_at",
        "last_used_at",
    )
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        # Revoke instead: a revoked token answers "revoked", and its row stays for the record.
        return False

    @admin.action(description="Revoke selected tokens", permissions=["view"])
    def revoke(self, request, queryset):
        for token in queryset:
            services.token_revoke(token=token, actor=request.user)
        messages.success(request, f"Revoked {queryset.count()} token(s).")
