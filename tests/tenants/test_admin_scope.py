"""Tenant admins in the Django admin, for their own tenant only: for every admin registered, a tenant admin of acme
(staff, with every model permission) sees and changes nothing of globex: not in a changelist, not by id (change,
history, delete), not as a foreign-key or filter choice, not through an action with forged ids. Staff with only
view permissions change nothing, and staff who administer no tenant do not get in."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.contrib.auth import get_user_model

from accounts import services as account_services
from accounts.models import ApiToken, ServiceAccount
from registry import services
from registry.models import (
    AuditEvent,
    ModelAlias,
    ModelVersion,
    TransitionPolicy,
    TransitionRequest,
    Webhook,
    WebhookDelivery,
)
from tenants import services as tenant_services
from tenants.models import Membership, Team, Tenant
from tests.helpers import admin_action, make_logged_model, principal_of, staff_tenant_admin

pytestmark = pytest.mark.django_db


def build(tenant, admin_user):
    """One of everything the admin shows, in `tenant`."""
    team = tenant_services.team_create(tenant=tenant, slug=f"team-{tenant.slug}")
    member = account_services.user_create(
        username=f"member-{tenant.slug}", tenant=tenant, role="member", teams=[team]
    )
    sa, _secret = account_services.service_account_create(tenant=tenant, name="ci", role="member")
    p = principal_of(admin_user, tenant)
    model = services.registered_model_create(principal=p, name=f"model-{tenant.slug}", owner_team=team)
    for _ in range(2):
        v = services.model_version_create(
            principal=p, model=model, source=f"models:/{make_logged_model(tenant).model_id}"
        )
        services.registration_finalize(version_id=v.pk)
    services.alias_set(principal=p, model=model, alias="champion", version=1)
    policy = services.transition_policy_set(principal=p, model=model, stage="Staging")
    request = services.transition_request_create(principal=p, model=model, version=2, stage="Staging")
    webhook = Webhook.objects.create(
        tenant=tenant, url="https://93.184.215.14/h", events=["*"], secret="s3cret-abcd"
    )
    delivery = WebhookDelivery.objects.create(
        tenant=tenant,
        webhook=webhook,
        event_id=f"e-{tenant.slug}",
        event="registered_model.created",
        payload="{}",
        status="failed",
        next_attempt_at="2026-01-01T00:00:00Z",
    )
    return SimpleNamespace(
        tenant=tenant,
        team=team,
        member=member,
        membership=Membership.objects.get(tenant=tenant, user=member),
        sa=sa,
        token=ApiToken.objects.get(user=sa.user),
        model=model,
        version=ModelVersion.objects.get(model=model, version=2),
        alias=ModelAlias.objects.get(model=model),
        policy=policy,
        request=request,
        event=AuditEvent.objects.filter(tenant=tenant).order_by("-seq").first(),
        webhook=webhook,
        delivery=delivery,
    )


@pytest.fixture
def tina(tenant):
    """Staff, tenant admin of acme only, with every model permission."""
    return staff_tenant_admin("tina", tenant)


@pytest.fixture
def a(tenant, tina):
    return build(tenant, tina)


@pytest.fixture
def b(other_tenant, outsider):
    return build(other_tenant, outsider)


@pytest.fixture
def c(tina):
    """A second tenant tina administers: with two tenants of hers, the list filters show their choices."""
    initech = tenant_services.tenant_create(slug="initech", name="Initech")
    tenant_services.membership_set(tenant=initech, user=tina, role="admin")
    return build(initech, tina)


@pytest.fixture
def tina_client(client, tina):
    client.force_login(tina)
    return client


# (admin URL, attribute of a world: the object shown there)
ADMINS = [
    ("tenants/tenant", "tenant"),
    ("tenants/team", "team"),
    ("tenants/membership", "membership"),
    ("accounts/user", "member"),
    ("accounts/serviceaccount", "sa"),
    ("accounts/apitoken", "token"),
    ("registry/registeredmodel", "model"),
    ("registry/modelversion", "version"),
    ("registry/modelalias", "alias"),
    ("registry/transitionpolicy", "policy"),
    ("registry/transitionrequest", "request"),
    ("registry/auditevent", "event"),
    ("registry/webhook", "webhook"),
    ("registry/webhookdelivery", "delivery"),
]


def test_every_registered_admin_is_covered_here():
    from django.contrib import admin

    registered = {f"{m._meta.app_label}/{m._meta.model_name}" for m in admin.site._registry}
    # Django's own Group admin is for superusers only: a tenant admin has no permission on auth models.
    assert registered - {"auth/group", "axes/accessattempt", "axes/accesslog", "axes/accessfailurelog"} == {
        url for url, _attr in ADMINS
    }


@pytest.mark.parametrize("path,attr", ADMINS)
def test_a_tenant_admin_lists_only_their_own_tenants_objects(tina_client, a, b, path, attr):
    res = tina_client.get(f"/admin/{path}/")
    assert res.status_code == 200
    html = res.content.decode()
    assert f"/admin/{path}/{getattr(a, attr).pk}/change/" in html
    assert f"/admin/{path}/{getattr(b, attr).pk}/change/" not in html
    assert "globex" not in html


@pytest.mark.parametrize("path,attr", ADMINS)
def test_a_tenant_admin_cannot_open_another_tenants_object_by_id(tina_client, a, b, path, attr):
    theirs = getattr(b, attr).pk
    assert tina_client.get(f"/admin/{path}/{getattr(a, attr).pk}/change/").status_code == 200
    for view in ("change", "history", "delete"):
        res = tina_client.get(f"/admin/{path}/{theirs}/{view}/")
        assert res.status_code in (302, 403), (view, res.status_code)
        if res.status_code == 302:
            assert res["Location"] == "/admin/", (view, res["Location"])
    res = tina_client.post(f"/admin/{path}/{theirs}/delete/", {"post": "yes"})
    assert res.status_code in (302, 403)
    assert type(getattr(b, attr)).objects.filter(pk=theirs).exists()


def option_values(html: str, name: str) -> set[str]:
    import re

    select = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', html, re.S)
    assert select, name
    return {v for v in re.findall(r'<option value="([^"]*)"', select.group(1)) if v}


@pytest.mark.parametrize(
    "path,field",
    [("tenants/membership", "tenant"), ("tenants/team", "tenant"), ("registry/webhook", "tenant")],
)
def test_foreign_key_choices_are_the_tenant_admins_own(tina_client, a, b, path, field):
    html = tina_client.get(f"/admin/{path}/add/").content.decode()
    assert option_values(html, field) == {str(a.tenant.pk)}


@pytest.mark.parametrize(
    "source,field,expected",
    [
        ("tenants/membership", "user", {"tina", "member-acme", "sa.acme.ci"}),
        ("tenants/teammembership", "user", {"tina", "member-acme", "sa.acme.ci"}),
        ("registry/transitionpolicy", "model", None),
        ("registry/webhook", "model", None),
    ],
)
def test_autocomplete_choices_are_the_tenant_admins_own(tina_client, a, b, source, field, expected):
    app, model = source.split("/")
    res = tina_client.get(
        "/admin/autocomplete/", {"app_label": app, "model_name": model, "field_name": field, "term": ""}
    )
    assert res.status_code == 200
    texts = {r["text"] for r in res.json()["results"]}
    if expected is not None:
        assert texts == expected
    else:  # the registered models: acme's only
        assert texts and all("model-acme" in t for t in texts), texts


@pytest.mark.parametrize(
    "path,param",
    [
        ("tenants/team", "tenant__id__exact"),
        ("tenants/membership", "tenant__id__exact"),
        ("accounts/serviceaccount", "tenant__id__exact"),
        ("accounts/apitoken", "tenant__id__exact"),
        ("registry/registeredmodel", "tenant__id__exact"),
        ("registry/modelversion", "model__tenant__id__exact"),
        ("registry/modelalias", "model__tenant__id__exact"),
        ("registry/transitionpolicy", "model__tenant__id__exact"),
        ("registry/transitionrequest", "tenant__id__exact"),
        ("registry/auditevent", "tenant__id__exact"),
        ("registry/webhook", "tenant__id__exact"),
        ("registry/webhookdelivery", "tenant__id__exact"),
    ],
)
def test_list_filter_choices_are_the_tenant_admins_own(tina_client, a, b, c, path, param):
    html = tina_client.get(f"/admin/{path}/").content.decode()
    assert f"{param}={a.tenant.pk}" in html and f"{param}={c.tenant.pk}" in html
    assert f"{param}={b.tenant.pk}" not in html
    # Filtering by the other tenant's id by hand shows nothing of it either.
    html = tina_client.get(f"/admin/{path}/", {param: b.tenant.pk}).content.decode()
    assert "globex" not in html


def test_forged_form_posts_cannot_create_in_another_tenant(tina_client, a, b):
    res = tina_client.post(
        "/admin/tenants/membership/add/", {"tenant": b.tenant.pk, "user": a.member.pk, "role": "admin"}
    )
    assert res.status_code == 200  # the form again, with the choice refused
    res = tina_client.post(
        "/admin/tenants/team/add/", {"tenant": b.tenant.pk, "slug": "intruders", "name": "x"}
    )
    assert res.status_code == 200
    gate = {"model": b.model.pk, "stage": "Production", "approvals_required": 1, "gate": ""}
    assert tina_client.post("/admin/registry/transitionpolicy/add/", gate).status_code == 200
    hook = {
        "tenant": b.tenant.pk,
        "url": "https://93.184.215.14/x",
        "events": '["*"]',
        "new_secret": "abcdefgh1234",
    }
    assert tina_client.post("/admin/registry/webhook/add/", hook).status_code == 200
    assert not Membership.objects.filter(tenant=b.tenant, user=a.member).exists()
    assert not Team.objects.filter(slug="intruders").exists()
    assert not TransitionPolicy.objects.filter(model=b.model, stage="Production").exists()
    assert Webhook.objects.filter(tenant=b.tenant).count() == 1


def test_forged_action_ids_of_another_tenant_change_nothing(tina_client, a, b):
    admin_action(tina_client, "/admin/accounts/apitoken/", "revoke", [b.token.pk])
    admin_action(tina_client, "/admin/accounts/serviceaccount/", "revoke_tokens", [b.sa.pk])
    admin_action(tina_client, "/admin/registry/webhookdelivery/", "replay", [b.delivery.pk])
    admin_action(tina_client, "/admin/tenants/membership/", "delete_selected", [b.membership.pk], post="yes")
    admin_action(tina_client, "/admin/registry/webhook/", "delete_selected", [b.webhook.pk], post="yes")
    admin_action(
        tina_client, "/admin/registry/transitionpolicy/", "delete_selected", [b.policy.pk], post="yes"
    )
    admin_action(tina_client, "/admin/tenants/tenant/", "suspend", [b.tenant.pk, a.tenant.pk])
    assert not ApiToken.objects.filter(tenant=b.tenant, revoked_at__isnull=False).exists()
    assert WebhookDelivery.objects.filter(tenant=b.tenant).count() == 1
    assert Membership.objects.filter(pk=b.membership.pk).exists()
    assert Webhook.objects.filter(pk=b.webhook.pk).exists()
    assert TransitionPolicy.objects.filter(pk=b.policy.pk).exists()
    assert set(Tenant.objects.values_list("status", flat=True)) == {"active"}
    assert not AuditEvent.objects.filter(tenant=b.tenant, actor_name="tina").exists()


def test_a_tenant_admin_acts_in_their_own_tenant_through_the_services(tina_client, a, b):
    # The same actions on their own objects work (so the refusals above are about the tenant, not the action).
    admin_action(tina_client, "/admin/accounts/apitoken/", "revoke", [a.token.pk])
    admin_action(tina_client, "/admin/registry/webhookdelivery/", "replay", [a.delivery.pk])
    res = tina_client.post(f"/admin/tenants/membership/{a.membership.pk}/change/", {"role": "viewer"})
    assert res.status_code == 302
    hook = {
        "tenant": a.tenant.pk,
        "url": "https://93.184.215.14/y",
        "events": '["*"]',
        "active": "on",
        "new_secret": "abcdefgh1234",
    }
    assert tina_client.post("/admin/registry/webhook/add/", hook).status_code == 302
    gate = {
        "model": a.model.pk,
        "stage": "Production",
        "requires_approval": "on",
        "approvals_required": 2,
        "gate": "",
    }
    assert tina_client.post("/admin/registry/transitionpolicy/add/", gate).status_code == 302
    assert TransitionPolicy.objects.get(model=a.model, stage="Production").approvals_required == 2
    a.token.refresh_from_db()
    assert a.token.revoked_at is not None
    assert Membership.objects.get(pk=a.membership.pk).role == "viewer"
    assert WebhookDelivery.objects.filter(tenant=a.tenant).count() == 2
    actions = set(
        AuditEvent.objects.filter(tenant=a.tenant, actor_name="tina").values_list("action", flat=True)
    )
    assert {
        "token.revoked",
        "webhook.delivery_replayed",
        "membership.role_changed",
        "webhook.created",
    } <= actions


def test_a_tenant_admin_views_their_tenant_but_does_not_change_it(tina_client, a):
    url = f"/admin/tenants/tenant/{a.tenant.pk}/change/"
    assert tina_client.get(url).status_code == 200
    assert tina_client.post(url, {"name": "Renamed", "quota_models": ""}).status_code == 403
    assert tina_client.get("/admin/tenants/tenant/add/").status_code == 403
    a.tenant.refresh_from_db()
    assert a.tenant.name == "Acme"


def test_a_staff_user_who_may_only_view_changes_nothing(client, tenant, a):
    vic = staff_tenant_admin("vic", tenant, actions=("view",))
    client.force_login(vic)
    assert client.get("/admin/accounts/apitoken/").status_code == 200
    admin_action(client, "/admin/accounts/apitoken/", "revoke", [a.token.pk])
    admin_action(client, "/admin/accounts/serviceaccount/", "revoke_tokens", [a.sa.pk])
    admin_action(client, "/admin/registry/webhookdelivery/", "replay", [a.delivery.pk])
    admin_action(client, "/admin/tenants/membership/", "delete_selected", [a.membership.pk], post="yes")
    assert (
        client.post(f"/admin/tenants/membership/{a.membership.pk}/change/", {"role": "admin"}).status_code
        == 403
    )
    assert (
        client.post(f"/admin/registry/transitionpolicy/{a.policy.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    assert client.get("/admin/tenants/membership/add/").status_code == 403
    assert not ApiToken.objects.filter(revoked_at__isnull=False).exists()
    assert WebhookDelivery.objects.filter(tenant=tenant).count() == 1
    assert Membership.objects.get(pk=a.membership.pk).role == "member"
    assert TransitionPolicy.objects.filter(pk=a.policy.pk).exists()
    assert "delete_selected" not in client.get("/admin/tenants/membership/").content.decode()


def test_staff_with_permissions_but_no_tenant_admin_role_do_not_get_in(client, tenant, a):
    sam = staff_tenant_admin("sam", tenant)
    tenant_services.membership_set(tenant=tenant, user=sam, role="member")  # demoted: a member, not an admin
    client.force_login(sam)
    for path, attr in ADMINS:
        assert client.get(f"/admin/{path}/").status_code == 403, path
        assert client.get(f"/admin/{path}/{getattr(a, attr).pk}/change/").status_code in (302, 403), path


def test_the_admins_of_a_suspended_tenant_lose_the_admin_too(client, tenant, a, tina):
    tenant_services.tenant_set_status(tenant=tenant, status="suspended")
    client.force_login(tina)
    assert client.get("/admin/tenants/membership/").status_code == 403
    assert client.get(f"/admin/tenants/membership/{a.membership.pk}/change/").status_code in (302, 403)


def test_a_superuser_sees_every_tenant(client, a, b):
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "root-pw-123"))
    html = client.get("/admin/tenants/membership/").content.decode()
    assert f"/admin/tenants/membership/{a.membership.pk}/change/" in html
    assert f"/admin/tenants/membership/{b.membership.pk}/change/" in html
    assert ServiceAccount.objects.count() == 2 and TransitionRequest.objects.count() == 2


def test_groups_and_sign_in_records_are_for_superusers_only(client, tenant):
    from django.contrib.auth.models import Group, Permission

    tina = staff_tenant_admin("tina", tenant)
    tina.user_permissions.add(*Permission.objects.filter(content_type__app_label__in=["auth", "axes"]))
    client.force_login(tina)
    group = Group.objects.create(name="tenant-admins")
    for url in ("/admin/auth/group/", f"/admin/auth/group/{group.pk}/change/", "/admin/auth/group/add/"):
        assert client.get(url).status_code == 403, url
    assert client.post(f"/admin/auth/group/{group.pk}/change/", {"name": "x"}).status_code == 403
    assert client.get("/admin/axes/accessattempt/").status_code == 403
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "root-pw-123"))
    assert client.get("/admin/auth/group/").status_code == 200
