//! Events from MConnect Events to alerts: events/s through the hub, the hub's CPU per event,
//! and the latency from publication to the event handled, to the module's webhook and to
//! MNotify's notification.
//!
//! `scripts/bench-events.sh` (or `cargo bench --bench events_flow` with a release binary built).
//! Topology, on a machine of at least two CPUs:
//!
//! - CPU 0: the hub, `esocial-hub serve --config <settings>` (the release binary, settings made
//!   from `deploy/hub.example.toml`: `[events]` reads the MConnect Events simulator's stream,
//!   notifies through the MNotify simulator and sends webhooks to the module stand-in; no
//!   hand-offs, no benefits pages), with a fresh SQLite store per run;
//! - CPU 1: this process, which pins itself there: every catalog registry's simulator
//!   (`esocial_sim::start`, the default population), the MConnect Events simulator, the MNotify
//!   simulator, the module stand-in and the publisher.
//!
//! The publisher appends events to the MConnect Events simulator's log in-process
//! (`EventLog::publish`), at a steady offered rate, so the producer side costs nothing; the hub
//! reads them over its WebSocket stream as it would from MConnect Events. Every person of the
//! population is in the master index before the hub starts (`esocial-hub mpi import` into a
//! copy of one imported store), so nothing of that is in the window.
//!
//! Variants:
//! - `intake`: `Gov.Education.Enrolment.Ended` (reason `graduation`) about every living person
//!   in turn: no subscription matches, so this is stream → check → seal → store → claim in
//!   order → resolve in the master index → handled, without registry calls or alerts;
//! - `alert`: `Gov.Health.Disability.Determined` about the persons with a disability (each has
//!   an open disability case): each asks `cases.active-cases` through a signed registry exchange
//!   and gives one MNotify notification to the case manager and one signed webhook to the
//!   module per open case.
//!
//! Each variant runs at two loads, round by round: `max`, offered at `BENCH_RATE` (the aim),
//! which gives the throughput; and `steady`, offered at half the throughput `max` reached in
//! the same round, then drained, which gives the latencies of every event published in the
//! window. Rates come from the hub's `/metrics` (`esocial_hub_events_handled_total`), the
//! stream's confirmed offset and the stand-ins' arrivals; latencies from the store's `ended_at`
//! (milliseconds, wall clock) and the stand-ins' arrival instants, joined through the store's
//! deliveries after the hub stopped. CPU from `/proc/<pid>/stat` and `/proc/stat` over the
//! window only. Every run is a fresh set of processes; the report gives every run and the
//! median of each variant and load.
//!
//! Environment:
//! - `BENCH_SECONDS` (10): measured window per run; `BENCH_WARMUP` (2): seconds of the same load
//!   before it;
//! - `BENCH_ROUNDS` (3): rounds; `BENCH_QUICK=1`: 1 round, 4 s windows, 1 s warm-up;
//! - `BENCH_RATE` (5000): events/s offered in the `max` runs;
//! - `BENCH_VARIANTS` (all): `intake`, `alert`, comma-separated;
//! - `BENCH_HUB_BIN` (the release binary cargo built for this bench);
//! - `BENCH_REPORT` (`reports/events-benchmark.md`): where the Markdown report is written.

#[path = "common/process.rs"]
mod process;

#[path = "common/machine.rs"]
#[allow(dead_code)]
mod machine;

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use esocial_catalog::Catalog;
use esocial_hub::demo::demo_certificate_holders;
use esocial_sim::event_feed::population_events;
use esocial_sim::population::Population;
use esocial_sim::{
    Behaviour, EventLog, EventsConfig, MnotifyConfig, MnotifyHandle, ModuleConfig, ModuleHandle,
    SimulatorConfig,
};
use esocial_wire::crypto::pki::{PkiLayout, init_dev_pki, registry_holder};
use esocial_wire::mconnect::cloudevent::CloudEvent;
use machine::{
    adapters_dir, clock_ticks, contracts_dir, filesystem_of, loadavg, logical_cpus,
    machine_section, median_by, opt, pct, percentile, rustc_version,
};
use process::{free_port, tail};
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The hub's CPU, and this process's.
const HUB_CPU: &str = "0";
const BENCH_CPU: &str = "1";
/// The stand-ins' certificate holders in the development PKI (as `registry-<name>`).
const STAND_INS: [&str; 3] = ["events", "mnotify", "module"];
/// The module the subscriptions send webhooks to.
const MODULE: &str = "case-management";
/// The consumer name MConnect Events knows the hub by (its certificate's common name).
const HUB_CONSUMER: &str = "hub";
/// The longest a `steady` run waits for its events and alerts after the window.
const DRAIN_LIMIT: Duration = Duration::from_secs(90);

// ---------------------------------------------------------------------------------------------
// Variants, loads and knobs.

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Variant {
    Intake,
    Alert,
}

impl Variant {
    const ALL: [Variant; 2] = [Variant::Intake, Variant::Alert];

