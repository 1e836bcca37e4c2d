from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from accounts import services
from tenants import services as tenant_services
from tenants.management.commands._base import ServiceCommand


class Command(ServiceCommand):
    help = "Issue an API token for a user of a tenant; the token is printed alone on the last line."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--scopes", default=None, help="comma-separated: read,write,promote,admin")
        parser.add_argument("--name", default="")
        parser.add_argument(
            "--expires-days", type=int, default=None, help="default: MODELGATE_TOKEN_DEFAULT_DAYS"
        )

    def handle(self, *args, username, tenant, scopes, name, expires_days, **options):
        tenant_obj = tenant_services.tenant_get(tenant)
        user = services.user_get(username)
        expires_at = None
        if expires_days is not None:
            if expires_days <= 0:
                from config.errors import InvalidParameter

                raise InvalidParameter("--expires-days must be a positive number of days.")
            expires_at = timezone.now() + timedelta(days=expires_days)
        token, secret = services.token_issue(
            user=user, tenant=tenant_obj, scopes=scopes, name=name, expires_at=expires_at
        )
        self.stdout.write(
            f"Issued token {token.prefix}… for '{username}' in tenant '{tenant}', scopes "
            f"{','.join(token.scopes)}, expires {token.expires_at:%Y-%m-%d}. Shown once:"
        )
        self.stdout.write(secret)
