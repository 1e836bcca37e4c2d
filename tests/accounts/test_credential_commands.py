"""The platform admin's credential commands, `create_service_account` and `issue_token`: each succeeds and prints
the token alone on the last line; each bad input ends with a one-line reason and a non-zero exit."""

from __future__ import annotations

import pytest

from accounts.models import ApiToken, ServiceAccount
from tests.helpers import client_for

from .conftest import TOKEN_RE, fails, last_line, run

# --- create_service_account -------------------------------------------------------------------------------------


def test_create_service_account_prints_a_working_token_alone_on_the_last_line(team):
    out = run(
        "create_service_account",
        "acme",
        "trainer",
        "--role",
        "member",
        "--team",
        "alpha",
        "--scopes",
        "read,write",
    )
    token = last_line(out)
    assert TOKEN_RE.match(token), out
    assert out.count(token) == 1
    sa = ServiceAccount.objects.get(tenant=team.tenant, name="trainer")
    assert (sa.role, sa.team_id) == ("member", team.pk)
    body = client_for(token).get("/t/acme/api/v1/me").json()
    assert (body["username"], body["is_service_account"], body["teams"], body["scopes"]) == (
        "sa.acme.trainer",
        True,
        ["alpha"],
        ["read", "write"],
    )


def test_create_service_account_uses_the_roles_default_scopes(tenant):
    token = last_line(run("create_service_account", "acme", "reader", "--role", "viewer"))
    assert ApiToken.objects.get(user__service_account__name="reader").scopes == ["read"]
    assert client_for(token).get("/t/acme/api/v1/me").json()["role"] == "viewer"


def test_create_service_account_refuses_an_unknown_tenant(db):
    fails(
        "create_service_account",
        "nope",
        "ci",
        "--role",
        "member",
        match="Tenant 'nope' not found",
        returncode=2,
    )


def test_create_service_account_refuses_an_unknown_team(tenant):
    fails(
        "create_service_account",
        "acme",
        "ci",
        "--role",
        "member",
        "--team",
        "ghosts",
        match="Team 'ghosts' not found",
        returncode=2,
    )
    assert not ServiceAccount.objects.exists()


def test_create_service_account_refuses_a_duplicate_name(tenant):
    run("create_service_account", "acme", "ci", "--role", "member")
    fails(
        "create_service_account",
        "acme",
        "ci",
        "--role",
        "viewer",
        match="Service account 'ci' already exists in tenant 'acme'",
    )
    assert ApiToken.objects.count() == 1


def test_the_same_service_account_name_may_exist_in_two_tenants(tenant, other_tenant):
    run("create_service_account", "acme", "ci", "--role", "member")
    run("create_service_account", "globex", "ci", "--role", "member")
    assert ServiceAccount.objects.filter(name="ci").count() == 2


@pytest.mark.parametrize(
    ("scopes", "match"),
    [
        ("read,deploy", "Unknown scope"),
        ("everything", "Unknown scope"),
    ],
)
def test_create_service_account_refuses_bad_scopes(tenant, scopes, match):
    fails("create_service_account", "acme", "ci", "--role", "member", "--scopes", scopes, match=match)
    assert not ServiceAccount.objects.exists()


def test_create_service_account_refuses_write_scopes_for_a_viewer(tenant):
    fails(
        "create_service_account",
        "acme",
        "ci",
        "--role",
        "viewer",
        "--scopes",
        "read,write",
        match="viewer's token can only have the 'read' scope",
    )


def test_create_service_account_refuses_an_unknown_role(tenant):
    fails("create_service_account", "acme", "ci", "--role", "robot", match="invalid choice: 'robot'")


def test_create_service_account_refuses_a_bad_name(tenant):
    fails(
        "create_service_account", "acme", "CI Bot", "--role", "member", match="Invalid service account name"
    )


# --- issue_token ------------------------------------------------------------------------------------------------


def test_issue_token_prints_a_working_token_alone_on_the_last_line(owner):
    out = run("issue_token", "olivia", "--tenant", "acme", "--scopes", "read", "--name", "laptop")
    token = last_line(out)
    assert TOKEN_RE.match(token), out
    assert out.count(token) == 1
    body = client_for(token).get("/t/acme/api/v1/me").json()
    assert (body["username"], body["scopes"]) == ("olivia", ["read"])
    assert ApiToken.objects.get(user=owner).name == "laptop"


def test_issue_token_sets_the_expiry_in_days(owner):
    from datetime import timedelta

    from django.utils import timezone

    run("issue_token", "olivia", "--tenant", "acme", "--expires-days", "7")
    expires_at = ApiToken.objects.get(user=owner).expires_at
    assert abs(expires_at - (timezone.now() + timedelta(days=7))) < timedelta(minutes=1)


def test_issue_token_refuses_an_unknown_user(tenant):
    fails("issue_token", "nobody", "--tenant", "acme", match="User 'nobody' not found", returncode=2)


def test_issue_token_refuses_an_unknown_tenant(owner):
    fails("issue_token", "olivia", "--tenant", "nope", match="Tenant 'nope' not found", returncode=2)


def test_issue_token_refuses_a_user_outside_the_tenant(owner, other_tenant):
    fails("issue_token", "olivia", "--tenant", "globex", match="not a member of tenant 'globex'")


def test_issue_token_refuses_bad_scopes(owner):
    fails("issue_token", "olivia", "--tenant", "acme", "--scopes", "root", match="Unknown scope")


def test_issue_token_caps_a_viewer_at_read(viewer):
    fails(
        "issue_token",
        "vera",
        "--tenant",
        "acme",
        "--scopes",
        "read,write",
        match="only have the 'read' scope",
    )
    assert not ApiToken.objects.exists()


def test_issue_token_refuses_a_non_positive_expiry(owner):
    fails("issue_token", "olivia", "--tenant", "acme", "--expires-days", "0", match="positive")
