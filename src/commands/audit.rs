//! `audit ...`: the operators' and auditors' commands over the audit log. `verify`, `prove`,
//! `consistency` and `checkpoint` read the hub's settings (store, audit key, certificate);
//! `check` needs only a proof document and the hub's certificate.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use openssl::x509::X509;

use super::{read_file, runtime};
use crate::audit::proof::{self, ProofDocument};
use crate::audit::{AuditLog, AuditSealer, verify};
use crate::config::Settings;

/// What the audit commands need from the settings.
struct AuditContext {
    store: esocial_store::Store,
    settings: Settings,
    certificate: X509,
}

async fn open(config: &Path) -> anyhow::Result<AuditContext> {
    let settings =
        Settings::load(config).with_context(|| format!("settings from `{}`", config.display()))?;
    let certificate = read_certificate(&settings.mconnect.signing_cert, "mconnect.signing_cert")?;
    let store = esocial_store::Store::connect(&settings.store.url, 2)
        .await
        .context("setting `store.url`: cannot open the store")?;
    Ok(AuditContext {
        store,
        settings,
        certificate,
    })
}

fn read_certificate(path: &Path, what: &str) -> anyhow::Result<X509> {
    X509::from_pem(&read_file(path, what)?)
        .with_context(|| format!("{what}: `{}` is not a PEM certificate", path.display()))
}

/// `audit verify`: exit 0 when the whole log checks, 1 naming the first problem.
pub fn verify(config: &Path) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let context = open(config).await?;
        let sealer = AuditSealer::from_ring(&context.settings.key_ring());
        let outcome = verify::verify(&context.store, &sealer, &context.certificate, |checked| {
            eprintln!("audit verify: {checked} entries checked");
        })
        .await?;
        match outcome {
            Ok(verified) => {
                writeln!(
                    std::io::stdout().lock(),
                    "the audit log verifies: {} entries, {} signed checkpoint(s), the last of size {}; {} entries waiting for their place",
                    verified.entries,
                    verified.checkpoints,
                    verified
                        .latest_checkpoint
                        .map_or_else(|| "-".to_string(), |size| size.to_string()),
                    verified.pending
                )?;
                Ok(ExitCode::SUCCESS)
            }
            Err(finding) => {
                eprintln!("the audit log does not verify: {finding}");
                Ok(ExitCode::FAILURE)
            }
        }
    })
}

/// `audit checkpoint`: places what is pending and signs a checkpoint now.
pub fn checkpoint(config: &Path) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let context = open(config).await?;
        let settings = &context.settings;
        let identity = esocial_wire::crypto::wssec::SigningIdentity::from_pem(
            &read_file(&settings.mconnect.signing_key, "mconnect.signing_key")?,
            &read_file(&settings.mconnect.signing_cert, "mconnect.signing_cert")?,
        )
        .context("settings `mconnect.signing_*`")?;
        let log = AuditLog::new(
            context.store.clone(),
            AuditSealer::from_ring(&settings.key_ring()),
            Arc::new(identity),
        );
        let placed = log.place_pending().await?;
        let mut out = std::io::stdout().lock();
        match log.checkpoint().await? {
            Some(size) => writeln!(
                out,
                "placed {placed} entries; signed a checkpoint of size {size}"
            )?,
            None => writeln!(
                out,
                "placed {placed} entries; the last checkpoint already covers the log"
            )?,
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// `audit checkpoints`: lists the signed checkpoints.
pub fn checkpoints(config: &Path) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let context = open(config).await?;
        let mut out = std::io::stdout().lock();
        for stored in context.store.audit_checkpoints().await? {
            let time = crate::audit::checkpoint::Checkpoint::parse(&stored.note)
                .map(|c| c.time)
                .unwrap_or_else(|error| format!("unreadable: {error}"));
            writeln!(out, "{}\t{time}", stored.size)?;
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn write_document(document: &ProofDocument) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, document)?;
    writeln!(out)?;
    Ok(ExitCode::SUCCESS)
}

/// `audit prove --entry ID [--at SIZE]`: an inclusion proof, as JSON on standard output.
pub fn prove(config: &Path, entry: &str, at: Option<u64>) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let context = open(config).await?;
        let document =
            proof::prove_inclusion(&context.store, entry, at, &context.certificate).await?;
        write_document(&document)
    })
}

/// `audit consistency OLDER NEWER`: a consistency proof, as JSON on standard output.
pub fn consistency(config: &Path, older: u64, newer: u64) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let context = open(config).await?;
        let document =
            proof::prove_consistency(&context.store, older, newer, &context.certificate).await?;
        write_document(&document)
    })
}

