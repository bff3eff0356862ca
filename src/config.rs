//! Typed settings: one TOML file overridden by `HUB__SECTION__KEY` environment variables,
//! checked at start-up so that a bad value stops the process with a message naming the key.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use esocial_wire::domain::Idno;

/// A configuration problem, always naming the offending key.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read settings: {0}")]
    Load(config::ConfigError),
    #[error("invalid setting `{key}`: {problem}")]
    Invalid { key: String, problem: String },
}

impl From<config::ConfigError> for SettingsError {
    fn from(error: config::ConfigError) -> Self {
        Self::Load(error)
    }
}

impl SettingsError {
    pub fn invalid(key: impl Into<String>, problem: impl Into<String>) -> Self {
        Self::Invalid {
            key: key.into(),
            problem: problem.into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub tls: TlsSettings,
    pub mconnect: MconnectSettings,
    pub store: StoreSettings,
    pub audit: AuditSettings,
    pub adapters: AdapterSettings,
    pub contracts: ContractSettings,
    /// The benefits catalog the estimator uses; `benefits/` unless set.
    #[serde(default)]
    pub benefits: BenefitSettings,
    /// Asynchronous exchanges; the embedded queue unless `backend = "rabbitmq"`.
    #[serde(default)]
    pub queue: QueueConfig,
    /// Per-registry overrides of what `adapters/<registry>/adapter.toml` says.
    #[serde(default)]
    pub registries: BTreeMap<String, RegistryOverride>,
    /// eSocial modules and agencies allowed to connect, identified by certificate common name.
    #[serde(default)]
    pub clients: Vec<ClientSettings>,
    /// The access matrix: without a grant, a client may call nothing.
    #[serde(default)]
    pub grants: Vec<GrantSettings>,
    /// Agencies that ask eSocial over MConnect (the provider side), by certificate common name.
    #[serde(default)]
    pub agencies: Vec<AgencySettings>,
    /// What each agency may ask and see; without a grant, an agency may ask nothing.
    #[serde(default)]
    pub agency_grants: Vec<AgencyGrantSettings>,
    /// The beneficiary master index: thresholds and who may use it.
    #[serde(default)]
    pub mpi: MpiSettings,
    /// Certificate revocation lists; without any, revocation is not checked.
    #[serde(default)]
    pub revocation: RevocationSettings,
    /// MLog, the government audit log, to which every audit entry is delivered; without it,
    /// entries wait in the log (and `/metrics` shows them as undelivered).
    #[serde(default)]
    pub mlog: Option<crate::audit::mlog::MlogSettings>,
    /// The events flow (MConnect Events in, alerts out); without it the hub takes no events.
    #[serde(default)]
    pub events: Option<crate::events::EventsSettings>,
    /// Referrals and transfers between agencies; without it, none are taken.
    #[serde(default)]
    pub handoffs: Option<crate::handoffs::HandoffSettings>,
}

/// `[mpi]`: match-weight thresholds and the roles of clients in the master index.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MpiSettings {
    /// Match weight (sum of log2 m/u) at or above which a record is linked automatically.
    pub auto_link: f64,
    /// Match weight at or above which a possible match goes to the review queue.
    pub review: f64,
    /// Without an entry here a client may not use the master index at all.
    pub access: Vec<MpiAccess>,
}

impl Default for MpiSettings {
    fn default() -> Self {
        let thresholds = esocial_mpi::Thresholds::default();
        Self {
            auto_link: thresholds.auto_link,
            review: thresholds.review,
            access: Vec::new(),
        }
    }
}

impl MpiSettings {
    pub fn thresholds(&self) -> esocial_mpi::Thresholds {
        esocial_mpi::Thresholds {
            auto_link: self.auto_link,
            review: self.review,
        }
    }
}

/// What one client may do with the master index.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MpiAccess {
    pub client: String,
    pub roles: Vec<MpiRole>,
}

