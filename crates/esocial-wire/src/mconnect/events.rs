//! The consumer client of MConnect Events: reads the hub's subscriptions over WebSocket
//! (`/ce/consume/ws`, subprotocol `cloudevents.json`) over mutual TLS, hands the events that
//! arrived together to the caller's handler and answers `dead:<event>` for each it refused and
//! `confirm:<offset>` once it took the others durably. The server closes sockets periodically and resends what
//! was not confirmed, so the client reconnects with capped exponential backoff and jitter and
//! nothing is lost. Logs name event types and offsets, never an event's data or partition key.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use futures_util::{FutureExt, SinkExt, StreamExt};
use openssl::pkey::PKey;
use openssl::ssl::{SslConnector, SslMethod};
use openssl::x509::X509;
use openssl::x509::store::X509StoreBuilder;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_openssl::SslStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderValue, Uri, header::SEC_WEBSOCKET_PROTOCOL};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tracing::{info, warn};

use super::cloudevent::{CloudEvent, MAX_EVENT_BYTES, WS_SUBPROTOCOL};
use crate::crypto::tls::ClientPem;

/// Shortest wait before reconnecting, unless configured otherwise.
pub const DEFAULT_MIN_BACKOFF: Duration = Duration::from_millis(100);
/// Longest wait before reconnecting, unless configured otherwise.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(10);
/// How long connecting (TCP, TLS and the WebSocket handshake) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long closing a socket waits for the server's close frame.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// Largest frame read: one event with its offset, with room to spare.
const MAX_FRAME_BYTES: usize = 2 * MAX_EVENT_BYTES;
/// Most events handed to the handler at once.
pub const MAX_BATCH: usize = 64;
/// The CloudEvents extension attribute that carries a refusal's reason in a `dead:` answer.
pub const DEAD_REASON_ATTRIBUTE: &str = "deadreason";

#[derive(Debug, thiserror::Error)]
pub enum ConsumerSetupError {
    #[error("`url` must be wss://host[:port]/path")]
    Url,
    #[error("`certificate_pem` holds no certificate")]
    NoCertificate,
    #[error("TLS `{0}`: {1}")]
    Tls(&'static str, openssl::error::ErrorStack),
}

/// What the handler did with an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Taken {
    /// Stored so that it survives a crash: the event is confirmed.
    Durably,
    /// Can never be handled: the event goes to MConnect Events' dead list with this reason
    /// (words about the event's shape, never its values).
    Refused(String),
}

/// What the consumer has done so far, shared with whoever exposes it (metrics).
#[derive(Clone, Default)]
pub struct ConsumerCounters {
    inner: Arc<CounterValues>,
}

#[derive(Default)]
struct CounterValues {
    connections: AtomicU64,
    confirmed: AtomicU64,
    refused: AtomicU64,
    last_confirmed_offset: AtomicU64,
}

impl ConsumerCounters {
    /// WebSocket connections established.
    pub fn connections(&self) -> u64 {
        self.inner.connections.load(Ordering::Relaxed)
    }

    /// Events confirmed (taken durably).
    pub fn confirmed(&self) -> u64 {
        self.inner.confirmed.load(Ordering::Relaxed)
    }

    /// Events answered `dead:` (refused by the handler, or frames that were no event).
    pub fn refused(&self) -> u64 {
        self.inner.refused.load(Ordering::Relaxed)
    }

    /// The highest offset confirmed or declared dead (0 before any).
    pub fn last_confirmed_offset(&self) -> u64 {
        self.inner.last_confirmed_offset.load(Ordering::Relaxed)
    }

    fn answered(&self, offset: u64) {
        self.inner
            .last_confirmed_offset
            .fetch_max(offset, Ordering::Relaxed);
    }
}

/// A consumer of one MConnect Events stream.
pub struct EventsConsumer {
    uri: Uri,
    host: String,
    port: u16,
    connector: SslConnector,
    backoff: ExponentialBuilder,
    counters: ConsumerCounters,
}

