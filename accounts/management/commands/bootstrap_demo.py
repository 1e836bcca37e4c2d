"""Used by `make run`: on a fresh installation, create a demo tenant, team, admin user and service token, and
print how to log in. The credentials are kept in var/demo-credentials.json (mode 0600) so later runs can show
them again."""

from __future__ import annotations

import json
import os
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from accounts import services
from tenants import services as tenant_services
from tenants.management.commands._base import ServiceCommand
from tenants.models import Tenant

TENANT, TEAM, ADMIN, SA = "demo", "ml", "admin", "ci"


class Command(ServiceCommand):
    help = "Create the demo tenant, team, admin user and service token when the installation is empty."

    def handle(self, *args, **options):
        path = settings.VAR_DIR / "demo-credentials.json"
        creds = json.loads(path.read_text()) if path.exists() else {}
        User = get_user_model()
        if not Tenant.objects.exists():
            tenant = tenant_services.tenant_create(slug=TENANT, name="Demo")
            team = tenant_services.team_create(tenant=tenant, slug=TEAM, name="ML team")
            password = secrets.token_urlsafe(12)
            services.user_create(username=ADMIN, tenant=tenant, role="admin", teams=[team], password=password)
            with transaction.atomic(durable=True):
                User.objects.filter(username=ADMIN).update(is_staff=True, is_superuser=True)
            _sa, token = services.service_account_create(tenant=tenant, name=SA, role="member", team=team)
            creds = {"tenant": TENANT, "username": ADMIN, "password": password, "token": token}
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(creds))
            os.chmod(path, 0o600)
        url = os.environ.get("MODELGATE_PUBLIC_URL") or settings.MODELGATE["PUBLIC_URL"]
        tenant = creds.get("tenant") or Tenant.objects.order_by("pk").values_list("slug", flat=True).first()
        self.stdout.write("")
        self.stdout.write(f"Modelgate is at        {url}/")
        self.stdout.write(f"Admin                  {url}/admin/")
        self.stdout.write(f"API docs               {url}/api/docs/")
        if creds:
            self.stdout.write(f"Login                  {creds['username']} / {creds['password']}")
            self.stdout.write(f"MLflow tracking URI    MLFLOW_TRACKING_URI={url}/t/{tenant}")
            self.stdout.write(f"Service token          MLFLOW_TRACKING_TOKEN={creds['token']}")
        else:
            self.stdout.write("Tenants already existed; create users with `manage.py create_user`.")
        self.stdout.write("")
