#!/usr/bin/env bash
# Throwaway PostgreSQL and Redis servers for development and tests.
#
#   scripts/services.sh start-postgres DIR [PORT]   # prints the port on stdout
#   scripts/services.sh start-redis DIR [PORT]      # prints the port on stdout
#   scripts/services.sh stop DIR                    # stops whatever was started in DIR
#   scripts/services.sh status DIR                  # exit 0 if something is running in DIR
#   scripts/services.sh free-port                   # prints a free TCP port on 127.0.0.1
#
# Everything except the port goes to stderr, so `port=$(scripts/services.sh start-redis DIR)` works.
# Starting is idempotent: if a server is already running in DIR it is reused and its port printed.
# The script can also be sourced; it then only defines the mg_* functions below.
#
# PostgreSQL refuses to run as root, so when run as root the cluster is owned by and run as the
# `postgres` system user (created if missing). If that user cannot reach DIR (e.g. a checkout under
# /root), the cluster lives in a private directory under /tmp and DIR/pgdir points to it.

mg_log() { echo "services.sh: $*" >&2; }
mg_die() { echo "services.sh: $*" >&2; return 1; }

mg_free_port() {
    local py
    py=$(command -v python3 || command -v python) || { mg_die "python3 is needed to pick a free port"; return 1; }
    "$py" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

mg_port_in_use() {
    # exit 0 if something accepts connections on 127.0.0.1:$1
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

mg_abspath() {
    mkdir -p "$1" && (cd "$1" && pwd -P)
}

# ---------------------------------------------------------------- PostgreSQL

mg_pg_bindir() {
    local d
    if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1 && command -v postgres >/dev/null 2>&1; then
        d=$(dirname "$(readlink -f "$(command -v pg_ctl)")")
        if [ -x "$d/initdb" ] && [ -x "$d/postgres" ]; then echo "$d"; return 0; fi
    fi
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$d/pg_ctl" ] && [ -x "$d/initdb" ] && [ -x "$d/postgres" ]; then echo "$d"; return 0; fi
    done
    return 1
}

mg_is_root() { [ "$(id -u)" = 0 ]; }

# Run a command as the cluster owner (postgres when we are root, ourselves otherwise).
mg_pg_as_owner() {
    if mg_is_root; then
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

mg_ensure_postgres_user() {
    mg_is_root || return 0
    if ! id -u postgres >/dev/null 2>&1; then
        mg_log "creating system user postgres"
        useradd --system --user-group --home-dir /var/lib/postgresql --no-create-home \
            --shell /bin/bash postgres || { mg_die "could not create the postgres system user"; return 1; }
    fi
}

# Directory that holds data/, the socket and the log for DIR (DIR itself unless redirected).
mg_pg_home() {
    local dir=$1
    if [ -f "$dir/pgdir" ]; then cat "$dir/pgdir"; else echo "$dir"; fi
}

mg_pg_running() {
    local home bindir
    home=$(mg_pg_home "$1")
    [ -f "$home/data/postmaster.pid" ] || return 1
    bindir=$(mg_pg_bindir) || return 1
    mg_pg_as_owner "$bindir/pg_ctl" -D "$home/data" status >/dev/null 2>&1
}

mg_start_postgres() {
    local dir=${1:?usage: start-postgres DIR [PORT]} port=${2:-} bindir home sockdir psql_host
    bindir=$(mg_pg_bindir) || {
        mg_die "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found: apt-get install postgresql"
        return 1
    }
    mg_ensure_postgres_user || return 1
    dir=$(mg_abspath "$dir") || { mg_die "cannot create $1"; return 1; }

    if mg_pg_running "$dir" && [ -f "$dir/port" ]; then
        mg_log "PostgreSQL already running in $dir (port $(cat "$dir/port")), reusing it"
        cat "$dir/port"
        return 0
    fi

    home=$(mg_pg_home "$dir")
    if mg_is_root && [ ! -f "$dir/pgdir" ]; then
        chown postgres: "$dir"
        if ! runuser -u postgres -- test -w "$dir" 2>/dev/null; then
            # postgres cannot traverse a parent of DIR: keep the cluster under /tmp instead
            home=$(mktemp -d /tmp/modelgate-pg.XXXXXX) || return 1
            chmod 700 "$home"
            chown postgres: "$home"
            echo "$home" >"$dir/pgdir"
            mg_log "postgres cannot access $dir; cluster lives in $home"
        fi
    fi

    if [ ! -f "$home/data/PG_VERSION" ]; then
        rm -rf "$home/data"
        mg_log "initialising PostgreSQL cluster in $home/data"
        if ! mg_pg_as_owner "$bindir/initdb" -D "$home/data" --auth=trust --username=postgres \
                -E UTF8 --locale=C --no-sync >"$home/initdb.log" 2>&1; then
            cat "$home/initdb.log" >&2
            mg_die "initdb failed (log above: $home/initdb.log)"
            return 1
        fi
        cat >>"$home/data/postgresql.conf" <<'EOF'

# modelgate throwaway cluster
listen_addresses = '127.0.0.1'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
shared_buffers = 64MB
EOF
        mg_is_root && chown postgres: "$home/data/postgresql.conf"
    fi

    [ -n "$port" ] || port=$(mg_free_port) || return 1
    if mg_port_in_use "$port"; then
        mg_die "port $port on 127.0.0.1 is already in use"
        return 1
    fi

    # unix socket inside the cluster directory unless the path would exceed the socket path limit
    sockdir=$home
    if [ $(( ${#home} + 20 )) -gt 100 ]; then
        mg_log "socket path too long, listening on TCP only"
        sockdir=""
    fi

    if ! mg_pg_as_owner "$bindir/pg_ctl" -D "$home/data" -l "$home/postgres.log" -w -t 60 \
            -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories='$sockdir'" \
            start >/dev/null; then
        tail -n 30 "$home/postgres.log" >&2 2>/dev/null
        mg_die "PostgreSQL failed to start (log: $home/postgres.log)"
        return 1
    fi
    echo "$port" >"$dir/port"

    psql_host=127.0.0.1
    # role and database (idempotent)
    local i
    for i in $(seq 1 50); do
        mg_pg_as_owner "$bindir/pg_isready" -q -h "$psql_host" -p "$port" && break
        sleep 0.2
    done
    if ! mg_pg_as_owner "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$psql_host" -p "$port" -U postgres -d postgres >&2 <<'EOF'
SELECT 'CREATE ROLE modelgate LOGIN SUPERUSER'
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'modelgate') \gexec
SELECT 'CREATE DATABASE modelgate OWNER modelgate'
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'modelgate') \gexec
EOF
    then
        mg_die "could not create role/database modelgate"
        return 1
    fi
    mg_log "PostgreSQL ready: postgres://modelgate@127.0.0.1:$port/modelgate (dir $dir)"
    echo "$port"
}

mg_stop_postgres() {
    local dir=$1 home bindir pid i
    home=$(mg_pg_home "$dir")
    [ -f "$home/data/postmaster.pid" ] || { mg_pg_cleanup_redirect "$dir"; return 0; }
    if bindir=$(mg_pg_bindir) && mg_pg_as_owner "$bindir/pg_ctl" -D "$home/data" status >/dev/null 2>&1; then
        mg_pg_as_owner "$bindir/pg_ctl" -D "$home/data" -m fast -w -t 30 stop >/dev/null 2>&1 || true
    fi
    if [ -f "$home/data/postmaster.pid" ]; then
        pid=$(head -n 1 "$home/data/postmaster.pid" 2>/dev/null)
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            kill -INT "$pid" 2>/dev/null
            for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
        fi
    fi
    mg_log "PostgreSQL in $dir stopped"
    mg_pg_cleanup_redirect "$dir"
}

# A cluster redirected to /tmp is removed when stopped: nothing else would ever clean it up.
mg_pg_cleanup_redirect() {
    local dir=$1 home
    [ -f "$dir/pgdir" ] || return 0
    home=$(cat "$dir/pgdir")
    case "$home" in /tmp/modelgate-pg.*) rm -rf "$home" ;; esac
    rm -f "$dir/pgdir"
}

# ---------------------------------------------------------------- Redis

mg_redis_ping() {
    # exit 0 if a Redis server answers PING on 127.0.0.1:$1
    (
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        printf 'PING\r\n' >&3
        IFS= read -r -t 2 reply <&3 || exit 1
        [ "${reply%$'\r'}" = "+PONG" ]
    ) 2>/dev/null
}

mg_redis_running() {
    local dir=$1 pid
    [ -f "$dir/redis.pid" ] || return 1
    pid=$(cat "$dir/redis.pid" 2>/dev/null)
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

mg_start_redis() {
    local dir=${1:?usage: start-redis DIR [PORT]} port=${2:-} i
    if ! command -v redis-server >/dev/null 2>&1; then
        mg_die "redis-server is not installed: apt-get install redis-server"
        return 1
    fi
    dir=$(mg_abspath "$dir") || { mg_die "cannot create $1"; return 1; }

    if mg_redis_running "$dir" && [ -f "$dir/port" ] && mg_redis_ping "$(cat "$dir/port")"; then
        mg_log "Redis already running in $dir (port $(cat "$dir/port")), reusing it"
        cat "$dir/port"
        return 0
    fi
    rm -f "$dir/redis.pid"

    [ -n "$port" ] || port=$(mg_free_port) || return 1
    if mg_port_in_use "$port"; then
        mg_die "port $port on 127.0.0.1 is already in use"
        return 1
    fi
    if ! redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
            --dir "$dir" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" >&2; then
        mg_die "redis-server failed to start (log: $dir/redis.log)"
        return 1
    fi
    for i in $(seq 1 100); do
        mg_redis_ping "$port" && break
        sleep 0.1
    done
    if ! mg_redis_ping "$port"; then
        tail -n 20 "$dir/redis.log" >&2 2>/dev/null
        mg_die "Redis did not become ready on port $port (log: $dir/redis.log)"
        return 1
    fi
    # the pid file is written shortly after the server starts accepting connections
    for i in $(seq 1 50); do [ -s "$dir/redis.pid" ] && break; sleep 0.1; done
    echo "$port" >"$dir/port"
    mg_log "Redis ready: redis://127.0.0.1:$port/0 (dir $dir)"
    echo "$port"
}

mg_stop_redis() {
    local dir=$1 pid i
    [ -f "$dir/redis.pid" ] || return 0
    pid=$(cat "$dir/redis.pid" 2>/dev/null)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null
        for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
        mg_log "Redis in $dir stopped"
    fi
    rm -f "$dir/redis.pid"
}

# ---------------------------------------------------------------- common

mg_stop() {
    local dir=${1:?usage: stop DIR}
    [ -d "$dir" ] || return 0
    dir=$(cd "$dir" && pwd -P)
    mg_stop_redis "$dir"
    mg_stop_postgres "$dir"
    rm -f "$dir/port"
}

mg_status() {
    local dir=${1:?usage: status DIR}
    [ -d "$dir" ] || return 1
    dir=$(cd "$dir" && pwd -P)
    mg_redis_running "$dir" || mg_pg_running "$dir"
}

mg_services_main() {
    local cmd=${1:-}
    shift || true
    case "$cmd" in
        start-postgres) mg_start_postgres "$@" ;;
        start-redis) mg_start_redis "$@" ;;
        stop) mg_stop "$@" ;;
        status) mg_status "$@" ;;
        free-port) mg_free_port ;;
        *)
            echo "usage: $0 start-postgres DIR [PORT] | start-redis DIR [PORT] | stop DIR | status DIR | free-port" >&2
            return 2
            ;;
    esac
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -uo pipefail
    mg_services_main "$@"
    exit $?
fi