/// Why one connection ended.
enum Ended {
    /// Shutdown was asked for: stop.
    Shutdown,
    /// The server closed the socket cleanly (it does so periodically): reconnect soon.
    ClosedByServer,
    /// Connecting failed, the stream broke or the handler failed: reconnect after a growing
    /// delay.
    Failed,
}

type WsStream = WebSocketStream<SslStream<TcpStream>>;

impl EventsConsumer {
    /// A consumer of `url` (`wss://host:port/ce/consume/ws`) that presents `tls`'s certificate
    /// and checks the server's against `tls.trust_pem` and the URL's host name or IP address.
    pub fn new(url: &str, tls: ClientPem<'_>) -> Result<Self, ConsumerSetupError> {
        let uri: Uri = url.parse().map_err(|_| ConsumerSetupError::Url)?;
        if uri.scheme_str() != Some("wss") {
            return Err(ConsumerSetupError::Url);
        }
        let host = uri
            .host()
            .ok_or(ConsumerSetupError::Url)?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = uri.port_u16().unwrap_or(443);
        let connector = connector(&tls)?;
        Ok(Self {
            uri,
            host,
            port,
            connector,
            backoff: ExponentialBuilder::default()
                .with_min_delay(DEFAULT_MIN_BACKOFF)
                .with_max_delay(DEFAULT_MAX_BACKOFF)
                .with_jitter()
                .without_max_times(),
            counters: ConsumerCounters::default(),
        })
    }

