//! A simulator of MConnect Events over mTLS. Producers post CloudEvents
//! (`POST /ce/produce/event`, `POST /ce/produce/events`, a batch all or nothing), each checked
//! against its type's contract and appended once to one log, where it gets the next offset.
//! Consumers read the log over WebSocket (`GET /ce/consume/ws`, subprotocol
//! `cloudevents.json`), identified by their TLS client certificate: the stream resumes after
//! the consumer's last confirmed offset, keeps a bounded number of events unconfirmed, takes
//! `confirm:<offset>` and `dead:<event json>`, and closes sockets periodically, as MConnect
//! Events does, so every consumer must reconnect and resume.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderValue, SEC_WEBSOCKET_PROTOCOL};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use actix_ws::{CloseCode, Message, MessageStream, Session};
use anyhow::Context;
use esocial_catalog::events::{EventContracts, EventDataError};
use esocial_catalog::json_schema::Violation;
use esocial_wire::crypto::tls::{ClientIdentity, client_identity};
use esocial_wire::mconnect::cloudevent::{
    BATCH_MEDIA_TYPE, CloudEvent, CloudEventError, EVENT_MEDIA_TYPE, MAX_REQUEST_BYTES,
    WS_SUBPROTOCOL,
};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::http::{Problem, read_body, wrong_media_type};

/// Unconfirmed events a consumer may have in flight unless configured otherwise.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 64;
/// How long a consumer socket stays open unless configured otherwise.
pub const DEFAULT_SOCKET_LIFETIME: Duration = Duration::from_secs(60);

pub struct EventsConfig {
    pub listen: SocketAddr,
    pub tls_cert: PathBuf,
    pub tls_key: PathBuf,
    /// CA of the producers' and consumers' TLS client certificates.
    pub client_ca: PathBuf,
    /// The folder of the event types' contracts (`contracts/events`).
    pub contracts: PathBuf,
    /// Events sent to one consumer socket and not yet confirmed, at most.
    pub max_in_flight: usize,
    /// The server closes every consumer socket after this long.
    pub socket_lifetime: Duration,
}

impl EventsConfig {
    /// A configuration with the default in-flight window and socket lifetime.
    pub fn new(
        listen: SocketAddr,
        tls_cert: PathBuf,
        tls_key: PathBuf,
        client_ca: PathBuf,
        contracts: PathBuf,
    ) -> Self {
        Self {
            listen,
            tls_cert,
            tls_key,
            client_ca,
            contracts,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            socket_lifetime: DEFAULT_SOCKET_LIFETIME,
        }
    }
}

/// The simulator's one event log, its consumers' positions and dead list. Clones share it, so
/// tests and the registry simulators can publish in-process and look at what consumers did.
#[derive(Clone)]
pub struct EventLog {
    inner: Arc<LogInner>,
}

struct LogInner {
    state: Mutex<LogState>,
    /// The number of events in the log, for consumer sockets waiting for new ones.
    appended: watch::Sender<u64>,
    /// Bumped to close every open consumer socket.
    closes: watch::Sender<u64>,
}

#[derive(Default)]
struct LogState {
    /// The structured JSON of each event, offset included; offset `n` is at index `n - 1`.
    frames: Vec<Arc<str>>,
    /// The offset of each event by (`source`, `id`).
    offsets: HashMap<(String, String), u64>,
    /// Each consumer's last confirmed offset.
    positions: HashMap<String, u64>,
    dead: Vec<(String, Value)>,
}

impl LogState {
    /// Appends `event` unless an event with its `source` and `id` is already in the log;
    /// returns its offset either way.
    fn append(&mut self, event: &CloudEvent) -> u64 {
        let identity = (event.source.clone(), event.id.clone());
        if let Some(&offset) = self.offsets.get(&identity) {
            return offset;
        }
        let offset = self.frames.len() as u64 + 1;
        let mut stored = event.clone();
        stored.offset = Some(offset);
        self.frames.push(stored.to_value().to_string().into());
        self.offsets.insert(identity, offset);
        offset
    }

