#!/usr/bin/env bash
# Benchmark of the beneficiary master index (src/mpi/): linkage quality against a known truth
# (and against the PyPI `recordlinkage` toolkit on the same file), bulk import at 1M records
# into SQLite and PostgreSQL, and match latency (benches/mpi_match.rs). Writes
# reports/mpi-benchmark.md with every figure next to the command that measured it.
#
#   1. builds the release binary and the mpi_match bench, and copies both into a work dir so
#      that rebuilds during the run cannot swap them; makes (once, cached) a virtualenv with
#      the pinned packages of scripts/mpi_quality.py for the recordlinkage baseline;
#   2. quality: `mpi synth` of BENCH_MPI_QUALITY_PERSONS persons; import into a fresh SQLite
#      index; export clusters; `mpi_quality.py evaluate`; `mpi_quality.py recordlinkage` on the
#      same records and truth; both side by side;
#   3. scale: `mpi synth` of BENCH_MPI_PERSONS persons; BENCH_MPI_QUERIES records are held out
#      (every k-th line) as match queries, the rest is imported into a fresh SQLite index and a
#      fresh PostgreSQL database (throwaway server, scripts/start-postgres.sh), each import
#      under `/usr/bin/time -v`; the SQLite index is exported and evaluated;
#   4. latency: the mpi_match bench against both 1M indexes with the held-out queries;
#   5. memory at the goal's size: the same for BENCH_MPI_MEMORY_PERSONS persons (1M persons,
#      ≈1.6M records), SQLite only;
#   6. renders the report from what the steps wrote (nothing in it is not measured here).
#
# Every step runs under `/usr/bin/time -v` with the load average and the busiest other
# processes noted before it, since the machine may be shared.
#
# Knobs (environment):
#   BENCH_MPI_PERSONS (625000)          persons of the scale run (≈1.6 records each)
#   BENCH_MPI_QUALITY_PERSONS (60000)   persons of the quality run
#   BENCH_MPI_QUERIES (10000)           held-out query records, and timed matches per run
#   BENCH_MPI_IMPORT_RUNS (1)           imports per database at scale (median reported)
#   BENCH_MPI_MEMORY_PERSONS (1000000)  persons of a further SQLite-only run at the memory goal's
#                                       size (import, quality, latency); 0 = skip
#   MPI_BENCH_RUNS (3)                  passes of the latency bench (medians reported)
#   BENCH_MPI_RL_MAX_RECORDS (all)      cap on the records given to recordlinkage
#   BENCH_MPI_SKIP_POSTGRES=1           no PostgreSQL import or latency run
#   BENCH_MPI_SKIP_RECORDLINKAGE=1      no recordlinkage baseline (no virtualenv either)
#   BENCH_MPI_SKIP_SCALE=1              quality step only
#   BENCH_MPI_SEED (20261123)           synth seed (the scale run uses SEED + 1)
#   BENCH_MPI_VENV ($CARGO_TARGET_DIR or target/, then bench-mpi-venv)
#   BENCH_MPI_WORKDIR (a fresh mktemp -d under /tmp, removed on exit unless BENCH_MPI_KEEP=1)
#   BENCH_MPI_REPORT (reports/mpi-benchmark.md)
#   CARGO_TARGET_DIR is honoured. Extra arguments are passed to both cargo builds.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

log() { printf 'bench-mpi: %s\n' "$*" >&2; }
die() { printf 'bench-mpi: ERROR: %s\n' "$*" >&2; exit 1; }

if ! command -v cargo >/dev/null 2>&1 && [[ -x "$HOME/.cargo/bin/cargo" ]]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi
command -v cargo >/dev/null 2>&1 || die "cargo not found on PATH"
command -v python3 >/dev/null 2>&1 || die "python3 not found on PATH"

