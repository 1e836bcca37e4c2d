"""The model registry: registered models, versions (with their immutable file manifests), tags, aliases; the
audit log."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from tenants.models import TenantOwnedQuerySet

from .permissions_levels import LEVEL_PERMISSIONS


class RegisteredModel(models.Model):
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="registered_models")
    name = models.CharField(max_length=256)
    description = models.TextField(blank=True)
    owner_team = models.ForeignKey(
        "tenants.Team", on_delete=models.SET_NULL, null=True, blank=True, related_name="registered_models"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Version counter: bumped only under this row's lock (never MAX()+1), so numbers are never reused or raced.
    last_version = models.IntegerField(default=0)
    creation_timestamp = models.BigIntegerField()
    last_updated_timestamp = models.BigIntegerField()

    objects = TenantOwnedQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="registeredmodel_unique_name")]
        permissions = LEVEL_PERMISSIONS["registeredmodel"]

    def __str__(self) -> str:
        return self.name


class RegisteredModelUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE)


class RegisteredModelGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE)


class RegisteredModelTag(models.Model):
    model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE, related_name="tags")
    key = models.CharField(max_length=250)
    value = models.TextField(blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["model", "key"], name="registeredmodeltag_unique_key")]
        # Tag search; PostgreSQL also has a hash index on `value` (migration 0009_read_path_indexes says why).
        indexes = [models.Index(fields=["key"], name="registeredmodeltag_key")]


class Stage(models.TextChoices):
    NONE = "None"
    STAGING = "Staging"
    PRODUCTION = "Production"
    ARCHIVED = "Archived"


class VersionStatus(models.TextChoices):
    PENDING_REGISTRATION = "PENDING_REGISTRATION"
    READY = "READY"
    FAILED_REGISTRATION = "FAILED_REGISTRATION"


class ModelVersion(models.Model):
    model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE, related_name="versions")
    version = models.IntegerField()
    status = models.CharField(
        max_length=32, choices=VersionStatus.choices, default=VersionStatus.PENDING_REGISTRATION
    )
    status_message = models.TextField(blank=True)
    stage = models.CharField(max_length=16, choices=Stage.choices, default=Stage.NONE)
    description = models.TextField(blank=True)
    source = models.CharField(max_length=1000)
    # The tenant-relative artifact path the worker snapshots from (e.g. `1/models/m-…/artifacts`).
    source_path = models.CharField(max_length=1024, blank=True)
    run_id = models.CharField(max_length=32, blank=True)
    source_run = models.ForeignKey(
        "tracking.Run", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    logged_model = models.ForeignKey(
        "tracking.LoggedModel", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    run_link = models.CharField(max_length=1000, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    user_label = models.CharField(max_length=256, blank=True)
    # SHA-256 over the canonical manifest (sorted path, size, sha256); set when READY.
    manifest_sha256 = models.CharField(max_length=64, blank=True)
    creation_timestamp = models.BigIntegerField()
    last_updated_timestamp = models.BigIntegerField()
    # When `requeue_pending_registrations` last re-sent the registration task (its claim); None: only the
    # enqueue at creation (see creation_timestamp).
    enqueued_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["model", "version"], name="modelversion_unique_number")
        ]
        # (model, stage, version DESC): the newest version per stage is one index probe (`registry.latest`);
        # it also serves every (model, stage) lookup the former (model, stage) index served.
        indexes = [models.Index(fields=["model", "stage", "-version"], name="mv_model_stage_version")]

    def __str__(self) -> str:
        return f"{self.model_id} v{self.version}"


class ModelVersionTag(models.Model):
    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="tags")
    key = models.CharField(max_length=250)
    value = models.TextField(blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["version", "key"], name="modelversiontag_unique_key")]
        # Tag search; PostgreSQL also has a hash index on `value` (migration 0009_read_path_indexes says why).
        indexes = [models.Index(fields=["key"], name="modelversiontag_key")]


class ModelVersionFile(models.Model):
    """One file of a version's immutable snapshot."""

    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="files")
    path = models.CharField(max_length=1024)
    blob = models.ForeignKey("tracking.Blob", on_delete=models.PROTECT, related_name="+")
    sha256 = models.CharField(max_length=64)
    size = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["version", "path"], name="modelversionfile_unique_path")
        ]