    fn confirm(&mut self, consumer: &str, offset: u64) {
        let position = self.positions.entry(consumer.to_string()).or_default();
        *position = (*position).max(offset);
    }
}

impl Default for EventLog {
    fn default() -> Self {
        Self {
            inner: Arc::new(LogInner {
                state: Mutex::default(),
                appended: watch::Sender::new(0),
                closes: watch::Sender::new(0),
            }),
        }
    }
}

impl EventLog {
    fn state(&self) -> std::sync::MutexGuard<'_, LogState> {
        self.inner.state.lock().expect("not poisoned")
    }

    /// Appends events (all of them, under one lock) and wakes the consumer sockets; an event
    /// already in the log keeps its offset.
    fn append_all(&self, events: &[CloudEvent]) -> Vec<u64> {
        let (offsets, length) = {
            let mut state = self.state();
            let offsets: Vec<u64> = events.iter().map(|event| state.append(event)).collect();
            (offsets, state.frames.len() as u64)
        };
        self.inner.appended.send_replace(length);
        offsets
    }

    /// Appends an event in-process, as a producer would, and returns its offset. The caller
    /// is trusted: the event is not checked against its type's contract.
    pub fn publish(&self, event: CloudEvent) -> u64 {
        self.append_all(std::slice::from_ref(&event))[0]
    }

    /// The consumer's last confirmed offset, if it ever confirmed one.
    pub fn confirmed(&self, consumer: &str) -> Option<u64> {
        self.state().positions.get(consumer).copied()
    }

    /// The events consumers declared dead, with the consumer that did.
    pub fn dead(&self) -> Vec<(String, Value)> {
        self.state().dead.clone()
    }

    /// Closes every open consumer socket now, as MConnect Events does periodically.
    pub fn close_all_sockets(&self) {
        self.inner.closes.send_modify(|generation| *generation += 1);
    }

    /// Events in the log.
    pub fn len(&self) -> usize {
        self.state().frames.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn frame(&self, offset: u64) -> Option<Arc<str>> {
        let index = usize::try_from(offset.checked_sub(1)?).ok()?;
        self.state().frames.get(index).cloned()
    }
}

pub struct RunningEvents {
    pub port: u16,
    pub server: Server,
    pub log: EventLog,
}

struct EventsState {
    contracts: EventContracts,
    log: EventLog,
    max_in_flight: u64,
    socket_lifetime: Duration,
}

pub fn start_events(config: EventsConfig) -> anyhow::Result<RunningEvents> {
    let contracts = EventContracts::load(&config.contracts).with_context(|| {
        format!(
            "loading the event contracts `{}`",
            config.contracts.display()
        )
    })?;
    let log = EventLog::default();
    let state = web::Data::new(EventsState {
        contracts,
        log: log.clone(),
        max_in_flight: config.max_in_flight.max(1) as u64,
        socket_lifetime: config.socket_lifetime,
    });
    let (listener, tls, port) = crate::http::mutual_tls_listener(
        config.listen,
        &config.tls_cert,
        &config.tls_key,
        &config.client_ca,
        "MConnect Events simulator",
    )?;
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .route("/ce/produce/event", web::post().to(produce_event))
            .route("/ce/produce/events", web::post().to(produce_events))
            .route("/ce/consume/ws", web::get().to(consume))
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
    .workers(1)
    .listen_openssl(listener, tls)?
    .run();
    info!(port, "MConnect Events simulator listening");
    Ok(RunningEvents { port, server, log })
}

#[derive(Serialize)]
struct Accepted {
    offset: u64,
}

#[derive(Serialize)]
struct AcceptedBatch {
    offsets: Vec<u64>,
}

async fn produce_event(
    request: HttpRequest,
    body: web::Payload,
    state: web::Data<EventsState>,
) -> HttpResponse {
    if let Some(problem) = wrong_media_type(&request, EVENT_MEDIA_TYPE) {
        return problem.response();
    }
    let body = match read_body(body, MAX_REQUEST_BYTES).await {
        Ok(body) => body,
        Err(problem) => return problem.response(),
    };
    let event = match CloudEvent::parse(&body) {
        Ok(event) => event,
        Err(error) => return event_refused(&error),
    };
    if let Err(problem) = check_data(&state.contracts, &event, None) {
        return problem.response();
    }
    let offset = state.log.publish(event);
    HttpResponse::Ok().json(Accepted { offset })
}

