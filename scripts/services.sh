# PostgreSQL, Redis and RabbitMQ for the test suite: make sure each answers, installing and starting it on
# loopback when it is missing (Debian packages, as root). Sourced by scripts/test.sh; also runs on its own:
#   bash scripts/services.sh        # the servers of WEFT_TEST_DATABASE_URL, WEFT_TEST_BROKER_URL, WEFT_TEST_AMQP_URL
# shellcheck shell=bash

WEFT_SERVICE_DEADLINE="${WEFT_SERVICE_DEADLINE:-90}"  # seconds to wait for a server to answer

# Probe a server with the venv's own client; exit 0 = answers, 2 = answers but refuses us, 1 = no answer.
weft_probe() {  # pg|redis|amqp URL
    "$WEFT_VENV/bin/python" - "$1" "$2" <<'PY'
import sys

kind, url = sys.argv[1], sys.argv[2]
try:
    if kind == "pg":
        import psycopg

        # The test database itself may not exist yet: pytest-django creates it. Ask the server only.
        psycopg.connect(url, dbname="postgres", connect_timeout=3).close()
    elif kind == "amqp":
        import kombu

        with kombu.Connection(url, connect_timeout=3) as conn:
            conn.connect()
    else:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3).ping()
except Exception as exc:
    text = " ".join(str(exc).split()) or type(exc).__name__
    print(f"{kind}: {text}", file=sys.stderr)
    refused = ("authentication", "password", "pg_hba.conf", "NOAUTH", "WRONGPASS", "does not exist",
               "ACCESS_REFUSED")
    sys.exit(2 if any(word in text for word in refused) else 1)
PY
}

# "HOST PORT" of a URL (PORT defaults to $2).
weft_hostport() {
    "$WEFT_VENV/bin/python" -c \
        'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(p.hostname or "127.0.0.1", p.port or sys.argv[2])' \
        "$1" "$2"
}

weft_is_loopback() {
    case "$1" in 127.*|localhost|::1) return 0 ;; *) return 1 ;; esac
}

# Wait until the probe answers 0; on 2 (refused) run "$3" once, if given, as a fix.
weft_wait_for() {  # pg|redis|amqp URL [fix-function]
    local kind=$1 url=$2 fix=${3:-} end=$((SECONDS + WEFT_SERVICE_DEADLINE)) code
    while true; do
        weft_probe "$kind" "$url" 2>/dev/null && return 0
        code=$?
        if [ "$code" = 2 ] && [ -n "$fix" ]; then
            "$fix" || true
            fix=""
            continue
        fi
        if [ "$SECONDS" -ge "$end" ]; then
            weft_probe "$kind" "$url" || true
            weft_die "$kind at $url did not answer within ${WEFT_SERVICE_DEADLINE} s"
        fi
        sleep 0.5
    done
}

# Programs the test suite runs itself, whatever servers the URLs name: the fault tests start private
# PostgreSQL and Redis servers (initdb, pg_ctl, redis-server, redis-cli), and a test reads process titles
# with ps (procps is not in a minimal Debian).
weft_ensure_test_tools() {
    local missing=()
    command -v ps >/dev/null 2>&1 || missing+=(procps)
    command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
    command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
    command -v rabbitmq-server >/dev/null 2>&1 || missing+=(rabbitmq-server)  # a private node for a fault test
    compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
    # The browser tests drive Debian's Chromium with Playwright (no browser download).
    command -v chromium >/dev/null 2>&1 || missing+=(chromium)
    if [ "${#missing[@]}" -gt 0 ]; then
        weft_apt_install "${missing[@]}"
    fi
}

# ------------------------------------------------------------------------------------------- PostgreSQL

weft_pg_version() { ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1; }

# Put "trust" lines for user postgres over local and loopback connections first in pg_hba.conf.
weft_pg_trust() {
    local version hba
    version="$(weft_pg_version)"
    hba="/etc/postgresql/$version/main/pg_hba.conf"
    [ -n "$version" ] && [ -f "$hba" ] || return 1
    grep -q '^# weft_django: trust' "$hba" && return 1
    weft_log "PostgreSQL: trusting local connections as user postgres ($hba)"
    {
        printf '%s\n' '# weft_django: trust local connections as postgres (a test or demo server only)' \
            'local   all   postgres                  trust' \
            'host    all   postgres   127.0.0.1/32   trust' \
            'host    all   postgres   ::1/128        trust'
        cat "$hba"
    } >"$hba.weft" && cat "$hba.weft" >"$hba" && rm -f "$hba.weft"
    pg_ctlcluster --skip-systemctl-redirect "$version" main reload >/dev/null 2>&1 || true
}

