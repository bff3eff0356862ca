//! Command line of esocial-hub: parses arguments and hands over to the library.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use esocial_catalog::ContractPart;
use esocial_hub::commands;

/// The interoperability hub of eSocial: signed MConnect exchanges between eSocial modules and
/// government registries, eSocial's MConnect services for agencies, and the beneficiary master
/// index.
#[derive(Parser)]
#[command(name = "esocial-hub", version, propagate_version = true)]
struct Cli {
    /// Log as JSON lines instead of text.
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the hub with a settings file (see deploy/hub.example.toml). Any key can be
    /// overridden by an environment variable HUB__SECTION__KEY, e.g. HUB__STORE__URL.
    Serve {
        #[arg(long, short, default_value = "deploy/hub.example.toml")]
        config: PathBuf,
    },
    /// Start the hub and simulators of every registry on loopback with embedded defaults
    /// (SQLite, development PKI), send one sample exchange, ask eSocial as the police would,
    /// and keep serving.
    Demo {
        /// Folder for the development PKI and the SQLite store (created if missing).
        #[arg(long, default_value = ".esocial-demo")]
        dir: PathBuf,
        /// Folder with the registry adapters.
        #[arg(long, default_value = "adapters")]
        adapters: PathBuf,
        /// Folder with the published contracts.
        #[arg(long, default_value = "contracts")]
        contracts: PathBuf,
        /// Folder with the events' subscriptions.
        #[arg(long, default_value = "subscriptions")]
        subscriptions: PathBuf,
        /// Address of the hub's mTLS API.
        #[arg(long, default_value = "127.0.0.1:8443")]
        listen: SocketAddr,
        /// Address of the operations endpoints (/health/*, /metrics).
        #[arg(long, default_value = "127.0.0.1:9090")]
        ops_listen: SocketAddr,
        /// Exit after the sample exchange: status 0 if it completed, 1 if not.
        #[arg(long)]
        once: bool,
    },
    /// Run registry simulators built from the adapters: each speaks its registry's wire format
    /// over mTLS, verifies signatures, signs its answers and serves the adapter fixtures and a
    /// synthetic population. Each listens on the port of its adapter's endpoint.
    Simulate {
        /// A registry name (a folder in --adapters), `all`, or `events` (MConnect Events,
        /// MNotify and the case-management module's webhook endpoint on ports 8450-8452).
        registry: String,
        /// Listen here instead of the adapter endpoint's port (one registry only).
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Development PKI folder (from `certs init`): registry-<name>.pem/.key and ca.pem.
        #[arg(long, default_value = "certs/dev")]
        pki: PathBuf,
        #[arg(long, default_value = "adapters")]
        adapters: PathBuf,
        #[arg(long, default_value = "contracts")]
        contracts: PathBuf,
        /// Delay every answer by this many milliseconds.
        #[arg(long, default_value_t = 0)]
        delay_ms: u64,
        /// `events` only: events about the simulated population published on MConnect Events
        /// each second, as the registries would (0: none).
        #[arg(long, default_value_t = 1)]
        feed_per_second: u32,
    },
    /// Operators' controls of asynchronous exchanges.
    Queue {
        #[command(subcommand)]
        action: QueueAction,
    },
    /// The audit log of every access to personal data: verify it, sign a checkpoint, prove
    /// that an entry is in it or that it only grew, and check such proofs offline.
    Audit {
        #[command(subcommand)]
        action: AuditAction,
    },
    /// Published contracts for integrators.
    Contract {
        #[command(subcommand)]
        action: ContractAction,
    },
    /// The beneficiary master index: bulk import from legacy systems, exports, synthetic test
    /// data and training of the match weights.
    Mpi {
        #[command(subcommand)]
        action: MpiAction,
    },
    /// Development certificates.
    Certs {
        #[command(subcommand)]
        action: CertsAction,
    },
    /// MConnect WS-Security tools for integrators.
    Mconnect {
        #[command(subcommand)]
        action: MconnectAction,
    },
}

