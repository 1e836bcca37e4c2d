"""The serving fast path (`registry.fastpath`) and the identities it remembers (`accounts.identitycache`): a warm
serving read costs no SQL statement and answers exactly what the full path answers, and every change to a caller
or to the registry is seen by the very next request. Every test commits (`transaction=True`): the fast path is
off inside an open transaction."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.core.cache import caches
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts import identitycache
from accounts import services as account_services
from registry import readcache, services, usage
from tenants import services as tenant_services
from tests.helpers import client_for, issue, make_logged_model, principal

pytestmark = pytest.mark.django_db(transaction=True)

ALL_SCOPES = ["read", "write", "promote", "admin"]
MLFLOW = "/t/acme/api/2.0/mlflow/"
ALIAS = MLFLOW + "registered-models/alias"
LATEST = MLFLOW + "registered-models/get-latest-versions"
VERSION = MLFLOW + "model-versions/get"
BY_ALIAS = {"name": "churn", "alias": "champion"}


@pytest.fixture(autouse=True)
def _fresh_memory():
    identitycache.forget_all()
    yield
    identitycache.forget_all()


@pytest.fixture
def churn(owner, tenant):
    """`churn`, owned by the owner's team: v1 in Production with alias `champion`, v2 READY."""
    p = principal(owner, tenant, ALL_SCOPES)
    model = services.registered_model_create(principal=p, name="churn")
    logged = make_logged_model(tenant)
    for _ in range(2):
        version = services.model_version_create(principal=p, model=model, source=f"models:/{logged.model_id}")
        services.registration_finalize(version_id=version.pk)
    v1 = model.versions.get(version=1)
    services.model_version_transition_stage(principal=p, version=v1, stage="Production")
    services.alias_set(principal=p, model=model, alias="champion", version=1)
    return model


def get(client, path: str = ALIAS, params: dict | None = None, method: str = "GET"):
    if method == "POST":
        return client.post(path, params, format="json")
    return client.get(path, BY_ALIAS if params is None else params)


def statements(client, path: str = ALIAS, params: dict | None = None, method: str = "GET"):
    with CaptureQueriesContext(connection) as ctx:
        response = get(client, path, params, method)
    return response, [q["sql"] for q in ctx.captured_queries]


def warmed(client, path: str = ALIAS, params: dict | None = None, method: str = "GET"):
    """Two requests (the first learns the token's tenant, the second remembers its identity), then check the
    third is served without SQL."""
    for _ in range(2):
        assert get(client, path, params, method).status_code == 200
    response, sql = statements(client, path, params, method)
    assert response.status_code == 200
    assert sql == []
    return response


SERVING = [
    ("GET", ALIAS, BY_ALIAS),
    ("GET", VERSION, {"name": "churn", "version": "1"}),
    ("GET", LATEST, {"name": "churn", "stages": "Production"}),
    ("POST", LATEST, {"name": "churn", "stages": ["Production"]}),
]


@pytest.mark.parametrize(("method", "path", "params"), SERVING)
@pytest.mark.parametrize("who", ["owner", "teammate", "viewer", "tenant_admin"])
def test_a_warm_serving_read_costs_no_statement_and_answers_what_the_full_path_answers(
    request, churn, tenant, who, method, path, params
):
    client = client_for(issue(request.getfixturevalue(who), tenant, ["read"]))
    first = get(client, path, params, method)
    fast = warmed(client, path, params, method)
    assert fast.content == first.content
    volatile = {"date", "server"}
    assert {k: v for k, v in fast.items() if k.lower() not in volatile} == {
        k: v for k, v in first.items() if k.lower() not in volatile
    }


def test_basic_credentials_take_the_fast_path_too(churn, teammate, tenant):
    client = client_for(None)
    client.credentials(HTTP_AUTHORIZATION=_basic(issue(teammate, tenant, ["read"])))
    warmed(client)


def _basic(secret: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"x:{secret}".encode()).decode()


def test_a_promotion_is_seen_by_the_next_fast_read(churn, owner, tenant, teammate):
    client = client_for(issue(teammate, tenant, ["read"]))
    assert warmed(client).json()["model_version"]["version"] == "1"
    services.alias_set(
        principal=principal(owner, tenant, ALL_SCOPES), model=churn, alias="champion", version=2
    )
    assert get(client).json()["model_version"]["version"] == "2"