weft_ensure_postgres() {  # URL
    local url=$1 host port version
    read -r host port < <(weft_hostport "$url" 5432)
    if weft_probe pg "$url" 2>/dev/null; then
        return 0
    fi
    if ! weft_is_loopback "$host"; then
        weft_log "PostgreSQL at $host:$port is not local: waiting for it"
        weft_wait_for pg "$url"
        return 0
    fi
    if ! command -v pg_ctlcluster >/dev/null 2>&1; then
        weft_apt_install postgresql
    fi
    version="$(weft_pg_version)"
    if [ -z "$version" ]; then  # the package made no cluster (create_main_cluster = false)
        version="$(ls /usr/lib/postgresql | sort -V | tail -n 1)"
        weft_log "PostgreSQL: creating cluster $version/main"
        pg_createcluster "$version" main >/dev/null || weft_die "pg_createcluster $version main failed"
    fi
    weft_pg_trust || true
    if ! pg_ctlcluster "$version" main status >/dev/null 2>&1; then
        # pg_createcluster picks the next free port when 5432 was taken at install time.
        local configured
        configured="$(pg_conftool "$version" main show port 2>/dev/null | sed -n 's/^port *= *//p')"
        if [ -n "$configured" ] && [ "$configured" != "$port" ]; then
            weft_log "PostgreSQL: cluster $version/main is set to port $configured; moving it to $port"
            pg_conftool "$version" main set port "$port"
        fi
        weft_log "PostgreSQL: starting cluster $version/main"
        pg_ctlcluster --skip-systemctl-redirect "$version" main start \
            || weft_die "pg_ctlcluster $version main start failed"
    fi
    weft_wait_for pg "$url" weft_pg_trust
    weft_log "PostgreSQL answers on $host:$port"
}

# ------------------------------------------------------------------------------------ Redis and RabbitMQ

# A broker at URL answers: a remote one is waited for; a local one is installed from the Debian package
# that names its server command, and started by START (a function taking the port) unless it answers.
weft_ensure_broker() {  # redis|amqp URL DEFAULT-PORT SERVER-COMMAND START-FUNCTION
    local kind=$1 url=$2 server=$4 start=$5 host port
    read -r host port < <(weft_hostport "$url" "$3")
    if weft_probe "$kind" "$url" 2>/dev/null; then
        return 0
    fi
    if ! weft_is_loopback "$host"; then
        weft_log "$server at $host:$port is not local: waiting for it"
        weft_wait_for "$kind" "$url"
        return 0
    fi
    if ! command -v "$server" >/dev/null 2>&1; then
        weft_apt_install "$server"
        # The package may have started one itself, which can take a few seconds to answer.
        local end=$((SECONDS + 15))
        until weft_probe "$kind" "$url" 2>/dev/null || [ "$SECONDS" -ge "$end" ]; do sleep 1; done
    fi
    if ! weft_probe "$kind" "$url" 2>/dev/null; then
        weft_log "starting $server on 127.0.0.1:$port"
        "$start" "$port" || weft_die "$server did not start"
    fi
    weft_wait_for "$kind" "$url"
    weft_log "$server answers on $host:$port"
}

_weft_start_redis() {  # PORT; nothing kept on disk
    redis-server --daemonize yes --bind 127.0.0.1 --port "$1" --save "" --appendonly no \
        --dir "${TMPDIR:-/tmp}" >/dev/null
}

_weft_start_rabbitmq() {  # PORT; as root it drops to the rabbitmq user itself
    RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT="$1" ERL_EPMD_ADDRESS=127.0.0.1 \
        rabbitmq-server -detached >/dev/null 2>&1
}

weft_ensure_redis() { weft_ensure_broker redis "$1" 6379 redis-server _weft_start_redis; }
weft_ensure_rabbitmq() { weft_ensure_broker amqp "$1" 5672 rabbitmq-server _weft_start_rabbitmq; }

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -euo pipefail
    # shellcheck source=scripts/_venv.sh
    source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
    weft_ensure_venv
    weft_ensure_test_tools
    weft_ensure_postgres "${WEFT_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/weft}"
    weft_ensure_redis "${WEFT_TEST_BROKER_URL:-redis://127.0.0.1:6379/15}"
    weft_ensure_rabbitmq "${WEFT_TEST_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672//}"
fi
