//! A simulator of MLog, the government audit log (HG 708/2014): over mTLS, `POST /register`
//! takes a batch of newline-delimited JSON events signed as one compact JWS, checks the
//! signature and every event's fields, and registers the batch whole or not at all. An event
//! it already holds (same `event_id`) is acknowledged again without being registered twice.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use actix_web::dev::Server;
use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context;
use esocial_wire::crypto::jws::{self, JwsVerifier};
use serde_json::{Value, json};
use tracing::info;

/// Largest batch accepted.
const MAX_BATCH_BYTES: usize = 1024 * 1024;
/// Fields every event must carry.
const REQUIRED: [&str; 10] = [
    "event_time",
    "event_type",
    "event_id",
    "event_source",
    "legal_entity",
    "legal_basis",
    "legal_reason",
    "user",
    "subject",
    "object",
];

pub struct MlogConfig {
    pub listen: SocketAddr,
    pub tls_cert: PathBuf,
    pub tls_key: PathBuf,
    /// CA of the clients' TLS and signing certificates.
    pub client_ca: PathBuf,
}

/// The events MLog registered, in the order it registered them.
#[derive(Clone, Default)]
pub struct MlogEvents {
    inner: Arc<Mutex<(Vec<Value>, HashSet<String>)>>,
}

impl MlogEvents {
    pub fn all(&self) -> Vec<Value> {
        self.inner.lock().expect("not poisoned").0.clone()
    }

    pub fn len(&self) -> usize {
        self.inner.lock().expect("not poisoned").0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

pub struct RunningMlog {
    pub port: u16,
    pub server: Server,
    pub events: MlogEvents,
}

struct MlogState {
    verifier: JwsVerifier,
    events: MlogEvents,
}

pub fn start_mlog(config: MlogConfig) -> anyhow::Result<RunningMlog> {
    let client_ca = std::fs::read(&config.client_ca)
        .with_context(|| format!("reading `{}`", config.client_ca.display()))?;
    let events = MlogEvents::default();
    let state = web::Data::new(MlogState {
        verifier: JwsVerifier::from_pem(&client_ca).context("MLog simulator JWS trust")?,
        events: events.clone(),
    });
    let (listener, tls, port) = crate::http::mutual_tls_listener(
        config.listen,
        &config.tls_cert,
        &config.tls_key,
        &config.client_ca,
        "MLog simulator",
    )?;
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(web::PayloadConfig::new(MAX_BATCH_BYTES))
            .route("/mlog/register", web::post().to(register))
    })
    .workers(1)
    .listen_openssl(listener, tls)?
    .run();
    info!(port, "MLog simulator listening");
    Ok(RunningMlog {
        port,
        server,
        events,
    })
}

fn refused(status: u16, detail: impl Into<String>) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).expect("valid status"))
        .content_type("application/problem+json")
        .json(json!({"title": "batch refused", "status": status, "detail": detail.into()}))
}

async fn register(body: web::Bytes, state: web::Data<MlogState>) -> HttpResponse {
    let Ok(text) = std::str::from_utf8(&body) else {
        return refused(400, "the body must be a compact JWS");
    };
    let verified = match jws::verify_compact(text.trim(), &state.verifier, SystemTime::now()) {
        Ok(verified) => verified,
        Err(error) => return refused(401, format!("the batch's signature is refused: {error}")),
    };
    let Ok(lines) = std::str::from_utf8(&verified.payload) else {
        return refused(400, "the batch must be UTF-8 newline-delimited JSON");
    };
    let mut batch = Vec::new();
    for (index, line) in lines
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let Ok(event) = serde_json::from_str::<Value>(line) else {
            return refused(422, format!("line {} is not a JSON object", index + 1));
        };
        if let Some(missing) = REQUIRED.iter().find(|field| event.get(**field).is_none()) {
            return refused(422, format!("line {} has no `{missing}`", index + 1));
        }
        if event["event_id"].as_str().is_none_or(str::is_empty) {
            return refused(422, format!("line {} has an empty `event_id`", index + 1));
        }
        batch.push(event);
    }
    let mut inner = state.events.inner.lock().expect("not poisoned");
    let (registered, seen) = &mut *inner;
    let mut new = 0;
    for event in batch {
        let id = event["event_id"].as_str().expect("checked").to_string();
        if seen.insert(id) {
            registered.push(event);
            new += 1;
        }
    }
    HttpResponse::Ok().json(json!({"registered": new}))
}