    /// Waits between `min` and `max` (doubling, with jitter) before reconnecting.
    pub fn with_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.backoff = self.backoff.with_min_delay(min).with_max_delay(max);
        self
    }

    pub fn counters(&self) -> ConsumerCounters {
        self.counters.clone()
    }

    /// Reads the stream until `shutdown` turns true, calling `handler` on the events that
    /// arrived together (in offset order, at most [`MAX_BATCH`]), which answers for each. They
    /// are confirmed only after the handler took them durably; a handler error closes the
    /// socket, and the server sends them again on the next connection.
    pub async fn run<H, F>(self, mut handler: H, mut shutdown: watch::Receiver<bool>)
    where
        H: FnMut(Vec<CloudEvent>) -> F,
        F: Future<Output = Result<Vec<Taken>, anyhow::Error>>,
    {
        let mut delays = self.backoff.build();
        loop {
            if *shutdown.borrow_and_update() {
                return;
            }
            let ended = match self.connect().await {
                Ok(socket) => {
                    self.counters
                        .inner
                        .connections
                        .fetch_add(1, Ordering::Relaxed);
                    info!(host = %self.host, port = self.port, "connected to MConnect Events");
                    self.consume(socket, &mut handler, &mut shutdown).await
                }
                Err(error) => {
                    warn!(%error, host = %self.host, port = self.port, "cannot connect to MConnect Events");
                    Ended::Failed
                }
            };
            let delay = match ended {
                Ended::Shutdown => return,
                Ended::ClosedByServer => {
                    delays = self.backoff.build();
                    delays.next()
                }
                Ended::Failed => delays.next(),
            }
            .unwrap_or(DEFAULT_MAX_BACKOFF);
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    async fn connect(&self) -> anyhow::Result<WsStream> {
        let connecting = async {
            let tcp = TcpStream::connect((self.host.as_str(), self.port)).await?;
            let ssl = self.connector.configure()?.into_ssl(&self.host)?;
            let mut tls = SslStream::new(ssl, tcp)?;
            Pin::new(&mut tls).connect().await?;
            let mut request = (&self.uri).into_client_request()?;
            request.headers_mut().insert(
                SEC_WEBSOCKET_PROTOCOL,
                HeaderValue::from_static(WS_SUBPROTOCOL),
            );
            let config = WebSocketConfig::default()
                .max_message_size(Some(MAX_FRAME_BYTES))
                .max_frame_size(Some(MAX_FRAME_BYTES));
            let (socket, _) =
                tokio_tungstenite::client_async_with_config(request, tls, Some(config)).await?;
            anyhow::Ok(socket)
        };
        tokio::time::timeout(CONNECT_TIMEOUT, connecting)
            .await
            .map_err(|_| anyhow::anyhow!("no connection within {CONNECT_TIMEOUT:?}"))?
    }

    async fn consume<H, F>(
        &self,
        mut socket: WsStream,
        handler: &mut H,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Ended
    where
        H: FnMut(Vec<CloudEvent>) -> F,
        F: Future<Output = Result<Vec<Taken>, anyhow::Error>>,
    {
        loop {
            let first = tokio::select! {
                frame = socket.next() => frame,
                _ = shutdown.changed() => {
                    close(&mut socket, CloseCode::Away).await;
                    return Ended::Shutdown;
                }
            };
            // Every frame already waiting joins the first, so that one durable write (and one
            // confirm) serves them all.
            let mut frames = vec![first];
            while frames.len() < MAX_BATCH {
                match socket.next().now_or_never() {
                    Some(frame) => frames.push(frame),
                    None => break,
                }
            }
            let mut answers = Vec::new();
            let mut batch = Vec::new();
            let mut ended = None;
            for frame in frames {
                let text = match frame {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Close(_))) | None => {
                        info!("MConnect Events closed the socket; reconnecting");
                        ended = Some(Ended::ClosedByServer);
                        break;
                    }
                    Some(Ok(Message::Binary(_))) => {
                        warn!("binary frame from MConnect Events; closing the socket");
                        close(&mut socket, CloseCode::Unsupported).await;
                        return Ended::Failed;
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(error)) => {
                        warn!(%error, "MConnect Events stream broke; reconnecting");
                        ended = Some(Ended::Failed);
                        break;
                    }
                };
                match CloudEvent::parse(text.as_bytes()) {
                    Ok(event) if event.offset.is_some() => batch.push(event),
                    Ok(event) => {
                        warn!(event_type = %event.event_type, "event without an offset; answering dead");
                        self.counters.inner.refused.fetch_add(1, Ordering::Relaxed);
                        answers.push(format!("dead:{text}"));
                    }
                    Err(error) => {
                        warn!(%error, "frame is no CloudEvent; answering dead");
                        self.counters.inner.refused.fetch_add(1, Ordering::Relaxed);
                        answers.push(format!("dead:{text}"));
                    }
                }
            }
            if let Some(last) = batch.iter().filter_map(|event| event.offset).max() {
                let refusals: Vec<_> = batch
                    .iter()
                    .map(|event| (event.event_type.clone(), event.offset, event.to_value()))
                    .collect();
                match handler(batch).await {
                    Ok(takens) if takens.len() == refusals.len() => {
                        for (taken, (event_type, offset, mut dead)) in
                            takens.into_iter().zip(refusals)
                        {
                            match taken {
                                Taken::Durably => {
                                    self.counters
                                        .inner
                                        .confirmed
                                        .fetch_add(1, Ordering::Relaxed);
                                }
                                Taken::Refused(reason) => {
                                    info!(%event_type, ?offset, "event refused; answering dead");
                                    self.counters.inner.refused.fetch_add(1, Ordering::Relaxed);
                                    dead[DEAD_REASON_ATTRIBUTE] = reason.into();
                                    answers.push(format!("dead:{dead}"));
                                }
                            }
                        }
                        answers.push(format!("confirm:{last}"));
                        self.counters.answered(last);
                    }
                    Ok(_) => {
                        warn!("the handler answered for another number of events; reconnecting");
                        close(&mut socket, CloseCode::Error).await;
                        return Ended::Failed;
                    }
                    Err(error) => {
                        warn!(%error, events = refusals.len(), "events not taken; reconnecting to get them again");
                        close(&mut socket, CloseCode::Normal).await;
                        return Ended::Failed;
                    }
                }
            }
            for answer in answers {
                if let Err(error) = socket.send(Message::text(answer)).await {
                    // The server closing the socket under the answers is its periodic close:
                    // what was not confirmed comes again on the next connection.
                    if ended.is_none() {
                        warn!(%error, "answer to MConnect Events not sent; reconnecting");
                    }
                    return ended.unwrap_or(Ended::Failed);
                }
            }
            if let Some(ended) = ended {
                return ended;
            }
        }
    }
}

