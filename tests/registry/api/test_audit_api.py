"""`GET /t/<tenant>/api/v1/audit` (events, newest first, filtered, paginated; members see only the events of models
they may read) and `GET /t/<tenant>/api/v1/audit/verify` (tenant admins only); another tenant gets 404."""

from __future__ import annotations

import time

import pytest
from django.utils import timezone

from registry import audit, services
from registry.models import AuditEvent
from tenants import services as tenant_services
from tests.helpers import client_for, issue, principal
from tests.registry.audit_helpers import tamper

pytestmark = pytest.mark.django_db

ALL_SCOPES = ["read", "write", "promote", "admin"]
LIST = "/t/acme/api/v1/audit"
VERIFY = "/t/acme/api/v1/audit/verify"


@pytest.fixture
def churn(owner, tenant):
    model = services.registered_model_create(principal=principal(owner, tenant, ALL_SCOPES), name="churn")
    services.registered_model_set_tag(
        principal=principal(owner, tenant, ALL_SCOPES), model=model, key="k", value="v"
    )
    return model


@pytest.fixture
def secret_model(tenant_admin, tenant, team):
    """A model only its team may read (the tenant turns members' default read off)."""
    tenant_services.tenant_update(tenant=tenant, members_read_all=False)
    return services.registered_model_create(
        principal=principal(tenant_admin, tenant, ALL_SCOPES), name="secret", owner_team=team.slug
    )


def actions(res) -> list[str]:
    return [event["action"] for event in res.json()["results"]]


def test_tenant_admins_list_every_event_newest_first(api, tenant_admin, tenant, churn):
    res = api(tenant_admin, tenant).get(LIST)
    assert res.status_code == 200, res.content
    body = res.json()
    seqs = [event["seq"] for event in body["results"]]
    assert body["count"] == AuditEvent.objects.filter(tenant=tenant).count()
    assert seqs == sorted(seqs, reverse=True)
    assert {"tenant.created", "token.issued", "registered_model.created"} <= set(actions(res))
    first = body["results"][0]
    assert {
        "seq",
        "created_at",
        "actor",
        "actor_id",
        "action",
        "object_type",
        "object_id",
        "object_repr",
    } <= set(first)
    assert {"model_id", "version", "before", "after", "prev_hash", "hash", "hash_version"} <= set(first)


def test_the_list_is_paginated(api, tenant_admin, tenant, churn):
    client = api(tenant_admin, tenant)
    page = client.get(LIST, {"limit": 2}).json()
    assert len(page["results"]) == 2 and page["next"]
    second = client.get(LIST, {"limit": 2, "offset": 2}).json()
    assert second["results"][0]["seq"] == page["results"][1]["seq"] - 1


def test_the_list_filters_by_model_version_actor_and_action(api, tenant_admin, owner, tenant, churn):
    client = api(tenant_admin, tenant)
    by_model = client.get(LIST, {"model": "churn"}).json()["results"]
    assert {e["model_id"] for e in by_model} == {churn.pk}
    assert {"registered_model.created", "registered_model.tag_set"} <= {e["action"] for e in by_model}
    assert client.get(LIST, {"model": "nope"}).json()["count"] == 0
    assert client.get(LIST, {"version": 7}).json()["count"] == 0
    by_actor = client.get(LIST, {"actor": "olivia"}).json()["results"]
    assert by_actor and {e["actor"] for e in by_actor} == {"olivia"}
    by_action = client.get(LIST, {"action": "registered_model.created"}).json()["results"]
    assert [e["model_id"] for e in by_action] == [churn.pk]


def test_the_list_filters_by_time_as_iso_or_epoch_ms(api, tenant_admin, tenant, churn):
    client = api(tenant_admin, tenant)
    total = client.get(LIST).json()["count"]
    future = timezone.now() + timezone.timedelta(hours=1)
    assert client.get(LIST, {"since": future.isoformat()}).json()["count"] == 0
    assert client.get(LIST, {"until": future.isoformat()}).json()["count"] == total
    assert client.get(LIST, {"since": str(int(time.time() * 1000) + 3_600_000)}).json()["count"] == 0
    assert client.get(LIST, {"since": "2000-01-01"}).json()["count"] == total
    assert client.get(LIST, {"until": "2000-01-01T00:00:00Z"}).json()["count"] == 0


