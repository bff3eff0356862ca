#!/usr/bin/env bash
# Stop a server started by scripts/start-postgres.sh and delete its data dir.
# Usage: ESOCIAL_PG_DATADIR=/tmp/esocial-pg.XXXX scripts/stop-postgres.sh
#    or: scripts/stop-postgres.sh /tmp/esocial-pg.XXXX
# Safe to call twice: a missing directory is not an error.
set -euo pipefail

log() { printf 'stop-postgres: %s\n' "$*" >&2; }
die() { printf 'stop-postgres: ERROR: %s\n' "$*" >&2; exit 1; }

DATADIR="${1:-${ESOCIAL_PG_DATADIR:-}}"
[[ -n "$DATADIR" ]] || die "ESOCIAL_PG_DATADIR is not set (and no directory given)"

if [[ ! -e "$DATADIR" ]]; then
    log "$DATADIR does not exist; nothing to do"
    exit 0
fi
# Refuse to delete anything start-postgres.sh did not create.
[[ -f "$DATADIR/.esocial-test-postgres" ]] \
    || die "$DATADIR has no .esocial-test-postgres marker; refusing to touch it"

if [[ -f "$DATADIR/PG_VERSION" ]]; then
    PG_VERSION="$(<"$DATADIR/PG_VERSION")"
    PG_CTL="/usr/lib/postgresql/$PG_VERSION/bin/pg_ctl"
    if [[ -f "$DATADIR/postmaster.pid" && -x "$PG_CTL" ]]; then
        if [[ "$(id -u)" -eq 0 ]]; then
            owner="$(stat -c %U "$DATADIR")"
            RUNUSER="$(command -v runuser || true)"
            [[ -n "$RUNUSER" ]] || RUNUSER=/usr/sbin/runuser
            run() { (cd / && "$RUNUSER" -u "$owner" -- "$@"); }
        else
            run() { (cd / && "$@"); }
        fi
        if ! run "$PG_CTL" -D "$DATADIR" -m fast -t 30 stop >/dev/null; then
            log "fast shutdown failed; trying immediate"
            run "$PG_CTL" -D "$DATADIR" -m immediate -t 10 stop >/dev/null || true
        fi
    fi
fi

rm -rf -- "$DATADIR"
log "stopped and removed $DATADIR"
