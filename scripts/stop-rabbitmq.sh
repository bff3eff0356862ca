#!/usr/bin/env bash
# Stop a broker started by scripts/start-rabbitmq.sh and delete its base dir.
# Usage: ESOCIAL_RABBITMQ_BASE=/tmp/esocial-rmq.XXXX scripts/stop-rabbitmq.sh
#    or: scripts/stop-rabbitmq.sh /tmp/esocial-rmq.XXXX
#        scripts/stop-rabbitmq.sh --keep [BASE]   stop the node, keep its data
#                                                 (start again: start-rabbitmq.sh --resume)
# `rabbitmqctl stop` first; if the node is not gone after that, its beam process
# (from its pid file, checked to really be that node) gets SIGTERM, then SIGKILL.
# Safe to call twice: a missing directory is not an error (except with --keep).
set -euo pipefail

log() { printf 'stop-rabbitmq: %s\n' "$*" >&2; }
die() { printf 'stop-rabbitmq: ERROR: %s\n' "$*" >&2; exit 1; }

KEEP=0
if [[ "${1:-}" == --keep ]]; then KEEP=1; shift; fi
BASE="${1:-${ESOCIAL_RABBITMQ_BASE:-}}"
[[ -n "$BASE" ]] || die "ESOCIAL_RABBITMQ_BASE is not set (and no directory given)"
STOP_TIMEOUT="${ESOCIAL_RABBITMQ_STOP_TIMEOUT:-60}"

if [[ ! -e "$BASE" ]]; then
    ((KEEP == 0)) || die "$BASE does not exist"
    log "$BASE does not exist; nothing to do"
    exit 0
fi
# Refuse to touch anything start-rabbitmq.sh did not create.
[[ -f "$BASE/.esocial-test-rabbitmq" ]] \
    || die "$BASE has no .esocial-test-rabbitmq marker; refusing to touch it"

# Is PID the beam process of this node? Its command line carries
# `-home BASE` (the node's HOME), which is unique to this broker.
is_our_beam() {
    local pid="$1" cmd
    [[ -n "$pid" && -r "/proc/$pid/cmdline" ]] || return 1
    cmd="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
    [[ "$cmd" == *beam* && "$cmd" == *" -home $NODE_HOME "* ]]
}
# The node's beam process without the pid file (e.g. start-up failed early).
find_our_beam() {
    local d
    for d in /proc/[0-9]*; do
        is_our_beam "${d#/proc/}" && { echo "${d#/proc/}"; return 0; }
    done
    return 1
}
wait_gone() { # wait_gone PID SECONDS
    local deadline=$((SECONDS + $2))
    while kill -0 "$1" 2>/dev/null; do
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}

if [[ -f "$BASE/rabbitmq.env" ]]; then
    # shellcheck source=/dev/null
    . "$BASE/rabbitmq.env"
    NODE="$RABBITMQ_NODENAME"
    NODE_HOME="$HOME"
    RMQ_BIN="${ESOCIAL_RABBITMQ_BIN:-/usr/lib/rabbitmq/bin}"
    pid="$(cat "$RABBITMQ_PID_FILE" 2>/dev/null || true)"
    is_our_beam "$pid" || pid="$(find_our_beam || true)"
    if [[ -n "$pid" ]]; then
        t0=$SECONDS
        if ! (cd / && timeout "$STOP_TIMEOUT" "$RMQ_BIN/rabbitmqctl" -n "$NODE" -q stop) >&2 9>&-; then
            log "rabbitmqctl stop failed or timed out"
        fi
        left=$((STOP_TIMEOUT - (SECONDS - t0)))
        ((left >= 5)) || left=5
        if ! wait_gone "$pid" "$left" && is_our_beam "$pid"; then
            log "killing beam process $pid of $NODE"
            kill -TERM "$pid" 2>/dev/null || true
            kill -CONT "$pid" 2>/dev/null || true # in case it was SIGSTOPped
            if ! wait_gone "$pid" 10; then
                kill -KILL "$pid" 2>/dev/null || true
                wait_gone "$pid" 10 || die "could not kill pid $pid"
            fi
        fi
        log "stopped $NODE"
    else
        log "$NODE is not running"
    fi
    rm -f -- "$RABBITMQ_PID_FILE"
fi

if ((KEEP)); then
    log "kept $BASE"
else
    rm -rf -- "$BASE"
    log "removed $BASE"
fi
