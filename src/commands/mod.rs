//! The command-line commands, each returning the process exit code.

pub mod audit;
pub mod mpi;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;

use crate::config::Settings;
use crate::startup::Application;
use esocial_catalog::{Catalog, ContractPart};
use esocial_sim::population::Population;
use esocial_sim::{Behaviour, SimulatorConfig};
use esocial_wire::crypto::pki::{PkiLayout, init_dev_pki, revoke_in_dev_pki};
use esocial_wire::crypto::wssec::{self, SigningIdentity, TrustAnchors};

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn read_file(path: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("{what}: cannot read `{}`", path.display()))
}

fn read_stdin() -> anyhow::Result<String> {
    let mut text = String::new();
    std::io::stdin()
        .take(esocial_wire::mconnect::xml::MAX_MESSAGE_BYTES as u64 + 1)
        .read_to_string(&mut text)
        .context("standard input must be UTF-8 XML")?;
    Ok(text)
}

/// `serve`: run the hub from a settings file until Ctrl-C.
pub fn serve(config: &Path) -> anyhow::Result<ExitCode> {
    let settings =
        Settings::load(config).with_context(|| format!("settings from `{}`", config.display()))?;
    runtime()?.block_on(async {
        let application = Application::build(settings).await?;
        application.run_until_stopped().await?;
        Ok(ExitCode::SUCCESS)
    })
}

/// `demo`: see `crate::demo`.
pub fn demo(options: crate::demo::DemoOptions) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(crate::demo::run(options))
}

