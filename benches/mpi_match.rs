//! Match latency of the beneficiary master index: what `POST /api/v1/persons/match` costs once
//! the index is in memory, and how long loading it takes and how much memory it holds.
//!
//! `cargo bench --bench mpi_match` against an index that is already imported (or
//! `scripts/bench-mpi.sh`, which synthesises records, imports them into SQLite and PostgreSQL
//! and runs this bench against both). The bench:
//!
//! 1. reads the query records (JSON Lines in the import format; lines that do not parse or do
//!    not pass the record checks are skipped and counted), cycling through them if the file
//!    holds fewer than `MPI_BENCH_N`;
//! 2. connects to the store and loads the whole index (`MasterIndex::load`), timing both, and
//!    reads `VmRSS`/`VmHWM` from `/proc/self/status` before and after;
//! 3. warms up with `MPI_BENCH_WARMUP` unreported matches (the first queries of the list);
//! 4. times `find(record, MPI_BENCH_LIMIT)` for each query, one at a time on one thread
//!    (the latency figures: p50, p90, p99, p99.9, max, also by outcome);
//! 5. runs the same queries again spread over `MPI_BENCH_THREADS` threads sharing the index
//!    (throughput, and the latency each query saw under that load);
//! 6. repeats 4 and 5 `MPI_BENCH_RUNS` times; every number of the summary is the median over
//!    the runs (each run's figures are kept too);
//! 7. prints a short summary and writes every figure as JSON.
//!
//! `find` only reads the in-memory index, so the store behind it matters for the load time,
//! not for the latency. The machine's load average before and after is recorded: other
//! processes on the machine show up in the tail latencies.
//!
//! Environment:
//! - `MPI_BENCH_DB` (required): URL of the imported index (`sqlite:///path/x.db`,
//!   `postgres://...`); passwords are masked in the output;
//! - `HUB__AUDIT__DIGEST_KEY` (required): the secret the import sealed the records with;
//! - `MPI_BENCH_QUERIES` (required): JSON Lines file of query records;
//! - `MPI_BENCH_N` (10000): timed queries per run; `MPI_BENCH_WARMUP` (1000): warm-up queries;
//! - `MPI_BENCH_THREADS` (2): threads of the concurrent run (0 = none);
//! - `MPI_BENCH_RUNS` (3): repetitions of the single-thread and concurrent passes;
//! - `MPI_BENCH_LIMIT` (10): candidates returned per match;
//! - `MPI_BENCH_LABEL` (the backend's name): a name for this run in the JSON;
//! - `MPI_BENCH_REPORT_JSON` (none): where to write the JSON results.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use esocial_mpi::bulk::{InputFormat, RecordReader};
use esocial_mpi::engine::{MatchResult, Outcome};
use esocial_mpi::record::SourceRecord;
use esocial_mpi::{MasterIndex, Thresholds};
use esocial_store::Store;
use esocial_wire::crypto::sealing::Sealer;
use secrecy::SecretString;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Knobs, read from the environment.
struct Knobs {
    db: String,
    key: String,
    queries: PathBuf,
    n: usize,
    warmup: usize,
    threads: usize,
    runs: usize,
    limit: usize,
    label: Option<String>,
    report: Option<PathBuf>,
}

fn env_usize(name: &str, default: usize) -> Result<usize, BoxError> {
    match std::env::var(name) {
        Ok(text) if !text.trim().is_empty() => text
            .trim()
            .parse()
            .map_err(|_| format!("{name} must be a whole number, not `{text}`").into()),
        _ => Ok(default),
    }
}

fn env_required(name: &str, what: &str) -> Result<String, BoxError> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| format!("{name} is not set: {what}").into())
}

