//! A registry simulator built from the registry's adapter: it speaks the registry's wire format
//! (MConnect SOAP or REST) over mTLS, verifies the hub's signatures, answers from the adapter's
//! fixtures or from the synthetic population, and signs its answers.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use actix_web::dev::Server;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use anyhow::Context;
use base64::Engine;
use futures_util::StreamExt;
use serde_json::{Value, json};
use tracing::{info, warn};

use crate::generators::{self, WireAnswer};
use crate::population::Population;
use esocial_catalog::fixtures::load_cases;
use esocial_catalog::{Catalog, Operation, Registry, Service, TemplateFormat, Transport};
use esocial_wire::crypto::jws::{self, JwsSigner, JwsVerifier};
use esocial_wire::crypto::wssec::{self, SigningIdentity, TrustAnchors};
use esocial_wire::mconnect::envelope::{self, Envelope};
use esocial_wire::mconnect::xml;

/// Misbehaviour to inject, for fault tests.
#[derive(Debug, Clone, Default)]
pub struct Behaviour {
    /// Wait this long before answering.
    pub delay: Duration,
    /// Alter the answer after signing it, as an attacker in the middle would.
    pub tamper: bool,
    /// Answer without any signature.
    pub unsigned: bool,
    /// Sign with a timestamp that expired before the answer was sent.
    pub expired: bool,
    /// Answer this many requests (shared by clones) with HTTP 503 before behaving.
    pub failures_before_success: Option<Arc<std::sync::atomic::AtomicU32>>,
    /// Answer every request with this HTTP status and no SOAP or JWS body.
    pub fail_status: Option<u16>,
    /// Answer 200 with a body that is neither XML nor JWS.
    pub garbage: bool,
    /// Start an answer and break the connection in the middle.
    pub drop_connection: bool,
    /// Give every answer this message id (correctly signed and bound), as a registry whose
    /// answers could be replayed would.
    pub answer_id: Option<String>,
    /// Send the first signed answer again, byte for byte, to every later request.
    pub replay_first_answer: bool,
    /// Answer every question with what is known about this person instead, as a registry that
    /// mixes up its records would.
    pub answer_about: Option<String>,
    /// Keep every request received (shared by clones), for tests that look at the wire.
    pub received: Option<Arc<std::sync::Mutex<Vec<String>>>>,
    /// Attach a scanned document of this many bytes (base64 text) to every answer about a
    /// person (SOAP: a last element of the payload; REST: an `attachment` beside `response`),
    /// as a registry sending a copy of a certificate would.
    pub attachment_bytes: usize,
}

impl Behaviour {
    /// Fails the first `count` requests with HTTP 503, then answers normally.
    pub fn failing_first(count: u32) -> Self {
        Self {
            failures_before_success: Some(Arc::new(std::sync::atomic::AtomicU32::new(count))),
            ..Self::default()
        }
    }

    /// The misbehaviour for this request, if any.
    fn fault(&self) -> Option<HttpResponse> {
        use std::sync::atomic::Ordering;
        if let Some(left) = &self.failures_before_success
            && left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        {
            return Some(HttpResponse::ServiceUnavailable().body("maintenance"));
        }
        if let Some(status) = self.fail_status {
            let status = actix_web::http::StatusCode::from_u16(status).unwrap_or_default();
            return Some(HttpResponse::build(status).body("registry failure"));
        }
        if self.garbage {
            return Some(
                HttpResponse::Ok()
                    .content_type("text/xml")
                    .body("<<< this is not a signed answer >>>"),
            );
        }
        if self.drop_connection {
            let broken = futures_util::stream::iter([
                Ok::<_, std::io::Error>(web::Bytes::from_static(b"<soap:Envelope")),
                Err(std::io::Error::other("connection dropped")),
            ]);
            return Some(
                HttpResponse::Ok()
                    .content_type("text/xml")
                    .streaming(broken),
            );
        }
        None
    }
}

pub struct SimulatorConfig {
    pub listen: std::net::SocketAddr,
    /// TLS server certificate and key of the simulated registry.
    pub tls_cert: PathBuf,
    pub tls_key: PathBuf,
    /// CA bundle whose certificates may call (TLS) and sign requests.
    pub client_ca: PathBuf,
    /// PEM of the certificate and key the answers are signed with.
    pub signing_cert_pem: Vec<u8>,
    pub signing_key_pem: Vec<u8>,
    pub population: Arc<Population>,
    pub behaviour: Behaviour,
}