/// `audit check FILE --cert PEM`: verifies a proof document offline.
pub fn check(file: &Path, cert: &Path) -> anyhow::Result<ExitCode> {
    let certificate = read_certificate(cert, "--cert")?;
    let text = read_file(file, "the proof document")?;
    let document: ProofDocument = serde_json::from_slice(&text)
        .with_context(|| format!("`{}` is not a proof document", file.display()))?;
    match proof::check(&document, &certificate) {
        Ok(proven) => {
            writeln!(std::io::stdout().lock(), "proof verified: {proven}")?;
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            eprintln!("proof does not verify: {error:#}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// What `audit report` is asked.
pub struct ReportArgs<'a> {
    pub idnp: &'a str,
    pub operator: &'a str,
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
    pub after: Option<i64>,
    pub limit: u32,
}

fn time_argument(name: &str, value: Option<&str>) -> anyhow::Result<Option<time::OffsetDateTime>> {
    value
        .map(|text| {
            time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                .map_err(|_| anyhow::anyhow!("--{name} must be an RFC 3339 time"))
        })
        .transpose()
}

/// `audit report --idnp X --operator NAME`: every access to the data of the person with that
/// IDNP, as JSON with proofs. The request is audited, under the operator's name, before the
/// report is printed.
pub fn report(config: &Path, args: &ReportArgs<'_>) -> anyhow::Result<ExitCode> {
    let idnp = esocial_wire::domain::Idnp::parse(args.idnp).map_err(|_| {
        anyhow::anyhow!("--idnp is not a valid IDNP (13 digits with a valid check digit)")
    })?;
    anyhow::ensure!(
        !args.operator.trim().is_empty(),
        "--operator must name who asks, for the audit log"
    );
    anyhow::ensure!(
        (1..=crate::audit::report::MAX_PAGE).contains(&args.limit),
        "--limit must be between 1 and 500"
    );
    let from = time_argument("from", args.from)?;
    let to = time_argument("to", args.to)?;
    runtime()?.block_on(async {
        let context = open(config).await?;
        let digests = crate::audit::PersonalDataDigester::new(&context.settings.key_ring())
            .digests(idnp.expose());
        context
            .store
            .record_audit_entry(&esocial_store::AuditEntryRow {
                entry_id: uuid::Uuid::now_v7().to_string(),
                kind: "audit.report".into(),
                recorded_at: time::OffsetDateTime::now_utc()
                    .format(&time::format_description::well_known::Rfc3339)?,
                exchange_id: None,
                client_id: Some(format!("operator:{}", args.operator.trim())),
                service: None,
                legal_basis: None,
                reason: None,
                case_id: None,
                calling_user_digest: None,
                subject_digest: Some(digests[0].clone()),
                person_id: None,
                outcome: "ok".into(),
                error_code: None,
                fields_released: None,
                request_digest: None,
                response_digest: None,
            })
            .await
            .context("the request could not be audited, so no report is given")?;
        let report = crate::audit::report::access_report(
            &context.store,
            &crate::audit::report::ReportQuery {
                person_id: None,
                subject_digests: digests,
                from,
                to,
                after: args.after,
                limit: args.limit,
            },
        )
        .await?;
        let mut out = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
        Ok(ExitCode::SUCCESS)
    })
}

/// `audit archive --out DIR [--before TIME]`.
pub fn archive(config: &Path, out: &Path, before: Option<&str>) -> anyhow::Result<ExitCode> {
    let before = time_argument("before", before)?;
    runtime()?.block_on(async {
        let context = open(config).await?;
        let before = match (before, context.settings.audit.retention_days) {
            (Some(before), _) => before,
            (None, Some(days)) => {
                time::OffsetDateTime::now_utc() - time::Duration::days(i64::from(days))
            }
            (None, None) => {
                anyhow::bail!("give --before, or set audit.retention_days in the settings")
            }
        };
        let delivered_first = match &context.settings.mlog {
            Some(_) => Some(context.store.mlog_delivered().await?),
            None => None,
        };
        let archived = crate::audit::archive::archive(
            &context.store,
            before,
            out,
            delivered_first,
            &context.certificate,
        )
        .await?;
        let mut stdout = std::io::stdout().lock();
        match archived {
            Some((path, record)) => writeln!(
                stdout,
                "archived entries {}..{} to {} (SHA-256 {})",
                record.from_seq,
                record.up_to,
                path.display(),
                record.file_digest
            )?,
            None => writeln!(
                stdout,
                "nothing to archive: no checkpoint covers only entries recorded before then"
            )?,
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// `audit verify --archive FILE --cert PEM`: checks an archive file offline.
pub fn verify_archive(file: &Path, cert: &Path) -> anyhow::Result<ExitCode> {
    let certificate = read_certificate(cert, "--cert")?;
    let text = read_file(file, "the archive")?;
    let archive: crate::audit::archive::ArchiveFile = serde_json::from_slice(&text)
        .with_context(|| format!("`{}` is not an archive file", file.display()))?;
    match crate::audit::archive::verify_archive(&archive, &certificate) {
        Ok(verified) => {
            writeln!(std::io::stdout().lock(), "the archive verifies: {verified}")?;
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            eprintln!("the archive does not verify: {error:#}");
            Ok(ExitCode::FAILURE)
        }
    }
}
