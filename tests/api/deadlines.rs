//! Slow clients: a request body trickled one byte a second is cut off at the deadline, by the
//! hub (its API and its MConnect endpoints) and by the registry simulators.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use esocial_catalog::Catalog;
use esocial_hub::demo::DEMO_CLIENT;
use esocial_sim::SimulatorConfig;
use esocial_sim::population::Population;
use esocial_wire::crypto::pki::{client_holder, registry_holder};
use openssl::ssl::{SslConnector, SslFiletype, SslMethod};

use crate::helpers::{
    SpawnOptions, TestApp, adapters_dir, contracts_dir, shared_pki, spawn_app_with,
};

/// What a trickling client saw.
struct Trickled {
    /// Everything the server sent back.
    response: Vec<u8>,
    /// Body bytes sent before the server answered or closed.
    sent: usize,
    /// When the server answered or closed, if it did.
    ended_after: Option<Duration>,
}

impl Trickled {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.response).into_owned()
    }
}

/// Connects over mutual TLS with `holder`'s certificate, sends the head of a POST to `path`
/// announcing 100 body bytes, then one byte a second until the server answers or closes, or
/// `give_up` has passed.
fn trickle(
    port: u16,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    path: &str,
    give_up: Duration,
) -> Trickled {
    let mut connector = SslConnector::builder(SslMethod::tls_client()).unwrap();
    connector.set_ca_file(ca).unwrap();
    connector.set_certificate_chain_file(cert).unwrap();
    connector
        .set_private_key_file(key, SslFiletype::PEM)
        .unwrap();
    let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let mut tls = connector.build().connect("127.0.0.1", tcp).unwrap();
    let started = Instant::now();
    write!(
        tls,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: 100\r\n\r\n"
    )
    .unwrap();
    tls.flush().unwrap();
    let mut seen = Trickled {
        response: Vec::new(),
        sent: 0,
        ended_after: None,
    };
    let mut buffer = [0_u8; 4096];
    while started.elapsed() < give_up {
        if seen.response.is_empty() && seen.sent < 100 {
            if tls.write_all(b" ").and_then(|()| tls.flush()).is_err() {
                seen.ended_after.get_or_insert(started.elapsed());
                break;
            }
            seen.sent += 1;
        }
        // Waits up to a second: the pace of the trickle.
        match tls.read(&mut buffer) {
            Ok(0) => {
                seen.ended_after.get_or_insert(started.elapsed());
                break;
            }
            Ok(read) => {
                seen.ended_after.get_or_insert(started.elapsed());
                seen.response.extend_from_slice(&buffer[..read]);
            }
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => {
                seen.ended_after.get_or_insert(started.elapsed());
                break;
            }
        }
    }
    seen
}

fn port_of(app: &TestApp) -> u16 {
    app.address.rsplit(':').next().unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_body_trickled_to_the_hub_is_cut_off_at_the_deadline() {
    let app = spawn_app_with(SpawnOptions {
        body_read_timeout_ms: Some(1_500),
        ..SpawnOptions::default()
    })
    .await;
    let holder = client_holder(DEMO_CLIENT);
    let (port, ca, cert, key) = (
        port_of(&app),
        app.pki.ca_cert(),
        app.pki.cert(&holder),
        app.pki.key(&holder),
    );

    for path in ["/api/v1/exchanges", "/mconnect/v1/soap"] {
        let (ca, cert, key) = (ca.clone(), cert.clone(), key.clone());
        let seen = tokio::task::spawn_blocking(move || {
            trickle(port, ca, cert, key, path, Duration::from_secs(8))
        })
        .await
        .unwrap();

        let ended = seen.ended_after.expect("the hub ends the request");
        assert!(
            ended < Duration::from_millis(4_000),
            "{path}: after {ended:?}"
        );
        assert!(seen.sent < 6, "{path}: {} bytes were taken", seen.sent);
        let text = seen.text();
        if path.starts_with("/api/") {
            assert!(text.starts_with("HTTP/1.1 408"), "{text}");
            assert!(text.contains("application/problem+json"), "{text}");
            assert!(
                text.contains(r#""code":"caller.request_timeout""#),
                "{text}"
            );
            assert!(text.contains(r#""fault":"caller""#), "{text}");
        } else {
            // MConnect answers refusals with a signed SOAP 1.1 Fault (HTTP 500).
            assert!(
                text.contains("<faultcode>soap:Client</faultcode>"),
                "{text}"
            );
            assert!(text.contains(">caller.request_timeout</mc:Code>"), "{text}");
        }
    }
}

#[tokio::test]
async fn a_body_trickled_to_a_registry_simulator_is_answered_408() {
    let catalog = Catalog::load(&adapters_dir(), &contracts_dir()).expect("adapters load");
    let registry = "civil";
    let pki = shared_pki(&[registry.to_string()]);
    let registry_cert = registry_holder(registry);
    let simulator = esocial_sim::start(
        &catalog,
        registry,
        SimulatorConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            tls_cert: pki.cert(&registry_cert),
            tls_key: pki.key(&registry_cert),
            client_ca: pki.ca_cert(),
            signing_cert_pem: std::fs::read(pki.cert(&registry_cert)).unwrap(),
            signing_key_pem: std::fs::read(pki.key(&registry_cert)).unwrap(),
            population: std::sync::Arc::new(Population::synthetic(3, 10)),
            behaviour: Default::default(),
        },
    )
    .expect("simulator starts");
    let port = simulator.port;
    tokio::spawn(simulator.server);
    let holder = client_holder(DEMO_CLIENT);
    let (ca, cert, key) = (pki.ca_cert(), pki.cert(&holder), pki.key(&holder));

    let seen = tokio::task::spawn_blocking(move || {
        trickle(port, ca, cert, key, "/civil", Duration::from_secs(12))
    })
    .await
    .unwrap();

    let ended = seen.ended_after.expect("the simulator ends the request");
    assert!(ended < Duration::from_secs(8), "ended after {ended:?}");
    assert!(seen.text().starts_with("HTTP/1.1 408"), "{}", seen.text());
}
