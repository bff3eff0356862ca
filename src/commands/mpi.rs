//! `esocial-hub mpi ...`: bulk work on the beneficiary master index from the command line
//! (import, export, synthetic data, training). The index is the store at `--db`.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use secrecy::{ExposeSecret, SecretString};

use esocial_mpi::bulk::{self, InputFormat, RecordReader};
use esocial_mpi::engine::RelinkSummary;
use esocial_mpi::{MasterIndex, MpiError, Thresholds};
use esocial_store::Store;
use esocial_wire::crypto::sealing::Sealer;

/// The environment variable holding the secret that seals identity attributes (the same
/// secret as the server's `audit.digest_key`).
pub const KEY_VARIABLE: &str = "HUB__AUDIT__DIGEST_KEY";

fn sealer(key: Option<&SecretString>) -> anyhow::Result<Sealer> {
    let key = key.with_context(|| {
        format!("{KEY_VARIABLE} is not set: it holds the secret (32+ characters) that seals identity attributes in the index")
    })?;
    anyhow::ensure!(
        key.expose_secret().len() >= 32,
        "{KEY_VARIABLE} must be at least 32 characters of secret material"
    );
    Ok(Sealer::from_secret(key))
}

async fn open_store(db: &SecretString) -> anyhow::Result<Store> {
    let url = db.expose_secret();
    anyhow::ensure!(
        url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"),
        "--db must start with sqlite:, postgres:// or postgresql://"
    );
    Store::connect(db, 4)
        .await
        .context("--db: cannot open the master index's store")
}

/// Loads the index with a progress bar of the records read.
async fn load_with_progress(
    store: Store,
    sealer: Sealer,
    thresholds: Thresholds,
) -> anyhow::Result<MasterIndex> {
    let bar = progress_bar(None, "records loaded");
    let index = MasterIndex::load(store, sealer, thresholds, |n| bar.set_position(n as u64))
        .await
        .context("loading the master index")?;
    bar.finish_and_clear();
    Ok(index)
}

/// A progress bar on standard error when it is a terminal; otherwise a line every `every`.
fn progress_bar(length: Option<u64>, unit: &str) -> ProgressBar {
    let bar = match length {
        Some(length) => ProgressBar::new(length),
        None => ProgressBar::new_spinner(),
    };
    bar.set_draw_target(ProgressDrawTarget::stderr_with_hz(4));
    let template = match length {
        Some(_) => format!(
            "{{elapsed_precise}} [{{bar:40}}] {{pos}}/{{len}} {unit} ({{per_sec}}, eta {{eta}})"
        ),
        None => format!("{{elapsed_precise}} {{spinner}} {{pos}} {unit} ({{per_sec}})"),
    };
    bar.set_style(ProgressStyle::with_template(&template).expect("valid template"));
    bar
}

/// Options of `mpi import`.
pub struct ImportOptions<'a> {
    pub db: &'a SecretString,
    pub key: Option<&'a SecretString>,
    pub source: &'a str,
    pub file: &'a Path,
    pub format: InputFormat,
    pub thresholds: Thresholds,
    /// Learn the model from this file even if the index already has one.
    pub train: bool,
    pub actor: &'a str,
}

