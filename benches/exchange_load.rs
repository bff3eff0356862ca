//! Exchange throughput and the hub's own CPU cost per exchange, next to the cost of its
//! cryptography (the RSA floor), a plain reverse proxy and the registry simulator alone.
//!
//! `scripts/bench-exchange.sh` (or `cargo bench --bench exchange_load` with a release binary
//! built and, for the RabbitMQ variant, `ESOCIAL_TEST_AMQP_URL` set). Topology, on a machine
//! of at least two CPUs:
//!
//! - CPU 0: the hub, `esocial-hub serve --config <settings>` (the release binary, settings made
//!   from `deploy/hub.example.toml`), or nginx in the proxy variant; nothing else of ours;
//! - CPU 1: the registry simulators (`esocial-hub simulate all`), the load generator (a child
//!   process of this binary) and, when the script starts one, the RabbitMQ broker.
//!
//! Every measurement is a fresh set of processes (fresh SQLite file, fresh broker namespace,
//! fresh simulators); the variants are interleaved round by round and the report gives every
//! run and the median of each variant. CPU time comes from `/proc/<pid>/stat` (utime + stime)
//! over the measured window only.
//!
//! Variants: synchronous SOAP (`civil.person-details`) and REST (`health.insurance-status`)
//! exchanges; asynchronous SOAP and REST exchanges (the same two services) through the
//! embedded queue and through RabbitMQ (completion rate, completions seen by polling the hub's
//! store read-only); requests signed
//! beforehand the way the hub signs them, posted to the simulator directly ("the simulator
//! alone") and through an nginx `proxy_pass` hop that holds the client certificate for the
//! upstream mTLS and signs nothing.
//!
//! Environment:
//! - `BENCH_SECONDS` (8): measured window per run; `BENCH_WARMUP` (2): seconds of the same load
//!   before the window, not counted;
//! - `BENCH_CALLERS` (`1,16,64`): concurrent callers, each a keep-alive mTLS connection;
//! - `BENCH_ROUNDS` (3): rounds; `BENCH_QUICK=1`: 1 round, 4 s, 16 callers, 1 s warm-up;
//! - `BENCH_VARIANTS` (all): comma-separated subset of `sync-soap`, `sync-rest`,
//!   `async-embedded`, `async-rabbitmq`, `async-rest-embedded`, `async-rest-rabbitmq`,
//!   `simulator-alone`, `nginx-proxy`;
//! - `BENCH_POOL`: requests signed beforehand for the two variants without the hub (default
//!   1000 per second of warm-up and window);
//! - `ESOCIAL_TEST_AMQP_URL`: the broker; without it the RabbitMQ variants are left out;
//! - `BENCH_NGINX` (`nginx` on the PATH): without nginx the proxy variant is left out;
//! - `BENCH_HUB_BIN` (the release binary cargo built for this bench);
//! - `BENCH_REPORT` (`reports/exchange-benchmark.md`): where the Markdown report is written.

#[path = "common/process.rs"]
mod process;

#[path = "common/machine.rs"]
#[allow(dead_code)]
mod machine;

use machine::{median_by, opt, pct};
use process::{free_port, tail};

use machine::{
    adapters_dir, clock_ticks, command_output, contracts_dir, filesystem_of, logical_cpus,
    machine_section, percentile, rustc_version,
};
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use esocial_catalog::{Catalog, Operation};
use esocial_hub::demo::{DEMO_CLIENT, DEMO_CLIENT_IDNO, https_client_builder};
use esocial_sim::population::Population;
use esocial_wire::crypto::pki::{PkiLayout, client_holder};
use esocial_wire::crypto::wssec::{self, SigningIdentity};
use esocial_wire::mconnect::envelope::{self, CallContext, Delivery};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Set (to the run's JSON spec) in the environment of the load generator.
const CHILD_VAR: &str = "EXCHANGE_BENCH_CHILD";
/// Marks the line of the load generator's standard output that carries its result.
const RESULT_PREFIX: &str = "BENCH-RESULT ";
/// The SOAP service of every SOAP variant, and the REST one.
const SOAP_SERVICE: &str = "civil.person-details";
const REST_SERVICE: &str = "health.insurance-status";
const LEGAL_BASIS: &str = "Legea nr. 123/2010, art. 12";
const REASON: &str = "Evaluarea inițială a cazului";
/// The hub's CPU, and the CPU of everything else we start.
const HUB_CPU: &str = "0";
const REST_CPU: &str = "1";
/// How often the load generator looks in the store for finished asynchronous exchanges.
const POLL_EVERY: Duration = Duration::from_millis(5);
/// An asynchronous exchange not finished this long after its submission counts as an error.
const ASYNC_LIMIT: Duration = Duration::from_secs(60);
/// Requests signed beforehand are signed again when older than this (they expire after
/// `wssec::MAX_TTL`, one hour).
const POOL_MAX_AGE: Duration = Duration::from_secs(40 * 60);

// ---------------------------------------------------------------------------------------------
// Variants and knobs.

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Variant {
    SyncSoap,
    SyncRest,
    AsyncEmbedded,
    AsyncRabbit,
    AsyncRestEmbedded,
    AsyncRestRabbit,
    Simulator,
    Nginx,
}

impl Variant {
    const ALL: [Variant; 8] = [
        Variant::SyncSoap,
        Variant::SyncRest,
        Variant::AsyncEmbedded,
        Variant::AsyncRabbit,
        Variant::AsyncRestEmbedded,
        Variant::AsyncRestRabbit,
        Variant::Simulator,
        Variant::Nginx,
    ];

    fn key(self) -> &'static str {
        match self {
            Variant::SyncSoap => "sync-soap",
            Variant::SyncRest => "sync-rest",
            Variant::AsyncEmbedded => "async-embedded",
            Variant::AsyncRabbit => "async-rabbitmq",
            Variant::AsyncRestEmbedded => "async-rest-embedded",
            Variant::AsyncRestRabbit => "async-rest-rabbitmq",
            Variant::Simulator => "simulator-alone",
            Variant::Nginx => "nginx-proxy",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.key() == text.trim())
    }

    fn title(self) -> &'static str {
        match self {
            Variant::SyncSoap => "Hub, sync SOAP (`civil.person-details`)",
            Variant::SyncRest => "Hub, sync REST (`health.insurance-status`)",
            Variant::AsyncEmbedded => "Hub, async SOAP, embedded queue",
            Variant::AsyncRabbit => "Hub, async SOAP, RabbitMQ queue",
            Variant::AsyncRestEmbedded => "Hub, async REST, embedded queue",
            Variant::AsyncRestRabbit => "Hub, async REST, RabbitMQ queue",
            Variant::Simulator => "Simulator alone (pre-signed SOAP, no hub)",
            Variant::Nginx => "nginx `proxy_pass` hop (pre-signed SOAP)",
        }
    }

    fn is_async(self) -> bool {
        matches!(
            self,
            Variant::AsyncEmbedded
                | Variant::AsyncRabbit
                | Variant::AsyncRestEmbedded
                | Variant::AsyncRestRabbit
        )
    }

    fn uses_rabbitmq(self) -> bool {
        matches!(self, Variant::AsyncRabbit | Variant::AsyncRestRabbit)
    }

    fn presigned(self) -> bool {
        matches!(self, Variant::Simulator | Variant::Nginx)
    }

    fn service(self) -> &'static str {
        if matches!(
            self,
            Variant::SyncRest | Variant::AsyncRestEmbedded | Variant::AsyncRestRabbit
        ) {
            REST_SERVICE
        } else {
            SOAP_SERVICE
        }
    }

    /// What runs on CPU 0 and is measured as "front" CPU.
    fn front(self) -> &'static str {
        match self {
            Variant::Simulator => "none",
            Variant::Nginx => "nginx",
            _ => "hub",
        }
    }
}

#[derive(Clone, Debug)]
struct Knobs {
    seconds: f64,
    warmup: f64,
    rounds: usize,
    callers: Vec<usize>,
    quick: bool,
    pool: usize,
    variants: Vec<Variant>,
    left_out: Vec<String>,
    amqp_url: Option<String>,
    nginx: Option<PathBuf>,
    hub_bin: PathBuf,
}

fn env_number<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(text) if !text.trim().is_empty() => text
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, not `{text}`")),
        _ => default,
    }
}