/// Closes the socket the WebSocket way: the close frame, then whatever the server still sends
/// until its own close frame. Dropping the socket at once could lose answers the server has
/// not read yet (its end sees the connection break before their bytes).
async fn close(socket: &mut WsStream, code: CloseCode) {
    let closing = async {
        socket
            .close(Some(CloseFrame {
                code,
                reason: "".into(),
            }))
            .await?;
        while socket.next().await.transpose()?.is_some() {}
        anyhow::Ok(())
    };
    if let Ok(Err(error)) = tokio::time::timeout(CLOSE_TIMEOUT, closing).await {
        warn!(%error, "the socket did not close cleanly");
    }
}

fn connector(tls: &ClientPem<'_>) -> Result<SslConnector, ConsumerSetupError> {
    let at = |what: &'static str| move |error| ConsumerSetupError::Tls(what, error);
    let mut builder = SslConnector::builder(SslMethod::tls_client()).map_err(at("connector"))?;
    let mut chain = X509::stack_from_pem(tls.certificate_pem)
        .map_err(at("certificate_pem"))?
        .into_iter();
    let leaf = chain.next().ok_or(ConsumerSetupError::NoCertificate)?;
    builder
        .set_certificate(&leaf)
        .map_err(at("certificate_pem"))?;
    for intermediate in chain {
        builder
            .add_extra_chain_cert(intermediate)
            .map_err(at("certificate_pem"))?;
    }
    let key = PKey::private_key_from_pem(tls.key_pem).map_err(at("key_pem"))?;
    builder.set_private_key(&key).map_err(at("key_pem"))?;
    builder.check_private_key().map_err(at("key_pem"))?;
    let mut store = X509StoreBuilder::new().map_err(at("trust_pem"))?;
    for anchor in X509::stack_from_pem(tls.trust_pem).map_err(at("trust_pem"))? {
        store.add_cert(anchor).map_err(at("trust_pem"))?;
    }
    builder.set_cert_store(store.build());
    Ok(builder.build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::pki::{PkiLayout, init_dev_pki};

    #[test]
    fn only_a_wss_url_with_a_host_is_taken() {
        let dir = tempfile::tempdir().unwrap();
        let pki = PkiLayout::new(dir.path());
        init_dev_pki(&pki, &[], &["events".into()]).unwrap();
        let (certificate, key, trust) = (
            std::fs::read(pki.cert("client-events")).unwrap(),
            std::fs::read(pki.key("client-events")).unwrap(),
            std::fs::read(pki.ca_cert()).unwrap(),
        );
        let tls = || ClientPem {
            certificate_pem: &certificate,
            key_pem: &key,
            trust_pem: &trust,
        };
        for bad in [
            "ws://127.0.0.1:1/ce/consume/ws",
            "/ce/consume/ws",
            "not a url",
        ] {
            assert!(matches!(
                EventsConsumer::new(bad, tls()),
                Err(ConsumerSetupError::Url)
            ));
        }
        let consumer = EventsConsumer::new("wss://[::1]:8443/ce/consume/ws", tls()).unwrap();
        assert_eq!((consumer.host.as_str(), consumer.port), ("::1", 8443));
        let wrong_key = ClientPem {
            key_pem: b"not a key",
            ..tls()
        };
        assert!(matches!(
            EventsConsumer::new("wss://localhost/ce/consume/ws", wrong_key),
            Err(ConsumerSetupError::Tls("key_pem", _))
        ));
    }
}