/// `mpi import`: reads, checks and links every record; bad lines are reported with their line
/// number and skipped. Exits 0 when every line was imported, 3 when some were rejected.
pub fn import(options: ImportOptions<'_>) -> anyhow::Result<ExitCode> {
    let sealer = sealer(options.key)?;
    esocial_mpi::engine::check_source(options.source)
        .map_err(|e| anyhow::anyhow!("--source {}", e.problem))?;
    let open = |what: &str| -> anyhow::Result<BufReader<File>> {
        let file = File::open(options.file)
            .with_context(|| format!("{what}: cannot open `{}`", options.file.display()))?;
        Ok(BufReader::with_capacity(1 << 20, file))
    };
    let size = std::fs::metadata(options.file).map(|m| m.len()).ok();
    super::runtime()?.block_on(async {
        let store = open_store(options.db).await?;
        let index = load_with_progress(store.clone(), sealer, options.thresholds).await?;
        let (existing, _) = index.counts();
        let mut trained = false;
        // Only a first load learns from its own file; later ones learn across sources below.
        if options.train || (existing == 0 && store.mpi_model().await?.is_none()) {
            // A first load that learns from its own file relinks it once all is in. With the
            // names of the whole file counted first (on another core, while EM runs), that
            // relink need not decide again the records that opened a person of their own
            // and that no later record came close to.
            let count_names = existing == 0;
            let started = Instant::now();
            eprintln!(
                "learning match weights (EM) from the first {} records{}...",
                bulk::TRAINING_SAMPLE,
                if count_names {
                    " and counting the names of the whole file"
                } else {
                    ""
                }
            );
            let training = RecordReader::new(open("training")?, &options.format)
                .map_err(|e| anyhow::anyhow!("{}: {e}", options.file.display()))?;
            let counting = if count_names {
                Some(
                    RecordReader::new(open("counting")?, &options.format)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", options.file.display()))?,
                )
            } else {
                None
            };
            let (model, counts) = std::thread::scope(|scope| {
                let counted =
                    counting.map(|counting| scope.spawn(|| bulk::count_names(counting)));
                let model = bulk::learn_model(training, bulk::TRAINING_SAMPLE, options.source);
                let counts = counted
                    .map(|thread| thread.join().expect("counting names does not panic"));
                (model, counts)
            });
            match model.check() {
                Ok(()) => {
                    eprintln!(
                        "learned from {} candidate and {} random pairs in {:.1} s (match share {:.3})",
                        model.candidate_pairs,
                        model.random_pairs,
                        started.elapsed().as_secs_f64(),
                        model.match_share
                    );
                    index.set_model(model, true).await?;
                    if let Some(counts) = counts {
                        index.fix_name_counts(counts);
                    }
                    trained = true;
                }
                Err(refused) => eprintln!(
                    "kept the {} weights, since the ones learned from this file were refused: {refused}",
                    index.model().source
                ),
            }
        }
        let reader = RecordReader::new(open("input")?, &options.format)
            .map_err(|e| anyhow::anyhow!("{}: {e}", options.file.display()))?;
        // The number of lines is not known in advance: the bar counts lines and shows the rate.
        let bar = progress_bar(None, "lines");
        let mut summary = bulk::import(
            &index,
            options.source,
            reader,
            options.actor,
            |rejected| {
                bar.suspend(|| eprintln!("line {}: {}", rejected.line, rejected.reason));
            },
            |line| bar.set_position(line as u64),
        )
        .await
        .context("import stopped; records before the last committed batch are kept")?;
        bar.finish_and_clear();
        summary.trained = trained;
        let relinked = match relearn_across_sources(&index, options.actor).await? {
            Some(relinked) => Some((RELINKED_UNDER_NEW_WEIGHTS, relinked)),
            // A file with duplicates of its own links each record against the records before
            // it only; once all are in, the records that did not simply join a person already
            // there, and those a later record came close to, are decided again, so that the
            // order of the lines does not decide who is linked.
            None if trained => Some((
                RELINKED_WITH_THE_WHOLE_FILE,
                relink_with_progress(&index, options.actor, true).await?,
            )),
            None => None,
        };
        index
            .audit(
                options.actor,
                "import",
                None,
                &format!(
                    "source={} imported={} rejected={}",
                    options.source, summary.imported, summary.rejected
                ),
            )
            .await?;
        let (records, persons) = index.counts();
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "imported {} of {} lines from `{}` as source `{}` in {:.1} s ({:.0} records/s; {:.1} s of it waiting for the store){}",
            summary.imported,
            summary.lines,
            options.file.display(),
            options.source,
            summary.seconds,
            summary.imported as f64 / summary.seconds.max(1e-9),
            summary.waiting_seconds,
            size.map(|s| format!(", {:.1} MB", s as f64 / 1e6))
                .unwrap_or_default(),
        )?;
        writeln!(
            out,
            "  new persons {}, linked automatically {}, sent to review {}, updated {}, rejected {}",
            summary.new_persons,
            summary.auto_linked,
            summary.reviews,
            summary.updated,
            summary.rejected
        )?;
        if let Some((why, relinked)) = relinked {
            write_relink_summary(&mut out, why, &relinked)?;
        }
        writeln!(
            out,
            "  index: {records} records ({existing} before), {persons} persons"
        )?;
        Ok(if summary.rejected == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(3)
        })
    })
}

/// After an import: when the index holds several sources and its weights were not learned
/// from all of them (the prior, weights from one source, or a source new since), learns them
/// from every source and relinks under them. Returns what the relink did, if it ran.
async fn relearn_across_sources(
    index: &MasterIndex,
    actor: &str,
) -> anyhow::Result<Option<RelinkSummary>> {
    let sources = index.sources();
    let model = index.model();
    if sources.len() < 2 || model.learned_from(&sources) {
        return Ok(None);
    }
    let unseen = sources
        .iter()
        .filter(|source| !model.sources.contains(source))
        .count();
    eprintln!(
        "the weights have not seen {unseen} of the index's {} sources; learning them from all...",
        sources.len()
    );
    let started = Instant::now();
    match index.train(bulk::TRAINING_PAIRS).await {
        Ok(model) => eprintln!(
            "learned from {} candidate and {} random pairs in {:.1} s (match share {:.3})",
            model.candidate_pairs,
            model.random_pairs,
            started.elapsed().as_secs_f64(),
            model.match_share
        ),
        Err(MpiError::Conflict { message, .. }) => {
            eprintln!("kept the weights the index had: {message}");
            return Ok(None);
        }
        Err(error) => return Err(error).context("learning the weights"),
    }
    Ok(Some(relink_with_progress(index, actor, false).await?))
}

