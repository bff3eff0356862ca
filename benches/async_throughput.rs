//! Throughput and latency of asynchronous exchanges: the embedded queue against RabbitMQ, with
//! raw lapin publish-with-confirm figures on the same broker as a yardstick.
//!
//! `cargo bench --bench async_throughput` (or `scripts/bench-async.sh`, which also starts a
//! throwaway RabbitMQ). Every measurement runs in a fresh child process of this binary (fresh
//! SQLite file, fresh hub, fresh simulator, fresh broker namespace), so runs cannot leak
//! workers or rows into each other. The variants are interleaved round by round and the
//! report gives every run, the median of each variant and ratios between variants.
//!
//! Environment:
//! - `ESOCIAL_TEST_AMQP_URL`: the broker; without it only the embedded queue is measured;
//! - `BENCH_N` (2000): async exchanges per run; `BENCH_LAPIN_N` (`BENCH_N`): raw messages;
//! - `BENCH_CONCURRENCY` (32): concurrent submitting tasks;
//! - `BENCH_WORKERS` (16): `queue.concurrency_per_registry` (also the RabbitMQ prefetch);
//! - `BENCH_RUNS` (3): rounds; `BENCH_WINDOW` (100): confirms in flight when pipelined;
//! - `BENCH_WARMUP` (`BENCH_N` / 10, 0 = none): exchanges of an unreported warm-up run;
//! - `BENCH_REPORT` (`reports/async-benchmark.md`): where the Markdown report is written.

#[path = "common/machine.rs"]
#[allow(dead_code)]
mod machine;

use machine::{
    adapters_dir, clock_ticks, contracts_dir, filesystem_of, logical_cpus, machine_section,
    percentile, rustc_version,
};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use esocial_catalog::Catalog;
use esocial_hub::config::{QueueConfig, QueueKind, RegistryOverride};
use esocial_hub::demo::{DEMO_CLIENT, DEMO_UNGRANTED_CLIENT, demo_grants, embedded_settings};
use esocial_hub::startup::Application;
use esocial_sim::population::Population;
use esocial_sim::{Behaviour, SimulatorConfig};
use esocial_store::{ExchangeStatus, Store};
use esocial_wire::crypto::pki::{PkiLayout, client_holder, init_dev_pki};
use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Confirmation, Connection, ConnectionProperties};
use secrecy::SecretString;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The service every exchange asks for: one registry call, SOAP, signed both ways.
const SERVICE: &str = "civil.person-details";
/// Marks the line of a child's standard output that carries its result.
const RESULT_PREFIX: &str = "BENCH-RESULT ";
/// Set (to a variant name) in the environment of child processes.
const CHILD_VAR: &str = "ASYNC_BENCH_CHILD";
const PKI_VAR: &str = "ASYNC_BENCH_PKI";
/// Where the diagnostic variants keep their SQLite file.
const TMPFS: &str = "/dev/shm";

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Variant {
    Embedded,
    Rabbit,
    LapinSequential,
    LapinPipelined,
    /// Diagnostics: the same hubs with the SQLite file in memory (tmpfs), to tell the store's
    /// commits apart from the rest.
    EmbeddedTmpfs,
    RabbitTmpfs,
}

impl Variant {
    const ALL: [Variant; 6] = [
        Variant::Embedded,
        Variant::Rabbit,
        Variant::LapinSequential,
        Variant::LapinPipelined,
        Variant::EmbeddedTmpfs,
        Variant::RabbitTmpfs,
    ];

    fn key(self) -> &'static str {
        match self {
            Variant::Embedded => "embedded",
            Variant::Rabbit => "rabbitmq",
            Variant::LapinSequential => "lapin-sequential",
            Variant::LapinPipelined => "lapin-pipelined",
            Variant::EmbeddedTmpfs => "embedded-tmpfs",
            Variant::RabbitTmpfs => "rabbitmq-tmpfs",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.key() == text)
    }

    fn title(self, window: usize) -> String {
        match self {
            Variant::Embedded => "Hub, embedded queue (SQLite)".into(),
            Variant::Rabbit => "Hub, RabbitMQ queue".into(),
            Variant::LapinSequential => {
                "Raw lapin, publish + wait for each confirm (no hub)".into()
            }
            Variant::LapinPipelined => {
                format!("Raw lapin, confirms pipelined in windows of {window} (no hub)")
            }
            Variant::EmbeddedTmpfs => "Diagnostic: hub, embedded queue, SQLite on tmpfs".into(),
            Variant::RabbitTmpfs => "Diagnostic: hub, RabbitMQ queue, SQLite on tmpfs".into(),
        }
    }

    fn is_hub(self) -> bool {
        !matches!(self, Variant::LapinSequential | Variant::LapinPipelined)
    }

    fn uses_rabbit(self) -> bool {
        !matches!(self, Variant::Embedded | Variant::EmbeddedTmpfs)
    }

    fn on_tmpfs(self) -> bool {
        matches!(self, Variant::EmbeddedTmpfs | Variant::RabbitTmpfs)
    }
}

/// Knobs, read from the environment (the same in parent and children).
#[derive(Clone, Debug)]
struct Knobs {
    n: usize,
    lapin_n: usize,
    concurrency: usize,
    workers: usize,
    runs: usize,
    window: usize,
    warmup: usize,
    diagnostics: bool,
    amqp_url: Option<String>,
}

fn env_usize(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(text) => text
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a whole number, not `{text}`")),
        Err(_) => default,
    }
}

