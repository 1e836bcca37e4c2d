from __future__ import annotations

from django.core.management.base import CommandError

from registry.artifacts import integrity
from tenants import services
from tenants.management.commands._base import ServiceCommand


class Command(ServiceCommand):
    help = (
        "Re-read a tenant's stored artifact blobs (or those of one registered model's versions) and report every "
        "blob whose content no longer matches its sha256 or is missing, with the versions and paths it affects. "
        "Exits 0 only if all are intact."
    )

    def add_arguments(self, parser):
        parser.add_argument("tenant")
        parser.add_argument("model", nargs="?", help="only the blobs of this registered model's versions")

    def handle(self, *args, tenant: str, model: str | None = None, **options):
        found = services.tenant_get(tenant)
        checked = 0
        bad = 0
        for blob, finding in integrity.verify(integrity.tenant_blobs(found, model).iterator(chunk_size=500)):
            checked += 1
            if finding is None:
                continue
            bad += 1
            self.stdout.write(f"BAD blob {blob.sha256} ({blob.size} bytes): {finding.problem}")
            for name, version, path in finding.versions:
                self.stdout.write(f"  registered version: {name} v{version} ({path})")
            for path in finding.paths:
                self.stdout.write(f"  artifact path: {path}")
            if not finding.versions and not finding.paths:
                self.stdout.write("  (no version or artifact path refers to it)")
        scope = f"model '{model}' of tenant '{tenant}'" if model else f"tenant '{tenant}'"
        if bad:
            raise CommandError(f"{bad} of {checked} blobs of {scope} are bad.", returncode=1)
        self.stdout.write(f"All {checked} blobs of {scope} are intact.")
