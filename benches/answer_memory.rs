//! The hub's memory over a long run that mixes large registry answers with ordinary ones: does
//! a 5 MB answer go through at stable memory, and does memory stay flat for ten minutes?
//!
//! `cargo bench --bench answer_memory` (or `scripts/bench-answer-memory.sh`). One process holds
//! the hub, a civil-registry simulator whose SOAP answers carry a scanned document of
//! `BENCH_ATTACHMENT_BYTES`, a health-registry simulator with ordinary REST answers, and the
//! callers. Every exchange is signed and verified both ways. Once a second the process's
//! resident memory (`VmRSS`) is read with the exchanges done so far; the report gives the
//! curve, its growth between the second and the last quarter of the run, and every failure.
//! The simulators are in the same process, so the figure is an upper bound on the hub's own.
//!
//! Environment:
//! - `BENCH_SECONDS` (120; 600 for the ten-minute soak): measured run;
//! - `BENCH_CALLERS` (8): concurrent callers, each looping sync exchanges;
//! - `BENCH_ATTACHMENT_BYTES` (5242880): bytes of the document in each civil answer;
//! - `BENCH_LARGE_EVERY` (10): one exchange in this many asks the civil registry;
//! - `BENCH_REPORT` (`reports/answer-memory.md`): where the Markdown report is written.

#[path = "common/machine.rs"]
#[allow(dead_code)]
mod machine;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use esocial_catalog::Catalog;
use esocial_hub::config::RegistryOverride;
use esocial_hub::demo::{DEMO_CLIENT, DEMO_UNGRANTED_CLIENT, demo_grants, embedded_settings};
use esocial_hub::startup::Application;
use esocial_sim::population::Population;
use esocial_sim::{Behaviour, SimulatorConfig};
use esocial_wire::crypto::pki::{PkiLayout, client_holder, init_dev_pki};
use machine::{adapters_dir, contracts_dir, logical_cpus, machine_section, rustc_version};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::sync::Mutex;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The service whose answers carry the large document (SOAP).
const LARGE_SERVICE: &str = "civil.person-details";
/// The service of the ordinary exchanges (REST).
const SMALL_SERVICE: &str = "health.insurance-status";

fn env_number<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(default)
}

struct Knobs {
    seconds: u64,
    callers: usize,
    attachment_bytes: usize,
    large_every: usize,
    report: PathBuf,
}

impl Knobs {
    fn from_env() -> Self {
        Self {
            seconds: env_number("BENCH_SECONDS", 120u64).max(10),
            callers: env_number("BENCH_CALLERS", 8usize).max(1),
            attachment_bytes: env_number("BENCH_ATTACHMENT_BYTES", 5 * 1024 * 1024usize),
            large_every: env_number("BENCH_LARGE_EVERY", 10usize).max(1),
            report: std::env::var("BENCH_REPORT")
                .map(PathBuf::from)
                .unwrap_or_else(|_| {
                    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("reports/answer-memory.md")
                }),
        }
    }
}

/// One reading, once a second.
#[derive(Clone, Copy)]
struct Sample {
    seconds: f64,
    rss_kib: u64,
    /// The anonymous part of the resident memory (`RssAnon`: heaps, stacks, caches); the rest
    /// is files' pages mapped in (the binary, and the store's database read through a memory
    /// map), which the kernel can drop and read again.
    anon_kib: u64,
    large: u64,
    small: u64,
}

/// What the callers count.
#[derive(Default)]
struct Counters {
    large: AtomicU64,
    small: AtomicU64,
    failures: Mutex<BTreeMap<String, u64>>,
}

fn rss_kib() -> u64 {
    status_kib("VmRSS:")
}

fn anon_kib() -> u64 {
    status_kib("RssAnon:")
}

/// A `kB` line of `/proc/self/status`.
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(field))
                .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    // `cargo test --all-targets` runs bench targets without `--bench`; measure only under
    // `cargo bench`.
    if !std::env::args().any(|arg| arg == "--bench") {
        eprintln!("answer_memory: a benchmark; run it with `scripts/bench-answer-memory.sh`");
        return;
    }
    let knobs = Knobs::from_env();
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    match runtime.block_on(run(&knobs)) {
        Ok(report) => {
            if let Err(error) = std::fs::write(&knobs.report, report) {
                eprintln!(
                    "answer_memory: cannot write {}: {error}",
                    knobs.report.display()
                );
                std::process::exit(1);
            }
            eprintln!(
                "answer_memory: report written to {}",
                knobs.report.display()
            );
            // Listeners run on threads of their own; do not wait for them.
            std::process::exit(0);
        }
        Err(error) => {
            eprintln!("answer_memory: {error}");
            std::process::exit(1);
        }
    }
}

