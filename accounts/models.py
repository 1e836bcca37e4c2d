from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone

TOKEN_PREFIX = "mgt_"
SCOPES = ("read", "write", "promote", "admin")


class User(AbstractUser):
    """Humans and service accounts alike (a service account is a User with a ServiceAccount row), so ownership,
    grants and audit actors are uniform."""

    @property
    def is_service_account(self) -> bool:
        return hasattr(self, "service_account")


class ServiceAccount(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="service_account"
    )
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="service_accounts")
    team = models.ForeignKey(
        "tenants.Team", on_delete=models.SET_NULL, null=True, blank=True, related_name="service_accounts"
    )
    name = models.CharField(max_length=100)
    role = models.CharField(
        max_length=16, choices=[("admin", "admin"), ("member", "member"), ("viewer", "viewer")]
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="serviceaccount_unique_name")]

    def __str__(self) -> str:
        return f"{self.tenant.slug}/{self.name}"


class ApiToken(models.Model):
    """An API token. The secret is shown once; only its SHA-256 is stored, with a visible prefix to recognise it."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=16, help_text="The first characters of the token, safe to show.")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None
