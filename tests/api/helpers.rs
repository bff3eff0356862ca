//! `spawn_app`: a hub on port 0 with a fresh database, a fresh development PKI and a simulated
//! population register, plus one helper per endpoint.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use esocial_catalog::Catalog;
use esocial_hub::config::RegistryOverride;
use esocial_hub::demo::{DEMO_CLIENT, demo_certificate_holders, demo_grants, embedded_settings};
use esocial_hub::startup::Application;
use esocial_sim::population::Population;
use esocial_sim::{Behaviour, SimulatorConfig};
use esocial_store::Store;
use esocial_wire::crypto::pki::{
    CertificateRole, KeyPair, PkiLayout, client_holder, generate_ca, init_dev_pki, issue_leaf,
    registry_holder,
};
use secrecy::SecretString;
use serde_json::{Value, json};
use tempfile::TempDir;

/// How the test wants the world around the hub to behave.
#[derive(Default)]
pub struct SpawnOptions {
    /// How every simulator misbehaves.
    pub behaviour: Behaviour,
    /// Registries whose endpoint is a closed port instead of their simulator.
    pub down: Vec<&'static str>,
    /// Registry timeout, overriding the adapter's.
    pub registry_timeout_ms: Option<u64>,
    /// Calls each registry may have in flight, overriding the default.
    pub max_in_flight: Option<usize>,
    /// Largest answer read from each registry, overriding the adapter's.
    pub max_answer_bytes: Option<usize>,
    /// The simulator signs its answers with a key from a CA the hub does not trust.
    pub untrusted_signer: bool,
    /// Database URL; a fresh SQLite file when absent.
    pub store_url: Option<String>,
    /// Adapter and contract folders other than the shipped ones.
    pub catalog_dirs: Option<(std::path::PathBuf, std::path::PathBuf)>,
    /// Queue settings; the embedded queue with the defaults when absent.
    pub queue: Option<esocial_hub::config::QueueConfig>,
    /// Callback URLs registered for the case-management client.
    pub callback_urls: Vec<String>,
    /// CRL settings; the shared development CA's `crl.pem` when absent.
    pub revocation: Option<esocial_hub::config::RevocationSettings>,
    /// Registries whose simulator presents the hub's TLS certificate instead of its own (same
    /// CA, same address, another holder).
    pub impostor_tls: Vec<&'static str>,
    /// `server.body_read_timeout_ms`, overriding the default.
    pub body_read_timeout_ms: Option<u64>,
    /// MLog's base URL; audit entries are not delivered when absent.
    pub mlog_url: Option<String>,
    /// The events flow; off when absent.
    pub events: Option<esocial_hub::events::EventsSettings>,
    /// Referrals and transfers; off when absent.
    pub handoffs: Option<esocial_hub::handoffs::HandoffSettings>,
}

pub struct TestApp {
    pub address: String,
    pub catalog: Catalog,
    pub ops_address: String,
    /// The public benefits pages (plain HTTP).
    pub pages_address: String,
    pub client: reqwest::Client,
    pub pki: PkiLayout,
    pub store: Store,
    pub population: Arc<Population>,
    _dir: TempDir,
}

pub fn adapters_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("adapters")
}

pub fn contracts_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("contracts")
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(SpawnOptions::default()).await
}

