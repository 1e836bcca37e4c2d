"""Personal API tokens (`/t/<tenant>/tokens/`): every member issues their own, with scopes their role allows, and
revokes their own. The secret is shown once, on the response to the form, with the two lines to copy."""

from __future__ import annotations

from datetime import timedelta

from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from accounts import services as account_services
from config.errors import InvalidParameter
from tenants.access import Principal

from .. import selectors
from ..access import after_post, page, tenant_page
from ..forms import TokenForm


def _render(request: HttpRequest, principal: Principal, form: TokenForm, **extra) -> HttpResponse:
    context = {"form": form, "tokens": list(selectors.own_tokens(principal)), "now": timezone.now(), **extra}
    response = page(request, principal, "web/tokens.html", context, nav="tokens")
    if "secret" in extra:
        # The one response that carries the secret: never stored by the browser or a proxy.
        response.headers["Cache-Control"] = "no-store"
    return response


@require_http_methods(["GET", "POST"])
@tenant_page
def token_list(request: HttpRequest, principal: Principal) -> HttpResponse:
    if request.method != "POST":
        return _render(request, principal, TokenForm(role=principal.role))
    form = TokenForm(request.POST, role=principal.role)
    if not form.is_valid():
        return _render(request, principal, form)
    data = form.cleaned_data
    try:
        token, secret = account_services.token_issue(
            user=request.user,
            tenant=principal.tenant,
            scopes=data["scopes"],
            name=data["name"].strip(),
            expires_at=timezone.now() + timedelta(days=data["expires_days"]),
            actor=request.user,
        )
    except InvalidParameter as exc:
        form.add_error(None, exc.message)
        return _render(request, principal, form)
    base = request.build_absolute_uri(f"/t/{principal.tenant.slug}")
    return _render(
        request,
        principal,
        TokenForm(role=principal.role),
        secret=secret,
        created=token,
        env_lines=f"MLFLOW_TRACKING_URI={base}\nMLFLOW_TRACKING_TOKEN={secret}",
    )


@require_POST
@tenant_page
def token_revoke(request: HttpRequest, principal: Principal, token_id: int) -> HttpResponse:
    token = selectors.own_token(principal, token_id)  # someone else's token: 404, as if it did not exist
    back = reverse("web:tokens", kwargs={"tenant": principal.tenant.slug})

    def revoke() -> str:
        account_services.token_revoke(token=token, actor=request.user)
        return f"Token {token.prefix}… revoked."

    return after_post(request, back, revoke)