impl SimulatorConfig {
    /// The simulator of `registry` with its certificate and key from a development PKI
    /// (`registry-<name>.pem/.key`, trusting `ca.pem`), listening on `listen`.
    pub fn from_dev_pki(
        pki: &esocial_wire::crypto::pki::PkiLayout,
        registry: &str,
        listen: std::net::SocketAddr,
        population: Arc<Population>,
        behaviour: Behaviour,
    ) -> std::io::Result<Self> {
        let holder = esocial_wire::crypto::pki::registry_holder(registry);
        Ok(Self {
            listen,
            tls_cert: pki.cert(&holder),
            tls_key: pki.key(&holder),
            client_ca: pki.ca_cert(),
            signing_cert_pem: std::fs::read(pki.cert(&holder))?,
            signing_key_pem: std::fs::read(pki.key(&holder))?,
            population,
            behaviour,
        })
    }
}

pub struct RunningSimulator {
    pub port: u16,
    pub server: Server,
}

/// What the simulator knows about one service.
struct SimulatedService {
    service: Service,
    /// Local names from the request payload to the subject's IDNP (SOAP: below the payload
    /// element; REST: keys below `request`).
    subject_path: Vec<String>,
    /// SOAP payload element name, or REST path.
    key: String,
    /// Fixture answers by subject IDNP.
    fixtures: BTreeMap<String, String>,
    /// Registry code for "no such person".
    not_found_code: String,
}

struct SimulatorState {
    registry: Registry,
    services: Vec<SimulatedService>,
    signer: SigningIdentity,
    jws_signer: JwsSigner,
    trust: TrustAnchors,
    jws_verifier: JwsVerifier,
    population: Arc<Population>,
    behaviour: Behaviour,
    /// The first signed answer, for `Behaviour::replay_first_answer`.
    first_answer: std::sync::Mutex<Option<String>>,
}

impl SimulatorState {
    /// A fresh answer message id, or the one the behaviour fixes.
    fn answer_id(&self) -> String {
        self.behaviour
            .answer_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
    }

    /// `signed`, or the first answer ever sent when the behaviour replays it.
    fn maybe_replayed(&self, signed: String) -> String {
        if !self.behaviour.replay_first_answer {
            return signed;
        }
        let mut first = self.first_answer.lock().expect("not poisoned");
        first.get_or_insert(signed).clone()
    }
}

const MARKER: &str = "SUBJECTMARKER";

/// Where the template puts the subject, found by rendering it with a marker.
fn subject_path(service: &Service) -> anyhow::Result<(String, Vec<String>)> {
    let rendered = service
        .request
        .render(|_| Some(MARKER.to_string()))
        .context("rendering the request template")?;
    match service.request.format() {
        TemplateFormat::Xml => {
            let document = xml::parse(&rendered)?;
            let root = document.root_element();
            let node = root
                .descendants()
                .find(|n| n.is_element() && xml::text_of(*n) == MARKER)
                .context("the template has no {{subject.idnp}} element")?;
            let mut path: Vec<String> = node
                .ancestors()
                .take_while(|a| *a != root)
                .filter(|a| a.is_element())
                .map(|a| a.tag_name().name().to_string())
                .collect();
            path.reverse();
            Ok((root.tag_name().name().to_string(), path))
        }
        TemplateFormat::Json => {
            let value: Value = serde_json::from_str(&rendered)?;
            fn find(value: &Value, path: &mut Vec<String>) -> bool {
                match value {
                    Value::String(s) => s == MARKER,
                    Value::Object(map) => map.iter().any(|(k, v)| {
                        path.push(k.clone());
                        find(v, path) || {
                            path.pop();
                            false
                        }
                    }),
                    _ => false,
                }
            }
            let mut path = Vec::new();
            anyhow::ensure!(
                find(&value, &mut path),
                "the template has no {{subject.idnp}} value"
            );
            let key = match &service.operation {
                Operation::Rest { path } => path.clone(),
                Operation::Soap { .. } => String::new(),
            };
            Ok((key, path))
        }
    }
}

