//! TLS server configuration with mandatory client certificates, and reading the verified
//! client identity of a connection.

use std::path::Path;

use openssl::ssl::{
    SslAcceptor, SslAcceptorBuilder, SslFiletype, SslMethod, SslOptions, SslSessionCacheMode,
    SslVerifyMode,
};
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::{X509, X509VerifyResult};
use tracing::warn;

use super::revocation::Revocation;

#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("TLS setup with `{path}`: {source}")]
    OpenSsl {
        path: String,
        source: openssl::error::ErrorStack,
    },
    #[error("cannot read `{path}`: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
}

fn at(path: &Path) -> impl Fn(openssl::error::ErrorStack) -> TlsSetupError + '_ {
    move |source| TlsSetupError::OpenSsl {
        path: path.display().to_string(),
        source,
    }
}

/// An acceptor that requires a client certificate issued by a CA in `client_ca`.
pub fn mutual_tls_acceptor(
    certificate: &Path,
    key: &Path,
    client_ca: &Path,
) -> Result<SslAcceptorBuilder, TlsSetupError> {
    let mut builder =
        SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).map_err(at(certificate))?;
    builder
        .set_private_key_file(key, SslFiletype::PEM)
        .map_err(at(key))?;
    builder
        .set_certificate_chain_file(certificate)
        .map_err(at(certificate))?;
    builder.check_private_key().map_err(at(key))?;
    let pem = std::fs::read(client_ca).map_err(|source| TlsSetupError::Read {
        path: client_ca.display().to_string(),
        source,
    })?;
    let mut store = X509StoreBuilder::new().map_err(at(client_ca))?;
    for certificate in X509::stack_from_pem(&pem).map_err(at(client_ca))? {
        store.add_cert(certificate).map_err(at(client_ca))?;
    }
    builder
        .set_verify_cert_store(store.build())
        .map_err(at(client_ca))?;
    builder.set_verify(SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT);
    // No session resumption: a resumed session would skip the client certificate's chain and
    // revocation checks, so every connection is a full handshake. A client that offers a
    // session (nginx, Java) gets a full handshake instead; the context is set so that OpenSSL
    // answers such an offer that way rather than with an internal-error alert.
    builder
        .set_session_id_context(b"esocial-hub")
        .map_err(at(certificate))?;
    builder.set_session_cache_mode(SslSessionCacheMode::OFF);
    builder.set_options(SslOptions::NO_TICKET);
    Ok(builder)
}

/// Makes `builder` refuse client certificates that `revocation` does not vouch for: during the
/// handshake each certificate of the verified client chain is checked against its issuer's CRL
/// as `revocation` holds it at that moment, so refreshed CRLs apply to the next connection.
/// Does nothing when revocation checking is off.
pub fn refuse_revoked_clients(builder: &mut SslAcceptorBuilder, revocation: Revocation) {
    if !revocation.is_enabled() {
        return;
    }
    builder.set_verify_callback(
        SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT,
        move |verified, context| {
            if !verified {
                return false;
            }
            // Called once per certificate of the built chain, from the trust anchor down.
            let depth = context.error_depth() as usize;
            let Some(chain) = context.chain() else {
                return false;
            };
            let (Some(certificate), Some(issuer)) = (chain.get(depth), chain.get(depth + 1)) else {
                // The trust anchor, trusted by configuration.
                return true;
            };
            match revocation.is_revoked(certificate, issuer) {
                Ok(()) => true,
                Err(error) => {
                    warn!(%error, depth, "client certificate refused by the revocation check");
                    context.set_error(X509VerifyResult::APPLICATION_VERIFICATION);
                    false
                }
            }
        },
    );
}

/// The verified client certificate of a connection: its common name identifies the client.
#[derive(Debug, Clone)]
pub struct ClientIdentity {
    pub common_name: String,
}