impl Knobs {
    fn from_env() -> Self {
        let n = env_usize("BENCH_N", 2000).max(1);
        Self {
            n,
            lapin_n: env_usize("BENCH_LAPIN_N", 20_000).max(1),
            concurrency: env_usize("BENCH_CONCURRENCY", 32).max(1),
            workers: env_usize("BENCH_WORKERS", 16).clamp(1, 256),
            runs: env_usize("BENCH_RUNS", 3).max(1),
            window: env_usize("BENCH_WINDOW", 100).max(1),
            warmup: env_usize("BENCH_WARMUP", n / 10),
            diagnostics: env_usize("BENCH_DIAGNOSTICS", 1) != 0 && Path::new(TMPFS).is_dir(),
            amqp_url: std::env::var("ESOCIAL_TEST_AMQP_URL")
                .ok()
                .filter(|u| !u.is_empty()),
        }
    }

    /// The queue settings of the hub under test.
    fn queue(&self, variant: Variant) -> QueueConfig {
        let mut config = QueueConfig {
            max_attempts: 5,
            base_delay_ms: 20,
            max_delay_ms: 200,
            // Long enough that nothing is re-leased or republished during a run: every
            // exchange is processed once.
            lease_ms: 300_000,
            republish_after_ms: 300_000,
            breaker_threshold: 1_000,
            concurrency_per_registry: self.workers,
            ..QueueConfig::default()
        };
        if matches!(variant, Variant::Rabbit | Variant::RabbitTmpfs) {
            config.backend = QueueKind::Rabbitmq;
            config.amqp_url = Some(SecretString::from(
                self.amqp_url
                    .clone()
                    .expect("RabbitMQ variant without a URL"),
            ));
            config.namespace = format!("bench-{}", uuid::Uuid::new_v4().simple());
        }
        config
    }
}

fn main() {
    // `cargo test --all-targets` runs bench targets without `--bench`; measure only under
    // `cargo bench` (or in a child run of it).
    if std::env::var(CHILD_VAR).is_err() && !std::env::args().any(|arg| arg == "--bench") {
        eprintln!("async_throughput: a benchmark; run it with `scripts/bench-async.sh`");
        return;
    }
    let knobs = Knobs::from_env();
    if let Ok(variant) = std::env::var(CHILD_VAR) {
        let variant = Variant::parse(&variant).expect("known variant");
        let n = env_usize("ASYNC_BENCH_RUN_N", knobs.n);
        let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
        let result = runtime.block_on(child(variant, n, &knobs));
        match result {
            Ok(value) => {
                let mut out = std::io::stdout().lock();
                writeln!(out, "{RESULT_PREFIX}{value}").expect("stdout");
                out.flush().expect("stdout");
                // Listeners and workers run on threads of their own; do not wait for them.
                std::process::exit(0);
            }
            Err(error) => {
                eprintln!("async_throughput: {} run failed: {error}", variant.key());
                std::process::exit(1);
            }
        }
    }
    if let Err(error) = parent(&knobs) {
        eprintln!("async_throughput: {error}");
        std::process::exit(1);
    }
}

// ---------------------------------------------------------------------------------------------
// Parent: one development PKI, the children round by round, the report.

fn parent(knobs: &Knobs) -> Result<(), BoxError> {
    let started = OffsetDateTime::now_utc();
    let pki_dir = tempfile::tempdir()?;
    let catalog = Catalog::load(&adapters_dir(), &contracts_dir())?;
    let registries: Vec<String> = catalog.registries().map(|r| r.name.clone()).collect();
    init_dev_pki(
        &PkiLayout::new(pki_dir.path()),
        &registries,
        &[DEMO_CLIENT.to_string(), DEMO_UNGRANTED_CLIENT.to_string()],
    )?;

    if knobs.amqp_url.is_none() {
        eprintln!(
            "async_throughput: ESOCIAL_TEST_AMQP_URL is not set: measuring the embedded queue \
             only (scripts/bench-async.sh starts a RabbitMQ and measures everything)"
        );
    }
    let variants: Vec<Variant> = Variant::ALL
        .into_iter()
        .filter(|v| knobs.amqp_url.is_some() || !v.uses_rabbit())
        .filter(|v| knobs.diagnostics || !v.on_tmpfs())
        .collect();
    let load_before = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();

    if knobs.warmup > 0 {
        for variant in variants.iter().filter(|v| v.is_hub() && !v.on_tmpfs()) {
            eprintln!(
                "async_throughput: warm-up {} ({} exchanges, not reported)",
                variant.key(),
                knobs.warmup
            );
            run_child(*variant, knobs.warmup, pki_dir.path())?;
        }
    }

    let mut results: BTreeMap<Variant, Vec<Value>> = BTreeMap::new();
    for round in 0..knobs.runs {
        // Rotate the order so that no variant always runs first (or right after another).
        let mut order = variants.clone();
        order.rotate_left(round % variants.len());
        for variant in order {
            let n = if variant.is_hub() {
                knobs.n
            } else {
                knobs.lapin_n
            };
            eprintln!(
                "async_throughput: round {}/{} {} (n = {n})",
                round + 1,
                knobs.runs,
                variant.key()
            );
            let mut value = run_child(variant, n, pki_dir.path())?;
            value["round"] = json!(round + 1);
            eprintln!("async_throughput:   {value}");
            results.entry(variant).or_default().push(value);
        }
    }
    let load_after = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();

    let report = render_report(knobs, started, &results, &load_before, &load_after);
    let mut out = std::io::stdout().lock();
    writeln!(out, "{report}")?;
    out.flush()?;
    let path = std::env::var("BENCH_REPORT")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("reports/async-benchmark.md")
        });
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&path, report)?;
    eprintln!("async_throughput: report written to {}", path.display());
    Ok(())
}

