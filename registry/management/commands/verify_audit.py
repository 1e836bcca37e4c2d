from __future__ import annotations

from django.core.management.base import CommandError

from registry.audit import verify_chain
from tenants import services
from tenants.management.commands._base import ServiceCommand


class Command(ServiceCommand):
    help = (
        "Verify a tenant's audit chain (hashes, links, sequence, chain head and the latest signed checkpoint). "
        "Exits 0 only if it is intact."
    )

    def add_arguments(self, parser):
        parser.add_argument("tenant")

    def handle(self, *args, tenant: str, **options):
        result = verify_chain(services.tenant_get(tenant))
        checkpoint = result.checkpoint
        where = f"checkpoint at seq {checkpoint['seq']}" if checkpoint else "no checkpoint yet"
        if result.ok:
            self.stdout.write(
                f"Audit chain of tenant '{tenant}' is intact: {result.events} events ({where})."
            )
            return
        self.stdout.write(f"Audit chain of tenant '{tenant}': {result.events} events ({where}).")
        seq = f"at seq {result.first_bad_seq}" if result.first_bad_seq is not None else "(no event named)"
        raise CommandError(
            f"Audit chain of tenant '{tenant}' is NOT intact {seq}: {result.reason}", returncode=1
        )
