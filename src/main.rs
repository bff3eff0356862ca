//! Command line of esocial-hub: parses arguments and hands over to the library.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use esocial_hub::catalog::ContractPart;
use esocial_hub::commands;

/// The interoperability hub of eSocial: signed MConnect exchanges between eSocial modules and
/// government registries.
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
    /// (SQLite, development PKI), send one sample exchange and keep serving.
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
        /// A registry name (a folder in --adapters), or `all`.
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
    },
    /// Operators' controls of asynchronous exchanges.
    Queue {
        #[command(subcommand)]
        action: QueueAction,
    },
    /// Published contracts for integrators.
    Contract {
        #[command(subcommand)]
        action: ContractAction,
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
        /// Exchange ids to replay.
        #[arg(required = true)]
        ids: Vec<uuid::Uuid>,
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
            listen,
            ops_listen,
            once,
        } => commands::demo(esocial_hub::demo::DemoOptions {
            dir,
            adapters,
            contracts,
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
        } => commands::simulate(&registry, listen, &pki, &adapters, &contracts, delay_ms),
        Command::Queue {
            action: QueueAction::DeadLetters { config },
        } => commands::queue_dead_letters(&config),
        Command::Queue {
            action: QueueAction::Replay { config, ids },
        } => commands::queue_replay(&config, &ids),
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
        Command::Certs {
            action:
                CertsAction::Init {
                    dir,
                    registries,
                    clients,
                    adapters,
                },
        } => commands::certs_init(&dir, registries, &clients, &adapters),
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
