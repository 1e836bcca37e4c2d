"""The registry in the Django admin is read-only for everyone, superusers included (registry changes go through the
APIs and pages, where gates, approvals and permissions apply): pages load, nothing can be added, changed or deleted
there, and staff who are neither superusers nor tenant admins do not get in. (Tenant admins and their scoping:
tests/tenants/test_admin_scope.py.)"""

from __future__ import annotations

import pytest

from registry import services
from registry.models import AuditEvent, ModelAlias, ModelVersion, TransitionRequest
from tests.helpers import make_logged_model, principal

pytestmark = pytest.mark.django_db

ALL_SCOPES = ["read", "write", "promote", "admin"]


@pytest.fixture
def model(owner, tenant):
    p = principal(owner, tenant, ALL_SCOPES)
    model = services.registered_model_create(principal=p, name="churn")
    for _ in range(2):
        v = services.model_version_create(
            principal=p, model=model, source=f"models:/{make_logged_model(tenant).model_id}"
        )
        services.registration_finalize(version_id=v.pk)
    services.alias_set(principal=p, model=model, alias="champion", version=1)
    return model


def test_the_registry_admin_pages_load_for_a_platform_admin(admin_client, model):
    version = ModelVersion.objects.get(model=model, version=1)
    alias = ModelAlias.objects.get(model=model)
    for url in [
        "/admin/registry/registeredmodel/",
        f"/admin/registry/registeredmodel/{model.pk}/change/",
        "/admin/registry/modelversion/",
        f"/admin/registry/modelversion/{version.pk}/change/",
        "/admin/registry/modelalias/",
        f"/admin/registry/modelalias/{alias.pk}/change/",
    ]:
        res = admin_client.get(url)
        assert res.status_code == 200, url
        assert 'name="_save"' not in res.content.decode(), url


def registry_objects(model) -> dict[str, object]:
    version = ModelVersion.objects.get(model=model, version=2)
    return {
        "registeredmodel": model,
        "modelversion": version,
        "modelalias": ModelAlias.objects.get(model=model),
        "auditevent": AuditEvent.objects.filter(model_id=model.pk).first(),
    }


@pytest.mark.parametrize("name", ["registeredmodel", "modelversion", "modelalias", "auditevent"])
def test_registry_objects_are_read_only_for_superusers_too(admin_client, model, name):
    obj = registry_objects(model)[name]
    obj.refresh_from_db()
    base = f"/admin/registry/{name}/"
    before = {k: v for k, v in vars(obj).items() if not k.startswith("_")}
    assert admin_client.get(f"{base}add/").status_code == 403
    assert admin_client.post(f"{base}add/", {"name": "x"}).status_code == 403
    change = admin_client.post(
        f"{base}{obj.pk}/change/", {"name": "renamed", "description": "x", "stage": "Production"}
    )
    assert change.status_code == 403
    assert admin_client.post(f"{base}{obj.pk}/delete/", {"post": "yes"}).status_code == 403
    res = admin_client.post(base, {"action": "delete_selected", "_selected_action": [obj.pk], "post": "yes"})
    assert res.status_code in (200, 302)
    obj.refresh_from_db()
    assert {k: v for k, v in vars(obj).items() if not k.startswith("_")} == before
    assert "delete_selected" not in admin_client.get(base).content.decode()


def test_transition_requests_are_read_only_for_superusers_too(admin_client, model, owner, tenant):
    p = principal(owner, tenant, ALL_SCOPES)
    request = services.transition_request_create(principal=p, model=model, version=2, stage="Staging")
    url = f"/admin/registry/transitionrequest/{request.pk}/"
    assert admin_client.get(f"{url}change/").status_code == 200
    assert admin_client.post(f"{url}change/", {"status": "approved"}).status_code == 403
    assert admin_client.post(f"{url}delete/", {"post": "yes"}).status_code == 403
    assert TransitionRequest.objects.get(pk=request.pk).status == request.status


@pytest.mark.parametrize("who", ["owner", "tenant_admin"])
def test_staff_without_view_permission_do_not_see_the_registry(client, request, who, model):
    user = request.getfixturevalue(who)
    user.is_staff = True  # staff, even a tenant admin, but without Django's view permissions
    user.save(update_fields=["is_staff"])
    client.force_login(user)
    assert client.get("/admin/registry/registeredmodel/").status_code == 403
    assert client.get(f"/admin/registry/registeredmodel/{model.pk}/change/").status_code == 403
    assert client.get(f"/admin/registry/registeredmodel/{model.pk}/delete/").status_code == 403