@pytest.mark.parametrize("value", ["yesterday", "2026-13-45", "99999999999999999999999"])
def test_a_bad_instant_is_a_400(api, tenant_admin, tenant, value):
    res = api(tenant_admin, tenant).get(LIST, {"since": value})
    assert res.status_code == 400, res.content
    assert res.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_members_see_only_events_of_models_they_may_read(api, teammate, tenant, churn, secret_model):
    res = api(teammate, tenant).get(LIST)
    assert res.status_code == 200
    model_ids = {e["model_id"] for e in res.json()["results"]}
    # members_read_all is off now: the teammate reads neither model, and never sees tenant-level events.
    assert res.json()["count"] == 0
    assert model_ids == set()


def test_a_member_with_read_on_a_model_sees_its_events(api, owner, teammate, tenant, churn, secret_model):
    services.registered_model_set_grants(
        principal=principal(owner, tenant, ALL_SCOPES), model=churn, grants=[{"user": "tom", "level": "read"}]
    )
    results = api(teammate, tenant).get(LIST).json()["results"]
    assert results and {e["model_id"] for e in results} == {churn.pk}
    owner_results = api(owner, tenant).get(LIST).json()["results"]
    assert {e["model_id"] for e in owner_results} == {churn.pk, secret_model.pk}
    assert not {"token.issued", "tenant.created"} & {e["action"] for e in owner_results}


def test_viewers_see_model_events_but_not_tenant_events(api, viewer, tenant, churn):
    results = api(viewer, tenant).get(LIST).json()["results"]
    assert {e["model_id"] for e in results} == {churn.pk}


def test_tenant_admins_verify_the_chain(api, tenant_admin, tenant, churn):
    res = api(tenant_admin, tenant).get(VERIFY)
    assert res.status_code == 200, res.content
    body = res.json()
    assert body["ok"] is True and body["first_bad_seq"] is None
    assert body["events"] == AuditEvent.objects.filter(tenant=tenant).count()
    assert body["checkpoint"] is None
    audit.checkpoint_tenant(tenant.pk)
    assert api(tenant_admin, tenant).get(VERIFY).json()["checkpoint"]["seq"] > 0


def test_verify_reports_the_first_bad_sequence_number(api, tenant_admin, tenant, churn):
    event = AuditEvent.objects.get(tenant=tenant, action="registered_model.created")
    tamper("UPDATE registry_auditevent SET actor_id = NULL WHERE id = %s", [event.pk])
    body = api(tenant_admin, tenant).get(VERIFY).json()
    assert (body["ok"], body["first_bad_seq"]) == (False, event.seq)
    assert body["reason"]


@pytest.mark.parametrize("who", ["owner", "teammate", "viewer"])
def test_verify_is_refused_to_everyone_but_tenant_admins(request, api, tenant, who):
    res = api(request.getfixturevalue(who), tenant).get(VERIFY)
    assert res.status_code == 403
    assert res.json()["error_code"] == "PERMISSION_DENIED"


@pytest.mark.parametrize("url", [LIST, VERIFY])
def test_another_tenant_gets_404(outsider, other_tenant, tenant, url):
    res = client_for(issue(outsider, other_tenant, ALL_SCOPES)).get(url)
    assert res.status_code == 404
    assert res.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


@pytest.mark.parametrize("url", [LIST, VERIFY])
def test_anonymous_callers_are_refused(client, tenant, url):
    assert client.get(url).status_code == 401


def test_the_endpoints_are_in_the_openapi_schema(client):
    paths = client.get("/api/schema/?format=json").json()["paths"]
    assert "get" in paths["/t/{tenant}/api/v1/audit"]
    assert "get" in paths["/t/{tenant}/api/v1/audit/verify"]
    params = {p["name"] for p in paths["/t/{tenant}/api/v1/audit"]["get"]["parameters"]}
    assert {"model", "version", "actor", "action", "since", "until", "limit", "offset"} <= params
