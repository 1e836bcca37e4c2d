from __future__ import annotations

from accounts import services
from tenants import services as tenant_services
from tenants.management.commands._base import ServiceCommand
from tenants.models import Role


class Command(ServiceCommand):
    help = "Create a user in a tenant with a role (and teams); an existing user is added to the tenant."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument("--team", action="append", default=[], dest="teams", help="repeatable")
        parser.add_argument("--password", default=None)
        parser.add_argument("--email", default="")

    def handle(self, *args, username, tenant, role, teams, password, email, **options):
        tenant_obj = tenant_services.tenant_get(tenant)
        team_objs = [tenant_services.team_get(tenant=tenant_obj, slug=t) for t in teams]
        user = services.user_create(
            username=username, tenant=tenant_obj, role=role, teams=team_objs, password=password, email=email
        )
        self.stdout.write(
            f"Created user '{user.username}' in tenant '{tenant}' as {role}"
            + (f", teams: {', '.join(teams)}" if teams else "")
            + "."
        )
