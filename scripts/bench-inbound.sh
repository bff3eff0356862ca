#!/usr/bin/env bash
# Mixed valid and invalid MConnect requests against the hub's provider side
# (benches/inbound_load.rs): every invalid request must be refused with its stable code,
# every valid one answered, all signed and bound, nothing outside a grant released, and one
# exchange-log row per request.
#
#   1. builds the bench (release profile) before anything is measured;
#   2. runs `cargo bench --bench inbound_load` with RUST_LOG=warn (override with RUST_LOG);
#      the bench starts the hub, the registry simulators and a development PKI in-process;
#   3. the bench prints a Markdown report and writes it to $BENCH_REPORT
#      (default reports/inbound-load.md).
#
# Exit status: 0 when everything went as expected, 1 when there were mismatches (the report
# lists them), 2 when the run itself failed.
#
# Knobs (environment, passed through to the bench): BENCH_N (1000), BENCH_CONCURRENCY (16),
# BENCH_SEED, BENCH_SUBJECTS (40), BENCH_REPORT. Extra arguments are passed to `cargo bench`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

if ! command -v cargo >/dev/null 2>&1 && [[ -x "$HOME/.cargo/bin/cargo" ]]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi
command -v cargo >/dev/null 2>&1 || { echo "bench-inbound: ERROR: cargo not found on PATH" >&2; exit 2; }

export BENCH_REPORT="${BENCH_REPORT:-$ROOT/reports/inbound-load.md}"
case "$BENCH_REPORT" in /*) ;; *) BENCH_REPORT="$ROOT/$BENCH_REPORT" ;; esac

# Build first, so that compiling does not overlap the measurements.
echo "bench-inbound: building the bench (release profile)" >&2
cargo bench --bench inbound_load --no-run "$@"

status=0
RUST_LOG="${RUST_LOG:-warn}" cargo bench --bench inbound_load "$@" || status=$?

case "$status" in
    0) echo "bench-inbound: no mismatches; report written to $BENCH_REPORT" >&2 ;;
    1) echo "bench-inbound: MISMATCHES: see $BENCH_REPORT" >&2 ;;
    *) echo "bench-inbound: the run failed (exit $status)" >&2 ;;
esac
exit "$status"