/// Relinks the index with a progress bar on standard error: every record, or only those the
/// import just left unsettled (see [`MasterIndex::relink_unsettled`]).
async fn relink_with_progress(
    index: &MasterIndex,
    actor: &str,
    unsettled_only: bool,
) -> anyhow::Result<RelinkSummary> {
    let started = Instant::now();
    let bar = progress_bar(None, "records re-evaluated");
    let progress = |done: usize, _| bar.set_position(done as u64);
    let summary = if unsettled_only {
        index.relink_unsettled(actor, progress).await
    } else {
        index.relink(actor, progress).await
    }
    .context("relink stopped; passes before the failed one are kept")?;
    bar.finish_and_clear();
    eprintln!(
        "relinked in {:.1} s ({} passes)",
        started.elapsed().as_secs_f64(),
        summary.passes
    );
    index
        .audit(actor, "relink", None, &summary.audit_outcome())
        .await?;
    Ok(summary)
}

/// Why an import relinked: its weights were learned again from every source, or learned from
/// the file itself, whose early records were linked before their duplicates came.
const RELINKED_UNDER_NEW_WEIGHTS: &str = "relinked under the new weights";
const RELINKED_WITH_THE_WHOLE_FILE: &str = "relinked with the whole file in";

fn write_relink_summary(
    out: &mut impl Write,
    why: &str,
    summary: &RelinkSummary,
) -> std::io::Result<()> {
    writeln!(
        out,
        "  {why}: {} records re-evaluated ({} placed by people left alone), {} moved to another person, {} taken out to a person of their own, reviews {} opened and {} withdrawn, in {} passes",
        summary.examined,
        summary.pinned,
        summary.moved,
        summary.split,
        summary.reviews_opened,
        summary.reviews_withdrawn,
        summary.passes
    )?;
    if !summary.history_entries.is_empty() {
        writeln!(
            out,
            "  undo with the history entries, newest first: {}",
            summary.history_entries.join(", ")
        )?;
    }
    Ok(())
}

/// `mpi relink`: re-evaluates every automatic link under the index's current weights.
pub fn relink(
    db: &SecretString,
    key: Option<&SecretString>,
    thresholds: Thresholds,
    actor: &str,
) -> anyhow::Result<ExitCode> {
    let sealer = sealer(key)?;
    super::runtime()?.block_on(async {
        let index = load_with_progress(open_store(db).await?, sealer, thresholds).await?;
        let summary = relink_with_progress(&index, actor, false).await?;
        let (records, persons) = index.counts();
        let mut out = std::io::stdout().lock();
        write_relink_summary(&mut out, RELINKED_UNDER_NEW_WEIGHTS, &summary)?;
        writeln!(out, "  index: {records} records, {persons} persons")?;
        Ok(ExitCode::SUCCESS)
    })
}

/// `mpi export --links|--clusters FILE`.
pub fn export(db: &SecretString, clusters: bool, file: &Path) -> anyhow::Result<ExitCode> {
    super::runtime()?.block_on(async {
        let store = open_store(db).await?;
        let out =
            File::create(file).with_context(|| format!("cannot create `{}`", file.display()))?;
        let mut out = BufWriter::new(out);
        let lines = bulk::export(&store, clusters, &mut out).await?;
        writeln!(
            std::io::stdout().lock(),
            "wrote {lines} {} to `{}`",
            if clusters { "persons" } else { "links" },
            file.display()
        )?;
        Ok(ExitCode::SUCCESS)
    })
}