struct Hub {
    address: String,
    client: reqwest::Client,
    subjects: Vec<String>,
    caller: String,
}

async fn start_hub(knobs: &Knobs, pki: &PkiLayout, db: PathBuf) -> Result<Hub, BoxError> {
    esocial_hub::telemetry::init("error", false);
    let catalog = Catalog::load(&adapters_dir(), &contracts_dir())?;
    let population = Arc::new(Population::default_population());
    let mut settings = embedded_settings(
        pki,
        &db,
        &adapters_dir(),
        &contracts_dir(),
        demo_grants(&catalog),
        SecretString::from("bench-digest-key-0123456789abcdef0123456789"),
        "127.0.0.1:0".parse()?,
        "127.0.0.1:0".parse()?,
    );
    for (service, attachment_bytes) in [(LARGE_SERVICE, knobs.attachment_bytes), (SMALL_SERVICE, 0)]
    {
        let registry = catalog
            .service(service)
            .ok_or("unknown service")?
            .registry
            .clone();
        let simulator = esocial_sim::start(
            &catalog,
            &registry,
            SimulatorConfig::from_dev_pki(
                pki,
                &registry,
                "127.0.0.1:0".parse()?,
                population.clone(),
                Behaviour {
                    attachment_bytes,
                    ..Behaviour::default()
                },
            )?,
        )?;
        tokio::spawn(simulator.server);
        let endpoint = &catalog
            .registry(&registry)
            .ok_or("unknown registry")?
            .endpoint;
        let path = reqwest::Url::parse(endpoint)?.path().to_string();
        settings.registries.insert(
            registry,
            RegistryOverride {
                endpoint: Some(format!("https://127.0.0.1:{}{path}", simulator.port)),
                ..RegistryOverride::default()
            },
        );
    }
    let application = Application::build(settings).await?;
    let address = format!("https://127.0.0.1:{}", application.api_port());
    tokio::spawn(application.run_until_stopped());
    let client = esocial_hub::demo::https_client_builder(pki, &client_holder(DEMO_CLIENT))?
        .pool_max_idle_per_host(knobs.callers)
        .timeout(Duration::from_secs(60))
        .build()?;
    let persons = population.persons();
    Ok(Hub {
        address,
        client,
        subjects: persons
            .iter()
            .filter(|person| !person.deceased)
            .map(|person| person.idnp.expose().to_string())
            .collect(),
        caller: persons[1].idnp.expose().to_string(),
    })
}

impl Hub {
    /// One sync exchange; `Err` names how it failed.
    async fn exchange(&self, service: &str, subject: &str) -> Result<(), String> {
        let body = json!({
            "service": service,
            "subject": {"idnp": subject},
            "purpose": {
                "legalBasis": "Legea nr. 123/2010, art. 12",
                "reason": "Evaluarea inițială a cazului",
                "caseId": "BENCH-1"
            },
            "caller": {"userIdnp": self.caller},
        });
        let response = self
            .client
            .post(format!("{}/api/v1/exchanges", self.address))
            .json(&body)
            .send()
            .await
            .map_err(|error| format!("transport: {error}"))?;
        let status = response.status().as_u16();
        let answer: Value = response
            .json()
            .await
            .map_err(|error| format!("body: {error}"))?;
        if status == 200 && answer["status"] == "completed" {
            Ok(())
        } else {
            Err(format!(
                "{service}: HTTP {status} {}",
                answer["code"].as_str().unwrap_or("")
            ))
        }
    }
}

