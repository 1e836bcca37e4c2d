"""Django admin for the registry, for platform admins and tenant admins (each in their own tenants only:
`tenants.admin_scope.TenantScoped`).

Registered models, versions, aliases, tags, files, transition requests and the audit log are READ-ONLY here, for
superusers too: registry changes happen through the APIs and the web pages, where the gates, approvals, quotas and
permissions apply. What stays editable is configuration: transition policies and their gates (here) and webhooks
(`registry/webhooks/admin.py`), each saved through its service as a tenant admin of the object's tenant
(`admin_principal`), so it is validated, locked and audited like any API write; a refused change is a message."""

from __future__ import annotations

from django import forms
from django.contrib import admin

from tenants.admin import ServiceAdmin
from tenants.admin_scope import TenantScoped, admin_principal

from . import services
from .models import (
    AuditEvent,
    ModelAlias,
    ModelVersion,
    ModelVersionFile,
    RegisteredModel,
    RegisteredModelTag,
    TransitionPolicy,
    TransitionRequest,
    TransitionRequestEvent,
)


class ReadOnly(TenantScoped):
    """View only, for everyone: no add, change or delete (and so no actions that need them)."""

    def has_add_permission(self, request, *args):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(ReadOnly, admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True


class TagInline(ReadOnlyInline):
    model = RegisteredModelTag
    fields = readonly_fields = ("key", "value")
    show_change_link = False


class VersionInline(ReadOnlyInline):
    model = ModelVersion
    fields = readonly_fields = (
        "version",
        "status",
        "stage",
        "source",
        "manifest_sha256",
    )


class AliasInline(ReadOnlyInline):
    model = ModelAlias
    fields = readonly_fields = (
        "alias",
        "version",
        "updated_by",
        "updated_at",
    )


@admin.register(RegisteredModel)
class RegisteredModelAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["name", "tenant", "owner_team", "last_version", "created_by"]
    list_filter = ["tenant"]
    search_fields = ["name", "tenant__slug", "owner_team__slug"]
    fields = readonly_fields = (
        "tenant",
        "name",
        "description",
        "owner_team",
        "created_by",
        "last_version",
        "creation_timestamp",
        "last_updated_timestamp",
    )
    inlines = [TagInline, VersionInline, AliasInline]
    list_select_related = ["tenant", "owner_team", "created_by"]
    ordering = ["tenant__slug", "name"]


class FileInline(ReadOnlyInline):
    model = ModelVersionFile
    fields = readonly_fields = (
        "path",
        "size",
        "sha256",
    )
    show_change_link = False


@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["model", "version", "status", "stage", "run_id", "user_label"]
    list_filter = ["status", "stage", "model__tenant"]
    search_fields = ["model__name", "run_id", "source"]
    list_select_related = ["model", "model__tenant"]
    fields = readonly_fields = (
        "model",
        "version",
        "status",
        "stage",
        "description",
        "status_message",
        "source",
        "source_path",
        "run_id",
        "logged_model",
        "run_link",
        "created_by",
        "manifest_sha256",
        "creation_timestamp",
        "last_updated_timestamp",
    )
    inlines = [FileInline]


@admin.register(ModelAlias)
class ModelAliasAdmin(ReadOnly, admin.ModelAdmin):
    list_display = ["alias", "model", "version", "updated_by", "updated_at"]
    list_filter = ["model__tenant"]
    search_fields = ["alias", "model__name"]
    list_select_related = ["model", "version", "updated_by"]
    fields = readonly_fields = ("model", "alias", "version", "updated_by", "updated_at")


# --- governance: transition policies (edited through the services) and requests (read-only) ----------------------


class TransitionPolicyForm(forms.ModelForm):
    class Meta:
        model = TransitionPolicy
        fields = ["model", "stage", "requires_approval", "approvals_required", "gate"]
        help_texts = {
            "gate": 'Optional, e.g. {"metric": "auc", "op": ">=", "compare_to": "Production", "min_delta": 0.005}.',
        }


@admin.register(TransitionPolicy)
class TransitionPolicyAdmin(TenantScoped, ServiceAdmin):
    """Who may move a model's versions into a stage, and the standing gate. Saved by `transition_policy_set`, which
    validates the gate strictly and audits the change."""

    form = TransitionPolicyForm
    list_display = ["model", "stage", "requires_approval", "approvals_required", "updated_by", "updated_at"]
    list_filter = ["stage", "model__tenant"]
    search_fields = ["model__name"]
    list_select_related = ["model", "updated_by"]
    autocomplete_fields = ["model"]

    def get_readonly_fields(self, request, obj=None):
        return ["model", "stage", "updated_by", "updated_at"] if obj else ["updated_by", "updated_at"]

    def save_model(self, request, obj, form, change):
        model = RegisteredModel.objects.select_related("tenant").get(pk=obj.model_id)
        data = form.cleaned_data
        saved = services.transition_policy_set(
            principal=admin_principal(request, model.tenant),
            model=model,
            stage=obj.stage,
            requires_approval=data["requires_approval"],
            approvals_required=data["approvals_required"],
            gate=data.get("gate"),
        )
        obj.pk = saved.pk
        obj.refresh_from_db()

    def delete_model(self, request, obj):
        model = RegisteredModel.objects.select_related("tenant").get(pk=obj.model_id)
        services.transition_policy_delete(
            principal=admin_principal(request, model.tenant), model=model, stage=obj.stage
        )

    def delete_queryset(self, request, queryset):
        for policy in queryset.select_related("model__tenant"):
            services.transition_policy_delete(
                principal=admin_principal(request, policy.model.tenant),
                model=policy.model,
                stage=policy.stage,
            )


class RequestHistoryInline(ReadOnlyInline):
    model = TransitionRequestEvent
    fields = readonly_fields = ("created_at", "kind", "actor_name", "comment", "details")
    show_change_link = False


@admin.register(TransitionRequest)
class TransitionRequestAdmin(ReadOnly, admin.ModelAdmin):
    """Read-only: requests are decided through the API and the pages by the model's approvers."""

    list_display = ["pk", "model", "version", "stage", "status", "requester_name", "created_at"]
    list_filter = ["status", "stage", "tenant"]
    search_fields = ["model__name", "requester_name"]
    list_select_related = ["model", "version"]
    inlines = [RequestHistoryInline]


# --- the audit log: read-only (append-only in the database too) -------------------------


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnly, admin.ModelAdmin):
    """The hash-chained log, to search and read. Never added, changed or deleted here: that would break the chain
    (and the database's append-only trigger refuses it anyway)."""

    list_display = [
        "seq",
        "tenant",
        "created_at",
        "actor_name",
        "action",
        "object_type",
        "object_repr",
        "version",
    ]
    list_filter = ["tenant", "action", "object_type", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["actor_name", "action", "object_repr", "object_id"]
    list_select_related = ["tenant"]
    date_hierarchy = "created_at"
    fields = readonly_fields = (
        "tenant",
        "seq",
        "created_at",
        "actor_id",
        "actor_name",
        "action",
        "object_type",
        "object_id",
        "object_repr",
        "model_id",
        "version",
        "before",
        "after",
        "prev_hash",
        "hash",
        "hash_version",
    )


# Webhooks: their admin lives with them; importing it here registers it (admin autodiscovery imports this module).
from .webhooks import admin as _webhooks_admin  # noqa: E402, F401
