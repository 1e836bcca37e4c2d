from __future__ import annotations

from tenants import services

from ._base import ServiceCommand


class Command(ServiceCommand):
    help = "Create a tenant (an organisation) with its Default experiment."

    def add_arguments(self, parser):
        parser.add_argument("slug", help="DNS-label style: lowercase letters, digits and dashes")
        parser.add_argument("--name", default="", help="Display name (default: the slug)")

    def handle(self, *args, slug: str, name: str, **options):
        tenant = services.tenant_create(slug=slug, name=name)
        self.stdout.write(f"Created tenant '{tenant.slug}' ({tenant.name}).")