#[derive(Subcommand)]
enum QueueAction {
    /// List dead-lettered exchanges: id, when, service, attempts and reason.
    DeadLetters {
        #[arg(long, short, default_value = "deploy/hub.example.toml")]
        config: PathBuf,
    },
    /// Replay dead-lettered exchanges; each replay is a new exchange whose parent is the
    /// original. Exits 1 if any id was not a dead letter.
    Replay {
        #[arg(long, short, default_value = "deploy/hub.example.toml")]
        config: PathBuf,
        /// Who replays (recorded in the audit log).
        #[arg(long)]
        operator: String,
        /// Exchange ids to replay.
        #[arg(required = true)]
        ids: Vec<uuid::Uuid>,
    },
}

#[derive(Subcommand)]
enum AuditAction {
    /// Check every entry against its seal and the tree against every signed checkpoint.
    /// Exits 1 naming the first entry modified, deleted, inserted or reordered.
    /// With --archive FILE --cert PEM, check an archive file offline instead.
    Verify {
        #[arg(long, short, default_value = "deploy/hub.example.toml")]
        config: PathBuf,
        /// An archive file from `audit archive`, checked with --cert alone.
        #[arg(long, requires = "cert")]
        archive: Option<PathBuf>,
        /// The hub's signing certificate (PEM), for --archive.
        #[arg(long, requires = "archive")]
        cert: Option<PathBuf>,
    },
    /// Move the entries recorded before --before (default: audit.retention_days ago) out of
    /// the live log into a signed archive file in --out, up to the last checkpoint that covers
    /// only such entries (and that MLog has, when [mlog] is set).
    Archive {
        #[arg(long, short, default_value = "deploy/hub.example.toml")]
        config: PathBuf,
        /// The folder for the archive file.
        #[arg(long)]
        out: PathBuf,
        /// Archive entries recorded before this time (RFC 3339).
        #[arg(long)]
        before: Option<String>,
    },
    /// Place the entries waiting for their place and sign a checkpoint now (the hub also
    /// does this at `audit.checkpoint_interval_secs` and at shutdown).
    Checkpoint {
        #[arg(long, short, default_value = "deploy/hub.example.toml")]
        config: PathBuf,
    },
    /// List the signed checkpoints: tree size and time.
    Checkpoints {
        #[arg(long, short, default_value = "deploy/hub.example.toml")]
        config: PathBuf,
    },
    /// Print a JSON proof that an entry is in the log, against the latest checkpoint or the
    /// one of size --at.
    Prove {
        #[arg(long, short, default_value = "deploy/hub.example.toml")]
        config: PathBuf,
        /// The entry's id (for an exchange, the exchange id).
        #[arg(long)]
        entry: String,
        /// The size of the checkpoint to prove against.
        #[arg(long)]
        at: Option<u64>,
    },
    /// Print a JSON proof that the checkpoint of size NEWER extends the one of size OLDER.
    Consistency {
        #[arg(long, short, default_value = "deploy/hub.example.toml")]
        config: PathBuf,
        older: u64,
        newer: u64,
    },
    /// Print, as JSON, every access to the data of the person with this IDNP that the log
    /// holds (who, when, which service, legal basis, reason, fields released), each with its
    /// inclusion proof. The request is audited under --operator.
    Report {
        #[arg(long, short, default_value = "deploy/hub.example.toml")]
        config: PathBuf,
        /// The person's IDNP.
        #[arg(long)]
        idnp: String,
        /// Who asks (recorded in the audit log).
        #[arg(long)]
        operator: String,
        /// Only accesses at or after this time (RFC 3339).
        #[arg(long)]
        from: Option<String>,
        /// Only accesses before this time (RFC 3339).
        #[arg(long)]
        to: Option<String>,
        /// The `next` of the previous page.
        #[arg(long)]
        after: Option<i64>,
        /// Lines per page (1 to 500).
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Verify a proof document from `prove` or `consistency` offline, with only the hub's
    /// certificate. Exits 1 if it does not verify.
    Check {
        /// The proof document (JSON).
        file: PathBuf,
        /// The hub's signing certificate (PEM).
        #[arg(long)]
        cert: PathBuf,
    },
}

/// Where the index is, and the secret sealing its identity attributes.
#[derive(clap::Args)]
struct IndexArgs {
    /// The index's store: `sqlite://FILE?mode=rwc` or `postgres://...` (same as the server's
    /// store.url).
    #[arg(long, env = "HUB__STORE__URL", hide_env_values = true)]
    db: secrecy::SecretString,
}

/// Match-weight thresholds (defaults as in `[mpi]` of the settings).
#[derive(clap::Args)]
struct ThresholdArgs {
    /// Weight at or above which a record is linked automatically.
    #[arg(long, default_value_t = esocial_mpi::Thresholds::default().auto_link)]
    auto_link: f64,
    /// Weight at or above which a possible match goes to the review queue.
    #[arg(long, default_value_t = esocial_mpi::Thresholds::default().review)]
    review: f64,
}

#[derive(Subcommand)]
enum MpiAction {
    /// Import source records (JSON Lines or CSV), linking each as it is read.
    ///
    /// The format is in contracts/mpi/source-record.md. Bad lines are reported with their line
    /// number and skipped. Exit status: 0 all imported, 3 some lines rejected, 1 the import
    /// stopped (batches written before stay). Needs HUB__AUDIT__DIGEST_KEY (the server's
    /// audit.digest_key), which seals identity attributes in the store.
    ///
    /// Load legacy sources one after another, one import each. The first import into an empty
    /// index learns the match weights from its file, or keeps the documented prior ones when
    /// the file teaches nothing (a register without duplicates), and says why. An import that
    /// brings a source the weights were not learned from relearns them across all sources and
    /// relinks the index under them (see `mpi relink`).
    Import {
        #[command(flatten)]
        index: IndexArgs,
        /// Name of the source system (a-z, 0-9, - _ .), e.g. `legacy-sas`.
        #[arg(long)]
        source: String,
        /// Input file.
        file: PathBuf,
        /// `jsonl`, or `csv` (with a header row). Default: from the file extension.
        #[arg(long, value_parser = ["jsonl", "csv"])]
        format: Option<String>,
        /// CSV only: `field=column,...`, e.g. `localId=cod,lastName=nume,address.district=raion`.
        /// Unmapped fields are read from a column with the field's own name.
        #[arg(long)]
        columns: Option<String>,
        /// Learn the match weights from this file (before linking it) even if the index has
        /// learned ones; refused weights are reported and the index keeps its own.
        #[arg(long)]
        train: bool,
        #[command(flatten)]
        thresholds: ThresholdArgs,
        #[arg(
            long,
            env = "HUB__AUDIT__DIGEST_KEY",
            hide_env_values = true,
            hide = true
        )]
        key: Option<secrecy::SecretString>,
    },
    /// Export the index's links or clusters as JSON Lines.
    Export {
        #[command(flatten)]
        index: IndexArgs,
        /// One line per linked pair of records: {"a":{source,localId},"b":{...},"score":...}.
        #[arg(
            long,
            conflicts_with = "clusters",
            required_unless_present = "clusters"
        )]
        links: Option<PathBuf>,
        /// One line per person: {"personId":...,"records":[{source,localId},...]}.
        #[arg(long)]
        clusters: Option<PathBuf>,
    },
    /// Generate synthetic Moldovan records with duplicates, and the truth of who is who.
    ///
    /// Romanian and Russian names, transliterations and Cyrillic, typos, missing fields, name
    /// changes, twins and relatives sharing addresses. Either one file of records from many
    /// systems (--out and --truth), or one file per source system (--sources DIR) to load one
    /// after another.
    #[command(group = clap::ArgGroup::new("output").required(true).args(["out", "sources"]))]
    Synth {
        /// Number of distinct persons (records are about 1.6 times as many with --out, 2.2
        /// times with --sources).
        #[arg(long)]
        persons: usize,
        /// Records, one JSON line each (the import format).
        #[arg(long, requires = "truth")]
        out: Option<PathBuf>,
        /// Truth: one line per record, {"localId":...,"personId":...}.
        #[arg(long, requires = "out")]
        truth: Option<PathBuf>,
        /// Writes register.jsonl (the population register, no duplicates), school.jsonl,
        /// police.jsonl, health.jsonl and truth.jsonl into this directory (created if missing).
        #[arg(long, conflicts_with_all = ["out", "truth"])]
        sources: Option<PathBuf>,
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// Show candidates, scores and explanations for records of a JSON Lines file.
    ///
    /// The same as `POST /api/v1/persons/match` for each line; changes nothing.
    Match {
        #[command(flatten)]
        index: IndexArgs,
        #[command(flatten)]
        thresholds: ThresholdArgs,
        /// Records to look for, one JSON line each.
        file: PathBuf,
        /// Candidates shown per record.
        #[arg(long, default_value_t = 5)]
        limit: usize,
        #[arg(
            long,
            env = "HUB__AUDIT__DIGEST_KEY",
            hide_env_values = true,
            hide = true
        )]
        key: Option<secrecy::SecretString>,
    },
    /// Re-evaluate every automatic link under the index's current weights (after `mpi train`).
    ///
    /// Records linked automatically or made new persons move to the person they now match,
    /// or leave a person they no longer match well enough; open reviews that no longer stand
    /// are withdrawn. Nothing a person decided moves. Prints what changed and the history
    /// entries that undo it.
    Relink {
        #[command(flatten)]
        index: IndexArgs,
        #[command(flatten)]
        thresholds: ThresholdArgs,
        #[arg(
            long,
            env = "HUB__AUDIT__DIGEST_KEY",
            hide_env_values = true,
            hide = true
        )]
        key: Option<secrecy::SecretString>,
    },
    /// Re-learn the match weights (EM) from every source in the index and print them.
    ///
    /// EM starts from the documented prior weights; weights that make no sense (an agreement
    /// weighing less than a disagreement, or no matches to learn from) are refused with the
    /// reason, exit code 3, and the index keeps the weights it had. Run `mpi relink` after.
    Train {
        #[command(flatten)]
        index: IndexArgs,
        #[command(flatten)]
        thresholds: ThresholdArgs,
        #[arg(
            long,
            env = "HUB__AUDIT__DIGEST_KEY",
            hide_env_values = true,
            hide = true
        )]
        key: Option<secrecy::SecretString>,
    },
}

