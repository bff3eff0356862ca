//! The audit log at scale: how fast the hub places entries in the log (its sequencer), and
//! what `audit verify`, `audit prove`, `audit consistency` and `audit check` cost on a log of
//! a million entries: time, CPU, peak memory and the size of the proofs.
//!
//! `scripts/bench-audit.sh` (or `cargo bench --bench audit_log` with a release binary built).
//! The script first measures exchanges per second with and without the audit log (Part B of
//! the report, against the hub built from the last commit before the audit log) and hands its
//! section to this bench in `BENCH_AUDIT_PART_B`; this bench adds Part A and writes the report.
//!
//! Part A, in a fresh temporary folder: a development PKI (`init_dev_pki`, holder `hub`), an
//! SQLite store opened with `Store::connect` (migrations run), then
//!
//! 1. data preparation, not a measurement of the hub: half of the `BENCH_AUDIT_ENTRIES`
//!    pending entries written straight into `audit_log` with multi-row INSERTs (sqlx), the
//!    columns as an exchange's end writes them (kind `exchange.outbound`, RFC 3339 time, uuid
//!    entry and exchange id, client, service, legal basis, reason, case, keyed digests of the
//!    calling user and the subject, outcome, fields released, request and response digests,
//!    sealed identifiers);
//! 2. `esocial-hub audit checkpoint`, which runs `AuditLog::place_pending()` (the hub's
//!    sequencer: digest, seal, frontier, one transaction per 512 entries) and then
//!    `AuditLog::checkpoint()` (a signed checkpoint of size N/2), timed; the other half is
//!    written and placed the same way, and a checkpoint of size N signed. Through the command
//!    line, so that the bench depends on the hub's commands only, not on its library's API;
//! 3. the release binary as a child process, with a settings file on that store:
//!    `audit verify` (`BENCH_AUDIT_REPEATS` times), `audit prove --entry` for the first, the
//!    middle and the last entry, `audit check` of an inclusion proof, `audit consistency N/2 N`
//!    and `audit check` of that proof. Each child's wall time, CPU time (user + system), peak
//!    resident memory and file-system input come from `/usr/bin/time` when it is installed,
//!    else from polling `/proc/<pid>` every 5 ms.
//!
//! Environment:
//! - `BENCH_AUDIT_ENTRIES` (1000000; 100000 with `BENCH_QUICK=1`): entries in the log;
//! - `BENCH_AUDIT_REPEATS` (3): runs of each command, of which the report gives the median;
//! - `BENCH_AUDIT_STEP` (N/2): entries written and then placed at a time (each placement signs
//!   a checkpoint); smaller steps mean smaller backlogs for `audit checkpoint` to place;
//! - `BENCH_HUB_BIN` (the release binary cargo built for this bench);
//! - `BENCH_AUDIT_KEEP=1`: keep the temporary folder (store, PKI, settings, proofs) and say
//!   where it is, to look at the log or profile the commands afterwards;
//! - `BENCH_AUDIT_PART_B`: a Markdown file with Part B (written by the script), placed in the
//!   report before Part A;
//! - `BENCH_LOAD_START`: `/proc/loadavg` when the script started (else when this bench did);
//! - `BENCH_REPORT` (`reports/audit-benchmark.md`): where the Markdown report is written.

#[path = "common/machine.rs"]
#[allow(dead_code)]
mod machine;

use esocial_sim::random::Random;
use machine::{median_by, opt, pct};

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use esocial_store::Store;
use esocial_wire::crypto::pki::{PkiLayout, init_dev_pki};
use machine::{
    adapters_dir, clock_ticks, command_output, contracts_dir, filesystem_of, logical_cpus,
    machine_section, rustc_version,
};
use secrecy::SecretString;
use serde_json::Value;
use sqlx::Connection as _;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The audit secret of the bench's hub (the seal key is derived from it).
const DIGEST_KEY: &str = "bench-audit-digest-key-0123456789abcdef0123";
/// Rows per INSERT while preparing the data (18 bound columns each, far below SQLite's limit).
const ROWS_PER_INSERT: usize = 500;
/// Rows per transaction while preparing the data.
const ROWS_PER_TRANSACTION: usize = 50_000;
const GNU_TIME: &str = "/usr/bin/time";

fn env_number<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(text) if !text.trim().is_empty() => text
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, not `{text}`")),
        _ => default,
    }
}

struct Knobs {
    entries: u64,
    repeats: usize,
    /// Entries written and placed at a time (N/2 by default: two placements).
    step: u64,
    quick: bool,
    hub_bin: PathBuf,
    keep: bool,
    part_b: Option<PathBuf>,
    load_start: String,
    report: PathBuf,
}

