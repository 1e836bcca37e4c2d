"""Credentials: Bearer and Basic (what the MLflow client sends), missing or malformed headers, and session login for
the web."""

from __future__ import annotations

import base64

import pytest
from rest_framework.test import APIClient

from accounts import services as account_services
from tests.helpers import issue

ME = "/t/acme/api/v1/me"


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def test_bearer_tokens_authenticate(owner, tenant):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue(owner, tenant)}")
    res = client.get(ME)
    assert res.status_code == 200, res.content
    assert res.json()["username"] == "olivia"


def test_the_bearer_scheme_is_case_insensitive(owner, tenant):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"bearer {issue(owner, tenant)}")
    assert client.get(ME).status_code == 200


@pytest.mark.parametrize("username", ["olivia", "anything", "", "token"])
def test_basic_auth_takes_the_token_as_password_whatever_the_username(owner, tenant, username):
    # MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD: the username is not checked, the token decides who you are.
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=basic(username, issue(owner, tenant)))
    res = client.get(ME)
    assert res.status_code == 200, res.content
    assert res.json()["username"] == "olivia"


def test_basic_auth_with_a_password_instead_of_a_token_is_refused(owner, tenant):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=basic("olivia", "olivia-pw-123"))
    res = client.get(ME)
    assert res.status_code == 401
    assert res.json()["error_code"] == "UNAUTHENTICATED"
    assert "mgt_" in res.json()["message"]


@pytest.mark.parametrize(
    "header", ["Basic !!!not-base64!!!", "Basic " + base64.b64encode(b"no-colon").decode()]
)
def test_malformed_basic_credentials_are_refused(tenant, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    res = client.get(ME)
    assert res.status_code == 401
    assert res.json() == {"error_code": "UNAUTHENTICATED", "message": "Malformed Basic credentials."}


def test_unknown_authorization_schemes_are_refused(tenant):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Digest abc")
    res = client.get(ME)
    assert res.status_code == 401
    assert res.json()["error_code"] == "UNAUTHENTICATED"
    assert "Bearer" in res.json()["message"]


@pytest.mark.parametrize("path", [ME, "/api/v1/me", "/t/acme/api/2.0/mlflow/experiments/search"])
def test_requests_without_credentials_get_401(tenant, path):
    res = APIClient().get(path)
    assert res.status_code == 401
    assert res.json()["error_code"] == "UNAUTHENTICATED"
    assert res["WWW-Authenticate"] == 'Bearer realm="modelgate"'


def test_an_empty_bearer_token_is_refused(tenant):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer ")
    res = client.get(ME)
    assert res.status_code == 401
    assert res.json()["error_code"] == "UNAUTHENTICATED"


# --- sessions (web) ---------------------------------------------------------------------------------------------


def test_the_login_page_renders(client, db):
    res = client.get("/accounts/login/")
    assert res.status_code == 200
    html = res.content.decode()
    assert "<form" in html and 'name="username"' in html and 'name="password"' in html
    assert "csrfmiddlewaretoken" in html


def test_logging_in_with_the_form_opens_a_session_that_the_api_accepts(client, owner, tenant):
    res = client.post("/accounts/login/", {"username": "olivia", "password": "olivia-pw-123"})
    assert res.status_code == 302, res.content
    res = client.get(ME)
    assert res.status_code == 200, res.content
    body = res.json()
    assert body["username"] == "olivia" and body["is_service_account"] is False
    assert body["token"] is None


def test_a_wrong_password_shows_the_form_again_with_an_error(client, owner, tenant):
    res = client.post("/accounts/login/", {"username": "olivia", "password": "nope-nope"})
    assert res.status_code == 200
    assert "correct username and password" in res.content.decode()
    assert client.get(ME).status_code in (401, 403)


def test_a_session_is_csrf_protected_for_writes(owner, tenant):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(owner)
    res = client.post("/t/acme/api/2.0/mlflow/experiments/create", {"name": "x"}, format="json")
    assert res.status_code == 403
    assert res.json()["error_code"] == "PERMISSION_DENIED"
    assert "CSRF" in res.json()["message"]


def test_service_accounts_cannot_log_in_with_a_password(client, tenant):
    from accounts import services as account_services

    sa, _secret = account_services.service_account_create(tenant=tenant, name="ci", role="member")
    assert not sa.user.has_usable_password()
    res = client.post("/accounts/login/", {"username": sa.user.username, "password": ""})
    assert res.status_code == 200
    assert "_auth_user_id" not in client.session


def test_the_landing_page_sends_anonymous_visitors_to_the_login(client, db):
    res = client.get("/")
    assert res.status_code == 302
    assert res["Location"].startswith("/accounts/login/")


def test_after_login_the_landing_page_lists_the_users_tenants(client, owner, tenant, other_tenant):
    res = client.post("/accounts/login/", {"username": "olivia", "password": "olivia-pw-123"}, follow=True)
    assert res.status_code == 200
    html = res.content.decode()
    assert "http://testserver/t/acme" in html
    assert "globex" not in html


def test_signing_out_ends_the_session(client, owner, tenant):
    client.force_login(owner)
    assert client.post("/accounts/logout/").status_code == 200
    assert client.get("/").status_code == 302


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["user", "service_account"])
def test_the_one_statement_token_load_matches_the_orms(kind, owner, tenant, team, django_assert_num_queries):
    """`load_token` (fixed SQL, no ORM compile) gives what `token_with_principal` gives, wired the same way."""
    from accounts import tokens
    from accounts.authentication import load_token, token_with_principal

    if kind == "user":
        secret = issue(owner, tenant, ["read", "write"])
    else:
        _account, secret = account_services.service_account_create(
            tenant=tenant, name="ci", role="member", team=team, scopes=["read"]
        )
    digest = tokens.digest(secret)
    expected = token_with_principal(digest).first()
    with django_assert_num_queries(1):
        token = load_token(digest)
        assert (token.user.username, token.tenant.slug) == (expected.user.username, expected.tenant.slug)
        assert token.scopes == expected.scopes and token.expires_at == expected.expires_at
        assert token.principal_role == expected.principal_role
        assert sorted(token.principal_team_ids) == sorted(expected.principal_team_ids)
        assert hasattr(token.user, "service_account") == (kind == "service_account")
    assert load_token("0" * 64) is None
