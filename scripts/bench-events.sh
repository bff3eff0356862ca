#!/usr/bin/env bash
# Events from MConnect Events to alerts (benches/events_flow.rs): events/s the hub handles, its
# CPU per event, and the latency from publication to the event handled, to the module's webhook
# and to MNotify's notification, for events that alert nobody (`intake`) and events that alert
# a case manager (`alert`).
#
#   1. builds the release binary and the bench before anything is measured;
#   2. runs `cargo bench --bench events_flow` with RUST_LOG=warn: the hub runs as its own
#      process pinned to CPU 0 (`taskset -c 0 esocial-hub serve`), the registry simulators, the
#      MConnect Events, MNotify and module stand-ins and the publisher in the bench, on CPU 1;
#   3. the bench prints a Markdown report and writes it to $BENCH_REPORT
#      (default reports/events-benchmark.md).
#
# Knobs (environment, passed through to the bench): BENCH_SECONDS (10), BENCH_WARMUP (2),
# BENCH_ROUNDS (3), BENCH_QUICK=1 (1 round, 4 s windows), BENCH_RATE (5000, events/s offered
# in the `max` runs), BENCH_VARIANTS (intake,alert), BENCH_HUB_BIN, BENCH_REPORT. The defaults
# take about 5 minutes; BENCH_QUICK=1 about 2. Needs at least 2 CPUs and `taskset`
# (util-linux). Extra arguments are passed to `cargo bench`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

log() { printf 'bench-events: %s\n' "$*" >&2; }
die() { printf 'bench-events: ERROR: %s\n' "$*" >&2; exit 1; }

if ! command -v cargo >/dev/null 2>&1 && [[ -x "$HOME/.cargo/bin/cargo" ]]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi
command -v cargo >/dev/null 2>&1 || die "cargo not found on PATH"
command -v taskset >/dev/null 2>&1 || die "taskset not found (apt-get install util-linux)"
(($(nproc) >= 2)) || die "needs at least 2 CPUs (the hub on CPU 0, the rest on CPU 1)"

export BENCH_REPORT="${BENCH_REPORT:-$ROOT/reports/events-benchmark.md}"
case "$BENCH_REPORT" in /*) ;; *) BENCH_REPORT="$ROOT/$BENCH_REPORT" ;; esac

# Build first, so that compiling does not overlap the measurements.
log "building the hub and the bench (release profile)"
cargo build --release --bin esocial-hub
cargo bench --bench events_flow --no-run "$@"

RUST_LOG=warn cargo bench --bench events_flow "$@"

log "report written to $BENCH_REPORT"
