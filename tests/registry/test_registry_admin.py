"""The registry in the Django admin: pages load for platform admins, every change goes through the registry
services (validated and audited), the manifest is read-only, and nobody else gets in."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from registry import services
from registry.models import AuditEvent, ModelAlias, ModelVersion, RegisteredModel
from tests.helpers import make_logged_model, principal

pytestmark = pytest.mark.django_db

ALL_SCOPES = ["read", "write", "promote", "admin"]


@pytest.fixture
def root(db):
    return get_user_model().objects.create_superuser("root", "root@example.com", "root-pw-123")


@pytest.fixture
def admin_client(client, root):
    client.force_login(root)
    return client


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


def management(prefix: str, initial: int = 0, total: int | None = None) -> dict:
    total = initial if total is None else total
    return {
        f"{prefix}-TOTAL_FORMS": str(total),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


def model_form(model, **changes) -> dict:
    data = {"name": model.name, "description": model.description, "owner_team": model.owner_team_id or ""}
    data.update(changes)
    tags = list(model.tags.order_by("key"))
    data.update(management("tags", initial=len(tags)))
    for i, tag in enumerate(tags):
        data.update({f"tags-{i}-id": tag.pk, f"tags-{i}-model": model.pk, f"tags-{i}-value": tag.value})
    for prefix in ("versions", "aliases"):
        data.update(management(prefix))
    return data


def test_the_registry_admin_pages_load_for_a_platform_admin(admin_client, model):
    version = ModelVersion.objects.get(model=model, version=1)
    alias = ModelAlias.objects.get(model=model)
    for url in [
        "/admin/registry/registeredmodel/",
        "/admin/registry/registeredmodel/add/",
        f"/admin/registry/registeredmodel/{model.pk}/change/",
        "/admin/registry/modelversion/",
        f"/admin/registry/modelversion/{version.pk}/change/",
        "/admin/registry/modelalias/",
        "/admin/registry/modelalias/add/",
        f"/admin/registry/modelalias/{alias.pk}/change/",
    ]:
        assert admin_client.get(url).status_code == 200, url


@pytest.mark.parametrize("who", ["owner", "tenant_admin"])
def test_the_registry_admin_is_for_platform_admins_only(client, request, who, model):
    user = request.getfixturevalue(who)
    user.is_staff = True  # even staff who are not platform admins
    user.save(update_fields=["is_staff"])
    client.force_login(user)
    assert client.get("/admin/registry/registeredmodel/").status_code == 403
    assert client.get(f"/admin/registry/registeredmodel/{model.pk}/delete/").status_code == 403


def test_adding_a_model_in_the_admin_goes_through_the_service(admin_client, tenant, team):
    res = admin_client.post(
        "/admin/registry/registeredmodel/add/",
        {
            "tenant": tenant.pk,
            "name": "from-admin",
            "description": "d",
            "owner_team": team.pk,
            **management("tags"),
            **management("versions"),
            **management("aliases"),
        },
    )
    assert res.status_code == 302, res.content.decode()[-2000:]
    model = RegisteredModel.objects.get(tenant=tenant, name="from-admin")
    assert model.tags.get(key="owner_team").value == "alpha"
    event = AuditEvent.objects.get(action="registered_model.created", model_id=model.pk)
    assert event.actor_name == "root"


def test_an_invalid_name_in_the_admin_is_refused_with_a_message(admin_client, tenant):
    res = admin_client.post(
        "/admin/registry/registeredmodel/add/",
        {
            "tenant": tenant.pk,
            "name": "a/b",
            "description": "",
            "owner_team": "",
            **management("tags"),
            **management("versions"),
            **management("aliases"),
        },
        follow=True,
    )
    assert not RegisteredModel.objects.filter(name="a/b").exists()
    assert "cannot contain" in res.content.decode()


def test_renaming_and_tagging_in_the_admin_are_audited(admin_client, model):
    data = model_form(model, name="churn-renamed", description="new")
    res = admin_client.post(f"/admin/registry/registeredmodel/{model.pk}/change/", data)
    assert res.status_code == 302, res.content.decode()[-2000:]
    model.refresh_from_db()
    assert (model.name, model.description) == ("churn-renamed", "new")
    actions = set(AuditEvent.objects.filter(model_id=model.pk).values_list("action", flat=True))
    assert {"registered_model.renamed", "registered_model.updated"} <= actions


def test_a_stage_change_in_the_admin_is_a_transition(admin_client, model):
    version = ModelVersion.objects.get(model=model, version=2)
    res = admin_client.post(
        f"/admin/registry/modelversion/{version.pk}/change/",
        {
            "stage": "Production",
            "archive_existing_versions": "on",
            "description": "",
            **management("files", initial=version.files.count()),
            **{f"files-{i}-id": f.pk for i, f in enumerate(version.files.order_by("pk"))},
            **{f"files-{i}-version": version.pk for i in range(version.files.count())},
        },
    )
    assert res.status_code == 302, res.content.decode()[-2000:]
    version.refresh_from_db()
    assert version.stage == "Production"
    assert AuditEvent.objects.filter(
        action="model_version.stage_changed", model_id=model.pk, version=2
    ).exists()


def test_moving_and_deleting_an_alias_in_the_admin(admin_client, model):
    alias = ModelAlias.objects.get(model=model, alias="champion")
    res = admin_client.post(f"/admin/registry/modelalias/{alias.pk}/change/", {"version_number": 2})
    assert res.status_code == 302, res.content.decode()[-2000:]
    alias.refresh_from_db()
    assert alias.version.version == 2
    res = admin_client.post(f"/admin/registry/modelalias/{alias.pk}/delete/", {"post": "yes"})
    assert res.status_code == 302
    assert not ModelAlias.objects.filter(pk=alias.pk).exists()
    assert AuditEvent.objects.filter(action="model_version_alias.deleted", model_id=model.pk).exists()


def test_deleting_a_version_in_the_admin_goes_through_the_service(admin_client, model):
    version = ModelVersion.objects.get(model=model, version=2)
    res = admin_client.post(f"/admin/registry/modelversion/{version.pk}/delete/", {"post": "yes"})
    assert res.status_code == 302
    assert not ModelVersion.objects.filter(pk=version.pk).exists()
    assert AuditEvent.objects.filter(action="model_version.deleted", model_id=model.pk, version=2).exists()


def test_versions_cannot_be_added_in_the_admin(admin_client):
    assert admin_client.get("/admin/registry/modelversion/add/").status_code == 403