    fn key(self) -> &'static str {
        match self {
            Variant::Intake => "intake",
            Variant::Alert => "alert",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Variant::Intake => "Intake: `Gov.Education.Enrolment.Ended` (graduation), no alert",
            Variant::Alert => {
                "Alert: `Gov.Health.Disability.Determined`, `cases.active-cases`, MNotify + webhook"
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Load {
    /// Offered at the aim: what the hub can take.
    Max,
    /// Offered at half of what `Max` reached, and drained: latencies.
    Steady,
}

impl Load {
    fn key(self) -> &'static str {
        match self {
            Load::Max => "max",
            Load::Steady => "steady",
        }
    }
}

struct Knobs {
    seconds: f64,
    warmup: f64,
    rounds: usize,
    quick: bool,
    rate: f64,
    variants: Vec<Variant>,
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
        let variants = match std::env::var("BENCH_VARIANTS") {
            Ok(text) if !text.trim().is_empty() => text
                .split(',')
                .map(|v| {
                    Variant::ALL
                        .into_iter()
                        .find(|known| known.key() == v.trim())
                        .ok_or_else(|| format!("unknown variant `{v}`"))
                })
                .collect::<Result<Vec<_>, _>>()?,
            _ => Variant::ALL.to_vec(),
        };
        let rate: f64 = env_number("BENCH_RATE", 5000.0);
        if rate < 1.0 {
            return Err("BENCH_RATE must be at least 1".into());
        }
        Ok(Self {
            seconds: env_number("BENCH_SECONDS", if quick { 4.0 } else { 10.0 }),
            warmup: env_number("BENCH_WARMUP", if quick { 1.0 } else { 2.0 }),
            rounds: env_number("BENCH_ROUNDS", if quick { 1usize } else { 3 }).max(1),
            quick,
            rate,
            variants,
            hub_bin: std::env::var("BENCH_HUB_BIN")
                .map(PathBuf::from)
                .unwrap_or_else(|_| PathBuf::from(env!("CARGO_BIN_EXE_esocial-hub"))),
        })
    }
}

/// What one run gave.
#[derive(Debug, Clone, Default)]
struct RunResult {
    round: usize,
    offered: f64,
    window_s: f64,
    /// Events published, confirmed by the hub on the stream, and handled, within the window.
    published: u64,
    taken: u64,
    handled: u64,
    /// Webhooks the module and notifications MNotify took within the window.
    webhooks: u64,
    notifications: u64,
    /// At the window's end: published but not confirmed (waiting in MConnect Events), and
    /// confirmed but not handled (waiting in the hub's store).
    backlog_stream: u64,
    backlog_hub: u64,
    hub_cpu_s: Option<f64>,
    bench_cpu_s: Option<f64>,
    cpu0_busy: Option<f64>,
    cpu1_busy: Option<f64>,
    load_after: String,
    /// Latencies (ms) of the events published in the window (steady runs, after draining).
    handled_ms: Vec<f64>,
    webhook_ms: Vec<f64>,
    notification_ms: Vec<f64>,
    /// Events of the window not handled, and deliveries not sent, when the drain ended.
    unfinished: u64,
    /// Event states and delivery states in the store at the end.
    states: BTreeMap<String, u64>,
    /// Warning and error lines in the hub's log, and a few samples.
    log_lines: u64,
    log_samples: Vec<String>,
}

impl RunResult {
    fn rate(&self, count: u64) -> f64 {
        count as f64 / self.window_s
    }
    fn handled_per_s(&self) -> f64 {
        self.rate(self.handled)
    }
    fn alerts_per_s(&self) -> f64 {
        self.rate(self.webhooks + self.notifications)
    }
    fn hub_ms_per_event(&self) -> Option<f64> {
        let cpu = self.hub_cpu_s?;
        (self.handled > 0).then(|| cpu * 1000.0 / self.handled as f64)
    }
    fn hub_core(&self) -> Option<f64> {
        Some(self.hub_cpu_s? / self.window_s)
    }
    fn p(values: &[f64], p: f64) -> Option<f64> {
        (!values.is_empty()).then(|| percentile(values, p))
    }
}

fn main() {
    // `cargo test --all-targets` runs bench targets without `--bench`; measure only under
    // `cargo bench`.
    if !std::env::args().any(|arg| arg == "--bench") {
        eprintln!("events_flow: a benchmark; run it with `scripts/bench-events.sh`");
        return;
    }
    if let Err(error) = parent() {
        eprintln!("events_flow: {error}");
        std::process::exit(1);
    }
}

// ---------------------------------------------------------------------------------------------
// The runs.

/// What every run shares: the PKI, the catalog, the population, the example settings, the
/// imported master index and the events of each variant.
struct Setup {
    knobs: Knobs,
    /// Logical CPUs of the machine (this process is pinned to one of them).
    cores: usize,
    pki: PkiLayout,
    catalog: Catalog,
    population: Arc<Population>,
    example: String,
    /// A store holding the master index of the whole population, copied for each run.
    indexed_store: PathBuf,
    digest_key: String,
    templates: HashMap<Variant, Vec<CloudEvent>>,
}

fn parent() -> Result<(), BoxError> {
    let cores = logical_cpus();
    if cores < 2 {
        return Err("needs at least 2 CPUs (the hub on CPU 0, everything else on CPU 1)".into());
    }
    // Everything this process starts (simulators' threads, the runtime) inherits CPU 1.
    let status = Command::new("taskset")
        .args(["-a", "-p", "-c", BENCH_CPU, &std::process::id().to_string()])
        .stdout(Stdio::null())
        .status()?;
    if !status.success() {
        return Err("cannot pin the bench to CPU 1 (taskset)".into());
    }
    let knobs = Knobs::from_env()?;
    if !knobs.hub_bin.is_file() {
        return Err(format!(
            "no hub binary at {} (cargo build --release, or set BENCH_HUB_BIN)",
            knobs.hub_bin.display()
        )
        .into());
    }
    let started = OffsetDateTime::now_utc();
    let load_before = loadavg();
    let work = tempfile::tempdir()?;
    let catalog = Catalog::load(&adapters_dir(), &contracts_dir())?;
    let pki = PkiLayout::new(work.path().join("pki"));
    let mut holders: Vec<String> = catalog.registries().map(|r| r.name.clone()).collect();
    holders.extend(STAND_INS.map(String::from));
    init_dev_pki(&pki, &holders, &demo_certificate_holders())?;
    let population = Arc::new(Population::default_population());
    let digest_key = format!("bench-{}", uuid::Uuid::new_v4().simple());
    let indexed_store = work.path().join("indexed.db");
    import_population(&knobs.hub_bin, &population, &indexed_store, &digest_key)?;
    let templates = Variant::ALL
        .into_iter()
        .map(|v| (v, templates(v, &population)))
        .collect();
    let setup = Setup {
        knobs,
        cores,
        pki,
        catalog,
        population,
        example: std::fs::read_to_string(repo_root().join("deploy/hub.example.toml"))?,
        indexed_store,
        digest_key,
        templates,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;

    let knobs = &setup.knobs;
    let total = knobs.rounds * knobs.variants.len() * 2;
    let mut done = 0;
    let mut results: BTreeMap<(Variant, Load), Vec<RunResult>> = BTreeMap::new();
    for round in 0..knobs.rounds {
        let mut order = knobs.variants.clone();
        let turn = round % order.len();
        order.rotate_left(turn);
        for variant in order {
            let mut max_rate = None;
            for load in [Load::Max, Load::Steady] {
                done += 1;
                let offered = match load {
                    Load::Max => knobs.rate,
                    Load::Steady => (max_rate.unwrap_or(knobs.rate) / 2.0).max(10.0),
                };
                eprintln!(
                    "events_flow: [{done}/{total}] round {}/{} {} {} at {offered:.0} events/s",
                    round + 1,
                    knobs.rounds,
                    variant.key(),
                    load.key()
                );
                let mut result = runtime.block_on(run_once(&setup, variant, load, offered))?;
                result.round = round + 1;
                if load == Load::Max {
                    max_rate = Some(result.handled_per_s());
                }
                eprintln!(
                    "events_flow:   {:.0} handled/s, {:.0} taken/s, {:.0} alerts/s, hub {} ms \
                     per event at {} of its core; handled p50 {} p99 {} ms{}",
                    result.handled_per_s(),
                    result.rate(result.taken),
                    result.alerts_per_s(),
                    opt(result.hub_ms_per_event(), 3),
                    pct(result.hub_core()),
                    opt(RunResult::p(&sorted(&result.handled_ms), 50.0), 1),
                    opt(RunResult::p(&sorted(&result.handled_ms), 99.0), 1),
                    if result.log_lines > 0 {
                        format!("; {} warning lines in the hub's log", result.log_lines)
                    } else {
                        String::new()
                    }
                );
                results.entry((variant, load)).or_default().push(result);
            }
        }
    }
    let report = render_report(&setup, started, &load_before, &loadavg(), &results);
    let mut out = std::io::stdout().lock();
    writeln!(out, "{report}")?;
    out.flush()?;
    let path = std::env::var("BENCH_REPORT")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo_root().join("reports/events-benchmark.md"));
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&path, report)?;
    eprintln!("events_flow: report written to {}", path.display());
    Ok(())
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn sorted(values: &[f64]) -> Vec<f64> {
    let mut values = values.to_vec();
    values.sort_by(f64::total_cmp);
    values
}

/// Registers every person of the population in a store's master index, as the population
/// register would (`esocial-hub mpi import`).
fn import_population(
    hub_bin: &Path,
    population: &Population,
    store: &Path,
    digest_key: &str,
) -> Result<(), BoxError> {
    let file = store.with_extension("jsonl");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&file)?);
    for person in population.persons() {
        let record = json!({
            "localId": format!("R-{}", person.idnp.expose()),
            "idnp": person.idnp.expose(),
            "firstName": person.first_name,
            "lastName": person.last_name,
            "birthDate": person.birth_date_text(),
        });
        writeln!(out, "{record}")?;
    }
    out.flush()?;
    eprintln!(
        "events_flow: importing {} persons into the master index",
        population.persons().len()
    );
    let output = Command::new(hub_bin)
        .args(["mpi", "import", "--source", "register", "--db"])
        .arg(format!("sqlite://{}?mode=rwc", store.display()))
        .arg(&file)
        .env("HUB__AUDIT__DIGEST_KEY", digest_key)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()?;
    if !output.status.success() {
        return Err(format!(
            "esocial-hub mpi import exited with {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    Ok(())
}

/// The events a variant publishes, one per person, in turn (each is published again under a
/// new id as the run goes).
fn templates(variant: Variant, population: &Population) -> Vec<CloudEvent> {
    match variant {
        Variant::Intake => population
            .persons()
            .iter()
            .filter(|p| !p.deceased)
            .map(|person| {
                let idnp = person.idnp.expose();
                CloudEvent {
                    id: String::new(),
                    source: "urn:gov:md:education".into(),
                    event_type: "Gov.Education.Enrolment.Ended".into(),
                    partition_key: Some(format!("idnp:{idnp}")),
                    time: Some("2026-06-30T12:00:00Z".into()),
                    data: json!({
                        "idnp": idnp,
                        "school": "Liceul Teoretic „Mihai Eminescu”",
                        "endedOn": "2026-06-30",
                        "reason": "graduation",
                    }),
                    offset: None,
                }
            })
            .collect(),
        Variant::Alert => {
            // The feed spreads its events over five types; ask for enough to see every
            // disability once, and keep one event per person.
            let mut seen = std::collections::HashSet::new();
            population_events(population, 1, population.persons().len() * 5)
                .into_iter()
                .filter(|e| e.event_type == "Gov.Health.Disability.Determined")
                .filter(|e| seen.insert(e.partition_key.clone()))
                .collect()
        }
    }
}

/// The stand-ins and simulators of one run, in this process.
struct StandIns {
    endpoints: Vec<(String, String)>,
    events_port: u16,
    log: EventLog,
    mnotify_port: u16,
    mnotify: MnotifyHandle,
    module_port: u16,
    module: ModuleHandle,
    servers: Vec<actix_web::dev::ServerHandle>,
}

impl StandIns {
    fn start(setup: &Setup) -> Result<Self, BoxError> {
        let any_port: SocketAddr = "127.0.0.1:0".parse()?;
        let mut servers = Vec::new();
        let mut endpoints = Vec::new();
        for registry in setup.catalog.registries() {
            let running = esocial_sim::start(
                &setup.catalog,
                &registry.name,
                SimulatorConfig::from_dev_pki(
                    &setup.pki,
                    &registry.name,
                    any_port,
                    setup.population.clone(),
                    Behaviour::default(),
                )?,
            )?;
            let path = reqwest::Url::parse(&registry.endpoint)?.path().to_string();
            endpoints.push((
                registry.name.clone(),
                format!("https://127.0.0.1:{}{path}", running.port),
            ));
            servers.push(running.server.handle());
            tokio::spawn(running.server);
        }
        let tls = |name: &str| {
            let holder = registry_holder(name);
            (
                setup.pki.cert(&holder),
                setup.pki.key(&holder),
                setup.pki.ca_cert(),
            )
        };
        let (cert, key, ca) = tls("events");
        let events = esocial_sim::start_events(EventsConfig::new(
            any_port,
            cert,
            key,
            ca,
            contracts_dir().join("events"),
        ))?;
        servers.push(events.server.handle());
        tokio::spawn(events.server);
        let (cert, key, ca) = tls("mnotify");
        let mnotify = esocial_sim::start_mnotify(MnotifyConfig::new(any_port, cert, key, ca))?;
        servers.push(mnotify.server.handle());
        tokio::spawn(mnotify.server);
        let (tls_cert, tls_key, client_ca) = tls("module");
        let module = esocial_sim::start_module(ModuleConfig {
            listen: any_port,
            tls_cert,
            tls_key,
            client_ca,
        })?;
        servers.push(module.server.handle());
        tokio::spawn(module.server);
        Ok(Self {
            endpoints,
            events_port: events.port,
            log: events.log,
            mnotify_port: mnotify.port,
            mnotify: mnotify.handle,
            module_port: module.port,
            module: module.handle,
            servers,
        })
    }

    async fn stop(self) {
        for server in self.servers {
            server.stop(false).await;
        }
    }
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

/// The hub's settings: `deploy/hub.example.toml` with the run's PKI, ports, store, audit key
/// and absolute folders; registries at their simulators; `[events]` at the stand-ins; no
/// hand-offs and no benefits pages.
fn hub_settings(
    setup: &Setup,
    stand_ins: &StandIns,
    store: &Path,
    listen: u16,
    ops: u16,
) -> Result<String, BoxError> {
    use toml::Value::{Array, String as Text};
    let mut table: toml::Table = setup.example.parse()?;
    table.remove("handoffs");
    let pki = &setup.pki;
    let path = |p: PathBuf| Text(p.display().to_string());
    let server = table
        .get_mut("server")
        .and_then(toml::Value::as_table_mut)
        .ok_or("deploy/hub.example.toml has no [server]")?;
    server.remove("public_listen");
    server.insert("listen".into(), Text(format!("127.0.0.1:{listen}")));
    server.insert("ops_listen".into(), Text(format!("127.0.0.1:{ops}")));
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
        Text(format!("sqlite://{}?mode=rwc", store.display())),
    )?;
    set(
        &mut table,
        &["audit", "digest_key"],
        Text(setup.digest_key.clone()),
    )?;
    set(&mut table, &["adapters", "dir"], path(adapters_dir()))?;
    set(&mut table, &["contracts", "dir"], path(contracts_dir()))?;
    set(
        &mut table,
        &["benefits", "dir"],
        path(repo_root().join("benefits")),
    )?;
    set(
        &mut table,
        &["revocation", "crl_files"],
        Array(vec![path(pki.crl())]),
    )?;
    for (name, endpoint) in &stand_ins.endpoints {
        set(
            &mut table,
            &["registries", name.as_str(), "endpoint"],
            Text(endpoint.clone()),
        )?;
    }
    set(
        &mut table,
        &["events", "subscriptions"],
        path(repo_root().join("subscriptions")),
    )?;
    set(
        &mut table,
        &["events", "consumer_url"],
        Text(format!(
            "wss://127.0.0.1:{}/ce/consume/ws",
            stand_ins.events_port
        )),
    )?;
    set(
        &mut table,
        &["events", "mnotify_url"],
        Text(format!("https://127.0.0.1:{}", stand_ins.mnotify_port)),
    )?;
    let mut module = toml::Table::new();
    module.insert("name".into(), Text(MODULE.into()));
    module.insert(
        "url".into(),
        Text(format!(
            "https://127.0.0.1:{}/events",
            stand_ins.module_port
        )),
    );
    set(
        &mut table,
        &["events", "modules"],
        Array(vec![toml::Value::Table(module)]),
    )?;
    Ok(toml::to_string(&table)?)
}

/// The hub, stopped (TERM, then KILL) when dropped.
struct Hub {
    child: Child,
    log: PathBuf,
}

impl Hub {
    fn spawn(bin: &Path, config: &Path, log: PathBuf) -> Result<Self, BoxError> {
        let file = std::fs::File::create(&log)?;
        let child = Command::new("taskset")
            .args(["-c", HUB_CPU])
            .arg(bin)
            .arg("serve")
            .arg("--config")
            .arg(config)
            .env("RUST_LOG", "warn")
            .env("NO_COLOR", "1")
            .current_dir(repo_root())
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()?;
        Ok(Self { child, log })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    async fn wait_ready(&mut self, ops: u16) -> Result<(), BoxError> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Err(format!(
                    "the hub exited with {status} at start-up; its log ends with:\n{}",
                    tail(&self.log, 20)
                )
                .into());
            }
            if http_get(ops, "/health/ready").is_some_and(|(status, _)| status == 200) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "the hub was not ready within 60 s; its log ends with:\n{}",
                    tail(&self.log, 20)
                )
                .into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn stop(&mut self) {
        process::stop_gently(&mut self.child, Duration::from_secs(10));
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Status and body of a plain-HTTP GET on loopback.
fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(500),
    )
    .ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
    Some((status, body))
}

/// `esocial_hub_events_handled_total{outcome="handled"}` from the hub's `/metrics`.
fn handled_total(ops: u16) -> Option<u64> {
    let (_, body) = http_get(ops, "/metrics")?;
    body.lines()
        .find(|l| l.starts_with("esocial_hub_events_handled_total{outcome=\"handled\"}"))
        .and_then(|l| l.split_whitespace().last()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .or(Some(0))
}

fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / clock_ticks())
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

/// Everything counted at one edge of the window.
struct Sample {
    at: Instant,
    published: u64,
    taken: u64,
    handled: Option<u64>,
    webhooks: u64,
    notifications: u64,
    hub_cpu: Option<f64>,
    bench_cpu: Option<f64>,
    cpus: Vec<(u64, u64)>,
}

impl Sample {
    fn take(stand_ins: &StandIns, published: &AtomicUsize, hub_pid: u32, ops: u16) -> Self {
        Self {
            at: Instant::now(),
            published: published.load(Ordering::SeqCst) as u64,
            taken: stand_ins.log.confirmed(HUB_CONSUMER).unwrap_or(0),
            handled: handled_total(ops),
            webhooks: stand_ins.module.len() as u64,
            notifications: stand_ins.mnotify.len() as u64,
            hub_cpu: cpu_seconds(&hub_pid.to_string()),
            bench_cpu: cpu_seconds("self"),
            cpus: cpu_jiffies(),
        }
    }

    fn busy(&self, end: &Sample, cpu: usize) -> Option<f64> {
        let (busy0, total0) = *self.cpus.get(cpu)?;
        let (busy1, total1) = *end.cpus.get(cpu)?;
        let total = total1.checked_sub(total0)?;
        (total > 0).then(|| busy1.saturating_sub(busy0) as f64 / total as f64)
    }
}

/// Publishes `count` events at `rate` per second from `templates` in turn, each under a new id
/// (`e<n>`), and returns when each was published.
fn publish(
    log: EventLog,
    templates: Vec<CloudEvent>,
    rate: f64,
    count: usize,
    published: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) -> Vec<Instant> {
    let mut times = Vec::with_capacity(count);
    let start = Instant::now();
    while times.len() < count && !stop.load(Ordering::Relaxed) {
        let due = ((start.elapsed().as_secs_f64() * rate) as usize).min(count);
        while times.len() < due {
            let n = times.len();
            let mut event = templates[n % templates.len()].clone();
            event.id = format!("e{n}");
            log.publish(event);
            times.push(Instant::now());
            published.store(times.len(), Ordering::SeqCst);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    times
}

async fn run_once(
    setup: &Setup,
    variant: Variant,
    load: Load,
    offered: f64,
) -> Result<RunResult, BoxError> {
    let knobs = &setup.knobs;
    let dir = tempfile::tempdir()?;
    let store = dir.path().join("hub.db");
    // The import's write-ahead log holds part of the index: copy it along.
    std::fs::copy(&setup.indexed_store, &store)?;
    let wal = |db: &Path| PathBuf::from(format!("{}-wal", db.display()));
    if wal(&setup.indexed_store).is_file() {
        std::fs::copy(wal(&setup.indexed_store), wal(&store))?;
    }
    let stand_ins = StandIns::start(setup)?;
    let (listen, ops) = (free_port()?, free_port()?);
    let config = dir.path().join("hub.toml");
    std::fs::write(
        &config,
        hub_settings(setup, &stand_ins, &store, listen, ops)?,
    )?;
    let mut hub = Hub::spawn(&knobs.hub_bin, &config, dir.path().join("hub.log"))?;
    hub.wait_ready(ops).await?;

    let count = (offered * (knobs.warmup + knobs.seconds)).ceil() as usize;
    let published = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (wall_start, instant_start) = (SystemTime::now(), Instant::now());
    let publisher = {
        let (log, templates) = (stand_ins.log.clone(), setup.templates[&variant].clone());
        let (published, stop) = (published.clone(), stop.clone());
        std::thread::spawn(move || publish(log, templates, offered, count, published, stop))
    };
    tokio::time::sleep(Duration::from_secs_f64(knobs.warmup)).await;
    let begin = Sample::take(&stand_ins, &published, hub.pid(), ops);
    tokio::time::sleep(Duration::from_secs_f64(knobs.seconds)).await;
    let end = Sample::take(&stand_ins, &published, hub.pid(), ops);
    if load == Load::Max {
        stop.store(true, Ordering::Relaxed);
    }
    let times = publisher.join().map_err(|_| "the publisher panicked")?;
    let window_s = (end.at - begin.at).as_secs_f64();
    let mut result = RunResult {
        offered,
        window_s,
        published: end.published - begin.published,
        taken: end.taken.saturating_sub(begin.taken),
        handled: end
            .handled
            .unwrap_or(0)
            .saturating_sub(begin.handled.unwrap_or(0)),
        webhooks: end.webhooks - begin.webhooks,
        notifications: end.notifications - begin.notifications,
        backlog_stream: end.published.saturating_sub(end.taken),
        backlog_hub: end.taken.saturating_sub(end.handled.unwrap_or(0)),
        hub_cpu_s: end.hub_cpu.zip(begin.hub_cpu).map(|(b, a)| b - a),
        bench_cpu_s: end.bench_cpu.zip(begin.bench_cpu).map(|(b, a)| b - a),
        cpu0_busy: begin.busy(&end, 0),
        cpu1_busy: begin.busy(&end, 1),
        load_after: loadavg(),
        ..RunResult::default()
    };
    if load == Load::Steady {
        drain(&stand_ins, &mut hub, ops, times.len() as u64).await;
    }
    hub.stop();
    let (lines, samples) = log_findings(&hub.log);
    result.log_lines = lines;
    result.log_samples = samples;
    let ledger = Ledger::read(&store).await?;
    result.states = ledger.states.clone();
    if load == Load::Steady {
        // The events published within the window, by id, with the wall-clock millisecond and
        // the instant each was published.
        let wall_ms = |at: Instant| {
            let since =
                wall_start.duration_since(UNIX_EPOCH).unwrap_or_default() + (at - instant_start);
            since.as_secs_f64() * 1000.0
        };
        let window: HashMap<String, Instant> = times
            .iter()
            .enumerate()
            .filter(|(_, at)| begin.at <= **at && **at < end.at)
            .map(|(n, at)| (format!("e{n}"), *at))
            .collect();
        for (id, at) in &window {
            match ledger.ended_at.get(id) {
                Some(ended) => result.handled_ms.push(*ended as f64 - wall_ms(*at)),
                None => result.unfinished += 1,
            }
        }
        for (arrivals, latencies) in [
            (stand_ins.module.arrivals(), &mut result.webhook_ms),
            (stand_ins.mnotify.arrivals(), &mut result.notification_ms),
        ] {
            for (delivery, arrived) in arrivals {
                if let Some(published) = ledger
                    .origin
                    .get(&delivery)
                    .and_then(|event| window.get(event))
                {
                    latencies.push((arrived - *published).as_secs_f64() * 1000.0);
                }
            }
        }
    }
    stand_ins.stop().await;
    Ok(result)
}

/// Waits until the hub handled every event published and the stand-ins stopped receiving.
async fn drain(stand_ins: &StandIns, hub: &mut Hub, ops: u16, published: u64) {
    let deadline = Instant::now() + DRAIN_LIMIT;
    let mut last = (0, Instant::now());
    while Instant::now() < deadline && !matches!(hub.child.try_wait(), Ok(Some(_))) {
        let handled = handled_total(ops).unwrap_or(0);
        let arrived = stand_ins.module.len() + stand_ins.mnotify.len();
        if arrived != last.0 {
            last = (arrived, Instant::now());
        }
        if handled >= published && last.1.elapsed() > Duration::from_secs(1) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("events_flow:   the drain ended before every event and alert arrived");
}

/// What the hub's store says after a run.
struct Ledger {
    /// `ended_at` (ms) of each handled event, by CloudEvent id.
    ended_at: HashMap<String, i64>,
    /// The CloudEvent id each delivery came from, by delivery id.
    origin: HashMap<String, String>,
    /// `events <state>` and `deliveries <channel> <state>` counts.
    states: BTreeMap<String, u64>,
}

impl Ledger {
    async fn read(store: &Path) -> Result<Self, BoxError> {
        use sqlx::Row;
        use sqlx::sqlite::SqliteConnectOptions;
        let options = SqliteConnectOptions::new().filename(store).read_only(true);
        let mut connection = sqlx::ConnectOptions::connect(&options).await?;
        let events = sqlx::query("SELECT cloudevent_id, state, ended_at FROM events")
            .fetch_all(&mut connection)
            .await?;
        let deliveries = sqlx::query(
            "SELECT d.id, d.channel, d.state, e.cloudevent_id FROM deliveries d \
             JOIN events e ON e.id = d.origin_id",
        )
        .fetch_all(&mut connection)
        .await?;
        let mut ledger = Self {
            ended_at: HashMap::new(),
            origin: HashMap::new(),
            states: BTreeMap::new(),
        };
        for row in events {
            let (id, state): (String, String) = (row.try_get(0)?, row.try_get(1)?);
            *ledger.states.entry(format!("events {state}")).or_default() += 1;
            if let (true, Some(ended)) = (state == "handled", row.try_get::<Option<i64>, _>(2)?) {
                ledger.ended_at.insert(id, ended);
            }
        }
        for row in deliveries {
            let (id, channel, state, event): (String, String, String, String) = (
                row.try_get(0)?,
                row.try_get(1)?,
                row.try_get(2)?,
                row.try_get(3)?,
            );
            *ledger
                .states
                .entry(format!("deliveries {channel} {state}"))
                .or_default() += 1;
            ledger.origin.insert(id, event);
        }
        Ok(ledger)
    }
}

/// Warning and error lines of the hub's log, and a few distinct samples.
fn log_findings(path: &Path) -> (u64, Vec<String>) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut samples: Vec<String> = Vec::new();
    let mut count = 0;
    for line in text.lines() {
        let Some(at) = line.find("WARN").or_else(|| line.find("ERROR")) else {
            continue;
        };
        count += 1;
        let sample: String = line[at..].chars().take(200).collect();
        let stem = |s: &str| s.chars().take(60).collect::<String>();
        if samples.len() < 4 && !samples.iter().any(|s| stem(s) == stem(&sample)) {
            samples.push(sample);
        }
    }
    (count, samples)
}

// ---------------------------------------------------------------------------------------------
// The report.

fn render_report(
    setup: &Setup,
    started: OffsetDateTime,
    load_before: &str,
    load_after: &str,
    results: &BTreeMap<(Variant, Load), Vec<RunResult>>,
) -> String {
    let knobs = &setup.knobs;
    let runs = |v: Variant, l: Load| results.get(&(v, l)).map(Vec::as_slice).unwrap_or(&[]);
    let mut out = vec![
        "# Events benchmark: from MConnect Events to alerts".to_string(),
        String::new(),
        format!(
            "Written by `scripts/bench-events.sh` (`benches/events_flow.rs`) on {}{}.",
            started.format(&Rfc3339).unwrap_or_default(),
            if knobs.quick {
                " with `BENCH_QUICK=1`: one round of short windows, a check rather than a \
                 measurement"
            } else {
                ""
            }
        ),
        String::new(),
        "The hub runs as its own release process pinned to CPU 0; everything else (the registry \
         simulators, the MConnect Events simulator, MNotify, the module stand-in and the \
         publisher) runs in the bench process pinned to CPU 1. Events are appended to the \
         MConnect Events simulator's log in-process (`EventLog::publish`) at a steady offered \
         rate and the hub reads them over its WebSocket stream (`confirm:<offset>` once \
         stored). Every person of the population is in the master index before the hub starts. \
         `max` runs offer the aim and measure what the hub handles; `steady` runs offer half of \
         that and are drained, for the latencies of the events published in the window."
            .into(),
        String::new(),
        format!(
            "Knobs: {} s window after {} s of warm-up, {} round(s), `max` offered at {:.0} \
             events/s; variants {}.",
            knobs.seconds,
            knobs.warmup,
            knobs.rounds,
            knobs.rate,
            knobs
                .variants
                .iter()
                .map(|v| format!("`{}`", v.key()))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        String::new(),
    ];
    out.extend(machine_section(setup.cores, &rustc_version()));
    out.push(format!(
        "- Store: SQLite (WAL, `synchronous = FULL`) on {}",
        filesystem_of(&std::env::temp_dir())
    ));
    out.push(format!(
        "- Load average (1, 5, 15 min): {load_before} before the runs, {load_after} after"
    ));
    out.push(format!(
        "- Population: {} persons; `intake` cycles over {} living persons, `alert` over {} \
         persons with a disability",
        setup.population.persons().len(),
        setup.templates[&Variant::Intake].len(),
        setup.templates[&Variant::Alert].len()
    ));
    out.push(String::new());

    out.push("## Results (median of the runs)".into());
    out.push(String::new());
    out.push(
        "| Variant | Load | Offered/s | Taken/s | Handled/s | Alerts/s (webhooks + MNotify) \
         | Hub CPU ms/event | Hub core | CPU 0 busy | CPU 1 busy |"
            .into(),
    );
    out.push("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|".into());
    for &variant in &knobs.variants {
        for load in [Load::Max, Load::Steady] {
            let r = runs(variant, load);
            if r.is_empty() {
                continue;
            }
            out.push(format!(
                "| `{}` | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                variant.key(),
                load.key(),
                opt(median_by(r, |x| Some(x.offered)), 0),
                opt(median_by(r, |x| Some(x.rate(x.taken))), 0),
                opt(median_by(r, |x| Some(x.handled_per_s())), 0),
                opt(median_by(r, |x| Some(x.alerts_per_s())), 0),
                opt(median_by(r, RunResult::hub_ms_per_event), 3),
                pct(median_by(r, RunResult::hub_core)),
                pct(median_by(r, |x| x.cpu0_busy)),
                pct(median_by(r, |x| x.cpu1_busy)),
            ));
        }
    }
    out.push(String::new());
    out.push(
        "Latency from publication to the event handled (its alerts written), to the module's \
         webhook and to MNotify's notification, in the `steady` runs (ms; each run's percentiles \
         over the events published in its window, then the median over runs):"
            .into(),
    );
    out.push(String::new());
    out.push(
        "| Variant | Offered/s | Handled p50 | Handled p99 | Webhook p50 | Webhook p99 | \
         MNotify p50 | MNotify p99 |"
            .into(),
    );
    out.push("|---|--:|--:|--:|--:|--:|--:|--:|".into());
    for &variant in &knobs.variants {
        let r = runs(variant, Load::Steady);
        if r.is_empty() {
            continue;
        }
        let q = |f: fn(&RunResult) -> &Vec<f64>, p: f64| {
            median_by(r, move |x| RunResult::p(&sorted(f(x)), p))
        };
        out.push(format!(
            "| `{}` | {} | {} | {} | {} | {} | {} | {} |",
            variant.key(),
            opt(median_by(r, |x| Some(x.offered)), 0),
            opt(q(|x| &x.handled_ms, 50.0), 1),
            opt(q(|x| &x.handled_ms, 99.0), 1),
            opt(q(|x| &x.webhook_ms, 50.0), 1),
            opt(q(|x| &x.webhook_ms, 99.0), 1),
            opt(q(|x| &x.notification_ms, 50.0), 1),
            opt(q(|x| &x.notification_ms, 99.0), 1),
        ));
    }
    out.push(String::new());
    out.push("## What bounds it".into());
    out.push(String::new());
    for &variant in &knobs.variants {
        out.push(format!(
            "- `{}`: {}",
            variant.key(),
            bound(variant, runs(variant, Load::Max), knobs.rate)
        ));
    }
    out.push(String::new());
    out.push(aim(knobs, results));
    out.push(String::new());

    out.push("## Every run".into());
    out.push(String::new());
    for &variant in &knobs.variants {
        out.push(format!("### {}", variant.title()));
        out.push(String::new());
        out.push(
            "| Round | Load | Offered/s | Published | Taken | Handled | Webhooks | MNotify | \
             Left in MConnect | Left in hub | Hub CPU s | Bench CPU s | Handled p50/p99 ms | \
             Unfinished | Load avg after |"
                .into(),
        );
        out.push("|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|".into());
        for load in [Load::Max, Load::Steady] {
            for r in runs(variant, load) {
                let handled = sorted(&r.handled_ms);
                out.push(format!(
                    "| {} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} / {} | \
                     {} | {} |",
                    r.round,
                    load.key(),
                    r.offered,
                    r.published,
                    r.taken,
                    r.handled,
                    r.webhooks,
                    r.notifications,
                    r.backlog_stream,
                    r.backlog_hub,
                    opt(r.hub_cpu_s, 2),
                    opt(r.bench_cpu_s, 2),
                    opt(RunResult::p(&handled, 50.0), 1),
                    opt(RunResult::p(&handled, 99.0), 1),
                    if load == Load::Steady {
                        r.unfinished.to_string()
                    } else {
                        "–".into()
                    },
                    r.load_after,
                ));
            }
        }
        out.push(String::new());
        let states: Vec<String> = [Load::Max, Load::Steady]
            .into_iter()
            .flat_map(|load| runs(variant, load).iter().map(move |r| (load, r)))
            .map(|(load, r)| {
                format!(
                    "round {} {}: {}",
                    r.round,
                    load.key(),
                    r.states
                        .iter()
                        .map(|(k, v)| format!("{k} {v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
            .collect();
        out.push(format!(
            "Store at the end of each run: {}.",
            states.join("; ")
        ));
        let samples: Vec<String> = [Load::Max, Load::Steady]
            .into_iter()
            .flat_map(|load| runs(variant, load))
            .flat_map(|r| r.log_samples.clone())
            .collect();
        let lines: u64 = [Load::Max, Load::Steady]
            .into_iter()
            .flat_map(|load| runs(variant, load))
            .map(|r| r.log_lines)
            .sum();
        if lines > 0 {
            out.push(String::new());
            out.push(format!(
                "The hub logged {lines} warning or error lines over these runs, e.g. `{}`.",
                samples.first().cloned().unwrap_or_default()
            ));
        }
        out.push(String::new());
    }
    out.join("\n")
}

/// What the `max` runs say bounds a variant: the hub's core, the stream intake or the
/// handler, from where the backlog was at the window's end.
fn bound(variant: Variant, runs: &[RunResult], aim: f64) -> String {
    let Some(handled) = median_by(runs, |r| Some(r.handled_per_s())) else {
        return "no run.".into();
    };
    let core = median_by(runs, RunResult::hub_core).unwrap_or(0.0);
    let cpu0 = median_by(runs, |r| r.cpu0_busy).unwrap_or(0.0);
    let cpu1 = median_by(runs, |r| r.cpu1_busy).unwrap_or(0.0);
    let ms = median_by(runs, RunResult::hub_ms_per_event).unwrap_or(f64::NAN);
    let taken = median_by(runs, |r| Some(r.rate(r.taken))).unwrap_or(0.0);
    let in_stream = median_by(runs, |r| Some(r.backlog_stream as f64)).unwrap_or(0.0);
    let in_hub = median_by(runs, |r| Some(r.backlog_hub as f64)).unwrap_or(0.0);
    let mut text = format!(
        "{handled:.0} events/s handled at {aim:.0} offered, the hub busy {:.0} % of its core \
         ({ms:.3} ms of CPU per event, so one core of its own could do at most about {:.0}/s), \
         CPU 0 {:.0} % and CPU 1 {:.0} % busy in all. ",
        core * 100.0,
        1000.0 / ms,
        cpu0 * 100.0,
        cpu1 * 100.0
    );
    if cpu0 - core > 0.3 {
        text.push_str(&format!(
            "Other processes on the machine took {:.0} % of CPU 0 during the window, so the \
             hub got less than its core and the rate is lower than on a quiet machine. ",
            (cpu0 - core) * 100.0
        ));
    }
    if handled >= 0.95 * aim {
        text.push_str("The hub kept up with the offered rate; it is not saturated at this load.");
    } else if core > 0.85 {
        text.push_str(
            "The hub used its whole core: it is CPU-bound, and its rate is 1 / (CPU per event).",
        );
    } else if in_stream > in_hub {
        text.push_str(&format!(
            "The backlog stayed in MConnect Events (median {in_stream:.0} events published but \
             not confirmed at the window's end, {in_hub:.0} confirmed but not handled): the \
             stream intake bounds it, at {taken:.0} events/s taken. The consumer stores the \
             events that arrived together (at most 64, one commit, `synchronous = FULL`) and \
             only then confirms them and reads on; MConnect Events keeps at most 64 \
             unconfirmed events on the socket, so the rate is at most 64 per commit round \
             trip."
        ));
    } else {
        text.push_str(&format!(
            "The backlog was in the hub's store (median {in_hub:.0} events confirmed but not \
             handled at the window's end, {in_stream:.0} left in MConnect Events): the handler \
             bounds it, which claims up to 64 events (one per person) at a time and waits for \
             the slowest of them (its registry exchanges and its commit) before it claims again."
        ));
    }
    if variant == Variant::Alert {
        let alerts = median_by(runs, |r| Some(r.alerts_per_s())).unwrap_or(0.0);
        text.push_str(&format!(
            " Alerts arrived at {alerts:.0}/s (webhooks and notifications together)."
        ));
    }
    text
}

/// The comparison with the aim of 5,000 events/s (MConnect Events' own 10,000/s).
fn aim(knobs: &Knobs, results: &BTreeMap<(Variant, Load), Vec<RunResult>>) -> String {
    let mut parts = Vec::new();
    for &variant in &knobs.variants {
        if let Some(handled) = results
            .get(&(variant, Load::Max))
            .and_then(|r| median_by(r, |x| Some(x.handled_per_s())))
        {
            parts.push(format!(
                "`{}` {handled:.0}/s ({:.0} % of the aim)",
                variant.key(),
                handled / 5000.0 * 100.0
            ));
        }
    }
    format!(
        "Against the aim of 5,000 events/s on this machine (MConnect Events reports 10,000/s on \
         its own hardware): {}.",
        parts.join(", ")
    )
}