async fn run(knobs: &Knobs) -> Result<String, BoxError> {
    let started_at = time::OffsetDateTime::now_utc();
    let dir = tempfile::tempdir()?;
    let pki = PkiLayout::new(dir.path().join("pki"));
    let catalog = Catalog::load(&adapters_dir(), &contracts_dir())?;
    let registries: Vec<String> = catalog.registries().map(|r| r.name.clone()).collect();
    init_dev_pki(
        &pki,
        &registries,
        &[DEMO_CLIENT.to_string(), DEMO_UNGRANTED_CLIENT.to_string()],
    )?;
    let rss_before_hub = rss_kib();
    let hub = Arc::new(start_hub(knobs, &pki, dir.path().join("hub.db")).await?);
    // Both kinds once before the clock starts: each must succeed.
    hub.exchange(LARGE_SERVICE, &hub.subjects[0]).await?;
    hub.exchange(SMALL_SERVICE, &hub.subjects[0]).await?;
    let rss_ready = rss_kib();

    let counters = Arc::new(Counters::default());
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(knobs.seconds);
    let mut callers = tokio::task::JoinSet::new();
    for _ in 0..knobs.callers {
        let (hub, counters, next) = (hub.clone(), counters.clone(), next.clone());
        let every = knobs.large_every;
        callers.spawn(async move {
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let large = i % every == 0;
                let service = if large { LARGE_SERVICE } else { SMALL_SERVICE };
                let subject = &hub.subjects[i % hub.subjects.len()];
                match hub.exchange(service, subject).await {
                    Ok(()) if large => counters.large.fetch_add(1, Ordering::Relaxed),
                    Ok(()) => counters.small.fetch_add(1, Ordering::Relaxed),
                    Err(failure) => {
                        *counters.failures.lock().await.entry(failure).or_default() += 1;
                        0
                    }
                };
            }
        });
    }
    let mut samples = Vec::new();
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    while Instant::now() < deadline {
        ticker.tick().await;
        samples.push(Sample {
            seconds: started.elapsed().as_secs_f64(),
            rss_kib: rss_kib(),
            anon_kib: anon_kib(),
            large: counters.large.load(Ordering::Relaxed),
            small: counters.small.load(Ordering::Relaxed),
        });
        let last = samples[samples.len() - 1];
        if samples.len() % 30 == 0 {
            eprintln!(
                "answer_memory: {:>4.0} s, RSS {:>6.1} MiB (anonymous {:>6.1}), {} large and {} \
                 ordinary exchanges",
                last.seconds,
                mib(last.rss_kib),
                mib(last.anon_kib),
                last.large,
                last.small
            );
        }
    }
    while callers.join_next().await.is_some() {}
    let failures = counters.failures.lock().await.clone();
    Ok(render(
        knobs,
        started_at,
        rss_before_hub,
        rss_ready,
        &samples,
        &failures,
    ))
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn median_rss(samples: &[Sample]) -> f64 {
    median_of(samples, |sample| sample.rss_kib)
}

fn median_of(samples: &[Sample], reading: impl Fn(&Sample) -> u64) -> f64 {
    let mut values: Vec<u64> = samples.iter().map(reading).collect();
    values.sort_unstable();
    values.get(values.len() / 2).copied().map_or(0.0, mib)
}

/// Slope of the least-squares line through `samples`, in MiB per minute.
fn slope_mib_per_minute(samples: &[Sample]) -> f64 {
    slope_of(samples, |sample| sample.rss_kib)
}

fn slope_of(samples: &[Sample], reading: impl Fn(&Sample) -> u64) -> f64 {
    let n = samples.len() as f64;
    if n < 2.0 {
        return 0.0;
    }
    let mean_t = samples.iter().map(|s| s.seconds).sum::<f64>() / n;
    let mean_m = samples.iter().map(|s| mib(reading(s))).sum::<f64>() / n;
    let (mut covariance, mut variance) = (0.0, 0.0);
    for sample in samples {
        let dt = sample.seconds - mean_t;
        covariance += dt * (mib(reading(sample)) - mean_m);
        variance += dt * dt;
    }
    if variance == 0.0 {
        0.0
    } else {
        covariance / variance * 60.0
    }
}

