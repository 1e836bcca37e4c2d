"""Rows of resumable uploads (see the package docstring). Imported at the end of `registry/models.py`."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from tenants.models import TenantOwnedQuerySet


class UploadStatus(models.TextChoices):
    OPEN = "open"  # parts are accepted
    COMPLETING = "completing"  # the worker assembles, verifies and records
    COMPLETED = "completed"
    FAILED = "failed"  # see error_code / error_message; the staged bytes are removed
    ABORTED = "aborted"  # by the client (DELETE)
    EXPIRED = "expired"  # left open past expires_at; removed by the periodic sweep


TERMINAL = (UploadStatus.COMPLETED, UploadStatus.FAILED, UploadStatus.ABORTED, UploadStatus.EXPIRED)


class UploadSession(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="upload_sessions")
    experiment = models.ForeignKey("tracking.Experiment", on_delete=models.CASCADE, related_name="+")
    run = models.ForeignKey("tracking.Run", on_delete=models.CASCADE, related_name="+")
    path = models.CharField(max_length=1024, help_text="The tenant artifact path the file is recorded at.")
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64, blank=True, help_text="Expected digest, if the client gave one.")
    part_size = models.BigIntegerField()
    status = models.CharField(max_length=16, choices=UploadStatus.choices, default=UploadStatus.OPEN)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    result_sha256 = models.CharField(max_length=64, blank=True)
    s3_upload_id = models.CharField(max_length=1024, blank=True)
    expires_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # The periodic re-enqueue claims a session stuck in `completing` with a conditional UPDATE of this.
    enqueued_at = models.DateTimeField(null=True, blank=True)
    # A worker assembling holds this lease; a duplicate delivery (Redis redelivers after its visibility timeout,
    # assembly of a few GB can take longer) sees it and leaves the session to the holder.
    lease_until = models.DateTimeField(null=True, blank=True)
    # When the staged parts (file part files, the S3 multipart upload) were removed; null while they may exist.
    cleaned_at = models.DateTimeField(null=True, blank=True)

    objects = TenantOwnedQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["status", "expires_at"], name="uploadsession_status_expiry"),
            models.Index(fields=["tenant", "created_at"], name="uploadsession_tenant_created"),
        ]

    def __str__(self) -> str:
        return f"{self.tenant_id}:{self.id} {self.path} ({self.status})"

    @property
    def part_count(self) -> int:
        return -(-self.size // self.part_size)

    def expected_part_size(self, number: int) -> int:
        """Every part is `part_size` bytes but the last, which holds the rest."""
        if number < self.part_count:
            return self.part_size
        return self.size - self.part_size * (self.part_count - 1)


class UploadPart(models.Model):
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    session = models.ForeignKey(UploadSession, on_delete=models.CASCADE, related_name="parts")
    number = models.PositiveIntegerField()
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    etag = models.CharField(max_length=255, blank=True, help_text="S3's ETag of the part (S3 backend).")
    stored_key = models.CharField(max_length=1024)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantOwnedQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["session", "number"], name="uploadpart_unique_number")]
        ordering = ["number"]
