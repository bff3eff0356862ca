#!/usr/bin/env bash
# Exchange throughput and the hub's own CPU per exchange (benches/exchange_load.rs): sync SOAP
# and REST, async SOAP through the embedded queue and RabbitMQ, next to the RSA-2048 floor
# (`openssl speed` on the hub's CPU), the registry simulator alone and a plain nginx
# `proxy_pass` hop in front of it.
#
#   1. builds the release binary and the bench before anything is measured;
#   2. installs nginx with apt if it is missing (unless ESOCIAL_SKIP_APT=1: then the proxy
#      variant is left out);
#   3. starts a throwaway RabbitMQ (scripts/start-rabbitmq.sh), pins it to CPU 1 and stops it
#      on exit (ESOCIAL_BENCH_NO_RABBITMQ=1: no broker, the RabbitMQ variants are left out);
#   4. runs `cargo bench --bench exchange_load` with RUST_LOG=warn: the hub runs as its own
#      process pinned to CPU 0 (`taskset -c 0 esocial-hub serve`), the simulators and the load
#      generator on CPU 1;
#   5. the bench prints a Markdown report and writes it to $BENCH_REPORT
#      (default reports/exchange-benchmark.md).
#
# Knobs (environment, passed through to the bench): BENCH_SECONDS (8), BENCH_WARMUP (2),
# BENCH_CALLERS (1,16,64), BENCH_ROUNDS (3), BENCH_QUICK=1 (1 round, 4 s, 16 callers),
# BENCH_VARIANTS, BENCH_POOL, BENCH_REPORT. The defaults take about 20 minutes; BENCH_QUICK=1
# about 2. Needs at least 2 CPUs and `taskset` (util-linux). Extra arguments are passed to
# `cargo bench`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

log() { printf 'bench-exchange: %s\n' "$*" >&2; }
die() { printf 'bench-exchange: ERROR: %s\n' "$*" >&2; exit 1; }

if ! command -v cargo >/dev/null 2>&1 && [[ -x "$HOME/.cargo/bin/cargo" ]]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi
command -v cargo >/dev/null 2>&1 || die "cargo not found on PATH"
command -v taskset >/dev/null 2>&1 || die "taskset not found (apt-get install util-linux)"
command -v openssl >/dev/null 2>&1 || die "openssl not found (apt-get install openssl)"
(($(nproc) >= 2)) || die "needs at least 2 CPUs (the hub on CPU 0, the rest on CPU 1)"

export BENCH_REPORT="${BENCH_REPORT:-$ROOT/reports/exchange-benchmark.md}"
case "$BENCH_REPORT" in /*) ;; *) BENCH_REPORT="$ROOT/$BENCH_REPORT" ;; esac

# nginx, for the proxy variant. Debian's package would start a system service; on these
# machines policy-rc.d forbids that, and the bench starts its own nginx anyway.
export PATH="$PATH:/usr/sbin:/sbin"
if ! command -v nginx >/dev/null 2>&1; then
    if [[ "${ESOCIAL_SKIP_APT:-0}" == 1 ]]; then
        log "nginx is not installed and ESOCIAL_SKIP_APT=1: the proxy variant is left out"
    else
        log "nginx not installed; installing with apt"
        SUDO=()
        [[ "$(id -u)" -eq 0 ]] || SUDO=(sudo)
        {
            "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q -o Acquire::Retries=3
            "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
                --no-install-recommends -o Acquire::Retries=3 nginx
        } >&2 || die "apt-get install nginx failed"
    fi
fi

unset ESOCIAL_RABBITMQ_BASE # only ever stop the broker started below
on_exit() {
    if [[ -n "${ESOCIAL_RABBITMQ_BASE:-}" ]]; then
        bash "$ROOT/scripts/stop-rabbitmq.sh" "$ESOCIAL_RABBITMQ_BASE" || true
        unset ESOCIAL_RABBITMQ_BASE
    fi
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Build first, so that compiling does not overlap the broker's start or the measurements.
log "building the hub and the bench (release profile)"
cargo build --release --bin esocial-hub
cargo bench --bench exchange_load --no-run "$@"

if [[ "${ESOCIAL_BENCH_NO_RABBITMQ:-0}" == 1 ]]; then
    unset ESOCIAL_TEST_AMQP_URL
    log "ESOCIAL_BENCH_NO_RABBITMQ=1: no broker, the RabbitMQ variants are left out"
else
    rmq_env="$(bash "$ROOT/scripts/start-rabbitmq.sh")"
    eval "$rmq_env"
    export ESOCIAL_TEST_AMQP_URL ESOCIAL_RABBITMQ_BASE ESOCIAL_RABBITMQ_NODE ESOCIAL_RABBITMQ_PORT
    log "ESOCIAL_TEST_AMQP_URL=${ESOCIAL_TEST_AMQP_URL/hub:hub@/hub:***@}"
    # The broker works for the hub but is not the hub: keep it off the hub's CPU.
    broker_pid="$(cat "$ESOCIAL_RABBITMQ_BASE/rabbitmq.pid" 2>/dev/null || true)"
    if [[ -n "$broker_pid" ]] && taskset -a -p -c 1 "$broker_pid" >/dev/null; then
        log "broker (pid $broker_pid) pinned to CPU 1"
    else
        log "could not pin the broker to CPU 1; it may run on the hub's CPU"
    fi
    broker_version="$(
        (. "$ESOCIAL_RABBITMQ_BASE/rabbitmq.env" && cd / \
            && timeout 30 /usr/lib/rabbitmq/bin/rabbitmqctl -n "$RABBITMQ_NODENAME" -q version) 2>/dev/null \
            || dpkg-query -W -f='${Version}' rabbitmq-server 2>/dev/null || true
    )"
    erlang_version="$(dpkg-query -W -f='${Version}' erlang-base 2>/dev/null || true)"
    export BENCH_BROKER_VERSION="${broker_version:-unknown}${erlang_version:+ (Erlang package $erlang_version)}, pinned to CPU 1"
fi

RUST_LOG=warn cargo bench --bench exchange_load "$@"

log "report written to $BENCH_REPORT"
