//! JWS (RFC 7515) compact serialization with RS256 for MConnect REST services: signing of request
//! and response bodies and their verification against the trusted CAs.
//!
//! Profile produced by [`sign_compact`] and required by [`verify_compact`]:
//!
//! * protected header `{"alg":"RS256","typ":"JOSE","x5c":[..],"kid":"..","iat":..,"exp":..}`:
//!   `alg` exactly `RS256` (no `none`, no HMAC, no other RSA or EC variant: the verifier never
//!   lets the token pick the algorithm); `x5c` carries the signer certificate first (standard
//!   base64 of its DER), optionally followed by intermediate CA certificates; `kid` is the
//!   lower-case hex SHA-256 of the signer certificate DER (informational, not used to pick keys);
//!   `iat` and `exp` are integer Unix seconds inside the *protected* header, so the signature
//!   covers freshness; `iat` at most [`CLOCK_SKEW`] ahead and `exp - iat` at most
//!   [`MAX_LIFETIME`] (a verifier setting), so that no token stays valid for long;
//! * `crit` is refused (no extension is understood), and so are `b64` (RFC 7797 unencoded
//!   payloads) and the key-conveying parameters `jwk`, `jku` and `x5u`: the key comes from the
//!   chain-verified `x5c` certificate only; duplicate header parameters are refused;
//! * the three parts are unpadded base64url with no whitespace; the input is at most
//!   [`MAX_JWS_BYTES`].
//!
//! Error values never contain the payload, which is personal data.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use openssl::hash::MessageDigest;
use openssl::pkey::{Id as PKeyId, PKey, Private};
use openssl::rsa::Padding;
use openssl::sign::{Signer, Verifier};
use openssl::x509::X509;
use serde_json::{Map, Value};

use super::revocation::{Revocation, RevocationError};
use super::x509::ChainError;

// ---------------------------------------------------------------------------
// Limits and constants
// ---------------------------------------------------------------------------

/// Maximum accepted size of a compact JWS (4 MiB), unless the caller allows more
/// ([`verify_compact_within`]).
pub const MAX_JWS_BYTES: usize = 4 * 1024 * 1024;
/// Maximum size of the base64url protected header (room for a certificate chain).
pub const MAX_HEADER_B64_BYTES: usize = 64 * 1024;
/// Maximum number of certificates in `x5c` (signer + intermediates).
pub const MAX_X5C_CERTS: usize = 5;
/// Tolerated clock skew for an `iat` in the future.
pub const CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);
/// Default token lifetime (`exp - iat`).
pub const DEFAULT_TTL: Duration = Duration::from_secs(15 * 60);
/// Default longest lifetime (`exp - iat`) a verifier accepts; see
/// [`JwsVerifier::with_max_lifetime`].
pub const MAX_LIFETIME: Duration = Duration::from_secs(60 * 60);
/// The only signature algorithm of the profile.
pub const ALG_RS256: &str = "RS256";
/// Minimum RSA modulus size for signing and verification.
const MIN_RSA_BITS: u32 = 2048;
/// Maximum chain depth handed to OpenSSL.
const MAX_CHAIN_DEPTH: i32 = 8;

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// Errors from JWS signing and verification. No variant ever carries payload content.
#[derive(Debug, thiserror::Error)]
pub enum JwsError {
    /// Not a compact JWS of this profile (parts, base64url, header JSON, missing parameters).
    #[error("malformed JWS: {0}")]
    Malformed(String),
    /// `alg` is anything other than `RS256`.
    #[error("unsupported JWS algorithm: {0}")]
    UnsupportedAlgorithm(String),
    /// `exp` is not after the verification time.
    #[error("JWS expired")]
    Expired,
    /// `iat` lies further in the future than [`CLOCK_SKEW`].
    #[error("JWS not yet valid (issued in the future)")]
    NotYetValid,
    /// `exp - iat` is longer than the verifier's maximum lifetime.
    #[error("JWS lifetime (exp - iat) exceeds {max_secs} seconds")]
    LifetimeTooLong { max_secs: u64 },
    /// The `x5c` certificate does not chain to a trust anchor at the verification time, or its
    /// key is not acceptable.
    #[error("untrusted JWS signer: {0}")]
    UntrustedSigner(String),
    /// The `x5c` certificate chain verified, but a certificate in it is revoked or not covered by
    /// a current CRL.
    #[error("JWS signer refused: {0}")]
    Revoked(#[source] RevocationError),
    /// The signature does not verify with the `x5c` certificate key.
    #[error("JWS signature does not verify")]
    BadSignature,
    /// Loading of keys or certificates, or a signing failure.
    #[error("key error: {0}")]
    Key(String),
    /// Input (or output) larger than [`MAX_JWS_BYTES`], or header larger than
    /// [`MAX_HEADER_B64_BYTES`].
    #[error("JWS too large (limit {MAX_JWS_BYTES} bytes)")]
    TooLarge,
}

type Result<T> = std::result::Result<T, JwsError>;

fn malformed(msg: impl Into<String>) -> JwsError {
    JwsError::Malformed(msg.into())
}

fn key_err(ctx: &'static str) -> impl Fn(openssl::error::ErrorStack) -> JwsError {
    move |e| JwsError::Key(format!("{ctx}: {e}"))
}

fn untrusted(e: openssl::error::ErrorStack) -> JwsError {
    JwsError::UntrustedSigner(e.to_string())
}

// ---------------------------------------------------------------------------
// Signer and verifier
// ---------------------------------------------------------------------------

/// RSA private key and matching certificate used to sign compact JWS.
#[derive(Clone)]
pub struct JwsSigner {
    key: PKey<Private>,
    cert_der: Vec<u8>,
    /// Standard base64 of `cert_der`, as placed in `x5c`.
    x5c: String,
    /// Lower-case hex SHA-256 of `cert_der`.
    kid: String,
}

impl fmt::Debug for JwsSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwsSigner")
            .field("kid", &self.kid)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl JwsSigner {
    /// Loads an unencrypted RSA private key (PKCS#8 `PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY`
    /// PEM, at least 2048 bits) and the matching X.509 certificate (PEM; only the first
    /// certificate is used).
    pub fn from_pem(key_pem: &[u8], cert_pem: &[u8]) -> Result<Self> {
        let key = PKey::private_key_from_pem(key_pem).map_err(key_err("private key PEM"))?;
        if key.id() != PKeyId::RSA {
            return Err(JwsError::Key("only RSA keys can sign RS256".into()));
        }
        if key.bits() < MIN_RSA_BITS {
            return Err(JwsError::Key(format!(
                "RSA key too small: {} bits (minimum {MIN_RSA_BITS})",
                key.bits()
            )));
        }
        let cert = X509::from_pem(cert_pem).map_err(key_err("certificate PEM"))?;
        let cert_key = cert
            .public_key()
            .map_err(key_err("certificate public key"))?;
        if !cert_key.public_eq(&key) {
            return Err(JwsError::Key(
                "private key does not match the certificate".into(),
            ));
        }
        let cert_der = cert.to_der().map_err(key_err("certificate DER"))?;
        Ok(Self {
            key,
            x5c: STANDARD.encode(&cert_der),
            kid: certificate_kid(&cert_der),
            cert_der,
        })
    }

    /// DER of the signer certificate (first `x5c` entry).
    pub fn certificate_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// `kid` header value: lower-case hex SHA-256 of the certificate DER.
    pub fn kid(&self) -> &str {
        &self.kid
    }
}

/// `kid` of a certificate: lower-case hex SHA-256 of its DER.
pub fn certificate_kid(cert_der: &[u8]) -> String {
    hex::encode(openssl::sha::sha256(cert_der))
}

/// CA certificates the `x5c` signer certificate must chain to, the CRLs it is checked against
/// and the longest token lifetime accepted.
#[derive(Clone)]
pub struct JwsVerifier {
    /// Trust anchors; an `X509Store` is built from them for every verification because the
    /// verification time is a store parameter.
    cas: Vec<X509>,
    /// Longest `exp - iat` accepted.
    max_lifetime: Duration,
    revocation: Revocation,
}

impl fmt::Debug for JwsVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let subjects: Vec<String> = self
            .cas
            .iter()
            .map(|c| common_name(c).unwrap_or_else(|_| "?".into()))
            .collect();
        f.debug_struct("JwsVerifier")
            .field("ca_common_names", &subjects)
            .field("max_lifetime", &self.max_lifetime)
            .field("revocation", &self.revocation)
            .finish()
    }
}

