//! A stand-in for an eSocial module that takes the hub's event webhooks over mTLS:
//! `POST /events` with a compact JWS whose payload is one structured CloudEvent. The signature
//! must verify against the clients' CA; each event (by `source` and `id`) is recorded once,
//! however often it is delivered, and answered 204. Tests can take it down.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use actix_web::dev::Server;
use actix_web::http::StatusCode;
use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context;
use esocial_wire::crypto::jws::{self, JwsVerifier};
use esocial_wire::mconnect::cloudevent::{CloudEvent, MAX_EVENT_BYTES};
use serde_json::Value;
use tracing::info;

use crate::http::{Problem, read_body};

/// Largest webhook taken: an event as large as MConnect Events allows, signed (base64 and the
/// JWS header with its certificate).
const MAX_WEBHOOK_BYTES: usize = 2 * MAX_EVENT_BYTES;

pub struct ModuleConfig {
    pub listen: SocketAddr,
    pub tls_cert: PathBuf,
    pub tls_key: PathBuf,
    /// CA of the callers' TLS and signing certificates.
    pub client_ca: PathBuf,
}

#[derive(Default)]
struct Inbox {
    events: Vec<Value>,
    /// When each of `events` first arrived.
    arrived: Vec<Instant>,
    seen: HashSet<(String, String)>,
}

/// The events the module recorded and its failure switch; clones share them.
#[derive(Clone, Default)]
pub struct ModuleHandle {
    inbox: Arc<Mutex<Inbox>>,
    down: Arc<AtomicBool>,
}

impl ModuleHandle {
    /// While down, every webhook is answered 503 and nothing is recorded.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// The events recorded, once each, in the order they first arrived.
    pub fn events(&self) -> Vec<Value> {
        self.inbox.lock().expect("not poisoned").events.clone()
    }

    /// The id of each event recorded and when it first arrived, in that order.
    pub fn arrivals(&self) -> Vec<(String, Instant)> {
        let inbox = self.inbox.lock().expect("not poisoned");
        inbox
            .events
            .iter()
            .zip(&inbox.arrived)
            .map(|(event, at)| (event["id"].as_str().unwrap_or_default().to_string(), *at))
            .collect()
    }

    pub fn len(&self) -> usize {
        self.inbox.lock().expect("not poisoned").events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

pub struct RunningModule {
    pub port: u16,
    pub server: Server,
    pub handle: ModuleHandle,
}

struct ModuleState {
    verifier: JwsVerifier,
    handle: ModuleHandle,
}

pub fn start_module(config: ModuleConfig) -> anyhow::Result<RunningModule> {
    let client_ca = std::fs::read(&config.client_ca)
        .with_context(|| format!("reading `{}`", config.client_ca.display()))?;
    let handle = ModuleHandle::default();
    let state = web::Data::new(ModuleState {
        verifier: JwsVerifier::from_pem(&client_ca).context("module simulator JWS trust")?,
        handle: handle.clone(),
    });
    let (listener, tls, port) = crate::http::mutual_tls_listener(
        config.listen,
        &config.tls_cert,
        &config.tls_key,
        &config.client_ca,
        "module simulator",
    )?;
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .route("/events", web::post().to(take_event))
    })
    .workers(1)
    .listen_openssl(listener, tls)?
    .run();
    info!(port, "eSocial module simulator listening");
    Ok(RunningModule {
        port,
        server,
        handle,
    })
}

async fn take_event(body: web::Payload, state: web::Data<ModuleState>) -> HttpResponse {
    if state.handle.down.load(Ordering::SeqCst) {
        return Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "module unavailable",
            "the module is down for maintenance",
        )
        .response();
    }
    let body = match read_body(body, MAX_WEBHOOK_BYTES).await {
        Ok(body) => body,
        Err(problem) => return problem.response(),
    };
    let Ok(text) = std::str::from_utf8(&body) else {
        return Problem::new(
            StatusCode::BAD_REQUEST,
            "webhook refused",
            "the body must be a compact JWS",
        )
        .response();
    };
    let verified = match jws::verify_compact(text.trim(), &state.verifier, SystemTime::now()) {
        Ok(verified) => verified,
        Err(error) => {
            return Problem::new(
                StatusCode::UNAUTHORIZED,
                "webhook refused",
                format!("the webhook's signature is refused: {error}"),
            )
            .response();
        }
    };
    let event = match CloudEvent::parse(&verified.payload) {
        Ok(event) => event,
        Err(error) => {
            return Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "webhook refused",
                format!("the signed payload is not a CloudEvent: {error}"),
            )
            .response();
        }
    };
    let mut inbox = state.handle.inbox.lock().expect("not poisoned");
    if inbox.seen.insert((event.source.clone(), event.id.clone())) {
        inbox.events.push(event.to_value());
        inbox.arrived.push(Instant::now());
    }
    HttpResponse::NoContent().finish()
}
