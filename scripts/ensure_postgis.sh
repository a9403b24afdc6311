#!/usr/bin/env bash
# Make sure the test PostGIS is there: PostgreSQL answering on 127.0.0.1:5432,
# the PostGIS package of the running server's major version installed, and a
# database `test` with the postgis extension. `make test` runs this (as root on
# Debian 12); it is idempotent and takes well under 2 s when all is present.
#
# On a machine with no PostgreSQL server at all it installs the `postgresql`
# package, starts the cluster and lets the local `postgres` user connect over
# 127.0.0.1 without a password (trust auth) - a throwaway test server, which is
# what the tests' default ENGAGE_TEST_PG_URL expects. An existing server's
# authentication is never changed.
#
# Environment: PGHOST (default 127.0.0.1), PGPORT (5432), ENGAGE_TEST_DB (test).
set -euo pipefail

HOST="${PGHOST:-127.0.0.1}"
PORT="${PGPORT:-5432}"
DB="${ENGAGE_TEST_DB:-test}"
export DEBIAN_FRONTEND=noninteractive

say() { echo "ensure_postgis: $*"; }
die() { echo "ensure_postgis: ERROR: $*" >&2; exit 1; }

apt_install() {
    if [ "$(id -u)" -ne 0 ]; then
        die "need to install $* but not running as root; run: sudo apt-get install -y $*"
    fi
    command -v apt-get >/dev/null || die "need $* but apt-get is missing; install it by hand"
    say "apt-get update"
    apt-get update -qq >/dev/null
    say "apt-get install -y $*"
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

server_installed() { compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null; }

answering() { command -v pg_isready >/dev/null && pg_isready -q -h "$HOST" -p "$PORT"; }

# psql as the postgres superuser: over TCP (trust) first, then, as root on this
# machine, over the local socket as the postgres OS user (peer auth).
sql() {
    local db="$1"; shift
    if psql -X -w -q -h "$HOST" -p "$PORT" -U postgres -d "$db" -v ON_ERROR_STOP=1 -At "$@" 2>/dev/null; then
        return 0
    fi
    if [ "$(id -u)" -eq 0 ] && command -v runuser >/dev/null; then
        runuser -u postgres -- psql -X -q -p "$PORT" -d "$db" -v ON_ERROR_STOP=1 -At "$@"
        return
    fi
    return 1
}

trust_local() {  # only for a server this script installed
    local ver="$1" hba="/etc/postgresql/$1/main/pg_hba.conf"
    [ -f "$hba" ] || return 0
    sed -ri 's/^(host\s+all\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s+)\S+/\1trust/' "$hba"
    pg_ctlcluster --skip-systemctl-redirect "$ver" main reload >/dev/null 2>&1 || true
    say "set trust auth for 127.0.0.1 and ::1 in $hba (new test server)"
}

start_clusters() {
    command -v pg_lsclusters >/dev/null || die "PostgreSQL is installed but pg_lsclusters is missing"
    local started=0 ver name port status
    while read -r ver name port status _; do
        [ -n "${ver:-}" ] || continue
        if [ "$status" != "online" ]; then
            say "starting PostgreSQL cluster $ver/$name (port $port)"
            pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start
            started=1
        fi
    done < <(pg_lsclusters -h 2>/dev/null)
    if [ "$started" -eq 0 ] && [ -z "$(pg_lsclusters -h 2>/dev/null)" ]; then
        ver="$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/postgres' \
            | awk -F/ '{print $5}' | sort -V | tail -1)"
        say "creating and starting PostgreSQL cluster $ver/main on port $PORT"
        pg_createcluster --port "$PORT" "$ver" main --start >/dev/null
    fi
}

wait_answering() {
    for _ in $(seq 1 60); do
        answering && return 0
        sleep 0.5
    done
    die "PostgreSQL does not answer on $HOST:$PORT; see /var/log/postgresql/ for why"
}

# 1. A server answering on HOST:PORT.
if answering; then
    :
else
    fresh=0
    if ! server_installed; then
        apt_install postgresql
        fresh=1
    fi
    start_clusters
    wait_answering
    if [ "$fresh" -eq 1 ]; then
        trust_local "$(pg_lsclusters -h | awk -v p="$PORT" '$3 == p {print $1; exit}')"
    fi
fi

num="$(sql postgres -c "SELECT current_setting('server_version_num')")" \
    || die "PostgreSQL answers on $HOST:$PORT but user postgres cannot log in without a password; set ENGAGE_TEST_PG_URL to a URL that can"
major=$((num / 10000))
say "PostgreSQL $major answering on $HOST:$PORT"

# 2. The PostGIS package of the running server's major version.
control="/usr/share/postgresql/$major/extension/postgis.control"
available="$(sql postgres -c "SELECT count(*) FROM pg_available_extensions WHERE name = 'postgis'")"
if [ "$available" = "0" ]; then
    case "$HOST" in
        127.0.0.1|localhost|::1) ;;
        *) die "server at $HOST has no PostGIS; install postgresql-$major-postgis-3 on that machine" ;;
    esac
    say "$control is missing"
    apt_install "postgresql-$major-postgis-3"
fi

# 3. The test database with the extension.
if [ "$(sql postgres -c "SELECT count(*) FROM pg_database WHERE datname = '$DB'")" = "0" ]; then
    sql postgres -c "CREATE DATABASE \"$DB\"" >/dev/null
    say "created database $DB"
fi
version="$(sql "$DB" -c "SELECT extversion FROM pg_extension WHERE extname = 'postgis'")"
if [ -z "$version" ]; then
    sql "$DB" -c "CREATE EXTENSION IF NOT EXISTS postgis" >/dev/null
    version="$(sql "$DB" -c "SELECT extversion FROM pg_extension WHERE extname = 'postgis'")"
    say "created extension postgis $version in database $DB"
else
    say "PostGIS $version present in database $DB"
fi