impl Knobs {
    fn from_env() -> Result<Self, BoxError> {
        let quick = env_number("BENCH_QUICK", 0u32) != 0;
        let seconds: f64 = env_number("BENCH_SECONDS", if quick { 4.0 } else { 8.0 });
        let warmup: f64 = env_number("BENCH_WARMUP", if quick { 1.0 } else { 2.0 });
        let rounds = env_number("BENCH_ROUNDS", if quick { 1usize } else { 3 }).max(1);
        let callers = match std::env::var("BENCH_CALLERS") {
            Ok(text) if !text.trim().is_empty() => text
                .split(',')
                .map(|c| c.trim().parse::<usize>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| format!("BENCH_CALLERS must be numbers, not `{text}`"))?,
            _ if quick => vec![16],
            _ => vec![1, 16, 64],
        };
        if callers.is_empty() || callers.contains(&0) {
            return Err("BENCH_CALLERS must name at least one positive number".into());
        }
        let pool = env_number(
            "BENCH_POOL",
            ((seconds + warmup) * 1000.0).ceil() as usize + 100,
        )
        .max(1);
        let amqp_url = std::env::var("ESOCIAL_TEST_AMQP_URL")
            .ok()
            .filter(|u| !u.is_empty());
        let nginx = esocial_hub::demo::find_program(
            &std::env::var("BENCH_NGINX").unwrap_or_else(|_| "nginx".into()),
        );
        let mut variants = match std::env::var("BENCH_VARIANTS") {
            Ok(text) if !text.trim().is_empty() => text
                .split(',')
                .map(|v| Variant::parse(v).ok_or_else(|| format!("unknown variant `{v}`")))
                .collect::<Result<Vec<_>, _>>()?,
            _ => Variant::ALL.to_vec(),
        };
        let mut left_out = Vec::new();
        if amqp_url.is_none() {
            for variant in variants.iter().filter(|v| v.uses_rabbitmq()) {
                left_out.push(format!(
                    "`{}`: ESOCIAL_TEST_AMQP_URL is not set (scripts/bench-exchange.sh starts a \
                     broker)",
                    variant.key()
                ));
            }
            variants.retain(|v| !v.uses_rabbitmq());
        }
        if nginx.is_none() && variants.contains(&Variant::Nginx) {
            variants.retain(|v| *v != Variant::Nginx);
            left_out.push(format!(
                "`{}`: nginx not found (scripts/bench-exchange.sh installs it with apt)",
                Variant::Nginx.key()
            ));
        }
        let hub_bin = std::env::var("BENCH_HUB_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|_| PathBuf::from(env!("CARGO_BIN_EXE_esocial-hub")));
        Ok(Self {
            seconds,
            warmup,
            rounds,
            callers,
            quick,
            pool,
            variants,
            left_out,
            amqp_url,
            nginx,
            hub_bin,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// What passes between the parent and the load generator.

/// One measurement, as the parent asks the load generator for it.
#[derive(Serialize, Deserialize, Debug, Clone)]
struct RunSpec {
    variant: String,
    callers: usize,
    seconds: f64,
    warmup: f64,
    /// Base URL the load goes to: the hub, nginx, or the simulator.
    target: String,
    /// CPU 0's process (hub or nginx master), measured with its children.
    front_pid: Option<u32>,
    sim_pid: u32,
    broker_pid: Option<u32>,
    pki: PathBuf,
    /// Requests signed beforehand, one JSON string a line.
    pool: Option<PathBuf>,
    /// The hub's SQLite file, for the asynchronous variants.
    store: Option<PathBuf>,
}

/// What one measurement gave.
#[derive(Serialize, Deserialize, Debug, Clone, Default)]
struct RunResult {
    variant: String,
    callers: usize,
    #[serde(default)]
    round: usize,
    window_s: f64,
    /// Successful exchanges (requests) finished within the window.
    ok: u64,
    /// Non-successes finished within the window, by kind.
    errors: BTreeMap<String, u64>,
    /// Non-successes during the warm-up and after the window, by kind.
    errors_outside: BTreeMap<String, u64>,
    /// Operations still unfinished when the load generator gave up waiting.
    unfinished: u64,
    /// Successful exchanges per second of window.
    throughput: f64,
    p50_ms: Option<f64>,
    p99_ms: Option<f64>,
    /// CPU seconds over the window.
    front_cpu_s: Option<f64>,
    /// Bytes the front process (the hub) sent towards the disk over the window: its store's
    /// log and database pages (`write_bytes` of `/proc/<pid>/io`).
    #[serde(default)]
    front_written_bytes: Option<u64>,
    sim_cpu_s: Option<f64>,
    broker_cpu_s: Option<f64>,
    loadgen_cpu_s: Option<f64>,
    /// Share of each CPU busy (any process) over the window.
    cpu0_busy: Option<f64>,
    cpu1_busy: Option<f64>,
    /// Pre-signed requests sent more than once in the run (the pool ran out).
    reused: u64,
    /// Warning and error lines of the processes' logs (filled in by the parent).
    #[serde(default)]
    log_lines: BTreeMap<String, u64>,
    #[serde(default)]
    log_samples: Vec<String>,
}

impl RunResult {
    fn per_ok_ms(&self, cpu_s: Option<f64>) -> Option<f64> {
        let cpu = cpu_s?;
        (self.ok > 0).then(|| cpu * 1000.0 / self.ok as f64)
    }
    /// KiB the hub wrote towards the disk per successful exchange.
    fn front_kib_written(&self) -> Option<f64> {
        let bytes = self.front_written_bytes?;
        (self.ok > 0).then(|| bytes as f64 / 1024.0 / self.ok as f64)
    }
    fn front_ms(&self) -> Option<f64> {
        self.per_ok_ms(self.front_cpu_s)
    }
    fn sim_ms(&self) -> Option<f64> {
        self.per_ok_ms(self.sim_cpu_s)
    }
    fn broker_ms(&self) -> Option<f64> {
        self.per_ok_ms(self.broker_cpu_s)
    }
    fn front_core(&self) -> Option<f64> {
        self.front_cpu_s.map(|s| s / self.window_s)
    }
    fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
    fn error_outside_count(&self) -> u64 {
        self.errors_outside.values().sum::<u64>() + self.unfinished
    }
}

fn main() {
    // `cargo test --all-targets` runs bench targets without `--bench`; measure only under
    // `cargo bench` (or in a load-generator child of it).
    if let Ok(spec) = std::env::var(CHILD_VAR) {
        let spec: RunSpec = serde_json::from_str(&spec).expect("run spec from the parent");
        let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
        match runtime.block_on(load_generator(spec.clone())) {
            Ok(result) => {
                let mut out = std::io::stdout().lock();
                writeln!(
                    out,
                    "{RESULT_PREFIX}{}",
                    serde_json::to_string(&result).expect("result")
                )
                .expect("stdout");
                out.flush().expect("stdout");
                std::process::exit(0);
            }
            Err(error) => {
                eprintln!(
                    "exchange_load: {} run with {} callers failed: {error}",
                    spec.variant, spec.callers
                );
                std::process::exit(1);
            }
        }
    }
    if !std::env::args().any(|arg| arg == "--bench") {
        eprintln!("exchange_load: a benchmark; run it with `scripts/bench-exchange.sh`");
        return;
    }
    if let Err(error) = parent() {
        eprintln!("exchange_load: {error}");
        std::process::exit(1);
    }
}

// ---------------------------------------------------------------------------------------------
// Parent: PKI, floor, pre-signed pool, processes round by round, report.

/// The RSA-2048 floor from `openssl speed` on the hub's CPU.
#[derive(Clone, Debug)]
struct Floor {
    sign_per_s: f64,
    verify_per_s: f64,
    label: &'static str,
}

impl Floor {
    fn ms(&self) -> f64 {
        1000.0 / self.sign_per_s + 1000.0 / self.verify_per_s
    }
}

fn measure_floor(label: &'static str) -> Result<Floor, BoxError> {
    eprintln!(
        "exchange_load: floor ({label}): taskset -c {HUB_CPU} openssl speed -seconds 3 rsa2048"
    );
    let output = Command::new("taskset")
        .args([
            "-c", HUB_CPU, "openssl", "speed", "-seconds", "3", "rsa2048",
        ])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()?;
    if !output.status.success() {
        return Err(format!("openssl speed exited with {}", output.status).into());
    }
    let text = String::from_utf8_lossy(&output.stdout);
    parse_openssl_speed(&text)
        .map(|(sign_per_s, verify_per_s)| Floor {
            sign_per_s,
            verify_per_s,
            label,
        })
        .ok_or_else(|| format!("cannot read sign/s and verify/s in:\n{text}").into())
}

/// `sign/s` and `verify/s` of the `rsa 2048 bits` line, placed by the header line.
fn parse_openssl_speed(text: &str) -> Option<(f64, f64)> {
    let header = text
        .lines()
        .find(|l| l.contains("sign/s") && l.contains("verify/s"))?;
    let columns: Vec<&str> = header.split_whitespace().collect();
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("rsa") && l.contains("2048"))?;
    let values: Vec<&str> = line.split("bits").nth(1)?.split_whitespace().collect();
    let at = |name: &str| -> Option<f64> {
        let index = columns.iter().position(|c| *c == name)?;
        values.get(index)?.trim_end_matches('s').parse().ok()
    };
    Some((at("sign/s")?, at("verify/s")?))
}

/// Requests signed beforehand, shared by the runs of the variants without the hub.
struct Pool {
    path: PathBuf,
    signed_at: Instant,
    size: usize,
    cpu_ms_each: Option<f64>,
}

fn living_subjects(population: &Population) -> Vec<String> {
    population
        .persons()
        .iter()
        .filter(|p| !p.deceased)
        .map(|p| p.idnp.expose().to_string())
        .collect()
}

/// Signs `n` unique `civil.person-details` requests the way the hub does (adapter template,
/// MConnect headers with a fresh `MessageId` and `ExchangeId`, WS-Security with the hub's
/// identity), on every CPU, and writes them to `path`.
fn presign(catalog: &Catalog, pki: &PkiLayout, n: usize, path: &Path) -> Result<Pool, BoxError> {
    let service = catalog.service(SOAP_SERVICE).ok_or("unknown service")?;
    let population = Population::default_population();
    let subjects = living_subjects(&population);
    let caller = subjects[1].clone();
    let (cert, key) = (
        std::fs::read(pki.cert("hub"))?,
        std::fs::read(pki.key("hub"))?,
    );
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    eprintln!(
        "exchange_load: signing {n} requests for the runs without the hub ({threads} threads)"
    );
    let cpu_before = cpu_seconds("self");
    let started = Instant::now();
    let parts: Vec<Result<Vec<(usize, String)>, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (subjects, caller, cert, key) = (&subjects, &caller, &cert, &key);
                scope.spawn(move || {
                    let identity =
                        SigningIdentity::from_pem(key, cert).map_err(|e| e.to_string())?;
                    let mut signed = Vec::new();
                    for i in (t..n).step_by(threads) {
                        let idnp = &subjects[i % subjects.len()];
                        let body = service
                            .request
                            .render(|name| (name == "subject.idnp").then(|| idnp.clone()))
                            .map_err(|e| e.to_string())?;
                        let context = CallContext {
                            calling_user: caller.clone(),
                            calling_entity: DEMO_CLIENT_IDNO.into(),
                            call_basis: LEGAL_BASIS.into(),
                            call_reason: REASON.into(),
                            message_id: uuid::Uuid::new_v4().to_string(),
                            delivery: Some(Delivery {
                                exchange_id: uuid::Uuid::now_v7().to_string(),
                                attempt: 1,
                            }),
                        };
                        let unsigned = envelope::request(&context, &body);
                        let envelope = wssec::sign_envelope(
                            &unsigned,
                            &identity,
                            SystemTime::now(),
                            wssec::MAX_TTL,
                        )
                        .map_err(|e| e.to_string())?;
                        signed.push((i, envelope));
                    }
                    Ok(signed)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("signing thread panicked".into()))
            })
            .collect()
    });
    let mut all = Vec::with_capacity(n);
    for part in parts {
        all.extend(part?);
    }
    all.sort_by_key(|(i, _)| *i);
    let cpu_ms_each = cpu_before
        .zip(cpu_seconds("self"))
        .map(|(before, after)| (after - before) * 1000.0 / n as f64);
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    for (_, envelope) in &all {
        serde_json::to_writer(&mut file, envelope)?;
        file.write_all(b"\n")?;
    }
    file.flush()?;
    eprintln!(
        "exchange_load: signed {n} requests in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(Pool {
        path: path.to_path_buf(),
        signed_at: Instant::now(),
        size: n,
        cpu_ms_each,
    })
}

