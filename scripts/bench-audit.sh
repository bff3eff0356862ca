#!/usr/bin/env bash
# The audit log's cost (issue 12, item 7), written to $BENCH_REPORT (default
# reports/audit-benchmark.md):
#
#   Part B, exchanges/s with and without the audit log, in the same run. The hub cannot run
#   without its audit log, so "without" is the hub of the last commit before it
#   ($BENCH_BASELINE, 5eac33c; the audit log came with the commits after it).
#   Part A, the log at a million entries: placing entries, `audit verify`, `audit prove`,
#   `audit consistency` and `audit check` (benches/audit_log.rs).
#
#   1. builds this tree's release binary and its exchange_load and audit_log benches before
#      anything is measured, and copies them to a temporary folder: the working tree is shared,
#      and what is measured must not change if someone builds in it during the run;
#   2. checks the baseline out in a git worktree, target/bench-baseline/<commit>.tree (removed
#      on exit), and builds its release binary and its own exchange_load bench with
#      CARGO_TARGET_DIR=target/bench-baseline/<commit> (kept between runs; the checkout is
#      always at the same place and its files get the commit's time, so that cargo reuses
#      what it built last time);
#   3. runs each tree's exchange_load bench in turn (its executable with `--bench`, as
#      `cargo bench --bench exchange_load` would), round by round (baseline, with audit,
#      baseline, with audit, ...), one round per invocation, each with its own report; each
#      tree's bench runs its own binary with settings made from its own deploy/hub.example.toml. The hub is pinned to CPU 0, the simulators and the load
#      generator to CPU 1 (see benches/exchange_load.rs). No RabbitMQ, no nginx;
#   4. reads exchanges/s and the hub's CPU per exchange of every run from those reports
#      (python3) and writes Part B: medians, ratios, and every round;
#   5. runs the audit_log bench (Part A, `cargo bench --bench audit_log`), which writes the
#      report: machine, Part B, Part A.
#
# Knobs (environment): BENCH_ROUNDS (3; rounds of Part B, each one invocation per tree),
# BENCH_QUICK=1 (1 round, 4 s windows with 1 s warm-up, 100,000 entries), BENCH_CALLERS (16),
# BENCH_VARIANTS (sync-soap,sync-rest,async-embedded), BENCH_SECONDS and BENCH_WARMUP (passed
# to exchange_load: 8 and 2, quick 4 and 1), BENCH_AUDIT_ENTRIES (1000000), BENCH_AUDIT_REPEATS
# (3), BENCH_AUDIT_STEP (entries written and placed at a time; half the entries),
# BENCH_AUDIT_KEEP=1 (keep Part A's store), BENCH_BASELINE (5eac33c), BENCH_PART_B=0 (Part A
# only), BENCH_HUB_BIN (Part A only), BENCH_REPORT. The defaults take about 20 minutes after the
# builds when placing entries costs the same whatever the backlog (the baseline's first build
# takes about as long again); BENCH_QUICK=1 about 5. Needs 2 CPUs, git, python3, taskset and
# openssl. Extra arguments are passed to `cargo bench`.
set -euo pipefail