fn env_optional(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl Knobs {
    fn from_env() -> Result<Self, BoxError> {
        let key = env_required(
            "HUB__AUDIT__DIGEST_KEY",
            "the secret the index was imported with",
        )?;
        if key.len() < 32 {
            return Err("HUB__AUDIT__DIGEST_KEY must be at least 32 characters".into());
        }
        Ok(Self {
            db: env_required(
                "MPI_BENCH_DB",
                "the URL of an imported index (sqlite:///path/x.db or postgres://...)",
            )?,
            key,
            queries: env_required("MPI_BENCH_QUERIES", "a JSON Lines file of query records")?
                .into(),
            n: env_usize("MPI_BENCH_N", 10_000)?.max(1),
            warmup: env_usize("MPI_BENCH_WARMUP", 1_000)?,
            threads: env_usize("MPI_BENCH_THREADS", 2)?,
            runs: env_usize("MPI_BENCH_RUNS", 3)?.max(1),
            limit: env_usize("MPI_BENCH_LIMIT", 10)?.max(1),
            label: env_optional("MPI_BENCH_LABEL"),
            report: env_optional("MPI_BENCH_REPORT_JSON").map(PathBuf::from),
        })
    }
}

/// The URL without its password.
fn masked(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// `VmRSS` and `VmHWM` of this process, in KiB (0 when /proc is not there).
fn memory() -> Value {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    json!({"vmRssKiB": field("VmRSS:"), "vmHwmKiB": field("VmHWM:")})
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .trim()
        .to_owned()
}

fn outcome_key(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::AutoLink => "auto-link",
        Outcome::Review => "review",
        Outcome::NoMatch => "no-match",
    }
}

/// Reads up to `n` valid query records; returns them and the number of lines skipped.
fn read_queries(knobs: &Knobs) -> Result<(Vec<SourceRecord>, usize), BoxError> {
    let file = File::open(&knobs.queries)
        .map_err(|e| format!("MPI_BENCH_QUERIES `{}`: {e}", knobs.queries.display()))?;
    let reader = RecordReader::new(BufReader::new(file), &InputFormat::JsonLines)?;
    let mut queries = Vec::new();
    let mut skipped = 0;
    for (_, record) in reader {
        match record {
            Ok(record) if record.check().is_ok() => queries.push(record),
            _ => skipped += 1,
        }
        if queries.len() >= knobs.n {
            break;
        }
    }
    if queries.is_empty() {
        return Err(format!(
            "MPI_BENCH_QUERIES `{}` holds no valid record",
            knobs.queries.display()
        )
        .into());
    }
    Ok((queries, skipped))
}

/// Latency percentiles (nearest rank) in microseconds.
fn percentiles(latencies: &[Duration]) -> Value {
    if latencies.is_empty() {
        return json!({"count": 0});
    }
    let mut micros: Vec<f64> = latencies.iter().map(|d| d.as_secs_f64() * 1e6).collect();
    micros.sort_by(f64::total_cmp);
    let rank = |p: f64| {
        let index = ((p / 100.0) * micros.len() as f64).ceil() as usize;
        micros[index.clamp(1, micros.len()) - 1]
    };
    let round = |v: f64| (v * 10.0).round() / 10.0;
    json!({
        "count": micros.len(),
        "mean": round(micros.iter().sum::<f64>() / micros.len() as f64),
        "p50": round(rank(50.0)),
        "p90": round(rank(90.0)),
        "p99": round(rank(99.0)),
        "p999": round(rank(99.9)),
        "max": round(*micros.last().expect("not empty")),
    })
}

/// One query: its latency and what it found (`None` when `find` refused it).
struct Timed {
    latency: Duration,
    result: Option<MatchResult>,
}

fn run_one(index: &MasterIndex, query: &SourceRecord, limit: usize) -> Timed {
    let started = Instant::now();
    let result = index.find(query, limit);
    let latency = started.elapsed();
    Timed {
        latency,
        result: result.ok(),
    }
}

/// The `position`-th query of the run (the list is cycled when it is shorter than the run).
fn query(queries: &[SourceRecord], position: usize) -> &SourceRecord {
    &queries[position % queries.len()]
}

fn single_thread(index: &MasterIndex, queries: &[SourceRecord], knobs: &Knobs) -> Value {
    let mut latencies = Vec::with_capacity(knobs.n);
    let mut by_outcome: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
    let mut returned = 0usize;
    let mut top_weight = Vec::new();
    let mut errors = 0usize;
    let started = Instant::now();
    for position in 0..knobs.n {
        let timed = run_one(index, query(queries, position), knobs.limit);
        latencies.push(timed.latency);
        match timed.result {
            Some(result) => {
                by_outcome
                    .entry(outcome_key(result.outcome))
                    .or_default()
                    .push(timed.latency);
                returned += result.candidates.len();
                if let Some(top) = result.candidates.first() {
                    top_weight.push(top.weight);
                }
            }
            None => errors += 1,
        }
    }
    let wall = started.elapsed().as_secs_f64();
    let outcomes: BTreeMap<&str, usize> = by_outcome.iter().map(|(k, v)| (*k, v.len())).collect();
    let latency_by_outcome: BTreeMap<&str, Value> = by_outcome
        .iter()
        .map(|(k, v)| (*k, percentiles(v)))
        .collect();
    json!({
        "queries": knobs.n,
        "wallSeconds": wall,
        "throughputPerSecond": knobs.n as f64 / wall,
        "latencyMicros": percentiles(&latencies),
        "latencyMicrosByOutcome": latency_by_outcome,
        "outcomes": outcomes,
        "errors": errors,
        "meanCandidatesReturned": returned as f64 / knobs.n as f64,
        "queriesWithCandidates": top_weight.len(),
    })
}

fn concurrent(index: &MasterIndex, queries: &[SourceRecord], knobs: &Knobs) -> Value {
    let threads = knobs.threads;
    let started = Instant::now();
    let per_thread: Vec<(Vec<Duration>, usize)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|thread| {
                scope.spawn(move || {
                    let mut latencies = Vec::with_capacity(knobs.n / threads + 1);
                    let mut errors = 0;
                    for position in (thread..knobs.n).step_by(threads) {
                        let timed = run_one(index, query(queries, position), knobs.limit);
                        latencies.push(timed.latency);
                        errors += usize::from(timed.result.is_none());
                    }
                    (latencies, errors)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("query thread"))
            .collect()
    });
    let wall = started.elapsed().as_secs_f64();
    let errors: usize = per_thread.iter().map(|(_, e)| e).sum();
    let latencies: Vec<Duration> = per_thread.into_iter().flat_map(|(l, _)| l).collect();
    json!({
        "threads": threads,
        "queries": knobs.n,
        "wallSeconds": wall,
        "throughputPerSecond": knobs.n as f64 / wall,
        "latencyMicros": percentiles(&latencies),
        "errors": errors,
    })
}

/// The median over runs of every number in their results (objects are merged key by key;
/// anything else is taken from the first run).
fn median_of(values: &[&Value]) -> Value {
    let Some(first) = values.first() else {
        return Value::Null;
    };
    match first {
        Value::Number(_) => {
            let mut numbers: Vec<f64> = values.iter().filter_map(|v| v.as_f64()).collect();
            numbers.sort_by(f64::total_cmp);
            let middle = numbers.len() / 2;
            let median = if numbers.len() % 2 == 1 {
                numbers[middle]
            } else {
                (numbers[middle - 1] + numbers[middle]) / 2.0
            };
            if values.iter().all(|v| v.is_u64()) && median.fract() == 0.0 {
                json!(median as u64)
            } else {
                json!(median)
            }
        }
        Value::Object(object) => Value::Object(
            object
                .keys()
                .map(|key| {
                    let column: Vec<&Value> = values.iter().map(|v| &v[key.as_str()]).collect();
                    (key.clone(), median_of(&column))
                })
                .collect(),
        ),
        other => (*other).clone(),
    }
}

fn run(knobs: &Knobs) -> Result<Value, BoxError> {
    let started_at = OffsetDateTime::now_utc().format(&Rfc3339)?;
    let load_before = loadavg();
    let (queries, skipped) = read_queries(knobs)?;
    eprintln!(
        "mpi_match: {} query records from {} ({skipped} skipped); loading {}",
        queries.len(),
        knobs.queries.display(),
        masked(&knobs.db)
    );
    let memory_before = memory();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // Keep the runtime entered until the end: the store's pool is dropped with the index.
    let _runtime = runtime.enter();
    let url = SecretString::from(knobs.db.clone());
    let connect_started = Instant::now();
    let store = runtime.block_on(Store::connect(&url, 2))?;
    let backend = format!("{:?}", store.backend()).to_lowercase();
    let connect_seconds = connect_started.elapsed().as_secs_f64();
    let sealer = Sealer::from_secret(&SecretString::from(knobs.key.clone()));
    let load_started = Instant::now();
    let index = runtime.block_on(MasterIndex::load(
        store,
        sealer,
        Thresholds::default(),
        |n| {
            if n % 200_000 == 0 {
                eprintln!("mpi_match:   {n} records loaded");
            }
        },
    ))?;
    let load_seconds = load_started.elapsed().as_secs_f64();
    let (records, persons) = index.counts();
    let approximate_bytes = index.with_index(|i| i.approximate_bytes());
    let memory_loaded = memory();
    eprintln!(
        "mpi_match: loaded {records} records of {persons} persons in {load_seconds:.1} s; \
         {memory_loaded}"
    );
    if records == 0 {
        return Err("the index is empty: import records first".into());
    }

    let warmup_started = Instant::now();
    for position in 0..knobs.warmup {
        std::hint::black_box(run_one(&index, query(&queries, position), knobs.limit));
    }
    let warmup_seconds = warmup_started.elapsed().as_secs_f64();
    eprintln!("mpi_match: warm-up of {} queries done", knobs.warmup);

    let mut runs = Vec::with_capacity(knobs.runs);
    for run in 1..=knobs.runs {
        let single = single_thread(&index, &queries, knobs);
        eprintln!(
            "mpi_match: run {run}/{}: 1 thread: {}",
            knobs.runs, single["latencyMicros"]
        );
        let concurrent = if knobs.threads > 0 {
            let value = concurrent(&index, &queries, knobs);
            eprintln!(
                "mpi_match: run {run}/{}: {} threads: {:.0} matches/s, {}",
                knobs.runs, knobs.threads, value["throughputPerSecond"], value["latencyMicros"]
            );
            value
        } else {
            Value::Null
        };
        runs.push(json!({"run": run, "singleThread": single, "concurrent": concurrent}));
    }
    let single = median_of(&runs.iter().map(|r| &r["singleThread"]).collect::<Vec<_>>());
    let concurrent = median_of(&runs.iter().map(|r| &r["concurrent"]).collect::<Vec<_>>());
    let memory_after = memory();

    Ok(json!({
        "bench": "mpi_match",
        "label": knobs.label.clone().unwrap_or_else(|| backend.clone()),
        "startedAt": started_at,
        "backend": backend,
        "db": masked(&knobs.db),
        "queries": {
            "file": knobs.queries.display().to_string(),
            "distinct": queries.len(),
            "skippedLines": skipped,
            "timedPerRun": knobs.n,
            "warmup": knobs.warmup,
            "warmupSeconds": warmup_seconds,
        },
        "limit": knobs.limit,
        "index": {
            "records": records,
            "persons": persons,
            "approximateBytes": approximate_bytes,
            "connectSeconds": connect_seconds,
            "loadSeconds": load_seconds,
        },
        "memory": {
            "beforeLoad": memory_before,
            "afterLoad": memory_loaded,
            "afterRuns": memory_after,
        },
        "runs": knobs.runs,
        "singleThread": single,
        "concurrent": concurrent,
        "eachRun": runs,
        "loadavgBefore": load_before,
        "loadavgAfter": loadavg(),
        "nproc": std::thread::available_parallelism().map_or(0, |n| n.get()),
    }))
}

fn summary(result: &Value) -> String {
    let ms = |v: &Value| {
        v.as_f64()
            .map_or("n/a".to_owned(), |us| format!("{:.3}", us / 1e3))
    };
    let kib_to_mib = |v: &Value| v.as_f64().map_or(f64::NAN, |k| k / 1024.0);
    let single = &result["singleThread"];
    let mut text = format!(
        "mpi_match [{}]: {} records / {} persons loaded in {:.1} s; RSS {:.0} MiB, peak {:.0} MiB; \
         medians of {} runs:\n",
        result["label"].as_str().unwrap_or("?"),
        result["index"]["records"],
        result["index"]["persons"],
        result["index"]["loadSeconds"].as_f64().unwrap_or(f64::NAN),
        kib_to_mib(&result["memory"]["afterLoad"]["vmRssKiB"]),
        kib_to_mib(&result["memory"]["afterLoad"]["vmHwmKiB"]),
        result["runs"],
    );
    let latency = &single["latencyMicros"];
    text.push_str(&format!(
        "  1 thread: {} queries, p50 {} ms, p90 {} ms, p99 {} ms, max {} ms, {:.0} matches/s; \
         outcomes {}\n",
        single["queries"],
        ms(&latency["p50"]),
        ms(&latency["p90"]),
        ms(&latency["p99"]),
        ms(&latency["max"]),
        single["throughputPerSecond"].as_f64().unwrap_or(f64::NAN),
        single["outcomes"],
    ));
    let concurrent = &result["concurrent"];
    if !concurrent.is_null() {
        let latency = &concurrent["latencyMicros"];
        text.push_str(&format!(
            "  {} threads: {:.0} matches/s, p50 {} ms, p99 {} ms, max {} ms\n",
            concurrent["threads"],
            concurrent["throughputPerSecond"]
                .as_f64()
                .unwrap_or(f64::NAN),
            ms(&latency["p50"]),
            ms(&latency["p99"]),
            ms(&latency["max"]),
        ));
    }
    text
}

fn main() {
    // `cargo test --all-targets` runs bench targets without `--bench`; measure only under
    // `cargo bench`.
    if !std::env::args().any(|arg| arg == "--bench") {
        eprintln!("mpi_match: a benchmark; run it with `cargo bench --bench mpi_match`");
        return;
    }
    let outcome = Knobs::from_env().and_then(|knobs| {
        let result = run(&knobs)?;
        if let Some(path) = &knobs.report {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(path, serde_json::to_string_pretty(&result)? + "\n")?;
            eprintln!("mpi_match: results written to {}", path.display());
        }
        let mut out = std::io::stdout().lock();
        out.write_all(summary(&result).as_bytes())?;
        out.flush()?;
        Ok(())
    });
    if let Err(error) = outcome {
        eprintln!("mpi_match: {error}");
        std::process::exit(1);
    }
}