class ModelAlias(models.Model):
    model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE, related_name="aliases")
    alias = models.CharField(max_length=255)
    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="aliases")
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["model", "alias"], name="modelalias_unique_alias")]
        verbose_name_plural = "model aliases"


class AuditChainHead(models.Model):
    """The newest audit event of a tenant; one `UPDATE … RETURNING` on this row allocates the next sequence number
    under its row lock, so sequence numbers have no gaps or duplicates (see `registry.audit.chain`)."""

    tenant = models.OneToOneField("tenants.Tenant", on_delete=models.CASCADE, related_name="audit_head")
    last_seq = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default="0" * 64)
    # Scratch for the one-statement append (registry.audit.chain): the hash the latest append replaced, which is how
    # an UPDATE's RETURNING hands back the old value. Nothing reads it otherwise.
    prev_hash = models.CharField(max_length=64, default="0" * 64)
    # The seq of the newest signed checkpoint written to artifact storage: only tells the beat task which tenants
    # moved. Not trusted by verification, which reads the signed checkpoint itself from storage.
    checkpointed_seq = models.BigIntegerField(default=0)


class AuditEvent(models.Model):
    """Append-only, hash-chained record of every change in a tenant.

    `hash_version` says which content the hash covers: 1 = the original content (events written before every
    field was hashed: actor name, action, object type/id, model, version, before/after, time, seq, prev_hash);
    2 = every stored field (adds actor_id, object_repr and hash_version itself). Old events keep their version-1
    hashes (rehashing them would launder any tampering done before); `registry.audit.verify_chain` recomputes each
    event with its own version and refuses a version-1 event after a version-2 one (a downgrade)."""

    # PROTECT: a tenant with an audit log is suspended, never deleted (deleting would erase its history).
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.PROTECT, related_name="audit_events")
    seq = models.BigIntegerField()
    created_at = models.DateTimeField()
    # A plain integer, not a foreign key: deleting a user must not UPDATE audit rows (SET_NULL would, and the
    # append-only trigger refuses updates); `actor_name` keeps the name for display.
    actor_id = models.BigIntegerField(null=True, blank=True)
    actor_name = models.CharField(max_length=256, blank=True)
    action = models.CharField(max_length=100)
    object_type = models.CharField(max_length=100)
    object_id = models.CharField(max_length=100)
    object_repr = models.CharField(max_length=500, blank=True)
    # Denormalised for "everything about version N of model M" without a join; not FKs so history outlives rows.
    model_id = models.BigIntegerField(null=True, blank=True)
    version = models.IntegerField(null=True, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)
    hash_version = models.PositiveSmallIntegerField(default=2)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "seq"], name="auditevent_unique_seq")]
        indexes = [
            models.Index(fields=["tenant", "model_id", "version"], name="audit_model_version"),
            models.Index(fields=["tenant", "object_type", "object_id"], name="audit_object"),
            # Time travel replays one model's events in sequence order (`registry.history.timetravel`).
            models.Index(fields=["tenant", "model_id", "seq"], name="audit_model_seq"),
        ]
        ordering = ["tenant_id", "seq"]


# --- webhooks (defined in registry/webhooks/models.py; imported here so they are models of this app) -----------
from .webhooks.models import (  # noqa: E402, F401
    DeliveryStatus,
    Webhook,
    WebhookAttempt,
    WebhookDelivery,
)

# --- usage counters (registry/usage.py) ----------------------------------------------------------------------------


class VersionUsage(models.Model):
    """How often a principal resolved or downloaded a version on one day (UTC), flushed from Redis counters by
    `modelgate.flush_usage_counters`. `model_id` is not a foreign key, like the audit log's: usage outlives a
    deleted version or model, and a flush never fails on a row that has gone meanwhile."""

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    model_id = models.BigIntegerField()
    version = models.IntegerField()
    principal = models.CharField(max_length=256)
    day = models.DateField()
    resolves = models.BigIntegerField(default=0)
    downloads = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "model_id", "version", "principal", "day"], name="versionusage_unique_day"
            )
        ]


