#!/usr/bin/env bash
# The project's single test command (CI runs it via .ci/run).
#
#   1. installs missing system packages (xmlsec1, libxml2-utils, postgresql,
#      rabbitmq-server, libssl-dev, pkg-config, python3-pip, chromium, chromium-driver) with
#      apt -- only when something is missing;
#   2. starts a throwaway PostgreSQL (scripts/start-postgres.sh) and RabbitMQ
#      (scripts/start-rabbitmq.sh), exports ESOCIAL_TEST_POSTGRES_URL,
#      ESOCIAL_TEST_AMQP_URL, ESOCIAL_REQUIRE_POSTGRES=1, ESOCIAL_REQUIRE_RABBITMQ=1,
#      ESOCIAL_REQUIRE_XMLSEC1=1, ESOCIAL_REQUIRE_XMLLINT=1 and ESOCIAL_REQUIRE_CHROMIUM=1
#      (so those tests fail rather than skip), stops them on exit;
#   3. installs the zeep agency client's Python packages (scripts/install-zeep.sh, only when
#      they are missing) and exports ESOCIAL_REQUIRE_ZEEP=1;
#   4. cargo fmt --check, cargo clippy -D warnings, cargo test, over every crate of the workspace.
#
# Extra arguments are passed to `cargo test` (e.g. `scripts/test.sh -- store`).
# ESOCIAL_SKIP_APT=1 skips the package check entirely.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

T_START="$EPOCHREALTIME"
elapsed_since() { LC_ALL=C awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
banner() { printf '\n==================== %s ====================\n' "$*"; }

STEP_START=""
step_begin() { banner "$*"; STEP_START="$EPOCHREALTIME"; }
step_end() { printf -- '---- %s: done in %ss\n' "$1" "$(elapsed_since "$STEP_START")"; }

# --- 1. system packages ----------------------------------------------------
have_pg_server() { compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; }
dpkg_installed() {
    [[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" == installed ]]
}

missing=()
command -v xmlsec1 >/dev/null 2>&1 || missing+=(xmlsec1)
command -v xmllint >/dev/null 2>&1 || missing+=(libxml2-utils)
have_pg_server && id -u postgres >/dev/null 2>&1 || missing+=(postgresql)
[[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ]] || missing+=(rabbitmq-server)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
dpkg_installed libssl-dev || missing+=(libssl-dev)
python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)

if [[ "${ESOCIAL_SKIP_APT:-0}" != 1 && ${#missing[@]} -gt 0 ]]; then
    step_begin "apt-get install ${missing[*]}"
    SUDO=()
    [[ "$(id -u)" -eq 0 ]] || SUDO=(sudo)
    export DEBIAN_FRONTEND=noninteractive
    "${SUDO[@]}" apt-get update -q -o Acquire::Retries=3
    "${SUDO[@]}" apt-get install -y -q --no-install-recommends -o Acquire::Retries=3 "${missing[@]}"
    step_end "apt-get install"
fi

# --- rust toolchain components -----------------------------------------------
if ! command -v cargo >/dev/null 2>&1 && [[ -x "$HOME/.cargo/bin/cargo" ]]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi
command -v cargo >/dev/null 2>&1 || { echo "test.sh: ERROR: cargo not found on PATH" >&2; exit 1; }
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
    echo "test.sh: rustfmt/clippy missing; trying 'rustup component add rustfmt clippy'" >&2
    rustup component add rustfmt clippy || echo "test.sh: WARNING: rustup component add failed" >&2
fi

# --- 2. throwaway PostgreSQL and RabbitMQ ----------------------------------------
unset ESOCIAL_RABBITMQ_BASE # only ever stop the broker started below
on_exit() {
    local rc=$?
    if [[ -n "${ESOCIAL_RABBITMQ_BASE:-}" ]]; then
        bash "$ROOT/scripts/stop-rabbitmq.sh" "$ESOCIAL_RABBITMQ_BASE" || true
        unset ESOCIAL_RABBITMQ_BASE
    fi
    if [[ -n "${ESOCIAL_PG_DATADIR:-}" ]]; then
        bash "$ROOT/scripts/stop-postgres.sh" "$ESOCIAL_PG_DATADIR" || true
        unset ESOCIAL_PG_DATADIR
    fi
    if [[ $rc -ne 0 ]]; then
        printf '\n==================== FAILED (exit %s) after %ss total ====================\n' \
            "$rc" "$(elapsed_since "$T_START")" >&2
    fi
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step_begin "start PostgreSQL"
pg_env="$(bash "$ROOT/scripts/start-postgres.sh")"
eval "$pg_env"
export ESOCIAL_TEST_POSTGRES_URL ESOCIAL_PG_DATADIR
export ESOCIAL_REQUIRE_POSTGRES=1
# xmlsec1 was installed above; its interop tests must run, not skip.
export ESOCIAL_REQUIRE_XMLSEC1=1
# xmllint (libxml2-utils) too: the provider contracts' XML examples are checked with it.
export ESOCIAL_REQUIRE_XMLLINT=1
# And chromium with its WebDriver: the benefits pages are walked through in a real browser.
export ESOCIAL_REQUIRE_CHROMIUM=1
echo "ESOCIAL_TEST_POSTGRES_URL=${ESOCIAL_TEST_POSTGRES_URL/hub:hub@/hub:***@}"
step_end "start PostgreSQL"

step_begin "start RabbitMQ"
rmq_env="$(bash "$ROOT/scripts/start-rabbitmq.sh")"
eval "$rmq_env"
# ESOCIAL_RABBITMQ_BASE/_NODE/_PORT let tests restart the broker
# (scripts/restart-rabbitmq.sh).
export ESOCIAL_TEST_AMQP_URL ESOCIAL_RABBITMQ_BASE ESOCIAL_RABBITMQ_NODE ESOCIAL_RABBITMQ_PORT
export ESOCIAL_REQUIRE_RABBITMQ=1
echo "ESOCIAL_TEST_AMQP_URL=${ESOCIAL_TEST_AMQP_URL/hub:hub@/hub:***@}"
step_end "start RabbitMQ"

# --- 3. the zeep agency client ------------------------------------------------------
step_begin "Python packages of tests/zeep"
bash "$ROOT/scripts/install-zeep.sh"
# tests/api/zeep.rs must run, not skip.
export ESOCIAL_REQUIRE_ZEEP=1
step_end "Python packages"

# --- 4. cargo ----------------------------------------------------------------
step_begin "cargo fmt --all -- --check"
cargo fmt --all -- --check
step_end "cargo fmt"

step_begin "cargo clippy --workspace --all-targets --locked -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
step_end "cargo clippy"

# Benches are not tests: clippy above checks that they compile, and linking them here would
# only lengthen the suite.
step_begin "cargo test --workspace --locked --lib --bins --tests${*:+ $*}"
cargo test --workspace --locked --lib --bins --tests "$@"
step_end "cargo test"

# Stop the servers now (not just in the trap) so the summary is the last line.
bash "$ROOT/scripts/stop-rabbitmq.sh" "$ESOCIAL_RABBITMQ_BASE"
unset ESOCIAL_RABBITMQ_BASE
bash "$ROOT/scripts/stop-postgres.sh" "$ESOCIAL_PG_DATADIR"
unset ESOCIAL_PG_DATADIR

printf '\n==================== all checks passed in %ss ====================\n' "$(elapsed_since "$T_START")"
