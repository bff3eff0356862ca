//! TLS server configuration with mandatory client certificates, and reading the verified
//! client identity of a connection.

use std::path::Path;

use openssl::ssl::{SslAcceptor, SslAcceptorBuilder, SslFiletype, SslMethod, SslVerifyMode};
use openssl::x509::X509;
use openssl::x509::store::X509StoreBuilder;

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
    Ok(builder)
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
    use crate::crypto::x509::tests::certificate_with_names;

    #[test]
    fn a_client_certificate_with_one_common_name_identifies_the_client() {
        let certificate = certificate_with_names(&["case-management"]);
        let identity = client_identity(&certificate).expect("one common name");
        assert_eq!(identity.common_name, "case-management");
    }

    #[test]
    fn a_client_certificate_with_several_or_no_common_names_identifies_nobody() {
        for names in [&["case-management", "benefits"][..], &[][..]] {
            let certificate = certificate_with_names(names);
            assert!(client_identity(&certificate).is_none(), "{names:?}");
        }
    }
}