impl JwsVerifier {
    /// Loads one or more PEM CA certificates. A chain must end at a self-signed root in the
    /// bundle (no partial-chain trust).
    pub fn from_pem(ca_bundle_pem: &[u8]) -> Result<Self> {
        let cas = X509::stack_from_pem(ca_bundle_pem).map_err(key_err("CA bundle PEM"))?;
        if cas.is_empty() {
            return Err(JwsError::Key("CA bundle contains no certificate".into()));
        }
        Ok(Self {
            cas,
            max_lifetime: MAX_LIFETIME,
            revocation: Revocation::disabled(),
        })
    }

    /// Checks every certificate of the signer's chain against the CRLs of `revocation`
    /// (none by default).
    pub fn with_revocation(mut self, revocation: Revocation) -> Self {
        self.revocation = revocation;
        self
    }

    /// Accepts tokens whose `exp - iat` is at most `max_lifetime` (default [`MAX_LIFETIME`]),
    /// so that a signer cannot mint a token that stays valid for years.
    pub fn with_max_lifetime(mut self, max_lifetime: Duration) -> Self {
        self.max_lifetime = max_lifetime;
        self
    }

    /// Verifies `cert` (with untrusted `intermediates`) against the anchors at `now`.
    fn verify_chain(&self, cert: &X509, intermediates: Vec<X509>, now: SystemTime) -> Result<()> {
        let now_secs = i64::try_from(unix_secs(now)?)
            .map_err(|_| JwsError::UntrustedSigner("verification time out of range".into()))?;
        super::x509::verify_chain_and_revocation_at(
            &self.cas,
            cert,
            intermediates,
            now_secs,
            Some(MAX_CHAIN_DEPTH as u32),
            &self.revocation,
        )
        .map_err(|error| match error {
            ChainError::Untrusted(reason) => JwsError::UntrustedSigner(reason),
            ChainError::Revocation(error) => JwsError::Revoked(error),
        })
    }
}

/// Result of a successful [`verify_compact`].
#[derive(Debug, Clone)]
pub struct VerifiedJws {
    /// The signed payload bytes.
    pub payload: Vec<u8>,
    /// DER of the signer certificate (first `x5c` entry).
    pub signer_certificate_der: Vec<u8>,
    /// The single CN of the signer certificate subject.
    pub signer_common_name: String,
    /// Signed `exp`.
    pub expires: SystemTime,
}

// ---------------------------------------------------------------------------
// Signing
// ---------------------------------------------------------------------------

/// Signs `payload` (raw bytes, typically canonical JSON) as a compact JWS with RS256. The
/// protected header carries `alg`, `typ`, `x5c`, `kid`, `iat` (= `now`) and `exp`
/// (= `now + ttl`, whole seconds; `ttl` must be at least one second).
pub fn sign_compact(
    payload: &[u8],
    signer: &JwsSigner,
    now: SystemTime,
    ttl: Duration,
) -> Result<String> {
    let ttl_secs = ttl.as_secs();
    if ttl_secs == 0 {
        return Err(malformed("ttl must be at least one second"));
    }
    let iat = unix_secs(now)?;
    let exp = iat
        .checked_add(ttl_secs)
        .filter(|e| i64::try_from(*e).is_ok())
        .ok_or_else(|| malformed("exp out of range"))?;
    // Encoded size: header + 2 dots + payload + signature, all base64url.
    let b64_len = |n: usize| n.div_ceil(3) * 4;
    if b64_len(payload.len()) > super::MAX_SIGNED_BYTES {
        return Err(JwsError::TooLarge);
    }
    let header = serde_json::json!({
        "alg": ALG_RS256,
        "typ": "JOSE",
        "x5c": [signer.x5c],
        "kid": signer.kid,
        "iat": iat,
        "exp": exp,
    });
    let header_json =
        serde_json::to_vec(&header).map_err(|e| malformed(format!("header JSON: {e}")))?;
    let mut out = String::with_capacity(
        b64_len(header_json.len()) + b64_len(payload.len()) + b64_len(signer.key.size()) + 2,
    );
    URL_SAFE_NO_PAD.encode_string(&header_json, &mut out);
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(payload, &mut out);

    let mut s = Signer::new(MessageDigest::sha256(), &signer.key).map_err(key_err("signer"))?;
    s.set_rsa_padding(Padding::PKCS1)
        .map_err(key_err("signer padding"))?;
    let signature = s
        .sign_oneshot_to_vec(out.as_bytes())
        .map_err(key_err("signing"))?;
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(&signature, &mut out);
    if out.len() > super::MAX_SIGNED_BYTES {
        return Err(JwsError::TooLarge);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Verification
// ---------------------------------------------------------------------------

/// Verifies a compact JWS of this profile at `now` and returns its payload and signer.
///
/// Checks, in order: size; exactly three unpadded base64url parts; header is a JSON object
/// without duplicate parameters; `alg == "RS256"`; no `crit`, `b64`, `jwk`, `jku`, `x5u`, `enc`,
/// `zip`; `typ` absent or `JOSE`; integer `iat` and `exp` with `exp > iat`; `x5c` (signer first,
/// then optional intermediates) chain-verified against the anchors at `now`, each certificate
/// of the chain not revoked by the verifier's CRLs (when it has any); signer subject has
/// exactly one plain-text CN; signer certificate fit to sign messages
/// ([`super::x509::check_message_signer`]: key usage, extended key usage, not a CA); RSA key of at least 2048 bits; RS256 signature over
/// `b64(header) '.' b64(payload)`; `exp` > `now`; `iat` not more than [`CLOCK_SKEW`] ahead of
/// `now`; `exp - iat` at most the verifier's maximum lifetime ([`MAX_LIFETIME`] by default).
pub fn verify_compact(jws: &str, verifier: &JwsVerifier, now: SystemTime) -> Result<VerifiedJws> {
    verify_compact_within(jws, verifier, now, MAX_JWS_BYTES)
}

/// [`verify_compact`] for a JWS allowed to be larger than [`MAX_JWS_BYTES`], such as a
/// registry's answer under its adapter's `max_answer_bytes`.
pub fn verify_compact_within(
    jws: &str,
    verifier: &JwsVerifier,
    now: SystemTime,
    max_bytes: usize,
) -> Result<VerifiedJws> {
    if jws.len() > max_bytes {
        return Err(JwsError::TooLarge);
    }
    let mut parts = jws.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed(format!(
            "expected 3 dot-separated parts, found {}",
            jws.split('.').count()
        )));
    };
    if header_b64.len() > MAX_HEADER_B64_BYTES {
        return Err(JwsError::TooLarge);
    }
    let header_bytes = b64url_decode(header_b64, "header")?;
    let payload = b64url_decode(payload_b64, "payload")?;
    let signature = b64url_decode(signature_b64, "signature")?;
    // The signing input is exactly the received ASCII text up to the second dot.
    let signing_input = &jws[..header_b64.len() + 1 + payload_b64.len()];

    let header = parse_header(&header_bytes)?;
    let cert_der = header.x5c.first().cloned().unwrap_or_default();
    let mut certs = header
        .x5c
        .iter()
        .enumerate()
        .map(|(i, der)| parse_certificate(der, i))
        .collect::<Result<Vec<X509>>>()?
        .into_iter();
    let cert = certs
        .next()
        .ok_or_else(|| malformed("x5c must contain the signer certificate"))?;
    if let Some(expected) = &header.x5t_s256
        && *expected != URL_SAFE_NO_PAD.encode(openssl::sha::sha256(&cert_der))
    {
        return Err(malformed("x5t#S256 does not match the x5c certificate"));
    }

    verifier.verify_chain(&cert, certs.collect(), now)?;
    let signer_common_name = common_name(&cert)?;
    super::x509::check_message_signer(&cert)
        .map_err(|error| JwsError::UntrustedSigner(error.to_string()))?;
    let public_key = cert.public_key().map_err(untrusted)?;
    if public_key.id() != PKeyId::RSA {
        return Err(JwsError::UntrustedSigner(
            "signer certificate key is not RSA".into(),
        ));
    }
    if public_key.bits() < MIN_RSA_BITS {
        return Err(JwsError::UntrustedSigner(format!(
            "signer RSA key too small: {} bits (minimum {MIN_RSA_BITS})",
            public_key.bits()
        )));
    }
    // RFC 7518 section 3.3: the signature is exactly as long as the modulus.
    if signature.len() != public_key.size() {
        return Err(JwsError::BadSignature);
    }
    let verified = Verifier::new(MessageDigest::sha256(), &public_key)
        .and_then(|mut v| {
            v.set_rsa_padding(Padding::PKCS1)?;
            v.verify_oneshot(&signature, signing_input.as_bytes())
        })
        .unwrap_or(false);
    if !verified {
        return Err(JwsError::BadSignature);
    }

    let now_secs = unix_secs(now)?;
    if header.exp <= now_secs {
        return Err(JwsError::Expired);
    }
    if header.iat > now_secs.saturating_add(CLOCK_SKEW.as_secs()) {
        return Err(JwsError::NotYetValid);
    }
    // `parse_header` made sure that exp > iat.
    if header.exp - header.iat > verifier.max_lifetime.as_secs() {
        return Err(JwsError::LifetimeTooLong {
            max_secs: verifier.max_lifetime.as_secs(),
        });
    }
    Ok(VerifiedJws {
        payload,
        signer_certificate_der: cert_der,
        signer_common_name,
        expires: UNIX_EPOCH + Duration::from_secs(header.exp),
    })
}

