"""Admin for platform admins and tenant admins: users (platform admins change them through the audited services in
`accounts.user_changes`; tenant admins see the members of their tenants, read-only), service accounts (read-only:
creating one shows a secret once, so it is a command or the tenant settings page) and API tokens (inspect and
revoke; the secret is never stored, so it can never be shown). Tenant admins see and act only in their own tenants
(`tenants.admin_scope.TenantScoped`)."""

from __future__ import annotations

from contextvars import ContextVar

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm
from django.http import HttpResponseRedirect

from config.errors import ModelgateError
from tenants.admin import ServiceAdmin
from tenants.admin_scope import TenantScoped, is_superuser, scope_queryset

from . import services
from .models import ApiToken, ServiceAccount, User

# Who is changing a password: Django's password view builds the form without the request, and the audit needs the
# actor. A context variable is per thread and per task, so concurrent requests never see each other's.
_password_actor: ContextVar[User | None] = ContextVar("password_actor", default=None)


def may_revoke(request) -> bool:
    """Revoking changes a token: the action needs Django's `change` permission on tokens, never just `view`."""
    return request.user.has_perm("accounts.change_apitoken")


def tokens_in_reach(request, tokens):
    """Only platform admins (superusers) act across tenants; other staff only on tokens of tenants they administer.
    (The admins' querysets are scoped already; this is the same rule applied to tokens reached through another
    object, such as a service account.)"""
    return scope_queryset(tokens, request, "tenant")


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


class ServicePasswordForm(AdminPasswordChangeForm):
    """Django's password form, saved by `user_set_password` (audited) instead of `user.save()`."""

    def save(self, commit=True):
        password = (
            self.cleaned_data["password1"] if self.cleaned_data.get("set_usable_password", True) else None
        )
        self.user = services.user_set_password(user=self.user, password=password, actor=_password_actor.get())
        return self.user


@admin.register(User)
class UserAdmin(TenantScoped, ServiceAdmin, DjangoUserAdmin):
    """Platform admins change users here, every change through `user_update` / `user_set_password` (audited).
    Tenant admins (with `accounts.view_user`) see the members of their tenants, read-only: they change what a user
    may do in their tenant through memberships and teams. Nobody adds or deletes users here: people join a tenant
    with `manage.py create_user` (or its settings page), and a user who leaves is deactivated, which keeps their
    name on the audit log."""

    list_display = ["username", "email", "is_staff", "is_superuser", "is_active"]
    change_password_form = ServicePasswordForm
    filter_horizontal = ("groups", "user_permissions")

    def get_fieldsets(self, request, obj=None):
        if not is_superuser(request.user):
            return [
                (
                    None,
                    {"fields": ("username", "first_name", "last_name", "email", "is_active", "last_login")},
                )
            ]
        return [
            (None, {"fields": ("username", "password")}),
            ("Personal info", {"fields": ("first_name", "last_name", "email")}),
            (
                "Permissions",
                {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
            ),
            ("Important dates", {"fields": ("last_login", "date_joined")}),
        ]

    def get_readonly_fields(self, request, obj=None):
        # The username is in every audit event and token label: it never changes.
        return ["username", "last_login", "date_joined"]

    def has_add_permission(self, request, *args):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        # Flags, groups and permissions are platform power: only superusers change users.
        return is_superuser(request.user) and super().has_change_permission(request, obj)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        changed = set(form.changed_data)
        services.user_update(
            user=obj,
            actor=request.user,
            groups=data["groups"] if "groups" in changed else None,
            user_permissions=data["user_permissions"] if "user_permissions" in changed else None,
            **{f: data[f] for f in changed if f in services.USER_UPDATABLE},
        )
        obj.refresh_from_db()

    def save_related(self, request, form, formsets, change):
        # Groups and permissions were set by `user_update`; the form must not write them again.
        pass

    def user_change_password(self, request, id, form_url=""):
        token = _password_actor.set(request.user)
        try:
            return super().user_change_password(request, id, form_url)
        except ModelgateError as exc:
            self.message_user(request, exc.message, level=messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())
        finally:
            _password_actor.reset(token)


@admin.register(ServiceAccount)
class ServiceAccountAdmin(TenantScoped, admin.ModelAdmin):
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
class ApiTokenAdmin(TenantScoped, ServiceAdmin):
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


# --- third-party admins: superusers only ---------------------------------------------------------------------------
# Django's groups (and with them permissions) and django-axes' sign-in records are not tenant data: a staff user who
# edits groups could grant themselves anything, and sign-in records name people of every tenant. Whatever Django
# permissions a staff user holds, only superusers use these pages. (Their apps come before this one in
# INSTALLED_APPS, so they are registered by now.)
def _superusers_only(model_admin: admin.ModelAdmin) -> None:
    def only_superusers(request, *args, **kwargs) -> bool:
        return is_superuser(request.user)

    for check in (
        "has_module_permission",
        "has_view_permission",
        "has_add_permission",
        "has_change_permission",
        "has_delete_permission",
    ):
        setattr(model_admin, check, only_superusers)


for _model, _model_admin in list(admin.site._registry.items()):
    if _model._meta.app_label in ("auth", "axes"):
        _superusers_only(_model_admin)
