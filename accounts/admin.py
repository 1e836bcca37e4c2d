"""Admin for platform admins: users, service accounts (read-only: creating one shows a secret once, so it is a
command) and API tokens (inspect and revoke; the secret is never stored, so it can never be shown)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from tenants.access import is_platform_admin
from tenants.admin import ServiceAdmin
from tenants.models import Membership, Role

from . import services
from .models import ApiToken, ServiceAccount, User


def may_revoke(request) -> bool:
    """Revoking changes a token: the action needs Django's `change` permission on tokens, never just `view`."""
    return request.user.has_perm("accounts.change_apitoken")


def tokens_in_reach(request, tokens):
    """Only platform admins (superusers) act across tenants; other staff only on tokens of tenants they administer."""
    if is_platform_admin(request.user, None):
        return tokens
    admin_of = Membership.objects.filter(user=request.user, role=Role.ADMIN).values("tenant_id")
    return tokens.filter(tenant_id__in=admin_of)


def revoke_all(modeladmin, request, tokens) -> None:
    reachable = tokens_in_reach(request, tokens)
    refused = tokens.count() - reachable.count()
    count = 0
    for token in reachable:
        services.token_revoke(token=token, actor=request.user)
        count += 1
    if refused:
        modeladmin.message_user(
            request, f"Refused {refused} token(s) of tenants you do not administer.", level=messages.ERROR
        )
    modeladmin.message_user(request, f"Revoked {count} token(s).", level=messages.SUCCESS)


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

    def has_revoke_permission(self, request) -> bool:
        return may_revoke(request)

    @admin.action(description="Revoke every token of the selected service accounts", permissions=["revoke"])
    def revoke_tokens(self, request, queryset):
        tokens = ApiToken.objects.filter(user__service_account__in=queryset, revoked_at__isnull=True)
        revoke_all(self, request, tokens)


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

    def has_revoke_permission(self, request) -> bool:
        return may_revoke(request)

    @admin.action(description="Revoke selected tokens", permissions=["revoke"])
    def revoke(self, request, queryset):
        revoke_all(self, request, queryset)
