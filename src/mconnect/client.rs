//! Sends signed MConnect SOAP requests to registries over mTLS and returns only answers whose
//! signature verified against the trusted registry certificates.

use std::time::{Duration, SystemTime};

use crate::crypto::wssec::{self, SigningIdentity, TrustAnchors, WsSecurityError};
use crate::mconnect::xml::MAX_MESSAGE_BYTES;

#[derive(Debug, thiserror::Error)]
pub enum ClientSetupError {
    #[error("signing identity: {0}")]
    Identity(#[source] WsSecurityError),
    #[error("trusted registry CA: {0}")]
    Trust(#[source] WsSecurityError),
    #[error("TLS client: {0}")]
    Tls(String),
}

/// Why a registry call produced no verified answer.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("could not sign the request: {0}")]
    Sign(#[source] WsSecurityError),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("HTTP status {0} without a SOAP answer")]
    HttpStatus(u16),
    #[error("answer larger than {MAX_MESSAGE_BYTES} bytes")]
    TooLarge,
    #[error("answer is not UTF-8 text")]
    NotText,
    #[error("answer signature rejected: {0}")]
    Signature(#[source] WsSecurityError),
    #[error("answer signed by `{actual}`, expected `{expected}`")]
    WrongSigner { expected: String, actual: String },
}

/// A registry answer whose WS-Security signature verified.
#[derive(Debug, Clone)]
pub struct VerifiedAnswer {
    pub text: String,
    /// Common name of the certificate that signed the answer.
    pub signer: String,
    /// SHA-256 of the signed request as sent, and of the answer as received.
    pub request_digest: String,
    pub response_digest: String,
}

/// What a call needs to know about its destination.
pub struct Destination<'a> {
    pub endpoint: &'a str,
    pub soap_action: &'a str,
    pub timeout: Duration,
    /// Common name the answer's signing certificate must carry, if the registry pins one.
    pub expected_signer: Option<&'a str>,
}

#[derive(Clone)]
pub struct MconnectClient {
    http: reqwest::Client,
    identity: std::sync::Arc<SigningIdentity>,
    trust: std::sync::Arc<TrustAnchors>,
    timestamp_ttl: Duration,
}

impl MconnectClient {
    pub fn new(
        certificate_pem: &[u8],
        key_pem: &[u8],
        trust_pem: &[u8],
        timestamp_ttl: Duration,
    ) -> Result<Self, ClientSetupError> {
        let identity = SigningIdentity::from_pem(key_pem, certificate_pem)
            .map_err(ClientSetupError::Identity)?;
        let trust = TrustAnchors::from_pem(trust_pem).map_err(ClientSetupError::Trust)?;
        let tls_identity = reqwest::Identity::from_pkcs8_pem(certificate_pem, key_pem)
            .map_err(|error| ClientSetupError::Tls(error.to_string()))?;
        let mut builder = reqwest::Client::builder()
            .identity(tls_identity)
            .tls_built_in_root_certs(false)
            .https_only(true)
            .no_proxy()
            .connect_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(30));
        for certificate in reqwest::Certificate::from_pem_bundle(trust_pem)
            .map_err(|error| ClientSetupError::Tls(error.to_string()))?
        {
            builder = builder.add_root_certificate(certificate);
        }
        let http = builder
            .build()
            .map_err(|error| ClientSetupError::Tls(error.to_string()))?;
        Ok(Self {
            http,
            identity: std::sync::Arc::new(identity),
            trust: std::sync::Arc::new(trust),
            timestamp_ttl,
        })
    }

    /// Signs `envelope`, posts it and verifies the answer's signature (faults included).
    pub async fn call(
        &self,
        destination: &Destination<'_>,
        envelope: &str,
    ) -> Result<VerifiedAnswer, CallError> {
        let signed = wssec::sign_envelope(
            envelope,
            &self.identity,
            SystemTime::now(),
            self.timestamp_ttl,
        )
        .map_err(CallError::Sign)?;
        let request_digest = crate::audit::message_digest(signed.as_bytes());
        let exchange = async {
            let mut response = self
                .http
                .post(destination.endpoint)
                .header("Content-Type", "text/xml; charset=utf-8")
                .header("SOAPAction", format!("\"{}\"", destination.soap_action))
                .body(signed)
                .send()
                .await
                .map_err(|error| CallError::Connect(describe(&error)))?;
            let status = response.status().as_u16();
            if status != 200 && status != 500 {
                return Err(CallError::HttpStatus(status));
            }
            if response
                .content_length()
                .is_some_and(|length| length as usize > MAX_MESSAGE_BYTES)
            {
                return Err(CallError::TooLarge);
            }
            let mut body = Vec::new();
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|error| CallError::Connect(describe(&error)))?
            {
                if body.len() + chunk.len() > MAX_MESSAGE_BYTES {
                    return Err(CallError::TooLarge);
                }
                body.extend_from_slice(&chunk);
            }
            Ok(body)
        };
        let body = tokio::time::timeout(destination.timeout, exchange)
            .await
            .map_err(|_| CallError::Timeout(destination.timeout))??;
        let response_digest = crate::audit::message_digest(&body);
        let text = String::from_utf8(body).map_err(|_| CallError::NotText)?;
        let verified = wssec::verify_envelope(&text, &self.trust, SystemTime::now())
            .map_err(CallError::Signature)?;
        let signer = common_name(&verified.signer_certificate_der).unwrap_or_default();
        if let Some(expected) = destination.expected_signer
            && signer != expected
        {
            return Err(CallError::WrongSigner {
                expected: expected.to_string(),
                actual: signer,
            });
        }
        Ok(VerifiedAnswer {
            text,
            signer,
            request_digest,
            response_digest,
        })
    }
}

/// The common name of a DER certificate.
pub fn common_name(certificate_der: &[u8]) -> Option<String> {
    let certificate = openssl::x509::X509::from_der(certificate_der).ok()?;
    let entry = certificate
        .subject_name()
        .entries_by_nid(openssl::nid::Nid::COMMONNAME)
        .next()?;
    entry.data().to_string().ok()
}

/// A reqwest error with its causes, which carry the useful part (refused, reset, TLS).
fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