class UsageFlushBatch(models.Model):
    """A Redis counter batch already added to VersionUsage, written in the same transaction as the counts: a flush
    that dies after its commit but before deleting the batch from Redis does not add it twice when retried."""

    key = models.CharField(max_length=400, unique=True)
    flushed_at = models.DateTimeField(auto_now_add=True)


# --- governance: transition requests, approvals, per-model policies ----------------------------------------------


class TransitionRequestStatus(models.TextChoices):
    PENDING = "pending"
    APPROVED = "approved"  # enough approvals; waiting for the worker to apply it
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    APPLIED = "applied"
    FAILED = "failed"  # approved, but applying it was refused (gate, stale precondition, version not READY)


class TransitionRequest(models.Model):
    """A request to move a version to a stage, decided by approvers other than the requester and applied by a
    worker under the model's row lock."""

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="transition_requests")
    model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE, related_name="transition_requests")
    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="transition_requests")
    stage = models.CharField(max_length=16, choices=Stage.choices)
    from_stage = models.CharField(max_length=16, choices=Stage.choices)  # the version's stage when requested
    archive_existing_versions = models.BooleanField(default=False)
    comment = models.TextField(blank=True)
    gate = models.JSONField(null=True, blank=True)
    status = models.CharField(
        max_length=16, choices=TransitionRequestStatus.choices, default=TransitionRequestStatus.PENDING
    )
    # Why it failed, or the gate result of the attempt that applied it.
    status_message = models.TextField(blank=True)
    result = models.JSONField(null=True, blank=True)
    # Copied from the model's policy when requested, so a later policy change never re-decides open requests.
    approvals_required = models.PositiveIntegerField(default=1)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    requester_name = models.CharField(max_length=256, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    approved_at = models.DateTimeField(null=True, blank=True)  # the requeue beat task looks for old ones
    # When the requeue task last claimed it (null: only the on-commit publish sent it); see the requeue task.
    enqueued_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)  # applied, failed, rejected or cancelled

    objects = TenantOwnedQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "status"], name="transitionrequest_status"),
            models.Index(fields=["model", "status"], name="transitionrequest_model"),
        ]

    def __str__(self) -> str:
        return f"request {self.pk}: {self.model_id} v{self.version_id} → {self.stage}"


class TransitionRequestEvent(models.Model):
    """One step of a request's history (created, approved, rejected, cancelled, applied, failed) with who, when and
    their comment. Approvals are the `approved` rows; distinct actors count."""

    request = models.ForeignKey(TransitionRequest, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=16)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_name = models.CharField(max_length=256, blank=True)
    comment = models.TextField(blank=True)
    details = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            # One approval per approver: "the same approver twice counts once" holds in the database too.
            models.UniqueConstraint(
                fields=["request", "actor"],
                condition=models.Q(kind="approved"),
                name="transitionrequestevent_one_approval",
            )
        ]


class TransitionPolicy(models.Model):
    """How a model's versions may enter a stage: only through approved requests (`requires_approval`), with how
    many distinct approvals, and a standing gate every promotion to the stage must pass."""

    model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE, related_name="transition_policies")
    stage = models.CharField(max_length=16, choices=Stage.choices)
    requires_approval = models.BooleanField(default=True)
    approvals_required = models.PositiveIntegerField(default=1)
    gate = models.JSONField(null=True, blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "transition policies"
        constraints = [
            models.UniqueConstraint(fields=["model", "stage"], name="transitionpolicy_unique_stage"),
            models.CheckConstraint(
                condition=models.Q(approvals_required__gte=1), name="transitionpolicy_approvals_min"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model} → {self.stage}"


# --- resumable uploads (defined in registry/artifacts/uploads/models.py) -------------------------------------------
from .artifacts.uploads.models import UploadPart, UploadSession  # noqa: E402, F401

# --- idempotency keys of the native API's creates (defined in registry/idempotency.py) ---------------------------
from .idempotency import IdempotencyKey  # noqa: E402, F401