/// Binds and starts the simulator of `registry_name`; the returned server must be awaited
/// or spawned.
pub fn start(
    catalog: &Catalog,
    registry_name: &str,
    config: SimulatorConfig,
) -> anyhow::Result<RunningSimulator> {
    let registry = catalog
        .registry(registry_name)
        .with_context(|| format!("no adapter for registry `{registry_name}`"))?
        .clone();
    let folder = catalog
        .folder(registry_name)
        .context("adapter folder")?
        .to_owned();
    let mut services = Vec::new();
    for service in catalog.services().filter(|s| s.registry == registry.name) {
        let (key, subject_path) =
            subject_path(service).with_context(|| format!("service `{}`", service.id))?;
        let fixtures = load_cases(&folder, service)?
            .into_iter()
            .map(|case| (case.expected.subject.idnp, case.response))
            .collect();
        let not_found_code = service
            .faults
            .iter()
            .find(|(_, hub)| hub.as_str() == "caller.subject_not_found")
            .map(|(code, _)| code.clone())
            .unwrap_or_else(|| match registry.transport {
                Transport::Soap => "Client.PersonNotFound".into(),
                Transport::Rest => "PERSON_NOT_FOUND".into(),
            });
        services.push(SimulatedService {
            service: service.clone(),
            subject_path,
            key,
            fixtures,
            not_found_code,
        });
    }
    let client_ca_pem = std::fs::read(&config.client_ca)
        .with_context(|| format!("reading `{}`", config.client_ca.display()))?;
    let state = web::Data::new(SimulatorState {
        signer: SigningIdentity::from_pem(&config.signing_key_pem, &config.signing_cert_pem)
            .context("simulator signing identity")?,
        jws_signer: JwsSigner::from_pem(&config.signing_key_pem, &config.signing_cert_pem)
            .context("simulator JWS identity")?,
        trust: TrustAnchors::from_pem(&client_ca_pem).context("simulator trust anchors")?,
        jws_verifier: JwsVerifier::from_pem(&client_ca_pem).context("simulator JWS trust")?,
        registry,
        services,
        population: config.population,
        behaviour: config.behaviour,
        first_answer: std::sync::Mutex::new(None),
    });
    let tls = esocial_wire::crypto::tls::mutual_tls_acceptor(
        &config.tls_cert,
        &config.tls_key,
        &config.client_ca,
    )?;
    let listener = TcpListener::bind(config.listen)
        .with_context(|| format!("binding the simulator to {}", config.listen))?;
    let port = listener.local_addr()?.port();
    let name = registry_name.to_string();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .default_service(web::post().to(handle))
    })
    .workers(1)
    .listen_openssl(listener, tls)?
    .run();
    info!(port, registry = %name, "registry simulator listening");
    Ok(RunningSimulator { port, server })
}