pub async fn spawn_app_with(options: SpawnOptions) -> TestApp {
    esocial_hub::telemetry::init("warn", false);
    let dir = tempfile::tempdir().expect("temporary directory");
    let (adapters, contracts) = options
        .catalog_dirs
        .clone()
        .unwrap_or_else(|| (adapters_dir(), contracts_dir()));
    let catalog = Catalog::load(&adapters, &contracts).expect("adapters load");
    let registries: Vec<String> = catalog.registries().map(|r| r.name.clone()).collect();
    let pki = shared_pki(&registries);
    let population = Arc::new(Population::synthetic(11, 300));
    let rogue = options
        .untrusted_signer
        .then(|| generate_ca("Rogue CA").unwrap());
    let mut settings = embedded_settings(
        &pki,
        &dir.path().join("hub.db"),
        &adapters,
        &contracts,
        demo_grants(&catalog),
        SecretString::from("test-digest-key-0123456789abcdef0123456789"),
        "127.0.0.1:0".parse().unwrap(),
        "127.0.0.1:0".parse().unwrap(),
    );
    settings.benefits.dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("benefits");
    for registry in catalog.registries() {
        let holder = registry_holder(&registry.name);
        let (signing_cert_pem, signing_key_pem) = match &rogue {
            Some(rogue_ca) => {
                let pair = issue_leaf(rogue_ca, &holder, CertificateRole::ServerAndClient).unwrap();
                (pair.certificate_pem().unwrap(), pair.key_pem().unwrap())
            }
            None => (
                std::fs::read(pki.cert(&holder)).unwrap(),
                std::fs::read(pki.key(&holder)).unwrap(),
            ),
        };
        let tls_holder = if options.impostor_tls.contains(&registry.name.as_str()) {
            "hub"
        } else {
            holder.as_str()
        };
        let simulator = esocial_sim::start(
            &catalog,
            &registry.name,
            SimulatorConfig {
                listen: "127.0.0.1:0".parse().unwrap(),
                tls_cert: pki.cert(tls_holder),
                tls_key: pki.key(tls_holder),
                client_ca: pki.ca_cert(),
                signing_cert_pem,
                signing_key_pem,
                population: population.clone(),
                behaviour: options.behaviour.clone(),
            },
        )
        .expect("simulator starts");
        let port = if options.down.contains(&registry.name.as_str()) {
            closed_port()
        } else {
            simulator.port
        };
        tokio::spawn(simulator.server);
        let path = reqwest::Url::parse(&registry.endpoint)
            .unwrap()
            .path()
            .to_string();
        settings.registries.insert(
            registry.name.clone(),
            RegistryOverride {
                endpoint: Some(format!("https://127.0.0.1:{port}{path}")),
                timeout_ms: options.registry_timeout_ms,
                max_in_flight: options.max_in_flight,
                max_answer_bytes: options.max_answer_bytes,
            },
        );
    }
    if let Some(url) = options.store_url {
        settings.store.url = SecretString::from(url);
    }
    if let Some(queue) = options.queue {
        settings.queue = queue;
    }
    settings.clients[0].callback_urls = options.callback_urls.clone();
    if let Some(revocation) = options.revocation {
        settings.revocation = revocation;
    }
    if let Some(timeout) = options.body_read_timeout_ms {
        settings.server.body_read_timeout_ms = timeout;
    }
    settings.mlog = options
        .mlog_url
        .map(|url| esocial_hub::audit::mlog::MlogSettings {
            url,
            batch_size: 4,
            interval_ms: 100,
            timeout_ms: 2_000,
        });
    settings.events = options.events;
    settings.handoffs = options.handoffs;
    let application = Application::build(settings).await.expect("hub builds");
    let api_port = application.api_port();
    let ops_port = application.ops_port();
    let public_port = application
        .public_port()
        .expect("the embedded settings serve the benefits pages");
    let store = application.store().clone();
    tokio::spawn(application.run_until_stopped());

    let client = client_with(&pki, &client_holder(DEMO_CLIENT));
    TestApp {
        address: format!("https://127.0.0.1:{api_port}"),
        catalog,
        ops_address: format!("http://127.0.0.1:{ops_port}"),
        pages_address: format!("http://127.0.0.1:{public_port}"),
        client,
        pki,
        store,
        population,
        _dir: dir,
    }
}

/// One development PKI for the whole test binary (RSA key generation is the slow part of
/// spawning an app); registries missing from it are added on first use.
pub fn shared_pki(registries: &[String]) -> PkiLayout {
    static SHARED: std::sync::OnceLock<(TempDir, std::sync::Mutex<()>)> =
        std::sync::OnceLock::new();
    let (dir, lock) = SHARED.get_or_init(|| (tempfile::tempdir().unwrap(), Default::default()));
    let _guard = lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let pki = PkiLayout::new(dir.path());
    init_dev_pki(&pki, registries, &demo_certificate_holders()).expect("development PKI");
    pki
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// An HTTPS client presenting the certificate `holder` from the PKI folder.
pub fn client_with(pki: &PkiLayout, holder: &str) -> reqwest::Client {
    let identity = reqwest::Identity::from_pkcs8_pem(
        &std::fs::read(pki.cert(holder)).unwrap(),
        &std::fs::read(pki.key(holder)).unwrap(),
    )
    .unwrap();
    client_builder(pki).identity(identity).build().unwrap()
}

/// An HTTPS client presenting an arbitrary key pair.
pub fn client_with_pair(pki: &PkiLayout, pair: &KeyPair) -> reqwest::Client {
    let identity = reqwest::Identity::from_pkcs8_pem(
        &pair.certificate_pem().unwrap(),
        &pair.key_pem().unwrap(),
    )
    .unwrap();
    client_builder(pki).identity(identity).build().unwrap()
}

/// An HTTPS client trusting the development CA, without a client certificate.
pub fn client_builder(pki: &PkiLayout) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(pki.ca_cert()).unwrap()).unwrap(),
        )
        .tls_built_in_root_certs(false)
        .no_proxy()
        .timeout(Duration::from_secs(20))
}