/// Reads the single common name of a peer certificate that the TLS layer has already verified.
/// A certificate with no or several common names identifies nobody.
pub fn client_identity(certificate: &X509) -> Option<ClientIdentity> {
    let common_name = super::x509::single_common_name(certificate).ok()?;
    Some(ClientIdentity { common_name })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::pki::PkiLayout;
    use crate::crypto::x509::tests::certificate_with_names;
    use openssl::asn1::Asn1Time;
    use openssl::x509::X509Crl;

    #[test]
    fn a_client_certificate_with_one_common_name_identifies_the_client() {
        let certificate = certificate_with_names(&["case-management"]);
        let identity = client_identity(&certificate).expect("one common name");
        assert_eq!(identity.common_name, "case-management");
    }

    /// Runs one handshake of `client` against `acceptor` and returns the server's outcome.
    fn handshake(acceptor: SslAcceptor, pki: &PkiLayout, client: &str) -> Result<(), String> {
        use openssl::ssl::SslConnector;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            acceptor
                .accept(stream)
                .map(|_| ())
                .map_err(|error| error.to_string())
        });
        let mut connector = SslConnector::builder(SslMethod::tls()).unwrap();
        connector.set_ca_file(pki.ca_cert()).unwrap();
        connector
            .set_certificate_file(pki.cert(client), SslFiletype::PEM)
            .unwrap();
        connector
            .set_private_key_file(pki.key(client), SslFiletype::PEM)
            .unwrap();
        let stream = std::net::TcpStream::connect(address).unwrap();
        // With TLS 1.3 the client may finish before the server has judged its certificate.
        let client_side = connector.build().connect("localhost", stream);
        let outcome = server.join().unwrap();
        drop(client_side);
        outcome
    }

    #[test]
    fn a_revoked_client_certificate_fails_the_handshake() {
        use crate::crypto::pki::{init_dev_pki, revoke_in_dev_pki};
        use crate::crypto::revocation::StalePolicy;
        let dir = tempfile::tempdir().unwrap();
        let pki = PkiLayout::new(dir.path());
        init_dev_pki(&pki, &[], &["case-management".into(), "benefits".into()]).unwrap();
        revoke_in_dev_pki(&pki, "client-benefits").unwrap();
        let ca = X509::from_pem(&std::fs::read(pki.ca_cert()).unwrap()).unwrap();
        let crl = || X509Crl::from_pem(&std::fs::read(pki.crl()).unwrap()).unwrap();
        let acceptor = |revocation: Revocation| {
            let mut builder =
                mutual_tls_acceptor(&pki.cert("hub"), &pki.key("hub"), &pki.ca_cert()).unwrap();
            refuse_revoked_clients(&mut builder, revocation);
            builder.build()
        };
        let checked =
            || Revocation::from_crls(vec![crl()], StalePolicy::Refuse, vec![ca.clone()]).unwrap();

        let refused = handshake(acceptor(checked()), &pki, "client-benefits");
        assert!(refused.is_err(), "a revoked client must not connect");
        handshake(acceptor(checked()), &pki, "client-case-management").unwrap();
        // Without revocation checking both connect.
        handshake(acceptor(Revocation::disabled()), &pki, "client-benefits").unwrap();
        // A CRL of another CA vouches for nobody here.
        let other = crate::crypto::pki::generate_ca("other CA").unwrap();
        let now = Asn1Time::days_from_now(0).unwrap();
        let tomorrow = Asn1Time::days_from_now(1).unwrap();
        let other_crl =
            crate::crypto::pki::sign_crl(&other, Vec::new(), 1, &now, &tomorrow).unwrap();
        let uncovered = Revocation::from_crls(
            vec![other_crl],
            StalePolicy::Refuse,
            vec![other.certificate.clone()],
        )
        .unwrap();
        assert!(handshake(acceptor(uncovered), &pki, "client-case-management").is_err());
    }

    #[test]
    fn a_client_offering_to_resume_a_session_gets_a_full_handshake() {
        // `openssl s_client -reconnect` connects once, then five times more offering the first
        // connection's session, as nginx and Java clients do.
        let dir = tempfile::tempdir().unwrap();
        let pki = PkiLayout::new(dir.path());
        crate::crypto::pki::init_dev_pki(&pki, &[], &["case-management".into()]).unwrap();
        let acceptor = mutual_tls_acceptor(&pki.cert("hub"), &pki.key("hub"), &pki.ca_cert())
            .unwrap()
            .build();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let (handshakes, outcomes) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for stream in listener.incoming().take(6) {
                let outcome = acceptor
                    .accept(stream.unwrap())
                    .map(|mut tls| {
                        let _ = tls.shutdown();
                    })
                    .map_err(|error| error.to_string());
                let _ = handshakes.send(outcome);
            }
        });

        let client = std::process::Command::new("openssl")
            .args(["s_client", "-tls1_2", "-reconnect", "-connect"])
            .arg(address.to_string())
            .arg("-cert")
            .arg(pki.cert("client-case-management"))
            .arg("-key")
            .arg(pki.key("client-case-management"))
            .arg("-CAfile")
            .arg(pki.ca_cert())
            .stdin(std::process::Stdio::null())
            .output()
            .expect("the openssl command runs");

        let printed = String::from_utf8_lossy(&client.stdout);
        for _ in 0..6 {
            let outcome = outcomes
                .recv_timeout(std::time::Duration::from_secs(10))
                .expect("six handshakes reach the server");
            outcome.expect("the server completes every handshake");
        }
        assert!(
            client.status.success(),
            "{}",
            String::from_utf8_lossy(&client.stderr)
        );
        assert!(
            !printed.contains("Reused,"),
            "no session is resumed:\n{printed}"
        );
    }

    #[test]
    fn a_client_certificate_with_several_or_no_common_names_identifies_nobody() {
        for names in [&["case-management", "benefits"][..], &[][..]] {
            let certificate = certificate_with_names(names);
            assert!(client_identity(&certificate).is_none(), "{names:?}");
        }
    }
}

/// A party's TLS client identity (its certificate, with its chain, and key) and the CA bundle
/// the servers it calls must chain to, as PEM.
#[derive(Clone, Copy)]
pub struct ClientPem<'a> {
    pub certificate_pem: &'a [u8],
    pub key_pem: &'a [u8],
    pub trust_pem: &'a [u8],
}

/// An HTTPS client that presents `pem`'s certificate, trusts only `pem`'s CAs, never goes
/// through a proxy and gives up on a connection after five seconds and on a request after
/// `timeout`.
pub fn mutual_tls_client(
    pem: ClientPem<'_>,
    timeout: std::time::Duration,
) -> reqwest::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .identity(reqwest::Identity::from_pkcs8_pem(
            pem.certificate_pem,
            pem.key_pem,
        )?)
        .tls_built_in_root_certs(false)
        .https_only(true)
        .no_proxy()
        .connect_timeout(std::time::Duration::from_secs(5))
        .timeout(timeout);
    for certificate in reqwest::Certificate::from_pem_bundle(pem.trust_pem)? {
        builder = builder.add_root_certificate(certificate);
    }
    builder.build()
}