async fn handle(
    request: HttpRequest,
    mut payload: web::Payload,
    state: web::Data<SimulatorState>,
) -> HttpResponse {
    // The hub sends its requests whole; a body still incomplete after this is answered 408.
    const BODY_READ_TIMEOUT: Duration = Duration::from_secs(5);
    let read = async {
        let mut body = Vec::new();
        while let Some(chunk) = payload.next().await {
            let Ok(chunk) = chunk else {
                return Err(HttpResponse::BadRequest().finish());
            };
            if body.len() + chunk.len() > xml::MAX_MESSAGE_BYTES {
                return Err(HttpResponse::PayloadTooLarge().finish());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    };
    let body = match tokio::time::timeout(BODY_READ_TIMEOUT, read).await {
        Ok(Ok(body)) => body,
        Ok(Err(refused)) => return refused,
        Err(_) => return HttpResponse::RequestTimeout().finish(),
    };
    if let Some(received) = &state.behaviour.received {
        received
            .lock()
            .expect("not poisoned")
            .push(String::from_utf8_lossy(&body).to_string());
    }
    if !state.behaviour.delay.is_zero() {
        tokio::time::sleep(state.behaviour.delay).await;
    }
    if let Some(response) = state.behaviour.fault() {
        return response;
    }
    let request_hash = esocial_wire::mconnect::request_hash(&body);
    let text = String::from_utf8_lossy(&body).to_string();
    let signing_time = if state.behaviour.expired {
        SystemTime::now() - Duration::from_secs(20 * 60)
    } else {
        SystemTime::now()
    };
    match state.registry.transport {
        Transport::Soap => soap_answer(&text, request_hash, &state, signing_time),
        Transport::Rest => rest_answer(request.path(), &text, request_hash, &state, signing_time),
    }
}

/// The answer for `idnp`: a fixture, else the population, else "not found".
enum Lookup {
    Fixture(String),
    Generated(WireAnswer),
    NotFound,
}

fn look_up(state: &SimulatorState, simulated: &SimulatedService, idnp: &str) -> Lookup {
    let idnp = state.behaviour.answer_about.as_deref().unwrap_or(idnp);
    if let Some(fixture) = simulated.fixtures.get(idnp) {
        return Lookup::Fixture(fixture.clone());
    }
    match generators::generate(&simulated.service.id, &state.population, idnp) {
        Some(answer) => Lookup::Generated(answer),
        None => Lookup::NotFound,
    }
}

fn soap_answer(
    text: &str,
    request_hash: String,
    state: &SimulatorState,
    signing_time: SystemTime,
) -> HttpResponse {
    let (unsigned, is_fault) = soap_body(text, state, request_hash);
    let signed = match wssec::sign_envelope(
        &unsigned,
        &state.signer,
        signing_time,
        Duration::from_secs(15 * 60),
    ) {
        Ok(_) if state.behaviour.unsigned => unsigned,
        Ok(signed) if state.behaviour.tamper => {
            signed.replacen("</soap:Body>", "<altered/></soap:Body>", 1)
        }
        Ok(signed) => state.maybe_replayed(signed),
        Err(error) => {
            warn!(%error, "simulator could not sign its answer");
            return HttpResponse::InternalServerError().finish();
        }
    };
    let mut response = if is_fault {
        HttpResponse::InternalServerError()
    } else {
        HttpResponse::Ok()
    };
    response
        .content_type("text/xml; charset=utf-8")
        .body(signed)
}

fn soap_body(text: &str, state: &SimulatorState, request_hash: String) -> (String, bool) {
    let binding = |relates: &str| envelope::AnswerBinding {
        message_id: state.answer_id(),
        relates_to: relates.to_string(),
        request_hash: request_hash.clone(),
    };
    let fault = |relates: &str, code: &str, message: &str| {
        (
            envelope::fault(&binding(relates), code, message, None),
            true,
        )
    };
    if let Err(error) = wssec::verify_envelope(text, &state.trust, SystemTime::now()) {
        return fault("", "Client.InvalidSignature", &error.to_string());
    }
    let Ok(document) = xml::parse(text) else {
        return fault("", "Client.InvalidRequest", "malformed XML");
    };
    let Ok(request) = Envelope::read(&document) else {
        return fault("", "Client.InvalidRequest", "not a SOAP envelope");
    };
    let relates = request.mconnect_header("MessageId").unwrap_or_default();
    for header in [
        "CallingUser",
        "CallingEntity",
        "CallBasis",
        "CallReason",
        "MessageId",
    ] {
        if request.mconnect_header(header).is_none() {
            return fault(
                &relates,
                "Client.InvalidRequest",
                &format!("MConnect header {header} is required (Law 142/2018)"),
            );
        }
    }
    let Some(payload) = request.payload() else {
        return fault(&relates, "Client.InvalidRequest", "empty body");
    };
    let operation = payload.tag_name().name();
    let Some(simulated) = state.services.iter().find(|s| s.key == operation) else {
        return fault(&relates, "Client.InvalidRequest", "unknown operation");
    };
    let Some(idnp) = xml::descend(payload, &simulated.subject_path.join("/")).map(xml::text_of)
    else {
        return fault(&relates, "Client.InvalidRequest", "no subject IDNP");
    };
    match look_up(state, simulated, &idnp) {
        Lookup::Fixture(body) => {
            let is_fault = body.contains("Fault") && body.contains(envelope::SOAP_NS);
            (
                envelope::response(&binding(&relates), body.trim()),
                is_fault,
            )
        }
        Lookup::Generated(WireAnswer::Soap(body)) => {
            let body = with_attachment(&body, state.behaviour.attachment_bytes);
            (envelope::response(&binding(&relates), &body), false)
        }
        Lookup::Generated(WireAnswer::Rest(_)) | Lookup::NotFound => fault(
            &relates,
            &simulated.not_found_code,
            "no person with this IDNP",
        ),
    }
}

/// `payload` (one XML element) with a last child holding `bytes` of base64 text, in a
/// namespace of its own that no response mapping reads.
fn with_attachment(payload: &str, bytes: usize) -> String {
    let Some(end) = payload.rfind("</").filter(|_| bytes > 0) else {
        return payload.to_string();
    };
    let text = attachment_text(bytes);
    format!(
        "{}<att:document xmlns:att=\"urn:esocial-sim:attachment\" type=\"application/pdf\">{text}</att:document>{}",
        &payload[..end],
        &payload[end..]
    )
}

/// `bytes` of base64 text, as a scanned PDF looks.
fn attachment_text(bytes: usize) -> String {
    const SCAN: &str = "JVBERi0xLjcKJcTl8uXrp/Og0MTGCjEgMCBvYmoKPDwvVHlwZS9DYXRhbG9n";
    SCAN.chars().cycle().take(bytes).collect()
}

fn rest_answer(
    path: &str,
    text: &str,
    request_hash: String,
    state: &SimulatorState,
    signing_time: SystemTime,
) -> HttpResponse {
    let answer_id = state.answer_id();
    let (status, relates, outcome) = rest_body(path, text, state);
    let mut payload = json!({"mconnect": {
        "messageId": answer_id, "relatesTo": relates, "requestHash": request_hash,
    }});
    match outcome {
        Ok(response) => {
            payload["response"] = response;
            if state.behaviour.attachment_bytes > 0 {
                payload["attachment"] = json!({
                    "type": "application/pdf",
                    "content": attachment_text(state.behaviour.attachment_bytes),
                });
            }
        }
        Err((code, message)) => payload["error"] = json!({"code": code, "message": message}),
    }
    let bytes = payload.to_string();
    let body = if state.behaviour.unsigned {
        bytes
    } else {
        match jws::sign_compact(
            bytes.as_bytes(),
            &state.jws_signer,
            signing_time,
            Duration::from_secs(15 * 60),
        ) {
            Ok(token) if state.behaviour.tamper => tamper_jws(&token),
            Ok(token) => state.maybe_replayed(token),
            Err(error) => {
                warn!(%error, "simulator could not sign its answer");
                return HttpResponse::InternalServerError().finish();
            }
        }
    };
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or_default())
        .content_type("application/jose")
        .body(body)
}

/// Replaces the payload of a signed JWS, keeping the original signature.
fn tamper_jws(token: &str) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let Some(Ok(payload)) = parts.get(1).map(|p| engine.decode(p)) else {
        return token.to_string();
    };
    let mut altered = payload;
    altered.extend_from_slice(b" ");
    format!(
        "{}.{}.{}",
        parts[0],
        engine.encode(altered),
        parts.get(2).unwrap_or(&"")
    )
}