fn render(
    knobs: &Knobs,
    started_at: time::OffsetDateTime,
    rss_before_hub: u64,
    rss_ready: u64,
    samples: &[Sample],
    failures: &BTreeMap<String, u64>,
) -> String {
    let mut out = Vec::new();
    out.push("# Memory over a long run with large registry answers".to_string());
    out.push(String::new());
    out.push(format!(
        "Produced by `scripts/bench-answer-memory.sh` (`cargo bench --bench answer_memory`, \
         release profile), started {started_at}."
    ));
    out.push(String::new());
    out.push("## Machine".to_string());
    out.push(String::new());
    out.extend(machine_section(logical_cpus(), &rustc_version()));
    out.push(String::new());
    out.push("## What ran".to_string());
    out.push(String::new());
    out.push(format!(
        "- One process: the hub (embedded SQLite store, the settings of `embedded_settings`), \
         a simulator of the civil registry whose SOAP answers carry a scanned document of \
         {} bytes ({:.1} MiB of base64 text inside the signed body), a simulator of the health \
         registry with ordinary REST answers, and {} callers looping sync exchanges over \
         keep-alive mTLS connections for {} s.",
        knobs.attachment_bytes,
        knobs.attachment_bytes as f64 / 1_048_576.0,
        knobs.callers,
        knobs.seconds
    ));
    out.push(format!(
        "- One exchange in {} asks `{LARGE_SERVICE}` (the large answer: the simulator signs \
         it, the hub reads it within the registry's `max_answer_bytes`, verifies its signature, \
         parses it, maps it and leaves the document out of the result); the others ask \
         `{SMALL_SERVICE}`.",
        knobs.large_every
    ));
    out.push(
        "- Resident memory (`VmRSS` of the process, simulators included) read once a second, \
         and its anonymous part (`RssAnon`); the rest is pages of mapped files: the binary and \
         the store's database, which the hub reads through a memory map of up to 256 MiB."
            .to_string(),
    );
    out.push(String::new());
    let Some(last) = samples.last() else {
        out.push("No sample was taken.".to_string());
        return out.join("\n") + "\n";
    };
    let quarter = (samples.len() / 4).max(1);
    let second_quarter = &samples[quarter.min(samples.len() - 1)..(2 * quarter).min(samples.len())];
    let last_quarter = &samples[samples.len().saturating_sub(quarter)..];
    let growth = median_rss(last_quarter) - median_rss(second_quarter);
    let span_minutes = (last_quarter[last_quarter.len() / 2].seconds
        - second_quarter[second_quarter.len() / 2].seconds)
        / 60.0;
    let max = samples
        .iter()
        .map(|sample| sample.rss_kib)
        .max()
        .unwrap_or(0);
    let failed: u64 = failures.values().sum();
    out.push("## Summary".to_string());
    out.push(String::new());
    out.push("| | |".to_string());
    out.push("|---|---:|".to_string());
    out.push(format!(
        "| Large answers completed | {} ({:.1}/s) |",
        last.large,
        last.large as f64 / last.seconds
    ));
    out.push(format!(
        "| Ordinary exchanges completed | {} ({:.1}/s) |",
        last.small,
        last.small as f64 / last.seconds
    ));
    out.push(format!("| Failed exchanges | {failed} |"));
    out.push(format!(
        "| RSS before the hub started | {:.1} MiB |",
        mib(rss_before_hub)
    ));
    out.push(format!(
        "| RSS after one exchange of each kind | {:.1} MiB |",
        mib(rss_ready)
    ));
    out.push(format!(
        "| RSS, median of the second quarter of the run | {:.1} MiB |",
        median_rss(second_quarter)
    ));
    out.push(format!(
        "| RSS, median of the last quarter of the run | {:.1} MiB |",
        median_rss(last_quarter)
    ));
    out.push(format!("| RSS, highest reading | {:.1} MiB |", mib(max)));
    out.push(format!(
        "| Growth from the second to the last quarter | {growth:+.1} MiB over {span_minutes:.1} min |"
    ));
    out.push(format!(
        "| Trend over the second half (least-squares slope) | {:+.2} MiB/min |",
        slope_mib_per_minute(&samples[samples.len() / 2..])
    ));
    out.push(format!(
        "| Anonymous part (`RssAnon`), median of the second and of the last quarter | {:.1} and \
         {:.1} MiB |",
        median_of(second_quarter, |sample| sample.anon_kib),
        median_of(last_quarter, |sample| sample.anon_kib)
    ));
    out.push(format!(
        "| Anonymous part, trend over the second half | {:+.2} MiB/min |",
        slope_of(&samples[samples.len() / 2..], |sample| sample.anon_kib)
    ));
    out.push(String::new());
    if !failures.is_empty() {
        out.push("Failures:".to_string());
        out.push(String::new());
        for (failure, count) in failures {
            out.push(format!("- {count} × {failure}"));
        }
        out.push(String::new());
    }
    out.push("## The curve".to_string());
    out.push(String::new());
    out.push(
        "| Time (s) | RSS (MiB) | of it anonymous (MiB) | Large answers | Ordinary exchanges |"
            .to_string(),
    );
    out.push("|---:|---:|---:|---:|---:|".to_string());
    let step = (samples.len() / 20).max(1);
    for (index, sample) in samples.iter().enumerate() {
        if index % step == 0 || index + 1 == samples.len() {
            out.push(format!(
                "| {:.0} | {:.1} | {:.1} | {} | {} |",
                sample.seconds,
                mib(sample.rss_kib),
                mib(sample.anon_kib),
                sample.large,
                sample.small
            ));
        }
    }
    out.join("\n") + "\n"
}
