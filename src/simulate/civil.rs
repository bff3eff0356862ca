//! The population register simulator: MConnect SOAP `GetPersonDetails` over mTLS.

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use actix_web::dev::Server;
use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context;
use futures_util::StreamExt;
use tracing::{info, warn};

use crate::crypto::wssec::{self, SigningIdentity, TrustAnchors};
use crate::mconnect::envelope::{self, Envelope};
use crate::mconnect::xml;
use crate::simulate::population::{Population, SyntheticPerson};

pub const NAMESPACE: &str = "urn:md:gov:asp:civil:v1";

/// Misbehaviour to inject, for fault tests.
#[derive(Debug, Clone, Default)]
pub struct Behaviour {
    /// Wait this long before answering.
    pub delay: Duration,
    /// Alter the answer after signing it, as an attacker in the middle would.
    pub tamper: bool,
    /// Answer without any WS-Security signature.
    pub unsigned: bool,
    /// Sign with a timestamp that expired before the answer was sent.
    pub expired: bool,
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

pub struct RunningSimulator {
    pub port: u16,
    pub server: Server,
}

struct SimulatorState {
    signer: SigningIdentity,
    trust: TrustAnchors,
    population: Arc<Population>,
    behaviour: Behaviour,
}

/// Binds and starts the simulator; the returned server must be awaited or spawned.
pub fn start(config: SimulatorConfig) -> anyhow::Result<RunningSimulator> {
    let client_ca_pem = std::fs::read(&config.client_ca)
        .with_context(|| format!("reading `{}`", config.client_ca.display()))?;
    let state = web::Data::new(SimulatorState {
        signer: SigningIdentity::from_pem(&config.signing_key_pem, &config.signing_cert_pem)
            .context("simulator signing identity")?,
        trust: TrustAnchors::from_pem(&client_ca_pem).context("simulator trust anchors")?,
        population: config.population,
        behaviour: config.behaviour,
    });
    let tls = crate::crypto::tls::mutual_tls_acceptor(
        &config.tls_cert,
        &config.tls_key,
        &config.client_ca,
    )?;
    let listener = TcpListener::bind(config.listen)
        .with_context(|| format!("binding the simulator to {}", config.listen))?;
    let port = listener.local_addr()?.port();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .route("/civil", web::post().to(handle))
    })
    .workers(1)
    .listen_openssl(listener, tls)?
    .run();
    info!(port, "population register simulator listening");
    Ok(RunningSimulator { port, server })
}

async fn handle(mut payload: web::Payload, state: web::Data<SimulatorState>) -> HttpResponse {
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let Ok(chunk) = chunk else {
            return HttpResponse::BadRequest().finish();
        };
        if body.len() + chunk.len() > xml::MAX_MESSAGE_BYTES {
            return HttpResponse::PayloadTooLarge().finish();
        }
        body.extend_from_slice(&chunk);
    }
    if !state.behaviour.delay.is_zero() {
        tokio::time::sleep(state.behaviour.delay).await;
    }
    let text = String::from_utf8_lossy(&body).to_string();
    let (unsigned, is_fault) = answer(&text, &state);
    let signing_time = if state.behaviour.expired {
        SystemTime::now() - Duration::from_secs(20 * 60)
    } else {
        SystemTime::now()
    };
    let signed = match wssec::sign_envelope(
        &unsigned,
        &state.signer,
        signing_time,
        Duration::from_secs(15 * 60),
    ) {
        Ok(_) if state.behaviour.unsigned => unsigned,
        Ok(signed) => signed,
        Err(error) => {
            warn!(%error, "simulator could not sign its answer");
            return HttpResponse::InternalServerError().finish();
        }
    };
    let signed = if state.behaviour.tamper {
        tamper_with(&signed)
    } else {
        signed
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

/// Changes signed content the way an attacker would: a different birth year.
fn tamper_with(signed: &str) -> String {
    match signed.find("<civ:BirthDate>") {
        Some(start) => {
            let digit = start + "<civ:BirthDate>".len();
            let mut altered = signed.to_string();
            let replacement = if &signed[digit..digit + 1] == "1" {
                "2"
            } else {
                "1"
            };
            altered.replace_range(digit..digit + 1, replacement);
            altered
        }
        None => signed.replacen("<faultstring>", "<faultstring>altered ", 1),
    }
}

/// Builds the unsigned answer to a request, and whether it is a fault.
fn answer(text: &str, state: &SimulatorState) -> (String, bool) {
    let answer_id = uuid::Uuid::new_v4().to_string();
    let fault = |relates: &str, code: &str, message: &str| {
        (envelope::fault(&answer_id, relates, code, message), true)
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
    let idnp = request
        .payload()
        .filter(|p| p.tag_name().name() == "GetPersonDetailsRequest")
        .and_then(|p| xml::child(p, "IDNP"))
        .map(xml::text_of);
    let Some(idnp) = idnp else {
        return fault(
            &relates,
            "Client.InvalidRequest",
            "expected GetPersonDetailsRequest/IDNP",
        );
    };
    match state.population.find(&idnp) {
        Some(person) => (
            envelope::response(&answer_id, &relates, &person_details(person)),
            false,
        ),
        None => fault(
            &relates,
            "Client.PersonNotFound",
            "no person with this IDNP",
        ),
    }
}

fn person_details(person: &SyntheticPerson) -> String {
    let element =
        |name: &str, value: &str| format!("<civ:{name}>{}</civ:{name}>", xml::escape(value));
    let mut fields = String::new();
    fields.push_str(&element("IDNP", person.idnp.expose()));
    fields.push_str(&element("LastName", &person.last_name));
    fields.push_str(&element("FirstName", &person.first_name));
    if let Some(patronymic) = &person.patronymic {
        fields.push_str(&element("Patronymic", patronymic));
    }
    fields.push_str(&element("BirthDate", &person.birth_date_text()));
    fields.push_str(&element("Sex", person.sex.code()));
    fields.push_str(&element("Citizenship", "MDA"));
    fields.push_str(&element(
        "Status",
        if person.deceased { "deceased" } else { "alive" },
    ));
    let address = &person.address;
    fields.push_str(&format!(
        "<civ:Address>{}{}{}{}{}</civ:Address>",
        element("District", &address.district),
        element("Locality", &address.locality),
        element("Street", &address.street),
        element("House", &address.house),
        element("PostalCode", &address.postal_code),
    ));
    format!(
        r#"<civ:GetPersonDetailsResponse xmlns:civ="{NAMESPACE}"><civ:Person>{fields}</civ:Person></civ:GetPersonDetailsResponse>"#
    )
}
