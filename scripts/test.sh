#!/usr/bin/env bash
# `make test`: run the pytest suite against real PostgreSQL and Redis.
# When DATABASE_URL / REDIS_URL are unset, throwaway servers are started under var/test/ and
# stopped again on exit. Arguments are passed to pytest; the exit code is pytest's.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd -P)
SERVICES="$ROOT/scripts/services.sh"
# shellcheck source=services.sh
source "$SERVICES"

bash scripts/venv.sh

PG_DIR=""
REDIS_DIR=""
ART_DIR=""
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$ART_DIR" ]; then rm -rf "$ART_DIR"; fi
    if [ -n "$REDIS_DIR" ]; then mg_stop "$REDIS_DIR" || true; rm -rf "$REDIS_DIR"; fi
    if [ -n "$PG_DIR" ]; then mg_stop "$PG_DIR" || true; rm -rf "$PG_DIR"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Remove leftovers of earlier runs that were killed without cleaning up (their pid is gone).
# Each run gets its own directory so that concurrent runs do not disturb each other.
reap_stale() {
    local base=$1 d
    [ -d "$base" ] || return 0
    for d in "$base"/*/; do
        [ -d "$d" ] || continue
        d=${d%/}
        case "${d##*/}" in *[!0-9]*) continue ;; esac
        kill -0 "${d##*/}" 2>/dev/null && continue
        mg_stop "$d" || true
        rm -rf "$d"
    done
}

if [ -z "${DATABASE_URL:-}" ]; then
    if ! mg_pg_bindir >/dev/null; then
        echo "test.sh: DATABASE_URL is unset and the PostgreSQL server binaries (initdb, pg_ctl, postgres) are not installed." >&2
        echo "test.sh: install them (apt-get install postgresql) or set DATABASE_URL=postgres://USER@HOST:PORT/DB" >&2
        exit 1
    fi
fi
if [ -z "${REDIS_URL:-}" ]; then
    if ! command -v redis-server >/dev/null 2>&1; then
        echo "test.sh: REDIS_URL is unset and redis-server is not installed: apt-get install redis-server (or set REDIS_URL=redis://HOST:PORT/0)" >&2
        exit 1
    fi
fi

if [ -z "${DATABASE_URL:-}" ]; then
    reap_stale "$ROOT/var/test/pg"
    PG_DIR="$ROOT/var/test/pg/$$"
    rm -rf "$PG_DIR"
    pg_port=$(mg_start_postgres "$PG_DIR" "")
    export DATABASE_URL="postgres://modelgate@127.0.0.1:${pg_port}/modelgate"
fi
if [ -z "${REDIS_URL:-}" ]; then
    reap_stale "$ROOT/var/test/redis"
    REDIS_DIR="$ROOT/var/test/redis/$$"
    rm -rf "$REDIS_DIR"
    redis_port=$(mg_start_redis "$REDIS_DIR" "")
    export REDIS_URL="redis://127.0.0.1:${redis_port}/0"
fi
if [ -z "${ARTIFACT_ROOT:-}" ]; then
    # Tests never write into ./var/artifacts (the embedded installation's data): a directory per run instead.
    reap_stale "$ROOT/var/test/artifacts"
    ART_DIR="$ROOT/var/test/artifacts/$$"
    rm -rf "$ART_DIR"
    mkdir -p "$ART_DIR"
    export ARTIFACT_ROOT="$ART_DIR"
fi
export MLFLOW_DISABLE_TELEMETRY=true
if [ -z "${SECRET_KEY:-}" ]; then
    # Django refuses to start without one when DEBUG is off (as in the tests): a throwaway key per run. The
    # worker and manage.py processes the tests start inherit it.
    SECRET_KEY="test-only-$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(32))')"
    export SECRET_KEY
fi

echo "test.sh: DATABASE_URL=$DATABASE_URL REDIS_URL=$REDIS_URL ARTIFACT_ROOT=$ARTIFACT_ROOT" >&2
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
exit "$rc"