/// `mpi train`: re-learns the match weights from everything in the index.
pub fn train(
    db: &SecretString,
    key: Option<&SecretString>,
    thresholds: Thresholds,
) -> anyhow::Result<ExitCode> {
    let sealer = sealer(key)?;
    super::runtime()?.block_on(async {
        let index = load_with_progress(open_store(db).await?, sealer, thresholds).await?;
        let model = match index.train(bulk::TRAINING_PAIRS).await {
            Ok(model) => model,
            Err(MpiError::Conflict { message, .. }) => {
                eprintln!("error: the learned weights were refused, and the index keeps the ones it had: {message}");
                return Ok(ExitCode::from(3));
            }
            Err(error) => return Err(error.into()),
        };
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "trained on {} candidate and {} random pairs; match share {:.4}",
            model.candidate_pairs, model.random_pairs, model.match_share
        )?;
        for attribute in esocial_mpi::compare::Attribute::ALL {
            let weights: Vec<String> = attribute
                .levels()
                .iter()
                .enumerate()
                .map(|(level, name)| format!("{name} {:+.1}", model.weight(attribute, level as u8)))
                .collect();
            writeln!(out, "  {:<12} {}", attribute.name(), weights.join(", "))?;
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// `mpi synth`: synthetic records with duplicates, and the truth of who is who.
pub fn synth(persons: usize, out: &Path, truth: &Path, seed: u64) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(persons > 0, "--persons must be at least 1");
    let create = |path: &Path| -> anyhow::Result<BufWriter<File>> {
        Ok(BufWriter::with_capacity(
            1 << 20,
            File::create(path).with_context(|| format!("cannot create `{}`", path.display()))?,
        ))
    };
    let (mut records, mut truth_out) = (create(out)?, create(truth)?);
    let bar = progress_bar(Some(persons as u64), "persons");
    let started = Instant::now();
    let summary = esocial_sim::identity_records::generate(
        &esocial_sim::identity_records::SynthOptions { persons, seed },
        &mut records,
        &mut truth_out,
        |done| bar.set_position(done as u64),
    )
    .context("writing synthetic records")?;
    records.flush()?;
    truth_out.flush()?;
    bar.finish_and_clear();
    writeln!(
        std::io::stdout().lock(),
        "wrote {} records of {} persons to `{}` and the truth to `{}` in {:.1} s",
        summary.records,
        summary.persons,
        out.display(),
        truth.display(),
        started.elapsed().as_secs_f64()
    )?;
    Ok(ExitCode::SUCCESS)
}

/// `mpi synth --sources DIR`: one file per source system, to load one after another.
pub fn synth_sources(persons: usize, directory: &Path, seed: u64) -> anyhow::Result<ExitCode> {
    use esocial_sim::identity_records::SourceSystem;
    anyhow::ensure!(persons > 0, "--persons must be at least 1");
    std::fs::create_dir_all(directory)
        .with_context(|| format!("--sources: cannot create `{}`", directory.display()))?;
    let create = |name: &str| -> anyhow::Result<BufWriter<File>> {
        let path = directory.join(name);
        Ok(BufWriter::with_capacity(
            1 << 20,
            File::create(&path).with_context(|| format!("cannot create `{}`", path.display()))?,
        ))
    };
    let mut files = Vec::new();
    for source in SourceSystem::ALL {
        files.push(create(&format!("{}.jsonl", source.name()))?);
    }
    let mut truth = create("truth.jsonl")?;
    let bar = progress_bar(Some(persons as u64), "persons");
    let started = Instant::now();
    let summary = {
        let [a, b, c, d] = files.as_mut_slice() else {
            unreachable!("one file per source system")
        };
        let mut writers: [&mut dyn Write; 4] = [a, b, c, d];
        esocial_sim::identity_records::generate_by_source(
            &esocial_sim::identity_records::SynthOptions { persons, seed },
            &mut writers,
            &mut truth,
            |done| bar.set_position(done as u64),
        )
        .context("writing synthetic records")?
    };
    for file in &mut files {
        file.flush()?;
    }
    truth.flush()?;
    bar.finish_and_clear();
    let names: Vec<&str> = SourceSystem::ALL.iter().map(|s| s.name()).collect();
    writeln!(
        std::io::stdout().lock(),
        "wrote {} records of {} persons to `{}` ({}.jsonl, and truth.jsonl) in {:.1} s",
        summary.records,
        summary.persons,
        directory.display(),
        names.join(".jsonl, "),
        started.elapsed().as_secs_f64()
    )?;
    Ok(ExitCode::SUCCESS)
}

/// `mpi match`: candidates, scores and explanations for each record of a JSON Lines file,
/// against the index; changes nothing.
pub fn find(
    db: &SecretString,
    key: Option<&SecretString>,
    thresholds: Thresholds,
    file: &Path,
    limit: usize,
) -> anyhow::Result<ExitCode> {
    let sealer = sealer(key)?;
    let input = BufReader::new(
        File::open(file).with_context(|| format!("cannot open `{}`", file.display()))?,
    );
    super::runtime()?.block_on(async {
        let store = open_store(db).await?;
        let index = MasterIndex::load(store, sealer, thresholds, |_| {}).await?;
        let mut out = std::io::stdout().lock();
        for (line, record) in
            RecordReader::new(input, &InputFormat::JsonLines).map_err(|e| anyhow::anyhow!(e))?
        {
            let record = record.map_err(|e| anyhow::anyhow!("line {line}: {e}"))?;
            let result = index
                .find(&record, limit)
                .map_err(|e| anyhow::anyhow!("line {line}: {e}"))?;
            serde_json::to_writer(
                &mut out,
                &serde_json::json!({"line": line, "match": result}),
            )?;
            writeln!(out)?;
        }
        index.audit("cli-match", "match", None, "ok").await?;
        Ok(ExitCode::SUCCESS)
    })
}
