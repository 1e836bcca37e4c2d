"""The serving fast path: the three MLflow serving reads (get version by alias, get-latest-versions, get model
version) answered from Redis by the outermost middleware, with no SQL, no DRF and no other middleware, when
everything needed is already known; anything else goes the full way, unchanged.

A request is answered here only when ALL of these hold (else the full path answers, so every status code, error
body and header stays exactly the full path's):
- a token-authenticated GET (or the JSON POST of get-latest-versions) of one of the three paths, parameters the
  full path would accept, `Accept` JSON or anything, an allowed host, no open transaction;
- this process knows the token's identity (`accounts.identitycache`) loaded from the database at most
  `TTL_SECONDS` ago with its `last_used_at` less than a minute old, the token has the `read` scope and has not
  expired. A token seen before by this process whose identity is too old is reloaded here, with the full path's
  own token lookup (one statement, which also writes `last_used_at` when due), after reading its tenant's auth
  generations; a token never seen by this process goes the full way once, which tells it the token's tenant;
- ONE Redis script run (`_SCRIPT`) finds: the client address not blocked by the auth throttle, the caller's auth
  generations unchanged since the identity was loaded (so no token, membership, team, user or tenant change has
  committed since), and the answer's bytes under the tenant's current read-cache generation (so no registry
  change has committed since it was stored: `registry.readcache`);
- the caller may read the model without grants: a tenant admin or the members' default read (then the same script
  also counts the usage), or a member of the owning team (then a second round trip counts it). Grants and
  everything else: full path.

The full path stores what the fast path serves: after a serving read, this middleware keeps the response body
(`readcache.put_wire`, under the read-cache generation the view read before the database) and the caller's
identity (under auth generations read before the request reached the database). Response headers are those of
the full path's last answer to the same operation, taken once per process (Content-Length recomputed)."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis
from django.core.cache import caches
from django.core.handlers.wsgi import WSGIRequest
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from accounts import identitycache, throttling
from accounts.authentication import LAST_USED_RESOLUTION, TokenAuthentication
from tenants.access import principal_for

from . import readcache, usage
from .fastpath_plan import PATH_RE, Plan, plan_for

_SCRIPT = """
local g = redis.call('MGET', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
local gen, auth, auth_all = g[1] or '0', g[2] or '0', g[3] or '0'
if g[4] then return {'blocked', auth, auth_all} end
if auth ~= ARGV[3] or auth_all ~= ARGV[4] then return {'stale', auth, auth_all} end
local entry = redis.call('GET', ARGV[1] .. gen .. ARGV[2])
if not entry then return {'miss', auth, auth_all} end
if ARGV[5] ~= '1' then return {'hit', auth, auth_all, entry} end
local head = string.sub(entry, 1, string.find(entry, '\\n', 1, true) - 1)
local model, versions = string.match(head, '^([^|]*)|[^|]*|(.*)$')
for v in string.gmatch(versions, '[^,]+') do
  redis.call('HINCRBY', ARGV[6] .. model .. ':' .. v .. ARGV[7], ARGV[8], 1)
end
return {'counted', auth, auth_all, entry}
"""
_SCRIPT_SHA = hashlib.sha1(_SCRIPT.encode()).hexdigest()


@dataclass(frozen=True)
class _Answer:
    """A 200 from the cache: the full path's headers for the operation, and the body it sent."""

    headers: list[tuple[str, str]]
    body: bytes

    def response(self) -> HttpResponse:
        response = HttpResponse(self.body)
        for name, value in self.headers:
            response[name] = value
        return response


# (tenant id, (tenant, global) auth generations) read before the full path touched the database
_Generations = tuple[int, tuple[str, str]] | None


class _FastPath:
    """The fast path's state in this process (shared by the middleware and the WSGI entry): the Redis script, the
    response headers of each operation as the full path last sent them, the throttle's block keys."""

    def __init__(self) -> None:
        self._headers: dict[tuple[str, bool], list[tuple[str, str]]] = {}
        self._block_keys: dict[str, str] = {}

    def attempt(
        self, request: HttpRequest, *, reload: bool
    ) -> tuple[_Answer | None, Plan | None, _Generations]:
        """(the answer or None, the plan when the request qualifies, auth generations read so far). Without
        `reload`, never touches the database: an identity to (re)load is left to the middleware."""
        plan = plan_for(request)
        if plan is None:
            return None, None, None
        generations: _Generations = None
        now = timezone.now()
        identity = identitycache.lookup(plan.token_hash)
        if identity is None or not _fresh_use(identity, now) or identitycache.has_pending():
            if not reload:
                return None, plan, None
            # (a pending bump is retried by the reload's generation read, before any identity is used)
            identity, generations = _reload(request, plan, self._block_key(request))
        if (
            identity is not None
            and identity.tenant_slug == plan.slug
            and identity.can_read
            and (identity.expires_at is None or identity.expires_at > now)
            and not readcache.has_pending()
            and not identitycache.has_pending()
        ):
            outcome = self._serve(request, plan, identity)
            if isinstance(outcome, _Answer):
                return outcome, plan, generations
            generations = outcome or generations
        return None, plan, generations

    def _serve(
        self, request: HttpRequest, plan: Plan, identity: identitycache.Identity
    ) -> _Answer | _Generations:
        """The answer, or (when the full path must answer) the auth generations read before it runs."""
        client = readcache.client()
        if client is None:
            return None
        tenant_id = identity.tenant_id
        before, after = readcache.entry_key_around(tenant_id, plan.kind + readcache.WIRE_SUFFIX, plan.parts)
        usage_before, usage_after = usage.live_key_around(tenant_id, usage.today())
        auth_key, auth_all_key = identitycache.generation_keys(tenant_id)
        keys = [readcache.generation_key(tenant_id), auth_key, auth_all_key, self._block_key(request)]
        args = [before, after, *identity.generations, "1" if identity.reads_all else "0"]
        args += [usage_before, usage_after, f"resolve:{identity.username}"]
        try:
            try:  # EVALSHA straight: redis-py's Script wrapper costs more than the round trip itself
                result = client.execute_command("EVALSHA", _SCRIPT_SHA, len(keys), *keys, *args)
            except redis.exceptions.NoScriptError:  # a restarted or flushed Redis: load it once more
                client.script_load(_SCRIPT)
                result = client.execute_command("EVALSHA", _SCRIPT_SHA, len(keys), *keys, *args)
        except redis.RedisError as exc:
            readcache.failed(exc)
            return None
        status = result[0].decode()
        generations: _Generations = (tenant_id, (result[1].decode(), result[2].decode()))
        if status in ("blocked", "stale", "miss"):
            return generations
        head, _, body = bytes(result[3]).partition(b"\n")
        model_id, owner_team, versions = head.decode().split("|")
        if status == "hit":  # not every model is readable to this caller: the owning team's members are
            if not owner_team or int(owner_team) not in identity.team_ids:
                return generations
            try:
                pipe = client.pipeline(transaction=False)
                for number in versions.split(","):
                    pipe.hincrby(f"{usage_before}{model_id}:{number}{usage_after}", args[-1], 1)
                pipe.execute()
            except redis.RedisError as exc:  # counting never fails a read (registry/usage.py)
                readcache.failed(exc)
        headers = self._headers.get((plan.kind, plan.secure))
        if headers is None:
            return generations
        return _Answer(headers=[*headers, ("Content-Length", str(len(body)))], body=body)

    def _block_key(self, request: HttpRequest) -> str:
        """The auth throttle's block key of the client's address (accounts/throttling.py `blocked_for`)."""
        address = throttling.client_address(request)
        key = self._block_keys.get(address)
        if key is None:
            if len(self._block_keys) > 10_000:
                self._block_keys.clear()
            key = self._block_keys[address] = caches["throttle"].make_key(f"authblock:addr:{address}")
        return key

    def learn(
        self, request: HttpRequest, response: HttpResponse, plan: Plan, generations: _Generations
    ) -> None:
        """After the full path: remember the caller's identity and keep the answer's bytes."""
        principal = getattr(request, "mg_principal", None)
        token = getattr(principal, "token", None)
        if principal is None or token is None or token.token_hash != plan.token_hash:
            return
        tenant_id = principal.tenant.pk
        identitycache.remember_tenant(plan.token_hash, tenant_id)
        if generations is not None and generations[0] == tenant_id:
            identitycache.remember(principal, generations[1])
        serving = getattr(request, "mg_serving", None)
        if serving is None or response.status_code != 200 or response.cookies or response.streaming:
            return
        if serving["kind"] != plan.kind or tuple(serving["parts"]) != plan.parts:
            return  # parsed differently from the view: never serve what it did not answer
        self._headers[(plan.kind, plan.secure)] = [
            (name, value) for name, value in response.items() if name.lower() != "content-length"
        ]
        readcache.put_wire(
            tenant_id,
            serving["generation"],
            plan.kind,
            plan.parts,
            model_id=serving["model_id"],
            owner_team_id=serving["owner_team_id"],
            versions=serving["versions"],
            body=response.content,
        )


def _fresh_use(identity: identitycache.Identity, now: datetime) -> bool:
    """`last_used_at` needs no write yet (it is written at most once a minute, by the token lookup)."""
    return identity.last_used_at is not None and now - identity.last_used_at <= LAST_USED_RESOLUTION


def _reload(
    request: HttpRequest, plan: Plan, block_key: str
) -> tuple[identitycache.Identity | None, _Generations]:
    """Load the identity of a token seen before in this process: its tenant's auth generations (and that the
    address is not blocked) first, then the token lookup of the full path (one statement, and the `last_used_at`
    write when due). Anything unusual (a refused token, another tenant, a blocked address, the database away):
    None, and the full path answers as always."""
    tenant_id = identitycache.tenant_hint(plan.token_hash)
    if tenant_id is None:  # first sighting: the full path learns the tenant
        return None, None
    read = identitycache.read_generations(tenant_id, also=block_key)
    if read is None:
        return None, None
    generations: _Generations = (tenant_id, read)
    try:
        user, token = TokenAuthentication().authenticate_token(plan.secret)
        request.tenant_slug = plan.slug  # type: ignore[attr-defined]  # what principal_for reads
        principal = principal_for(request, user, token)
    except Exception:  # refused, or no database: the full path gives its own answer (and counts a failure)
        return None, generations
    if principal.tenant.pk != tenant_id:
        return None, generations
    return identitycache.remember(principal, read), generations


_fast = _FastPath()
_DECLINED = "modelgate.fastpath.declined"  # environ key: the WSGI entry tried and left it to the full path


class ServingFastPathMiddleware:
    """The fast path inside Django (also what the test client exercises); `wsgi_entry` runs before it in
    production and leaves it what needs the database."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        declined = request.META.get(_DECLINED)
        if declined is not None:  # the WSGI entry's script run said no: its generations are the ones to keep
            plan, generations = plan_for(request), declined
        else:
            answer, plan, generations = _fast.attempt(request, reload=True)
            if answer is not None:
                return answer.response()
        if plan is None:
            return self.get_response(request)
        response = self.get_response(request)
        _fast.learn(request, response, plan, generations)
        return response


def wsgi_entry(app: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap the WSGI application (config/wsgi.py): a warm serving read is answered before Django's request
    handling (its signals, which close and check database connections, and the middleware chain); everything else,
    and every request that would need the database, goes to `app` unchanged."""

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("REQUEST_METHOD") not in ("GET", "POST") or not PATH_RE.match(
            environ.get("PATH_INFO", "")
        ):
            return app(environ, start_response)
        request = WSGIRequest(environ)
        answer, plan, generations = _fast.attempt(request, reload=False)
        if answer is not None:
            start_response("200 OK", answer.headers)
            return [answer.body]
        if getattr(request, "_read_started", False):  # the body was read: hand Django the same bytes
            environ["wsgi.input"] = io.BytesIO(request.body)
        if plan is not None and generations is not None:
            environ[_DECLINED] = generations
        return app(environ, start_response)

    return application