def test_a_revoked_token_is_refused_on_the_very_next_request(churn, teammate, tenant):
    token, secret = account_services.token_issue(user=teammate, tenant=tenant, scopes=["read"])
    client = client_for(secret)
    warmed(client)
    account_services.token_revoke(token=token)
    response = get(client)
    assert response.status_code == 401
    assert response.json()["error_code"] == "UNAUTHENTICATED"


def test_an_expiry_moved_into_the_past_is_refused_at_once(churn, teammate, tenant):
    token, secret = account_services.token_issue(user=teammate, tenant=tenant, scopes=["read"])
    client = client_for(secret)
    warmed(client)
    token.expires_at = timezone.now() - dt.timedelta(seconds=1)
    token.save(update_fields=["expires_at"])
    assert get(client).status_code == 401


def test_a_deactivated_user_is_refused_at_once(churn, teammate, tenant):
    client = client_for(issue(teammate, tenant, ["read"]))
    warmed(client)
    teammate.is_active = False
    teammate.save(update_fields=["is_active"])
    assert get(client).status_code == 401


def test_a_user_removed_from_the_tenant_is_refused_at_once(churn, teammate, tenant):
    client = client_for(issue(teammate, tenant, ["read"]))
    warmed(client)
    tenant_services.membership_remove(tenant=tenant, user=teammate)
    assert get(client).status_code == 401


def test_a_suspended_tenant_is_refused_at_once(churn, teammate, tenant):
    client = client_for(issue(teammate, tenant, ["read"]))
    warmed(client)
    tenant_services.tenant_set_status(tenant=tenant, status="suspended")
    response = get(client)
    assert response.status_code == 403
    assert response.json()["error_code"] == "TENANT_SUSPENDED"


def test_a_role_downgrade_refuses_the_next_write(churn, teammate, tenant):
    client = client_for(issue(teammate, tenant, ALL_SCOPES))
    warmed(client)
    tenant_services.membership_set(tenant=tenant, user=teammate, role="viewer")
    response = client.post(MLFLOW + "registered-models/set-tag", {"name": "churn", "key": "k"}, format="json")
    assert response.status_code == 403
    assert get(client).status_code == 200  # viewers read


def test_turning_off_the_members_default_read_hides_other_teams_models_at_once(churn, teammate, tenant):
    client = client_for(issue(teammate, tenant, ["read"]))
    warmed(client)
    tenant_services.tenant_update(tenant=tenant, members_read_all=False)
    response = get(client)
    assert response.status_code == 404
    assert response.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_leaving_the_owning_team_hides_a_team_only_model_at_once(churn, owner, team, tenant):
    tenant_services.tenant_update(tenant=tenant, members_read_all=False)
    client = client_for(issue(owner, tenant, ["read"]))
    warmed(client)  # the owning team reads it with no grant, from the fast path
    tenant_services.team_member_remove(team=team, user=owner)
    assert get(client).status_code == 404


def test_another_tenant_and_a_reader_without_access_are_refused(
    churn, owner, teammate, outsider, other_tenant, tenant
):
    tenant_services.tenant_update(tenant=tenant, members_read_all=False)
    warmed(client_for(issue(owner, tenant, ["read"])))  # the answer is in the cache
    teammate_client = client_for(issue(teammate, tenant, ["read"]))
    for _ in range(3):
        assert get(teammate_client).status_code == 404
    outsider_client = client_for(issue(outsider, other_tenant))
    for _ in range(3):
        assert get(outsider_client).status_code == 404
    # A warm token naming another tenant's slug: the same 404 as an unknown tenant.
    owner_client = client_for(issue(owner, tenant, ["read"]))
    warmed(owner_client)
    response = get(owner_client, f"/t/{other_tenant.slug}/api/2.0/mlflow/registered-models/alias")
    assert response.status_code == 404


def test_a_token_without_the_read_scope_never_gets_a_fast_answer(churn, owner, tenant):
    warmed(client_for(issue(owner, tenant, ["read"])))
    client = client_for(issue(owner, tenant, ["write"]))
    for _ in range(3):
        assert get(client).status_code == 404


def test_a_grant_reader_is_answered_by_the_full_path_every_time(churn, owner, teammate, other_team, tenant):
    tenant_services.tenant_update(tenant=tenant, members_read_all=False)
    services.registered_model_set_grants(
        principal=principal(owner, tenant, ALL_SCOPES),
        model=churn,
        grants=[{"team": other_team.slug, "level": "read"}],
    )
    client = client_for(issue(teammate, tenant, ["read"]))
    for _ in range(3):
        response, sql = statements(client)
        assert response.status_code == 200
        assert sql, "grants are looked at in the database, never answered from the fast path"