# Braces: bash reads the whole script before running it, so a run survives an edit of this file.
{
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

log() { printf 'bench-audit: %s\n' "$*" >&2; }
die() { printf 'bench-audit: ERROR: %s\n' "$*" >&2; exit 1; }

if ! command -v cargo >/dev/null 2>&1 && [[ -x "$HOME/.cargo/bin/cargo" ]]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi
for tool in cargo git python3 taskset openssl flock; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found on PATH"
done
(($(nproc) >= 2)) || die "needs at least 2 CPUs (the hub on CPU 0, the rest on CPU 1)"

# One run at a time: two would share the baseline's worktree, and the cores.
mkdir -p "$ROOT/target"
exec 9>"$ROOT/target/bench-audit.lock"
flock -n 9 || die "another scripts/bench-audit.sh is running (target/bench-audit.lock)"

LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
QUICK="${BENCH_QUICK:-0}"
if [[ "$QUICK" == 1 ]]; then ROUNDS="${BENCH_ROUNDS:-1}"; else ROUNDS="${BENCH_ROUNDS:-3}"; fi
CALLERS="${BENCH_CALLERS:-16}"
VARIANTS="${BENCH_VARIANTS:-sync-soap,sync-rest,async-embedded}"
BASELINE="${BENCH_BASELINE:-5eac33c}"
PART_B="${BENCH_PART_B:-1}"
PART_A_HUB_BIN="${BENCH_HUB_BIN:-}"
export BENCH_REPORT="${BENCH_REPORT:-$ROOT/reports/audit-benchmark.md}"
case "$BENCH_REPORT" in /*) ;; *) BENCH_REPORT="$ROOT/$BENCH_REPORT" ;; esac
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_ROUNDS must be a positive number"
# Each exchange_load invocation runs one round and the hub binary of its own tree.
unset BENCH_ROUNDS BENCH_HUB_BIN ESOCIAL_TEST_AMQP_URL

WORK="$(mktemp -d "${TMPDIR:-/tmp}/bench-audit.XXXXXX")"
WORKTREE=""
on_exit() {
    if [[ -n "$WORKTREE" ]]; then
        git -C "$ROOT" worktree remove --force "$WORKTREE" >/dev/null 2>&1 || true
        git -C "$ROOT" worktree prune >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The executable of bench $2 that `cargo bench` built in the tree $1 with target folder $3.
bench_executable() {
    (cd "$1" && CARGO_TARGET_DIR="$3" cargo bench --bench "$2" --no-run --message-format=json \
        "${@:4}" 2>/dev/null) | python3 -c '
import json, sys
for line in sys.stdin:
    message = json.loads(line)
    if message.get("reason") == "compiler-artifact" and message.get("executable") \
            and message["target"]["name"] == sys.argv[1]:
        print(message["executable"])
' "$2"
}

# Build first, so that compiling does not overlap the measurements. What is measured is a copy
# of what was built now: the tree is shared, and a later build must not change the binaries
# between rounds.
log "building the hub and the benches (release profile)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
cargo build --release --bin esocial-hub
cargo bench --bench exchange_load --bench audit_log --no-run "$@"
mkdir -p "$WORK/bin"
for bench in exchange_load audit_log; do
    exe="$(bench_executable "$ROOT" "$bench" "$TARGET" "$@")"
    [[ -x "$exe" ]] || die "cannot find the $bench bench's executable"
    cp "$exe" "$WORK/bin/$bench"
done
cp "$TARGET/release/esocial-hub" "$WORK/bin/esocial-hub"

PART_B_FILE=""
if [[ "$PART_B" != 0 ]]; then
    BASE_SHA="$(git rev-parse --verify --quiet "$BASELINE^{commit}")" \
        || die "baseline $BASELINE is not a commit of this repository"
    git merge-base --is-ancestor "$BASE_SHA" HEAD || die "baseline $BASELINE is not an ancestor of HEAD"
    [[ -z "$(git ls-tree "$BASE_SHA" src/audit/log.rs)" ]] \
        || die "baseline $BASELINE already has the audit log (src/audit/log.rs)"
    BASE_SHORT="$(git rev-parse --short "$BASE_SHA")"
    BASE_SUBJECT="$(git log -1 --format=%s "$BASE_SHA")"
    BASE_TARGET="$ROOT/target/bench-baseline/$BASE_SHORT"
    # Always the same place: the bench's executable holds its tree's path (adapters, contracts,
    # deploy/hub.example.toml), and the build is reused from one run to the next.
    WORKTREE="$BASE_TARGET.tree"
    if [[ -e "$WORKTREE" ]]; then
        git worktree remove --force "$WORKTREE" >/dev/null 2>&1 || rm -rf "$WORKTREE"
        git worktree prune
    fi
    mkdir -p "$(dirname "$WORKTREE")"
    log "checking out the baseline $BASE_SHORT in ${WORKTREE#"$ROOT"/}"
    git worktree add --detach "$WORKTREE" "$BASE_SHA" >&2
    # The same content as last time: give the files the commit's time, so that cargo's
    # fingerprints (source times older than what it built) let it reuse the build.
    commit_time="$(git log -1 --format=%ct "$BASE_SHA")"
    find "$WORKTREE" -path "$WORKTREE/.git" -prune -o -exec touch -h -d "@$commit_time" {} +
    log "building the baseline (CARGO_TARGET_DIR=${BASE_TARGET#"$ROOT"/})"
    (
        cd "$WORKTREE"
        CARGO_TARGET_DIR="$BASE_TARGET" cargo build --release --bin esocial-hub
        CARGO_TARGET_DIR="$BASE_TARGET" cargo bench --bench exchange_load --no-run "$@"
    )
    BASE_EXCHANGE_LOAD="$(bench_executable "$WORKTREE" exchange_load "$BASE_TARGET" "$@")"
    [[ -x "$BASE_EXCHANGE_LOAD" ]] || die "cannot find the baseline's exchange_load executable"
    # The bench finds adapters/, contracts/ and deploy/ from the tree it was compiled in, which
    # cargo does not count as a reason to rebuild.
    if ! grep -qF "$WORKTREE" "$BASE_EXCHANGE_LOAD"; then
        log "the baseline's bench was built in another folder; building it again"
        touch "$WORKTREE/benches/exchange_load.rs"
        (cd "$WORKTREE" && CARGO_TARGET_DIR="$BASE_TARGET" cargo bench --bench exchange_load --no-run "$@")
        grep -qF "$WORKTREE" "$BASE_EXCHANGE_LOAD" || die "the baseline's bench does not point at $WORKTREE"
    fi

    MANIFEST="$WORK/part-b-runs.tsv"
    : >"$MANIFEST"
    for round in $(seq 1 "$ROUNDS"); do
        for tree in baseline audit; do
            report="$WORK/exchange-$round-$tree.md"
            log "Part B, round $round/$ROUNDS: $tree ($VARIANTS, $CALLERS callers)"
            bench_env=(env BENCH_ROUNDS=1 BENCH_CALLERS="$CALLERS" BENCH_VARIANTS="$VARIANTS"
                BENCH_REPORT="$report" RUST_LOG=warn)
            # What `cargo bench --bench exchange_load` runs in each tree, without building.
            if [[ "$tree" == baseline ]]; then
                (cd "$WORKTREE" && "${bench_env[@]}" BENCH_HUB_BIN="$BASE_TARGET/release/esocial-hub" \
                    "$BASE_EXCHANGE_LOAD" --bench >"$WORK/exchange-$round-$tree.out")
            else
                "${bench_env[@]}" BENCH_HUB_BIN="$WORK/bin/esocial-hub" \
                    "$WORK/bin/exchange_load" --bench >"$WORK/exchange-$round-$tree.out"
            fi
            [[ -s "$report" ]] || die "the $tree run of round $round wrote no report"
            printf '%s\t%s\t%s\n' "$round" "$tree" "$report" >>"$MANIFEST"
        done
    done

    PART_B_FILE="$WORK/part-b.md"
    log "Part B: reading the reports"
    if git diff --quiet "$BASE_SHA" -- benches/exchange_load.rs benches/common/; then
        SAME_BENCH=1
    else
        SAME_BENCH=0
    fi
    python3 - "$MANIFEST" "$PART_B_FILE" "$BASE_SHORT" "$BASE_SUBJECT" "$CALLERS" "$VARIANTS" \
        "$(git rev-parse --short HEAD)" "${BASE_TARGET#"$ROOT"/}" "$SAME_BENCH" <<'PYTHON'
import re
import statistics
import sys

manifest, out_path, base, base_subject, callers, variants, head, base_target, same = sys.argv[1:10]
callers = int(callers)
variants = variants.split(",")
TITLES = {
    "Hub, sync SOAP": "sync-soap",
    "Hub, sync REST": "sync-rest",
    "Hub, async SOAP, embedded queue": "async-embedded",
    "Hub, async SOAP, RabbitMQ queue": "async-rabbitmq",
}


def number(cell):
    cell = cell.strip().strip("*").replace("%", "").strip()
    try:
        return float(cell)
    except ValueError:
        return None


def parse(path):
    """Every run of one exchange_load report: {variant: row}, and the report's context."""
    text = open(path, encoding="utf-8").read()
    context = {
        "commit": (re.search(r"commit `([0-9a-f]+)`", text) or [None, "?"])[1],
        "floor": None,
        "load": "?",
    }
    floor = re.search(r"\*\*Floor per exchange = 1/sign \+ 1/verify = ([\d.]+) ms\*\*", text)
    if floor:
        context["floor"] = float(floor[1])
    load = re.search(r"Load average \(1/5/15 min\) before: ([^;]+);", text)
    if load:
        context["load"] = load[1].strip()
    runs = {}
    section = text.split("## Every run", 1)[1].split("\n## ", 1)[0]
    variant = None
    for line in section.splitlines():
        if line.startswith("### "):
            title = line[4:].strip()
            variant = next((k for t, k in TITLES.items() if title.startswith(t)), None)
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if variant is None or len(cells) < 15 or not cells[0].isdigit():
            continue
        if int(cells[0]) != callers:
            continue
        runs[variant] = {
            "tput": number(cells[2]),
            "ok": int(cells[3]),
            "errors": int(number(cells[4]) or 0),
            "p50": number(cells[5]),
            "p99": number(cells[6]),
            "cpu_ms": number(cells[7]),
            "sim_ms": number(cells[8]),
            "core": number(cells[11]),
            "cpu0": number(cells[12]),
            "cpu1": number(cells[13]),
        }
    return runs, context


rows = []  # (round, tree, runs, context)
for line in open(manifest, encoding="utf-8"):
    round_, tree, path = line.rstrip("\n").split("\t")
    runs, context = parse(path)
    rows.append((int(round_), tree, runs, context))
rounds = max(r for r, *_ in rows)


def values(tree, variant, key):
    return [runs[variant][key] for _, t, runs, _ in rows
            if t == tree and variant in runs and runs[variant][key] is not None]


def med(xs):
    return statistics.median(xs) if xs else None


def fmt(x, d):
    return "–" if x is None else f"{x:.{d}f}"


def paired(variant, key):
    """Per round, with audit / baseline; their median."""
    ratios = []
    for r in range(1, rounds + 1):
        b = [runs[variant][key] for rr, t, runs, _ in rows
             if rr == r and t == "baseline" and variant in runs]
        a = [runs[variant][key] for rr, t, runs, _ in rows
             if rr == r and t == "audit" and variant in runs]
        if b and a and b[0] and a[0] is not None:
            ratios.append(a[0] / b[0])
    return med(ratios), ratios


out = []
w = out.append
w("## Part B: exchanges with and without the audit log")
w("")
w(f"- **Without** (baseline): commit `{base}`, the last before the audit log (“{base_subject[:110]}…”), "
  f"checked out in a git worktree and built in release (`CARGO_TARGET_DIR={base_target}`); its own "
  "`exchange_load` bench, binary and `deploy/hub.example.toml`.")
w(f"- **With** the audit log: this tree (HEAD `{head}`, as built above), its own `exchange_load` bench. "
  "Each exchange's end writes its audit entry in the same transaction as its terminal state (an "
  "INSERT … SELECT from the exchange row, and the row's sealed identifiers cleared), the exchange row "
  "carries the calling user's and the subject's identifiers sealed with AES-256-GCM for MLog, the hub "
  "places pending entries every 250 ms (canonical JSON, SHA-256, HMAC seal, frontier; one transaction "
  "per 512 entries, through the same single SQLite writer as the exchanges) and signs a checkpoint "
  "every 60 s. No MLog is configured, so nothing is delivered.")
w(("- Both trees' bench is the same code (`benches/exchange_load.rs` and `benches/common/` are as "
   f"in `{base}`)" if same == "1" else
   f"- **The two trees' benches differ** (`benches/exchange_load.rs` or `benches/common/` changed "
   f"since `{base}`)") + ", each run as "
  f"`cargo bench --bench exchange_load` runs it, with `BENCH_ROUNDS=1 BENCH_CALLERS={callers} "
  f"BENCH_VARIANTS={','.join(variants)}`, "
  "the hub as its own process on CPU 0, the simulators and the load generator on CPU 1, a fresh SQLite "
  "file per run (WAL, `synchronous = FULL`); no RabbitMQ, no nginx. The two trees alternate: "
  + ", ".join(f"round {r}: baseline then with audit" for r in range(1, rounds + 1)) + ".")
w("- **Hub CPU ms / exchange**: the hub process's user + system time over the measured window "
  "(`/proc/<pid>/stat`) divided by the exchanges completed in it. It includes the placement of the "
  "entries, which runs in the hub. It is the figure least disturbed by other load on the machine; "
  "exchanges/s moves with it when the hub keeps its core busy (\"core used\" near 100 %).")
w("")
w(f"### Summary ({callers} callers; medians over {rounds} round(s))")
w("")
w("| Variant | Without: ex/s | With: ex/s | With / without | Without: hub CPU ms / ex. | "
  "With: hub CPU ms / ex. | With / without | Paired ex/s ratio | Paired CPU ratio |")
w("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
verdicts = []
for variant in variants:
    bt, at = med(values("baseline", variant, "tput")), med(values("audit", variant, "tput"))
    bc, ac = med(values("baseline", variant, "cpu_ms")), med(values("audit", variant, "cpu_ms"))
    pt, _ = paired(variant, "tput")
    pc, _ = paired(variant, "cpu_ms")
    rt = at / bt if at and bt else None
    rc = ac / bc if ac and bc else None
    w(f"| {variant} | {fmt(bt, 1)} | {fmt(at, 1)} | {fmt(rt, 3)} | {fmt(bc, 3)} | {fmt(ac, 3)} | "
      f"{fmt(rc, 3)} | {fmt(pt, 3)} | {fmt(pc, 3)} |")
    if rt is not None and rc is not None:
        cost = (1 - rt) * 100
        verdicts.append(
            f"- {variant}: the audit log costs {cost:.1f} % of throughput"
            f" ({'within' if cost < 10 else '**not** within'} the 10 % target) and "
            f"{(rc - 1) * 100:+.1f} % hub CPU per exchange"
            + (f" (paired by round: {(1 - pt) * 100:.1f} % and {(pc - 1) * 100:+.1f} %)"
               if pt is not None and pc is not None else "") + ".")
w("")
w("\"Paired\": the median, over rounds, of the with-audit run divided by the baseline run just "
  "before it, which cancels slow drifts in the machine's load better than the ratio of medians.")
w("")
for line in verdicts:
    w(line)
w("")
errors = sum(r["errors"] for _, _, runs, _ in rows for r in runs.values())
if errors:
    w(f"**{errors} exchanges failed** over all runs (see the rounds below); the rates count "
      "successful exchanges only.")
    w("")
w("### Every round")
w("")
w("| Round | Tree | Commit | Variant | Ex/s | OK | Errors | p50 ms | p99 ms | Hub CPU ms / ex. | "
  "Core used | CPU 0 busy | CPU 1 busy | Simulator ms / req. | RSA floor ms | Load avg before |")
w("|---:|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
for round_, tree, runs, context in rows:
    for variant in variants:
        r = runs.get(variant)
        if r is None:
            w(f"| {round_} | {tree} | `{context['commit']}` | {variant} | missing | | | | | | | | | | | |")
            continue
        w(f"| {round_} | {'without' if tree == 'baseline' else 'with'} | `{context['commit']}` | "
          f"{variant} | {fmt(r['tput'], 1)} | {r['ok']} | {r['errors']} | {fmt(r['p50'], 1)} | "
          f"{fmt(r['p99'], 1)} | {fmt(r['cpu_ms'], 3)} | {fmt(r['core'], 0)} % | "
          f"{fmt(r['cpu0'], 0)} % | {fmt(r['cpu1'], 0)} % | {fmt(r['sim_ms'], 3)} | "
          f"{fmt(context['floor'], 3)} | {context['load']} |")
w("")
w("Core used = the hub's CPU time over the window's wall time (100 %: the hub kept CPU 0 busy); "
  "CPU 0/1 busy = the share of each CPU any process used. RSA floor = 1/sign + 1/verify of "
  "RSA-2048 by `openssl speed` on CPU 0, the lower of the two measurements before and after "
  "that invocation's runs: how fast the machine was at the time. Load avg = `/proc/loadavg` "
  "when that invocation started.")
open(out_path, "w", encoding="utf-8").write("\n".join(out) + "\n")
PYTHON
else
    log "BENCH_PART_B=0: Part B left out"
fi

log "Part A: the log at ${BENCH_AUDIT_ENTRIES:-$([[ "$QUICK" == 1 ]] && echo 100000 || echo 1000000)} entries"
BENCH_AUDIT_PART_B="$PART_B_FILE" BENCH_LOAD_START="$LOAD_START" \
    BENCH_HUB_BIN="${PART_A_HUB_BIN:-$WORK/bin/esocial-hub}" RUST_LOG=warn \
    "$WORK/bin/audit_log" --bench

log "report written to $BENCH_REPORT"
exit 0
}