fn parent() -> Result<(), BoxError> {
    let knobs = Knobs::from_env()?;
    let started = OffsetDateTime::now_utc();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    if cores < 2 {
        return Err("needs at least 2 CPUs (the hub on CPU 0, everything else on CPU 1)".into());
    }
    if !knobs.hub_bin.is_file() {
        return Err(format!(
            "no hub binary at {} (cargo build --release, or set BENCH_HUB_BIN)",
            knobs.hub_bin.display()
        )
        .into());
    }
    for note in &knobs.left_out {
        eprintln!("exchange_load: left out {note}");
    }
    let work = tempfile::tempdir()?;
    let pki_dir = work.path().join("pki");
    let catalog = Catalog::load(&adapters_dir(), &contracts_dir())?;
    // The development PKI, made by the binary under test.
    let status = Command::new(&knobs.hub_bin)
        .args(["certs", "init", "--dir"])
        .arg(&pki_dir)
        .arg("--adapters")
        .arg(adapters_dir())
        .stdout(Stdio::null())
        .status()?;
    if !status.success() {
        return Err(format!("esocial-hub certs init exited with {status}").into());
    }
    let pki = PkiLayout::new(&pki_dir);
    let example = std::fs::read_to_string(repo_root().join("deploy/hub.example.toml"))?;
    check_example(&example)?;

    let load_before = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let floor_before = measure_floor("before the runs")?;
    eprintln!(
        "exchange_load:   {:.1} sign/s, {:.1} verify/s: floor {:.3} ms per exchange",
        floor_before.sign_per_s,
        floor_before.verify_per_s,
        floor_before.ms()
    );
    let mut pool = if knobs.variants.iter().any(|v| v.presigned()) {
        Some(presign(
            &catalog,
            &pki,
            knobs.pool,
            &work.path().join("pool.jsonl"),
        )?)
    } else {
        None
    };
    let pool_cpu_ms_each = pool.as_ref().and_then(|p| p.cpu_ms_each);

    let runs_total = knobs.rounds * knobs.variants.len() * knobs.callers.len();
    let mut done = 0;
    let mut results: BTreeMap<(Variant, usize), Vec<RunResult>> = BTreeMap::new();
    for round in 0..knobs.rounds {
        // Rotate the order so that no variant always runs first (or right after another).
        let mut order = knobs.variants.clone();
        let turn = round % order.len();
        order.rotate_left(turn);
        for variant in order {
            for &callers in &knobs.callers {
                done += 1;
                eprintln!(
                    "exchange_load: [{done}/{runs_total}] round {}/{} {} with {callers} callers",
                    round + 1,
                    knobs.rounds,
                    variant.key()
                );
                if variant.presigned()
                    && let Some(p) = &pool
                    && p.signed_at.elapsed() > POOL_MAX_AGE
                {
                    let size = p.size;
                    pool = Some(presign(
                        &catalog,
                        &pki,
                        size,
                        &work.path().join("pool.jsonl"),
                    )?);
                }
                let mut result = run_once(
                    &knobs,
                    variant,
                    callers,
                    &pki,
                    &catalog,
                    &example,
                    pool.as_ref().map(|p| p.path.as_path()),
                )?;
                result.round = round + 1;
                eprintln!(
                    "exchange_load:   {:.1}/s ok, {} errors, p50 {} ms, p99 {} ms, {} CPU {} ms \
                     and {} KiB to disk per exchange, simulator {} ms per request{}",
                    result.throughput,
                    result.error_count(),
                    opt(result.p50_ms, 1),
                    opt(result.p99_ms, 1),
                    variant.front(),
                    opt(result.front_ms(), 3),
                    opt(result.front_kib_written(), 1),
                    opt(result.sim_ms(), 3),
                    if result.log_lines.is_empty() {
                        String::new()
                    } else {
                        format!("; log lines {:?}", result.log_lines)
                    }
                );
                results.entry((variant, callers)).or_default().push(result);
            }
        }
    }
    let load_after = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let floor_after = measure_floor("after the runs")?;
    eprintln!(
        "exchange_load:   {:.1} sign/s, {:.1} verify/s: floor {:.3} ms per exchange",
        floor_after.sign_per_s,
        floor_after.verify_per_s,
        floor_after.ms()
    );

    let report = render_report(&Report {
        knobs: &knobs,
        started,
        results: &results,
        load_before: &load_before,
        load_after: &load_after,
        floors: [floor_before, floor_after],
        pool_cpu_ms_each,
    });
    let mut out = std::io::stdout().lock();
    writeln!(out, "{report}")?;
    out.flush()?;
    let path = std::env::var("BENCH_REPORT")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo_root().join("reports/exchange-benchmark.md"));
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&path, report)?;
    eprintln!("exchange_load: report written to {}", path.display());
    Ok(())
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The example settings must grant the client the load uses every service it asks for.
fn check_example(example: &str) -> Result<(), BoxError> {
    let table: toml::Table = example.parse()?;
    let grants = table
        .get("grants")
        .and_then(toml::Value::as_array)
        .ok_or("deploy/hub.example.toml has no [[grants]]")?;
    for service in [SOAP_SERVICE, REST_SERVICE] {
        let granted = grants.iter().any(|g| {
            g.get("client").and_then(toml::Value::as_str) == Some(DEMO_CLIENT)
                && g.get("service").and_then(toml::Value::as_str) == Some(service)
                && g.get("fields").is_none()
        });
        if !granted {
            return Err(format!(
                "deploy/hub.example.toml does not grant `{DEMO_CLIENT}` all of `{service}`"
            )
            .into());
        }
    }
    Ok(())
}

