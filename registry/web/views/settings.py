"""Tenant settings, for tenant admins only (everyone else gets 403 on every URL here, another tenant's 404 from the
gatekeeper): memberships and roles (add an existing user, change a role, remove), teams (create, rename, delete)
and their members, service accounts and their tokens (a new account's token is shown once). Request policies and
webhooks are in `settings_governance.py` and `settings_webhooks.py`. Every change is a `tenants` / `accounts` /
`registry` service call, audited like the API's."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from accounts import services as account_services
from accounts.models import ApiToken, ServiceAccount
from config.errors import AlreadyExists, InvalidParameter, NotFound, PermissionDenied
from registry.models import Stage, TransitionPolicy
from registry.webhooks import outbox as webhook_outbox
from registry.webhooks import selectors as webhook_selectors
from tenants import services as tenant_services
from tenants.access import Principal
from tenants.models import Membership, Role, Team, TeamMembership

from ..access import after_post, page, tenant_page
from ..selectors import readable_models, user_to_invite

# Model names suggested by the policy and webhook forms' model field (any name may still be typed).
MODEL_CHOICES = 500


def _require_admin(principal: Principal) -> None:
    if not principal.is_tenant_admin:
        raise PermissionDenied("Tenant settings need the tenant admin role.")
    if principal.tenant.is_suspended:
        raise PermissionDenied(f"Tenant '{principal.tenant.slug}' is suspended: its settings are read-only.")


def _member(principal: Principal, username: str) -> Any:
    """A user with a membership in this tenant; anyone else is not found (never another tenant's user)."""
    found = Membership.objects.filter(tenant=principal.tenant, user__username=username).select_related("user")
    membership = found.first()
    if membership is None:
        raise NotFound(f"User '{username}' is not a member of this tenant.")
    return membership.user


def _back(principal: Principal, section: str = "") -> str:
    url = reverse("web:settings", kwargs={"tenant": principal.tenant.slug})
    return f"{url}#{section}" if section else url


def _render(request: HttpRequest, principal: Principal, **extra: Any) -> HttpResponse:
    tenant = principal.tenant
    teams = Team.objects.filter(tenant=tenant).order_by("slug")
    team_members = {
        team.pk: list(
            TeamMembership.objects.filter(team=team).select_related("user").order_by("user__username")
        )
        for team in teams
    }
    accounts = ServiceAccount.objects.filter(tenant=tenant).select_related("user", "team").order_by("name")
    context = {
        "memberships": Membership.objects.filter(tenant=tenant)
        .select_related("user")
        .order_by("user__username"),
        "roles": Role.values,
        "teams": [{"team": t, "members": team_members[t.pk]} for t in teams],
        "accounts": [
            {
                "account": a,
                "tokens": ApiToken.objects.filter(user=a.user, tenant=tenant).order_by("-created_at"),
            }
            for a in accounts
        ],
        "policies": TransitionPolicy.objects.filter(model__tenant=tenant)
        .select_related("model")
        .order_by("model__name", "stage"),
        "webhooks": [
            {"webhook": w, "deliveries": list(webhook_selectors.deliveries_of(w)[:10])}
            for w in webhook_selectors.webhook_list(principal)
        ],
        "stages": Stage.values,
        "model_names": list(
            readable_models(principal).order_by("name").values_list("name", flat=True)[:MODEL_CHOICES]
        ),
        "webhook_events": [webhook_outbox.ALL, *webhook_outbox.EVENTS],
        **extra,
    }
    context.setdefault("policy_form", _policy_form(principal, request.GET.get("policy", "")))
    response = page(request, principal, "web/settings.html", context, nav="settings")
    if "secret" in extra or "webhook_secret" in extra:
        response.headers["Cache-Control"] = "no-store"  # the one response carrying the secret
    return response


def _policy_form(principal: Principal, policy_id: str) -> dict[str, Any] | None:
    """The policy form's values when editing an existing policy (`?policy=<id>`, from its row's Edit link)."""
    if not policy_id.isascii() or not policy_id.isdigit() or len(policy_id) > 18:
        return None
    policy = (
        TransitionPolicy.objects.filter(model__tenant=principal.tenant, pk=int(policy_id))
        .select_related("model")
        .first()
    )
    if policy is None:
        return None
    return {
        "model": policy.model.name,
        "stage": policy.stage,
        "requires_approval": policy.requires_approval,
        "approvals_required": policy.approvals_required,
        "gate": json.dumps(policy.gate) if policy.gate else "",
    }


@require_http_methods(["GET", "POST"])
@tenant_page
def settings_page(request: HttpRequest, principal: Principal) -> HttpResponse:
    """GET: the settings. POST: create a service account (the page shows its token once, so it is not a redirect)."""
    _require_admin(principal)
    if request.method != "POST":
        return _render(request, principal)
    team_slug = request.POST.get("team", "").strip()
    try:
        team = tenant_services.team_get(tenant=principal.tenant, slug=team_slug) if team_slug else None
        account, secret = account_services.service_account_create(
            tenant=principal.tenant,
            name=request.POST.get("name", "").strip(),
            role=request.POST.get("role", "member"),
            team=team,
            scopes=request.POST.getlist("scopes") or None,
            actor=request.user,
        )
    except (InvalidParameter, NotFound, AlreadyExists) as exc:  # input to correct: shown above the form
        return _render(request, principal, account_error=exc.message)
    return _render(request, principal, secret=secret, created=account)


@require_POST
@tenant_page
def member_add(request: HttpRequest, principal: Principal) -> HttpResponse:
    """Add an existing user (by username or email) to the tenant with a role."""
    _require_admin(principal)

    def add() -> str:
        user = user_to_invite(request.POST.get("user", ""))
        role = request.POST.get("role", "")
        tenant_services.membership_add(tenant=principal.tenant, user=user, role=role, actor=request.user)
        return f"{user.username} added to the tenant as {role}."

    return after_post(request, _back(principal, "members-heading"), add)


@require_POST
@tenant_page
def member_role(request: HttpRequest, principal: Principal, username: str) -> HttpResponse:
    _require_admin(principal)
    user = _member(principal, username)

    def change() -> str:
        role = request.POST.get("role", "")
        if role not in Role.values:
            raise InvalidParameter(f"Unknown role {role!r}.")
        tenant_services.membership_set(tenant=principal.tenant, user=user, role=role, actor=request.user)
        return f"{username} is now {role}."

    return after_post(request, _back(principal), change)


@require_POST
@tenant_page
def member_remove(request: HttpRequest, principal: Principal, username: str) -> HttpResponse:
    _require_admin(principal)
    user = _member(principal, username)

    def remove() -> str:
        tenant_services.membership_remove(tenant=principal.tenant, user=user, actor=request.user)
        return f"{username} removed from the tenant."

    return after_post(request, _back(principal), remove)


@require_POST
@tenant_page
def team_create(request: HttpRequest, principal: Principal) -> HttpResponse:
    _require_admin(principal)

    def create() -> str:
        team = tenant_services.team_create(
            tenant=principal.tenant,
            slug=request.POST.get("slug", "").strip(),
            name=request.POST.get("name", "").strip(),
            actor=request.user,
        )
        return f"Team {team.slug} created."

    return after_post(request, _back(principal, "teams-heading"), create)


@require_POST
@tenant_page
def team_rename(request: HttpRequest, principal: Principal, team: str) -> HttpResponse:
    _require_admin(principal)
    found = tenant_services.team_get(tenant=principal.tenant, slug=team)

    def rename() -> str:
        renamed = tenant_services.team_update(
            team=found, name=request.POST.get("name", ""), actor=request.user
        )
        return f"Team {renamed.slug} is now named {renamed.name}."

    return after_post(request, _back(principal, "teams-heading"), rename)


@require_POST
@tenant_page
def team_delete(request: HttpRequest, principal: Principal, team: str) -> HttpResponse:
    _require_admin(principal)
    found = tenant_services.team_get(tenant=principal.tenant, slug=team)

    def delete() -> str:
        tenant_services.team_delete(team=found, actor=request.user)
        return f"Team {found.slug} deleted."

    return after_post(request, _back(principal, "teams-heading"), delete)


@require_POST
@tenant_page
def team_member(request: HttpRequest, principal: Principal, team: str, verb: str) -> HttpResponse:
    _require_admin(principal)
    found = tenant_services.team_get(tenant=principal.tenant, slug=team)
    if verb not in ("add", "remove"):
        raise NotFound(f"No such action {verb!r}.")
    user = _member(principal, request.POST.get("username", "").strip())

    def change() -> str:
        if verb == "add":
            role = request.POST.get("role") or TeamMembership.TeamRole.MEMBER
            tenant_services.team_member_add(team=found, user=user, role=role, actor=request.user)
            return f"{user.username} added to team {found.slug}."
        tenant_services.team_member_remove(team=found, user=user, actor=request.user)
        return f"{user.username} removed from team {found.slug}."

    return after_post(request, _back(principal), change)


@require_POST
@tenant_page
def account_token_revoke(request: HttpRequest, principal: Principal, token_id: int) -> HttpResponse:
    _require_admin(principal)
    token = ApiToken.objects.filter(
        pk=token_id, tenant=principal.tenant, user__service_account__tenant=principal.tenant
    ).first()
    if token is None:
        raise NotFound(f"Token {token_id} not found.")

    def revoke() -> str:
        account_services.token_revoke(token=token, actor=request.user)
        return f"Token {token.prefix}… revoked."

    return after_post(request, _back(principal), revoke)
