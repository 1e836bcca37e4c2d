"""The platform admin's commands (DESIGN.md): each succeeds, and each bad input ends with a one-line reason and a
non-zero exit. `call_command` covers the cases; real `manage.py` subprocesses check the exit codes, stderr and the
"token alone on the last line" rule that scripts rely on. Service accounts and tokens: test_credential_commands.py."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from accounts import services as account_services
from accounts.models import ServiceAccount
from tenants.models import Membership, Team, TeamMembership, Tenant
from tests.helpers import ROOT, client_for

from .conftest import TOKEN_RE, fails, last_line, run

# --- create_tenant ----------------------------------------------------------------------------------------------


def test_create_tenant_creates_it_with_a_default_experiment(db):
    from registry.tracking.models import Experiment

    out = run("create_tenant", "initech", "--name", "Initech Inc.")
    assert "initech" in out
    tenant = Tenant.objects.get(slug="initech")
    assert (tenant.name, tenant.status) == ("Initech Inc.", "active")
    assert Experiment.objects.filter(tenant=tenant, name="Default").exists()


def test_create_tenant_names_it_after_its_slug_by_default(db):
    run("create_tenant", "hooli")
    assert Tenant.objects.get(slug="hooli").name == "hooli"


@pytest.mark.parametrize("slug", ["Acme", "-acme", "acme-", "ac_me", "ac.me", "a" * 64, "acme/x"])
def test_create_tenant_refuses_bad_slugs(db, slug):
    fails("create_tenant", "--", slug, match="Invalid tenant slug")  # "--": "-acme" is not an option
    assert not Tenant.objects.exists()


def test_create_tenant_refuses_a_duplicate(tenant):
    fails("create_tenant", "acme", match="Tenant 'acme' already exists")


# --- create_team ------------------------------------------------------------------------------------------------


def test_create_team_creates_a_team_backed_by_a_group(tenant):
    out = run("create_team", "acme", "vision", "--name", "Vision")
    team = Team.objects.get(tenant=tenant, slug="vision")
    assert team.name == "Vision" and team.group_id is not None
    assert "vision" in out


def test_the_same_team_slug_may_exist_in_two_tenants(tenant, other_tenant):
    run("create_team", "acme", "ml")
    run("create_team", "globex", "ml")
    assert Team.objects.filter(slug="ml").count() == 2


def test_create_team_refuses_an_unknown_tenant(db):
    fails("create_team", "nope", "ml", match="Tenant 'nope' not found", returncode=2)


def test_create_team_refuses_a_duplicate(team):
    fails("create_team", "acme", "alpha", match="Team 'alpha' already exists in tenant 'acme'")


def test_create_team_refuses_a_bad_slug(tenant):
    fails("create_team", "acme", "Data Science", match="Invalid team slug")


# --- create_user ------------------------------------------------------------------------------------------------


def test_create_user_adds_a_member_with_teams_and_a_password(team, other_team, client):
    out = run(
        "create_user",
        "peter",
        "--tenant",
        "acme",
        "--role",
        "member",
        "--team",
        "alpha",
        "--team",
        "beta",
        "--password",
        "peter-pw-123",
    )
    assert "peter" in out
    user = get_user_model().objects.get(username="peter")
    assert Membership.objects.get(user=user).role == "member"
    assert set(TeamMembership.objects.filter(user=user).values_list("team__slug", flat=True)) == {
        "alpha",
        "beta",
    }
    assert client.login(username="peter", password="peter-pw-123")


def test_create_user_without_a_password_cannot_log_in(tenant):
    run("create_user", "sam", "--tenant", "acme", "--role", "viewer")
    assert not get_user_model().objects.get(username="sam").has_usable_password()


def test_create_user_adds_an_existing_user_to_another_tenant(owner, other_tenant):
    run("create_user", "olivia", "--tenant", "globex", "--role", "viewer")
    roles = dict(Membership.objects.filter(user=owner).values_list("tenant__slug", "role"))
    assert roles == {"acme": "member", "globex": "viewer"}


def test_create_user_refuses_an_unknown_tenant(db):
    fails(
        "create_user",
        "peter",
        "--tenant",
        "nope",
        "--role",
        "member",
        match="Tenant 'nope' not found",
        returncode=2,
    )


def test_create_user_refuses_an_unknown_team(tenant):
    fails(
        "create_user",
        "peter",
        "--tenant",
        "acme",
        "--role",
        "member",
        "--team",
        "ghosts",
        match="Team 'ghosts' not found in tenant 'acme'",
        returncode=2,
    )
    assert not get_user_model().objects.filter(username="peter").exists()


def test_create_user_refuses_an_unknown_role(tenant):
    fails("create_user", "peter", "--tenant", "acme", "--role", "boss", match="invalid choice: 'boss'")


def test_create_user_refuses_a_duplicate_in_the_same_tenant(owner):
    fails(
        "create_user",
        "olivia",
        "--tenant",
        "acme",
        "--role",
        "viewer",
        match="User 'olivia' already exists in tenant 'acme'",
    )
    assert Membership.objects.get(user=owner).role == "member"


def test_create_user_refuses_a_bad_username(tenant):
    fails("create_user", "bad name!", "--tenant", "acme", "--role", "member", match="Invalid username")


def test_create_user_refuses_a_short_password(tenant):
    fails(
        "create_user",
        "peter",
        "--tenant",
        "acme",
        "--role",
        "member",
        "--password",
        "short",
        match="at least 8 characters",
    )


def test_create_user_requires_the_tenant_and_role(db):
    fails("create_user", "peter", match="required: --tenant, --role")


# --- real manage.py processes -----------------------------------------------------------------------------------


def manage_env() -> dict[str, str]:
    """The environment of a manage.py process that works on the test database (it sees committed rows only)."""
    s = connection.settings_dict
    env = dict(os.environ)
    env["DATABASE_URL"] = (
        f"postgres://{s['USER']}:{s.get('PASSWORD') or ''}@{s.get('HOST') or '127.0.0.1'}:"
        f"{s.get('PORT') or 5432}/{s['NAME']}"
    )
    return env


def manage(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=manage_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_one_line_failure(proc: subprocess.CompletedProcess, returncode: int, match: str) -> None:
    assert proc.returncode == returncode, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert re.search(match, lines[0]), lines[0]
    assert "Traceback" not in proc.stderr


@pytest.mark.django_db(transaction=True)
def test_the_commands_run_from_the_command_line_and_their_tokens_work():
    steps = [
        ("create_tenant", "initech", "--name", "Initech"),
        ("create_team", "initech", "ml"),
        (
            "create_user",
            "peter",
            "--tenant",
            "initech",
            "--role",
            "member",
            "--team",
            "ml",
            "--password",
            "peter-pw-123",
        ),
    ]
    for step in steps:
        proc = manage(*step)
        assert (proc.returncode, proc.stderr) == (0, ""), (step, proc.stdout, proc.stderr)

    proc = manage(
        "create_service_account",
        "initech",
        "ci",
        "--role",
        "member",
        "--team",
        "ml",
        "--scopes",
        "read,write",
    )
    assert (proc.returncode, proc.stderr) == (0, ""), proc.stderr
    sa_token = last_line(proc.stdout)
    assert TOKEN_RE.match(sa_token), proc.stdout

    proc = manage("issue_token", "peter", "--tenant", "initech", "--scopes", "read")
    assert (proc.returncode, proc.stderr) == (0, ""), proc.stderr
    user_token = last_line(proc.stdout)
    assert TOKEN_RE.match(user_token), proc.stdout

    sa = client_for(sa_token).get("/t/initech/api/v1/me")
    assert sa.status_code == 200, sa.content
    assert (sa.json()["username"], sa.json()["teams"], sa.json()["is_service_account"]) == (
        "sa.initech.ci",
        ["ml"],
        True,
    )
    peter = client_for(user_token).get("/api/v1/me")
    assert peter.status_code == 200, peter.content
    assert (peter.json()["username"], peter.json()["tenant"], peter.json()["scopes"]) == (
        "peter",
        "initech",
        ["read"],
    )


@pytest.mark.django_db(transaction=True)
def test_bad_input_on_the_command_line_exits_non_zero_with_one_line(viewer):
    cases = [
        (("create_tenant", "Not A Slug"), 1, r"^CommandError: Invalid tenant slug 'Not A Slug'"),
        (("create_tenant", "acme"), 1, r"^CommandError: Tenant 'acme' already exists\."),
        (("create_team", "nope", "ml"), 2, r"^CommandError: Tenant 'nope' not found\."),
        (
            ("create_user", "peter", "--tenant", "acme", "--role", "boss"),
            2,
            r"^manage.py create_user: error: argument --role: invalid choice: 'boss'",
        ),
        (
            ("create_user", "peter", "--tenant", "acme", "--role", "member", "--team", "ghosts"),
            2,
            r"^CommandError: Team 'ghosts' not found in tenant 'acme'\.",
        ),
        (
            ("create_service_account", "acme", "ci", "--role", "member", "--scopes", "read,fly"),
            1,
            r"^CommandError: Unknown scope\(s\) fly",
        ),
        (
            ("issue_token", "vera", "--tenant", "acme", "--scopes", "write"),
            1,
            r"^CommandError: A viewer's token can only have the 'read' scope\.",
        ),
    ]
    # Independent processes: run them side by side to keep the suite fast.
    procs = [
        (
            args,
            code,
            match,
            subprocess.Popen(
                [sys.executable, "manage.py", *args],
                cwd=ROOT,
                env=manage_env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            ),
        )
        for args, code, match in cases
    ]
    for args, code, match, popen in procs:
        stdout, stderr = popen.communicate(timeout=120)
        assert_one_line_failure(
            subprocess.CompletedProcess(args, popen.returncode, stdout, stderr), code, match
        )
    assert not ServiceAccount.objects.exists()
    assert list(Tenant.objects.values_list("slug", flat=True)) == ["acme"]


def test_adding_an_existing_user_with_a_new_password_is_audited(tenant, other_tenant, owner):
    from registry.models import AuditEvent

    account_services.user_create(
        username="olivia", tenant=other_tenant, role="member", password="another-pw-1"
    )
    event = AuditEvent.objects.get(tenant=other_tenant, action="user.password_set")
    assert event.after == {"username": "olivia"}
    assert "another-pw-1" not in str(event.before) + str(event.after)
