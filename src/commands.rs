//! The command-line commands, each returning the process exit code.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;

use crate::config::Settings;
use crate::crypto::pki::{PkiLayout, init_dev_pki, registry_holder};
use crate::crypto::wssec::{self, SigningIdentity, TrustAnchors};
use crate::simulate::population::Population;
use crate::simulate::{Behaviour, SimulatorConfig, civil};
use crate::startup::Application;

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
        .take(crate::mconnect::xml::MAX_MESSAGE_BYTES as u64 + 1)
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

/// `simulate civil`: serve the population register simulator until Ctrl-C.
pub fn simulate_civil(listen: SocketAddr, pki: &Path, delay_ms: u64) -> anyhow::Result<ExitCode> {
    let layout = PkiLayout::new(pki);
    let holder = registry_holder("civil");
    let config = SimulatorConfig {
        listen,
        tls_cert: layout.cert(&holder),
        tls_key: layout.key(&holder),
        client_ca: layout.ca_cert(),
        signing_cert_pem: read_file(&layout.cert(&holder), "--pki")?,
        signing_key_pem: read_file(&layout.key(&holder), "--pki")?,
        population: Arc::new(Population::default_population()),
        behaviour: Behaviour {
            delay: Duration::from_millis(delay_ms),
            ..Behaviour::default()
        },
    };
    runtime()?.block_on(async {
        let simulator = civil::start(config)?;
        simulator.server.await?;
        Ok(ExitCode::SUCCESS)
    })
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
        registry_names(adapters)?
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
            writeln!(out, "  created {holder}.pem and {holder}.key")?;
        }
        writeln!(
            out,
            "Private keys are mode 0600. Never use them outside development."
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