async fn produce_events(
    request: HttpRequest,
    body: web::Payload,
    state: web::Data<EventsState>,
) -> HttpResponse {
    if let Some(problem) = wrong_media_type(&request, BATCH_MEDIA_TYPE) {
        return problem.response();
    }
    let body = match read_body(body, MAX_REQUEST_BYTES).await {
        Ok(body) => body,
        Err(problem) => return problem.response(),
    };
    let events = match CloudEvent::parse_batch(&body) {
        Ok(events) => events,
        Err(error) => return event_refused(&error),
    };
    for (index, event) in events.iter().enumerate() {
        if let Err(problem) = check_data(&state.contracts, event, Some(index)) {
            return problem.response();
        }
    }
    let offsets = state.log.append_all(&events);
    HttpResponse::Ok().json(AcceptedBatch { offsets })
}

/// The answer to an event (or batch) that is not a valid CloudEvent.
fn event_refused(error: &CloudEventError) -> HttpResponse {
    let innermost = match error {
        CloudEventError::InBatch { error, .. } => error.as_ref(),
        other => other,
    };
    let status = match innermost {
        CloudEventError::TooLarge | CloudEventError::BatchTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        CloudEventError::NotAnObject | CloudEventError::NotABatch => StatusCode::BAD_REQUEST,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    Problem::new(status, "event refused", error.to_string()).response()
}

/// Checks the event's type has a contract and its data passes it; `index` is the event's
/// place in a batch, which the problem's detail and pointers then name.
fn check_data(
    contracts: &EventContracts,
    event: &CloudEvent,
    index: Option<usize>,
) -> Result<(), Problem> {
    let (place, root) = match index {
        Some(index) => (format!("event {index} of the batch: "), format!("/{index}")),
        None => (String::new(), String::new()),
    };
    let refused = |detail: &str| {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "event refused",
            format!("{place}{detail}"),
        )
    };
    match contracts.check(&event.event_type, &event.data) {
        Ok(()) => Ok(()),
        Err(EventDataError::UnknownType) => Err(refused(
            "attribute `type` names an event type without a contract",
        )),
        Err(EventDataError::Violations(violations)) => {
            let errors = violations
                .into_iter()
                .map(|violation| Violation {
                    pointer: format!("{root}/data{}", violation.pointer),
                    message: violation.message,
                })
                .collect();
            Err(refused("attribute `data` does not match its type's contract").with_errors(errors))
        }
    }
}

async fn consume(
    request: HttpRequest,
    body: web::Payload,
    state: web::Data<EventsState>,
) -> HttpResponse {
    let offered = request
        .headers()
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|protocol| protocol.trim() == WS_SUBPROTOCOL);
    if !offered {
        return Problem::new(
            StatusCode::BAD_REQUEST,
            "subprotocol required",
            format!("the client must offer the WebSocket subprotocol `{WS_SUBPROTOCOL}`"),
        )
        .response();
    }
    let Some(consumer) = request
        .conn_data::<ClientIdentity>()
        .map(|identity| identity.common_name.clone())
    else {
        return Problem::new(
            StatusCode::UNAUTHORIZED,
            "consumer unknown",
            "the client certificate must carry one common name",
        )
        .response();
    };
    let (mut response, session, messages) = match actix_ws::handle(&request, body) {
        Ok(parts) => parts,
        Err(error) => return error.error_response(),
    };
    response.headers_mut().insert(
        SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static(WS_SUBPROTOCOL),
    );
    let stream = ConsumerStream {
        consumer,
        log: state.log.clone(),
        max_in_flight: state.max_in_flight,
    };
    actix_web::rt::spawn(stream.serve(
        session,
        messages.max_frame_size(MAX_REQUEST_BYTES),
        state.socket_lifetime,
    ));
    response
}