/// Runs one measurement in a fresh process of this binary and returns its result.
fn run_child(variant: Variant, n: usize, pki: &Path) -> Result<Value, BoxError> {
    let output = Command::new(std::env::current_exe()?)
        .env(CHILD_VAR, variant.key())
        .env(PKI_VAR, pki)
        .env("ASYNC_BENCH_RUN_N", n.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .output()?;
    if !output.status.success() {
        return Err(format!("{} run exited with {}", variant.key(), output.status).into());
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix(RESULT_PREFIX))
        .ok_or_else(|| format!("{} run printed no result", variant.key()))?;
    Ok(serde_json::from_str(line)?)
}

// ---------------------------------------------------------------------------------------------
// Children: one measurement each.

async fn child(variant: Variant, n: usize, knobs: &Knobs) -> Result<Value, BoxError> {
    match variant {
        Variant::Embedded | Variant::Rabbit | Variant::EmbeddedTmpfs | Variant::RabbitTmpfs => {
            hub_run(variant, n, knobs).await
        }
        Variant::LapinSequential => lapin_run(n, 1, knobs).await,
        Variant::LapinPipelined => lapin_run(n, knobs.window, knobs).await,
    }
}

/// A hub with one fast simulator behind it, in this process.
struct Hub {
    address: String,
    client: reqwest::Client,
    store: Store,
    population: Arc<Population>,
    _dir: tempfile::TempDir,
}

async fn start_hub(variant: Variant, knobs: &Knobs) -> Result<Hub, BoxError> {
    esocial_hub::telemetry::init("warn", false);
    let pki = PkiLayout::new(std::env::var(PKI_VAR)?);
    let dir = if variant.on_tmpfs() {
        tempfile::tempdir_in(TMPFS)?
    } else {
        tempfile::tempdir()?
    };
    let catalog = Catalog::load(&adapters_dir(), &contracts_dir())?;
    let population = Arc::new(Population::default_population());
    let mut settings = embedded_settings(
        &pki,
        &dir.path().join("hub.db"),
        &adapters_dir(),
        &contracts_dir(),
        demo_grants(&catalog),
        SecretString::from("bench-digest-key-0123456789abcdef0123456789"),
        "127.0.0.1:0".parse()?,
        "127.0.0.1:0".parse()?,
    );
    settings.queue = knobs.queue(variant);
    // Only the registry the load calls gets a simulator (no delay, no faults); the others are
    // never called.
    let registry = catalog
        .service(SERVICE)
        .ok_or("unknown service")?
        .registry
        .clone();
    let simulator = esocial_sim::start(
        &catalog,
        &registry,
        SimulatorConfig::from_dev_pki(
            &pki,
            &registry,
            "127.0.0.1:0".parse()?,
            population.clone(),
            Behaviour::default(),
        )?,
    )?;
    tokio::spawn(simulator.server);
    let endpoint = catalog.registry(&registry).ok_or("unknown registry")?;
    let path = reqwest::Url::parse(&endpoint.endpoint)?.path().to_string();
    settings.registries.insert(
        registry.clone(),
        RegistryOverride {
            endpoint: Some(format!("https://127.0.0.1:{}{path}", simulator.port)),
            ..RegistryOverride::default()
        },
    );
    let application = Application::build(settings).await?;
    let address = format!("https://127.0.0.1:{}", application.api_port());
    let store = application.store().clone();
    tokio::spawn(application.run_until_stopped());

    let holder = client_holder(DEMO_CLIENT);
    let client = esocial_hub::demo::https_client_builder(&pki, &holder)?
        .pool_max_idle_per_host(knobs.concurrency)
        .timeout(Duration::from_secs(60))
        .build()?;
    Ok(Hub {
        address,
        client,
        store,
        population,
        _dir: dir,
    })
}

fn request_body(population: &Population, subject: usize) -> Value {
    let persons = population.persons();
    json!({
        "service": SERVICE,
        "mode": "async",
        "subject": {"idnp": persons[subject].idnp.expose()},
        "purpose": {
            "legalBasis": "Legea nr. 123/2010, art. 12",
            "reason": "Evaluarea inițială a cazului",
            "caseId": "BENCH-1"
        },
        "caller": {"userIdnp": persons[1].idnp.expose()}
    })
}

fn parse_time(text: &str) -> Result<OffsetDateTime, BoxError> {
    Ok(OffsetDateTime::parse(text, &Rfc3339)?)
}

fn millis(duration: time::Duration) -> f64 {
    duration.as_seconds_f64() * 1000.0
}

async fn hub_run(variant: Variant, n: usize, knobs: &Knobs) -> Result<Value, BoxError> {
    let hub = Arc::new(start_hub(variant, knobs).await?);
    // Living persons of the population, in turn: each is a real lookup with a full answer.
    let subjects: Arc<Vec<usize>> = Arc::new(
        hub.population
            .persons()
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.deceased)
            .map(|(i, _)| i)
            .collect(),
    );
    // One exchange first, so that TLS sessions, the store and the broker are warm.
    let probe = hub
        .client
        .post(format!("{}/api/v1/exchanges", hub.address))
        .json(&request_body(&hub.population, subjects[0]))
        .send()
        .await?;
    if probe.status().as_u16() != 202 {
        return Err(format!("probe answered {}", probe.status()).into());
    }
    wait_until_idle(&hub.store, Duration::from_secs(30)).await?;

    let next = Arc::new(AtomicUsize::new(0));
    let cpu = CpuMeter::start();
    let started_at = OffsetDateTime::now_utc();
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..knobs.concurrency.min(n) {
        let (hub, next, subjects) = (hub.clone(), next.clone(), subjects.clone());
        tasks.spawn(async move {
            let mut ids = Vec::new();
            let mut refused = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let body = request_body(&hub.population, subjects[i % subjects.len()]);
                let answer = hub
                    .client
                    .post(format!("{}/api/v1/exchanges", hub.address))
                    .json(&body)
                    .send()
                    .await;
                match answer {
                    Ok(response) if response.status().as_u16() == 202 => {
                        let value: Value = response.json().await?;
                        let id = value["exchangeId"]
                            .as_str()
                            .ok_or("202 without exchangeId")?
                            .parse::<uuid::Uuid>()?;
                        ids.push(id);
                    }
                    Ok(response) => refused.push(response.status().as_u16().to_string()),
                    Err(error) => refused.push(format!("transport: {error}")),
                }
            }
            Ok::<_, BoxError>((ids, refused))
        });
    }
    let mut ids = Vec::with_capacity(n);
    let mut refused: Vec<String> = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (mut mine, mut theirs) = joined??;
        ids.append(&mut mine);
        refused.append(&mut theirs);
    }
    let accepted_in = started.elapsed();
    wait_until_idle(&hub.store, Duration::from_secs(600)).await?;
    let idle_in = started.elapsed();
    let cpu = cpu.stop(idle_in.as_secs_f64());

    let mut latencies = Vec::with_capacity(ids.len());
    let mut last_completion = started_at;
    let mut failed = 0usize;
    let mut attempts = 0i64;
    for id in &ids {
        let record = hub
            .store
            .exchange(*id)
            .await?
            .ok_or("accepted exchange missing from the store")?;
        if record.status != ExchangeStatus::Completed {
            failed += 1;
        }
        attempts += record.attempts;
        let received = parse_time(&record.received_at)?;
        let completed = parse_time(
            record
                .completed_at
                .as_deref()
                .ok_or("ended exchange without completed_at")?,
        )?;
        last_completion = last_completion.max(completed);
        latencies.push(millis(completed - received));
    }
    latencies.sort_by(f64::total_cmp);
    let wall = (last_completion - started_at).as_seconds_f64();
    if !refused.is_empty() {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for r in &refused {
            *counts.entry(r.as_str()).or_default() += 1;
        }
        eprintln!("async_throughput: refused submissions: {counts:?}");
    }
    let result = json!({
        "variant": variant.key(),
        "n": n,
        "accepted": ids.len(),
        "refused": refused.len(),
        "failed": failed,
        "attempts": attempts,
        "wall_s": wall,
        "throughput": ids.len() as f64 / wall,
        "accept_rate": ids.len() as f64 / accepted_in.as_secs_f64(),
        "drain_s": idle_in.as_secs_f64(),
        "p50_ms": percentile(&latencies, 50.0),
        "p95_ms": percentile(&latencies, 95.0),
        "p99_ms": percentile(&latencies, 99.0),
        "max_ms": latencies.last().copied().unwrap_or_default(),
    });
    Ok(merge(result, cpu))
}