fn set(table: &mut toml::Table, path: &[&str], value: toml::Value) -> Result<(), BoxError> {
    let (last, sections) = path.split_last().ok_or("empty path")?;
    let mut current = table;
    for section in sections {
        current = current
            .entry(section.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .ok_or_else(|| format!("`{section}` is not a table"))?;
    }
    current.insert(last.to_string(), value);
    Ok(())
}

/// The hub's settings: `deploy/hub.example.toml` with the run's PKI, ports, a fresh SQLite
/// file, absolute adapter and contract folders and, for RabbitMQ, a fresh namespace (the URL
/// goes in `HUB__QUEUE__AMQP_URL`). Registries keep the example's endpoints, which are the
/// ports `simulate all` listens on.
fn hub_settings(
    example: &str,
    pki: &PkiLayout,
    dir: &Path,
    listen: u16,
    ops: u16,
    rabbit: bool,
) -> Result<String, BoxError> {
    use toml::Value::{Array, String as Text};
    let mut table: toml::Table = example.parse()?;
    let path = |p: PathBuf| Text(p.display().to_string());
    set(
        &mut table,
        &["server", "listen"],
        Text(format!("127.0.0.1:{listen}")),
    )?;
    set(
        &mut table,
        &["server", "ops_listen"],
        Text(format!("127.0.0.1:{ops}")),
    )?;
    set(&mut table, &["tls", "cert"], path(pki.cert("hub")))?;
    set(&mut table, &["tls", "key"], path(pki.key("hub")))?;
    set(&mut table, &["tls", "client_ca"], path(pki.ca_cert()))?;
    set(
        &mut table,
        &["mconnect", "signing_cert"],
        path(pki.cert("hub")),
    )?;
    set(
        &mut table,
        &["mconnect", "signing_key"],
        path(pki.key("hub")),
    )?;
    set(&mut table, &["mconnect", "trust_ca"], path(pki.ca_cert()))?;
    set(
        &mut table,
        &["store", "url"],
        Text(format!(
            "sqlite://{}?mode=rwc",
            dir.join("hub.db").display()
        )),
    )?;
    set(
        &mut table,
        &["audit", "digest_key"],
        Text(format!("bench-{}", uuid::Uuid::new_v4().simple())),
    )?;
    set(&mut table, &["adapters", "dir"], path(adapters_dir()))?;
    set(&mut table, &["contracts", "dir"], path(contracts_dir()))?;
    set(
        &mut table,
        &["revocation", "crl_files"],
        Array(vec![path(pki.crl())]),
    )?;
    if rabbit {
        set(&mut table, &["queue", "backend"], Text("rabbitmq".into()))?;
        set(
            &mut table,
            &["queue", "namespace"],
            Text(format!("bench-{}", uuid::Uuid::new_v4().simple())),
        )?;
    }
    Ok(toml::to_string(&table)?)
}

/// A process we started, stopped (TERM, then KILL) when dropped.
struct Proc {
    child: Child,
    name: &'static str,
    log: PathBuf,
}

impl Proc {
    fn spawn(
        name: &'static str,
        cpu: &str,
        program: &Path,
        args: &[&str],
        envs: &[(&str, &str)],
        log: PathBuf,
    ) -> Result<Self, BoxError> {
        let file = std::fs::File::create(&log)?;
        let child = Command::new("taskset")
            .args(["-c", cpu])
            .arg(program)
            .args(args)
            .env("RUST_LOG", "warn")
            .env("NO_COLOR", "1")
            .envs(envs.iter().copied())
            .current_dir(repo_root())
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()?;
        Ok(Self { child, name, log })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn check_running(&mut self) -> Result<(), BoxError> {
        if let Some(status) = self.child.try_wait()? {
            return Err(format!(
                "{} exited with {status} at start-up; its log ends with:\n{}",
                self.name,
                tail(&self.log, 20)
            )
            .into());
        }
        Ok(())
    }

    fn stop(&mut self) {
        process::stop_gently(&mut self.child, Duration::from_secs(5));
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

fn port_open(port: u16) -> bool {
    TcpStream::connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    )
    .is_ok()
}

/// Status code of a plain-HTTP GET on loopback, if any answer came.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(500),
    )
    .ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut line = String::new();
    std::io::BufReader::new(stream).read_line(&mut line).ok()?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn wait_for(
    what: &str,
    process: &mut Proc,
    limit: Duration,
    mut ready: impl FnMut() -> bool,
) -> Result<(), BoxError> {
    let deadline = Instant::now() + limit;
    loop {
        process.check_running()?;
        if ready() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{what} not ready within {limit:?}; its log ends with:\n{}",
                tail(&process.log, 20)
            )
            .into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Ports `simulate all` listens on: the adapters' endpoints.
fn simulator_ports(catalog: &Catalog) -> Result<Vec<u16>, BoxError> {
    catalog
        .registries()
        .map(|r| {
            Ok(reqwest::Url::parse(&r.endpoint)?
                .port_or_known_default()
                .ok_or("endpoint without a port")?)
        })
        .collect()
}

fn nginx_conf(dir: &Path, pki: &PkiLayout, listen: u16, upstream: &str) -> String {
    let d = dir.display();
    format!(
        r#"# Reverse proxy in front of the civil registry simulator (benches/exchange_load.rs).
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    client_max_body_size 1m;
    client_body_buffer_size 256k;
    proxy_buffer_size 64k;
    proxy_buffers 8 64k;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    upstream registry {{
        server {upstream};
        keepalive 256;
        keepalive_requests 1000000;
    }}
    server {{
        listen 127.0.0.1:{listen} ssl;
        ssl_certificate {hub_cert};
        ssl_certificate_key {hub_key};
        ssl_client_certificate {ca};
        ssl_verify_client on;
        location / {{
            proxy_pass https://registry;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_ssl_certificate {hub_cert};
            proxy_ssl_certificate_key {hub_key};
            proxy_ssl_trusted_certificate {ca};
            proxy_ssl_verify on;
            proxy_ssl_name localhost;
            # The simulators' TLS server (src/crypto/tls.rs, shared with the hub) never
            # resumes a session, so offering one would only cost a round of the handshake.
            proxy_ssl_session_reuse off;
        }}
    }}
}}
"#,
        hub_cert = pki.cert("hub").display(),
        hub_key = pki.key("hub").display(),
        ca = pki.ca_cert().display(),
    )
}

/// Warning and error lines of a log, by kind, and a few distinct samples.
fn log_findings(
    name: &str,
    path: &Path,
    counts: &mut BTreeMap<String, u64>,
    samples: &mut Vec<String>,
) {
    let text = strip_ansi(&std::fs::read_to_string(path).unwrap_or_default());
    for line in text.lines() {
        let level = [
            "ERROR", "WARN", "[emerg]", "[alert]", "[crit]", "[error]", "[warn]",
        ]
        .into_iter()
        .find(|l| line.contains(l));
        let Some(level) = level else { continue };
        *counts
            .entry(format!("{name} {}", level.trim_matches(['[', ']'])))
            .or_default() += 1;
        // Without the time stamp (and, for nginx, the pid and connection number).
        let message: String = match line.find(level) {
            Some(at) => line[at..].chars().take(240).collect(),
            None => line.chars().take(240).collect(),
        };
        let sample = format!("{name}: {message}");
        let stem = |s: &str| s.chars().take(80).collect::<String>();
        if samples.len() < 6 && !samples.iter().any(|s| stem(s) == stem(&sample)) {
            samples.push(sample);
        }
    }
}

/// `text` without terminal colour sequences (ESC [ ... letter).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn broker_pid() -> Option<u32> {
    let base = std::env::var("ESOCIAL_RABBITMQ_BASE").ok()?;
    std::fs::read_to_string(Path::new(&base).join("rabbitmq.pid"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// One measurement: fresh simulators, hub or nginx, and a load generator.
fn run_once(
    knobs: &Knobs,
    variant: Variant,
    callers: usize,
    pki: &PkiLayout,
    catalog: &Catalog,
    example: &str,
    pool: Option<&Path>,
) -> Result<RunResult, BoxError> {
    let dir = tempfile::tempdir()?;
    // nginx's worker drops root; let it into its prefix.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
    let ports = simulator_ports(catalog)?;
    let deadline = Instant::now() + Duration::from_secs(15);
    while let Some(busy) = ports.iter().find(|p| port_open(**p)) {
        if Instant::now() > deadline {
            return Err(format!(
                "port {busy} is taken: `simulate all` needs the adapters' ports {ports:?}"
            )
            .into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let (adapters, contracts, pki_dir) = (
        adapters_dir().display().to_string(),
        contracts_dir().display().to_string(),
        pki.dir.display().to_string(),
    );
    let mut sim = Proc::spawn(
        "simulators",
        REST_CPU,
        &knobs.hub_bin,
        &[
            "simulate",
            "all",
            "--pki",
            &pki_dir,
            "--adapters",
            &adapters,
            "--contracts",
            &contracts,
        ],
        &[],
        dir.path().join("simulators.log"),
    )?;
    wait_for("the simulators", &mut sim, Duration::from_secs(60), || {
        ports.iter().all(|p| port_open(*p))
    })?;

    let registry = catalog
        .registry(
            &catalog
                .service(SOAP_SERVICE)
                .ok_or("unknown service")?
                .registry,
        )
        .ok_or("unknown registry")?;
    let endpoint = reqwest::Url::parse(&registry.endpoint)?;
    let upstream = format!(
        "127.0.0.1:{}",
        endpoint.port_or_known_default().ok_or("no port")?
    );

    let mut front: Option<Proc> = None;
    let target;
    let mut store = None;
    match variant {
        Variant::Simulator => {
            target = format!("https://{upstream}");
        }
        Variant::Nginx => {
            let port = free_port()?;
            let conf = dir.path().join("nginx.conf");
            std::fs::write(&conf, nginx_conf(dir.path(), pki, port, &upstream))?;
            let (prefix, conf_text, log) = (
                format!("{}/", dir.path().display()),
                conf.display().to_string(),
                dir.path().join("error.log").display().to_string(),
            );
            let mut nginx = Proc::spawn(
                "nginx",
                HUB_CPU,
                knobs.nginx.as_deref().ok_or("no nginx")?,
                &[
                    "-p",
                    &prefix,
                    "-e",
                    &log,
                    "-c",
                    &conf_text,
                    "-g",
                    "daemon off;",
                ],
                &[],
                dir.path().join("nginx.out"),
            )?;
            wait_for("nginx", &mut nginx, Duration::from_secs(20), || {
                port_open(port)
            })?;
            front = Some(nginx);
            target = format!("https://127.0.0.1:{port}");
        }
        _ => {
            let (listen, ops) = (free_port()?, free_port()?);
            let rabbit = variant.uses_rabbitmq();
            let settings = hub_settings(example, pki, dir.path(), listen, ops, rabbit)?;
            let config = dir.path().join("hub.toml");
            std::fs::write(&config, settings)?;
            let amqp = knobs.amqp_url.clone().unwrap_or_default();
            let mut envs = Vec::new();
            if rabbit {
                envs.push(("HUB__QUEUE__AMQP_URL", amqp.as_str()));
            }
            let config_text = config.display().to_string();
            let mut hub = Proc::spawn(
                "hub",
                HUB_CPU,
                &knobs.hub_bin,
                &["serve", "--config", &config_text],
                &envs,
                dir.path().join("hub.log"),
            )?;
            wait_for("the hub", &mut hub, Duration::from_secs(60), || {
                http_status(ops, "/health/ready") == Some(200)
            })?;
            front = Some(hub);
            target = format!("https://127.0.0.1:{listen}");
            store = variant.is_async().then(|| dir.path().join("hub.db"));
        }
    }

    let spec = RunSpec {
        variant: variant.key().into(),
        callers,
        seconds: knobs.seconds,
        warmup: knobs.warmup,
        target,
        front_pid: front.as_ref().map(Proc::pid),
        sim_pid: sim.pid(),
        broker_pid: if variant.uses_rabbitmq() {
            broker_pid()
        } else {
            None
        },
        pki: pki.dir.clone(),
        pool: variant
            .presigned()
            .then(|| pool.map(Path::to_path_buf))
            .flatten(),
        store,
    };
    let output = Command::new("taskset")
        .args(["-c", REST_CPU])
        .arg(std::env::current_exe()?)
        .env(CHILD_VAR, serde_json::to_string(&spec)?)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .output()?;
    if let Some(front) = front.as_mut() {
        front.stop();
    }
    sim.stop();
    let mut log_lines = BTreeMap::new();
    let mut log_samples = Vec::new();
    match variant {
        Variant::Nginx => log_findings(
            "nginx",
            &dir.path().join("error.log"),
            &mut log_lines,
            &mut log_samples,
        ),
        Variant::Simulator => {}
        _ => log_findings(
            "hub",
            &dir.path().join("hub.log"),
            &mut log_lines,
            &mut log_samples,
        ),
    }
    log_findings(
        "simulators",
        &dir.path().join("simulators.log"),
        &mut log_lines,
        &mut log_samples,
    );
    if !output.status.success() {
        for sample in &log_samples {
            eprintln!("exchange_load:   {sample}");
        }
        return Err(format!("{} run exited with {}", variant.key(), output.status).into());
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix(RESULT_PREFIX))
        .ok_or_else(|| format!("{} run printed no result", variant.key()))?;
    let mut result: RunResult = serde_json::from_str(line)?;
    result.log_lines = log_lines;
    result.log_samples = log_samples;
    Ok(result)
}

// ---------------------------------------------------------------------------------------------
// The load generator: N keep-alive mTLS callers, a warm-up, a measured window.

/// CPU time (user + system, seconds) used so far by process `pid` ("self" for this one).
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / clock_ticks())
}

/// Bytes process `pid` has sent towards the disk (`write_bytes` of `/proc/<pid>/io`).
fn written_bytes(pid: u32) -> Option<u64> {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    io.lines()
        .find_map(|line| line.strip_prefix("write_bytes:"))?
        .trim()
        .parse()
        .ok()
}

/// CPU time of `pid` and of its descendants still running (nginx's workers).
fn tree_cpu_seconds(pid: u32) -> Option<f64> {
    let mut total = cpu_seconds(&pid.to_string())?;
    let mut pending = children_of(pid);
    while let Some(child) = pending.pop() {
        total += cpu_seconds(&child.to_string()).unwrap_or(0.0);
        pending.extend(children_of(child));
    }
    Some(total)
}

fn children_of(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
        .flat_map(|text| {
            text.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

/// (busy, total) jiffies of each CPU, from /proc/stat.
fn cpu_jiffies() -> Vec<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    text.lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .map(|l| {
            let v: Vec<u64> = l
                .split_whitespace()
                .skip(1)
                .take(8)
                .filter_map(|x| x.parse().ok())
                .collect();
            let total: u64 = v.iter().sum();
            let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
            (total - idle, total)
        })
        .collect()
}

struct Sample {
    front: Option<f64>,
    front_written: Option<u64>,
    sim: Option<f64>,
    broker: Option<f64>,
    own: Option<f64>,
    cpus: Vec<(u64, u64)>,
}

fn sample(spec: &RunSpec) -> Sample {
    Sample {
        front: spec.front_pid.and_then(tree_cpu_seconds),
        front_written: spec.front_pid.and_then(written_bytes),
        sim: cpu_seconds(&spec.sim_pid.to_string()),
        broker: spec.broker_pid.and_then(tree_cpu_seconds),
        own: cpu_seconds("self"),
        cpus: cpu_jiffies(),
    }
}

fn delta(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    Some(b? - a?)
}

fn busy(a: &Sample, b: &Sample, cpu: usize) -> Option<f64> {
    let (busy0, total0) = *a.cpus.get(cpu)?;
    let (busy1, total1) = *b.cpus.get(cpu)?;
    let total = total1.checked_sub(total0)?;
    (total > 0).then(|| busy1.saturating_sub(busy0) as f64 / total as f64)
}

/// How an asynchronous exchange ended: its status and error code.
type Ending = (String, Option<String>);

/// Finished asynchronous exchanges, seen by polling the hub's SQLite file read-only.
struct Poller {
    waiting: Mutex<HashMap<String, tokio::sync::oneshot::Sender<Ending>>>,
}

impl Poller {
    fn wait_for(&self, id: String) -> tokio::sync::oneshot::Receiver<Ending> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.waiting.lock().expect("not poisoned").insert(id, tx);
        rx
    }

    async fn run(self: Arc<Self>, store: PathBuf) -> Result<(), BoxError> {
        use sqlx::Row;
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&store)
            .read_only(true);
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        loop {
            tokio::time::sleep(POLL_EVERY).await;
            let ids: Vec<String> = self
                .waiting
                .lock()
                .expect("not poisoned")
                .keys()
                .cloned()
                .collect();
            for chunk in ids.chunks(200) {
                let marks = vec!["?"; chunk.len()].join(",");
                let sql = format!(
                    "SELECT id, status, error_code FROM exchanges \
                     WHERE status != 'in_progress' AND id IN ({marks})"
                );
                let mut query = sqlx::query(&sql);
                for id in chunk {
                    query = query.bind(id);
                }
                let rows = query.fetch_all(&pool).await?;
                let mut waiting = self.waiting.lock().expect("not poisoned");
                for row in rows {
                    let id: String = row.try_get("id")?;
                    let status: String = row.try_get("status")?;
                    let code: Option<String> = row.try_get("error_code")?;
                    if let Some(tx) = waiting.remove(&id) {
                        let _ = tx.send((status, code));
                    }
                }
            }
        }
    }
}

struct Work {
    variant: Variant,
    client: reqwest::Client,
    url: String,
    soap_action: String,
    subjects: Vec<String>,
    caller: String,
    next: AtomicUsize,
    pool: Vec<String>,
    reused: AtomicU64,
    poller: Option<Arc<Poller>>,
}

impl Work {
    fn exchange_body(&self) -> Value {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        let mut body = json!({
            "service": self.variant.service(),
            "subject": {"idnp": self.subjects[i % self.subjects.len()]},
            "purpose": {"legalBasis": LEGAL_BASIS, "reason": REASON, "caseId": "BENCH-1"},
            "caller": {"userIdnp": self.caller},
        });
        if self.variant.is_async() {
            body["mode"] = json!("async");
        }
        body
    }

    /// One exchange (or, without the hub, one request); `Err` names the kind of failure.
    async fn once(&self) -> Result<(), String> {
        if self.variant.presigned() {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            if i >= self.pool.len() {
                self.reused.fetch_add(1, Ordering::Relaxed);
            }
            let body = self.pool[i % self.pool.len()].clone();
            let response = self
                .client
                .post(&self.url)
                .header("Content-Type", "text/xml; charset=utf-8")
                .header("SOAPAction", format!("\"{}\"", self.soap_action))
                .body(body)
                .send()
                .await
                .map_err(|e| transport(&e))?;
            let status = response.status().as_u16();
            let text = response.bytes().await.map_err(|e| transport(&e))?;
            return match status {
                200 => Ok(()),
                _ if text.windows(5).any(|w| w == b"Fault") => {
                    Err(format!("HTTP {status} SOAP fault"))
                }
                _ => Err(format!("HTTP {status}")),
            };
        }
        let response = self
            .client
            .post(format!("{}/api/v1/exchanges", self.url))
            .json(&self.exchange_body())
            .send()
            .await
            .map_err(|e| transport(&e))?;
        let status = response.status().as_u16();
        let value: Value = response
            .json()
            .await
            .map_err(|e| format!("HTTP {status}, unreadable body: {}", transport(&e)))?;
        let expected = if self.variant.is_async() { 202 } else { 200 };
        if status != expected {
            return Err(format!(
                "HTTP {status} {}",
                value["code"].as_str().unwrap_or("(no code)")
            ));
        }
        if !self.variant.is_async() {
            return match value["status"].as_str() {
                Some("completed") => Ok(()),
                other => Err(format!("HTTP 200 status {}", other.unwrap_or("missing"))),
            };
        }
        let id = value["exchangeId"]
            .as_str()
            .ok_or("HTTP 202 without exchangeId")?
            .to_string();
        let poller = self.poller.as_ref().ok_or("no poller")?;
        match tokio::time::timeout(ASYNC_LIMIT, poller.wait_for(id)).await {
            Ok(Ok((status, _))) if status == "completed" => Ok(()),
            Ok(Ok((status, code))) => Err(format!(
                "async {status} {}",
                code.unwrap_or_else(|| "(no code)".into())
            )),
            Ok(Err(_)) => Err("async: poller stopped".into()),
            Err(_) => Err(format!("async: not finished within {ASYNC_LIMIT:?}")),
        }
    }
}

/// A reqwest error with its causes, shortened to its kind.
fn transport(error: &reqwest::Error) -> String {
    let mut text = if error.is_timeout() {
        "transport: timeout".to_string()
    } else if error.is_connect() {
        "transport: connect".to_string()
    } else {
        "transport".to_string()
    };
    let mut source = std::error::Error::source(error);
    let mut last = None;
    while let Some(cause) = source {
        last = Some(cause.to_string());
        source = cause.source();
    }
    if let Some(cause) = last {
        text.push_str(": ");
        text.extend(cause.chars().take(100));
    }
    text
}

fn client(pki: &PkiLayout, holder: &str, callers: usize) -> Result<reqwest::Client, BoxError> {
    Ok(https_client_builder(pki, holder)?
        .pool_max_idle_per_host(callers)
        .timeout(Duration::from_secs(30))
        .build()?)
}

/// One finished operation: when (seconds from the start of the load), how long, and how.
struct Done {
    at: f64,
    latency_ms: f64,
    error: Option<String>,
}

async fn load_generator(spec: RunSpec) -> Result<RunResult, BoxError> {
    let variant = Variant::parse(&spec.variant).ok_or("unknown variant")?;
    let pki = PkiLayout::new(&spec.pki);
    let catalog = Catalog::load(&adapters_dir(), &contracts_dir())?;
    let soap_action = match &catalog
        .service(SOAP_SERVICE)
        .ok_or("unknown service")?
        .operation
    {
        Operation::Soap { soap_action } => soap_action.clone(),
        Operation::Rest { .. } => return Err("the SOAP service is not SOAP".into()),
    };
    // The load without the hub goes to the registry as the hub would: with the hub's identity.
    let (holder, url) = if variant.presigned() {
        let registry = catalog
            .registry(&catalog.service(SOAP_SERVICE).ok_or("unknown")?.registry)
            .ok_or("unknown registry")?;
        let path = reqwest::Url::parse(&registry.endpoint)?.path().to_string();
        ("hub".to_string(), format!("{}{path}", spec.target))
    } else {
        (client_holder(DEMO_CLIENT), spec.target.clone())
    };
    let pool = match &spec.pool {
        Some(path) => std::io::BufReader::new(std::fs::File::open(path)?)
            .lines()
            .map(|line| Ok(serde_json::from_str::<String>(&line?)?))
            .collect::<Result<Vec<_>, BoxError>>()?,
        None => Vec::new(),
    };
    let population = Population::default_population();
    let subjects = living_subjects(&population);
    let poller = spec.store.as_ref().map(|_| {
        Arc::new(Poller {
            waiting: Mutex::new(HashMap::new()),
        })
    });
    let poll_task = match (&poller, &spec.store) {
        (Some(poller), Some(store)) => Some(tokio::spawn(poller.clone().run(store.clone()))),
        _ => None,
    };
    let work = Arc::new(Work {
        variant,
        client: client(&pki, &holder, spec.callers)?,
        url,
        soap_action,
        caller: subjects[1].clone(),
        subjects,
        next: AtomicUsize::new(0),
        pool,
        reused: AtomicU64::new(0),
        poller,
    });
    if variant.presigned() && work.pool.is_empty() {
        return Err("no requests signed beforehand".into());
    }
    // One operation first: a set-up that cannot work at all is an error, not a measurement.
    work.once()
        .await
        .map_err(|error| format!("the first {} failed: {error}", variant.key()))?;

    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..spec.callers {
        let (work, stop) = (work.clone(), stop.clone());
        tasks.spawn(async move {
            let mut done = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let began = Instant::now();
                let outcome = work.once().await;
                let ended = Instant::now();
                done.push(Done {
                    at: (ended - start).as_secs_f64(),
                    latency_ms: (ended - began).as_secs_f64() * 1000.0,
                    error: outcome.err(),
                });
            }
            done
        });
    }
    let t0 = start + Duration::from_secs_f64(spec.warmup);
    let t1 = t0 + Duration::from_secs_f64(spec.seconds);
    tokio::time::sleep_until(t0.into()).await;
    let before = sample(&spec);
    let measured_from = Instant::now();
    tokio::time::sleep_until(t1.into()).await;
    let after = sample(&spec);
    let window = measured_from.elapsed().as_secs_f64();
    let (w0, w1) = (
        (measured_from - start).as_secs_f64(),
        (measured_from - start).as_secs_f64() + window,
    );
    stop.store(true, Ordering::Relaxed);

    let mut finished = Vec::new();
    let mut unfinished = 0u64;
    let drained = tokio::time::timeout(Duration::from_secs(70), async {
        while let Some(joined) = tasks.join_next().await {
            finished.extend(joined.map_err(|e| e.to_string())?);
        }
        Ok::<_, String>(())
    })
    .await;
    match drained {
        Ok(result) => result?,
        Err(_) => {
            unfinished = tasks.len() as u64;
            tasks.abort_all();
        }
    }
    if let Some(task) = poll_task {
        task.abort();
    }

    let mut result = RunResult {
        variant: variant.key().into(),
        callers: spec.callers,
        window_s: window,
        unfinished,
        reused: work.reused.load(Ordering::Relaxed),
        front_cpu_s: delta(before.front, after.front),
        front_written_bytes: after
            .front_written
            .zip(before.front_written)
            .map(|(after, before)| after.saturating_sub(before)),
        sim_cpu_s: delta(before.sim, after.sim),
        broker_cpu_s: delta(before.broker, after.broker),
        loadgen_cpu_s: delta(before.own, after.own),
        cpu0_busy: busy(&before, &after, 0),
        cpu1_busy: busy(&before, &after, 1),
        ..RunResult::default()
    };
    let mut latencies = Vec::new();
    for done in finished {
        let inside = done.at >= w0 && done.at <= w1;
        match (done.error, inside) {
            (None, true) => {
                result.ok += 1;
                latencies.push(done.latency_ms);
            }
            (None, false) => {}
            (Some(kind), true) => *result.errors.entry(kind).or_default() += 1,
            (Some(kind), false) => *result.errors_outside.entry(kind).or_default() += 1,
        }
    }
    latencies.sort_by(f64::total_cmp);
    result.throughput = result.ok as f64 / window;
    if !latencies.is_empty() {
        result.p50_ms = Some(percentile(&latencies, 50.0));
        result.p99_ms = Some(percentile(&latencies, 99.0));
    }
    Ok(result)
}

// ---------------------------------------------------------------------------------------------
// The report.

fn counts(map: &BTreeMap<String, u64>) -> String {
    map.iter()
        .map(|(k, v)| format!("{v} × {k}"))
        .collect::<Vec<_>>()
        .join("; ")
}

struct Report<'a> {
    knobs: &'a Knobs,
    started: OffsetDateTime,
    results: &'a BTreeMap<(Variant, usize), Vec<RunResult>>,
    load_before: &'a str,
    load_after: &'a str,
    floors: [Floor; 2],
    pool_cpu_ms_each: Option<f64>,
}

fn loadavg(text: &str) -> String {
    text.split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn render_report(r: &Report<'_>) -> String {
    let knobs = r.knobs;
    let mut md = String::new();
    let mut line = |text: String| {
        md.push_str(&text);
        md.push('\n');
    };
    let rustc = rustc_version();
    let cores = logical_cpus();
    // The floor is the cheaper of the two measurements: the CPU cost of the cryptography
    // with the least interference.
    let floor = if r.floors[0].ms() <= r.floors[1].ms() {
        &r.floors[0]
    } else {
        &r.floors[1]
    };
    let floor_ms = floor.ms();
    let get = |v: Variant, c: usize| r.results.get(&(v, c)).map(Vec::as_slice).unwrap_or(&[]);

    line("# Exchange throughput and the hub's CPU per exchange".into());
    line(String::new());
    line(format!(
        "Produced by `scripts/bench-exchange.sh`{} (`cargo bench --bench exchange_load`, release \
         profile) on {}, commit `{}`.",
        if knobs.quick {
            " with `BENCH_QUICK=1`"
        } else {
            ""
        },
        r.started
            .format(&Rfc3339)
            .unwrap_or_else(|_| "unknown date".into()),
        command_output("git", &["rev-parse", "--short", "HEAD"])
            .unwrap_or_else(|| "unknown".into())
    ));
    line(String::new());

    for machine_line in machine_section(cores, &rustc) {
        line(machine_line);
    }
    line(format!(
        "- OpenSSL: {}",
        command_output("openssl", &["version"]).unwrap_or_else(|| "unknown".into())
    ));
    let nginx_version = knobs
        .nginx
        .as_ref()
        .and_then(|n| {
            Command::new(n)
                .arg("-v")
                .output()
                .ok()
                .map(|o| String::from_utf8_lossy(&o.stderr).trim().to_string())
        })
        .unwrap_or_else(|| "not available".into());
    line(format!("- nginx: {nginx_version}"));
    line(format!(
        "- RabbitMQ: {}",
        if knobs.amqp_url.is_some() {
            std::env::var("BENCH_BROKER_VERSION").unwrap_or_else(|_| "version unknown".into())
        } else {
            "not available (ESOCIAL_TEST_AMQP_URL unset)".into()
        }
    ));
    let tmp = std::env::temp_dir();
    line(format!(
        "- Storage: the hub's SQLite file in {} ({}), WAL with `synchronous = FULL`",
        tmp.display(),
        filesystem_of(&tmp)
    ));
    line(format!(
        "- Load average (1/5/15 min) before: {}; after: {}",
        loadavg(r.load_before),
        loadavg(r.load_after)
    ));
    line(format!(
        "- **The {cores} cores are shared.** CPU 0 holds the hub (or nginx), CPU 1 the \
         simulators, the load generator and the broker; anything else running on the \
         machine (another build ran at the same time as this one) competes for both. \
         \"CPU 0 busy\" below is the share of CPU 0 used by any process during the window, \
         \"core used\" the share the hub (or nginx) itself used: the gap is other tenants of \
         CPU 0. CPU \
         times per exchange are the processes' own (utime + stime) and are less sensitive to \
         that noise than the rates."
    ));
    line(String::new());

    line("## Topology and settings".into());
    line(String::new());
    line(format!(
        "- Hub: the release binary, `taskset -c {HUB_CPU} esocial-hub serve --config <file>`, \
         the file being `deploy/hub.example.toml` with the run's development PKI (`esocial-hub \
         certs init`), free loopback ports, a fresh SQLite file, absolute adapter and contract \
         folders and, for RabbitMQ, a fresh queue namespace (everything else as in the \
         example: 2 API workers, 8 store connections, `queue.concurrency_per_registry = 4`, \
         embedded queue unless stated). `RUST_LOG=warn`."
    ));
    line(format!(
        "- Registries: `taskset -c {REST_CPU} esocial-hub simulate all --pki <dir>` (every \
         registry on its adapter's port, no delay; each verifies the request's signature and \
         signs its answer; one actix worker per registry)."
    ));
    line(format!(
        "- Load generator: a child process of the bench on CPU {REST_CPU}: N callers, each a \
         keep-alive mTLS connection (reqwest, HTTP/1.1) as client `{DEMO_CLIENT}` (the hub's \
         certificate towards the simulator), looping for {} s of warm-up, then {} s measured. \
         Subjects: the living persons of the simulators' synthetic population, in turn. One \
         operation before the load must succeed, or the run is an error.",
        knobs.warmup, knobs.seconds
    ));
    line(
        "- Sync: `POST /api/v1/exchanges`; success = HTTP 200 with `status: completed`. Async: \
         the same with `\"mode\": \"async\"`; success = HTTP 202, then the exchange `completed` \
         in the hub's store, which the load generator polls read-only every 5 ms (so the hub \
         spends nothing on the polling); a caller submits its next exchange only when its \
         previous one has finished, so N exchanges are in flight."
            .into(),
    );
    line(format!(
        "- Without the hub: `{SOAP_SERVICE}` requests signed beforehand (before the rounds, \
         with the library the hub uses: the adapter's template, the MConnect headers with a \
         fresh `MessageId` and `ExchangeId`, `wssec::sign_envelope` with the hub's key), unique \
         within a run ({} signed; a run needing more sends some again, counted as \"reused\"), \
         posted to the simulator directly or through nginx. Success = HTTP 200.{}",
        knobs.pool,
        if knobs.variants.iter().any(|v| v.presigned()) {
            ""
        } else {
            " (Not run this time.)"
        }
    ));
    line(format!(
        "- nginx: `taskset -c {HUB_CPU} nginx`, one worker, TLS with client certificates \
         required from the load generator, `proxy_pass` over mTLS (the hub's certificate) to \
         the simulator with upstream keep-alive, access log off, and `proxy_ssl_session_reuse off` \
         (the simulators' TLS server, `crypto::tls::mutual_tls_acceptor`, which the hub's API \
         uses too, never resumes a session: a resumed session would skip the client \
         certificate's checks)."
    ));
    line(format!(
        "- Callers: {}; {} round(s), variants interleaved (order rotated each round); every \
         run is a fresh set of processes.",
        knobs
            .callers
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        knobs.rounds
    ));
    if !knobs.left_out.is_empty() {
        line(format!("- Left out: {}.", knobs.left_out.join("; ")));
    }
    line(String::new());

    line("## The floor".into());
    line(String::new());
    line(format!(
        "`taskset -c {HUB_CPU} openssl speed -seconds 3 rsa2048`, before and after the runs:"
    ));
    line(String::new());
    line("| When | sign/s | verify/s | 1/sign + 1/verify (ms) |".into());
    line("|---|---:|---:|---:|".into());
    for f in &r.floors {
        line(format!(
            "| {} | {:.1} | {:.1} | {:.3} |",
            f.label,
            f.sign_per_s,
            f.verify_per_s,
            f.ms()
        ));
    }
    line(String::new());
    line(format!(
        "**Floor per exchange = 1/sign + 1/verify = {floor_ms:.3} ms** (the lower of the two): \
         the hub signs one request and verifies one answer, each one RSA-2048 operation, and \
         nothing can make an exchange cheaper than that. The simulator does the same two \
         operations per request (verify the request, sign the answer), so its CPU per request \
         is set against the same floor. `openssl speed` counts operations per second of CPU \
         time, so the floor is not disturbed much by other load.{}",
        r.pool_cpu_ms_each
            .map(|ms| format!(
                " For scale: pre-signing the requests for the runs without the hub took \
                 {ms:.3} ms of CPU per envelope with `wssec::sign_envelope` (RSA sign, C14N, \
                 digests, XML), all threads together."
            ))
            .unwrap_or_default()
    ));
    line(String::new());

    line("## Summary (medians over rounds)".into());
    line(String::new());
    line(
        "| Variant | Callers | Exchanges/s | p50 ms | p99 ms | Errors | CPU 0 process ms / \
         exchange | × floor | KiB to disk / exchange | Simulator ms / request | × floor | Core \
         used | CPU 0 busy |"
            .into(),
    );
    line("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|".into());
    for variant in Variant::ALL {
        for &callers in &knobs.callers {
            let runs = get(variant, callers);
            if runs.is_empty() {
                continue;
            }
            let errors: u64 = runs
                .iter()
                .map(|r| r.error_count() + r.error_outside_count())
                .sum();
            let front = median_by(runs, RunResult::front_ms);
            let sim = median_by(runs, RunResult::sim_ms);
            line(format!(
                "| {} | {callers} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                variant.title(),
                opt(median_by(runs, |r| Some(r.throughput)), 1),
                opt(median_by(runs, |r| r.p50_ms), 1),
                opt(median_by(runs, |r| r.p99_ms), 1),
                if errors == 0 {
                    "0".to_string()
                } else {
                    format!("**{errors}**")
                },
                match variant.front() {
                    "none" => "– (no hub)".to_string(),
                    who => format!("{} ({who})", opt(front, 3)),
                },
                opt(front.map(|f| f / floor_ms), 2),
                opt(median_by(runs, RunResult::front_kib_written), 1),
                opt(sim, 3),
                opt(sim.map(|s| s / floor_ms), 2),
                pct(median_by(runs, RunResult::front_core)),
                pct(median_by(runs, |r| r.cpu0_busy)),
            ));
        }
    }
    line(String::new());
    line(
        "Errors = every non-success of every round, in the window, in the warm-up or after it \
         (details below). \"CPU 0 process\" is the hub, or nginx (master and worker) for the \
         proxy; divided by the successful exchanges of the window."
            .into(),
    );
    line(String::new());

    // Ratios.
    line("## Ratios".into());
    line(String::new());
    line("| Callers | Comparison | Value |".into());
    line("|---:|---|---:|".into());
    for &callers in &knobs.callers {
        let med = |v: Variant, f: &dyn Fn(&RunResult) -> Option<f64>| {
            median_by(get(v, callers), |r| f(r))
        };
        let mut rows: Vec<(String, Option<f64>)> = Vec::new();
        let hub_soap = med(Variant::SyncSoap, &RunResult::front_ms);
        let nginx = med(Variant::Nginx, &RunResult::front_ms);
        rows.push((
            "Hub CPU per sync SOAP exchange / floor".into(),
            hub_soap.map(|h| h / floor_ms),
        ));
        rows.push((
            "Hub CPU per sync REST exchange / floor".into(),
            med(Variant::SyncRest, &RunResult::front_ms).map(|h| h / floor_ms),
        ));
        rows.push((
            "Hub CPU per async exchange (embedded queue) / floor".into(),
            med(Variant::AsyncEmbedded, &RunResult::front_ms).map(|h| h / floor_ms),
        ));
        rows.push((
            "Hub CPU per async exchange (RabbitMQ) / floor".into(),
            med(Variant::AsyncRabbit, &RunResult::front_ms).map(|h| h / floor_ms),
        ));
        rows.push((
            "Hub CPU per async REST exchange (embedded queue) / floor".into(),
            med(Variant::AsyncRestEmbedded, &RunResult::front_ms).map(|h| h / floor_ms),
        ));
        rows.push((
            "Hub CPU per async REST exchange (RabbitMQ) / floor".into(),
            med(Variant::AsyncRestRabbit, &RunResult::front_ms).map(|h| h / floor_ms),
        ));
        rows.push((
            "Hub CPU per sync SOAP exchange / nginx CPU per proxied request".into(),
            hub_soap.zip(nginx).map(|(h, n)| h / n),
        ));
        rows.push((
            "nginx CPU per proxied request / floor".into(),
            nginx.map(|n| n / floor_ms),
        ));
        let tp = |v: Variant| med(v, &|r: &RunResult| Some(r.throughput));
        rows.push((
            "Sync SOAP exchanges/s through the hub / requests/s to the simulator alone".into(),
            tp(Variant::SyncSoap)
                .zip(tp(Variant::Simulator))
                .map(|(a, b)| a / b),
        ));
        rows.push((
            "Requests/s through nginx / requests/s to the simulator alone".into(),
            tp(Variant::Nginx)
                .zip(tp(Variant::Simulator))
                .map(|(a, b)| a / b),
        ));
        rows.push((
            "Simulator CPU per request (alone) / floor".into(),
            med(Variant::Simulator, &RunResult::sim_ms).map(|s| s / floor_ms),
        ));
        for (label, value) in rows {
            if let Some(v) = value {
                line(format!("| {callers} | {label} | {v:.2} |"));
            }
        }
    }
    line(String::new());

    line("## Every run".into());
    line(String::new());
    for variant in Variant::ALL {
        if !knobs.callers.iter().any(|c| !get(variant, *c).is_empty()) {
            continue;
        }
        line(format!("### {}", variant.title()));
        line(String::new());
        line(
            "| Callers | Round | Exchanges/s | OK | Errors | p50 ms | p99 ms | CPU 0 process ms / \
             ex. | CPU 0 process KiB to disk / ex. | Simulator ms / req. | Broker ms / ex. | Load \
             gen. ms / ex. | Core used | CPU 0 busy | CPU 1 busy | Reused |"
                .into(),
        );
        line(
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
                .into(),
        );
        for &callers in &knobs.callers {
            for run in get(variant, callers) {
                line(format!(
                    "| {callers} | {} | {:.1} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | \
                     {} | {} | {} |",
                    run.round,
                    run.throughput,
                    run.ok,
                    run.error_count() + run.error_outside_count(),
                    opt(run.p50_ms, 1),
                    opt(run.p99_ms, 1),
                    opt(run.front_ms(), 3),
                    opt(run.front_kib_written(), 1),
                    opt(run.sim_ms(), 3),
                    opt(run.broker_ms(), 3),
                    opt(run.per_ok_ms(run.loadgen_cpu_s), 3),
                    pct(run.front_core()),
                    pct(run.cpu0_busy),
                    pct(run.cpu1_busy),
                    run.reused,
                ));
            }
        }
        line(String::new());
    }

    line("## Errors and log lines".into());
    line(String::new());
    let mut any = false;
    for variant in Variant::ALL {
        for &callers in &knobs.callers {
            for run in get(variant, callers) {
                let mut parts = Vec::new();
                if !run.errors.is_empty() {
                    parts.push(format!("in the window: {}", counts(&run.errors)));
                }
                if !run.errors_outside.is_empty() {
                    parts.push(format!(
                        "warm-up or after the window: {}",
                        counts(&run.errors_outside)
                    ));
                }
                if run.unfinished > 0 {
                    parts.push(format!("{} callers never finished", run.unfinished));
                }
                if run.reused > 0 {
                    parts.push(format!("{} pre-signed requests sent again", run.reused));
                }
                if !run.log_lines.is_empty() {
                    parts.push(format!("log lines: {}", counts(&run.log_lines)));
                }
                if parts.is_empty() {
                    continue;
                }
                any = true;
                line(format!(
                    "- {}, {callers} callers, round {}: {}.",
                    variant.key(),
                    run.round,
                    parts.join("; ")
                ));
                for sample in &run.log_samples {
                    line(format!("  - `{}`", sample.replace('`', "'")));
                }
            }
        }
    }
    if !any {
        line(
            "None: every operation of every run succeeded and no process logged a warning.".into(),
        );
    }
    line(String::new());

    line("## What the figures mean".into());
    line(String::new());
    for text in [
        "- **Exchanges/s**: successful exchanges (for the variants without the hub, successful \
         requests) that finished inside the measured window, divided by its length. For async \
         variants, an exchange finishes when the store shows it `completed`: this is the \
         completion rate, not the accept rate.",
        "- **p50 / p99 ms**: nearest-rank percentiles of the successful operations of the \
         window, as the caller sees them: request sent to answer read (sync, and without the \
         hub), or submission sent to completion seen in the store (async; includes up to 5 ms \
         of polling).",
        "- **Errors**: every operation that did not succeed (HTTP status other than the \
         expected one, problem code, failed exchange, transport error, time-out), in the \
         window or not; never left out of the counts above.",
        "- **CPU 0 process ms / exchange**: user + system CPU time of the hub process (all its \
         threads) over the window, from `/proc/<pid>/stat`, divided by the successful exchanges \
         of the window. For the proxy, the same for nginx's master and worker. It includes \
         everything the hub does per exchange: TLS with the caller and with the registry, JSON \
         parsing and schema checks, access checks, the store (SQLite), signing the request, \
         verifying the answer and its binding, mapping and validating the result.",
        "- **KiB to disk / exchange**: what the same process sent towards the disk over the \
         window (`write_bytes` of `/proc/<pid>/io`: the store's write-ahead log and database \
         pages), divided by the successful exchanges; it does not change with the machine's \
         load as CPU time does.",
        "- **× floor**: that CPU time divided by the floor (1/sign + 1/verify of RSA-2048 on \
         CPU 0). 1.0 would be a hub that does nothing but its two RSA operations.",
        "- **Simulator ms / request**: the same for the simulators' process (one request per \
         exchange).",
        "- **Broker ms / exchange** (RabbitMQ only) and **load gen. ms**: the same for the \
         broker and for the load generator, for scale.",
        "- **Core used**: the CPU 0 process's (hub's or nginx's) CPU time over the window's \
         wall time: 100 % means the hub kept its core busy (CPU-bound); less means it waited \
         (store, registry, callers) or was crowded out of CPU 0 by other processes (compare \
         with **CPU 0 busy**, the share of CPU 0 any process used).",
    ] {
        line(text.into());
    }
    line(String::new());

    line("## Reading".into());
    line(String::new());
    line(interpretation(r, floor_ms));
    line(String::new());
    md
}

/// A few sentences from the medians; claims that depend on the numbers are made only when the
/// numbers support them.
fn interpretation(r: &Report<'_>, floor_ms: f64) -> String {
    let get = |v: Variant, c: usize| r.results.get(&(v, c)).map(Vec::as_slice).unwrap_or(&[]);
    let mut text = Vec::new();
    let Some(&callers) = r.knobs.callers.iter().max() else {
        return String::new();
    };
    let med =
        |v: Variant, f: &dyn Fn(&RunResult) -> Option<f64>| median_by(get(v, callers), |r| f(r));
    if let Some(hub) = med(Variant::SyncSoap, &RunResult::front_ms) {
        let mut s = format!(
            "With {callers} callers the hub spent {hub:.2} ms of CPU per synchronous SOAP \
             exchange, {:.1}× the floor of {floor_ms:.3} ms",
            hub / floor_ms
        );
        if let Some(n) = med(Variant::Nginx, &RunResult::front_ms) {
            s.push_str(&format!(
                "; a proxy that signs nothing (nginx, mTLS on both sides) spent {n:.3} ms per \
                 request, so about {:.2} ms per exchange is the hub's own work beyond TLS \
                 termination and forwarding",
                hub - n
            ));
        }
        s.push('.');
        text.push(s);
        if let Some(core) = med(Variant::SyncSoap, &RunResult::front_core) {
            let tp = med(Variant::SyncSoap, &|r: &RunResult| Some(r.throughput)).unwrap_or(0.0);
            let cpu0 = med(Variant::SyncSoap, &|r: &RunResult| r.cpu0_busy).unwrap_or(0.0);
            let cpu1 = med(Variant::SyncSoap, &|r: &RunResult| r.cpu1_busy).unwrap_or(0.0);
            if core > 0.85 {
                text.push(format!(
                    "The hub kept its core {:.0} % busy at {tp:.0} exchanges/s, so at this load \
                     it is CPU-bound and its throughput on one core is about 1000 / {hub:.2} \
                     ≈ {:.0} exchanges/s.",
                    core * 100.0,
                    1000.0 / hub
                ));
            } else if cpu0 > 0.9 {
                text.push(format!(
                    "The hub got only {:.0} % of CPU 0 at {tp:.0} exchanges/s while CPU 0 was \
                     {:.0} % busy: other processes on the machine took the rest{}, so the rates \
                     here are bounded by the CPU the hub was given; on a core of its own it \
                     would manage about 1000 / {hub:.2} ≈ {:.0} exchanges/s if nothing else \
                     limits it first.",
                    core * 100.0,
                    cpu0 * 100.0,
                    if cpu1 > 0.9 {
                        format!(
                            ", and CPU 1 (simulators and load generator) was {:.0} % busy too",
                            cpu1 * 100.0
                        )
                    } else {
                        String::new()
                    },
                    1000.0 / hub
                ));
            } else {
                text.push(format!(
                    "The hub used only {:.0} % of its core at {tp:.0} exchanges/s: something \
                     other than its CPU bounds the rate at this load (its store's synchronous \
                     commits, the simulators or the load generator sharing CPU 1, or other \
                     processes on CPU 0; see CPU 0/1 busy).",
                    core * 100.0
                ));
            }
        }
    }
    if let (Some(sign), Some(hub)) = (
        r.pool_cpu_ms_each,
        med(Variant::SyncSoap, &RunResult::front_ms),
    ) {
        let rsa_sign_ms = 1000.0 / r.floors[0].sign_per_s.max(r.floors[1].sign_per_s);
        let (times_rsa, share) = (sign / rsa_sign_ms, sign / hub);
        text.push(format!(
            "Where the hub's time goes, roughly: signing one envelope with \
             `wssec::sign_envelope` alone cost {sign:.2} ms of CPU when the bench pre-signed \
             its requests ({times_rsa:.1}× an RSA-2048 signature by `openssl speed`), about \
             {:.0} % of the hub's {hub:.2} ms per SOAP exchange{}.",
            share * 100.0,
            if times_rsa > 2.0 && share > 0.25 {
                "; the XML signature work around the RSA operation is a large part of the cost"
            } else {
                ""
            }
        ));
    }
    if let (Some(sim_tp), Some(sim_ms)) = (
        med(Variant::Simulator, &|r: &RunResult| Some(r.throughput)),
        med(Variant::Simulator, &RunResult::sim_ms),
    ) {
        text.push(format!(
            "The simulator alone answered {sim_tp:.0} requests/s at {sim_ms:.2} ms of CPU per \
             request ({:.1}× the floor; it shares CPU 1 with the load generator).",
            sim_ms / floor_ms
        ));
    }
    if let (Some(emb), Some(sync)) = (
        med(Variant::AsyncEmbedded, &RunResult::front_ms),
        med(Variant::SyncSoap, &RunResult::front_ms),
    ) {
        let mut s = format!(
            "An asynchronous exchange cost the hub {emb:.2} ms through the embedded queue \
             ({:.2}× a synchronous one: the sealed request and result and the queue's extra \
             store writes)",
            emb / sync
        );
        if let Some(rab) = med(Variant::AsyncRabbit, &RunResult::front_ms) {
            s.push_str(&format!(", {rab:.2} ms through RabbitMQ"));
            if let Some(b) = med(Variant::AsyncRabbit, &RunResult::broker_ms) {
                s.push_str(&format!(" (plus {b:.2} ms in the broker)"));
            }
        }
        s.push('.');
        text.push(s);
    }
    let noisy: Vec<String> = Variant::ALL
        .into_iter()
        .flat_map(|v| r.knobs.callers.iter().map(move |c| (v, *c)))
        .filter(|(v, _)| *v != Variant::Simulator)
        .filter_map(|(v, c)| {
            let runs = get(v, c);
            let busy = median_by(runs, |r| r.cpu0_busy)?;
            let own = median_by(runs, RunResult::front_core).unwrap_or(0.0);
            (busy - own > 0.15).then(|| format!("{} × {c}: {:.0} %", v.key(), (busy - own) * 100.0))
        })
        .collect();
    if !noisy.is_empty() {
        text.push(format!(
            "Other processes took a noticeable share of CPU 0 in some runs (CPU 0 busy minus \
             core used: {}); rates there are lower than on a quiet machine, CPU per exchange \
             much less affected.",
            noisy.join(", ")
        ));
    }
    text.join(" ")
}
