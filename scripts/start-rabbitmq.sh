#!/usr/bin/env bash
# Start a throwaway RabbitMQ broker for the test suite.
#
#   scripts/start-rabbitmq.sh                  start a fresh node
#   scripts/start-rabbitmq.sh --restart [BASE] stop the node and start it again
#                                              (same port, same data: durable
#                                              queues and persistent messages
#                                              survive); see restart-rabbitmq.sh
#   scripts/start-rabbitmq.sh --resume [BASE]  start a node stopped with
#                                              `stop-rabbitmq.sh --keep`
# BASE defaults to $ESOCIAL_RABBITMQ_BASE.
#
# - Installs rabbitmq-server with apt if it is missing (unless
#   ESOCIAL_SKIP_APT=1). Debian's package would start a system service; on
#   these machines policy-rc.d forbids that, and we never use that service.
# - Runs Debian's scripts in /usr/lib/rabbitmq/bin directly, as the current
#   user (root works; the /usr/sbin wrappers are what switch to `rabbitmq`),
#   without systemd: `rabbitmq-server -detached`.
# - Everything lives in a fresh base dir from `mktemp -d` (under
#   ESOCIAL_RABBITMQ_TMPDIR, default /tmp): mnesia, logs, pid file, config,
#   enabled_plugins (none), Erlang cookie ($HOME for the node and CLI is the
#   base dir). The node's environment is saved in BASE/rabbitmq.env so the stop
#   and restart scripts use exactly the same settings.
# - Node name hubtest-<pid>@localhost. AMQP listens only on 127.0.0.1, on the
#   first free port from ESOCIAL_RABBITMQ_START_PORT (default 56720); the Erlang
#   distribution port is also probed (from AMQP port + 100) and bound to
#   127.0.0.1; epmd is told to bind 127.0.0.1 (it is shared by all nodes on
#   the machine and, as usual with Erlang, outlives them).
# - User hub/hub (administrator, full permissions on vhost /) is created at
#   first boot via default_user in the node's rabbitmq.conf; guest is not.
#
# On success prints, on stdout and nothing else:
#   export ESOCIAL_TEST_AMQP_URL=amqp://hub:hub@127.0.0.1:PORT/%2f
#   export ESOCIAL_RABBITMQ_NODE=hubtest-NNN@localhost
#   export ESOCIAL_RABBITMQ_BASE=/tmp/esocial-rmq.XXXXXXXX
#   export ESOCIAL_RABBITMQ_PORT=PORT
# so callers can `eval "$(scripts/start-rabbitmq.sh)"`. All diagnostics go to
# stderr. Stop it (and delete BASE) with scripts/stop-rabbitmq.sh.
#
# Knobs: ESOCIAL_RABBITMQ_START_PORT, ESOCIAL_RABBITMQ_START_TIMEOUT (s, default 60),
# ESOCIAL_RABBITMQ_TMPDIR, ESOCIAL_RABBITMQ_BIN (dir with rabbitmq-server and
# rabbitmqctl), ESOCIAL_RABBITMQ_DOWN_SECS (--restart: stay down this long).
#
# To run rabbitmqctl against the node:
#   (. "$ESOCIAL_RABBITMQ_BASE/rabbitmq.env" && /usr/lib/rabbitmq/bin/rabbitmqctl -n "$RABBITMQ_NODENAME" list_queues)
# (`rabbitmqctl -n NODE ...` from /usr/sbin also works as root -- the node uses
# the system cookie -- but that wrapper runs as user rabbitmq from
# /var/lib/rabbitmq, so give it absolute paths that user can read.)
set -euo pipefail

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { printf '%s: ERROR: %s\n' "$PROG" "$*" >&2; exit 1; }
now() { printf '%s' "$EPOCHREALTIME"; }
since() { LC_ALL=C awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

SCRIPTS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PROG=start-rabbitmq
MODE=fresh
case "${1:-}" in
    --restart) MODE=restart; PROG=restart-rabbitmq; shift ;;
    --resume) MODE=resume; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; exit 0 ;;
    -*) die "unknown option $1 (try --help)" ;;
esac