/// Waits until no exchange is in progress.
async fn wait_until_idle(store: &Store, limit: Duration) -> Result<(), BoxError> {
    let deadline = Instant::now() + limit;
    loop {
        if store.count_by_status(ExchangeStatus::InProgress).await? == 0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("exchanges still in progress after {limit:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

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

/// The pid of the broker started by scripts/start-rabbitmq.sh, if known.
fn broker_pid() -> Option<String> {
    let base = std::env::var("ESOCIAL_RABBITMQ_BASE").ok()?;
    let pid = std::fs::read_to_string(Path::new(&base).join("rabbitmq.pid")).ok()?;
    Some(pid.trim().to_string())
}

/// CPU time of this process and of the broker, to tell how busy the machine was.
struct CpuMeter {
    own: Option<f64>,
    broker: Option<(String, f64)>,
}

impl CpuMeter {
    fn start() -> Self {
        Self {
            own: cpu_seconds("self"),
            broker: broker_pid().and_then(|pid| cpu_seconds(&pid).map(|s| (pid, s))),
        }
    }

    /// CPU seconds of this process and of the broker since `start`, and the share of all
    /// cores that both used over `wall` seconds.
    fn stop(&self, wall: f64) -> Value {
        let own = self
            .own
            .and_then(|before| Some(cpu_seconds("self")? - before));
        let broker = self
            .broker
            .as_ref()
            .and_then(|(pid, before)| Some(cpu_seconds(pid)? - before));
        let cores = std::thread::available_parallelism()
            .map(|n| n.get() as f64)
            .unwrap_or(1.0);
        let busy = own.map(|o| (o + broker.unwrap_or(0.0)) / (wall * cores));
        json!({"cpu_own_s": own, "cpu_broker_s": broker, "cpu_busy": busy})
    }
}

fn merge(mut value: Value, extra: Value) -> Value {
    if let (Some(target), Value::Object(extra)) = (value.as_object_mut(), extra) {
        target.extend(extra);
    }
    value
}

/// Publishes `n` small persistent messages to a durable queue of its own with publisher
/// confirms, `window` at a time (1 = wait for each confirm before the next publish).
async fn lapin_run(n: usize, window: usize, knobs: &Knobs) -> Result<Value, BoxError> {
    let url = knobs
        .amqp_url
        .as_deref()
        .ok_or("no ESOCIAL_TEST_AMQP_URL")?;
    let connection = Connection::connect(url, ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    let queue = format!("bench-raw-{}", uuid::Uuid::new_v4().simple());
    let mut arguments = FieldTable::default();
    arguments.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("classic".into()),
    );
    channel
        .queue_declare(
            queue.as_str().into(),
            QueueDeclareOptions::durable(),
            arguments,
        )
        .await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let publish = |id: String| {
        let channel = channel.clone();
        let queue = queue.clone();
        async move {
            channel
                .basic_publish(
                    "".into(),
                    queue.as_str().into(),
                    BasicPublishOptions {
                        mandatory: true,
                        ..BasicPublishOptions::default()
                    },
                    id.as_bytes(),
                    BasicProperties::default()
                        .with_delivery_mode(2)
                        .with_message_id(id.as_str().into())
                        .with_content_type("text/plain".into()),
                )
                .await
        }
    };
    // A few messages first so that the queue exists on disk and the channel is warm.
    for _ in 0..10 {
        expect_ack(publish(uuid::Uuid::new_v4().to_string()).await?.await?)?;
    }

    let mut latencies = Vec::with_capacity(n);
    let cpu = CpuMeter::start();
    let started = Instant::now();
    let mut sent = 0;
    while sent < n {
        let batch = window.min(n - sent);
        let batch_started = Instant::now();
        let mut confirms = Vec::with_capacity(batch);
        for _ in 0..batch {
            confirms.push(publish(uuid::Uuid::new_v4().to_string()).await?);
        }
        for confirm in confirms {
            expect_ack(confirm.await?)?;
        }
        // With window 1 this is the publish→confirm round trip of one message.
        latencies.push(batch_started.elapsed().as_secs_f64() * 1000.0);
        sent += batch;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu.stop(elapsed);
    let deleted = channel
        .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
        .await?;
    if deleted as usize != n + 10 {
        eprintln!(
            "async_throughput: raw queue held {deleted} messages, expected {}",
            n + 10
        );
    }
    connection.close(200, "bench done".into()).await?;
    latencies.sort_by(f64::total_cmp);
    let result = json!({
        "variant": if window == 1 { "lapin-sequential" } else { "lapin-pipelined" },
        "n": n,
        "window": window,
        "wall_s": elapsed,
        "throughput": n as f64 / elapsed,
        "p50_ms": percentile(&latencies, 50.0),
        "p95_ms": percentile(&latencies, 95.0),
        "p99_ms": percentile(&latencies, 99.0),
    });
    Ok(merge(result, cpu))
}

fn expect_ack(confirmation: Confirmation) -> Result<(), BoxError> {
    match confirmation {
        Confirmation::Ack(None) => Ok(()),
        other => Err(format!("broker did not ack: {other:?}").into()),
    }
}

// ---------------------------------------------------------------------------------------------
// The report.

fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

fn field(runs: &[Value], key: &str) -> Vec<f64> {
    runs.iter().filter_map(|r| r[key].as_f64()).collect()
}

fn median_of(runs: &[Value], key: &str) -> f64 {
    median(&mut field(runs, key))
}

/// Median over rounds of `a[key] / b[key]` (paired by round), and the ratio of the medians.
fn ratios(a: &[Value], b: &[Value], key: &str) -> (f64, f64) {
    let mut paired: Vec<f64> = a
        .iter()
        .filter_map(|x| {
            let round = &x["round"];
            let y = b.iter().find(|y| &y["round"] == round)?;
            Some(x[key].as_f64()? / y[key].as_f64()?)
        })
        .collect();
    (median(&mut paired), median_of(a, key) / median_of(b, key))
}

/// A few sentences on what bounds each figure, written from the measured medians. Claims
/// that depend on the numbers are only made when the numbers support them.
fn interpretation(knobs: &Knobs, results: &BTreeMap<Variant, Vec<Value>>) -> String {
    let get = |v: Variant| results.get(&v).map(Vec::as_slice).unwrap_or(&[]);
    let med = |v: Variant, key: &str| {
        let runs = get(v);
        (!runs.is_empty()).then(|| median_of(runs, key))
    };
    let cores = logical_cpus();
    let pct = |x: f64| format!("{:.0} %", x * 100.0);
    let mut text: Vec<String> = Vec::new();

    // The embedded queue against its polling bound.
    if let Some(emb) = med(Variant::Embedded, "throughput") {
        let busy = med(Variant::Embedded, "cpu_busy").unwrap_or(f64::NAN);
        // `startup.rs` polls the embedded queue every 200 ms.
        let bound = knobs.workers as f64 / 0.2;
        let tmpfs = med(Variant::EmbeddedTmpfs, "throughput");
        let mut sentence = format!(
            "The embedded queue completed {emb:.0} exchanges/s with the {cores} CPUs only {} \
             busy",
            pct(busy)
        );
        if emb <= bound * 1.15 && busy < 0.7 {
            sentence.push_str(&format!(
                ": its worker claims work when a new submission wakes it or when its 200 ms \
                 poll fires, and a finished exchange does not wake it, so with a backlog \
                 larger than its {} slots it cannot exceed about {} / 0.2 s = {bound:.0} \
                 exchanges/s",
                knobs.workers, knobs.workers
            ));
            if let Some(t) = tmpfs {
                sentence.push_str(&format!(
                    " (with the SQLite file on tmpfs it did {t:.0}/s, so the disk is not \
                     what holds it back)"
                ));
            }
        } else if let Some(t) = tmpfs {
            sentence.push_str(&format!(
                "; with the SQLite file on tmpfs it did {t:.0}/s ({:.2}× on disk)",
                t / emb
            ));
        }
        sentence.push('.');
        text.push(sentence);
    }

    // The hub through RabbitMQ: store, CPU or broker?
    if let Some(rab) = med(Variant::Rabbit, "throughput") {
        let busy = med(Variant::Rabbit, "cpu_busy").unwrap_or(f64::NAN);
        let mut sentence = format!(
            "Through RabbitMQ the hub completed {rab:.0} exchanges/s at {} CPU",
            pct(busy)
        );
        if let Some(emb) = med(Variant::Embedded, "throughput") {
            sentence.push_str(&format!(" ({:.2}× the embedded queue)", rab / emb));
        }
        match (
            med(Variant::RabbitTmpfs, "throughput"),
            med(Variant::RabbitTmpfs, "cpu_busy"),
        ) {
            (Some(t), Some(t_busy)) if t > rab * 1.3 => sentence.push_str(&format!(
                "; with the SQLite file on tmpfs it reached {t:.0}/s at {} CPU, so on disk it \
                 is bounded by the store's synchronous SQLite commits (at least three per \
                 exchange: submit, claim, finish) rather than by the broker, and without them \
                 by the CPU that hub, simulator (mTLS, WS-Security signing and verification on \
                 both sides), load generator and broker share",
                pct(t_busy)
            )),
            (Some(t), _) => sentence.push_str(&format!(
                "; with the SQLite file on tmpfs it did {t:.0}/s, so the store's disk writes \
                 are not what bounds it"
            )),
            _ if busy > 0.8 => sentence.push_str(
                ", i.e. it is CPU-bound: hub, simulator, load generator and broker share the \
                 same cores",
            ),
            _ => {}
        }
        sentence.push('.');
        text.push(sentence);
    }

    // What the broker itself costs.
    if let (Some(rab), Some(seq)) = (
        med(Variant::Rabbit, "throughput"),
        med(Variant::LapinSequential, "throughput"),
    ) {
        let seq_p50 = med(Variant::LapinSequential, "p50_ms").unwrap_or(f64::NAN);
        let mut sentence = format!(
            "The broker is not the limit: raw lapin got {seq:.0} persistent messages/s \
             waiting for each confirm (median publish→confirm {seq_p50:.2} ms)"
        );
        if let Some(pip) = med(Variant::LapinPipelined, "throughput") {
            sentence.push_str(&format!(
                " and {pip:.0}/s with {} confirms in flight",
                knobs.window
            ));
        }
        sentence.push_str(&format!(
            ", so the hub through RabbitMQ runs at {:.1} % of even the confirm-each rate (one \
             confirmed publish per exchange is a small part of its cost)",
            rab / seq * 100.0
        ));
        let runs = get(Variant::Rabbit);
        let broker = median(&mut field(runs, "cpu_broker_s"));
        let own = median(&mut field(runs, "cpu_own_s"));
        if broker.is_finite() && own.is_finite() && own + broker > 0.0 {
            sentence.push_str(&format!(
                "; the broker used {} of the CPU time of a hub run",
                pct(broker / (own + broker))
            ));
        }
        sentence.push('.');
        text.push(sentence);
    }

    // What the latency percentiles mean.
    let bursty: Vec<String> = [Variant::Embedded, Variant::Rabbit]
        .into_iter()
        .filter_map(|v| {
            let accept = med(v, "accept_rate")?;
            let done = med(v, "throughput")?;
            (accept > done * 1.5).then(|| format!("{accept:.0}/s accepted vs {done:.0}/s done"))
        })
        .collect();
    if !bursty.is_empty() {
        text.push(format!(
            "The latencies are those of a burst: the {} exchanges are accepted much faster \
             than they complete ({}), so accept→completion percentiles are mostly time spent \
             waiting in the queue (p50 is roughly half the drain time) and grow with N; they \
             are not the latency of one exchange on an idle hub.",
            knobs.n,
            bursty.join("; ")
        ));
    }

    // Noise.
    let spreads: Vec<String> = Variant::ALL
        .into_iter()
        .filter(|v| get(*v).len() > 1)
        .map(|v| {
            let mut values = field(get(v), "throughput");
            let m = median(&mut values);
            let (lo, hi) = (values[0], values[values.len() - 1]);
            format!("{} ±{:.0} %", v.key(), (hi - lo) / 2.0 / m * 100.0)
        })
        .collect();
    if !spreads.is_empty() {
        text.push(format!(
            "Everything shares {cores} CPUs with whatever else runs on the machine, so single \
             runs are noisy (half the min–max spread of throughput relative to the median: \
             {}); the medians and the paired ratios are the figures to quote.",
            spreads.join(", ")
        ));
    }
    text.join(" ")
}

fn percent(value: &Value) -> String {
    value
        .as_f64()
        .map(|v| format!("{:.0} %", v * 100.0))
        .unwrap_or_else(|| "n/a".into())
}

fn seconds(value: &Value) -> String {
    value
        .as_f64()
        .map(|v| format!("{v:.1}"))
        .unwrap_or_else(|| "n/a".into())
}

fn render_report(
    knobs: &Knobs,
    started: OffsetDateTime,
    results: &BTreeMap<Variant, Vec<Value>>,
    load_before: &str,
    load_after: &str,
) -> String {
    let mut md = String::new();
    let mut line = |text: String| {
        md.push_str(&text);
        md.push('\n');
    };
    let rustc = rustc_version();
    let cores = logical_cpus();
    let tmp = std::env::temp_dir();
    line("# Asynchronous exchanges: embedded queue vs RabbitMQ".into());
    line(String::new());
    line(format!(
        "Produced by `scripts/bench-async.sh` (`cargo bench --bench async_throughput`, release \
         profile) on {}.",
        started
            .format(&Rfc3339)
            .unwrap_or_else(|_| "unknown date".into())
    ));
    line(String::new());
    for machine_line in machine_section(cores, &rustc) {
        line(machine_line);
    }
    line(format!(
        "- RabbitMQ: {}",
        match &knobs.amqp_url {
            Some(_) =>
                std::env::var("BENCH_BROKER_VERSION").unwrap_or_else(|_| "version unknown".into()),
            None => "not available (ESOCIAL_TEST_AMQP_URL unset): embedded queue only".into(),
        }
    ));
    let broker_fs = std::env::var("ESOCIAL_RABBITMQ_BASE")
        .map(|base| filesystem_of(Path::new(&base)))
        .unwrap_or_else(|_| "unknown".into());
    line(format!(
        "- Storage: SQLite file in {} ({}); broker data directory on {}",
        tmp.display(),
        filesystem_of(&tmp),
        broker_fs
    ));
    line(format!(
        "- Load average (1/5/15 min) before: {}; after: {}",
        load_before
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        load_after
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    ));
    line(
        "- Hub, simulator, broker and load generator all run on this machine and share its \
         CPUs."
            .into(),
    );
    line(String::new());
    line("## Settings".into());
    line(String::new());
    line(format!(
        "- Load: {} asynchronous `{SERVICE}` exchanges per run (`\"mode\": \"async\"`), \
         submitted over mTLS as client `{DEMO_CLIENT}` by {} concurrent tasks (one reqwest \
         client, connections kept alive), for living persons of the default synthetic \
         population (2000 persons) in turn.",
        knobs.n, knobs.concurrency
    ));
    line(
        "- Registry: the in-process simulator of that registry, no delay, no faults (it still \
         verifies the hub's WS-Security signature and signs its answer)."
            .into(),
    );
    line(format!(
        "- Hub: `demo::embedded_settings` (2 API workers, SQLite with 4 connections), \
         `queue.concurrency_per_registry = {}` (also the RabbitMQ prefetch), \
         `max_attempts = 5`, `base_delay_ms = 20`, `max_delay_ms = 200`, \
         `breaker_threshold = 1000`, `lease_ms` and `republish_after_ms` = 300000 (nothing \
         is re-leased or republished during a run); RabbitMQ runs use a fresh `namespace` each.",
        knobs.workers
    ));
    line(format!(
        "- Raw lapin: {} persistent messages (36-byte body, delivery mode 2, mandatory) to a \
         fresh durable classic queue through the default exchange, publisher confirms on; \
         sequential = wait for each confirm before the next publish; pipelined = publish {} \
         then wait for their {} confirms. The queue is deleted afterwards.",
        knobs.lapin_n, knobs.window, knobs.window
    ));
    line(
        "- Diagnostic variants (not asked for; `BENCH_DIAGNOSTICS=0` leaves them out): the \
         same hub runs with the SQLite file on tmpfs (`/dev/shm`) instead of disk, to tell \
         the store's synchronous commits apart from the rest. The embedded queue polls the \
         store every 200 ms (fixed in `startup.rs`) besides being woken by submissions."
            .into(),
    );
    line(format!(
        "- Every run is a fresh child process (fresh hub, SQLite file, simulator, broker \
         namespace). {} rounds; the variants run in each round, in an order rotated from \
         round to round. {}",
        knobs.runs,
        if knobs.warmup > 0 {
            format!(
                "Before the rounds, an unreported warm-up run of {} exchanges per hub variant; \
                 in every run one probe exchange goes first and is not counted.",
                knobs.warmup
            )
        } else {
            "No warm-up run; in every run one probe exchange goes first and is not counted.".into()
        }
    ));
    line(
        "- Throughput = accepted exchanges / (last `completed_at` − moment the first \
         submission was sent). Latency = `completed_at` − `received_at` of each exchange, \
         read from the store (accept → completion, without HTTP/TLS of the submission; \
         `received_at` is taken before the row is written and the message is published); \
         nearest-rank percentiles over the run's exchanges. \"Accept rate\" = exchanges \
         answered 202 per second of the submission phase."
            .into(),
    );
    line(
        "- Medians are over runs; for each run's p50/p95/p99 the table gives the run's own \
         percentile and the summary gives the median of those."
            .into(),
    );
    line(
        "- \"CPU busy\" = CPU time (user + system) of the measuring process (hub, simulator \
         and load generator for the hub runs; the lapin client for the raw runs) plus the \
         broker's, over the run's wall time × the number of CPUs; \"Broker CPU s\" = the \
         broker's share (from /proc)."
            .into(),
    );
    line(String::new());

    line("## Results".into());
    line(String::new());
    let get = |v: Variant| results.get(&v).map(Vec::as_slice).unwrap_or(&[]);
    for variant in Variant::ALL {
        let runs = get(variant);
        if runs.is_empty() {
            continue;
        }
        line(format!("### {}", variant.title(knobs.window)));
        line(String::new());
        if variant.is_hub() {
            line(
                "| Run | Exchanges/s | Accept rate (/s) | p50 ms | p95 ms | p99 ms | max ms | \
                 Wall s | CPU busy | Broker CPU s | Failed | Refused |"
                    .into(),
            );
            line("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|".into());
            for run in runs {
                line(format!(
                    "| {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2} | {} | {} | {} \
                     | {} |",
                    run["round"],
                    run["throughput"].as_f64().unwrap_or(f64::NAN),
                    run["accept_rate"].as_f64().unwrap_or(f64::NAN),
                    run["p50_ms"].as_f64().unwrap_or(f64::NAN),
                    run["p95_ms"].as_f64().unwrap_or(f64::NAN),
                    run["p99_ms"].as_f64().unwrap_or(f64::NAN),
                    run["max_ms"].as_f64().unwrap_or(f64::NAN),
                    run["wall_s"].as_f64().unwrap_or(f64::NAN),
                    percent(&run["cpu_busy"]),
                    seconds(&run["cpu_broker_s"]),
                    run["failed"],
                    run["refused"],
                ));
            }
            line(format!(
                "| **median** | **{:.1}** | **{:.1}** | **{:.1}** | **{:.1}** | **{:.1}** | \
                 {:.1} | {:.2} | | | | |",
                median_of(runs, "throughput"),
                median_of(runs, "accept_rate"),
                median_of(runs, "p50_ms"),
                median_of(runs, "p95_ms"),
                median_of(runs, "p99_ms"),
                median_of(runs, "max_ms"),
                median_of(runs, "wall_s"),
            ));
        } else {
            let what = if variant == Variant::LapinSequential {
                "publish→confirm of one message"
            } else {
                "publish→confirms of one window"
            };
            line(
                "| Run | Messages/s | p50 ms | p95 ms | p99 ms | Wall s | CPU busy | Broker CPU s |"
                    .into(),
            );
            line("|---|---:|---:|---:|---:|---:|---:|---:|".into());
            for run in runs {
                line(format!(
                    "| {} | {:.1} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {} |",
                    run["round"],
                    run["throughput"].as_f64().unwrap_or(f64::NAN),
                    run["p50_ms"].as_f64().unwrap_or(f64::NAN),
                    run["p95_ms"].as_f64().unwrap_or(f64::NAN),
                    run["p99_ms"].as_f64().unwrap_or(f64::NAN),
                    run["wall_s"].as_f64().unwrap_or(f64::NAN),
                    percent(&run["cpu_busy"]),
                    seconds(&run["cpu_broker_s"]),
                ));
            }
            line(format!(
                "| **median** | **{:.1}** | **{:.2}** | **{:.2}** | **{:.2}** | {:.2} | | |",
                median_of(runs, "throughput"),
                median_of(runs, "p50_ms"),
                median_of(runs, "p95_ms"),
                median_of(runs, "p99_ms"),
                median_of(runs, "wall_s"),
            ));
            line(String::new());
            line(format!("(Latency columns: {what}.)"));
        }
        line(String::new());
    }

    line("## Summary (medians over runs)".into());
    line(String::new());
    line("| Variant | Throughput (/s) | p50 ms | p95 ms | p99 ms |".into());
    line("|---|---:|---:|---:|---:|".into());
    for variant in Variant::ALL {
        let runs = get(variant);
        if runs.is_empty() {
            continue;
        }
        line(format!(
            "| {} | {:.1} | {:.2} | {:.2} | {:.2} |",
            variant.title(knobs.window),
            median_of(runs, "throughput"),
            median_of(runs, "p50_ms"),
            median_of(runs, "p95_ms"),
            median_of(runs, "p99_ms"),
        ));
    }
    line(String::new());

    let (embedded, rabbit, sequential, pipelined, embedded_tmpfs, rabbit_tmpfs) = (
        get(Variant::Embedded),
        get(Variant::Rabbit),
        get(Variant::LapinSequential),
        get(Variant::LapinPipelined),
        get(Variant::EmbeddedTmpfs),
        get(Variant::RabbitTmpfs),
    );
    let window = knobs.window;
    let comparisons: Vec<(String, &[Value], &[Value], &str)> = vec![
        (
            "Throughput: hub via RabbitMQ / hub via embedded queue".into(),
            rabbit,
            embedded,
            "throughput",
        ),
        (
            "p50 latency: RabbitMQ / embedded".into(),
            rabbit,
            embedded,
            "p50_ms",
        ),
        (
            "p95 latency: RabbitMQ / embedded".into(),
            rabbit,
            embedded,
            "p95_ms",
        ),
        (
            "p99 latency: RabbitMQ / embedded".into(),
            rabbit,
            embedded,
            "p99_ms",
        ),
        (
            "Throughput: hub via RabbitMQ / raw lapin, confirm each".into(),
            rabbit,
            sequential,
            "throughput",
        ),
        (
            format!("Throughput: hub via RabbitMQ / raw lapin, confirms in windows of {window}"),
            rabbit,
            pipelined,
            "throughput",
        ),
        (
            "Throughput: raw lapin pipelined / raw lapin confirm each".into(),
            pipelined,
            sequential,
            "throughput",
        ),
        (
            "Diagnostic, throughput: embedded queue, SQLite on tmpfs / on disk".into(),
            embedded_tmpfs,
            embedded,
            "throughput",
        ),
        (
            "Diagnostic, throughput: RabbitMQ queue, SQLite on tmpfs / on disk".into(),
            rabbit_tmpfs,
            rabbit,
            "throughput",
        ),
    ];
    let comparisons: Vec<_> = comparisons
        .into_iter()
        .filter(|(_, a, b, _)| !a.is_empty() && !b.is_empty())
        .collect();
    if rabbit.is_empty() {
        line(
            "RabbitMQ was not available (`ESOCIAL_TEST_AMQP_URL` unset), so only the embedded \
             queue was measured."
                .into(),
        );
        line(String::new());
    }
    if !comparisons.is_empty() {
        line("## Ratios".into());
        line(String::new());
        line(
            "Paired = median over rounds of the ratio of the two runs of the same round; \
             of medians = ratio of the two medians above."
                .into(),
        );
        line(String::new());
        line("| Ratio | Paired | Of medians |".into());
        line("|---|---:|---:|".into());
        for (label, a, b, key) in comparisons {
            let (paired, of_medians) = ratios(a, b, key);
            line(format!("| {label} | {paired:.3} | {of_medians:.3} |"));
        }
        line(String::new());
    }
    line("## Interpretation".into());
    line(String::new());
    line(interpretation(knobs, results));
    line(String::new());
    md
}