impl Knobs {
    fn from_env() -> Self {
        let quick = env_number("BENCH_QUICK", 0u32) != 0;
        let entries = env_number(
            "BENCH_AUDIT_ENTRIES",
            if quick { 100_000u64 } else { 1_000_000 },
        )
        .max(4);
        Self {
            entries,
            repeats: env_number("BENCH_AUDIT_REPEATS", 3usize).max(1),
            step: env_number("BENCH_AUDIT_STEP", entries / 2).clamp(1, (entries / 2).max(1)),
            quick,
            hub_bin: std::env::var("BENCH_HUB_BIN")
                .ok()
                .filter(|p| !p.is_empty())
                .map_or_else(
                    || PathBuf::from(env!("CARGO_BIN_EXE_esocial-hub")),
                    PathBuf::from,
                ),
            keep: env_number("BENCH_AUDIT_KEEP", 0u32) != 0,
            part_b: std::env::var("BENCH_AUDIT_PART_B")
                .ok()
                .filter(|p| !p.is_empty())
                .map(PathBuf::from),
            load_start: std::env::var("BENCH_LOAD_START")
                .ok()
                .filter(|l| !l.trim().is_empty())
                .unwrap_or_else(machine::loadavg),
            report: std::env::var("BENCH_REPORT")
                .map(PathBuf::from)
                .unwrap_or_else(|_| repo_root().join("reports/audit-benchmark.md")),
        }
    }
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn main() {
    // `cargo test --all-targets` runs bench targets without `--bench`; measure only under
    // `cargo bench`.
    if !std::env::args().any(|arg| arg == "--bench") {
        eprintln!("audit_log: a benchmark; run it with `scripts/bench-audit.sh`");
        return;
    }
    let knobs = Knobs::from_env();
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    match runtime.block_on(run(&knobs)) {
        Ok(report) => {
            if let Some(parent) = knobs.report.parent() {
                let _ = std::fs::create_dir_all(parent);
            }
            if let Err(error) = std::fs::write(&knobs.report, report) {
                eprintln!(
                    "audit_log: cannot write {}: {error}",
                    knobs.report.display()
                );
                std::process::exit(1);
            }
            eprintln!("audit_log: report written to {}", knobs.report.display());
        }
        Err(error) => {
            eprintln!("audit_log: {error}");
            std::process::exit(1);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Data preparation: realistic pending entries, written in bulk.

/// Services and the fields a completed exchange of each releases.
const SERVICES: &[(&str, &str)] = &[
    (
        "civil.person-details",
        r#"["idnp","firstName","lastName","patronymic","birthDate","sex","citizenship","status","address.district","address.locality","address.street","address.house","address.postalCode"]"#,
    ),
    (
        "health.insurance-status",
        r#"["idnp","insured","category","validUntil"]"#,
    ),
    ("civil.family-relations", r#"["idnp","parents","children"]"#),
    ("cases.beneficiary-status", r#"["idnp","benefits"]"#),
    ("health.disability", r#"["idnp","degree","validUntil"]"#),
    ("education.enrolment", r#"["idnp","institution","grade"]"#),
];
const CLIENTS: &[&str] = &["case-management", "benefits"];
const LEGAL_BASES: &[&str] = &[
    "Legea nr. 123/2010, art. 12",
    "Legea nr. 133/2008 cu privire la ajutorul social, art. 8",
    "HG nr. 1167/2008, pct. 15",
];
const REASONS: &[&str] = &[
    "Evaluarea inițială a cazului",
    "Reevaluarea anuală a dreptului la ajutor social",
    "Verificarea componenței familiei",
];
const ERRORS: &[&str] = &[
    "registry.unavailable",
    "registry.timeout",
    "caller.subject_not_found",
];
/// The first entry's time; entries follow about every 2.5 s (a month for a million).
const FIRST_RECORDED_AT: i64 = 1_767_600_000; // 2026-01-05T08:00:00Z

/// One pending entry, as `closed_with_entry` copies it from the exchange row.
struct Entry {
    id: String,
    recorded_at: String,
    client: &'static str,
    service: &'static str,
    legal_basis: &'static str,
    reason: &'static str,
    case_id: Option<String>,
    calling_user_digest: String,
    subject_digest: String,
    outcome: &'static str,
    error_code: Option<&'static str>,
    fields_released: Option<&'static str>,
    request_digest: String,
    response_digest: Option<String>,
    sealed_identifiers: String,
}

fn hex_sha256(text: &str) -> String {
    hex::encode(openssl::sha::sha256(text.as_bytes()))
}

/// The person whose accesses `audit report` lists: their keyed digest, and the spacing of
/// their entries in the log.
struct Person {
    idnp: String,
    digest: String,
    every: u64,
}

impl Person {
    fn is_subject_of(&self, index: u64) -> bool {
        index % self.every == 7
    }
}

/// Entry `index` of the log: strictly later than the one before, so its place is `index`.
fn entry(index: u64, person: &Person) -> Entry {
    // The project's SplitMix64 stream, so every run writes the same log.
    let mut s = Random::new(index.wrapping_mul(0x2545_f491_4f6c_dd1d) ^ 0x00a7_0d17);
    let id = uuid::Builder::from_random_bytes(s.bytes::<16>())
        .into_uuid()
        .to_string();
    let nanos = i128::from(FIRST_RECORDED_AT) * 1_000_000_000
        + i128::from(index) * 2_500_000_000
        + i128::from(s.below(2_000_000_000));
    let recorded_at = OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .expect("a time in range")
        .format(&Rfc3339)
        .expect("RFC 3339");
    let (service, fields) = *s.pick(SERVICES);
    let failed = s.below(100) < 4;
    let user = s.below(300);
    let subject = s.below(200_000);
    Entry {
        recorded_at,
        client: s.pick::<&str>(CLIENTS),
        service,
        legal_basis: s.pick::<&str>(LEGAL_BASES),
        reason: s.pick::<&str>(REASONS),
        case_id: (s.below(100) < 85).then(|| format!("CASE-2026-{:06}", s.below(400_000))),
        calling_user_digest: hex_sha256(&format!("user-{user}")),
        subject_digest: if person.is_subject_of(index) {
            person.digest.clone()
        } else {
            hex_sha256(&format!("subject-{subject}"))
        },
        outcome: if failed { "failed" } else { "completed" },
        error_code: failed.then(|| *s.pick(ERRORS)),
        fields_released: (!failed).then_some(fields),
        request_digest: hex::encode(s.bytes::<32>()),
        response_digest: (!failed).then(|| hex::encode(s.bytes::<32>())),
        // AES-256-GCM of {"user":IDNP,"subject":IDNP}: nonce, 46 bytes, tag; base64.
        sealed_identifiers: base64::engine::general_purpose::STANDARD.encode(s.bytes::<74>()),
        id,
    }
}

const INSERT_COLUMNS: &str = "entry_id, kind, recorded_at, exchange_id, client_id, service, \
    legal_basis, reason, case_id, calling_user_digest, subject_digest, person_id, outcome, \
    error_code, fields_released, request_digest, response_digest, sealed_identifiers";

fn insert_sql(rows: usize) -> String {
    let row = format!("({})", vec!["?"; 18].join(", "));
    format!(
        "INSERT INTO audit_log ({INSERT_COLUMNS}) VALUES {}",
        vec![row; rows].join(", ")
    )
}

/// Writes entries `from..to` as pending, in bulk; the ids of `wanted` positions.
async fn fill(
    db_url: &str,
    person: &Person,
    from: u64,
    to: u64,
    wanted: &[u64],
) -> Result<Vec<(u64, String)>, BoxError> {
    let mut connection = sqlx::SqliteConnection::connect(db_url).await?;
    let mut ids = Vec::new();
    let mut index = from;
    while index < to {
        let transaction_end = (index + ROWS_PER_TRANSACTION as u64).min(to);
        let mut transaction = connection.begin().await?;
        while index < transaction_end {
            let end = (index + ROWS_PER_INSERT as u64).min(transaction_end);
            let entries: Vec<Entry> = (index..end).map(|i| entry(i, person)).collect();
            for (offset, e) in entries.iter().enumerate() {
                let position = index + offset as u64;
                if wanted.contains(&position) {
                    ids.push((position, e.id.clone()));
                }
            }
            let sql = insert_sql(entries.len());
            let mut query = sqlx::query(&sql);
            for e in &entries {
                query = query
                    .bind(e.id.as_str())
                    .bind("exchange.outbound")
                    .bind(e.recorded_at.as_str())
                    .bind(e.id.as_str())
                    .bind(e.client)
                    .bind(e.service)
                    .bind(e.legal_basis)
                    .bind(e.reason)
                    .bind(e.case_id.as_deref())
                    .bind(e.calling_user_digest.as_str())
                    .bind(e.subject_digest.as_str())
                    .bind(None::<&str>)
                    .bind(e.outcome)
                    .bind(e.error_code)
                    .bind(e.fields_released)
                    .bind(e.request_digest.as_str())
                    .bind(e.response_digest.as_deref())
                    .bind(e.sealed_identifiers.as_str());
            }
            query.execute(&mut *transaction).await?;
            index = end;
        }
        transaction.commit().await?;
    }
    connection.close().await?;
    Ok(ids)
}

// ---------------------------------------------------------------------------------------------
// Measuring: this process, and the command-line children.

/// User + system CPU seconds of `pid` (`self` for this process), from `/proc/<pid>/stat`.
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / clock_ticks())
}

/// A counter of `/proc/<pid>/io` (`read_bytes`, `write_bytes`: what reached the disk).
fn io_bytes(pid: &str, field: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/io"))
        .ok()?
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))?
        .trim()
        .parse()
        .ok()
}

fn status_kib(pid: &str, field: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// What one run of a command cost.
#[derive(Clone, Debug)]
struct Measured {
    wall_s: f64,
    cpu_s: Option<f64>,
    peak_rss_kib: Option<u64>,
    /// Read from the disk (not the page cache).
    disk_read_kib: Option<u64>,
    /// Written to the file system (WAL and database).
    written_kib: Option<u64>,
    stdout: Vec<u8>,
}

impl Measured {
    fn core_used(&self) -> Option<f64> {
        self.cpu_s.map(|cpu| cpu / self.wall_s)
    }
}

/// Runs the hub binary with `args`, measured; fails unless it exits 0.
fn run_cli(knobs: &Knobs, work: &Path, args: &[String]) -> Result<Measured, BoxError> {
    let stdout_path = work.join("cli.stdout");
    let stderr_path = work.join("cli.stderr");
    let time_path = work.join("cli.time");
    let gnu_time = Path::new(GNU_TIME).is_file();
    let mut command = if gnu_time {
        let mut command = Command::new(GNU_TIME);
        command
            .args(["-f", "%e %U %S %M %I %O", "-o"])
            .arg(&time_path)
            .arg(&knobs.hub_bin);
        command
    } else {
        Command::new(&knobs.hub_bin)
    };
    command
        .args(args)
        .env("RUST_LOG", "warn")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path)?)
        .stderr(std::fs::File::create(&stderr_path)?);
    let started = Instant::now();
    let mut child = command.spawn()?;
    let pid = child.id().to_string();
    let (mut cpu, mut hwm, mut read, mut written) = (None, None, None, None);
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if !gnu_time {
            // The last reading before the child exits (at most 5 ms short).
            cpu = cpu_seconds(&pid).or(cpu);
            hwm = status_kib(&pid, "VmHWM").or(hwm);
            read = io_bytes(&pid, "read_bytes").map(|b| b / 1024).or(read);
            written = io_bytes(&pid, "write_bytes").map(|b| b / 1024).or(written);
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let wall_s = started.elapsed().as_secs_f64();
    if !status.success() {
        let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
        return Err(format!(
            "`esocial-hub {}` exited with {status}:\n{}",
            args.join(" "),
            stderr.lines().rev().take(20).collect::<Vec<_>>().join("\n")
        )
        .into());
    }
    if gnu_time {
        let text = std::fs::read_to_string(&time_path)?;
        let values: Vec<f64> = text
            .lines()
            .last()
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        if let [_, user, system, rss_kib, blocks_in, blocks_out] = values[..] {
            cpu = Some(user + system);
            hwm = Some(rss_kib as u64);
            // File-system inputs and outputs, in 512-byte blocks.
            read = Some(blocks_in as u64 / 2);
            written = Some(blocks_out as u64 / 2);
        }
    }
    Ok(Measured {
        wall_s,
        cpu_s: cpu,
        peak_rss_kib: hwm,
        disk_read_kib: read,
        written_kib: written,
        stdout: std::fs::read(&stdout_path)?,
    })
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// `1234567` as `1,234,567`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The run.

/// One `audit checkpoint`: the entries it placed and the checkpoint it signed.
struct Placement {
    label: String,
    entries: u64,
    /// Summed over the steps (peak RSS: the highest).
    measured: Measured,
    said: String,
    /// `audit checkpoint` runs it took, each with at most `step` entries pending.
    steps: usize,
}

impl Placement {
    /// Placements one after the other, from a log of `from` entries to one of `to`, as one.
    fn of_steps(steps: Vec<Placement>, from: u64, to: u64) -> Placement {
        if steps.len() == 1 {
            return steps.into_iter().next().expect("one step");
        }
        let sum = |f: &dyn Fn(&Measured) -> Option<f64>| -> Option<f64> {
            steps.iter().map(|s| f(&s.measured)).sum()
        };
        let largest = steps.iter().map(|s| s.entries).max().unwrap_or(0);
        Placement {
            label: format!(
                "≤ {} pending each time, log of {} → {} entries",
                grouped(largest),
                grouped(from),
                grouped(to)
            ),
            entries: steps.iter().map(|s| s.entries).sum(),
            measured: Measured {
                wall_s: steps.iter().map(|s| s.measured.wall_s).sum(),
                cpu_s: sum(&|m| m.cpu_s),
                peak_rss_kib: steps.iter().filter_map(|s| s.measured.peak_rss_kib).max(),
                disk_read_kib: sum(&|m| m.disk_read_kib.map(|k| k as f64)).map(|k| k as u64),
                written_kib: sum(&|m| m.written_kib.map(|k| k as f64)).map(|k| k as u64),
                stdout: Vec::new(),
            },
            said: steps.last().map(|s| s.said.clone()).unwrap_or_default(),
            steps: steps.len(),
        }
    }
}

/// What the commands gave, by name, every run.
#[derive(Default)]
struct Commands {
    runs: Vec<(String, Vec<Measured>)>,
}

impl Commands {
    fn push(&mut self, name: &str, measured: Measured) {
        match self.runs.iter_mut().find(|(n, _)| n == name) {
            Some((_, runs)) => runs.push(measured),
            None => self.runs.push((name.to_string(), vec![measured])),
        }
    }

    fn get(&self, name: &str) -> &[Measured] {
        self.runs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, runs)| runs.as_slice())
            .unwrap_or(&[])
    }
}

struct PartA {
    entries: u64,
    /// Entries of the last, small placement (the log has `entries + small` after it).
    small: u64,
    /// Lines of the access report, and how many carry a proof.
    accesses: (usize, usize),
    preparation: Vec<(String, f64)>,
    placements: Vec<Placement>,
    commands: Commands,
    /// Per proof command: JSON bytes and path hashes (same every run).
    proofs: Vec<(String, usize, usize)>,
    verify_line: String,
    check_lines: Vec<String>,
    db_bytes: u64,
    wal_bytes: u64,
    sqlite_version: String,
    work_dir: PathBuf,
}

/// Pending entries of the last placement, on the whole log.
const SMALL_BACKLOG: u64 = 10_000;
/// Entries of the log about the person of the access report.
const PERSON_ENTRIES: u64 = 25;

fn report_args(config: &str, idnp: &str) -> Vec<String> {
    [
        "audit",
        "report",
        "--config",
        config,
        "--idnp",
        idnp,
        "--operator",
        "bench-auditor",
        "--limit",
        "500",
    ]
    .map(str::to_string)
    .to_vec()
}

/// `audit checkpoint` over a log of `from` entries with `to - from` pending.
fn place(
    knobs: &Knobs,
    work: &Path,
    config: &str,
    from: u64,
    to: u64,
) -> Result<Placement, BoxError> {
    eprintln!("audit_log: audit checkpoint: placing {} entries", to - from);
    let measured = run_cli(
        knobs,
        work,
        &["audit", "checkpoint", "--config", config].map(str::to_string),
    )?;
    let said = String::from_utf8_lossy(&measured.stdout).trim().to_string();
    let expected = format!(
        "placed {} entries; signed a checkpoint of size {to}",
        to - from
    );
    if said != expected {
        return Err(format!("audit checkpoint said `{said}`, not `{expected}`").into());
    }
    eprintln!(
        "audit_log:   {:.1} s, {:.0} entries/s",
        measured.wall_s,
        (to - from) as f64 / measured.wall_s
    );
    Ok(Placement {
        label: format!(
            "{} pending, log of {} → {} entries",
            grouped(to - from),
            grouped(from),
            grouped(to)
        ),
        entries: to - from,
        measured,
        said,
        steps: 1,
    })
}

async fn run(knobs: &Knobs) -> Result<String, BoxError> {
    let started_at = OffsetDateTime::now_utc();
    if !knobs.hub_bin.is_file() {
        return Err(format!(
            "no hub binary at {} (cargo build --release, or set BENCH_HUB_BIN)",
            knobs.hub_bin.display()
        )
        .into());
    }
    let part_a = part_a(knobs).await?;
    let load_end = machine::loadavg();
    Ok(render(knobs, started_at, &part_a, &load_end))
}

async fn part_a(knobs: &Knobs) -> Result<PartA, BoxError> {
    let n = knobs.entries;
    let half = n / 2;
    let work = tempfile::tempdir()?;
    let pki = PkiLayout::new(work.path().join("pki"));
    init_dev_pki(&pki, &[], &[])?;
    let db = work.path().join("audit.db");
    let url = format!("sqlite://{}?mode=rwc", db.display());
    // Migrations run here; the bench writes the entries, the hub's binary does the rest.
    drop(Store::connect(&SecretString::from(url.clone()), 4).await?);
    let sqlite_version = {
        let mut connection = sqlx::SqliteConnection::connect(&url).await?;
        let version: String = sqlx::query_scalar("SELECT sqlite_version()")
            .fetch_one(&mut connection)
            .await?;
        connection.close().await?;
        version
    };
    let config = work.path().join("hub.toml");
    std::fs::write(
        &config,
        esocial_hub::demo::settings_file(&pki, &url, DIGEST_KEY, &adapters_dir(), &contracts_dir()),
    )?;
    let config = config.display().to_string();
    let s = |text: &str| text.to_string();
    // The person of the access report: the hub audits the request for a report, and that
    // entry holds the person's keyed digest (the bench does not hold the hub's key derivation).
    let person = {
        let idnp =
            esocial_wire::domain::Idnp::from_first_twelve([2, 0, 0, 4, 0, 1, 2, 3, 4, 5, 6, 7]);
        let idnp = idnp.expose().to_string();
        run_cli(knobs, work.path(), &report_args(&config, &idnp))?;
        let mut connection = sqlx::SqliteConnection::connect(&url).await?;
        let digest: String =
            sqlx::query_scalar("SELECT subject_digest FROM audit_log WHERE kind = 'audit.report'")
                .fetch_one(&mut connection)
                .await?;
        sqlx::query("DELETE FROM audit_log WHERE kind = 'audit.report'")
            .execute(&mut connection)
            .await?;
        connection.close().await?;
        Person {
            idnp,
            digest,
            every: (n / PERSON_ENTRIES).max(8),
        }
    };
    let (first, middle, last) = (0, half, n - 1);
    let wanted = [first, middle, last];
    let mut ids = Vec::new();
    let mut preparation = Vec::new();
    let mut placements = Vec::new();
    let mut preparation_s = 0.0;
    for (from, to) in [(0, half), (half, n)] {
        // Written and placed `step` entries at a time, a checkpoint after each.
        let mut steps = Vec::new();
        let mut at = from;
        while at < to {
            let end = (at + knobs.step).min(to);
            eprintln!("audit_log: preparing entries {at}..{end} (bulk INSERT, not a measurement)");
            let started = Instant::now();
            ids.extend(fill(&url, &person, at, end, &wanted).await?);
            preparation_s += started.elapsed().as_secs_f64();
            steps.push(place(knobs, work.path(), &config, at, end)?);
            at = end;
        }
        placements.push(Placement::of_steps(steps, from, to));
    }
    preparation.push((format!("the {} entries", grouped(n)), preparation_s));
    let size_of = |path: PathBuf| std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let db_bytes = size_of(db.clone());
    let wal_bytes = size_of(work.path().join("audit.db-wal"));
    let id_at = |position: u64| -> Result<String, BoxError> {
        ids.iter()
            .find(|(p, _)| *p == position)
            .map(|(_, id)| id.clone())
            .ok_or_else(|| format!("no id kept for entry {position}").into())
    };

    let cert = pki.cert("hub").display().to_string();
    let mut commands = Commands::default();
    let mut proofs = Vec::new();
    let mut verify_line = String::new();
    let mut check_lines = Vec::new();
    let proof_file = |name: &str| work.path().join(format!("{name}.json"));
    for repeat in 1..=knobs.repeats {
        eprintln!("audit_log: commands, run {repeat}/{}", knobs.repeats);
        let verified = run_cli(
            knobs,
            work.path(),
            &[s("audit"), s("verify"), s("--config"), config.clone()],
        )?;
        verify_line = String::from_utf8_lossy(&verified.stdout).trim().to_string();
        if !verify_line.contains(&format!("{n} entries")) {
            return Err(format!("audit verify said: {verify_line}").into());
        }
        eprintln!(
            "audit_log:   verify {:.2} s ({:.0} entries/s), peak RSS {} MiB",
            verified.wall_s,
            n as f64 / verified.wall_s,
            opt(verified.peak_rss_kib.map(mib), 1)
        );
        commands.push("verify", verified);
        for (name, position) in [
            ("prove-first", first),
            ("prove-middle", middle),
            ("prove-last", last),
        ] {
            let proven = run_cli(
                knobs,
                work.path(),
                &[
                    s("audit"),
                    s("prove"),
                    s("--config"),
                    config.clone(),
                    s("--entry"),
                    id_at(position)?,
                ],
            )?;
            let document: Value = serde_json::from_slice(&proven.stdout)?;
            if document["index"].as_u64() != Some(position) {
                return Err(format!(
                    "the proof of entry {position} says index {}",
                    document["index"]
                )
                .into());
            }
            let hashes = document["path"].as_array().map_or(0, Vec::len);
            if repeat == 1 {
                proofs.push((name.to_string(), proven.stdout.len(), hashes));
                std::fs::write(proof_file(name), &proven.stdout)?;
            }
            eprintln!(
                "audit_log:   {name} {:.2} s, {} bytes, {hashes} hashes, peak RSS {} MiB",
                proven.wall_s,
                proven.stdout.len(),
                opt(proven.peak_rss_kib.map(mib), 1)
            );
            commands.push(name, proven);
        }
        let consistent = run_cli(
            knobs,
            work.path(),
            &[
                s("audit"),
                s("consistency"),
                s("--config"),
                config.clone(),
                half.to_string(),
                n.to_string(),
            ],
        )?;
        let document: Value = serde_json::from_slice(&consistent.stdout)?;
        let hashes = document["path"].as_array().map_or(0, Vec::len);
        if repeat == 1 {
            proofs.push(("consistency".into(), consistent.stdout.len(), hashes));
            std::fs::write(proof_file("consistency"), &consistent.stdout)?;
        }
        eprintln!(
            "audit_log:   consistency {:.2} s, {} bytes, {hashes} hashes",
            consistent.wall_s,
            consistent.stdout.len()
        );
        commands.push("consistency", consistent);
        for (name, file) in [
            ("check-inclusion", "prove-middle"),
            ("check-consistency", "consistency"),
        ] {
            let checked = run_cli(
                knobs,
                work.path(),
                &[
                    s("audit"),
                    s("check"),
                    proof_file(file).display().to_string(),
                    s("--cert"),
                    cert.clone(),
                ],
            )?;
            let line = String::from_utf8_lossy(&checked.stdout).trim().to_string();
            if !line.starts_with("proof verified") {
                return Err(format!("audit check of {file} said: {line}").into());
            }
            if repeat == 1 {
                check_lines.push(line);
            }
            commands.push(name, checked);
        }
    }
    // A small backlog on the large log: what placement costs per entry when few wait.
    let small = SMALL_BACKLOG.min(n / 10).min(knobs.step).max(1);
    eprintln!("audit_log: preparing {small} more entries");
    fill(&url, &person, n, n + small, &[]).await?;
    placements.push(place(knobs, work.path(), &config, n, n + small)?);

    // The access report of one person, with an inclusion proof for each access.
    let mut accesses = (0, 0);
    for repeat in 1..=knobs.repeats {
        let reported = run_cli(knobs, work.path(), &report_args(&config, &person.idnp))?;
        let document: Value = serde_json::from_slice(&reported.stdout)?;
        let lines = document["accesses"].as_array().cloned().unwrap_or_default();
        accesses = (
            lines.len(),
            lines
                .iter()
                .filter(|line| line["proof"].is_object())
                .count(),
        );
        eprintln!(
            "audit_log:   report {repeat}/{}: {:.2} s, {} accesses, peak RSS {} MiB",
            knobs.repeats,
            reported.wall_s,
            accesses.0,
            opt(reported.peak_rss_kib.map(mib), 1)
        );
        commands.push("report", reported);
    }

    if knobs.keep {
        let kept = work.keep();
        eprintln!(
            "audit_log: kept {} (settings: {})",
            kept.display(),
            kept.join("hub.toml").display()
        );
    }
    Ok(PartA {
        entries: n,
        small,
        accesses,
        preparation,
        placements,
        commands,
        proofs,
        verify_line,
        check_lines,
        db_bytes,
        wal_bytes,
        sqlite_version,
        work_dir: std::env::temp_dir(),
    })
}

// ---------------------------------------------------------------------------------------------
// The report.

const COMMAND_TITLES: &[(&str, &str)] = &[
    ("verify", "`audit verify`"),
    (
        "prove-first",
        "`audit prove --entry` (first entry, index 0)",
    ),
    (
        "prove-middle",
        "`audit prove --entry` (middle entry, index N/2)",
    ),
    (
        "prove-last",
        "`audit prove --entry` (last entry, index N−1)",
    ),
    ("consistency", "`audit consistency N/2 N`"),
    ("check-inclusion", "`audit check` (inclusion proof)"),
    ("check-consistency", "`audit check` (consistency proof)"),
    (
        "report",
        "`audit report --idnp` (one person's accesses with proofs, log of N + small backlog)",
    ),
];

fn bound(wall_s: f64, core: Option<f64>, disk_read_kib: Option<f64>) -> &'static str {
    if wall_s < 0.1 {
        return "too short to tell (mostly the process's start)";
    }
    match (core, disk_read_kib) {
        (Some(c), Some(d)) if c >= 0.85 && d < 1024.0 => {
            "CPU (one core busy, nothing read from disk)"
        }
        (Some(c), _) if c >= 0.85 => "CPU",
        (Some(c), Some(d)) if c < 0.6 && d >= 1024.0 => "waiting: disk reads",
        (Some(c), _) if c < 0.6 => "waiting (not its CPU; fsync, other processes)",
        (Some(_), _) => "mostly CPU",
        _ => "unknown",
    }
}

fn render(knobs: &Knobs, started_at: OffsetDateTime, a: &PartA, load_end: &str) -> String {
    let mut md = String::new();
    let mut line = |text: String| {
        md.push_str(&text);
        md.push('\n');
    };
    let n = a.entries;
    let commit = command_output("git", &["rev-parse", "--short", "HEAD"])
        .unwrap_or_else(|| "unknown".into());
    let dirty = command_output("git", &["status", "--porcelain", "--untracked-files=no"])
        .map(|s| s.lines().count())
        .unwrap_or(0);

    line("# The audit log's cost".into());
    line(String::new());
    line(format!(
        "Produced by `scripts/bench-audit.sh`{} (Part B: `cargo bench --bench exchange_load` of \
         two trees, alternately; Part A: `cargo bench --bench audit_log`; release profile), \
         finished {}, commit `{commit}`{}. Issue 12, item 7: exchanges/s with and without the \
         audit log in the same run (target: the audit log costs under 10 % of throughput), \
         `audit verify` over {} entries, and inclusion proofs at that size.",
        if knobs.quick {
            " with `BENCH_QUICK=1`"
        } else {
            ""
        },
        started_at
            .format(&Rfc3339)
            .unwrap_or_else(|_| "unknown date".into()),
        if dirty > 0 {
            format!(
                " with {dirty} tracked files modified (work in progress in the tree was built \
                 and measured as it was)"
            )
        } else {
            String::new()
        },
        grouped(n)
    ));
    line(String::new());
    for machine_line in machine_section(logical_cpus(), &rustc_version()) {
        line(machine_line);
    }
    line(format!(
        "- OpenSSL: {}",
        command_output("openssl", &["version"]).unwrap_or_else(|| "unknown".into())
    ));
    line(format!(
        "- Storage: SQLite {} (bundled by sqlx), files in {} ({}), WAL with `synchronous = \
         FULL`",
        a.sqlite_version,
        a.work_dir.display(),
        filesystem_of(&a.work_dir)
    ));
    line(format!(
        "- Load average (1/5/15 min) at the start: {}; at the end: {load_end}",
        knobs.load_start
    ));
    line(
        "- **The cores are shared and the machine is noisy**: other work (another engineer's \
         builds) may run at the same time. Rates move with that noise; CPU seconds per unit of \
         work much less."
            .into(),
    );
    line(String::new());

    match knobs
        .part_b
        .as_ref()
        .and_then(|p| std::fs::read_to_string(p).ok())
    {
        Some(part_b) => {
            line(part_b.trim_end().to_string());
            line(String::new());
        }
        None => {
            line("## Part B: exchanges with and without the audit log".into());
            line(String::new());
            line(
                "Not run: `scripts/bench-audit.sh` runs it (it builds the hub of the last \
                 commit before the audit log and runs both trees' `exchange_load` alternately)."
                    .into(),
            );
            line(String::new());
        }
    }

    line(format!("## Part A: the log at {} entries", grouped(n)));
    line(String::new());
    line(format!(
        "A fresh SQLite store (`Store::connect`, migrations run) and development PKI in a \
         temporary folder; {} pending entries written {} at a time (`BENCH_AUDIT_STEP`), each \
         time placed and \
         followed by a signed checkpoint (`esocial-hub audit checkpoint`), so the log has \
         signed checkpoints at {} and {}{}. Then the release binary (`{}`) is run as a child \
         process on that store, {} time(s) per command, with a settings file naming the store, \
         the PKI and the repository's `adapters/` and `contracts/`. Last, {} more entries are \
         written and placed (a small backlog on the large log) and one person's access report \
         is asked for.",
        grouped(n),
        grouped(knobs.step),
        grouped(n / 2),
        grouped(n),
        if knobs.step < n / 2 {
            " (and after every other step)"
        } else {
            ""
        },
        knobs.hub_bin.display(),
        knobs.repeats,
        grouped(a.small)
    ));
    line(String::new());
    line(format!(
        "**Data preparation (not a measurement of the hub).** The entries are written straight \
         into `audit_log` with sqlx, {ROWS_PER_INSERT} rows per INSERT and {ROWS_PER_TRANSACTION} \
         per transaction, with the columns an exchange's end writes (`closed_with_entry`): kind \
         `exchange.outbound`, an RFC 3339 time with nanoseconds (about 2.5 s apart, strictly \
         increasing, so entry i gets place i), a uuid as entry and exchange id, one of {} \
         clients and {} services, a legal basis and a reason (Romanian text), a case id (85 %), \
         keyed digests (64 hex) of one of 300 calling users and 200,000 subjects, outcome \
         `completed` (96 %, with the JSON list of the service's fields released and a response \
         digest) or `failed` (with an error code), a request digest, and the sealed identifiers \
         (base64, 100 characters) an entry keeps until MLog takes it. One entry in {} \
         ({PERSON_ENTRIES} in all) is about the person of the access report: its subject digest \
         is the one the hub wrote in the audit entry of a first `audit report` for that \
         person's IDNP on the empty store (that entry then deleted). No exchange rows are \
         written: nothing in Part A reads them. It took {}. The database file is {:.0} MiB \
         ({:.0} bytes per entry) plus a {:.0} MiB WAL.",
        CLIENTS.len(),
        SERVICES.len(),
        grouped((n / PERSON_ENTRIES).max(8)),
        a.preparation
            .iter()
            .map(|(what, s)| format!("{s:.1} s for {what}"))
            .collect::<Vec<_>>()
            .join(", "),
        a.db_bytes as f64 / 1_048_576.0,
        a.db_bytes as f64 / n as f64,
        a.wal_bytes as f64 / 1_048_576.0,
    ));
    line(String::new());

    line("### Placing entries (the hub's sequencer) and signing checkpoints".into());
    line(String::new());
    line(
        "`esocial-hub audit checkpoint --config <settings>`, after each step of writing and \
         once after the small backlog: \
         it runs `AuditLog::place_pending()` (for each batch of 512 pending entries, oldest \
         first: the canonical JSON, its SHA-256, the HMAC seal over place and digest, the \
         frontier; then one transaction moving the head and updating the 512 rows) and then \
         `AuditLog::checkpoint()` (the root from the frontier, one RSA-2048 signature, one \
         insert), the same code the running hub calls every 250 ms and every \
         `checkpoint_interval_secs`. Measured as the other commands (below); written = the \
         child's file-system outputs (WAL and database)."
            .into(),
    );
    line(String::new());
    line(
        "| Placing | `audit checkpoint` runs | Entries | Wall s | Entries/s | CPU s | CPU µs / \
         entry | Core used | Peak RSS MiB | Written MiB | Bound by |"
            .into(),
    );
    line("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|".into());
    for placement in &a.placements {
        let m = &placement.measured;
        let core = m.core_used();
        line(format!(
            "| {} | {} | {} | {:.2} | {:.0} | {} | {} | {} | {} | {} | {} |",
            placement.label,
            placement.steps,
            grouped(placement.entries),
            m.wall_s,
            placement.entries as f64 / m.wall_s,
            opt(m.cpu_s, 2),
            opt(m.cpu_s.map(|c| c * 1e6 / placement.entries as f64), 0),
            pct(core),
            opt(m.peak_rss_kib.map(mib), 1),
            opt(m.written_kib.map(mib), 1),
            bound(m.wall_s, core, m.disk_read_kib.map(|k| k as f64)),
        ));
    }
    line(String::new());
    for placement in &a.placements {
        line(format!(
            "`audit checkpoint` said{}: “{}”.",
            if placement.steps > 1 {
                " the last time"
            } else {
                ""
            },
            placement.said
        ));
        line(String::new());
    }

    line(format!(
        "### The commands at {} entries (medians of {} runs)",
        grouped(n),
        knobs.repeats
    ));
    line(String::new());
    line(format!(
        "Wall time from spawn to exit (process start, settings, store and certificate included); \
         CPU, peak RSS and disk reads of the child from {}. Entries/s = {} / wall time.",
        if Path::new(GNU_TIME).is_file() {
            "`/usr/bin/time` (user + system CPU, maximum resident set, file-system inputs)"
        } else {
            "polling `/proc/<pid>` every 5 ms (`stat`, `VmHWM`, `io`)"
        },
        grouped(n)
    ));
    line(String::new());
    line(
        "| Command | Wall s (min–max) | Entries/s | CPU s | Core used | Peak RSS MiB | Disk read \
         MiB | Output bytes | Bound by |"
            .into(),
    );
    line("|---|---:|---:|---:|---:|---:|---:|---:|---|".into());
    for (key, title) in COMMAND_TITLES {
        let runs = a.commands.get(key);
        if runs.is_empty() {
            continue;
        }
        let wall = median_by(runs, |r| Some(r.wall_s));
        let min = runs.iter().map(|r| r.wall_s).fold(f64::INFINITY, f64::min);
        let max = runs.iter().map(|r| r.wall_s).fold(0.0, f64::max);
        let core = median_by(runs, Measured::core_used);
        let read = median_by(runs, |r| r.disk_read_kib.map(|k| k as f64));
        line(format!(
            "| {title} | {} ({min:.3}–{max:.3}) | {} | {} | {} | {} | {} | {} | {} |",
            opt(wall, 3),
            if key.starts_with("check") || *key == "report" {
                "–".into()
            } else {
                wall.map_or("–".into(), |w| format!("{:.0}", n as f64 / w))
            },
            opt(median_by(runs, |r| r.cpu_s), 2),
            pct(core),
            opt(median_by(runs, |r| r.peak_rss_kib.map(mib)), 1),
            opt(read.map(|k| k / 1024.0), 1),
            opt(median_by(runs, |r| Some(r.stdout.len() as f64)), 0),
            bound(wall.unwrap_or(0.0), core, read),
        ));
    }
    line(String::new());
    line(format!("`audit verify` said: “{}”.", a.verify_line));
    for check in &a.check_lines {
        line(String::new());
        line(format!("`audit check` said: “{check}”."));
    }
    line(String::new());

    line("### Proof sizes".into());
    line(String::new());
    let log2 = (n as f64).log2().ceil() as usize;
    line(format!(
        "The JSON document as `audit prove` / `audit consistency` print it (pretty-printed; it \
         carries the entry's canonical JSON, the hex path and the signed checkpoint note(s) with \
         their base64 RSA-2048 signature). ⌈log₂ {}⌉ = {log2}.",
        grouped(n)
    ));
    line(String::new());
    line("| Proof | JSON bytes | Path hashes | Hash bytes (32 each) |".into());
    line("|---|---:|---:|---:|".into());
    for (name, bytes, hashes) in &a.proofs {
        let title = COMMAND_TITLES
            .iter()
            .find(|(k, _)| k == name)
            .map_or(name.as_str(), |(_, t)| t);
        line(format!(
            "| {title} | {bytes} | {hashes} | {} |",
            hashes * 32
        ));
    }
    line(String::new());

    line("### Every run".into());
    line(String::new());
    line("| Command | Run | Wall s | CPU s | Core used | Peak RSS MiB | Disk read MiB |".into());
    line("|---|---:|---:|---:|---:|---:|---:|".into());
    for (key, title) in COMMAND_TITLES {
        for (i, r) in a.commands.get(key).iter().enumerate() {
            line(format!(
                "| {title} | {} | {:.3} | {} | {} | {} | {} |",
                i + 1,
                r.wall_s,
                opt(r.cpu_s, 2),
                pct(r.core_used()),
                opt(r.peak_rss_kib.map(mib), 1),
                opt(r.disk_read_kib.map(|k| k as f64 / 1024.0), 1),
            ));
        }
    }
    line(String::new());

    line("### Reading".into());
    line(String::new());
    line(reading(a));
    line(String::new());
    md
}

/// A few sentences from the medians; claims that depend on the numbers only when they hold.
fn reading(a: &PartA) -> String {
    let n = a.entries as f64;
    let mut text = String::new();
    let rate = |p: &Placement| p.entries as f64 / p.measured.wall_s;
    let cpu_us = |p: &Placement| p.measured.cpu_s.map(|c| c * 1e6 / p.entries as f64);
    if let [first, second, small] = &a.placements[..] {
        let _ = write!(
            text,
            "Placing backlogs of {} entries ran at {:.0} entries/s from an empty log and {:.0} \
             entries/s from a log of {} entries ({} and {} µs of CPU per entry); a backlog of {} \
             on the log of {} entries ran at {:.0} entries/s ({} µs per entry). ",
            grouped(first.entries.div_ceil(first.steps as u64)),
            rate(first),
            rate(second),
            grouped(first.entries),
            opt(cpu_us(first), 0),
            opt(cpu_us(second), 0),
            grouped(small.entries),
            grouped(a.entries),
            rate(small),
            opt(cpu_us(small), 0),
        );
        let backlog = first.entries.div_ceil(first.steps as u64);
        if backlog > 2 * small.entries && rate(small) > 1.5 * rate(first).max(rate(second)) {
            text.push_str(
                "What a placed entry costs depends on how many entries wait, not on the length \
                 of the log: each batch of 512 reads and updates the store with statements whose \
                 cost grows with the number of entries pending, so placing a backlog costs about \
                 the square of its length. ",
            );
        }
        if let Some(us) = cpu_us(small) {
            let _ = write!(
                text,
                "The running hub places every 250 ms, so its backlog stays smaller than these: at \
                 {us:.0} µs per entry (an upper bound for it), 300 exchanges/s would cost {:.1} % \
                 of a core in placement. ",
                us * 300.0 / 1e4
            );
        }
    }
    let verify = a.commands.get("verify");
    if let (Some(wall), Some(rss)) = (
        median_by(verify, |r| Some(r.wall_s)),
        median_by(verify, |r| r.peak_rss_kib.map(|k| k as f64)),
    ) {
        let core = median_by(verify, Measured::core_used);
        let cpu = median_by(verify, |r| r.cpu_s);
        let _ = write!(
            text,
            "`audit verify` checked {:.0} entries/s ({wall:.1} s for the log, {} µs of CPU per \
             entry) in {:.0} MiB at most, {} of a core: {}. ",
            n / wall,
            opt(cpu.map(|c| c * 1e6 / n), 0),
            rss / 1024.0,
            pct(core),
            if core.is_some_and(|c| c >= 0.85) {
                "it is bound by its CPU, with the database in the page cache, and its memory \
                 does not grow with the log (it reads pages of 10,000 entries)"
            } else {
                "it waits for something other than its CPU"
            }
        );
    }
    let prove = a.commands.get("prove-middle");
    if let (Some(wall), Some(rss)) = (
        median_by(prove, |r| Some(r.wall_s)),
        median_by(prove, |r| r.peak_rss_kib.map(|k| k as f64)),
    ) {
        let _ = write!(
            text,
            "One inclusion proof took {wall:.2} s and {:.0} MiB at {} entries: `prove_inclusion` \
             (and `prove_consistency`) reads every digest up to the checkpoint and rebuilds the \
             whole tree in memory for each proof, so time and memory grow with the log, while \
             the proof itself stays logarithmic ({} hashes). ",
            rss / 1024.0,
            grouped(a.entries),
            a.proofs
                .iter()
                .find(|(name, _, _)| name == "prove-middle")
                .map_or(0, |(_, _, h)| *h)
        );
    }
    let report = a.commands.get("report");
    if let (Some(wall), Some(rss)) = (
        median_by(report, |r| Some(r.wall_s)),
        median_by(report, |r| r.peak_rss_kib.map(|k| k as f64)),
    ) {
        let _ = write!(
            text,
            "One person's access report ({} accesses, {} with a proof) took {wall:.2} s and \
             {:.0} MiB: it rebuilds the same tree for its proofs, and so does \
             `GET /api/v1/persons/{{id}}/access-log`, inside the hub's process, for every page. ",
            a.accesses.0,
            a.accesses.1,
            rss / 1024.0
        );
    }
    if let Some(wall) = median_by(a.commands.get("check-inclusion"), |r| Some(r.wall_s)) {
        let _ = write!(
            text,
            "Checking a proof offline (`audit check`) took {:.0} ms, whatever the log's size.",
            wall * 1000.0
        );
    }
    text
}
