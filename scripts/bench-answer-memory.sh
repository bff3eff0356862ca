#!/usr/bin/env bash
# Memory of the hub over a long run that mixes 5 MB registry answers with ordinary ones
# (benches/answer_memory.rs): builds the bench (release profile), runs it and writes the
# Markdown report to $BENCH_REPORT (default reports/answer-memory.md).
#
# Knobs (environment, passed through to the bench): BENCH_SECONDS (120; 600 is the ten-minute
# soak), BENCH_CALLERS (8), BENCH_ATTACHMENT_BYTES (5242880), BENCH_LARGE_EVERY (10),
# BENCH_REPORT. Extra arguments are passed to `cargo bench`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

if ! command -v cargo >/dev/null 2>&1 && [[ -x "$HOME/.cargo/bin/cargo" ]]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi
command -v cargo >/dev/null 2>&1 || { echo "bench-answer-memory: ERROR: cargo not found on PATH" >&2; exit 1; }

export BENCH_REPORT="${BENCH_REPORT:-$ROOT/reports/answer-memory.md}"
case "$BENCH_REPORT" in /*) ;; *) BENCH_REPORT="$ROOT/$BENCH_REPORT" ;; esac

echo "bench-answer-memory: building the bench (release profile)" >&2
cargo bench --bench answer_memory --no-run "$@"
RUST_LOG=error cargo bench --bench answer_memory "$@"
