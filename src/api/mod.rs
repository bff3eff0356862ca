//! The hub's HTTP surfaces: the mTLS API for eSocial modules, and a plain-HTTP operations
//! listener for probes and metrics.

mod benefits;
mod events;
mod exchanges;
mod handoffs;
mod health;
pub mod mconnect;
mod persons;
pub mod problem;
mod services;

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use openssl::ssl::SslAcceptorBuilder;

use crate::config::MpiRole;
use crate::exchange::Exchanger;
use crate::metrics::HubMetrics;
use esocial_catalog::Catalog;
use esocial_mpi::MasterIndex;
use esocial_store::Store;
use esocial_wire::crypto::tls::client_identity;

/// Shared state of the mTLS API.
pub struct ApiState {
    pub exchanger: Exchanger,
    pub max_body_bytes: usize,
    /// How long a client has to send a request's head, and then its body.
    pub body_read_timeout: Duration,
    /// `contracts/openapi.json`, served at `/openapi.json`.
    pub openapi: String,
    /// The beneficiary master index.
    pub mpi: Arc<MasterIndex>,
    /// Each client's roles in the master index; absent clients have none.
    pub mpi_roles: HashMap<String, Vec<MpiRole>>,
    /// eSocial's MConnect services for agencies.
    pub provider: Arc<crate::provider::Provider>,
    /// The benefits catalog the estimator uses.
    pub benefits: Arc<esocial_benefits::Catalog>,
    /// The events flow, when `[events]` is configured.
    pub events: Option<crate::events::Events>,
    /// Referrals and transfers, when `[handoffs]` is configured.
    pub handoffs: Option<crate::handoffs::Handoffs>,
}

/// Shared state of the operations listener.
pub struct OpsState {
    pub store: Store,
    pub catalog: Arc<Catalog>,
    pub metrics: HubMetrics,
    /// For the queue's health and depths.
    pub queue: Exchanger,
}

/// Starts the mTLS API on `listener`. Each connection's verified client certificate is kept
/// with the connection, so handlers know who is calling.
pub fn api_server(
    listener: TcpListener,
    tls: SslAcceptorBuilder,
    state: ApiState,
    workers: usize,
) -> std::io::Result<Server> {
    let request_timeout = state.body_read_timeout;
    let state = web::Data::new(state);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .route(
                "/api/v1/exchanges",
                web::post().to(exchanges::create_exchange),
            )
            .route(
                "/api/v1/exchanges/{id}",
                web::get().to(exchanges::get_exchange),
            )
            .route(
                "/api/v1/admin/dead-letters",
                web::get().to(exchanges::dead_letters),
            )
            .route("/api/v1/admin/replay", web::post().to(exchanges::replay))
            .route("/api/v1/persons/match", web::post().to(persons::find))
            .route("/api/v1/persons/records", web::post().to(persons::register))
            .route("/api/v1/persons/relink", web::post().to(persons::relink))
            .route("/api/v1/persons/reviews", web::get().to(persons::reviews))
            .route(
                "/api/v1/persons/reviews/{id}/decision",
                web::post().to(persons::decide),
            )
            .route(
                "/api/v1/persons/history/{entry}/undo",
                web::post().to(persons::undo),
            )
            .route("/api/v1/persons/{id}", web::get().to(persons::get))
            .route(
                "/api/v1/persons/{id}/history",
                web::get().to(persons::history),
            )
            .route(
                "/api/v1/persons/{id}/access-log",
                web::get().to(persons::access_log),
            )
            .route("/api/v1/persons/{id}/link", web::post().to(persons::link))
            .route(
                "/api/v1/persons/{id}/unlink",
                web::post().to(persons::unlink),
            )
            .route("/api/v1/persons/{id}/merge", web::post().to(persons::merge))
            .route(
                "/api/v1/persons/{id}/unmerge",
                web::post().to(persons::unmerge),
            )
            .route("/api/v1/benefits", web::get().to(benefits::list))
            .route(
                "/api/v1/benefits/estimate",
                web::post().to(benefits::estimate),
            )
            .route(
                "/api/v1/benefits/consents",
                web::post().to(benefits::record_consent),
            )
            .route(
                "/api/v1/benefits/consents/{id}",
                web::delete().to(benefits::withdraw_consent),
            )
            .route(
                "/api/v1/benefits/prefill",
                web::post().to(benefits::prefill),
            )
            .route("/api/v1/benefits/{id}", web::get().to(benefits::sheet))
            .route("/api/v1/services", web::get().to(services::list))
            .route("/api/v1/services/allowed", web::get().to(services::allowed))
            .route(
                "/api/v1/services/{id}/contract",
                web::get().to(services::contract),
            )
            .route(
                "/api/v1/contracts/{id}/validate",
                web::post().to(services::validate),
            )
            .route("/ce/produce/event", web::post().to(events::produce_one))
            .route("/ce/produce/events", web::post().to(events::produce_batch))
            .route("/api/v1/events/reviews", web::get().to(events::reviews))
            .route("/api/v1/events/dead", web::get().to(events::dead))
            .route("/api/v1/events", web::get().to(events::lookup))
            .route("/api/v1/events/{id}/replay", web::post().to(events::replay))
            .route(
                "/api/v1/events/deliveries/{id}/replay",
                web::post().to(events::replay_delivery),
            )
            .route("/api/v1/referrals", web::post().to(handoffs::refer))
            .route("/api/v1/transfers", web::post().to(handoffs::transfer))
            .route("/api/v1/handoffs/{id}", web::get().to(handoffs::status))
            .route(
                "/api/v1/handoffs/{id}/decision",
                web::post().to(handoffs::decide),
            )
            .route("/openapi.json", web::get().to(services::openapi))
            .route("/mconnect/v1/soap", web::post().to(mconnect::soap))
            .route("/mconnect/v1/{service}", web::post().to(mconnect::rest))
            .default_service(web::to(problem::not_found))
    })
    .on_connect(|connection, data| {
        use actix_tls::accept::openssl::TlsStream;
        if let Some(tls) = connection.downcast_ref::<TlsStream<actix_web::rt::net::TcpStream>>()
            && let Some(certificate) = tls.ssl().peer_certificate()
            && let Some(identity) = client_identity(&certificate)
        {
            data.insert(identity);
        }
    })
    .workers(workers)
    .client_request_timeout(request_timeout)
    .listen_openssl(listener, tls)?
    .run();
    Ok(server)
}

/// Starts the operations listener (`/health/live`, `/health/ready`, `/metrics`).
pub fn ops_server(listener: TcpListener, state: OpsState) -> std::io::Result<Server> {
    let state = web::Data::new(state);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .route("/health/live", web::get().to(health::live))
            .route("/health/ready", web::get().to(health::ready))
            .route("/metrics", web::get().to(health::metrics))
            .default_service(web::to(problem::not_found))
    })
    .workers(1)
    .listen(listener)?
    .run();
    Ok(server)
}