type RestOutcome = Result<Value, (String, String)>;

fn rest_body(path: &str, text: &str, state: &SimulatorState) -> (u16, String, RestOutcome) {
    let invalid = |relates: String, message: &str| {
        (
            400,
            relates,
            Err(("INVALID_REQUEST".to_string(), message.to_string())),
        )
    };
    let verified = match jws::verify_compact(text.trim(), &state.jws_verifier, SystemTime::now()) {
        Ok(verified) => verified,
        Err(error) => return invalid(String::new(), &format!("signature: {error}")),
    };
    let Ok(payload) = serde_json::from_slice::<Value>(&verified.payload) else {
        return invalid(String::new(), "payload is not JSON");
    };
    let context = &payload["mconnect"];
    let relates = context["messageId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    for key in [
        "callingUser",
        "callingEntity",
        "callBasis",
        "callReason",
        "messageId",
    ] {
        if context[key].as_str().is_none_or(|v| v.trim().is_empty()) {
            return invalid(
                relates,
                &format!("mconnect.{key} is required (Law 142/2018)"),
            );
        }
    }
    let base = url_path(&state.registry.endpoint);
    let operation = path.strip_prefix(&base).unwrap_or(path);
    let Some(simulated) = state.services.iter().find(|s| s.key == operation) else {
        return (
            404,
            relates,
            Err(("UNKNOWN_OPERATION".into(), "no such path".into())),
        );
    };
    let idnp = simulated
        .subject_path
        .iter()
        .try_fold(&payload["request"], |v, k| v.get(k))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    match look_up(state, simulated, &idnp) {
        Lookup::Fixture(text) => match serde_json::from_str::<Value>(&text) {
            Ok(fixture) if fixture.get("error").is_some() => {
                let code = fixture["error"]["code"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let message = fixture["error"]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                (404, relates, Err((code, message)))
            }
            Ok(fixture) => (200, relates, Ok(fixture["response"].clone())),
            Err(_) => (500, relates, Err(("INTERNAL".into(), "bad fixture".into()))),
        },
        Lookup::Generated(WireAnswer::Rest(response)) => (200, relates, Ok(response)),
        Lookup::Generated(WireAnswer::Soap(_)) | Lookup::NotFound => (
            404,
            relates,
            Err((
                simulated.not_found_code.clone(),
                "no person with this IDNP".into(),
            )),
        ),
    }
}

/// The path part of an `https://host:port/path` URL.
fn url_path(endpoint: &str) -> String {
    reqwest::Url::parse(endpoint)
        .map(|url| url.path().trim_end_matches('/').to_string())
        .unwrap_or_default()
}