/// The protected-header parameters this profile uses.
struct Header {
    /// DER of each `x5c` entry, signer first.
    x5c: Vec<Vec<u8>>,
    x5t_s256: Option<String>,
    iat: u64,
    exp: u64,
}

fn parse_header(bytes: &[u8]) -> Result<Header> {
    let UniqueKeyObject(map) =
        serde_json::from_slice(bytes).map_err(|e| malformed(format!("header: {e}")))?;
    match map.get("alg") {
        None => return Err(malformed("header has no alg")),
        Some(Value::String(alg)) if alg == ALG_RS256 => {}
        Some(Value::String(alg)) => {
            return Err(JwsError::UnsupportedAlgorithm(sanitize(alg)));
        }
        Some(_) => return Err(malformed("alg is not a string")),
    }
    if map.contains_key("crit") {
        return Err(malformed(
            "crit header parameter present; no extension is supported",
        ));
    }
    for refused in ["b64", "jwk", "jku", "x5u", "enc", "zip"] {
        if map.contains_key(refused) {
            return Err(malformed(format!(
                "header parameter {refused} is not allowed by this profile"
            )));
        }
    }
    match map.get("typ") {
        None => {}
        Some(Value::String(t)) if t.eq_ignore_ascii_case("JOSE") => {}
        Some(_) => return Err(malformed("typ must be JOSE")),
    }
    let x5c = match map.get("x5c") {
        None => return Err(malformed("header has no x5c")),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(malformed("x5c is not an array")),
    };
    if x5c.is_empty() {
        return Err(malformed("x5c is empty"));
    }
    if x5c.len() > MAX_X5C_CERTS {
        return Err(malformed(format!(
            "x5c has {} certificates (limit {MAX_X5C_CERTS})",
            x5c.len()
        )));
    }
    let x5c = x5c
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let s = v
                .as_str()
                .ok_or_else(|| malformed(format!("x5c[{i}] is not a string")))?;
            STANDARD
                .decode(s)
                .map_err(|e| malformed(format!("x5c[{i}] base64: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let x5t_s256 = match map.get("x5t#S256") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(malformed("x5t#S256 is not a string")),
    };
    let iat = numeric_date(&map, "iat")?;
    let exp = numeric_date(&map, "exp")?;
    if exp <= iat {
        return Err(malformed("exp must be after iat"));
    }
    Ok(Header {
        x5c,
        x5t_s256,
        iat,
        exp,
    })
}

/// Integer Unix seconds, within `i64` range.
fn numeric_date(map: &Map<String, Value>, name: &str) -> Result<u64> {
    let v = map
        .get(name)
        .ok_or_else(|| malformed(format!("header has no {name}")))?;
    v.as_u64()
        .filter(|n| i64::try_from(*n).is_ok())
        .ok_or_else(|| malformed(format!("{name} is not a non-negative integer")))
}

fn parse_certificate(der: &[u8], index: usize) -> Result<X509> {
    let cert = super::x509::parse_der(der).map_err(|e| malformed(format!("x5c[{index}]: {e}")))?;
    // Refuse trailing bytes after the certificate.
    let reencoded = cert
        .to_der()
        .map_err(|e| malformed(format!("x5c[{index}]: {e}")))?;
    if reencoded != der {
        return Err(malformed(format!(
            "x5c[{index}] is not a single DER certificate"
        )));
    }
    Ok(cert)
}

/// Strict unpadded base64url: only `A-Z a-z 0-9 - _`, canonical trailing bits.
fn b64url_decode(part: &str, what: &str) -> Result<Vec<u8>> {
    if let Some(bad) = part
        .bytes()
        .find(|b| !(b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_'))
    {
        return Err(malformed(format!(
            "{what}: character {:?} outside unpadded base64url",
            char::from(bad)
        )));
    }
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|e| malformed(format!("{what}: invalid base64url ({e})")))
}

/// The single subject CN of `cert`.
fn common_name(cert: &X509) -> Result<String> {
    super::x509::single_common_name(cert)
        .map_err(|error| JwsError::UntrustedSigner(format!("signer certificate: {error}")))
}

/// Attacker-controlled header text made safe for an error message.
fn sanitize(s: &str) -> String {
    let short: String = s.chars().take(32).collect();
    format!("{short:?}")
}

fn unix_secs(t: SystemTime) -> Result<u64> {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .map_err(|_| malformed("time before 1970"))
}

/// A JSON object that refuses duplicate member names (RFC 7515 section 4: a header with
/// duplicate parameters must be rejected or use the last; this profile rejects).
struct UniqueKeyObject(Map<String, Value>);

impl<'de> serde::Deserialize<'de> for UniqueKeyObject {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = UniqueKeyObject;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut access: A,
            ) -> std::result::Result<UniqueKeyObject, A::Error> {
                let mut map = Map::new();
                while let Some((k, v)) = access.next_entry::<String, Value>()? {
                    if map.contains_key(&k) {
                        return Err(serde::de::Error::custom(format!(
                            "duplicate header parameter {}",
                            sanitize(&k)
                        )));
                    }
                    map.insert(k, v);
                }
                Ok(UniqueKeyObject(map))
            }
        }
        d.deserialize_map(V)
    }
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::pki::{CertificateRole, KeyPair, generate_ca, issue_leaf};
    use openssl::asn1::Asn1Time;
    use openssl::rsa::Rsa;
    use openssl::x509::X509Extension;
    use openssl::x509::X509NameBuilder;
    use openssl::x509::extension::{BasicConstraints, ExtendedKeyUsage, KeyUsage};
    use std::sync::OnceLock;

    /// Two CAs; CA A issues two signers, CA B one. RSA keys are generated once per test run.
    struct Fixture {
        ca_a: KeyPair,
        ca_a_pem: Vec<u8>,
        signer_a: JwsSigner,
        signer_a2: JwsSigner,
        ca_b_pem: Vec<u8>,
        signer_b: JwsSigner,
    }

    fn signer_of(pair: &KeyPair) -> JwsSigner {
        JwsSigner::from_pem(&pair.key_pem().unwrap(), &pair.certificate_pem().unwrap()).unwrap()
    }

    fn fixture() -> &'static Fixture {
        static F: OnceLock<Fixture> = OnceLock::new();
        F.get_or_init(|| {
            let ca_a = generate_ca("JWS test CA A").unwrap();
            let ca_b = generate_ca("JWS test CA B").unwrap();
            let leaf_a = issue_leaf(&ca_a, "registry-civil", CertificateRole::ServerAndClient);
            let leaf_a2 = issue_leaf(&ca_a, "registry-other", CertificateRole::ServerAndClient);
            let leaf_b = issue_leaf(&ca_b, "intruder", CertificateRole::ServerAndClient);
            Fixture {
                ca_a_pem: ca_a.certificate_pem().unwrap(),
                signer_a: signer_of(&leaf_a.unwrap()),
                signer_a2: signer_of(&leaf_a2.unwrap()),
                ca_b_pem: ca_b.certificate_pem().unwrap(),
                signer_b: signer_of(&leaf_b.unwrap()),
                ca_a,
            }
        })
    }

    fn verifier_a() -> JwsVerifier {
        JwsVerifier::from_pem(&fixture().ca_a_pem).unwrap()
    }

    const PAYLOAD: &[u8] = br#"{"idnp":"2000000000004","name":"SECRET-PERSONAL-DATA"}"#;
    const TTL: Duration = Duration::from_secs(600);

    fn now() -> SystemTime {
        // Whole seconds, so expiry arithmetic in the tests is exact.
        UNIX_EPOCH + Duration::from_secs(unix_secs(SystemTime::now()).unwrap())
    }

    fn b64(d: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(d)
    }

    fn parts(jws: &str) -> Vec<String> {
        jws.split('.').map(str::to_owned).collect()
    }

    fn header_of(jws: &str) -> Map<String, Value> {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts(jws)[0]).unwrap()).unwrap()
    }

    /// RS256-signs an arbitrary header with `key`, to test header checks with a valid signature.
    fn sign_raw(header: &str, payload: &[u8], key: &PKey<Private>) -> String {
        let input = format!("{}.{}", b64(header.as_bytes()), b64(payload));
        let mut s = Signer::new(MessageDigest::sha256(), key).unwrap();
        let sig = s.sign_oneshot_to_vec(input.as_bytes()).unwrap();
        format!("{input}.{}", b64(&sig))
    }

    /// A header like the signer's, with `edit` applied.
    fn header_json(signer: &JwsSigner, now: SystemTime, edit: impl FnOnce(&mut Value)) -> String {
        let iat = unix_secs(now).unwrap();
        let mut h = serde_json::json!({
            "alg": "RS256", "typ": "JOSE", "x5c": [signer.x5c], "kid": signer.kid,
            "iat": iat, "exp": iat + TTL.as_secs(),
        });
        edit(&mut h);
        h.to_string()
    }

    fn assert_no_payload(e: &JwsError) {
        for text in [e.to_string(), format!("{e:?}")] {
            assert!(!text.contains("SECRET"), "{text}");
            assert!(!text.contains(&b64(PAYLOAD)[..20]), "{text}");
        }
    }

    #[test]
    fn round_trip() {
        let f = fixture();
        let now = now();
        let jws = sign_compact(PAYLOAD, &f.signer_a, now, TTL).unwrap();
        assert_eq!(jws.split('.').count(), 3);
        assert!(!jws.contains('='));

        let h = header_of(&jws);
        assert_eq!(h["alg"], "RS256");
        assert_eq!(h["typ"], "JOSE");
        assert_eq!(
            h["x5c"][0].as_str().unwrap(),
            STANDARD.encode(f.signer_a.certificate_der())
        );
        assert_eq!(h["kid"].as_str().unwrap(), f.signer_a.kid());
        assert_eq!(f.signer_a.kid().len(), 64);
        let iat = unix_secs(now).unwrap();
        assert_eq!(h["iat"].as_u64().unwrap(), iat);
        assert_eq!(h["exp"].as_u64().unwrap(), iat + TTL.as_secs());

        let v = verify_compact(&jws, &verifier_a(), now).unwrap();
        assert_eq!(v.payload, PAYLOAD);
        assert_eq!(v.signer_certificate_der, f.signer_a.certificate_der());
        assert_eq!(v.signer_common_name, "registry-civil");
        assert_eq!(v.expires, now + TTL);

        // Still valid one second before expiry, and when the signer's clock is 4 minutes ahead.
        verify_compact(&jws, &verifier_a(), now + TTL - Duration::from_secs(1)).unwrap();
        let ahead = sign_compact(PAYLOAD, &f.signer_a, now + Duration::from_secs(4 * 60), TTL);
        verify_compact(&ahead.unwrap(), &verifier_a(), now).unwrap();
        // Empty and binary payloads.
        for p in [&b""[..], &[0u8, 255, 1, 254, b'.'][..]] {
            let t = sign_compact(p, &f.signer_a, now, TTL).unwrap();
            assert_eq!(verify_compact(&t, &verifier_a(), now).unwrap().payload, p);
        }
        // A bundle with both CAs trusts both signers.
        let both =
            JwsVerifier::from_pem(&[f.ca_a_pem.clone(), f.ca_b_pem.clone()].concat()).unwrap();
        let tb = sign_compact(PAYLOAD, &f.signer_b, now, TTL).unwrap();
        assert_eq!(
            verify_compact(&tb, &both, now).unwrap().signer_common_name,
            "intruder"
        );
        assert!(format!("{:?}", f.signer_a).contains("redacted"));
    }

    #[test]
    fn tampered_payload_fails() {
        let f = fixture();
        let now = now();
        let jws = sign_compact(PAYLOAD, &f.signer_a, now, TTL).unwrap();
        let p = parts(&jws);
        let forged = br#"{"idnp":"1008600038413","name":"SECRET-PERSONAL-DATA"}"#;
        let t = format!("{}.{}.{}", p[0], b64(forged), p[2]);
        let e = verify_compact(&t, &verifier_a(), now).unwrap_err();
        assert!(matches!(e, JwsError::BadSignature), "{e:?}");
        assert_no_payload(&e);
    }

    #[test]
    fn tampered_header_fails() {
        let f = fixture();
        let now = now();
        let jws = sign_compact(PAYLOAD, &f.signer_a, now, TTL).unwrap();
        let p = parts(&jws);
        // Extend exp by an hour, keep the signature.
        let mut h = header_of(&jws);
        let exp = h["exp"].as_u64().unwrap();
        h.insert("exp".into(), (exp + 3600).into());
        let t = format!(
            "{}.{}.{}",
            b64(&serde_json::to_vec(&h).unwrap()),
            p[1],
            p[2]
        );
        let e = verify_compact(&t, &verifier_a(), now).unwrap_err();
        assert!(matches!(e, JwsError::BadSignature), "{e:?}");

        // Signature bit flipped, truncated, or empty.
        let mut sig = URL_SAFE_NO_PAD.decode(&p[2]).unwrap();
        sig[10] ^= 1;
        for s in [b64(&sig), b64(&sig[1..]), String::new()] {
            let t = format!("{}.{}.{s}", p[0], p[1]);
            let e = verify_compact(&t, &verifier_a(), now).unwrap_err();
            assert!(matches!(e, JwsError::BadSignature), "{e:?}");
        }
    }

    #[test]
    fn swapped_certificate_fails() {
        // x5c replaced by another certificate the verifier trusts: the key comes only from x5c,
        // so the signature no longer verifies.
        let f = fixture();
        let now = now();
        let jws = sign_compact(PAYLOAD, &f.signer_a, now, TTL).unwrap();
        let p = parts(&jws);
        let mut h = header_of(&jws);
        h.insert("x5c".into(), serde_json::json!([f.signer_a2.x5c]));
        let t = format!(
            "{}.{}.{}",
            b64(&serde_json::to_vec(&h).unwrap()),
            p[1],
            p[2]
        );
        let e = verify_compact(&t, &verifier_a(), now).unwrap_err();
        assert!(matches!(e, JwsError::BadSignature), "{e:?}");
    }

    #[test]
    fn algorithm_confusion_refused() {
        let f = fixture();
        let now = now();
        let with_alg = |alg: &str| header_json(&f.signer_a, now, |h| h["alg"] = alg.into());

        // alg "none" with an empty signature.
        let t = format!("{}.{}.", b64(with_alg("none").as_bytes()), b64(PAYLOAD));
        let e = verify_compact(&t, &verifier_a(), now).unwrap_err();
        assert!(matches!(e, JwsError::UnsupportedAlgorithm(_)), "{e:?}");
        assert_no_payload(&e);

        // HS256 keyed with the signer's public key (classic RSA/HMAC confusion).
        let input = format!("{}.{}", b64(with_alg("HS256").as_bytes()), b64(PAYLOAD));
        let cert = X509::from_der(f.signer_a.certificate_der()).unwrap();
        let secret = cert.public_key().unwrap().public_key_to_pem().unwrap();
        let hmac_key = PKey::hmac(&secret).unwrap();
        let mut s = Signer::new(MessageDigest::sha256(), &hmac_key).unwrap();
        let mac = s.sign_oneshot_to_vec(input.as_bytes()).unwrap();
        let t = format!("{input}.{}", b64(&mac));
        let e = verify_compact(&t, &verifier_a(), now).unwrap_err();
        assert!(matches!(e, JwsError::UnsupportedAlgorithm(_)), "{e:?}");

        // Other spellings and algorithms, even with a real RSA signature.
        for alg in ["rs256", "RS512", "PS256", "RS256 ", "ES256", ""] {
            let t = sign_raw(&with_alg(alg), PAYLOAD, &f.signer_a.key);
            let e = verify_compact(&t, &verifier_a(), now).unwrap_err();
            assert!(
                matches!(e, JwsError::UnsupportedAlgorithm(_)),
                "{alg}: {e:?}"
            );
        }
        // alg missing or not a string.
        for edit in [
            (|h: &mut Value| {
                h.as_object_mut().unwrap().remove("alg");
            }) as fn(&mut Value),
            |h| h["alg"] = serde_json::json!(["RS256"]),
        ] {
            let t = sign_raw(
                &header_json(&f.signer_a, now, edit),
                PAYLOAD,
                &f.signer_a.key,
            );
            let e = verify_compact(&t, &verifier_a(), now).unwrap_err();
            assert!(matches!(e, JwsError::Malformed(_)), "{e:?}");
        }
    }

    #[test]
    fn refused_header_parameters() {
        let f = fixture();
        let now = now();
        type Edit = fn(&mut Value);
        fn edit(f: Edit) -> Edit {
            f
        }
        let cases: Vec<(&str, Edit)> = vec![
            ("crit", edit(|h| h["crit"] = serde_json::json!(["exp"]))),
            ("b64", edit(|h| h["b64"] = false.into())),
            (
                "jwk",
                edit(|h| h["jwk"] = serde_json::json!({"kty": "RSA"})),
            ),
            (
                "jku",
                edit(|h| h["jku"] = "https://evil.example/jwks".into()),
            ),
            ("typ", edit(|h| h["typ"] = "JWT".into())),
            (
                "no x5c",
                edit(|h| {
                    h.as_object_mut().unwrap().remove("x5c");
                }),
            ),
            ("empty x5c", edit(|h| h["x5c"] = serde_json::json!([]))),
            (
                "x5c garbage",
                edit(|h| h["x5c"] = serde_json::json!(["AAAA"])),
            ),
            (
                "x5c not base64",
                edit(|h| h["x5c"] = serde_json::json!(["*"])),
            ),
            (
                "no exp",
                edit(|h| {
                    h.as_object_mut().unwrap().remove("exp");
                }),
            ),
            (
                "no iat",
                edit(|h| {
                    h.as_object_mut().unwrap().remove("iat");
                }),
            ),
            ("float exp", edit(|h| h["exp"] = 1.5e12.into())),
            ("string exp", edit(|h| h["exp"] = "9999999999".into())),
            ("negative iat", edit(|h| h["iat"] = (-1).into())),
            ("exp before iat", edit(|h| h["exp"] = 1.into())),
            ("x5t mismatch", edit(|h| h["x5t#S256"] = "AAAA".into())),
        ];
        for (name, edit) in cases {
            let t = sign_raw(
                &header_json(&f.signer_a, now, edit),
                PAYLOAD,
                &f.signer_a.key,
            );
            let e = verify_compact(&t, &verifier_a(), now).unwrap_err();
            assert!(matches!(e, JwsError::Malformed(_)), "{name}: {e:?}");
        }
        // A matching x5t#S256 is accepted.
        let x5t = b64(&openssl::sha::sha256(f.signer_a.certificate_der()));
        let h = header_json(&f.signer_a, now, |h| h["x5t#S256"] = x5t.into());
        verify_compact(&sign_raw(&h, PAYLOAD, &f.signer_a.key), &verifier_a(), now).unwrap();

        // Duplicate parameter (a lenient parser would take the last alg).
        let h = header_json(&f.signer_a, now, |_| {});
        let dup = format!("{{\"alg\":\"none\",{}", &h[1..]);
        let e = verify_compact(
            &sign_raw(&dup, PAYLOAD, &f.signer_a.key),
            &verifier_a(),
            now,
        )
        .unwrap_err();
        assert!(
            matches!(e, JwsError::Malformed(ref m) if m.contains("duplicate")),
            "{e:?}"
        );
        // Header not an object / not JSON.
        for h in ["[1]", "\"RS256\"", "{", ""] {
            let e = verify_compact(&sign_raw(h, PAYLOAD, &f.signer_a.key), &verifier_a(), now)
                .unwrap_err();
            assert!(matches!(e, JwsError::Malformed(_)), "{h}: {e:?}");
        }
    }

    #[test]
    fn other_ca_is_untrusted() {
        let f = fixture();
        let now = now();
        let jws = sign_compact(PAYLOAD, &f.signer_b, now, TTL).unwrap();
        let e = verify_compact(&jws, &verifier_a(), now).unwrap_err();
        assert!(matches!(e, JwsError::UntrustedSigner(_)), "{e:?}");
        let verifier_b = JwsVerifier::from_pem(&f.ca_b_pem).unwrap();
        let jws = sign_compact(PAYLOAD, &f.signer_a, now, TTL).unwrap();
        let e = verify_compact(&jws, &verifier_b, now).unwrap_err();
        assert!(matches!(e, JwsError::UntrustedSigner(_)), "{e:?}");
        assert_no_payload(&e);
    }

    #[test]
    fn expired_certificate_is_untrusted() {
        let f = fixture();
        let later = now() + Duration::from_secs(3 * 365 * 86_400);
        let jws = sign_compact(PAYLOAD, &f.signer_a, later, TTL).unwrap();
        match verify_compact(&jws, &verifier_a(), later).unwrap_err() {
            JwsError::UntrustedSigner(m) => assert!(m.contains("expired"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    /// A leaf for `key` with the given subject CNs, issued by CA A.
    fn leaf_of_ca_a(key: &PKey<Private>, cns: &[&str]) -> X509 {
        let ca = &fixture().ca_a;
        issue(key, cns, &ca.certificate, &ca.key, false)
    }

    /// A certificate for `key` with the given subject CNs, issued by `issuer`.
    fn issue(
        key: &PKey<Private>,
        cns: &[&str],
        issuer: &X509,
        issuer_key: &PKey<Private>,
        is_ca: bool,
    ) -> X509 {
        let extensions = if is_ca {
            vec![BasicConstraints::new().critical().ca().build().unwrap()]
        } else {
            Vec::new()
        };
        issue_with(key, cns, issuer, issuer_key, extensions)
    }

    /// A certificate for `key` with the given subject CNs and extensions, issued by `issuer`.
    fn issue_with(
        key: &PKey<Private>,
        cns: &[&str],
        issuer: &X509,
        issuer_key: &PKey<Private>,
        extensions: Vec<X509Extension>,
    ) -> X509 {
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_text("O", "test").unwrap();
        for cn in cns {
            name.append_entry_by_text("CN", cn).unwrap();
        }
        let name = name.build();
        let mut b = X509::builder().unwrap();
        b.set_version(2).unwrap();
        b.set_subject_name(&name).unwrap();
        b.set_issuer_name(issuer.subject_name()).unwrap();
        b.set_pubkey(key).unwrap();
        // An hour back, so that a token signed at the test's `now` finds it valid.
        let an_hour_ago = unix_secs(SystemTime::now()).unwrap() as i64 - 3600;
        b.set_not_before(&Asn1Time::from_unix(an_hour_ago as _).unwrap())
            .unwrap();
        b.set_not_after(&Asn1Time::days_from_now(30).unwrap())
            .unwrap();
        for extension in extensions {
            b.append_extension(extension).unwrap();
        }
        b.sign(issuer_key, MessageDigest::sha256()).unwrap();
        b.build()
    }

    /// A token with a valid RS256 signature by `key` and `cert` as x5c.
    fn token_with_cert(key: &PKey<Private>, cert: &X509, now: SystemTime) -> String {
        let x5c = STANDARD.encode(cert.to_der().unwrap());
        let h = header_json(&fixture().signer_a, now, |h| {
            h["x5c"] = serde_json::json!([x5c])
        });
        sign_raw(&h, PAYLOAD, key)
    }

    #[test]
    fn weak_rsa_key_is_untrusted() {
        // A 1024-bit leaf issued by the trusted CA: chain is fine, key is refused.
        let now = now();
        let key = PKey::from_rsa(Rsa::generate(1024).unwrap()).unwrap();
        let cert = leaf_of_ca_a(&key, &["weak"]);
        let e = JwsSigner::from_pem(
            &key.private_key_to_pem_pkcs8().unwrap(),
            &cert.to_pem().unwrap(),
        )
        .unwrap_err();
        assert!(matches!(e, JwsError::Key(_)), "{e:?}");
        let t = token_with_cert(&key, &cert, now);
        match verify_compact(&t, &verifier_a(), now).unwrap_err() {
            JwsError::UntrustedSigner(m) => assert!(m.contains("too small"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn intermediate_ca_in_x5c() {
        // CA A -> intermediate -> leaf; keys reused from the fixture (no key generation).
        let f = fixture();
        let now = now();
        let (leaf_key, inter_key) = (&f.signer_a.key, &f.signer_a2.key);
        let inter = issue(
            inter_key,
            &["JWS test intermediate"],
            &f.ca_a.certificate,
            &f.ca_a.key,
            true,
        );
        let leaf = issue(leaf_key, &["registry-deep"], &inter, inter_key, false);
        let x5c = |certs: &[&X509]| {
            let v: Vec<String> = certs
                .iter()
                .map(|c| STANDARD.encode(c.to_der().unwrap()))
                .collect();
            header_json(&f.signer_a, now, |h| h["x5c"] = serde_json::json!(v))
        };
        let t = sign_raw(&x5c(&[&leaf, &inter]), PAYLOAD, leaf_key);
        let v = verify_compact(&t, &verifier_a(), now).unwrap();
        assert_eq!(v.signer_common_name, "registry-deep");
        assert_eq!(v.signer_certificate_der, leaf.to_der().unwrap());

        // Without the intermediate the chain cannot be built.
        let t = sign_raw(&x5c(&[&leaf]), PAYLOAD, leaf_key);
        let e = verify_compact(&t, &verifier_a(), now).unwrap_err();
        assert!(matches!(e, JwsError::UntrustedSigner(_)), "{e:?}");
        // A leaf (not a CA) cannot act as an intermediate.
        let fake_inter = leaf_of_ca_a(inter_key, &["JWS test intermediate"]);
        let t = sign_raw(&x5c(&[&leaf, &fake_inter]), PAYLOAD, leaf_key);
        match verify_compact(&t, &verifier_a(), now).unwrap_err() {
            JwsError::UntrustedSigner(m) => assert!(m.contains("invalid CA"), "{m}"),
            other => panic!("{other:?}"),
        }
        // Too many certificates.
        let t = sign_raw(&x5c(&[&leaf; MAX_X5C_CERTS + 1]), PAYLOAD, leaf_key);
        let e = verify_compact(&t, &verifier_a(), now).unwrap_err();
        assert!(matches!(e, JwsError::Malformed(_)), "{e:?}");
    }

    #[test]
    fn a_certificate_not_meant_for_signing_is_untrusted() {
        // Trusted chain, one plain CN and a valid signature, but the certificate is not a
        // message signer's.
        let f = fixture();
        let now = now();
        let key = &f.signer_a.key;
        let ca = &f.ca_a;
        let leaf = |extensions| {
            issue_with(
                key,
                &["registry-civil"],
                &ca.certificate,
                &ca.key,
                extensions,
            )
        };
        let refused: Vec<(&str, Vec<X509Extension>)> = vec![
            (
                "keyCertSign only",
                vec![KeyUsage::new().critical().key_cert_sign().build().unwrap()],
            ),
            (
                "keyEncipherment only",
                vec![KeyUsage::new().key_encipherment().build().unwrap()],
            ),
            (
                "timeStamping only",
                vec![ExtendedKeyUsage::new().time_stamping().build().unwrap()],
            ),
            (
                "codeSigning and OCSP signing",
                vec![
                    ExtendedKeyUsage::new()
                        .code_signing()
                        .other("OCSPSigning")
                        .build()
                        .unwrap(),
                ],
            ),
            (
                "CA:TRUE",
                vec![BasicConstraints::new().critical().ca().build().unwrap()],
            ),
        ];
        for (name, extensions) in refused {
            let t = token_with_cert(key, &leaf(extensions), now);
            let e = verify_compact(&t, &verifier_a(), now).unwrap_err();
            assert!(matches!(e, JwsError::UntrustedSigner(_)), "{name}: {e:?}");
        }
        let accepted: Vec<(&str, Vec<X509Extension>)> = vec![
            ("no extensions", Vec::new()),
            (
                "nonRepudiation",
                vec![
                    KeyUsage::new()
                        .critical()
                        .non_repudiation()
                        .build()
                        .unwrap(),
                ],
            ),
            (
                "digitalSignature and clientAuth, CA:FALSE",
                vec![
                    KeyUsage::new()
                        .critical()
                        .digital_signature()
                        .build()
                        .unwrap(),
                    ExtendedKeyUsage::new().client_auth().build().unwrap(),
                    BasicConstraints::new().critical().build().unwrap(),
                ],
            ),
        ];
        for (name, extensions) in accepted {
            let t = token_with_cert(key, &leaf(extensions), now);
            verify_compact(&t, &verifier_a(), now).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        }
        // The CA's own key signing as a registry.
        let ca_signer = signer_of(&f.ca_a);
        let t = sign_compact(PAYLOAD, &ca_signer, now, TTL).unwrap();
        let e = verify_compact(&t, &verifier_a(), now).unwrap_err();
        assert!(matches!(e, JwsError::UntrustedSigner(_)), "{e:?}");
    }

    #[test]
    fn a_revoked_or_uncovered_signer_is_refused() {
        use crate::crypto::pki::{revoked_entry, sign_crl};
        use crate::crypto::revocation::StalePolicy;
        use openssl::x509::X509Crl;
        let f = fixture();
        let now = now();
        let secs = unix_secs(now).unwrap() as i64;
        let at = |unix: i64| Asn1Time::from_unix(unix as _).unwrap();
        let revoked = X509::from_der(f.signer_a2.certificate_der()).unwrap();
        let crl = sign_crl(
            &f.ca_a,
            vec![revoked_entry(revoked.serial_number(), &at(secs - 60)).unwrap()],
            1,
            &at(secs - 3600),
            &at(secs + 3600),
        )
        .unwrap();
        let verifier = |policy| {
            let revocation = Revocation::from_crls(
                vec![X509Crl::from_der(&crl.to_der().unwrap()).unwrap()],
                policy,
                vec![f.ca_a.certificate.clone()],
            )
            .unwrap();
            JwsVerifier::from_pem(&[f.ca_a_pem.clone(), f.ca_b_pem.clone()].concat())
                .unwrap()
                .with_revocation(revocation)
        };
        let refuse = verifier(StalePolicy::Refuse);

        let t = sign_compact(PAYLOAD, &f.signer_a2, now, TTL).unwrap();
        let e = verify_compact(&t, &refuse, now).unwrap_err();
        assert!(
            matches!(e, JwsError::Revoked(RevocationError::Revoked { .. })),
            "{e:?}"
        );
        assert_no_payload(&e);
        let t = sign_compact(PAYLOAD, &f.signer_a, now, TTL).unwrap();
        assert_eq!(
            verify_compact(&t, &refuse, now).unwrap().signer_common_name,
            "registry-civil"
        );
        // CA B is trusted but has no CRL.
        let t = sign_compact(PAYLOAD, &f.signer_b, now, TTL).unwrap();
        let e = verify_compact(&t, &refuse, now).unwrap_err();
        assert!(
            matches!(e, JwsError::Revoked(RevocationError::NoCrl { .. })),
            "{e:?}"
        );
        // Two hours later the CRL is out of date.
        let later = now + Duration::from_secs(2 * 3600);
        let t = sign_compact(PAYLOAD, &f.signer_a, later, TTL).unwrap();
        let e = verify_compact(&t, &refuse, later).unwrap_err();
        assert!(
            matches!(e, JwsError::Revoked(RevocationError::Stale { .. })),
            "{e:?}"
        );
        verify_compact(&t, &verifier(StalePolicy::Warn), later).unwrap();
    }

    #[test]
    fn ambiguous_common_name_is_untrusted() {
        // Trusted chain and valid signature, but the CN cannot identify the peer.
        let f = fixture();
        let now = now();
        let key = &f.signer_a.key;
        for cns in [
            &["registry-civil\0.evil"][..],
            &["registry-civil", "registry-other"][..],
            &[][..],
        ] {
            let t = token_with_cert(key, &leaf_of_ca_a(key, cns), now);
            let e = verify_compact(&t, &verifier_a(), now).unwrap_err();
            assert!(matches!(e, JwsError::UntrustedSigner(_)), "{cns:?}: {e:?}");
        }
        // The same construction with a plain CN verifies.
        let t = token_with_cert(key, &leaf_of_ca_a(key, &["registry-civil"]), now);
        let v = verify_compact(&t, &verifier_a(), now).unwrap();
        assert_eq!(v.signer_common_name, "registry-civil");
    }

    #[test]
    fn expired_token_fails() {
        let f = fixture();
        let now = now();
        let jws = sign_compact(PAYLOAD, &f.signer_a, now, TTL).unwrap();
        for at in [now + TTL + Duration::from_secs(1), now + TTL] {
            let e = verify_compact(&jws, &verifier_a(), at).unwrap_err();
            assert!(matches!(e, JwsError::Expired), "{e:?}");
        }
    }

    #[test]
    fn issued_in_the_future_fails() {
        let f = fixture();
        let now = now();
        let jws = sign_compact(PAYLOAD, &f.signer_a, now + Duration::from_secs(3600), TTL).unwrap();
        let e = verify_compact(&jws, &verifier_a(), now).unwrap_err();
        assert!(matches!(e, JwsError::NotYetValid), "{e:?}");
        // Just beyond the allowed skew.
        let jws = sign_compact(
            PAYLOAD,
            &f.signer_a,
            now + CLOCK_SKEW + Duration::from_secs(1),
            TTL,
        )
        .unwrap();
        let e = verify_compact(&jws, &verifier_a(), now).unwrap_err();
        assert!(matches!(e, JwsError::NotYetValid), "{e:?}");
    }

    #[test]
    fn a_lifetime_beyond_the_maximum_fails() {
        let f = fixture();
        let now = now();
        let hour = Duration::from_secs(3600);
        // The most a signer may ask for by default, and its own-clock skew, are accepted.
        let longest = sign_compact(PAYLOAD, &f.signer_a, now, MAX_LIFETIME).unwrap();
        verify_compact(&longest, &verifier_a(), now).unwrap();
        let ahead = sign_compact(PAYLOAD, &f.signer_a, now + CLOCK_SKEW, MAX_LIFETIME).unwrap();
        verify_compact(&ahead, &verifier_a(), now).unwrap();

        for lifetime in [MAX_LIFETIME + Duration::from_secs(1), 2 * hour] {
            let jws = sign_compact(PAYLOAD, &f.signer_a, now, lifetime).unwrap();
            let e = verify_compact(&jws, &verifier_a(), now).unwrap_err();
            assert!(matches!(e, JwsError::LifetimeTooLong { .. }), "{e:?}");
        }
        // An exp in 2100.
        let h = header_json(&f.signer_a, now, |h| h["exp"] = 4_102_444_800u64.into());
        let e = verify_compact(&sign_raw(&h, PAYLOAD, &f.signer_a.key), &verifier_a(), now)
            .unwrap_err();
        assert!(matches!(e, JwsError::LifetimeTooLong { .. }), "{e:?}");

        // The maximum is the verifier's.
        let lenient = verifier_a().with_max_lifetime(3 * hour);
        let jws = sign_compact(PAYLOAD, &f.signer_a, now, 2 * hour).unwrap();
        verify_compact(&jws, &lenient, now).unwrap();
        let strict = verifier_a().with_max_lifetime(Duration::from_secs(60));
        let e = verify_compact(
            &sign_compact(PAYLOAD, &f.signer_a, now, TTL).unwrap(),
            &strict,
            now,
        )
        .unwrap_err();
        assert!(
            matches!(e, JwsError::LifetimeTooLong { max_secs: 60 }),
            "{e:?}"
        );
    }

    #[test]
    fn malformed_compact_serialization() {
        let f = fixture();
        let now = now();
        let jws = sign_compact(PAYLOAD, &f.signer_a, now, TTL).unwrap();
        let p = parts(&jws);
        let bad = [
            String::new(),
            ".".into(),
            format!("{}.{}", p[0], p[1]),
            format!("{jws}."),
            format!("{jws}.{}", p[2]),
            format!("{}.{}.{}.{}.{}", p[0], "", p[1], "", p[2]),
            format!("{jws}\n"),
            format!(" {jws}"),
            format!("{}.{}=.{}", p[0], p[1], p[2]),
            format!("{}.{} .{}", p[0], p[1], p[2]),
            format!("{}.{}.{}", p[0], p[1].replace('-', "+"), p[2]),
            format!("{}.{}.{}", p[0], STANDARD.encode(PAYLOAD), p[2]),
            format!("{}.{}.{}", p[0], p[1], p[2].replacen(|_| true, "/", 1)),
        ];
        for t in bad {
            if t == jws {
                continue;
            }
            let e = verify_compact(&t, &verifier_a(), now).unwrap_err();
            assert!(matches!(e, JwsError::Malformed(_)), "{t:.40}: {e:?}");
            assert_no_payload(&e);
        }
        // Non-canonical trailing bits in the payload part ("QQ" is "A"; "QR" decodes too with
        // lenient decoders).
        let t = format!("{}.QR.{}", p[0], p[2]);
        let e = verify_compact(&t, &verifier_a(), now).unwrap_err();
        assert!(matches!(e, JwsError::Malformed(_)), "{e:?}");
    }

    #[test]
    fn size_limits() {
        let f = fixture();
        let now = now();
        let huge = "A".repeat(MAX_JWS_BYTES + 1);
        let e = verify_compact(&huge, &verifier_a(), now).unwrap_err();
        assert!(matches!(e, JwsError::TooLarge), "{e:?}");
        let big_header = format!(
            "{}.{}.AAAA",
            "A".repeat(MAX_HEADER_B64_BYTES + 4),
            b64(PAYLOAD)
        );
        let e = verify_compact(&big_header, &verifier_a(), now).unwrap_err();
        assert!(matches!(e, JwsError::TooLarge), "{e:?}");
        let payload = vec![b'x'; crate::crypto::MAX_SIGNED_BYTES / 4 * 3 + 1];
        let e = sign_compact(&payload, &f.signer_a, now, TTL).unwrap_err();
        assert!(matches!(e, JwsError::TooLarge), "{e:?}");
        // A JWS over 4 MiB verifies only under a larger limit.
        let large = sign_compact(&vec![b'x'; MAX_JWS_BYTES], &f.signer_a, now, TTL).unwrap();
        let e = verify_compact(&large, &verifier_a(), now).unwrap_err();
        assert!(matches!(e, JwsError::TooLarge), "{e:?}");
        let verified =
            verify_compact_within(&large, &verifier_a(), now, 2 * MAX_JWS_BYTES).unwrap();
        assert_eq!(verified.payload.len(), MAX_JWS_BYTES);
    }

    #[test]
    fn loading_errors() {
        let f = fixture();
        // Key of signer A with certificate of signer B.
        let cert_b = X509::from_der(f.signer_b.certificate_der()).unwrap();
        let e = JwsSigner::from_pem(
            &f.signer_a.key.private_key_to_pem_pkcs8().unwrap(),
            &cert_b.to_pem().unwrap(),
        )
        .unwrap_err();
        assert!(matches!(e, JwsError::Key(_)), "{e:?}");
        assert!(matches!(JwsVerifier::from_pem(b""), Err(JwsError::Key(_))));
        assert!(matches!(
            JwsSigner::from_pem(b"not a key", b"not a cert"),
            Err(JwsError::Key(_))
        ));
        let e = sign_compact(PAYLOAD, &f.signer_a, now(), Duration::from_millis(500)).unwrap_err();
        assert!(matches!(e, JwsError::Malformed(_)), "{e:?}");
    }
}
