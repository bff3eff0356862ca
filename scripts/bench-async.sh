#!/usr/bin/env bash
# Benchmark of asynchronous exchanges: embedded queue vs RabbitMQ, with raw lapin
# publish-with-confirm figures on the same broker (benches/async_throughput.rs).
#
#   1. starts a throwaway RabbitMQ (scripts/start-rabbitmq.sh, which installs
#      rabbitmq-server with apt if it is missing) and stops it on exit;
#   2. runs `cargo bench --bench async_throughput` (release profile) with RUST_LOG=warn;
#   3. the bench prints a Markdown report and writes it to $BENCH_REPORT
#      (default reports/async-benchmark.md).
#
# Knobs (environment, passed through to the bench): BENCH_N, BENCH_LAPIN_N,
# BENCH_CONCURRENCY, BENCH_WORKERS, BENCH_RUNS, BENCH_WINDOW, BENCH_WARMUP, BENCH_REPORT.
# ESOCIAL_BENCH_NO_RABBITMQ=1 measures the embedded queue only (no broker started).
# Extra arguments are passed to `cargo bench`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

if ! command -v cargo >/dev/null 2>&1 && [[ -x "$HOME/.cargo/bin/cargo" ]]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi
command -v cargo >/dev/null 2>&1 || { echo "bench-async: ERROR: cargo not found on PATH" >&2; exit 1; }

export BENCH_REPORT="${BENCH_REPORT:-$ROOT/reports/async-benchmark.md}"
case "$BENCH_REPORT" in /*) ;; *) BENCH_REPORT="$ROOT/$BENCH_REPORT" ;; esac

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
echo "bench-async: building the bench (release profile)" >&2
cargo bench --bench async_throughput --no-run "$@"

if [[ "${ESOCIAL_BENCH_NO_RABBITMQ:-0}" == 1 ]]; then
    unset ESOCIAL_TEST_AMQP_URL
    echo "bench-async: ESOCIAL_BENCH_NO_RABBITMQ=1: embedded queue only" >&2
else
    rmq_env="$(bash "$ROOT/scripts/start-rabbitmq.sh")"
    eval "$rmq_env"
    export ESOCIAL_TEST_AMQP_URL ESOCIAL_RABBITMQ_BASE ESOCIAL_RABBITMQ_NODE ESOCIAL_RABBITMQ_PORT
    echo "bench-async: ESOCIAL_TEST_AMQP_URL=${ESOCIAL_TEST_AMQP_URL/hub:hub@/hub:***@}" >&2
    broker_version="$(
        (. "$ESOCIAL_RABBITMQ_BASE/rabbitmq.env" && cd / \
            && timeout 30 /usr/lib/rabbitmq/bin/rabbitmqctl -n "$RABBITMQ_NODENAME" -q version) 2>/dev/null \
            || dpkg-query -W -f='${Version}' rabbitmq-server 2>/dev/null || true
    )"
    erlang_version="$(dpkg-query -W -f='${Version}' erlang-base 2>/dev/null || true)"
    export BENCH_BROKER_VERSION="${broker_version:-unknown}${erlang_version:+ (Erlang package $erlang_version)}"
fi

RUST_LOG=warn cargo bench --bench async_throughput "$@"

echo "bench-async: report written to $BENCH_REPORT" >&2
