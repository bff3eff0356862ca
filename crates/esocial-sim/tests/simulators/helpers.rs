//! What the simulators' tests share: one development PKI, HTTPS clients and the simulators
//! started on a free port.

use std::path::{Path, PathBuf};
use std::time::Duration;

use esocial_sim::events::{EventLog, EventsConfig, start_events};
use esocial_sim::mnotify::{MnotifyConfig, MnotifyHandle};
use esocial_sim::module::{ModuleConfig, ModuleHandle};
use esocial_wire::crypto::pki::{PkiLayout, init_dev_pki, registry_holder};
use esocial_wire::crypto::tls::ClientPem;
use esocial_wire::mconnect::cloudevent::CloudEvent;
use esocial_wire::mconnect::events::{EventsConsumer, Taken};
use tempfile::TempDir;

/// The simulated services, each with a server certificate `registry-<name>`.
pub const SERVICES: [&str; 3] = ["events", "mnotify", "module"];
/// The holder whose certificate the hub presents (its common name is `hub`).
pub const HUB: &str = "hub";

/// One development PKI for the whole test binary (RSA key generation is the slow part).
pub fn pki() -> PkiLayout {
    static SHARED: std::sync::OnceLock<TempDir> = std::sync::OnceLock::new();
    let dir = SHARED.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let services: Vec<String> = SERVICES.iter().map(|name| name.to_string()).collect();
        init_dev_pki(&PkiLayout::new(dir.path()), &services, &[]).expect("development PKI");
        dir
    });
    PkiLayout::new(dir.path())
}

pub fn contracts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../contracts/events")
}

/// An HTTPS client presenting the hub's certificate.
pub fn hub_client() -> reqwest::Client {
    let pki = pki();
    let identity = reqwest::Identity::from_pkcs8_pem(
        &std::fs::read(pki.cert(HUB)).unwrap(),
        &std::fs::read(pki.key(HUB)).unwrap(),
    )
    .unwrap();
    reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(pki.ca_cert()).unwrap()).unwrap(),
        )
        .tls_built_in_root_certs(false)
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .identity(identity)
        .build()
        .unwrap()
}

/// The MConnect Events simulator on a free port.
pub struct EventsSim {
    pub port: u16,
    pub log: EventLog,
}

impl EventsSim {
    pub fn start(max_in_flight: usize, socket_lifetime: Duration) -> Self {
        let pki = pki();
        let holder = registry_holder("events");
        let mut config = EventsConfig::new(
            "127.0.0.1:0".parse().unwrap(),
            pki.cert(&holder),
            pki.key(&holder),
            pki.ca_cert(),
            contracts(),
        );
        config.max_in_flight = max_in_flight;
        config.socket_lifetime = socket_lifetime;
        let running = start_events(config).unwrap();
        tokio::spawn(running.server);
        Self {
            port: running.port,
            log: running.log,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }

    /// A consumer presenting the hub's certificate, reconnecting quickly.
    pub fn consumer(&self) -> EventsConsumer {
        let pki = pki();
        let (certificate, key, trust) = (
            std::fs::read(pki.cert(HUB)).unwrap(),
            std::fs::read(pki.key(HUB)).unwrap(),
            std::fs::read(pki.ca_cert()).unwrap(),
        );
        EventsConsumer::new(
            &format!("wss://127.0.0.1:{}/ce/consume/ws", self.port),
            ClientPem {
                certificate_pem: &certificate,
                key_pem: &key,
                trust_pem: &trust,
            },
        )
        .unwrap()
        .with_backoff(Duration::from_millis(10), Duration::from_millis(200))
    }
}

/// Waits until `done` holds, at most 20 seconds.
pub async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..400 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Where a simulator of `service` listens, with its server certificate.
fn service_tls(service: &str) -> (PathBuf, PathBuf, PathBuf) {
    let pki = pki();
    let holder = registry_holder(service);
    (pki.cert(&holder), pki.key(&holder), pki.ca_cert())
}

/// The MNotify simulator on a free port.
pub fn start_mnotify(status_step: Duration) -> (String, MnotifyHandle) {
    let (tls_cert, tls_key, client_ca) = service_tls("mnotify");
    let mut config =
        MnotifyConfig::new("127.0.0.1:0".parse().unwrap(), tls_cert, tls_key, client_ca);
    config.status_step = status_step;
    let running = esocial_sim::start_mnotify(config).unwrap();
    tokio::spawn(running.server);
    (
        format!("https://127.0.0.1:{}", running.port),
        running.handle,
    )
}

/// The eSocial module simulator on a free port.
pub fn start_module() -> (String, ModuleHandle) {
    let (tls_cert, tls_key, client_ca) = service_tls("module");
    let running = esocial_sim::start_module(ModuleConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls_cert,
        tls_key,
        client_ca,
    })
    .unwrap();
    tokio::spawn(running.server);
    (
        format!("https://127.0.0.1:{}", running.port),
        running.handle,
    )
}

/// What a batch handler answers, later.
pub type BatchAnswer =
    std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<Vec<Taken>>> + Send>>;

/// The batch handler the consumer takes, made of a handler of one event: each event of the
/// batch in turn; the first error fails the whole batch (none of it is confirmed).
pub fn one_by_one<H, F>(mut handler: H) -> impl FnMut(Vec<CloudEvent>) -> BatchAnswer
where
    H: FnMut(CloudEvent) -> F,
    F: std::future::Future<Output = anyhow::Result<Taken>> + Send + 'static,
{
    move |batch| {
        let answers: Vec<F> = batch.into_iter().map(&mut handler).collect();
        Box::pin(async move {
            let mut takens = Vec::with_capacity(answers.len());
            for answer in answers {
                takens.push(answer.await?);
            }
            Ok(takens)
        })
    }
}
