"""Django admin for platform admins: registered models (with tags), versions (status and manifest read-only) and
aliases. Every change goes through `registry.services` as a tenant admin of the object's tenant, so it is
validated, locked and audited like any API write; a refused change is shown as a message.

Only superusers (platform admins) see the registry here: the principal built for the admin user is a tenant admin,
which is exactly a platform admin's power, and would be an escalation for anyone else."""

from __future__ import annotations

from django import forms
from django.contrib import admin

from tenants.access import is_platform_admin, platform_admin_principal
from tenants.admin import ServiceAdmin

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


def _principal(request, tenant):
    return platform_admin_principal(user=request.user, tenant=tenant)


class PlatformAdminOnly:
    """Hide the registry from staff who are not platform admins."""

    def has_module_permission(self, request):
        return is_platform_admin(request.user, None)

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def has_add_permission(self, request, *args):
        return self.has_module_permission(request)

    def has_change_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def has_delete_permission(self, request, obj=None):
        return self.has_module_permission(request)


class ReadOnlyInline(PlatformAdminOnly, admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class TagInline(PlatformAdminOnly, admin.TabularInline):
    model = RegisteredModelTag
    extra = 0
    fields = ["key", "value"]

    def get_readonly_fields(self, request, obj=None):
        return ["key"] if obj else []


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
class RegisteredModelAdmin(PlatformAdminOnly, ServiceAdmin):
    list_display = ["name", "tenant", "owner_team", "last_version", "created_by"]
    list_filter = ["tenant"]
    search_fields = ["name", "tenant__slug", "owner_team__slug"]
    fields = [
        "tenant",
        "name",
        "description",
        "owner_team",
        "created_by",
        "last_version",
        "creation_timestamp",
        "last_updated_timestamp",
    ]
    inlines = [TagInline, VersionInline, AliasInline]
    list_select_related = ["tenant", "owner_team", "created_by"]

    def get_readonly_fields(self, request, obj=None):
        ro = ["created_by", "last_version", "creation_timestamp", "last_updated_timestamp"]
        return ro + ["tenant"] if obj else ro

    def save_model(self, request, obj, form, change):
        if not change:
            saved = services.registered_model_create(
                principal=_principal(request, obj.tenant),
                name=obj.name,
                description=obj.description,
                owner_team=obj.owner_team,
            )
            obj.pk = saved.pk
            obj.refresh_from_db()
            return
        p = _principal(request, obj.tenant)
        data = form.cleaned_data
        if "name" in form.changed_data:
            services.registered_model_rename(principal=p, model=obj, new_name=data["name"])
        if "description" in form.changed_data:
            services.registered_model_update(principal=p, model=obj, description=data["description"])
        if "owner_team" in form.changed_data:
            services.registered_model_set_owner(principal=p, model=obj, team=data["owner_team"])
        obj.refresh_from_db()

    def save_formset(self, request, form, formset, change):
        model = form.instance
        p = _principal(request, model.tenant)
        formset.save(commit=False)
        for tag in formset.deleted_objects:
            services.registered_model_delete_tag(principal=p, model=model, key=tag.key)
        for tag in formset.new_objects + [obj for obj, _fields in formset.changed_objects]:
            services.registered_model_set_tag(principal=p, model=model, key=tag.key, value=tag.value)

    def delete_model(self, request, obj):
        services.registered_model_delete(principal=_principal(request, obj.tenant), model=obj)

    def delete_queryset(self, request, queryset):
        for model in queryset.select_related("tenant"):
            services.registered_model_delete(principal=_principal(request, model.tenant), model=model)


class FileInline(ReadOnlyInline):
    model = ModelVersionFile
    fields = readonly_fields = (
        "path",
        "size",
        "sha256",
    )
    show_change_link = False


class VersionForm(forms.ModelForm):
    archive_existing_versions = forms.BooleanField(
        required=False, help_text="When moving to Staging or Production, archive the versions already there."
    )

    class Meta:
        model = ModelVersion
        fields = ["description", "stage"]


@admin.register(ModelVersion)
class ModelVersionAdmin(PlatformAdminOnly, ServiceAdmin):
    form = VersionForm
    list_display = ["model", "version", "status", "stage", "run_id", "user_label"]
    list_filter = ["status", "stage", "model__tenant"]
    search_fields = ["model__name", "run_id", "source"]
    list_select_related = ["model", "model__tenant"]
    readonly_fields = (
        "model",
        "version",
        "status",
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
    fields = (*readonly_fields[:3], "stage", "archive_existing_versions", "description", *readonly_fields[3:])
    inlines = [FileInline]

    def has_add_permission(self, request, *args):
        return False  # versions are registered from runs and logged models, through the APIs

    def save_model(self, request, obj, form, change):
        model = RegisteredModel.objects.select_related("tenant").get(pk=obj.model_id)
        p = _principal(request, model.tenant)
        obj.model = model
        if "description" in form.changed_data:
            services.model_version_update(
                principal=p, version=obj, description=form.cleaned_data["description"]
            )
        if "stage" in form.changed_data or form.cleaned_data.get("archive_existing_versions"):
            services.model_version_transition_stage(
                principal=p,
                version=obj,
                stage=form.cleaned_data["stage"],
                archive_existing_versions=form.cleaned_data.get("archive_existing_versions", False),
                comment="via admin",
            )
        obj.refresh_from_db()

    def save_formset(self, request, form, formset, change):
        # The manifest is read-only: save nothing, but leave what the admin's change message reads.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []

    def delete_model(self, request, obj):
        services.model_version_delete(principal=_principal(request, obj.model.tenant), version=obj)

    def delete_queryset(self, request, queryset):
        for version in queryset.select_related("model__tenant"):
            services.model_version_delete(
                principal=_principal(request, version.model.tenant), version=version
            )


class AliasForm(forms.ModelForm):
    version_number = forms.IntegerField(min_value=1, label="Version")

    class Meta:
        model = ModelAlias
        fields = ["model", "alias"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["version_number"].initial = self.instance.version.version


@admin.register(ModelAlias)
class ModelAliasAdmin(PlatformAdminOnly, ServiceAdmin):
    form = AliasForm
    list_display = ["alias", "model", "version", "updated_by", "updated_at"]
    list_filter = ["model__tenant"]
    search_fields = ["alias", "model__name"]
    list_select_related = ["model", "version", "updated_by"]
    autocomplete_fields = ["model"]

    def get_fields(self, request, obj=None):
        return ["model", "alias", "version_number", "updated_by", "updated_at"]

    def get_readonly_fields(self, request, obj=None):
        return ["model", "alias", "updated_by", "updated_at"] if obj else ["updated_by", "updated_at"]

    def save_model(self, request, obj, form, change):
        model = RegisteredModel.objects.select_related("tenant").get(pk=obj.model_id)
        saved = services.alias_set(
            principal=_principal(request, model.tenant),
            model=model,
            alias=obj.alias,
            version=form.cleaned_data["version_number"],
        )
        obj.pk = saved.pk
        obj.refresh_from_db()

    def delete_model(self, request, obj):
        model = RegisteredModel.objects.select_related("tenant").get(pk=obj.model_id)
        services.alias_delete(principal=_principal(request, model.tenant), model=model, alias=obj.alias)

    def delete_queryset(self, request, queryset):
        for alias in queryset.select_related("model__tenant"):
            services.alias_delete(
                principal=_principal(request, alias.model.tenant), model=alias.model, alias=alias.alias
            )


# Webhooks: their admin lives with them; importing it here registers it (admin autodiscovery imports this module).
from .webhooks import admin as _webhooks_admin  # noqa: E402, F401

# --- governance: transition policies (edited through the services) and requests (read-only) ----------------------


class TransitionPolicyForm(forms.ModelForm):
    class Meta:
        model = TransitionPolicy
        fields = ["model", "stage", "requires_approval", "approvals_required", "gate"]
        help_texts = {
            "gate": 'Optional, e.g. {"metric": "auc", "op": ">=", "compare_to": "Production", "min_delta": 0.005}.',
        }


@admin.register(TransitionPolicy)
class TransitionPolicyAdmin(PlatformAdminOnly, ServiceAdmin):
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
            principal=_principal(request, model.tenant),
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
            principal=_principal(request, model.tenant), model=model, stage=obj.stage
        )

    def delete_queryset(self, request, queryset):
        for policy in queryset.select_related("model__tenant"):
            services.transition_policy_delete(
                principal=_principal(request, policy.model.tenant), model=policy.model, stage=policy.stage
            )


class RequestHistoryInline(ReadOnlyInline):
    model = TransitionRequestEvent
    fields = readonly_fields = ("created_at", "kind", "actor_name", "comment", "details")
    show_change_link = False


@admin.register(TransitionRequest)
class TransitionRequestAdmin(PlatformAdminOnly, admin.ModelAdmin):
    """Read-only: requests are decided through the API by the model's approvers, not by platform admins."""

    list_display = ["pk", "model", "version", "stage", "status", "requester_name", "created_at"]
    list_filter = ["status", "stage", "tenant"]
    search_fields = ["model__name", "requester_name"]
    list_select_related = ["model", "version"]
    inlines = [RequestHistoryInline]

    def has_add_permission(self, request, *args):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- the audit log: read-only, platform admins only (append-only in the database too) -------------------------


@admin.register(AuditEvent)
class AuditEventAdmin(PlatformAdminOnly, admin.ModelAdmin):
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

    def has_add_permission(self, request, *args):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
