#!/usr/bin/env bash
# Start a throwaway PostgreSQL server for the test suite.
#
# - Uses Debian's server binaries under /usr/lib/postgresql/<ver>/bin (the
#   newest installed version, or ESOCIAL_PG_VERSION if set).
# - Fresh data directory from `mktemp -d` (under ESOCIAL_PG_TMPDIR, default
#   /tmp, which the `postgres` OS user can always traverse).
# - Runs as the `postgres` OS user when invoked as root (PostgreSQL refuses to
#   run as root); as the current user otherwise.
# - Listens only on 127.0.0.1, on the first free port starting at
#   ESOCIAL_PG_PORT (default 55432). The Unix socket lives in the data dir.
# - Bootstrap superuser `hub` with password `hub`; scram-sha-256 auth over TCP.
# - Durability is switched off (fsync etc.): this server is for tests only.
#
# On success prints, on stdout and nothing else:
#   export ESOCIAL_TEST_POSTGRES_URL=postgres://hub:hub@127.0.0.1:PORT/postgres
#   export ESOCIAL_PG_DATADIR=/tmp/esocial-pg.XXXXXX
# so callers can `eval "$(scripts/start-postgres.sh)"`. All diagnostics go to
# stderr. Stop it with scripts/stop-postgres.sh.
set -euo pipefail

log() { printf 'start-postgres: %s\n' "$*" >&2; }
die() { printf 'start-postgres: ERROR: %s\n' "$*" >&2; exit 1; }

PG_USER=hub
PG_PASSWORD=hub
START_PORT="${ESOCIAL_PG_PORT:-55432}"
TIMEOUT="${ESOCIAL_PG_START_TIMEOUT:-30}"
TMP_PARENT="${ESOCIAL_PG_TMPDIR:-/tmp}"

# --- locate the server binaries ---------------------------------------------
if [[ -n "${ESOCIAL_PG_VERSION:-}" ]]; then
    PG_VERSION="$ESOCIAL_PG_VERSION"
else
    PG_VERSION="$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/initdb' 2>/dev/null \
        | awk -F/ '{print $(NF-2)}' | sort -V | tail -n 1 || true)"
fi
[[ -n "$PG_VERSION" ]] || die "no PostgreSQL server found under /usr/lib/postgresql (apt-get install postgresql)"
BIN="/usr/lib/postgresql/$PG_VERSION/bin"
for tool in initdb pg_ctl pg_isready postgres; do
    [[ -x "$BIN/$tool" ]] || die "$BIN/$tool not found or not executable"
done

# --- decide which OS user runs the server --------------------------------------
if [[ "$(id -u)" -eq 0 ]]; then
    RUN_AS=postgres
    id -u "$RUN_AS" >/dev/null 2>&1 || die "OS user '$RUN_AS' does not exist (is the postgresql package installed?)"
    # runuser lives in /usr/sbin, which a minimal PATH may lack; fall back to su.
    RUNUSER="$(command -v runuser || true)"
    [[ -n "$RUNUSER" ]] || { [[ -x /usr/sbin/runuser ]] && RUNUSER=/usr/sbin/runuser; } || true
    if [[ -n "$RUNUSER" ]]; then
        as_pg() { (cd / && "$RUNUSER" -u "$RUN_AS" -- "$@"); }
    else
        # shellcheck disable=SC2016  # $0/$@ are for the inner sh
        as_pg() { (cd / && su -s /bin/sh "$RUN_AS" -c '"$0" "$@"' -- "$@"); }
    fi
else
    RUN_AS="$(id -un)"
    as_pg() { (cd / && "$@"); }
fi

# --- find a free port ------------------------------------------------------------
port_in_use() {
    # A successful TCP connect means something is listening there.
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
PORT=""
for ((p = START_PORT; p < START_PORT + 100; p++)); do
    if ! port_in_use "$p"; then PORT="$p"; break; fi
done
[[ -n "$PORT" ]] || die "no free TCP port in $START_PORT..$((START_PORT + 99)) on 127.0.0.1"
[[ "$PORT" == "$START_PORT" ]] || log "port $START_PORT is busy; using $PORT"

# --- fresh data directory ------------------------------------------------------
DATADIR="$(mktemp -d "$TMP_PARENT/esocial-pg.XXXXXXXX")"
cleanup_on_failure() {
    local rc=$?
    if [[ $rc -ne 0 ]]; then
        if [[ -f "$DATADIR/postmaster.pid" ]]; then
            as_pg "$BIN/pg_ctl" -D "$DATADIR" -m immediate stop >/dev/null 2>&1 || true
        fi
        rm -rf -- "$DATADIR"
    fi
}
trap cleanup_on_failure EXIT

chmod 0700 "$DATADIR"
[[ "$RUN_AS" == "$(id -un)" ]] || chown "$RUN_AS": "$DATADIR"

PWFILE="$(mktemp "$TMP_PARENT/esocial-pg-pw.XXXXXXXX")"
printf '%s\n' "$PG_PASSWORD" >"$PWFILE"
[[ "$RUN_AS" == "$(id -un)" ]] || chown "$RUN_AS": "$PWFILE"

log "initdb (PostgreSQL $PG_VERSION) in $DATADIR as OS user $RUN_AS"
# C.UTF-8 always exists on Debian; pinning it avoids depending on the caller's LANG.
if ! as_pg "$BIN/initdb" -D "$DATADIR" -U "$PG_USER" --pwfile="$PWFILE" \
        -E UTF8 --locale=C.UTF-8 --auth-local=trust --auth-host=scram-sha-256 \
        --no-sync >"$DATADIR.initdb.log" 2>&1; then
    cat "$DATADIR.initdb.log" >&2
    rm -f -- "$PWFILE" "$DATADIR.initdb.log"
    die "initdb failed"
fi
rm -f -- "$PWFILE" "$DATADIR.initdb.log"

# Marker so stop-postgres.sh only ever deletes directories we created.
as_pg touch "$DATADIR/.esocial-test-postgres"

as_pg tee -a "$DATADIR/postgresql.conf" >/dev/null <<EOF

# --- esocial-hub throwaway test server ---
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$DATADIR'
password_encryption = scram-sha-256
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
logging_collector = off
EOF

as_pg tee "$DATADIR/pg_hba.conf" >/dev/null <<'EOF'
# TYPE  DATABASE  USER  ADDRESS        METHOD
local   all       all                  trust
host    all       all   127.0.0.1/32   scram-sha-256
host    all       all   ::1/128        scram-sha-256
EOF

log "starting server on 127.0.0.1:$PORT"
# -W: don't wait here; we poll with pg_isready below for a clear timeout.
as_pg "$BIN/pg_ctl" -D "$DATADIR" -l "$DATADIR/server.log" -W start >/dev/null

deadline=$((SECONDS + TIMEOUT))
until as_pg "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" -d postgres -U "$PG_USER"; do
    if ((SECONDS >= deadline)); then
        log "server log ($DATADIR/server.log):"
        tail -n 50 "$DATADIR/server.log" >&2 || true
        die "PostgreSQL did not become ready on 127.0.0.1:$PORT within ${TIMEOUT}s"
    fi
    sleep 0.2
done
log "ready: postgres://$PG_USER:***@127.0.0.1:$PORT/postgres (datadir $DATADIR)"

trap - EXIT
printf 'export ESOCIAL_TEST_POSTGRES_URL=%q\n' "postgres://$PG_USER:$PG_PASSWORD@127.0.0.1:$PORT/postgres"
printf 'export ESOCIAL_PG_DATADIR=%q\n' "$DATADIR"