PERSONS="${BENCH_MPI_PERSONS:-625000}"
QUALITY_PERSONS="${BENCH_MPI_QUALITY_PERSONS:-60000}"
QUERIES="${BENCH_MPI_QUERIES:-10000}"
MEMORY_PERSONS="${BENCH_MPI_MEMORY_PERSONS:-1000000}"
IMPORT_RUNS="${BENCH_MPI_IMPORT_RUNS:-1}"
RL_MAX="${BENCH_MPI_RL_MAX_RECORDS:-}"
SKIP_PG="${BENCH_MPI_SKIP_POSTGRES:-0}"
SKIP_RL="${BENCH_MPI_SKIP_RECORDLINKAGE:-0}"
SKIP_SCALE="${BENCH_MPI_SKIP_SCALE:-0}"
SEED="${BENCH_MPI_SEED:-20261123}"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
VENV="${BENCH_MPI_VENV:-$TARGET_DIR/bench-mpi-venv}"
REPORT="${BENCH_MPI_REPORT:-$ROOT/reports/mpi-benchmark.md}"
case "$REPORT" in /*) ;; *) REPORT="$ROOT/$REPORT" ;; esac
for knob in PERSONS QUALITY_PERSONS QUERIES IMPORT_RUNS SEED; do
    [[ "${!knob}" =~ ^[1-9][0-9]*$ ]] || die "BENCH_MPI_$knob must be a positive whole number"
done
[[ "$MEMORY_PERSONS" =~ ^[0-9]+$ ]] || die "BENCH_MPI_MEMORY_PERSONS must be a whole number (0 = skip)"
[[ -z "$RL_MAX" || "$RL_MAX" =~ ^[1-9][0-9]*$ ]] || die "BENCH_MPI_RL_MAX_RECORDS must be a positive whole number"

# The pins of scripts/mpi_quality.py's docstring.
RL_PACKAGES=(recordlinkage==0.16 jellyfish==1.3.0 pandas==2.3.3 numpy==2.4.6 scipy==1.17.1
    scikit-learn==1.9.1 joblib==1.6.0 python-dateutil==4.0.0 pytz==2026.6 tzdata==2026.6
    threadpoolctl==3.8.0 narwhals==2.29.0 cloudpickle==3.1.2)

# --- work dir and cleanup ------------------------------------------------------------------
if [[ -n "${BENCH_MPI_WORKDIR:-}" ]]; then
    WORK="$BENCH_MPI_WORKDIR"
    mkdir -p "$WORK"
else
    WORK="$(mktemp -d /tmp/bench-mpi.XXXXXXXX)"
fi
WORK="$(cd "$WORK" && pwd)"
FACTS="$WORK/facts"
mkdir -p "$FACTS"

unset ESOCIAL_PG_DATADIR # only ever stop the server started below
SAMPLER_PID=""
on_exit() {
    local rc=$?
    if [[ -n "$SAMPLER_PID" ]]; then
        kill "$SAMPLER_PID" 2>/dev/null || true
        wait "$SAMPLER_PID" 2>/dev/null || true
    fi
    if [[ -n "${ESOCIAL_PG_DATADIR:-}" ]]; then
        bash "$ROOT/scripts/stop-postgres.sh" "$ESOCIAL_PG_DATADIR" || true
        unset ESOCIAL_PG_DATADIR
    fi
    if [[ "${BENCH_MPI_KEEP:-0}" == 1 || -n "${BENCH_MPI_WORKDIR:-}" ]]; then
        log "work dir kept: $WORK"
    else
        rm -rf -- "$WORK"
    fi
    exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

T0="$EPOCHREALTIME"
elapsed() { LC_ALL=C awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }'; }

# --- /usr/bin/time ---------------------------------------------------------------------------
if [[ ! -x /usr/bin/time ]]; then
    if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        log "installing GNU time (apt-get install time)"
        apt-get install -y -q time >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q time >/dev/null; }
    fi
    [[ -x /usr/bin/time ]] || die "/usr/bin/time (GNU time) is missing: apt-get install time"
fi

# --- build -------------------------------------------------------------------------------------
log "building the release binary and the mpi_match bench (target dir $TARGET_DIR)"
build_started="$EPOCHREALTIME"
cargo build --release --bin esocial-hub "$@"
bench_exe="$(cargo bench --bench mpi_match --no-run --message-format=json "$@" \
    | python3 -c '
import json, sys
for line in sys.stdin:
    try:
        msg = json.loads(line)
    except ValueError:
        continue
    if msg.get("reason") == "compiler-artifact" and msg.get("target", {}).get("name") == "mpi_match" \
            and msg.get("executable"):
        print(msg["executable"])
')"
[[ -x "$bench_exe" ]] || die "could not find the mpi_match bench executable"
mkdir -p "$WORK/bin"
cp "$TARGET_DIR/release/esocial-hub" "$WORK/bin/esocial-hub"
cp "$bench_exe" "$WORK/bin/mpi_match"
HUB="$WORK/bin/esocial-hub"
BENCH="$WORK/bin/mpi_match"
LC_ALL=C awk -v a="$build_started" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f\n", b - a }' >"$FACTS/build.seconds"

export RUST_LOG=error
HUB__AUDIT__DIGEST_KEY="bench-mpi-$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
export HUB__AUDIT__DIGEST_KEY

# --- facts about the machine and the tree --------------------------------------------------------
{
    printf 'nproc=%s\n' "$(nproc)"
    printf 'cpu=%s\n' "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
    printf 'mem_kib=%s\n' "$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)"
    printf 'kernel=%s\n' "$(uname -sr)"
    printf 'commit=%s\n' "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    printf 'dirty=%s\n' "$(git status --porcelain --untracked-files=no 2>/dev/null | awk '{ print $2 }' | paste -sd ' ' -)"
    printf 'date=%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    printf 'rustc=%s\n' "$(rustc --version 2>/dev/null || echo unknown)"
    printf 'python=%s\n' "$(python3 --version 2>&1)"
    printf 'sqlite_note=%s\n' "SQLite file in $WORK (same disk as /tmp)"
    printf 'persons=%s\nquality_persons=%s\nqueries=%s\nimport_runs=%s\nseed=%s\nmemory_persons=%s\nbench_runs=%s\n' \
        "$PERSONS" "$QUALITY_PERSONS" "$QUERIES" "$IMPORT_RUNS" "$SEED" "$MEMORY_PERSONS" "${MPI_BENCH_RUNS:-3}"
    printf 'rl_max=%s\nskip_pg=%s\nskip_rl=%s\nskip_scale=%s\n' "$RL_MAX" "$SKIP_PG" "$SKIP_RL" "$SKIP_SCALE"
} >"$FACTS/env.txt"

# --- running a measured step -------------------------------------------------------------------
# A sampler notes every 2 s the load average and the CPU used by each process, split into
# this script's own (descendants of this shell) and everything else, so that the report can say
# what else ran during each step.
python3 - "$$" "$FACTS/cpu-samples.jsonl" <<'PY' &
import json, os, sys, time

root, out = int(sys.argv[1]), sys.argv[2]
before = time.monotonic()
# Daemons this script starts (PostgreSQL) are re-parented to init; their pids are listed here.
extra_roots_file = os.path.join(os.path.dirname(out), "own-daemons.txt")
ticks = os.sysconf("SC_CLK_TCK")


def processes():
    found = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", encoding="utf-8", errors="replace") as handle:
                stat = handle.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        # ppid, utime + stime, start time (ticks since boot), cutime + cstime (reaped children)
        found[int(name)] = (comm, int(fields[1]), int(fields[11]) + int(fields[12]), int(fields[19]),
                            int(fields[13]) + int(fields[14]))
    return found


def busy_ticks():
    """(busy, stolen) ticks of all CPUs: busy is everything but idle, iowait and steal."""
    with open("/proc/stat", encoding="utf-8") as handle:
        fields = [int(v) for v in handle.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal
    return sum(fields[:7]) - fields[3] - fields[4], fields[7]


def uptime_ticks():
    with open("/proc/uptime", encoding="utf-8") as handle:
        return float(handle.read().split()[0]) * ticks


previous, busy_before, boot_before = processes(), busy_ticks(), uptime_ticks()
tree_before = None
with open(out, "a", encoding="utf-8") as handle:
    while True:
        time.sleep(2)
        now = time.monotonic()
        current, busy_now, boot_now = processes(), busy_ticks(), uptime_ticks()
        elapsed = now - before
        parents = {pid: entry[1] for pid, entry in current.items()}
        try:
            with open(extra_roots_file, encoding="utf-8") as extra:
                roots = {root, *(int(p) for p in extra.read().split())}
        except (OSError, ValueError):
            roots = {root}

        def mine(pid):
            for _ in range(64):
                if pid in roots:
                    return True
                pid = parents.get(pid, 0)
                if pid <= 1:
                    return False
            return False

        # CPU of this script's process tree: live members' own time plus what they reaped
        # (an exited child's time moves into its parent's), so short-lived children count too.
        tree_now = sum(entry[2] + entry[4] for pid, entry in current.items() if mine(pid))
        mine_total = None if tree_before is None else max(0, tree_now - tree_before) / ticks / elapsed * 100
        sample = {"t": time.time(), "load1": float(open("/proc/loadavg").read().split()[0]),
                  "busy": round((busy_now[0] - busy_before[0]) / ticks / elapsed * 100, 1),
                  "steal": round((busy_now[1] - busy_before[1]) / ticks / elapsed * 100, 1),
                  "mineTotal": None if mine_total is None else round(mine_total, 1),
                  "mine": {}, "others": {}}
        for pid, (comm, _, cpu, started, _) in current.items():
            if pid in previous and previous[pid][0] == comm:
                spent = cpu - previous[pid][2]
            elif started >= boot_before:
                spent = cpu  # started since the last sample
            else:
                continue
            percent = spent / ticks / elapsed * 100
            if percent >= 1:
                group = sample["mine" if mine(pid) else "others"]
                group[comm] = round(group.get(comm, 0) + percent, 1)
        previous, before, busy_before, boot_before, tree_before = current, now, busy_now, boot_now, tree_now
        handle.write(json.dumps(sample) + "\n")
        handle.flush()
PY
SAMPLER_PID=$!

# step NAME CMD...: runs CMD under /usr/bin/time -v; stdout to NAME.out, stderr to NAME.err,
# the command (work dir shown as $W, secrets masked) to NAME.cmd, the exit code to NAME.rc,
# and when it ran to NAME.ctx. Exit code 3 of `mpi import` (some lines rejected) is recorded,
# not fatal.
show_cmd() {
    local text="$*"
    text="${text//$WORK/\$W}"
    text="${text//$ROOT\//}"
    text="${text//$VENV/\$VENV}"
    # shellcheck disable=SC2001
    sed -E 's#(postgres(ql)?://[^:/@]+):[^@]*@#\1:***@#g' <<<"$text"
}
step() {
    local name="$1"
    shift
    show_cmd "$@" >"$FACTS/$name.cmd"
    {
        printf 'loadavg_before=%s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
        printf 'start=%s\n' "$EPOCHREALTIME"
    } >"$FACTS/$name.ctx"
    log "[$(elapsed)s] $name: $(cat "$FACTS/$name.cmd")"
    local rc=0
    /usr/bin/time -v -o "$FACTS/$name.time" "$@" >"$FACTS/$name.out" 2>"$FACTS/$name.err" || rc=$?
    printf 'loadavg_after=%s\nend=%s\n' "$(cut -d' ' -f1-3 /proc/loadavg)" "$EPOCHREALTIME" >>"$FACTS/$name.ctx"
    echo "$rc" >"$FACTS/$name.rc"
    if [[ $rc -ne 0 && $rc -ne 3 ]]; then
        tail -n 30 "$FACTS/$name.err" >&2 || true
        die "$name failed with exit code $rc"
    fi
    sed 's/^/    /' "$FACTS/$name.out" | head -n 12 >&2
}

# --- recordlinkage's virtualenv (cached) ----------------------------------------------------------
if [[ "$SKIP_RL" != 1 ]]; then
    pins="${RL_PACKAGES[*]}"
    if [[ ! -x "$VENV/bin/python" || "$(cat "$VENV/.bench-mpi-pins" 2>/dev/null)" != "$pins" ]]; then
        log "making the recordlinkage virtualenv in $VENV"
        rm -rf -- "$VENV"
        python3 -m venv "$VENV"
        "$VENV/bin/pip" install -q --disable-pip-version-check "${RL_PACKAGES[@]}"
        printf '%s' "$pins" >"$VENV/.bench-mpi-pins"
    fi
    "$VENV/bin/python" scripts/mpi_quality.py selftest >/dev/null \
        || die "scripts/mpi_quality.py selftest failed in $VENV"
fi

sqlite_url() { printf 'sqlite://%s?mode=rwc' "$1"; }

# --- 2. quality ------------------------------------------------------------------------------------
log "quality: $QUALITY_PERSONS persons"
Q="$WORK/quality"
mkdir -p "$Q"
step q_synth "$HUB" mpi synth --persons "$QUALITY_PERSONS" --seed "$SEED" \
    --out "$Q/records.jsonl" --truth "$Q/truth.jsonl"
wc -l <"$Q/records.jsonl" >"$FACTS/q_records.count"
step q_import "$HUB" mpi import --db "$(sqlite_url "$Q/index.db")" --source legacy "$Q/records.jsonl"
step q_export "$HUB" mpi export --db "$(sqlite_url "$Q/index.db")" --clusters "$Q/clusters.jsonl"
step q_evaluate python3 scripts/mpi_quality.py evaluate --truth "$Q/truth.jsonl" \
    --clusters "$Q/clusters.jsonl" --json "$FACTS/q_evaluate.json"
if [[ "$SKIP_RL" != 1 ]]; then
    rl_args=(--records "$Q/records.jsonl" --truth "$Q/truth.jsonl" --json "$FACTS/q_recordlinkage.json")
    if [[ -n "$RL_MAX" ]]; then
        rl_args+=(--max-records "$RL_MAX")
    fi
    step q_recordlinkage "$VENV/bin/python" scripts/mpi_quality.py recordlinkage "${rl_args[@]}"
    if [[ -n "$RL_MAX" ]] && ((RL_MAX < $(cat "$FACTS/q_records.count"))); then
        # Score our clusters on the same first records, for a like-for-like row.
        head -n "$RL_MAX" "$Q/records.jsonl" >"$Q/records-subset.jsonl"
        python3 - "$Q/records-subset.jsonl" "$Q/clusters.jsonl" "$Q/clusters-subset.jsonl" <<'PY'
import json, sys
wanted = {json.loads(line)["localId"] for line in open(sys.argv[1], encoding="utf-8") if line.strip()}
with open(sys.argv[3], "w", encoding="utf-8") as out:
    for line in open(sys.argv[2], encoding="utf-8"):
        cluster = json.loads(line)
        kept = [r for r in cluster["records"] if r["localId"] in wanted]
        if kept:
            out.write(json.dumps({"personId": cluster["personId"], "records": kept}) + "\n")
PY
        step q_evaluate_subset python3 scripts/mpi_quality.py evaluate --truth "$Q/truth.jsonl" \
            --clusters "$Q/clusters-subset.jsonl" --subset --json "$FACTS/q_evaluate_subset.json"
    fi
fi
rm -f -- "$Q/index.db" "$Q"/index.db-* "$Q/records-subset.jsonl"

# split_holdout DIR TAG: holds out every k-th record of DIR/all.jsonl (BENCH_MPI_QUERIES in all)
# as match queries (DIR/queries.jsonl); the rest goes to DIR/import.jsonl, and the truth is split
# the same way (its lines follow the records' lines; checked).
split_holdout() {
    local dir="$1" tag="$2"
    python3 - "$dir" "$QUERIES" >"$FACTS/${tag}_split.txt" <<'PY'
import json, sys
work, wanted = sys.argv[1], int(sys.argv[2])
with open(f"{work}/all.jsonl", "rb") as handle:
    total = sum(1 for line in handle if line.strip())
every = max(2, total // wanted)
held = imported = 0
with open(f"{work}/all.jsonl", encoding="utf-8") as records, \
        open(f"{work}/all-truth.jsonl", encoding="utf-8") as truth, \
        open(f"{work}/import.jsonl", "w", encoding="utf-8") as out, \
        open(f"{work}/import-truth.jsonl", "w", encoding="utf-8") as out_truth, \
        open(f"{work}/queries.jsonl", "w", encoding="utf-8") as queries:
    for number, (record, fact) in enumerate(zip(records, truth, strict=True), start=1):
        if json.loads(record)["localId"] != json.loads(fact)["localId"]:
            sys.exit(f"line {number}: records and truth are not in the same order")
        if number % every == 0 and held < wanted:
            queries.write(record)
            held += 1
        else:
            out.write(record)
            out_truth.write(fact)
            imported += 1
print(f"total={total}\nevery={every}\nheld_out={held}\nimported={imported}")
PY
    rm -f -- "$dir/all.jsonl" "$dir/all-truth.jsonl"
    sed 's/^/    /' "$FACTS/${tag}_split.txt" >&2
}

# --- 3. scale ----------------------------------------------------------------------------------------
if [[ "$SKIP_SCALE" != 1 ]]; then
    log "scale: $PERSONS persons"
    S="$WORK/scale"
    mkdir -p "$S"
    step s_synth "$HUB" mpi synth --persons "$PERSONS" --seed "$((SEED + 1))" \
        --out "$S/all.jsonl" --truth "$S/all-truth.jsonl"
    split_holdout "$S" s

    for ((run = 1; run <= IMPORT_RUNS; run++)); do
        rm -f -- "$S/index.db" "$S"/index.db-*
        step "s_sqlite_import_$run" "$HUB" mpi import --db "$(sqlite_url "$S/index.db")" \
            --source legacy "$S/import.jsonl"
        du -k "$S/index.db" | cut -f1 >"$FACTS/s_sqlite_import_$run.dbsize"
    done
    SQLITE_DB="$(sqlite_url "$S/index.db")"
    step s_export "$HUB" mpi export --db "$SQLITE_DB" --clusters "$S/clusters.jsonl"
    step s_evaluate python3 scripts/mpi_quality.py evaluate --truth "$S/import-truth.jsonl" \
        --clusters "$S/clusters.jsonl" --json "$FACTS/s_evaluate.json"
    rm -f -- "$S/clusters.jsonl"

    PG_DB=""
    if [[ "$SKIP_PG" != 1 ]]; then
        pg_env="$(bash "$ROOT/scripts/start-postgres.sh")"
        eval "$pg_env"
        export ESOCIAL_PG_DATADIR
        head -n 1 "$ESOCIAL_PG_DATADIR/postmaster.pid" >>"$FACTS/own-daemons.txt"
        PG_VERSION="$(cat "$ESOCIAL_PG_DATADIR/PG_VERSION")"
        PSQL="/usr/lib/postgresql/$PG_VERSION/bin/psql"
        echo "PostgreSQL $("$PSQL" --version | awk '{ print $3 }'), throwaway server of scripts/start-postgres.sh (fsync, synchronous_commit and full_page_writes off)" >"$FACTS/pg_version.txt"
        for ((run = 1; run <= IMPORT_RUNS; run++)); do
            db="mpi_bench_$run"
            "$PSQL" -q "$ESOCIAL_TEST_POSTGRES_URL" -c "CREATE DATABASE $db" >/dev/null
            PG_DB="${ESOCIAL_TEST_POSTGRES_URL%/*}/$db"
            step "s_pg_import_$run" "$HUB" mpi import --db "$PG_DB" --source legacy "$S/import.jsonl"
            "$PSQL" -qtA "$PG_DB" -c "SELECT pg_database_size(current_database()) / 1024" \
                >"$FACTS/s_pg_import_$run.dbsize"
            if ((run < IMPORT_RUNS)); then
                "$PSQL" -q "$ESOCIAL_TEST_POSTGRES_URL" -c "DROP DATABASE $db" >/dev/null
            fi
        done
    fi

    # --- 4. latency ------------------------------------------------------------------------------
    step l_sqlite env MPI_BENCH_DB="$SQLITE_DB" MPI_BENCH_QUERIES="$S/queries.jsonl" \
        MPI_BENCH_N="$QUERIES" MPI_BENCH_LABEL=sqlite MPI_BENCH_REPORT_JSON="$FACTS/l_sqlite.json" \
        "$BENCH" --bench
    if [[ -n "$PG_DB" ]]; then
        step l_postgres env MPI_BENCH_DB="$PG_DB" MPI_BENCH_QUERIES="$S/queries.jsonl" \
            MPI_BENCH_N="$QUERIES" MPI_BENCH_LABEL=postgres \
            MPI_BENCH_REPORT_JSON="$FACTS/l_postgres.json" "$BENCH" --bench
    fi
    rm -f -- "$S/index.db" "$S"/index.db-*

    # --- 5. memory at the goal's size (1M persons), SQLite only -----------------------------------
    if ((MEMORY_PERSONS > 0)); then
        log "memory: $MEMORY_PERSONS persons"
        M="$WORK/memory"
        mkdir -p "$M"
        step m_synth "$HUB" mpi synth --persons "$MEMORY_PERSONS" --seed "$((SEED + 2))" \
            --out "$M/all.jsonl" --truth "$M/all-truth.jsonl"
        split_holdout "$M" m
        step m_sqlite_import_1 "$HUB" mpi import --db "$(sqlite_url "$M/index.db")" \
            --source legacy "$M/import.jsonl"
        du -k "$M/index.db" | cut -f1 >"$FACTS/m_sqlite_import_1.dbsize"
        step m_export "$HUB" mpi export --db "$(sqlite_url "$M/index.db")" --clusters "$M/clusters.jsonl"
        step m_evaluate python3 scripts/mpi_quality.py evaluate --truth "$M/import-truth.jsonl" \
            --clusters "$M/clusters.jsonl" --json "$FACTS/m_evaluate.json"
        rm -f -- "$M/clusters.jsonl"
        step l_memory env MPI_BENCH_DB="$(sqlite_url "$M/index.db")" MPI_BENCH_QUERIES="$M/queries.jsonl" \
            MPI_BENCH_N="$QUERIES" MPI_BENCH_LABEL=sqlite-1M-persons \
            MPI_BENCH_REPORT_JSON="$FACTS/l_memory.json" "$BENCH" --bench
        rm -f -- "$M/index.db" "$M"/index.db-*
    fi
fi

elapsed >"$FACTS/total.seconds"
date -u +%Y-%m-%dT%H:%M:%SZ >"$FACTS/finished.txt"

# --- 6. report ---------------------------------------------------------------------------------------
mkdir -p "$(dirname "$REPORT")"
python3 - "$FACTS" "$REPORT" <<'PY'
import json, os, re, statistics, sys

facts, report = sys.argv[1], sys.argv[2]


def path(name):
    return os.path.join(facts, name)


def exists(name):
    return os.path.exists(path(name))


def text(name):
    with open(path(name), encoding="utf-8") as handle:
        return handle.read().strip()


def load(name):
    with open(path(name), encoding="utf-8") as handle:
        return json.load(handle)


def keyvals(name):
    return dict(line.split("=", 1) for line in text(name).splitlines() if "=" in line)


def gnu_time(name):
    """Wall seconds, CPU seconds, CPU share and peak RSS (MiB) from `/usr/bin/time -v`."""
    values = {}
    for line in text(name + ".time").splitlines():
        key, _, value = line.strip().rpartition(": ")
        values[key] = value
    wall = 0.0
    for part in values["Elapsed (wall clock) time (h:mm:ss or m:ss)"].split(":"):
        wall = wall * 60 + float(part)
    return {
        "wall": wall,
        "user": float(values["User time (seconds)"]),
        "sys": float(values["System time (seconds)"]),
        "cpu": values["Percent of CPU this job got"],
        "rss_mib": int(values["Maximum resident set size (kbytes)"]) / 1024,
    }


def import_figures(name):
    out = text(name + ".out")
    first = re.search(r"imported (\d+) of (\d+) lines .* in ([\d.]+) s \((\d+) records/s[;)]", out)
    waiting = re.search(r"([\d.]+) s of it waiting for the store", out)
    second = re.search(r"new persons (\d+), linked automatically (\d+), sent to review (\d+), "
                       r"updated (\d+), rejected (\d+)", out)
    third = re.search(r"index: (\d+) records \((\d+) before\), (\d+) persons", out)
    learned = re.search(r"learned from (\d+) candidate and (\d+) random pairs in ([\d.]+) s",
                        text(name + ".err"))
    figures = {
        "imported": int(first[1]), "lines": int(first[2]), "seconds": float(first[3]),
        "rate": int(first[4]),
        "waiting_seconds": float(waiting[1]) if waiting else None,
        "new_persons": int(second[1]), "auto_linked": int(second[2]), "reviews": int(second[3]),
        "rejected": int(second[5]), "persons": int(third[3]),
        "train_seconds": float(learned[3]) if learned else None,
        "rc": int(text(name + ".rc")),
        **gnu_time(name),
    }
    if exists(name + ".dbsize"):
        figures["db_mib"] = int(text(name + ".dbsize")) / 1024
    return figures


SAMPLES = []
if exists("cpu-samples.jsonl"):
    with open(path("cpu-samples.jsonl"), encoding="utf-8") as handle:
        SAMPLES = [json.loads(line) for line in handle if line.strip()]


def others_cpu(start, end):
    """Mean CPU (% of one core) of processes not started by this script, between two times:
    all CPU time the kernel counted (/proc/stat) less what this script's process tree used;
    and the other processes seen, by name (short-lived ones can be missed)."""
    window = [s for s in SAMPLES if start <= s["t"] <= end + 2]
    if not window:
        return None, {}
    by_name = {}
    total = 0.0
    for sample in window:
        own = sample.get("mineTotal")
        own = sum(sample["mine"].values()) if own is None else own
        total += max(0.0, sample["busy"] - own) / len(window)
        for comm, percent in sample["others"].items():
            by_name[comm] = by_name.get(comm, 0) + percent / len(window)
    return total, dict(sorted(by_name.items(), key=lambda kv: -kv[1]))


def describe_others(total, by_name):
    if total is None:
        return "too short for the 2-s CPU sampler"
    busy = ", ".join(f"{comm} {percent:.0f}%" for comm, percent in by_name.items() if percent >= 5)
    return f"other processes {total:.0f}% CPU" + (f" ({busy})" if busy else "")


def ctx(name):
    values = keyvals(name + ".ctx")
    start, end = float(values["start"]), float(values["end"])
    total, by_name = others_cpu(start, end)
    return (f"{end - start:.1f} s; load average {values['loadavg_before'].split()[0]} → "
            f"{values['loadavg_after'].split()[0]}; {describe_others(total, by_name)}")


def cmd(name):
    return text(name + ".cmd")


def command_list(names):
    out("Commands (each followed by its wall time, the 1-minute load average before → after, "
        "and the CPU other processes used meanwhile):")
    out("")
    for name in names:
        if exists(name + ".cmd"):
            out(f"- `{cmd(name)}` ({ctx(name)})")
    out("")


def f(value, digits=4):
    return "n/a" if value is None else f"{value:.{digits}f}"


def n(value):
    return "n/a" if value is None else f"{int(value):,}"


def met(ok):
    return "**met**" if ok else "**not met**"


def runs_of(prefix):
    runs, run = [], 1
    while exists(f"{prefix}{run}.cmd"):
        runs.append((f"{prefix}{run}", import_figures(f"{prefix}{run}")))
        run += 1
    return runs


env = keyvals("env.txt")
nproc = int(env["nproc"])
lines = []
out = lines.append
goal_rows = []

out("# Master index benchmark")
out("")
out("Written by `scripts/bench-mpi.sh`; every figure below was measured by that run. "
    "`esocial-hub` and `mpi_match` are the release builds of the commit below, copied into the "
    "run's work dir (`$W`) before measuring; `$VENV` is a virtualenv with the pinned packages of "
    "`scripts/mpi_quality.py`. All data is synthetic (`esocial-hub mpi synth`).")
out("")
out("## Machine and run")
out("")
out(f"- Machine: {nproc} CPUs ({env['cpu']}), {int(env['mem_kib']) / 1024 / 1024:.1f} GiB RAM, {env['kernel']}")
dirty = env.get("dirty", "").strip()
out(f"- Commit: `{env['commit']}`" + (
    f", built with uncommitted changes in the working tree (other work in progress): "
    f"{', '.join('`' + d + '`' for d in dirty.split())}" if dirty else " (clean working tree)"))
out(f"- Started {env['date']}, finished {text('finished.txt')}; the whole script took "
    f"{text('total.seconds')} s, of which the release build {text('build.seconds')} s")
out(f"- {env['rustc']}; {env['python']}")
out(f"- Knobs: BENCH_MPI_QUALITY_PERSONS={env['quality_persons']}, BENCH_MPI_PERSONS={env['persons']}, "
    f"BENCH_MPI_MEMORY_PERSONS={env['memory_persons']}, BENCH_MPI_QUERIES={env['queries']}, "
    f"BENCH_MPI_IMPORT_RUNS={env['import_runs']}, MPI_BENCH_RUNS={env['bench_runs']}, seed {env['seed']}"
    + (f", BENCH_MPI_RL_MAX_RECORDS={env['rl_max']}" if env.get("rl_max") else ""))
out("- The machine is shared. A sampler read the CPU time of every process every 2 s; "
    f"\"other processes N% CPU\" below is the mean CPU used by processes this script did not start "
    f"(100% = one of the {nproc} cores), with the busiest named.")
if SAMPLES:
    total, by_name = others_cpu(SAMPLES[0]["t"], SAMPLES[-1]["t"])
    loads = [s["load1"] for s in SAMPLES]
    steal = statistics.mean(s.get("steal", 0) for s in SAMPLES)
    out(f"- Over the measured part of the run (after the build): {describe_others(total, by_name)}; "
        f"1-minute load average median {statistics.median(loads):.2f}, max {max(loads):.2f}; CPU time "
        f"stolen by the hypervisor {steal:.1f}% on average (of {nproc * 100}%).")
out("")

# --- 1. quality ---------------------------------------------------------------------------------
quality = load("q_evaluate.json")["quality"]
q_import = import_figures("q_import")
q_synth = gnu_time("q_synth")
rl = load("q_recordlinkage.json") if exists("q_recordlinkage.json") else None
subset = load("q_evaluate_subset.json")["quality"] if exists("q_evaluate_subset.json") else None
ours = subset if subset else quality
rq = rl["quality"] if rl else {}
out("## 1. Linkage quality against a known truth, and the recordlinkage baseline")
out("")
out(f"`{cmd('q_synth')}` wrote {n(int(text('q_records.count')))} records of "
    f"{n(int(env['quality_persons']))} persons ({q_synth['wall']:.1f} s). Our index imported them "
    "into a fresh SQLite file (weights learned by EM from the file itself, default thresholds), "
    "then its clusters were exported and scored; recordlinkage linked the same file and was scored "
    "against the same truth (pairwise scores, see `scripts/mpi_quality.py`).")
out("")
if rl:
    out("| | esocial-hub MPI | recordlinkage 0.16 (ECM) | MPI / recordlinkage |")
    out("|---|---:|---:|---:|")
else:
    out("| | esocial-hub MPI |")
    out("|---|---:|")


def row(label, mine, theirs=None, fmt=f, ratio=True):
    if rl is None:
        out(f"| {label} | {fmt(mine)} |")
        return
    r = f"{mine / theirs:.3f}" if ratio and mine is not None and theirs else ""
    out(f"| {label} | {fmt(mine)} | {fmt(theirs)} | {r} |")


row("records linked", ours["records"], rq.get("records"), fmt=n, ratio=False)
row("precision", ours["precision"], rq.get("precision"))
row("recall", ours["recall"], rq.get("recall"))
row("F1", ours["f1"], rq.get("f1"))
row("false-positive pairs", ours["falsePositivePairs"], rq.get("falsePositivePairs"), fmt=n)
row("false-negative pairs", ours["falseNegativePairs"], rq.get("falseNegativePairs"), fmt=n)
row("clusters mixing ≥2 persons", ours["falseMerges"], rq.get("falseMerges"), fmt=n)
row("persons split over ≥2 clusters", ours["missedLinks"], rq.get("missedLinks"), fmt=n)
if rl:
    rl_time = gnu_time("q_recordlinkage")
    row("wall time, s (MPI: whole import incl. EM; recordlinkage: whole script)", q_import["wall"], rl_time["wall"], fmt=lambda v: f"{v:.1f}")
    row("peak RSS, MiB (`/usr/bin/time -v`)", q_import["rss_mib"], rl_time["rss_mib"], fmt=lambda v: f"{v:.0f}")
else:
    row("wall time of the import, s", q_import["wall"], fmt=lambda v: f"{v:.1f}")
    row("peak RSS, MiB", q_import["rss_mib"], fmt=lambda v: f"{v:.0f}")
out("")
if subset:
    out(f"recordlinkage was given the first {n(rl['recordsLinked'])} records only "
        f"(BENCH_MPI_RL_MAX_RECORDS); the MPI column scores the MPI's clusters (from its import of "
        f"all {n(quality['records'])} records) restricted to those records. On all records the MPI has "
        f"precision {f(quality['precision'])}, recall {f(quality['recall'])}, F1 {f(quality['f1'])}.")
    out("")
elif rl:
    out(f"Both linked all {n(quality['records'])} records of the file.")
    out("")
out(f"MPI import: {n(q_import['imported'])} records linked and written in {q_import['seconds']:.1f} s "
    f"({n(q_import['rate'])} records/s), after learning the weights in {f(q_import['train_seconds'], 1)} s; "
    f"{n(q_import['persons'])} persons; {n(q_import['auto_linked'])} records linked automatically, "
    f"{n(q_import['reviews'])} sent to review ({q_import['reviews'] / q_import['imported']:.1%}), "
    f"{q_import['rejected']} rejected. A record sent to review "
    "stays a person of its own until a human decides, so here it counts as missed links.")
out("")
if rl:
    secs = rl["seconds"]
    out(f"recordlinkage: {n(rl['candidatePairs'])} candidate pairs, {n(rl['predictedLinks'])} predicted links; "
        "seconds per stage: " + ", ".join(f"{k} {v:.1f}" for k, v in secs.items())
        + f"; its own peak-RSS count {rl['peakRssMiB']:.0f} MiB. Versions: "
        + ", ".join(f"{k} {v}" for k, v in rl.get("versions", {}).items()) + ".")
    out("")
command_list(["q_import", "q_export", "q_evaluate", "q_evaluate_subset", "q_recordlinkage"])
goal_rows.append(("F1 ≥ 0.995 with precision ≥ 0.998",
                  f"{n(quality['records'])} records ({n(env['quality_persons'])} persons): "
                  f"F1 {f(quality['f1'])}, precision {f(quality['precision'])}, recall {f(quality['recall'])}",
                  met(quality["f1"] is not None and quality["f1"] >= 0.995 and quality["precision"] >= 0.998)))


def import_section(prefix, split_tag, dbs):
    """Import table for one synthetic file; returns per-database medians."""
    split = keyvals(f"{split_tag}_split.txt")
    synth = gnu_time(f"{prefix}synth")
    out(f"`{cmd(prefix + 'synth')}` wrote {n(split['total'])} records ({synth['wall']:.1f} s); one "
        f"record in {split['every']} ({n(split['held_out'])} in all) was held out as a match query for "
        f"section 3, and the other {n(split['imported'])} were imported, each time into a fresh database.")
    out("")
    out("| Database | Run | Records | Wall s | Linking s | of it waiting for the store, s | Records/s (linking) | Records/s (wall) | EM s | Peak RSS MiB | CPU (import) | CPU (PostgreSQL server) | DB size MiB |")
    out("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    medians, names = {}, []
    for db, runs_prefix in dbs:
        runs = runs_of(runs_prefix)
        for i, (name, r) in enumerate(runs, start=1):
            names.append(name)
            out(f"| {db} | {i} | {n(r['imported'])} | {r['wall']:.1f} | {r['seconds']:.1f} | "
                f"{f(r['waiting_seconds'], 1)} | {n(r['rate'])} | {r['imported'] / r['wall']:,.0f} | "
                f"{f(r['train_seconds'], 1)} | {r['rss_mib']:.0f} | {r['cpu']} | {server_cpu(name, db)} | "
                f"{r.get('db_mib', float('nan')):.0f} |")
        if runs:
            figures = [r for _, r in runs]
            medians[db] = {
                "rate": statistics.median(r["rate"] for r in figures),
                "wall_rate": statistics.median(r["imported"] / r["wall"] for r in figures),
                "wall": statistics.median(r["wall"] for r in figures),
                "rate_min": min(r["rate"] for r in figures), "rate_max": max(r["rate"] for r in figures),
                "rss": statistics.median(r["rss_mib"] for r in figures),
                "rss_max": max(r["rss_mib"] for r in figures),
                "records": figures[-1]["imported"], "persons": figures[-1]["persons"],
                "runs": len(figures), "rejected": figures[-1]["rejected"],
                "reviews": figures[-1]["reviews"], "auto_linked": figures[-1]["auto_linked"],
            }
    out("")
    return medians, names


def server_cpu(name, db):
    """Mean CPU of the PostgreSQL server's processes (sampled) during a step."""
    if db != "PostgreSQL":
        return "–"
    values = keyvals(name + ".ctx")
    window = [s for s in SAMPLES if float(values["start"]) <= s["t"] <= float(values["end"]) + 2]
    if not window:
        return "n/a"
    return f"{sum(s['mine'].get('postgres', 0) for s in window) / len(window):.0f}%"


def quality_line(name, what):
    q = load(name)["quality"]
    out(f"Quality of {what} ({n(q['records'])} records, {n(q['truthPersons'])} persons): precision "
        f"{f(q['precision'])}, recall {f(q['recall'])}, F1 {f(q['f1'])}; {n(q['falsePositivePairs'])} "
        f"false-positive and {n(q['falseNegativePairs'])} false-negative pairs, {n(q['falseMerges'])} "
        f"clusters mixing persons, {n(q['missedLinks'])} persons split.")
    out("")
    return q


# --- 2. scale -----------------------------------------------------------------------------------
benches = []
if exists("s_synth.cmd"):
    out(f"## 2. Import at scale: {n(keyvals('s_split.txt')['imported'])} records")
    out("")
    medians, names = import_section("s_", "s", [("SQLite", "s_sqlite_import_"), ("PostgreSQL", "s_pg_import_")])
    out("Records/s (linking) is what `mpi import` prints: records over the time spent linking and "
        "writing, after the index was opened and the weights learned (EM s). Records/s (wall) divides "
        "by the whole process's wall time. Peak RSS is the import process's maximum resident set size "
        "(`/usr/bin/time -v`); the PostgreSQL server's memory is not included."
        + (f" PostgreSQL: {text('pg_version.txt')}." if exists("pg_version.txt") else "")
        + " SQLite: a file on the machine's disk, with the store's own settings.")
    out("")
    for db, m in medians.items():
        spread = f" (runs {n(m['rate_min'])}–{n(m['rate_max'])})" if m["runs"] > 1 else ""
        out(f"- {db}: median of {m['runs']} run(s): {n(m['rate'])} records/s linking{spread}, "
            f"{n(m['wall_rate'])} records/s over the whole process ({m['wall']:.1f} s); peak RSS "
            f"{m['rss']:.0f} MiB; {n(m['records'])} records → {n(m['persons'])} persons, "
            f"{n(m['auto_linked'])} linked automatically, {n(m['reviews'])} sent to review "
            f"({m['reviews'] / m['records']:.1%} of the records), {m['rejected']} rejected.")
    out("")
    s_quality = quality_line("s_evaluate.json", "the (last) SQLite import")
    command_list(["s_synth", *names, "s_export", "s_evaluate"])
    goal_rows.append((f"F1 ≥ 0.995 with precision ≥ 0.998 (at {n(s_quality['records'])} records)",
                      f"{n(s_quality['records'])} records: F1 {f(s_quality['f1'])}, precision "
                      f"{f(s_quality['precision'])}, recall {f(s_quality['recall'])}",
                      met(s_quality["f1"] is not None and s_quality["f1"] >= 0.995 and s_quality["precision"] >= 0.998)))
    for db, m in medians.items():
        goal_rows.append((f"import ≥ 20,000 records/s ({db})",
                          f"{n(m['rate'])} records/s linking, {n(m['wall_rate'])} over the whole process "
                          f"(median of {m['runs']}; {n(m['records'])} records)",
                          met(m["rate"] >= 20_000) if (m["rate"] >= 20_000) == (m["wall_rate"] >= 20_000)
                          else "**met on the rate `mpi import` prints, not on the whole process's wall time**"))
    benches = [(db, name, load(name + ".json")) for db, name in
               (("SQLite", "l_sqlite"), ("PostgreSQL", "l_postgres")) if exists(name + ".json")]

# --- 3. latency ---------------------------------------------------------------------------------
memory_bench = load("l_memory.json") if exists("l_memory.json") else None
all_benches = benches + ([(f"SQLite, {n(memory_bench['index']['persons'])} persons", "l_memory", memory_bench)] if memory_bench else [])
if all_benches:
    out("## 3. Match latency: `find(record, 10)`, the work of `POST /api/v1/persons/match`")
    out("")
    b0 = all_benches[0][2]
    runs = b0["runs"]
    out(f"benches/mpi_match.rs loads the whole index, then times {n(b0['queries']['timedPerRun'])} matches "
        f"(the held-out records, each once) one at a time on one thread, then the same matches spread over "
        f"{(b0['concurrent'] or {}).get('threads', 0)} threads sharing the index; {runs} such passes after "
        f"{n(b0['queries']['warmup'])} unreported warm-up matches. Figures are medians over the passes "
        "(each percentile separately). RSS is `VmRSS` of the bench process once the index is loaded; "
        "peak is `VmHWM` at the end.")
    out("")
    out("| Index | Records | Persons | Load s | RSS after load MiB | Peak RSS MiB | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | 1 thread, matches/s | 2 threads, matches/s | 2 threads p99 ms |")
    out("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for db, _, b in all_benches:
        single, conc = b["singleThread"], b["concurrent"] or {}
        lat = single["latencyMicros"]
        out(f"| {db} | {n(b['index']['records'])} | {n(b['index']['persons'])} | {b['index']['loadSeconds']:.1f} | "
            f"{b['memory']['afterLoad']['vmRssKiB'] / 1024:.0f} | {b['memory']['afterRuns']['vmHwmKiB'] / 1024:.0f} | "
            f"{lat['p50'] / 1e3:.3f} | {lat['p90'] / 1e3:.3f} | {lat['p99'] / 1e3:.3f} | {lat['p999'] / 1e3:.3f} | "
            f"{lat['max'] / 1e3:.3f} | {single['throughputPerSecond']:,.0f} | "
            f"{conc.get('throughputPerSecond', float('nan')):,.0f} | "
            f"{conc.get('latencyMicros', {}).get('p99', float('nan')) / 1e3:.3f} |")
    out("")
    out("Per pass (p99 ms on one thread / matches/s on two threads):")
    out("")
    for db, _, b in all_benches:
        passes = "; ".join(f"{r['singleThread']['latencyMicros']['p99'] / 1e3:.3f} / "
                           f"{(r['concurrent'] or {}).get('throughputPerSecond', float('nan')):,.0f}"
                           for r in b["eachRun"])
        out(f"- {db}: {passes}")
    out("")
    out("Outcomes of the matches, with latency by outcome (medians over passes):")
    out("")
    for db, _, b in all_benches:
        single = b["singleThread"]
        by = ", ".join(f"{k} {n(v)} (p50 {single['latencyMicrosByOutcome'][k]['p50'] / 1e3:.3f} ms, "
                       f"p99 {single['latencyMicrosByOutcome'][k]['p99'] / 1e3:.3f} ms)"
                       for k, v in single["outcomes"].items())
        out(f"- {db}: {by}; {single['errors']} errors; {single['meanCandidatesReturned']:.2f} candidates "
            f"returned on average; the index's own `approximate_bytes` {b['index']['approximateBytes'] / 2**20:.0f} MiB; "
            f"RSS before loading {b['memory']['beforeLoad']['vmRssKiB'] / 1024:.0f} MiB.")
    out("")
    command_list([name for _, name, _ in all_benches])
    if benches:
        worst = max(b["singleThread"]["latencyMicros"]["p99"] for _, _, b in benches) / 1e3
        goal_rows.append(("match p99 ≤ 10 ms",
                          "; ".join(f"{db}: p99 {b['singleThread']['latencyMicros']['p99'] / 1e3:.3f} ms on one thread, "
                                    f"{(b['concurrent'] or {}).get('latencyMicros', {}).get('p99', float('nan')) / 1e3:.3f} ms on two "
                                    f"({n(b['index']['records'])} records)"
                                    for db, _, b in benches),
                          met(worst <= 10.0)))

# --- 4. memory at 1M persons ------------------------------------------------------------------
if exists("m_synth.cmd"):
    out(f"## 4. Memory at the goal's size: {n(env['memory_persons'])} persons (SQLite only)")
    out("")
    m_medians, m_names = import_section("m_", "m", [("SQLite", "m_sqlite_import_")])
    m_quality = quality_line("m_evaluate.json", "this import")
    command_list(["m_synth", *m_names, "m_export", "m_evaluate"])
    m = m_medians["SQLite"]
    serving = memory_bench["memory"]["afterLoad"]["vmRssKiB"] / 1024 if memory_bench else None
    peak_bench = memory_bench["memory"]["afterRuns"]["vmHwmKiB"] / 1024 if memory_bench else None
    persons = m["persons"]
    truth_persons = m_quality["truthPersons"]
    ok = m["rss_max"] < 1024 and (serving is None or peak_bench < 1024)
    synth_persons = int(env["memory_persons"])
    at = f"at {n(synth_persons)} persons"
    worst = max(m["rss_max"], peak_bench or 0)
    if synth_persons < 1_000_000:
        verdict = f"**not measured at 1M persons** (peak {worst:.0f} MiB at {n(synth_persons)})"
    elif ok:
        verdict = met(True)
    elif worst < 2000 / 1.048576:
        verdict = (f"**under 2 GB, not well under**: peak {worst / 1024:.2f} GiB = "
                   f"{worst * 1.048576 / 2000:.0%} of 2 GB")
    else:
        verdict = met(False)
    goal_rows.append(("memory well under 2 GB for 1M persons",
                      f"{n(m['records'])} records of {n(truth_persons)} of the {n(synth_persons)} synthetic persons "
                      f"(the others' only record was held out as a query); {n(persons)} persons in the index: "
                      f"import peak RSS {m['rss_max']:.0f} MiB; index loaded for matching: RSS {f(serving, 0)} MiB, "
                      f"peak {f(peak_bench, 0)} MiB (\"well under\" taken as < 1 GiB)",
                      verdict))
    goal_rows.append((f"({at}) import ≥ 20,000 records/s, match p99 ≤ 10 ms",
                      f"{n(m['rate'])} records/s linking; p99 "
                      + (f"{memory_bench['singleThread']['latencyMicros']['p99'] / 1e3:.3f} ms" if memory_bench else "n/a"),
                      met(m["rate"] >= 20_000 and memory_bench is not None
                          and memory_bench["singleThread"]["latencyMicros"]["p99"] <= 10_000)))
    goal_rows.append((f"({at}) F1 ≥ 0.995 with precision ≥ 0.998",
                      f"F1 {f(m_quality['f1'])}, precision {f(m_quality['precision'])}, recall {f(m_quality['recall'])}",
                      met(m_quality["f1"] is not None and m_quality["f1"] >= 0.995 and m_quality["precision"] >= 0.998)))
elif benches:
    b = benches[0][2]
    serving = b["memory"]["afterLoad"]["vmRssKiB"] / 1024
    goal_rows.append(("memory well under 2 GB for 1M persons",
                      f"only {n(b['index']['persons'])} persons measured (BENCH_MPI_MEMORY_PERSONS=0): RSS {serving:.0f} MiB",
                      "**not measured at 1M persons**"))

out("## Goals (from the issue)")
out("")
out("| Goal | Measured | Verdict |")
out("|---|---|---|")
for goal, measured, verdict in goal_rows:
    out(f"| {goal} | {measured} | {verdict} |")
out("")
with open(report, "w", encoding="utf-8") as handle:
    handle.write("\n".join(lines))
PY
log "report written to $REPORT ($(elapsed) s in all)"
