"""Experiment tracking: experiments, runs (params, metric histories, tags), logged models, and the artifact index.

Times are epoch milliseconds (BigInteger), as MLflow sends and expects them. Run and logged-model ids are MLflow's
(32 hex characters; `m-` + 32 hex). Every row reaches its tenant through its experiment; experiments, runs,
logged models, datasets, blobs and artifact entries carry the tenant directly so every query can start from it."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from registry.artifacts.storage import blob_key
from registry.permissions_levels import LEVEL_PERMISSIONS
from tenants.models import TenantOwnedQuerySet


class LifecycleStage(models.TextChoices):
    ACTIVE = "active"
    DELETED = "deleted"


class Experiment(models.Model):
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="experiments")
    number = models.BigIntegerField(help_text="The MLflow experiment id within the tenant ('0' is Default).")
    name = models.CharField(max_length=500)
    artifact_location = models.CharField(max_length=1000)
    lifecycle_stage = models.CharField(
        max_length=16, choices=LifecycleStage.choices, default=LifecycleStage.ACTIVE
    )
    owner_team = models.ForeignKey(
        "tenants.Team", on_delete=models.SET_NULL, null=True, blank=True, related_name="experiments"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    creation_time = models.BigIntegerField()
    last_update_time = models.BigIntegerField()

    objects = TenantOwnedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "number"], name="experiment_unique_number"),
            models.UniqueConstraint(fields=["tenant", "name"], name="experiment_unique_name"),
        ]
        permissions = LEVEL_PERMISSIONS["experiment"]

    def __str__(self) -> str:
        return f"{self.tenant_id}:{self.number} {self.name}"


class ExperimentUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(Experiment, on_delete=models.CASCADE)


class ExperimentGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Experiment, on_delete=models.CASCADE)


class ExperimentTag(models.Model):
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="tags")
    key = models.CharField(max_length=250)
    value = models.TextField(blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["experiment", "key"], name="experimenttag_unique_key")]


class RunStatus(models.TextChoices):
    RUNNING = "RUNNING"
    SCHEDULED = "SCHEDULED"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"


class Run(models.Model):
    run_id = models.CharField(max_length=32, unique=True)
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="runs")
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="runs")
    name = models.CharField(max_length=250, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    user_label = models.CharField(max_length=256, blank=True, help_text="The authenticated principal's name.")
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.RUNNING)
    start_time = models.BigIntegerField()
    end_time = models.BigIntegerField(null=True, blank=True)
    lifecycle_stage = models.CharField(
        max_length=16, choices=LifecycleStage.choices, default=LifecycleStage.ACTIVE
    )
    deleted_time = models.BigIntegerField(null=True, blank=True)
    artifact_uri = models.CharField(max_length=1000)

    objects = TenantOwnedQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["experiment", "lifecycle_stage", "-start_time"], name="run_exp_start")
        ]

    def __str__(self) -> str:
        return self.run_id


class Param(models.Model):
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="params")
    key = models.CharField(max_length=250)
    value = models.TextField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "key"], name="param_unique_key")]


class RunTag(models.Model):
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="tags")
    key = models.CharField(max_length=250)
    value = models.TextField(blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "key"], name="runtag_unique_key")]


class Metric(models.Model):
    """One point of a metric's history. NaN and ±inf are stored as they are (PostgreSQL doubles keep them)."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="metric_history")
    key = models.CharField(max_length=250)
    value = models.FloatField()
    timestamp = models.BigIntegerField()
    step = models.BigIntegerField(default=0)
    model_id = models.CharField(max_length=64, blank=True)
    dataset_name = models.CharField(max_length=500, blank=True)
    dataset_digest = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [
            # A point's identity (MLflow's metrics primary key, plus the logged model it is tagged with): a retried
            # log-batch inserts with ON CONFLICT DO NOTHING and adds nothing, even racing the original request. It
            # also serves the history reads (run, key, …) the plain index on (run, key, step, timestamp) served.
            models.UniqueConstraint(
                fields=["run", "key", "step", "timestamp", "value", "model_id"], name="metric_unique_point"
            ),
        ]
        indexes = [
            # A logged model's metrics (`LoggedModel.data.metrics`, logged-model search); most rows have none.
            models.Index(
                fields=["model_id", "key"], name="metric_model_key", condition=~models.Q(model_id="")
            ),
        ]