/// What a consumer said on its socket.
#[derive(Debug, PartialEq)]
enum ConsumerMessage {
    Confirm(u64),
    Dead(Value),
    Other,
}

impl ConsumerMessage {
    fn parse(text: &str) -> Self {
        if let Some(offset) = text.strip_prefix("confirm:") {
            return offset.trim().parse().map_or(Self::Other, Self::Confirm);
        }
        if let Some(event) = text.strip_prefix("dead:") {
            // A frame the consumer could not read is kept as the text it was.
            return Self::Dead(
                serde_json::from_str(event).unwrap_or_else(|_| Value::String(event.to_string())),
            );
        }
        Self::Other
    }
}

/// One consumer's socket.
struct ConsumerStream {
    consumer: String,
    log: EventLog,
    max_in_flight: u64,
}

impl ConsumerStream {
    async fn serve(self, mut session: Session, mut messages: MessageStream, lifetime: Duration) {
        let mut appended = self.log.inner.appended.subscribe();
        let mut closes = self.log.inner.closes.subscribe();
        closes.borrow_and_update();
        let expiry = tokio::time::sleep(lifetime);
        tokio::pin!(expiry);
        let mut last_sent = self.log.confirmed(&self.consumer).unwrap_or(0);
        let close_code = loop {
            let available = *appended.borrow_and_update();
            let position = self.log.confirmed(&self.consumer).unwrap_or(0);
            last_sent = last_sent.max(position);
            while last_sent < available && last_sent - position < self.max_in_flight {
                let Some(frame) = self.log.frame(last_sent + 1) else {
                    break;
                };
                if session.text(frame.to_string()).await.is_err() {
                    return;
                }
                last_sent += 1;
            }
            tokio::select! {
                _ = appended.changed() => {}
                message = messages.recv() => match message {
                    Some(Ok(Message::Text(text))) => {
                        if !self.take(ConsumerMessage::parse(&text), last_sent) {
                            break CloseCode::Policy;
                        }
                    }
                    Some(Ok(Message::Ping(bytes))) => {
                        if session.pong(&bytes).await.is_err() {
                            return;
                        }
                    }
                    Some(Ok(Message::Pong(_))) => {}
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break CloseCode::Normal,
                    Some(Ok(_)) => break CloseCode::Policy,
                },
                _ = &mut expiry => break CloseCode::Away,
                _ = closes.changed() => break CloseCode::Away,
            }
        };
        let _ = session.close(Some(close_code.into())).await;
    }

    /// Takes a consumer's message; false when it breaks the protocol (the socket is closed).
    fn take(&self, message: ConsumerMessage, last_sent: u64) -> bool {
        match message {
            ConsumerMessage::Confirm(offset) if offset <= last_sent => {
                self.log.state().confirm(&self.consumer, offset);
                true
            }
            ConsumerMessage::Dead(event) => {
                let offset = event.get("offset").and_then(Value::as_u64);
                if offset.is_some_and(|offset| offset > last_sent) {
                    return false;
                }
                let mut state = self.log.state();
                state.dead.push((self.consumer.clone(), event));
                if let Some(offset) = offset {
                    state.confirm(&self.consumer, offset);
                }
                true
            }
            ConsumerMessage::Confirm(_) | ConsumerMessage::Other => {
                warn!("consumer message refused; closing its socket");
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn consumer_messages_are_confirmations_dead_events_or_nothing() {
        assert_eq!(
            ConsumerMessage::parse("confirm:12"),
            ConsumerMessage::Confirm(12)
        );
        assert_eq!(
            ConsumerMessage::parse("dead:{\"offset\":3}"),
            ConsumerMessage::Dead(json!({"offset": 3}))
        );
        assert_eq!(
            ConsumerMessage::parse("dead:not json"),
            ConsumerMessage::Dead(json!("not json"))
        );
        for other in ["confirm:", "confirm:-1", "hello", "CONFIRM:1"] {
            assert_eq!(ConsumerMessage::parse(other), ConsumerMessage::Other);
        }
    }
}