/// `simulate <registry>|all`: serve registry simulators until Ctrl-C, each on the port of its
/// adapter's endpoint unless `listen` is given (one registry only).
pub fn simulate(
    registry: &str,
    listen: Option<SocketAddr>,
    pki: &Path,
    adapters: &Path,
    contracts: &Path,
    delay_ms: u64,
    feed_per_second: u32,
) -> anyhow::Result<ExitCode> {
    if registry == "events" {
        anyhow::ensure!(listen.is_none(), "--listen works with one registry only");
        return simulate_events(&PkiLayout::new(pki), contracts, feed_per_second);
    }
    let catalog = Catalog::load(adapters, contracts).context("loading the adapters")?;
    let names: Vec<String> = if registry == "all" {
        catalog.registries().map(|r| r.name.clone()).collect()
    } else {
        vec![registry.to_string()]
    };
    anyhow::ensure!(
        listen.is_none() || names.len() == 1,
        "--listen works with one registry only"
    );
    let layout = PkiLayout::new(pki);
    let population = Arc::new(Population::default_population());
    runtime()?.block_on(async {
        let mut servers = Vec::new();
        for name in &names {
            let registry = catalog
                .registry(name)
                .with_context(|| format!("no adapter folder for registry `{name}`"))?;
            let address = match listen {
                Some(address) => address,
                None => default_listen(&registry.endpoint)
                    .with_context(|| format!("endpoint of `{name}`"))?,
            };
            let config = SimulatorConfig::from_dev_pki(
                &layout,
                name,
                address,
                population.clone(),
                Behaviour {
                    delay: Duration::from_millis(delay_ms),
                    ..Behaviour::default()
                },
            )
            .with_context(|| {
                format!(
                    "--pki: no certificate and key for registry `{name}` in `{}`",
                    layout.dir.display()
                )
            })?;
            servers.push(esocial_sim::start(&catalog, name, config)?.server);
        }
        for result in futures_util::future::join_all(servers).await {
            result?;
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// `simulate events`: MConnect Events, MNotify and the case-management module's webhook
/// endpoint on ports 8450-8452, with MConnect Events fed `feed_per_second` events about the
/// simulators' population, as the registries would publish them.
fn simulate_events(
    pki: &PkiLayout,
    contracts: &Path,
    feed_per_second: u32,
) -> anyhow::Result<ExitCode> {
    use crate::demo::{EVENTS_PORTS, start_event_stand_ins};
    runtime()?.block_on(async {
        let stand_ins = start_event_stand_ins(pki, contracts, EVENTS_PORTS).with_context(|| {
            format!(
                "--pki: the stand-ins' certificates in `{}` (certs init makes them)",
                pki.dir.display()
            )
        })?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "MConnect Events   {}", stand_ins.consumer_url)?;
        writeln!(out, "MNotify           {}", stand_ins.mnotify_url)?;
        writeln!(out, "Module webhooks   {}", stand_ins.module_url)?;
        drop(out);
        if feed_per_second > 0 {
            let log = stand_ins.log.clone();
            tokio::spawn(async move {
                let population = Population::default_population();
                let mut seed = 1;
                let pause = Duration::from_secs(1) / feed_per_second;
                loop {
                    for event in esocial_sim::event_feed::population_events(&population, seed, 100)
                    {
                        log.publish(event);
                        tokio::time::sleep(pause).await;
                    }
                    seed += 1;
                }
            });
        }
        for result in futures_util::future::join_all(stand_ins.servers).await {
            result??;
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// The loopback address of an adapter endpoint's port.
pub fn default_listen(endpoint: &str) -> anyhow::Result<SocketAddr> {
    let url = reqwest::Url::parse(endpoint)?;
    let port = url.port_or_known_default().context("no port")?;
    Ok(SocketAddr::from(([127, 0, 0, 1], port)))
}

/// `contract validate`: check a canonical request or response document against a service's
/// contract and print every violation with its JSON pointer.
pub fn contract_validate(
    service: &str,
    part: ContractPart,
    file: &Path,
    adapters: &Path,
    contracts: &Path,
) -> anyhow::Result<ExitCode> {
    let catalog = Catalog::load(adapters, contracts).context("loading the adapters")?;
    let contract = catalog
        .contract(service)
        .with_context(|| format!("<service>: `{service}` is not in the catalog"))?;
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("FILE: cannot read `{}`", file.display()))?;
    let document: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("FILE: `{}` is not JSON", file.display()))?;
    let mut out = std::io::stdout().lock();
    match contract.validate(part, &document) {
        Ok(()) => {
            writeln!(
                out,
                "valid: {} satisfies the {service} {part:?} contract",
                file.display()
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Err(violations) => {
            for violation in &violations {
                let pointer = if violation.pointer.is_empty() {
                    "/"
                } else {
                    &violation.pointer
                };
                writeln!(out, "{pointer}: {}", violation.message)?;
            }
            writeln!(out, "invalid: {} violation(s)", violations.len())?;
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Registry names: one per adapter folder.
pub fn registry_names(adapters: &Path) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(adapters)
        .with_context(|| format!("--adapters: cannot read `{}`", adapters.display()))?
    {
        let path = entry?.path();
        if path.join("adapter.toml").is_file()
            && let Some(name) = path.file_name()
        {
            names.push(name.to_string_lossy().to_string());
        }
    }
    names.sort();
    Ok(names)
}

/// `certs init`: create the development PKI.
pub fn certs_init(
    dir: &Path,
    registries: Vec<String>,
    clients: &[String],
    adapters: &Path,
) -> anyhow::Result<ExitCode> {
    let registries = if registries.is_empty() {
        let mut names = registry_names(adapters)?;
        names.extend(
            crate::demo::EVENTS_HOLDERS
                .iter()
                .map(|holder| holder.to_string()),
        );
        names
    } else {
        registries
    };
    let layout = PkiLayout::new(dir);
    let created = init_dev_pki(&layout, &registries, clients)?;
    let mut out = std::io::stdout().lock();
    if created.is_empty() {
        writeln!(
            out,
            "Development PKI in {} is complete; nothing created.",
            dir.display()
        )?;
    } else {
        writeln!(out, "Development PKI in {}:", dir.display())?;
        for holder in created {
            if holder == "crl" {
                writeln!(out, "  created crl.pem (the CA's revocation list, empty)")?;
            } else {
                writeln!(out, "  created {holder}.pem and {holder}.key")?;
            }
        }
        writeln!(
            out,
            "Private keys are mode 0600. Never use them outside development."
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `certs revoke`: add a development certificate to the CA's revocation list.
pub fn certs_revoke(dir: &Path, holder: &str) -> anyhow::Result<ExitCode> {
    let layout = PkiLayout::new(dir);
    let added = revoke_in_dev_pki(&layout, holder)
        .with_context(|| format!("--name: cannot revoke `{holder}` in `{}`", dir.display()))?;
    let mut out = std::io::stdout().lock();
    if added {
        writeln!(
            out,
            "Revoked {holder}; {} signed again.",
            layout.crl().display()
        )?;
    } else {
        writeln!(
            out,
            "{holder} was already revoked; {} signed again.",
            layout.crl().display()
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `mconnect sign`: sign standard input, write to standard output.
pub fn mconnect_sign(key: &Path, cert: &Path, ttl_secs: u64) -> anyhow::Result<ExitCode> {
    let identity =
        SigningIdentity::from_pem(&read_file(key, "--key")?, &read_file(cert, "--cert")?)
            .context("--key/--cert")?;
    let envelope = read_stdin()?;
    let signed = wssec::sign_envelope(
        &envelope,
        &identity,
        SystemTime::now(),
        Duration::from_secs(ttl_secs),
    )
    .context("cannot sign the envelope")?;
    std::io::stdout().write_all(signed.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

/// `mconnect verify`: exit 0 if standard input carries a valid signature.
pub fn mconnect_verify(trust: &Path) -> anyhow::Result<ExitCode> {
    let anchors = TrustAnchors::from_pem(&read_file(trust, "--trust")?).context("--trust")?;
    let envelope = read_stdin()?;
    match wssec::verify_envelope(&envelope, &anchors, SystemTime::now()) {
        Ok(verified) => {
            writeln!(
                std::io::stdout(),
                "valid: signed by {}",
                verified.signer_subject
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            eprintln!("invalid: {error}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// `queue dead-letters`: list dead-lettered exchanges (no personal data: ids, service, reason).
pub fn queue_dead_letters(config: &Path) -> anyhow::Result<ExitCode> {
    let settings =
        Settings::load(config).with_context(|| format!("settings from `{}`", config.display()))?;
    runtime()?.block_on(async {
        let store = esocial_store::Store::connect(&settings.store.url, 2)
            .await
            .context("setting `store.url`: cannot open the store")?;
        let mut out = std::io::stdout().lock();
        let ids = store.dead_letters(10_000).await?;
        writeln!(out, "{} dead-lettered exchange(s)", ids.len())?;
        for id in ids {
            if let Some(record) = store.exchange(id).await? {
                writeln!(
                    out,
                    "{id}  {}  {}  attempts={}  {}",
                    record.completed_at.unwrap_or_default(),
                    record.service,
                    record.attempts,
                    record.dead_letter_reason.unwrap_or_default()
                )?;
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// `queue replay`: replay dead-lettered exchanges; each replay is a new exchange whose parent
/// is the original. With RabbitMQ the replays are published at once.
pub fn queue_replay(config: &Path, operator: &str, ids: &[uuid::Uuid]) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        !operator.trim().is_empty(),
        "--operator must name who replays, for the audit log"
    );
    let settings =
        Settings::load(config).with_context(|| format!("settings from `{}`", config.display()))?;
    runtime()?.block_on(async {
        let store = esocial_store::Store::connect(&settings.store.url, 2)
            .await
            .context("setting `store.url`: cannot open the store")?;
        let rabbit = match (&settings.queue.backend, &settings.queue.amqp_url) {
            (crate::config::QueueKind::Rabbitmq, Some(url)) => Some(
                crate::queue::Rabbit::connect(url.clone(), &settings.queue.namespace, Vec::new())
                    .await
                    .context("setting `queue.amqp_url`: cannot reach RabbitMQ")?,
            ),
            _ => None,
        };
        let mut out = std::io::stdout().lock();
        let mut refused = 0;
        for original in ids {
            match store
                .replay(*original, &format!("operator:{}", operator.trim()))
                .await?
            {
                Some(due) => {
                    if let Some(rabbit) = &rabbit
                        && rabbit.publish(&due.registry, due.id).await.is_err()
                    {
                        writeln!(out, "{}: queued; the hub's sweeper will publish it", due.id)?;
                    }
                    writeln!(out, "{original} -> {}", due.id)?;
                }
                None => {
                    refused += 1;
                    writeln!(
                        out,
                        "{original}: not a dead-lettered exchange, not replayed"
                    )?;
                }
            }
        }
        Ok(if refused == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    })
}