class LatestMetric(models.Model):
    """The latest point per (run, key), by MLflow's rule (max step, then timestamp, then value): what
    `run.data.metrics` shows and what search filters and orders by."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="latest_metrics")
    key = models.CharField(max_length=250)
    value = models.FloatField()
    timestamp = models.BigIntegerField()
    step = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "key"], name="latestmetric_unique_key")]
        indexes = [models.Index(fields=["key", "value"], name="latestmetric_key_value")]


class LoggedModelStatus(models.TextChoices):
    PENDING = "LOGGED_MODEL_PENDING"
    READY = "LOGGED_MODEL_READY"
    UPLOAD_FAILED = "LOGGED_MODEL_UPLOAD_FAILED"


class LoggedModel(models.Model):
    model_id = models.CharField(max_length=64, unique=True)
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="logged_models")
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="logged_models")
    name = models.CharField(max_length=500)
    source_run = models.ForeignKey(
        Run, on_delete=models.SET_NULL, null=True, blank=True, related_name="logged_models"
    )
    model_type = models.CharField(max_length=500, blank=True)
    status = models.CharField(
        max_length=32, choices=LoggedModelStatus.choices, default=LoggedModelStatus.PENDING
    )
    status_message = models.TextField(blank=True)
    artifact_uri = models.CharField(max_length=1000)
    lifecycle_stage = models.CharField(
        max_length=16, choices=LifecycleStage.choices, default=LifecycleStage.ACTIVE
    )
    creation_timestamp = models.BigIntegerField()
    last_updated_timestamp = models.BigIntegerField()

    objects = TenantOwnedQuerySet.as_manager()

    def __str__(self) -> str:
        return self.model_id


class LoggedModelTag(models.Model):
    logged_model = models.ForeignKey(LoggedModel, on_delete=models.CASCADE, related_name="tags")
    key = models.CharField(max_length=250)
    value = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["logged_model", "key"], name="loggedmodeltag_unique_key")
        ]


class LoggedModelParam(models.Model):
    logged_model = models.ForeignKey(LoggedModel, on_delete=models.CASCADE, related_name="params")
    key = models.CharField(max_length=250)
    value = models.TextField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["logged_model", "key"], name="loggedmodelparam_unique_key")
        ]


class RunOutput(models.Model):
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="outputs")
    logged_model = models.ForeignKey(LoggedModel, on_delete=models.CASCADE, related_name="+")
    step = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "logged_model"], name="runoutput_unique")]


class Dataset(models.Model):
    """A dataset some run of the experiment used (MLflow's `Dataset`): identified within its experiment by
    (name, digest), so every run that logs the same data points at one row. Its description (source, schema,
    profile) is what the first run logged; MLflow never updates it either."""

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="datasets")
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="datasets")
    name = models.CharField(max_length=500)
    digest = models.CharField(max_length=36)
    source_type = models.CharField(max_length=36)
    source = models.TextField()
    schema = models.TextField(blank=True, null=True)
    profile = models.TextField(blank=True, null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantOwnedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["experiment", "name", "digest"], name="dataset_unique_name_digest"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name}@{self.digest}"


class RunInput(models.Model):
    """A dataset used by a run (MLflow's `DatasetInput`), with input tags such as `mlflow.data.context`."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="dataset_inputs")
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="inputs")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "dataset"], name="runinput_unique")]


DATASET_CONTEXT_TAG = "mlflow.data.context"  # the input tag saying what a run used a dataset for ("training")


class RunInputTag(models.Model):
    run_input = models.ForeignKey(RunInput, on_delete=models.CASCADE, related_name="tags")
    key = models.CharField(max_length=255)
    value = models.CharField(max_length=500)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run_input", "key"], name="runinputtag_unique_key")]
        # `datasets.context` search looks tags up by key and value.
        indexes = [models.Index(fields=["key", "value"], name="runinputtag_key_value")]


class RunModelInput(models.Model):
    """A logged model a run used as input (`LogInputs.models`, MLflow 3: fine-tuning, evaluation)."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="model_inputs")
    logged_model = models.ForeignKey(LoggedModel, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "logged_model"], name="runmodelinput_unique")]


class Blob(models.Model):
    """Content-addressed bytes of one tenant, stored at `tenants/<tenant id>/blobs/sha256/<aa>/<digest>`."""

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="blobs")
    sha256 = models.CharField(max_length=64)
    size = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantOwnedQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "sha256"], name="blob_unique_digest")]

    @property
    def storage_key(self) -> str:
        return blob_key(self.tenant_id, self.sha256)


class ArtifactEntry(models.Model):
    """A file in a tenant's mutable artifact tree (`<experiment>/<run>/artifacts/…`,
    `<experiment>/models/<m-id>/artifacts/…`), pointing at an immutable blob. Registered versions copy these
    entries into their own manifest, so later writes here never change them."""

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="artifact_entries")
    path = models.CharField(max_length=1024)
    blob = models.ForeignKey(Blob, on_delete=models.PROTECT, related_name="entries")
    sha256 = models.CharField(max_length=64)
    size = models.BigIntegerField()
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantOwnedQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "path"], name="artifactentry_unique_path")]