def test_a_blocked_address_is_refused_before_the_fast_path_answers(churn, teammate, tenant):
    client = client_for(issue(teammate, tenant, ["read"]))
    warmed(client)
    caches["throttle"].set("authblock:addr:127.0.0.1", time.time() + 60, timeout=60)
    response = get(client)
    assert response.status_code == 429


def test_fast_answers_are_counted_as_resolves(churn, owner, teammate, tenant):
    for user in (teammate, owner):  # the members' default read, and the owning team (second round trip)
        if user is owner:
            tenant_services.tenant_update(tenant=tenant, members_read_all=False)
        client = client_for(issue(user, tenant, ["read"]))
        warmed(client)
        get(client)
        counts = usage.pending(tenant.pk, churn.pk, 1)
        assert counts is not None
        assert counts[(usage.today(), user.username)][0] == 4


def test_a_stale_last_used_at_goes_the_full_path_which_writes_it(churn, teammate, tenant):
    token, secret = account_services.token_issue(user=teammate, tenant=tenant, scopes=["read"])
    client = client_for(secret)
    warmed(client)
    long_ago = timezone.now() - dt.timedelta(minutes=5)
    type(token).objects.filter(pk=token.pk).update(last_used_at=long_ago)
    identitycache.forget_all()
    get(client)  # learns the tenant; writes last_used_at
    token.refresh_from_db()
    assert token.last_used_at > long_ago


def test_redis_down_sends_every_serving_read_to_the_database(churn, teammate, tenant):
    client = client_for(issue(teammate, tenant, ["read"]))
    warmed(client)
    readcache.connect("redis://127.0.0.1:9/0")  # nothing listens on the discard port
    try:
        for _ in range(2):
            response, sql = statements(client)
            assert response.status_code == 200
            assert sql
    finally:
        readcache.connect()


def test_a_lost_auth_bump_keeps_this_process_off_remembered_identities_until_it_lands(
    churn, teammate, tenant
):
    token, secret = account_services.token_issue(user=teammate, tenant=tenant, scopes=["read"])
    client = client_for(secret)
    warmed(client)
    identitycache.connect("redis://127.0.0.1:9/0")
    try:
        account_services.token_revoke(token=token)  # its bump fails and is kept
    finally:
        identitycache.connect()
    assert identitycache.has_pending()
    assert get(client).status_code == 401
    assert not identitycache.has_pending()  # retried before the next use, and landed


def _call_wsgi(environ: dict) -> tuple[str, dict, bytes, list[str]]:
    from config.wsgi import application

    started: list = []
    with CaptureQueriesContext(connection) as ctx:
        result = application(
            environ, lambda status, headers, exc_info=None: started.append((status, headers))
        )
        try:
            body = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()
    status, headers = started[0]
    return status, dict(headers), body, [q["sql"] for q in ctx.captured_queries]


def test_the_wsgi_entry_answers_warm_reads_before_django_and_leaves_the_rest_to_it(churn, teammate, tenant):
    import json

    from django.test import RequestFactory

    token, secret = account_services.token_issue(user=teammate, tenant=tenant, scopes=["read"])
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    factory = RequestFactory()
    latest_body = json.dumps({"name": "churn", "stages": ["Production"]})

    def alias_environ():
        return factory.get(ALIAS, BY_ALIAS, **auth).environ

    def latest_environ():
        return factory.post(LATEST, latest_body, content_type="application/json", **auth).environ

    # Cold: Django answers (the JSON body reaches it whole), and the fast path learns.
    cold = [_call_wsgi(alias_environ()) for _ in range(2)] + [_call_wsgi(latest_environ()) for _ in range(2)]
    assert all(status == "200 OK" for status, _h, _b, _sql in cold)
    assert cold[0][3] and cold[2][3]
    for make, expected in ((alias_environ, cold[0]), (latest_environ, cold[2])):
        status, headers, body, sql = _call_wsgi(make())
        assert (status, body, sql) == ("200 OK", expected[2], [])
        assert headers["Content-Type"] == "application/json"
        assert headers["Content-Length"] == str(len(body))
    account_services.token_revoke(token=token)
    status, _headers, body, _sql = _call_wsgi(alias_environ())
    assert status.startswith("401")
    assert json.loads(body)["error_code"] == "UNAUTHENTICATED"
