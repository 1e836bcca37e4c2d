#!/usr/bin/env bash
# `make run`: the embedded default. SQLite under ./var/ and artifacts under ./var/artifacts (the
# Django settings' defaults when DATABASE_URL / ARTIFACT_ROOT are unset), a private Redis under
# var/redis when REDIS_URL is unset, then one gunicorn web process and one Celery worker (honcho).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd -P)
# shellcheck source=services.sh
source "$ROOT/scripts/services.sh"

bash scripts/venv.sh

export HOST=${HOST:-127.0.0.1}
export PORT=${PORT:-8000}
# What bootstrap_demo prints; behind a proxy or on another host name, set it yourself.
case "$HOST" in 0.0.0.0 | "::") public_host=127.0.0.1 ;; *) public_host=$HOST ;; esac
export MODELGATE_PUBLIC_URL=${MODELGATE_PUBLIC_URL:-http://$public_host:$PORT}
mkdir -p var
if [ -z "${SECRET_KEY:-}" ]; then
    # Django refuses to start without SECRET_KEY when DEBUG is off: the embedded installation generates its own
    # once (sessions and signed links survive restarts), readable by its owner only.
    key_file="$ROOT/var/secret-key"
    if [ ! -s "$key_file" ]; then
        (umask 077 && .venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(50))' >"$key_file.$$" \
            && mv "$key_file.$$" "$key_file")
    fi
    chmod 600 "$key_file"
    SECRET_KEY=$(cat "$key_file")
    export SECRET_KEY
fi
if mg_port_in_use "$PORT"; then
    echo "run.sh: port $PORT is already in use: stop what runs there or pick another, e.g. make run PORT=8001" >&2
    exit 1
fi

REDIS_DIR=""
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$REDIS_DIR" ]; then mg_stop "$REDIS_DIR" || true; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ -z "${REDIS_URL:-}" ]; then
    if ! command -v redis-server >/dev/null 2>&1; then
        echo "run.sh: REDIS_URL is unset and redis-server is not installed: apt-get install redis-server (or set REDIS_URL=redis://HOST:PORT/0)" >&2
        exit 1
    fi
    redis_dir="$ROOT/var/redis"
    if mg_status "$redis_dir"; then
        # another `make run` owns it: reuse, but leave stopping it to that one
        redis_port=$(mg_start_redis "$redis_dir" "")
    else
        redis_port=6399
        if mg_port_in_use "$redis_port"; then redis_port=""; fi
        redis_port=$(mg_start_redis "$redis_dir" "$redis_port")
        REDIS_DIR=$redis_dir
    fi
    export REDIS_URL="redis://127.0.0.1:${redis_port}/0"
fi

.venv/bin/python manage.py migrate --noinput
.venv/bin/python manage.py collectstatic --noinput -v0
.venv/bin/python manage.py bootstrap_demo

set +e
.venv/bin/honcho start -f Procfile.dev -p "$PORT"
rc=$?
set -e
exit "$rc"
