from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.validators import RegexValidator
from django.db import models

SLUG_RE = r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"
slug_validator = RegexValidator(
    SLUG_RE,
    "Use a DNS-label slug: lowercase letters, digits and dashes, 1-63 characters, no dash at either end.",
)


def default_protected_aliases() -> list[str]:
    return list(settings.MODELGATE["PROTECTED_ALIASES"])


class TenantOwnedQuerySet(models.QuerySet):
    """The queryset of every tenant-owned model: every query starts from `for_tenant()`."""

    def for_tenant(self, tenant: Tenant | int) -> TenantOwnedQuerySet:
        return self.filter(tenant_id=getattr(tenant, "pk", tenant))


class TenantQuerySet(models.QuerySet):
    def active(self) -> TenantQuerySet:
        return self.filter(status=Tenant.Status.ACTIVE)


class Tenant(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active"
        SUSPENDED = "suspended"

    slug = models.CharField(max_length=63, unique=True, validators=[slug_validator])
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    quota_storage_bytes = models.BigIntegerField(null=True, blank=True, help_text="Empty: unlimited.")
    quota_models = models.IntegerField(null=True, blank=True, help_text="Empty: unlimited.")
    quota_versions_per_model = models.IntegerField(null=True, blank=True, help_text="Empty: unlimited.")
    members_read_all = models.BooleanField(
        default=True, help_text="Tenant members may read every model and experiment of the tenant."
    )
    protected_aliases = models.JSONField(default=default_protected_aliases, blank=True)
    # Counter for per-tenant experiment ids ("0" is Default); bumped under this row's lock.
    last_experiment_number = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug

    @property
    def is_suspended(self) -> bool:
        return self.status == self.Status.SUSPENDED


class Role(models.TextChoices):
    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"


class Membership(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "user"], name="membership_unique_user")]

    def __str__(self) -> str:
        return f"{self.user} in {self.tenant} ({self.role})"


class Team(models.Model):
    """A team owns models. It is backed by a Django Group so django-guardian can grant permissions to it."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="teams")
    slug = models.CharField(max_length=63, validators=[slug_validator])
    name = models.CharField(max_length=200, blank=True)
    group = models.OneToOneField(Group, on_delete=models.PROTECT, related_name="team")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantOwnedQuerySet.as_manager()

    class Meta:
        ordering = ["slug"]
        constraints = [models.UniqueConstraint(fields=["tenant", "slug"], name="team_unique_slug")]

    def __str__(self) -> str:
        return f"{self.tenant.slug}/{self.slug}"


class TeamMembership(models.Model):
    class TeamRole(models.TextChoices):
        MAINTAINER = "maintainer"
        MEMBER = "member"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="team_memberships"
    )
    role = models.CharField(max_length=16, choices=TeamRole.choices, default=TeamRole.MEMBER)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="teammembership_unique_user")]

    def __str__(self) -> str:
        return f"{self.user} in {self.team}"
