//! `spawn_app`: a hub on port 0 with a fresh database, a fresh development PKI and a simulated
//! population register, plus one helper per endpoint.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use esocial_hub::config::RegistryOverride;
use esocial_hub::crypto::pki::{
    CertificateRole, KeyPair, PkiLayout, client_holder, generate_ca, init_dev_pki, issue_leaf,
    registry_holder,
};
use esocial_hub::demo::{DEMO_CLIENT, DEMO_UNGRANTED_CLIENT, embedded_settings};
use esocial_hub::simulate::population::Population;
use esocial_hub::simulate::{Behaviour, SimulatorConfig, civil};
use esocial_hub::startup::Application;
use esocial_hub::store::Store;
use secrecy::SecretString;
use serde_json::{Value, json};
use tempfile::TempDir;

/// How the test wants the world around the hub to behave.
#[derive(Default)]
pub struct SpawnOptions {
    pub behaviour: Behaviour,
    /// Point the hub at a closed port instead of the simulator.
    pub registry_down: bool,
    /// Registry timeout, overriding the adapter's.
    pub registry_timeout_ms: Option<u64>,
    /// The simulator signs its answers with a key from a CA the hub does not trust.
    pub untrusted_signer: bool,
    /// Database URL; a fresh SQLite file when absent.
    pub store_url: Option<String>,
}

pub struct TestApp {
    pub address: String,
    pub ops_address: String,
    pub client: reqwest::Client,
    pub pki: PkiLayout,
    pub store: Store,
    pub population: Arc<Population>,
    _dir: TempDir,
}

pub fn adapters_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("adapters")
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(SpawnOptions::default()).await
}

pub async fn spawn_app_with(options: SpawnOptions) -> TestApp {
    esocial_hub::telemetry::init("warn", false);
    let dir = tempfile::tempdir().expect("temporary directory");
    let pki = PkiLayout::new(dir.path().join("pki"));
    init_dev_pki(
        &pki,
        &["civil".to_string()],
        &[DEMO_CLIENT.to_string(), DEMO_UNGRANTED_CLIENT.to_string()],
    )
    .expect("development PKI");
    let population = Arc::new(Population::synthetic(11, 200));
    let registry = registry_holder("civil");
    let (signing_cert_pem, signing_key_pem) = if options.untrusted_signer {
        let rogue_ca = generate_ca("Rogue CA").unwrap();
        let rogue = issue_leaf(
            &rogue_ca,
            "registry-civil",
            CertificateRole::ServerAndClient,
        )
        .unwrap();
        (rogue.certificate_pem().unwrap(), rogue.key_pem().unwrap())
    } else {
        (
            std::fs::read(pki.cert(&registry)).unwrap(),
            std::fs::read(pki.key(&registry)).unwrap(),
        )
    };
    let simulator = civil::start(SimulatorConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls_cert: pki.cert(&registry),
        tls_key: pki.key(&registry),
        client_ca: pki.ca_cert(),
        signing_cert_pem,
        signing_key_pem,
        population: population.clone(),
        behaviour: options.behaviour,
    })
    .expect("simulator starts");
    let simulator_port = simulator.port;
    tokio::spawn(simulator.server);

    let endpoint_port = if options.registry_down {
        closed_port()
    } else {
        simulator_port
    };
    let mut settings = embedded_settings(
        &pki,
        &dir.path().join("hub.db"),
        &adapters_dir(),
        SecretString::from("test-digest-key-0123456789abcdef0123456789"),
        "127.0.0.1:0".parse().unwrap(),
        "127.0.0.1:0".parse().unwrap(),
    );
    if let Some(url) = options.store_url {
        settings.store.url = SecretString::from(url);
    }
    settings.registries.insert(
        "civil".into(),
        RegistryOverride {
            endpoint: Some(format!("https://127.0.0.1:{endpoint_port}/civil")),
            timeout_ms: options.registry_timeout_ms,
        },
    );
    let application = Application::build(settings).await.expect("hub builds");
    let api_port = application.api_port();
    let ops_port = application.ops_port();
    let store = application.store().clone();
    tokio::spawn(application.run_until_stopped());

    let client = client_with(&pki, &client_holder(DEMO_CLIENT));
    TestApp {
        address: format!("https://127.0.0.1:{api_port}"),
        ops_address: format!("http://127.0.0.1:{ops_port}"),
        client,
        pki,
        store,
        population,
        _dir: dir,
    }
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

/// Checks that `response` is problem+json with `status` and `code`, and returns its body.
pub async fn assert_problem(response: reqwest::Response, status: u16, code: &str) -> Value {
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
    body
}