impl TestApp {
    /// A valid request for a living person of the simulated population.
    pub fn valid_request(&self) -> Value {
        let subject = self.population.sample_subject();
        json!({
            "service": "civil.person-details",
            "subject": {"idnp": subject.idnp.expose()},
            "purpose": {
                "legalBasis": "Legea nr. 123/2010, art. 12",
                "reason": "Evaluarea inițială a cazului",
                "caseId": "CASE-42"
            },
            "caller": {"userIdnp": self.population.persons()[1].idnp.expose()}
        })
    }

    pub async fn post_exchange(&self, body: &Value) -> reqwest::Response {
        self.post_exchange_as(&self.client, body).await
    }

    pub async fn post_exchange_as(
        &self,
        client: &reqwest::Client,
        body: &Value,
    ) -> reqwest::Response {
        self.post_exchange_raw(client, body.to_string().into_bytes())
            .await
            .expect("request reaches the hub")
    }

    pub async fn post_exchange_raw(
        &self,
        client: &reqwest::Client,
        body: Vec<u8>,
    ) -> reqwest::Result<reqwest::Response> {
        client
            .post(format!("{}/api/v1/exchanges", self.address))
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
    }

    /// A valid request for `service` about the sample subject.
    pub fn request_for(&self, service: &str) -> Value {
        let mut request = self.valid_request();
        request["service"] = json!(service);
        request
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.get_as(&self.client, path).await
    }

    pub async fn get_as(&self, client: &reqwest::Client, path: &str) -> reqwest::Response {
        client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("request reaches the hub")
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.address))
            .json(body)
            .send()
            .await
            .expect("request reaches the hub")
    }

    pub async fn get_ops(&self, path: &str) -> reqwest::Response {
        reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap()
            .get(format!("{}{path}", self.ops_address))
            .send()
            .await
            .expect("ops endpoint answers")
    }
}

/// Checks that `response` is problem+json with `status` and `code`, as `POST
/// /api/v1/exchanges` declares it, and returns its body.
pub async fn assert_problem(response: reqwest::Response, status: u16, code: &str) -> Value {
    assert_problem_of(response, status, code, ("/api/v1/exchanges", "post")).await
}

/// Checks that `response` is problem+json with `status` and `code`, as the OpenAPI document
/// declares it for `operation` (path, method), and returns its body.
pub async fn assert_problem_of(
    response: reqwest::Response,
    status: u16,
    code: &str,
    (path, method): (&str, &str),
) -> Value {
    assert_eq!(response.status().as_u16(), status, "HTTP status");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = response.json().await.expect("problem body is JSON");
    assert_eq!(body["code"], code, "problem: {body}");
    assert_eq!(body["status"], status);
    if let Err(violations) = esocial_hub::schema::validate("error", &body) {
        panic!("problem does not match schemas/error.schema.json: {violations:?}");
    }
    assert_matches_openapi(path, method, status, &body);
    body
}

/// The schema the hub's OpenAPI document gives for `method path` answering `status`, with
/// `components` carried along so its `$ref`s resolve.
pub fn openapi_response_schema(path: &str, method: &str, status: u16) -> Value {
    let document: Value = serde_json::from_str(
        &std::fs::read_to_string(contracts_dir().join("openapi.json")).unwrap(),
    )
    .unwrap();
    let responses = &document["paths"][path][method]["responses"];
    let response = match responses.get(status.to_string()) {
        Some(response) => response,
        None => responses
            .get("default")
            .unwrap_or_else(|| panic!("openapi.json has no {status} answer for {method} {path}")),
    };
    let response = resolve(&document, response);
    let content = &response["content"];
    let media = content
        .get("application/json")
        .or_else(|| content.get("application/problem+json"))
        .unwrap_or_else(|| panic!("no JSON content for {status} {method} {path}"));
    let mut schema = media["schema"].clone();
    schema["components"] = document["components"].clone();
    schema
}

fn resolve<'a>(document: &'a Value, value: &'a Value) -> &'a Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(reference) => document
            .pointer(reference.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("unresolved {reference}")),
        None => value,
    }
}

/// Checks a live answer against the OpenAPI document, so the two cannot drift.
pub fn assert_matches_openapi(path: &str, method: &str, status: u16, body: &Value) {
    let schema = openapi_response_schema(path, method, status);
    let validator =
        esocial_catalog::json_schema::compile(&schema).expect("OpenAPI schema compiles");
    if let Err(violations) = esocial_catalog::json_schema::check(&validator, body) {
        panic!("{method} {path} {status} does not match openapi.json: {violations:?}\n{body}");
    }
}