AMQP_USER=hub
AMQP_PASSWORD=hub
START_PORT="${ESOCIAL_RABBITMQ_START_PORT:-56720}"
TIMEOUT="${ESOCIAL_RABBITMQ_START_TIMEOUT:-60}"
TMP_PARENT="${ESOCIAL_RABBITMQ_TMPDIR:-/tmp}"
MARKER=.esocial-test-rabbitmq
LOCK="$TMP_PARENT/esocial-rabbitmq.$(id -u).lock"
T0="$(now)"

# --- rabbitmq-server installed? ----------------------------------------------------
find_rmq_bin() {
    if [[ -n "${ESOCIAL_RABBITMQ_BIN:-}" ]]; then
        RMQ_BIN="$ESOCIAL_RABBITMQ_BIN"
    elif [[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ]]; then
        RMQ_BIN=/usr/lib/rabbitmq/bin # Debian/Ubuntu package
    else
        RMQ_BIN=""
        return 1
    fi
    [[ -x "$RMQ_BIN/rabbitmq-server" && -x "$RMQ_BIN/rabbitmqctl" ]]
}
if ! find_rmq_bin; then
    [[ "${ESOCIAL_SKIP_APT:-0}" != 1 ]] \
        || die "rabbitmq-server is not installed and ESOCIAL_SKIP_APT=1 (apt-get install rabbitmq-server)"
    log "rabbitmq-server not installed; installing with apt"
    SUDO=()
    [[ "$(id -u)" -eq 0 ]] || SUDO=(sudo)
    t="$(now)"
    {
        "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q -o Acquire::Retries=3
        "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
            -o Acquire::Retries=3 rabbitmq-server
    } >&2 || die "apt-get install rabbitmq-server failed"
    log "installed rabbitmq-server in $(since "$t")s"
    find_rmq_bin || die "rabbitmq-server installed, but /usr/lib/rabbitmq/bin/rabbitmq-server not found"
fi

rmq() { (cd / && "$RMQ_BIN/$1" "${@:2}"); }

