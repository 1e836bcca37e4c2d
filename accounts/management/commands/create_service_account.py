from __future__ import annotations

from accounts import services
from tenants import services as tenant_services
from tenants.management.commands._base import ServiceCommand
from tenants.models import Role


class Command(ServiceCommand):
    help = "Create a service account and its first token; the token is printed alone on the last line."

    def add_arguments(self, parser):
        parser.add_argument("tenant")
        parser.add_argument("name")
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument("--team", default=None)
        parser.add_argument("--scopes", default=None, help="comma-separated: read,write,promote,admin")

    def handle(self, *args, tenant, name, role, team, scopes, **options):
        tenant_obj = tenant_services.tenant_get(tenant)
        team_obj = tenant_services.team_get(tenant=tenant_obj, slug=team) if team else None
        sa, secret = services.service_account_create(
            tenant=tenant_obj, name=name, role=role, team=team_obj, scopes=scopes
        )
        self.stdout.write(
            f"Created service account '{sa.name}' ({sa.user.username}) in tenant '{tenant}' as {role}."
        )
        self.stdout.write("Its token is shown once; store it now:")
        self.stdout.write(secret)