/// `match`: look for candidates; `register`: send source records; `read`: see persons and
/// their history; `steward`: link, unlink, merge, unmerge, undo and decide reviews;
/// `access-log`: see who accessed a person's data (the access report).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MpiRole {
    Match,
    Register,
    Read,
    Steward,
    AccessLog,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Address of the mTLS API.
    pub listen: SocketAddr,
    /// Address of the plain-HTTP operations endpoints (`/health/*`, `/metrics`).
    pub ops_listen: SocketAddr,
    /// Address of the public pages of the benefits catalog (plain HTTP, for the reverse proxy
    /// in front of it); none when absent.
    #[serde(default)]
    pub public_listen: Option<SocketAddr>,
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    #[serde(default = "default_workers")]
    pub workers: usize,
    /// Time a client has to send a request's head, and then its body, in milliseconds.
    #[serde(default = "default_body_read_timeout_ms")]
    pub body_read_timeout_ms: u64,
}

fn default_max_body_bytes() -> usize {
    64 * 1024
}

fn default_workers() -> usize {
    2
}

fn default_body_read_timeout_ms() -> u64 {
    10_000
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// The hub's TLS server certificate (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM). Read from the path, never logged.
    pub key: PathBuf,
    /// CA bundle that issues client certificates for eSocial modules and agencies.
    pub client_ca: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MconnectSettings {
    /// The certificate the hub signs MConnect messages and authenticates to registries with.
    pub signing_cert: PathBuf,
    pub signing_key: PathBuf,
    /// CA bundle trusted for registry TLS certificates and response signatures.
    pub trust_ca: PathBuf,
    /// Lifetime of the WS-Security timestamp on outgoing messages.
    #[serde(default = "default_timestamp_ttl_secs")]
    pub timestamp_ttl_secs: u64,
}

fn default_timestamp_ttl_secs() -> u64 {
    15 * 60
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSettings {
    /// `sqlite://path?mode=rwc` (embedded default) or `postgres://…`.
    pub url: SecretString,
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
}

fn default_max_connections() -> u32 {
    8
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSettings {
    /// The audit secret: the HMAC key that turns personal identifiers into digests for the
    /// exchange log, and the material the audit log's seal key is derived from.
    pub digest_key: SecretString,
    /// The secrets `digest_key` replaced, newest first: what was sealed, digested or
    /// audit-sealed under them is still opened, found and verified; new values use
    /// `digest_key`. Remove one only once nothing written under it is kept.
    #[serde(default)]
    pub previous_digest_keys: Vec<SecretString>,
    /// How often the hub signs a checkpoint of the audit log (it also signs one at shutdown).
    #[serde(default = "default_checkpoint_interval_secs")]
    pub checkpoint_interval_secs: u64,
    /// How long entries stay in the live log before `audit archive` moves them to signed
    /// archive files; absent, they stay until an operator archives with `--before`.
    #[serde(default)]
    pub retention_days: Option<u32>,
}

fn default_checkpoint_interval_secs() -> u64 {
    60
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdapterSettings {
    /// Folder holding one sub-folder per registry.
    pub dir: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BenefitSettings {
    /// Folder holding `catalog.toml`, `parameters.toml` and one sub-folder per benefit.
    pub dir: PathBuf,
    /// A headless Chromium the public pages print their info sheets to PDF with (once per
    /// sheet and language, then kept); no PDF downloads when absent.
    #[serde(default)]
    pub pdf_browser: Option<PathBuf>,
}

impl Default for BenefitSettings {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("benefits"),
            pdf_browser: None,
        }
    }
}

/// Which queue carries asynchronous exchanges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QueueKind {
    /// A durable queue on the hub's own store (one node).
    #[default]
    Embedded,
    /// RabbitMQ (`queue.amqp_url`).
    Rabbitmq,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    pub backend: QueueKind,
    /// `amqp://user:password@host:port/vhost`, required with `backend = "rabbitmq"`.
    pub amqp_url: Option<SecretString>,
    /// Prefix of the broker's exchange and queue names.
    pub namespace: String,
    /// Attempts before an exchange is dead-lettered.
    pub max_attempts: u32,
    /// First retry delay; later ones double, with jitter, up to `max_delay_ms`.
    pub base_delay_ms: u64,
    pub max_delay_ms: u64,
    /// How long a worker holds a claimed exchange before another may take it.
    pub lease_ms: u64,
    /// Exchanges of one registry in flight at once (and the RabbitMQ prefetch).
    pub concurrency_per_registry: usize,
    /// Consecutive retryable failures that open a registry's circuit, and for how long.
    pub breaker_threshold: u32,
    pub breaker_cooldown_ms: u64,
    /// A queued exchange not consumed after this long is republished.
    pub republish_after_ms: u64,
    /// The name this hub holds leases under; a restarted hub with the same name takes its
    /// leases back at once. Default: the host name and the API's listen address.
    pub instance_id: Option<String>,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            backend: QueueKind::Embedded,
            amqp_url: None,
            namespace: "esocial".into(),
            max_attempts: 5,
            base_delay_ms: 500,
            max_delay_ms: 30_000,
            lease_ms: 60_000,
            concurrency_per_registry: 4,
            breaker_threshold: 5,
            breaker_cooldown_ms: 10_000,
            republish_after_ms: 60_000,
            instance_id: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContractSettings {
    /// Folder with `services/<id>/` schemas, `registries/` wire contracts and `openapi.json`.
    pub dir: PathBuf,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryOverride {
    pub endpoint: Option<String>,
    pub timeout_ms: Option<u64>,
    /// Calls to the registry in flight at once, sync and async together; a call that finds
    /// none free within the registry's timeout is refused as `hub.overloaded`.
    pub max_in_flight: Option<usize>,
    /// Largest answer read from the registry, in bytes (64 KiB to 64 MiB); a longer one is
    /// refused as `registry.invalid_response` before it is read whole.
    pub max_answer_bytes: Option<usize>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSettings {
    /// The common name (CN) of the client's certificate.
    pub id: String,
    /// IDNO of the organisation, sent to registries as `CallingEntity`.
    pub idno: String,
    /// May list and replay dead-lettered exchanges.
    #[serde(default)]
    pub operator: bool,
    /// HTTPS URLs this client may name as `callbackUrl` of async exchanges.
    #[serde(default)]
    pub callback_urls: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GrantSettings {
    pub client: String,
    pub service: String,
    /// Fields of the answer the client may see (dotted paths); all when absent.
    #[serde(default)]
    pub fields: Option<Vec<String>>,
}

/// `[[agencies]]`: an agency allowed to call eSocial's MConnect services.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AgencySettings {
    /// The common name of the agency's certificate (TLS client and message signer alike).
    pub name: String,
    /// IDNO of the agency; its requests must carry it as `CallingEntity`.
    pub idno: String,
    /// Human name, for operators.
    #[serde(default)]
    pub title: String,
}

/// `[[agency_grants]]`: one MConnect service an agency may call, and what it may see.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AgencyGrantSettings {
    pub agency: String,
    /// `GetBeneficiaryStatus`, `GetActiveCases` or `NotifyCaseRelevantEvent`.
    pub service: String,
    /// Answer fields the agency may see (dotted paths, into list items too); all when absent.
    #[serde(default)]
    pub fields: Option<Vec<String>>,
    /// `GetActiveCases` only: the case types the agency may learn of; all when absent.
    #[serde(default)]
    pub case_types: Option<Vec<String>>,
}

impl Settings {
    /// The audit secret and the ones it replaced, from which every key is derived.
    pub fn key_ring(&self) -> esocial_wire::crypto::keys::KeyRing {
        esocial_wire::crypto::keys::KeyRing::new(
            self.audit.digest_key.clone(),
            self.audit.previous_digest_keys.clone(),
        )
    }

    /// The SHA-256 (hex) of the access matrix: the clients, their grants, the agencies, their
    /// grants and the master-index roles. The audit log records each change of it.
    pub fn access_matrix_digest(&self) -> String {
        use sha2::Digest as _;
        let matrix = serde_json::json!({
            "clients": self.clients,
            "grants": self.grants,
            "agencies": self.agencies,
            "agencyGrants": self.agency_grants,
            "mpiAccess": self.mpi.access,
        });
        hex::encode(sha2::Sha256::digest(matrix.to_string().as_bytes()))
    }

    /// Reads the TOML file (if any), applies `HUB__…` environment overrides and checks the result.
    pub fn load(path: &Path) -> Result<Self, SettingsError> {
        let raw = config::Config::builder()
            .add_source(config::File::from(path).format(config::FileFormat::Toml))
            .add_source(
                config::Environment::with_prefix("HUB")
                    .prefix_separator("__")
                    .separator("__")
                    .try_parsing(true),
            )
            .build()?;
        let settings: Settings = raw.try_deserialize()?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks what serde cannot: ranges, files, identifiers and cross-references.
    pub fn validate(&self) -> Result<(), SettingsError> {
        if !(1024..=16 * 1024 * 1024).contains(&self.server.max_body_bytes) {
            return Err(SettingsError::invalid(
                "server.max_body_bytes",
                "must be between 1024 and 16777216",
            ));
        }
        if !(1..=64).contains(&self.server.workers) {
            return Err(SettingsError::invalid(
                "server.workers",
                "must be between 1 and 64",
            ));
        }
        if !(100..=600_000).contains(&self.server.body_read_timeout_ms) {
            return Err(SettingsError::invalid(
                "server.body_read_timeout_ms",
                "must be between 100 and 600000",
            ));
        }
        for (key, path) in [
            ("tls.cert", &self.tls.cert),
            ("tls.key", &self.tls.key),
            ("tls.client_ca", &self.tls.client_ca),
            ("mconnect.signing_cert", &self.mconnect.signing_cert),
            ("mconnect.signing_key", &self.mconnect.signing_key),
            ("mconnect.trust_ca", &self.mconnect.trust_ca),
        ] {
            if !path.is_file() {
                return Err(SettingsError::invalid(
                    key,
                    format!(
                        "file `{}` does not exist (run `esocial-hub certs init` for a development PKI)",
                        path.display()
                    ),
                ));
            }
        }
        if !(60..=3600).contains(&self.mconnect.timestamp_ttl_secs) {
            return Err(SettingsError::invalid(
                "mconnect.timestamp_ttl_secs",
                "must be between 60 and 3600",
            ));
        }
        let url = self.store.url.expose_secret();
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return Err(SettingsError::invalid(
                "store.url",
                "must start with sqlite:, postgres:// or postgresql://",
            ));
        }
        if !(1..=256).contains(&self.store.max_connections) {
            return Err(SettingsError::invalid(
                "store.max_connections",
                "must be between 1 and 256",
            ));
        }
        if !(self.mpi.review.is_finite()
            && self.mpi.auto_link.is_finite()
            && self.mpi.review < self.mpi.auto_link)
        {
            return Err(SettingsError::invalid(
                "mpi.review",
                "must be a number below mpi.auto_link",
            ));
        }
        for (index, access) in self.mpi.access.iter().enumerate() {
            if !self.clients.iter().any(|c| c.id == access.client) {
                return Err(SettingsError::invalid(
                    format!("mpi.access[{index}].client"),
                    format!("`{}` is not a registered client", access.client),
                ));
            }
        }
        if self.audit.digest_key.expose_secret().len() < 32 {
            return Err(SettingsError::invalid(
                "audit.digest_key",
                "must be at least 32 characters of secret material",
            ));
        }
        for (index, previous) in self.audit.previous_digest_keys.iter().enumerate() {
            if previous.expose_secret().len() < 32 {
                return Err(SettingsError::invalid(
                    format!("audit.previous_digest_keys[{index}]"),
                    "must be at least 32 characters of secret material",
                ));
            }
        }
        if let Some(handoffs) = &self.handoffs {
            handoffs.validate()?;
        }
        if let Some(events) = &self.events {
            events.validate(&self.clients.iter().map(|c| c.id.as_str()).collect())?;
        }
        if let Some(mlog) = &self.mlog {
            if !mlog.url.starts_with("https://") {
                return Err(SettingsError::invalid(
                    "mlog.url",
                    "must be an https:// URL (MLog is reached over mTLS)",
                ));
            }
            if !(1..=5_000).contains(&mlog.batch_size) {
                return Err(SettingsError::invalid(
                    "mlog.batch_size",
                    "must be between 1 and 5000 events",
                ));
            }
            if !(10..=3_600_000).contains(&mlog.interval_ms) {
                return Err(SettingsError::invalid(
                    "mlog.interval_ms",
                    "must be between 10 and 3600000",
                ));
            }
            if !(100..=300_000).contains(&mlog.timeout_ms) {
                return Err(SettingsError::invalid(
                    "mlog.timeout_ms",
                    "must be between 100 and 300000",
                ));
            }
        }
        if self
            .audit
            .retention_days
            .is_some_and(|days| days == 0 || days > 36_500)
        {
            return Err(SettingsError::invalid(
                "audit.retention_days",
                "must be between 1 and 36500 days",
            ));
        }
        if !(1..=86_400).contains(&self.audit.checkpoint_interval_secs) {
            return Err(SettingsError::invalid(
                "audit.checkpoint_interval_secs",
                "must be between 1 and 86400 seconds",
            ));
        }
        if !self.adapters.dir.is_dir() {
            return Err(SettingsError::invalid(
                "adapters.dir",
                format!("folder `{}` does not exist", self.adapters.dir.display()),
            ));
        }
        if !self.benefits.dir.join("catalog.toml").is_file() {
            return Err(SettingsError::invalid(
                "benefits.dir",
                format!(
                    "folder `{}` has no catalog.toml",
                    self.benefits.dir.display()
                ),
            ));
        }
        if !self.contracts.dir.join("openapi.json").is_file() {
            return Err(SettingsError::invalid(
                "contracts.dir",
                format!(
                    "folder `{}` has no openapi.json",
                    self.contracts.dir.display()
                ),
            ));
        }
        let queue = &self.queue;
        if queue.backend == QueueKind::Rabbitmq
            && !queue
                .amqp_url
                .as_ref()
                .is_some_and(|u| u.expose_secret().starts_with("amqp"))
        {
            return Err(SettingsError::invalid(
                "queue.amqp_url",
                "an amqp:// or amqps:// URL is required with backend = \"rabbitmq\"",
            ));
        }
        if queue.namespace.is_empty()
            || !queue
                .namespace
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(SettingsError::invalid(
                "queue.namespace",
                "must be letters, digits, - or _",
            ));
        }
        for (key, value, range) in [
            ("queue.max_attempts", queue.max_attempts as u64, 1..=100),
            ("queue.base_delay_ms", queue.base_delay_ms, 1..=600_000),
            ("queue.max_delay_ms", queue.max_delay_ms, 1..=3_600_000),
            ("queue.lease_ms", queue.lease_ms, 100..=3_600_000),
            (
                "queue.concurrency_per_registry",
                queue.concurrency_per_registry as u64,
                1..=256,
            ),
            (
                "queue.breaker_threshold",
                queue.breaker_threshold as u64,
                1..=1000,
            ),
            (
                "queue.breaker_cooldown_ms",
                queue.breaker_cooldown_ms,
                1..=3_600_000,
            ),
            (
                "queue.republish_after_ms",
                queue.republish_after_ms,
                100..=3_600_000,
            ),
        ] {
            if !range.contains(&value) {
                return Err(SettingsError::invalid(
                    key,
                    format!("must be between {} and {}", range.start(), range.end()),
                ));
            }
        }
        for (name, registry) in &self.registries {
            if let Some(endpoint) = &registry.endpoint
                && !endpoint.starts_with("https://")
            {
                return Err(SettingsError::invalid(
                    format!("registries.{name}.endpoint"),
                    "must be an https:// URL (registries are reached over mTLS only)",
                ));
            }
            if registry
                .max_in_flight
                .is_some_and(|limit| !(1..=4096).contains(&limit))
            {
                return Err(SettingsError::invalid(
                    format!("registries.{name}.max_in_flight"),
                    "must be between 1 and 4096",
                ));
            }
            if registry
                .max_answer_bytes
                .is_some_and(|limit| !esocial_catalog::MAX_ANSWER_BYTES_RANGE.contains(&limit))
            {
                return Err(SettingsError::invalid(
                    format!("registries.{name}.max_answer_bytes"),
                    esocial_catalog::max_answer_bytes_problem(),
                ));
            }
            if let Some(timeout) = registry.timeout_ms
                && !(10..=120_000).contains(&timeout)
            {
                return Err(SettingsError::invalid(
                    format!("registries.{name}.timeout_ms"),
                    "must be between 10 and 120000",
                ));
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for (index, client) in self.clients.iter().enumerate() {
            if client.id.trim().is_empty() {
                return Err(SettingsError::invalid(
                    format!("clients[{index}].id"),
                    "must not be empty",
                ));
            }
            if !seen.insert(client.id.as_str()) {
                return Err(SettingsError::invalid(
                    format!("clients[{index}].id"),
                    format!("duplicate client `{}`", client.id),
                ));
            }
            for (url_index, url) in client.callback_urls.iter().enumerate() {
                if !url.starts_with("https://") {
                    return Err(SettingsError::invalid(
                        format!("clients[{index}].callback_urls[{url_index}]"),
                        "must be an https:// URL",
                    ));
                }
            }
            Idno::parse(&client.idno).map_err(|error| {
                SettingsError::invalid(format!("clients[{index}].idno"), error.to_string())
            })?;
        }
        let mut granted = std::collections::BTreeSet::new();
        for (index, grant) in self.grants.iter().enumerate() {
            if !seen.contains(grant.client.as_str()) {
                return Err(SettingsError::invalid(
                    format!("grants[{index}].client"),
                    format!("unknown client `{}`", grant.client),
                ));
            }
            if !granted.insert((grant.client.as_str(), grant.service.as_str())) {
                return Err(SettingsError::invalid(
                    format!("grants[{index}]"),
                    "duplicate grant for this client and service",
                ));
            }
            if grant.fields.as_ref().is_some_and(|fields| {
                fields.is_empty() || fields.iter().any(|f| f.split('.').any(str::is_empty))
            }) {
                return Err(SettingsError::invalid(
                    format!("grants[{index}].fields"),
                    "must list at least one field, each a dotted name",
                ));
            }
        }
        self.revocation.validate()?;
        self.validate_agencies()
    }

    fn validate_agencies(&self) -> Result<(), SettingsError> {
        let mut agencies = std::collections::BTreeSet::new();
        for (index, agency) in self.agencies.iter().enumerate() {
            if agency.name.trim().is_empty() {
                return Err(SettingsError::invalid(
                    format!("agencies[{index}].name"),
                    "must not be empty",
                ));
            }
            if !agencies.insert(agency.name.as_str()) {
                return Err(SettingsError::invalid(
                    format!("agencies[{index}].name"),
                    format!("duplicate agency `{}`", agency.name),
                ));
            }
            Idno::parse(&agency.idno).map_err(|error| {
                SettingsError::invalid(format!("agencies[{index}].idno"), error.to_string())
            })?;
        }
        let mut granted = std::collections::BTreeSet::new();
        for (index, grant) in self.agency_grants.iter().enumerate() {
            if !agencies.contains(grant.agency.as_str()) {
                return Err(SettingsError::invalid(
                    format!("agency_grants[{index}].agency"),
                    format!("unknown agency `{}`", grant.agency),
                ));
            }
            let Some(service) = crate::provider::InboundService::parse(&grant.service) else {
                return Err(SettingsError::invalid(
                    format!("agency_grants[{index}].service"),
                    "must be GetBeneficiaryStatus, GetActiveCases or NotifyCaseRelevantEvent",
                ));
            };
            if !granted.insert((grant.agency.as_str(), service)) {
                return Err(SettingsError::invalid(
                    format!("agency_grants[{index}]"),
                    "duplicate grant for this agency and service",
                ));
            }
            if let Some(fields) = &grant.fields
                && let Some(bad) = fields.iter().find(|f| !service.answer_has_field(f))
            {
                return Err(SettingsError::invalid(
                    format!("agency_grants[{index}].fields"),
                    format!("`{bad}` is not a field of {} answers", service.name()),
                ));
            }
            if let Some(types) = &grant.case_types {
                if service != crate::provider::InboundService::ActiveCases {
                    return Err(SettingsError::invalid(
                        format!("agency_grants[{index}].case_types"),
                        "only GetActiveCases grants may limit case types",
                    ));
                }
                if let Some(bad) = types
                    .iter()
                    .find(|t| !crate::provider::CASE_TYPES.contains(&t.as_str()))
                {
                    return Err(SettingsError::invalid(
                        format!("agency_grants[{index}].case_types"),
                        format!(
                            "`{bad}` is not one of {}",
                            crate::provider::CASE_TYPES.join(", ")
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// `[revocation]`: the certificate revocation lists of the CAs the hub trusts, loaded at start-up
/// and reloaded every `refresh_secs`. With any CRL configured, every client, signer and registry
/// certificate must be covered by a CRL of its issuer; without any, nothing is checked.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RevocationSettings {
    /// CRL files: PEM (one or more CRLs) or DER.
    pub crl_files: Vec<PathBuf>,
    /// http:// or https:// URLs CRLs are downloaded from.
    pub crl_urls: Vec<String>,
    /// Seconds between two reloads of every CRL; a failed reload keeps the last good CRL.
    pub refresh_secs: u64,
    /// Once a CRL's nextUpdate has passed: `refuse` its issuer's certificates, or `warn` and go on.
    pub stale_policy: esocial_wire::crypto::revocation::StalePolicy,
}

impl Default for RevocationSettings {
    fn default() -> Self {
        Self {
            crl_files: Vec::new(),
            crl_urls: Vec::new(),
            refresh_secs: 3600,
            stale_policy: Default::default(),
        }
    }
}

impl RevocationSettings {
    /// Where the CRLs come from, files first.
    pub fn sources(&self) -> Vec<esocial_wire::crypto::revocation::CrlSource> {
        use esocial_wire::crypto::revocation::CrlSource;
        let files = self.crl_files.iter().cloned().map(CrlSource::File);
        files
            .chain(self.crl_urls.iter().cloned().map(CrlSource::Url))
            .collect()
    }

    fn validate(&self) -> Result<(), SettingsError> {
        for (index, path) in self.crl_files.iter().enumerate() {
            if !path.is_file() {
                return Err(SettingsError::invalid(
                    format!("revocation.crl_files[{index}]"),
                    format!("file `{}` does not exist", path.display()),
                ));
            }
        }
        for (index, url) in self.crl_urls.iter().enumerate() {
            let valid = reqwest::Url::parse(url).is_ok_and(|url| {
                matches!(url.scheme(), "http" | "https") && url.host_str().is_some()
            });
            if !valid {
                return Err(SettingsError::invalid(
                    format!("revocation.crl_urls[{index}]"),
                    "must be an http:// or https:// URL",
                ));
            }
        }
        if !(60..=86_400).contains(&self.refresh_secs) {
            return Err(SettingsError::invalid(
                "revocation.refresh_secs",
                "must be between 60 and 86400",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod revocation_tests {
    use super::*;
    use esocial_wire::crypto::revocation::{CrlSource, StalePolicy};

    fn parse(toml: &str) -> Result<RevocationSettings, toml::de::Error> {
        toml::from_str(toml)
    }

    #[test]
    fn revocation_is_off_by_default_and_refuses_stale_crls() {
        let settings = parse("").unwrap();
        assert!(settings.sources().is_empty());
        assert_eq!(settings.refresh_secs, 3600);
        assert_eq!(settings.stale_policy, StalePolicy::Refuse);
        settings.validate().unwrap();
    }

    #[test]
    fn revocation_settings_name_the_bad_key() {
        let file = tempfile::NamedTempFile::new().unwrap();
        let good = format!(
            "crl_files = [{:?}]\ncrl_urls = [\"http://crl.example.md/ca.crl\"]\n\
             stale_policy = \"warn\"\nrefresh_secs = 600",
            file.path()
        );
        let settings = parse(&good).unwrap();
        settings.validate().unwrap();
        assert_eq!(settings.stale_policy, StalePolicy::Warn);
        assert_eq!(
            settings.sources(),
            [
                CrlSource::File(file.path().to_owned()),
                CrlSource::Url("http://crl.example.md/ca.crl".into())
            ]
        );

        for (toml, key) in [
            (
                "crl_files = [\"/nonexistent/crl.pem\"]",
                "revocation.crl_files[0]",
            ),
            (
                "crl_urls = [\"http://crl.example.md/a.crl\", \"ldap://crl.example.md\"]",
                "revocation.crl_urls[1]",
            ),
            ("crl_urls = [\"crl.example.md\"]", "revocation.crl_urls[0]"),
            ("refresh_secs = 0", "revocation.refresh_secs"),
        ] {
            let error = parse(toml).unwrap().validate().unwrap_err();
            assert!(
                matches!(&error, SettingsError::Invalid { key: k, .. } if k == key),
                "{toml}: {error}"
            );
        }
        let error = parse("stale_policy = \"ignore\"").unwrap_err().to_string();
        assert!(error.contains("stale_policy"), "{error}");
        assert!(parse("crl_dir = \"/etc/crl\"").is_err());
    }
}