# --- ports ----------------------------------------------------------------------------
port_in_use() {
    # A successful TCP connect means something is listening there.
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
# Ports recorded by other (possibly stopped, e.g. `stop-rabbitmq.sh --keep`)
# brokers of ours: never hand those out, their restart needs them back.
claimed_ports() {
    local f
    for f in "$TMP_PARENT"/esocial-rmq.*/ports; do
        [[ -f "$f" && "$f" != "${BASE:-}/ports" ]] && cat -- "$f"
    done
    return 0
}
pick_port() { # pick_port FROM [EXCLUDE...]
    local from="$1" p claimed
    shift
    claimed=" $(claimed_ports | tr '\n' ' ') $* "
    for ((p = from; p < from + 100 && p < 65536; p++)); do
        [[ "$claimed" == *" $p "* ]] && continue
        port_in_use "$p" || { echo "$p"; return 0; }
    done
    return 1
}

# Serialise port probing + start-up between concurrent invocations, so two
# starts never pick the same port. Released when this script exits.
exec 9>>"$LOCK"
flock -w 300 9 || die "could not lock $LOCK within 300s"

# --- base dir: fresh or existing ------------------------------------------------------
if [[ "$MODE" == fresh ]]; then
    BASE="$(mktemp -d "$TMP_PARENT/esocial-rmq.XXXXXXXX")"
    cleanup_on_failure() {
        local rc=$?
        if [[ $rc -ne 0 ]]; then
            bash "$SCRIPTS/stop-rabbitmq.sh" "$BASE" 2>/dev/null || rm -rf -- "$BASE"
        fi
    }
    trap cleanup_on_failure EXIT
    chmod 0700 "$BASE"
    touch "$BASE/$MARKER" # stop-rabbitmq.sh only ever deletes dirs with this

    PORT="$(pick_port "$START_PORT")" \
        || die "no free TCP port in $START_PORT..$((START_PORT + 99)) on 127.0.0.1"
    [[ "$PORT" == "$START_PORT" ]] || log "port $START_PORT is busy or kept by a stopped test broker; using $PORT"
    DIST_PORT="$(pick_port $((PORT + 100)) "$PORT")" || die "no free port for Erlang distribution"
    printf '%s\n%s\n' "$PORT" "$DIST_PORT" >"$BASE/ports"

    # Same cookie as the system node if there is one, so that plain
    # `rabbitmqctl -n NODE` (which runs as user rabbitmq) can talk to us too;
    # otherwise a random one. Distribution only listens on 127.0.0.1 anyway.
    if [[ -r /var/lib/rabbitmq/.erlang.cookie ]]; then
        cp /var/lib/rabbitmq/.erlang.cookie "$BASE/.erlang.cookie"
    else
        (umask 077 && head -c 30 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' >"$BASE/.erlang.cookie")
    fi
    chmod 0400 "$BASE/.erlang.cookie"

    echo '[].' >"$BASE/enabled_plugins"
    cat >"$BASE/rabbitmq.conf" <<EOF
# esocial-hub throwaway test broker (scripts/start-rabbitmq.sh)
# Listener address/port come from RABBITMQ_NODE_IP_ADDRESS/RABBITMQ_NODE_PORT.
default_vhost = /
default_user = $AMQP_USER
default_pass = $AMQP_PASSWORD
default_user_tags.administrator = true
default_permissions.configure = .*
default_permissions.read = .*
default_permissions.write = .*
log.console = false
log.file.level = info
EOF

    NODE="hubtest-$$@localhost"
    {
        printf '# Environment of the RabbitMQ node in this directory (written by start-rabbitmq.sh).\n'
        printf 'export %s=%q\n' \
            HOME "$BASE" \
            RABBITMQ_NODENAME "$NODE" \
            RABBITMQ_NODE_IP_ADDRESS 127.0.0.1 \
            RABBITMQ_NODE_PORT "$PORT" \
            ERL_EPMD_ADDRESS 127.0.0.1 \
            RABBITMQ_MNESIA_BASE "$BASE/mnesia" \
            RABBITMQ_LOG_BASE "$BASE/log" \
            RABBITMQ_PID_FILE "$BASE/rabbitmq.pid" \
            RABBITMQ_CONFIG_FILE "$BASE/rabbitmq.conf" \
            RABBITMQ_ADVANCED_CONFIG_FILE "$BASE/advanced.config" \
            RABBITMQ_CONF_ENV_FILE "$BASE/rabbitmq-env.conf" \
            RABBITMQ_ENABLED_PLUGINS_FILE "$BASE/enabled_plugins" \
            RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS "-kernel inet_dist_use_interface {127,0,0,1}" \
            ERL_CRASH_DUMP "$BASE/erl_crash.dump"
        # Rewritten on restart if the old one is taken by then.
        printf 'export RABBITMQ_DIST_PORT=%q\n' "$DIST_PORT"
    } >"$BASE/rabbitmq.env"
else
    BASE="${1:-${ESOCIAL_RABBITMQ_BASE:-}}"
    [[ -n "$BASE" ]] || die "ESOCIAL_RABBITMQ_BASE is not set (and no directory given)"
    [[ -d "$BASE" ]] || die "$BASE does not exist"
    [[ -f "$BASE/$MARKER" && -f "$BASE/rabbitmq.env" ]] \
        || die "$BASE has no $MARKER marker / rabbitmq.env; not a broker started by start-rabbitmq.sh"
fi

# shellcheck source=/dev/null
. "$BASE/rabbitmq.env"
NODE="$RABBITMQ_NODENAME"
PORT="$RABBITMQ_NODE_PORT"
LOGFILE="$RABBITMQ_LOG_BASE/$NODE.log"

# --- restart: stop first, keeping the data ------------------------------------------------
if [[ "$MODE" == restart ]]; then
    log "stopping $NODE (keeping $BASE)"
    t="$(now)"
    bash "$SCRIPTS/stop-rabbitmq.sh" --keep "$BASE"
    log "stopped in $(since "$t")s"
    if [[ -n "${ESOCIAL_RABBITMQ_DOWN_SECS:-}" ]]; then
        log "staying down for ${ESOCIAL_RABBITMQ_DOWN_SECS}s"
        sleep "$ESOCIAL_RABBITMQ_DOWN_SECS"
    fi
fi

if [[ "$MODE" != fresh ]]; then
    pid="$(cat "$RABBITMQ_PID_FILE" 2>/dev/null || true)"
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
        die "$NODE still running (pid $pid); stop it first (stop-rabbitmq.sh --keep)"
    fi
    # The AMQP port must be the same again; give a just-closed socket a moment.
    deadline=$((SECONDS + 10))
    while port_in_use "$PORT"; do
        ((SECONDS < deadline)) || die "port $PORT (of $NODE) is taken by another process; cannot restart on it"
        sleep 0.2
    done
    if port_in_use "$RABBITMQ_DIST_PORT"; then
        DIST_PORT="$(pick_port $((PORT + 100)) "$PORT")" || die "no free port for Erlang distribution"
        log "distribution port $RABBITMQ_DIST_PORT is busy now; using $DIST_PORT"
        sed -i "s/^export RABBITMQ_DIST_PORT=.*/export RABBITMQ_DIST_PORT=$DIST_PORT/" "$BASE/rabbitmq.env"
        printf '%s\n%s\n' "$PORT" "$DIST_PORT" >"$BASE/ports"
        export RABBITMQ_DIST_PORT="$DIST_PORT"
    fi
    rm -f -- "$RABBITMQ_PID_FILE" "$ERL_CRASH_DUMP"
fi

# --- start -------------------------------------------------------------------------------------
fail() {
    log "$1"
    if [[ -f "$LOGFILE" ]]; then
        log "last lines of $LOGFILE:"
        tail -n 40 "$LOGFILE" >&2 || true
    else
        log "no log file at $LOGFILE"
    fi
    if [[ -s "$BASE/startup.log" ]]; then
        log "output of rabbitmq-server ($BASE/startup.log):"
        tail -n 20 "$BASE/startup.log" >&2 || true
    fi
    if [[ -f "$ERL_CRASH_DUMP" ]]; then
        log "Erlang crash dump $ERL_CRASH_DUMP:"
        head -n 3 "$ERL_CRASH_DUMP" >&2 || true
    fi
    die "RabbitMQ node $NODE did not start"
}

log "starting $NODE on 127.0.0.1:$PORT (dist port $RABBITMQ_DIST_PORT, base $BASE)"
t_start="$(now)"
# Keep the detached node off our stdout/stderr (a caller's `$(...)` or pipe
# would otherwise wait for it) and off the lock (fd 9).
rmq rabbitmq-server -detached </dev/null >>"$BASE/startup.log" 2>&1 9>&- \
    || fail "rabbitmq-server -detached failed"

# The node writes its pid file early in boot and opens the AMQP listener
# near the end; await_startup then waits for boot to complete.
deadline=$((SECONDS + TIMEOUT))
until port_in_use "$PORT"; do
    ((SECONDS < deadline)) || fail "AMQP port 127.0.0.1:$PORT not open within ${TIMEOUT}s"
    pid="$(cat "$RABBITMQ_PID_FILE" 2>/dev/null || true)"
    if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
        fail "the node (pid $pid) exited during start-up"
    fi
    sleep 0.2
done
left=$((deadline - SECONDS))
((left >= 5)) || left=5
(cd / && timeout $((left + 5)) "$RMQ_BIN/rabbitmqctl" -n "$NODE" -q await_startup --timeout "$left") >&2 \
    || fail "rabbitmqctl await_startup failed"

if [[ "$MODE" == fresh ]]; then
    log "ready in $(since "$t_start")s: amqp://$AMQP_USER:***@127.0.0.1:$PORT/%2f (node $NODE, base $BASE)"
    trap - EXIT
else
    log "broker back up: $NODE on 127.0.0.1:$PORT (start took $(since "$t_start")s, total $(since "$T0")s)"
fi

printf 'export ESOCIAL_TEST_AMQP_URL=%q\n' "amqp://$AMQP_USER:$AMQP_PASSWORD@127.0.0.1:$PORT/%2f"
printf 'export ESOCIAL_RABBITMQ_NODE=%q\n' "$NODE"
printf 'export ESOCIAL_RABBITMQ_BASE=%q\n' "$BASE"
printf 'export ESOCIAL_RABBITMQ_PORT=%q\n' "$PORT"
