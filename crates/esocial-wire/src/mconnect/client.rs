//! Sends signed MConnect SOAP requests to registries over mTLS and returns only answers whose
//! signature verified against the trusted registry certificates.

use std::time::{Duration, SystemTime};

use crate::crypto::jws::{self, JwsError, JwsSigner, JwsVerifier};
use crate::crypto::revocation::Revocation;
use crate::crypto::wssec::{self, SigningIdentity, TrustAnchors, WsSecurityError};
use crate::crypto::x509::PeerCertificateCheck;

#[derive(Debug, thiserror::Error)]
pub enum ClientSetupError {
    #[error("signing identity: {0}")]
    Identity(#[source] WsSecurityError),
    #[error("trusted registry CA: {0}")]
    Trust(#[source] WsSecurityError),
    #[error("JWS keys: {0}")]
    Jws(#[source] JwsError),
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
    #[error("answer larger than {0} bytes")]
    TooLarge(usize),
    #[error("answer is not UTF-8 text")]
    NotText,
    #[error("answer signature rejected: {0}")]
    Signature(#[source] WsSecurityError),
    #[error("answer signed by `{actual}`, expected `{expected}`")]
    WrongSigner { expected: String, actual: String },
    #[error("could not sign the request: {0}")]
    SignJws(#[source] JwsError),
    #[error("answer signature rejected: {0}")]
    Jws(#[source] JwsError),
    #[error("signed answer is not the expected JSON: {0}")]
    NotJson(String),
    #[error("signed answer is not bound to this request: {0}")]
    Unbound(&'static str),
    #[error("the registry's TLS certificate is refused: {0}")]
    PeerCertificate(String),
    #[error("signature work gave up: {0}")]
    Overloaded(#[source] crate::crypto::offload::OffloadError),
}

/// What an answer says, handed to the caller's decoder once its signature, signer and binding
/// verified: the first element of a SOAP answer's Body (the data or a Fault), read from the
/// one parse of the verified envelope, or a REST answer's signed JSON
/// (`{"mconnect": …, "response": …}` or `{"mconnect": …, "error": …}`).
pub enum AnswerPayload<'a, 'input> {
    Soap(Option<roxmltree::Node<'a, 'input>>),
    Rest(&'a serde_json::Value),
}

/// A registry answer whose signature, signer and binding to our request verified, with what
/// the caller's decoder made of it.
#[derive(Debug, Clone)]
pub struct VerifiedAnswer<T> {
    pub decoded: T,
    /// Common name of the certificate that signed the answer.
    pub signer: String,
    /// The answer's own message id (its binding to the request was checked).
    pub message_id: String,
    /// When the answer's signature stops being valid: a replay cache keeps its id until then.
    pub expires: SystemTime,
    /// SHA-256 of the signed request as sent, and of the answer as received.
    pub request_digest: String,
    pub response_digest: String,
}

/// What a call needs to know about its destination.
pub struct Destination<'a> {
    /// Full URL (the registry endpoint, plus the service path for REST).
    pub endpoint: &'a str,
    pub timeout: Duration,
    /// Common name the answer's signing certificate must carry, if the registry pins one.
    pub expected_signer: Option<&'a str>,
    /// Largest answer read, in bytes; a longer one is refused before it is read whole.
    pub max_answer_bytes: usize,
}

#[derive(Clone)]
pub struct MconnectClient {
    http: reqwest::Client,
    identity: std::sync::Arc<SigningIdentity>,
    trust: std::sync::Arc<TrustAnchors>,
    jws_signer: std::sync::Arc<JwsSigner>,
    jws_verifier: std::sync::Arc<JwsVerifier>,
    /// What a registry's TLS certificate is checked against once connected.
    peer_check: std::sync::Arc<PeerCertificateCheck>,
    timestamp_ttl: Duration,
    /// Signing and verification run here, off the async workers.
    crypto: crate::crypto::offload::CryptoPool,
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
        let jws_signer =
            JwsSigner::from_pem(key_pem, certificate_pem).map_err(ClientSetupError::Jws)?;
        let jws_verifier = JwsVerifier::from_pem(trust_pem).map_err(ClientSetupError::Jws)?;
        let tls_identity = reqwest::Identity::from_pkcs8_pem(certificate_pem, key_pem)
            .map_err(|error| ClientSetupError::Tls(error.to_string()))?;
        let mut builder = reqwest::Client::builder()
            .identity(tls_identity)
            .tls_built_in_root_certs(false)
            .https_only(true)
            .no_proxy()
            .connect_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(30))
            // Exposes the registry's certificate on each response, for `check_peer`.
            .tls_info(true);
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
            jws_signer: std::sync::Arc::new(jws_signer),
            jws_verifier: std::sync::Arc::new(jws_verifier),
            peer_check: std::sync::Arc::new(
                PeerCertificateCheck::from_pem(trust_pem)
                    .map_err(|error| ClientSetupError::Tls(error.to_string()))?,
            ),
            timestamp_ttl,
            crypto: Default::default(),
        })
    }

    /// Checks registries' TLS certificates and the certificate chains of signed REST answers
    /// (JWS) against `revocation`.
    pub fn with_revocation(mut self, revocation: Revocation) -> Self {
        self.trust = std::sync::Arc::new((*self.trust).clone().with_revocation(revocation.clone()));
        self.jws_verifier = std::sync::Arc::new(
            (*self.jws_verifier)
                .clone()
                .with_revocation(revocation.clone()),
        );
        self.peer_check =
            std::sync::Arc::new((*self.peer_check).clone().with_revocation(revocation));
        self
    }

    /// Refuses a response whose TLS peer is not the registry: its certificate must carry the
    /// destination's pinned common name and not be revoked. The request has been sent by then;
    /// the TLS layer alone checked the peer before.
    fn check_peer(
        &self,
        response: &reqwest::Response,
        destination: &Destination<'_>,
    ) -> Result<(), CallError> {
        let peer = response
            .extensions()
            .get::<reqwest::tls::TlsInfo>()
            .and_then(|info| info.peer_certificate());
        self.peer_check
            .check(peer, destination.expected_signer)
            .map(|_| ())
            .map_err(|error| CallError::PeerCertificate(error.to_string()))
    }

    /// Posts `body` and returns the status and the size-limited answer body, within the
    /// destination's deadline.
    async fn post(
        &self,
        destination: &Destination<'_>,
        content_type: &str,
        soap_action: Option<&str>,
        body: String,
    ) -> Result<(u16, Vec<u8>), CallError> {
        let exchange = async {
            let mut request = self
                .http
                .post(destination.endpoint)
                .header("Content-Type", content_type)
                .body(body);
            if let Some(action) = soap_action {
                request = request.header("SOAPAction", format!("\"{action}\""));
            }
            let mut response = request
                .send()
                .await
                .map_err(|error| CallError::Connect(describe(&error)))?;
            self.check_peer(&response, destination)?;
            let status = response.status().as_u16();
            let limit = destination.max_answer_bytes;
            let announced = response.content_length().unwrap_or(0);
            if announced > limit as u64 {
                return Err(CallError::TooLarge(limit));
            }
            let mut body = Vec::with_capacity(announced as usize);
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|error| CallError::Connect(describe(&error)))?
            {
                if body.len() + chunk.len() > limit {
                    return Err(CallError::TooLarge(limit));
                }
                body.extend_from_slice(&chunk);
            }
            Ok((status, body))
        };
        tokio::time::timeout(destination.timeout, exchange)
            .await
            .map_err(|_| CallError::Timeout(destination.timeout))?
    }

    fn check_signer(destination: &Destination<'_>, signer: String) -> Result<String, CallError> {
        match destination.expected_signer {
            Some(expected) if signer != expected => Err(CallError::WrongSigner {
                expected: expected.to_string(),
                actual: signer,
            }),
            _ => Ok(signer),
        }
    }

    /// Signs a notice (a completion callback) as JWS with the hub's identity.
    pub fn sign_notice(&self, payload: &[u8]) -> Result<String, CallError> {
        jws::sign_compact(
            payload,
            &self.jws_signer,
            SystemTime::now(),
            self.timestamp_ttl,
        )
        .map_err(CallError::SignJws)
    }

    /// Posts a signed notice over mTLS and returns the HTTP status.
    pub async fn notify(&self, url: &str, token: String) -> Result<u16, CallError> {
        let response = tokio::time::timeout(
            Duration::from_secs(10),
            self.http
                .post(url)
                .header("Content-Type", "application/jose")
                .body(token)
                .send(),
        )
        .await
        .map_err(|_| CallError::Timeout(Duration::from_secs(10)))?
        .map_err(|error| CallError::Connect(describe(&error)))?;
        Ok(response.status().as_u16())
    }

    /// Signs `message` for its transport, posts it to `destination` and verifies the signed
    /// answer and its binding to the request (`message_id`, and the hash of what was sent).
    /// Both transports read an answer the same way: one whose signature verifies is the
    /// registry's word, whatever the HTTP status; one that is not a signed message at all is an
    /// HTTP error when the status says so; anything else is a bad signature.
    ///
    /// `decode` reads the verified answer's payload, from the same parse that verified the
    /// binding: a document is read once after its signature check.
    pub async fn call<T>(
        &self,
        destination: &Destination<'_>,
        message: Outgoing,
        message_id: &str,
        decode: impl FnOnce(AnswerPayload<'_, '_>) -> T,
    ) -> Result<VerifiedAnswer<T>, CallError> {
        match message {
            Outgoing::Soap {
                envelope,
                soap_action,
            } => {
                self.call_soap(destination, envelope, &soap_action, message_id, decode)
                    .await
            }
            Outgoing::Rest { payload } => {
                self.call_rest(destination, &payload, message_id, decode)
                    .await
            }
        }
    }

    /// Signs `payload` as JWS, posts it and verifies the signed answer (errors included) and
    /// its binding: `mconnect.relatesTo` must be `message_id` and `mconnect.requestHash` the
    /// hash of the token sent.
    async fn call_rest<T>(
        &self,
        destination: &Destination<'_>,
        payload: &serde_json::Value,
        message_id: &str,
        decode: impl FnOnce(AnswerPayload<'_, '_>) -> T,
    ) -> Result<VerifiedAnswer<T>, CallError> {
        let (signer, ttl, bytes) = (
            self.jws_signer.clone(),
            self.timestamp_ttl,
            payload.to_string(),
        );
        let signed = self
            .crypto
            .run(bytes.len(), move || {
                jws::sign_compact(bytes.as_bytes(), &signer, SystemTime::now(), ttl)
            })
            .await
            .map_err(CallError::Overloaded)?
            .map_err(CallError::SignJws)?;
        let request_digest = crate::mconnect::message_digest(signed.as_bytes());
        let request_hash = super::request_hash(signed.as_bytes());
        let (status, body) = self
            .post(destination, "application/jose", None, signed)
            .await?;
        let response_digest = crate::mconnect::message_digest(&body);
        let text = String::from_utf8(body).map_err(|_| CallError::NotText)?;
        let (verifier, limit) = (self.jws_verifier.clone(), destination.max_answer_bytes);
        let (verified, text) = self
            .crypto
            .run(text.len(), move || {
                let verified =
                    jws::verify_compact_within(text.trim(), &verifier, SystemTime::now(), limit);
                (verified, text)
            })
            .await
            .map_err(CallError::Overloaded)?;
        let verified = match verified {
            Ok(verified) => verified,
            Err(error) => {
                let signed = looks_like_jws(text.trim());
                return Err(unverified(status, signed, CallError::Jws(error)));
            }
        };
        let signer = Self::check_signer(destination, verified.signer_common_name)?;
        let payload: serde_json::Value = serde_json::from_slice(&verified.payload)
            .map_err(|error| CallError::NotJson(error.to_string()))?;
        let block = &payload["mconnect"];
        let text = |key: &str| block.get(key).and_then(serde_json::Value::as_str);
        if text("relatesTo") != Some(message_id) {
            return Err(CallError::Unbound("relatesTo is not our messageId"));
        }
        if text("requestHash") != Some(request_hash.as_str()) {
            return Err(CallError::Unbound(
                "requestHash is not the hash of our request",
            ));
        }
        let answer_id = text("messageId")
            .filter(|id| !id.is_empty())
            .ok_or(CallError::Unbound("the answer has no messageId"))?
            .to_string();
        Ok(VerifiedAnswer {
            decoded: decode(AnswerPayload::Rest(&payload)),
            signer,
            message_id: answer_id,
            expires: verified.expires,
            request_digest,
            response_digest,
        })
    }

    /// Signs `envelope`, posts it and verifies the answer's signature (faults included) and
    /// its signed binding: `RelatesTo` must be `message_id` and `RequestHash` the hash of the
    /// envelope sent.
    async fn call_soap<T>(
        &self,
        destination: &Destination<'_>,
        envelope: String,
        soap_action: &str,
        message_id: &str,
        decode: impl FnOnce(AnswerPayload<'_, '_>) -> T,
    ) -> Result<VerifiedAnswer<T>, CallError> {
        let (identity, ttl, unsigned) = (self.identity.clone(), self.timestamp_ttl, envelope);
        let signed = self
            .crypto
            .run(unsigned.len(), move || {
                wssec::sign_envelope(&unsigned, &identity, SystemTime::now(), ttl)
            })
            .await
            .map_err(CallError::Overloaded)?
            .map_err(CallError::Sign)?;
        let request_digest = crate::mconnect::message_digest(signed.as_bytes());
        let request_hash = super::request_hash(signed.as_bytes());
        let (status, body) = self
            .post(
                destination,
                "text/xml; charset=utf-8",
                Some(soap_action),
                signed,
            )
            .await?;
        let response_digest = crate::mconnect::message_digest(&body);
        let text = String::from_utf8(body).map_err(|_| CallError::NotText)?;
        let (trust, limit) = (self.trust.clone(), destination.max_answer_bytes);
        let (verified, text) = self
            .crypto
            .run(text.len(), move || {
                (
                    wssec::verify_envelope_within(&text, &trust, SystemTime::now(), limit),
                    text,
                )
            })
            .await
            .map_err(CallError::Overloaded)?;
        let verified = match verified {
            Ok(verified) => verified,
            Err(error) => {
                let signed = text.contains("Envelope");
                return Err(unverified(status, signed, CallError::Signature(error)));
            }
        };
        let signer = common_name(&verified.signer_certificate_der).unwrap_or_default();
        let signer = Self::check_signer(destination, signer)?;
        // Every header was signed (verify_envelope refuses an unsigned one), so the binding
        // read here is the one the registry signed.
        let document = super::xml::parse_within(&text, limit)
            .map_err(|_| CallError::Unbound("the answer cannot be read"))?;
        let envelope = super::envelope::Envelope::read(&document)
            .map_err(|_| CallError::Unbound("the answer is not a SOAP envelope"))?;
        let binding = envelope.binding().ok_or(CallError::Unbound(
            "the answer lacks MessageId, RelatesTo or RequestHash",
        ))?;
        if binding.relates_to != message_id {
            return Err(CallError::Unbound("RelatesTo is not our MessageId"));
        }
        if binding.request_hash != request_hash {
            return Err(CallError::Unbound(
                "RequestHash is not the hash of our request",
            ));
        }
        Ok(VerifiedAnswer {
            decoded: decode(AnswerPayload::Soap(envelope.payload())),
            signer,
            message_id: binding.message_id,
            expires: verified.expires,
            request_digest,
            response_digest,
        })
    }
}

/// What the hub sends a registry, before it is signed.
pub enum Outgoing {
    /// A SOAP envelope with the MConnect headers, signed with WS-Security.
    Soap {
        envelope: String,
        soap_action: String,
    },
    /// A JSON payload with its `mconnect` block, signed as compact JWS.
    Rest { payload: serde_json::Value },
}

/// What an answer whose signature did not verify means, the same for both transports: a body
/// that is not a signed message at all, under an error status, is that HTTP error; anything
/// else is `signature_error`.
fn unverified(status: u16, looks_signed: bool, signature_error: CallError) -> CallError {
    if status != 200 && !looks_signed {
        CallError::HttpStatus(status)
    } else {
        signature_error
    }
}

/// Whether `token` has the shape of a compact JWS: three base64url parts.
fn looks_like_jws(token: &str) -> bool {
    let parts: Vec<&str> = token.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|part| {
            part.bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
        })
}

/// The single common name of a DER certificate; none when it has no or several.
pub fn common_name(certificate_der: &[u8]) -> Option<String> {
    let certificate = crate::crypto::x509::parse_der(certificate_der).ok()?;
    crate::crypto::x509::single_common_name(&certificate).ok()
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
