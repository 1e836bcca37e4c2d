from __future__ import annotations

from tenants.access import Principal
from tenants.models import Team


def me_payload(principal: Principal) -> dict:
    user = principal.user
    teams = list(
        Team.objects.filter(pk__in=principal.team_ids).order_by("slug").values_list("slug", flat=True)
    )
    from accounts.models import SCOPES

    return {
        "username": user.username,
        "tenant": principal.tenant.slug,
        "role": principal.role,
        "teams": teams,
        "scopes": [s for s in SCOPES if s in principal.scopes],
        "is_service_account": user.is_service_account,
        "is_platform_admin": principal.platform_admin,
        "token": (
            {
                "prefix": principal.token.prefix,
                "expires_at": principal.token.expires_at,
                "name": principal.token.name,
            }
            if principal.token
            else None
        ),
    }