#[derive(Subcommand)]
enum ContractAction {
    /// Check a canonical request or response (JSON) against a service's contract; prints every
    /// violation with its JSON pointer and exits 1 if there is any.
    Validate {
        /// Service id, e.g. civil.person-details.
        service: String,
        /// Which side of the contract.
        #[arg(value_enum)]
        part: Part,
        /// The JSON document.
        file: PathBuf,
        #[arg(long, default_value = "adapters")]
        adapters: PathBuf,
        #[arg(long, default_value = "contracts")]
        contracts: PathBuf,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Part {
    Request,
    Response,
}

#[derive(Subcommand)]
enum CertsAction {
    /// Create a development CA and certificates for the hub, each registry and each client.
    /// Existing files are kept. Never use these keys outside development.
    Init {
        #[arg(long)]
        dir: PathBuf,
        /// Registries to issue certificates for (default: every folder in --adapters).
        #[arg(long = "registry")]
        registries: Vec<String>,
        /// Client modules to issue certificates for.
        #[arg(long = "client", default_values_t = ["case-management".to_string(), "benefits".to_string()])]
        clients: Vec<String>,
        #[arg(long, default_value = "adapters")]
        adapters: PathBuf,
    },
    /// Revoke a development certificate: add it to the CA's revocation list (crl.pem in --dir)
    /// and sign the list again. A hub whose `[revocation]` reads that file refuses the
    /// certificate once it has reloaded it.
    Revoke {
        #[arg(long)]
        dir: PathBuf,
        /// Holder of the certificate, as in its file name: hub, registry-<name>, client-<name>.
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand)]
enum MconnectAction {
    /// Sign a SOAP envelope read from standard input (WS-Security: BinarySecurityToken,
    /// Timestamp, RSA-SHA256 over Body and Timestamp, exclusive C14N) and write it to standard
    /// output.
    Sign {
        /// Private key (PEM).
        #[arg(long)]
        key: PathBuf,
        /// Certificate matching the key (PEM).
        #[arg(long)]
        cert: PathBuf,
        /// Lifetime of the timestamp, in seconds.
        #[arg(long, default_value_t = 900)]
        ttl_secs: u64,
    },
    /// Verify a signed SOAP envelope read from standard input. Exits 0 when valid; otherwise
    /// prints the reason and exits 1.
    Verify {
        /// CA bundle (PEM) the signer's certificate must chain to.
        #[arg(long)]
        trust: PathBuf,
    },
}

fn thresholds(args: &ThresholdArgs) -> anyhow::Result<esocial_mpi::Thresholds> {
    anyhow::ensure!(
        args.review < args.auto_link,
        "--review must be below --auto-link"
    );
    Ok(esocial_mpi::Thresholds {
        auto_link: args.auto_link,
        review: args.review,
    })
}

fn run_mpi(action: MpiAction) -> anyhow::Result<std::process::ExitCode> {
    use esocial_hub::commands::mpi;
    use esocial_mpi::bulk::{InputFormat, parse_column_map};
    match action {
        MpiAction::Import {
            index,
            source,
            file,
            format,
            columns,
            train,
            thresholds: threshold_args,
            key,
        } => {
            let csv = match format.as_deref() {
                Some(format) => format == "csv",
                None => file
                    .extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("csv")),
            };
            let format = match (csv, columns) {
                (true, columns) => InputFormat::Csv {
                    columns: parse_column_map(columns.as_deref().unwrap_or(""))
                        .map_err(|e| anyhow::anyhow!("--columns: {e}"))?,
                },
                (false, None) => InputFormat::JsonLines,
                (false, Some(_)) => anyhow::bail!("--columns is only for CSV input"),
            };
            mpi::import(mpi::ImportOptions {
                db: &index.db,
                key: key.as_ref(),
                source: &source,
                file: &file,
                format,
                thresholds: thresholds(&threshold_args)?,
                train,
                actor: "cli-import",
            })
        }
        MpiAction::Export {
            index,
            links,
            clusters,
        } => match (links, clusters) {
            (Some(file), None) => mpi::export(&index.db, false, &file),
            (None, Some(file)) => mpi::export(&index.db, true, &file),
            _ => anyhow::bail!("give exactly one of --links FILE or --clusters FILE"),
        },
        MpiAction::Synth {
            persons,
            out,
            truth,
            sources,
            seed,
        } => match (out, truth, sources) {
            (Some(out), Some(truth), None) => mpi::synth(persons, &out, &truth, seed),
            (None, None, Some(directory)) => mpi::synth_sources(persons, &directory, seed),
            _ => anyhow::bail!("give --out FILE and --truth FILE, or --sources DIR"),
        },
        MpiAction::Match {
            index,
            thresholds: threshold_args,
            file,
            limit,
            key,
        } => mpi::find(
            &index.db,
            key.as_ref(),
            thresholds(&threshold_args)?,
            &file,
            limit,
        ),
        MpiAction::Relink {
            index,
            thresholds: threshold_args,
            key,
        } => mpi::relink(
            &index.db,
            key.as_ref(),
            thresholds(&threshold_args)?,
            "cli-relink",
        ),
        MpiAction::Train {
            index,
            thresholds: threshold_args,
            key,
        } => mpi::train(&index.db, key.as_ref(), thresholds(&threshold_args)?),
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let quiet = matches!(
        cli.command,
        Command::Mconnect { .. } | Command::Certs { .. }
    );
    esocial_hub::telemetry::init(
        if quiet {
            "warn"
        } else {
            "info,actix_server=warn"
        },
        cli.log_json,
    );
    let result = match cli.command {
        Command::Serve { config } => commands::serve(&config),
        Command::Demo {
            dir,
            adapters,
            contracts,
            subscriptions,
            listen,
            ops_listen,
            once,
        } => commands::demo(esocial_hub::demo::DemoOptions {
            dir,
            adapters,
            contracts,
            subscriptions,
            listen,
            ops_listen,
            once,
        }),
        Command::Simulate {
            registry,
            listen,
            pki,
            adapters,
            contracts,
            delay_ms,
            feed_per_second,
        } => commands::simulate(
            &registry,
            listen,
            &pki,
            &adapters,
            &contracts,
            delay_ms,
            feed_per_second,
        ),
        Command::Queue {
            action: QueueAction::DeadLetters { config },
        } => commands::queue_dead_letters(&config),
        Command::Queue {
            action:
                QueueAction::Replay {
                    config,
                    operator,
                    ids,
                },
        } => commands::queue_replay(&config, &operator, &ids),
        Command::Audit { action } => match action {
            AuditAction::Verify {
                archive: Some(archive),
                cert: Some(cert),
                ..
            } => commands::audit::verify_archive(&archive, &cert),
            AuditAction::Verify { config, .. } => commands::audit::verify(&config),
            AuditAction::Archive {
                config,
                out,
                before,
            } => commands::audit::archive(&config, &out, before.as_deref()),
            AuditAction::Checkpoint { config } => commands::audit::checkpoint(&config),
            AuditAction::Checkpoints { config } => commands::audit::checkpoints(&config),
            AuditAction::Prove { config, entry, at } => commands::audit::prove(&config, &entry, at),
            AuditAction::Consistency {
                config,
                older,
                newer,
            } => commands::audit::consistency(&config, older, newer),
            AuditAction::Check { file, cert } => commands::audit::check(&file, &cert),
            AuditAction::Report {
                config,
                idnp,
                operator,
                from,
                to,
                after,
                limit,
            } => commands::audit::report(
                &config,
                &commands::audit::ReportArgs {
                    idnp: &idnp,
                    operator: &operator,
                    from: from.as_deref(),
                    to: to.as_deref(),
                    after,
                    limit,
                },
            ),
        },
        Command::Contract {
            action:
                ContractAction::Validate {
                    service,
                    part,
                    file,
                    adapters,
                    contracts,
                },
        } => commands::contract_validate(
            &service,
            match part {
                Part::Request => ContractPart::Request,
                Part::Response => ContractPart::Response,
            },
            &file,
            &adapters,
            &contracts,
        ),
        Command::Mpi { action } => run_mpi(action),
        Command::Certs {
            action:
                CertsAction::Init {
                    dir,
                    registries,
                    clients,
                    adapters,
                },
        } => commands::certs_init(&dir, registries, &clients, &adapters),
        Command::Certs {
            action: CertsAction::Revoke { dir, name },
        } => commands::certs_revoke(&dir, &name),
        Command::Mconnect {
            action:
                MconnectAction::Sign {
                    key,
                    cert,
                    ttl_secs,
                },
        } => commands::mconnect_sign(&key, &cert, ttl_secs),
        Command::Mconnect {
            action: MconnectAction::Verify { trust },
        } => commands::mconnect_verify(&trust),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
