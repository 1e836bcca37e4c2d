from __future__ import annotations

from tenants import services

from ._base import ServiceCommand


class Command(ServiceCommand):
    help = "Create a team inside a tenant."

    def add_arguments(self, parser):
        parser.add_argument("tenant")
        parser.add_argument("slug")
        parser.add_argument("--name", default="")

    def handle(self, *args, tenant: str, slug: str, name: str, **options):
        team = services.team_create(tenant=services.tenant_get(tenant), slug=slug, name=name)
        self.stdout.write(f"Created team '{team.slug}' in tenant '{tenant}'.")
