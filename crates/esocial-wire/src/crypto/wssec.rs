//! WS-Security (OASIS WSS 1.0/1.1, X.509 token profile) signing and
//! verification of SOAP 1.1 envelopes, MConnect profile.
//!
//! Profile produced by [`sign_envelope`] and required by [`verify_envelope`]:
//!
//! * `soap:Header/wsse:Security` (`soap:mustUnderstand="1"`) containing, in order,
//!   `wsu:Timestamp` (Created/Expires, UTC), `wsse:BinarySecurityToken`
//!   (X509v3, Base64Binary, signer certificate) and `ds:Signature`;
//! * `ds:Signature`: exclusive C14N, RSA-SHA256, one `#wsu:Id` reference to the
//!   Timestamp, one to every other child of `soap:Header` (the MConnect headers:
//!   who asks, why, the message ids and an answer's binding to its request) and
//!   one to soap:Body, each with one exc-c14n transform and a SHA-256 digest;
//!   no two Header children share a name, and the Timestamp's lifetime is at most
//!   [`MAX_TTL`];
//! * no comments or processing instructions anywhere (exclusive C14N drops
//!   comments, so a reader stopping at one would see other text than was signed);
//! * `ds:KeyInfo/wsse:SecurityTokenReference/wsse:Reference URI="#<bst id>"`.
//!
//! XML canonicalization is `bergshamra`'s. Signing digests each reference on one parse of
//! the envelope and signs the canonical SignedInfo with the identity's key, parsed once and
//! held; verification is bergshamra's (AWS-LC provider). `roxmltree` (DTDs refused) is used to
//! pre-parse every input and to perform the structural / anti-wrapping
//! checks; the element identities are cross-checked again on bergshamra's own
//! DOM (uppsala) after cryptographic verification, so a parser differential
//! between the two cannot move the signed content. X.509 chain validation is
//! done with OpenSSL (`X509StoreContext`) at the caller-supplied time.

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use bergshamra::xml::uppsala;
use openssl::hash::MessageDigest;
use openssl::pkey::{Id as PKeyId, PKey, Private};
use openssl::x509::X509;

// ---------------------------------------------------------------------------
// Namespaces and algorithm identifiers
// ---------------------------------------------------------------------------

/// SOAP 1.1 envelope namespace.
pub const SOAP11_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// SOAP 1.2 envelope namespace (recognised only to give a clear error).
const SOAP12_NS: &str = "http://www.w3.org/2003/05/soap-envelope";
/// WSS 1.0 secext namespace.
pub const WSSE_NS: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
/// WSS 1.0 utility namespace.
pub const WSU_NS: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
/// XML-DSig namespace.
pub const DS_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
const RSA_SHA384: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384";
const RSA_SHA512: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512";
const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
const SHA384: &str = "http://www.w3.org/2001/04/xmldsig-more#sha384";
const SHA512: &str = "http://www.w3.org/2001/04/xmlenc#sha512";

const X509V3_VALUE_TYPE: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3";
const BASE64_ENCODING: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary";

/// Signature methods accepted on verification (RSA PKCS#1 v1.5 only).
const ACCEPTED_SIGNATURE_METHODS: &[&str] = &[RSA_SHA256, RSA_SHA384, RSA_SHA512];
/// Digest methods accepted on verification.
const ACCEPTED_DIGEST_METHODS: &[&str] = &[SHA256, SHA384, SHA512];
/// Attribute local names that bergshamra (and most DSig stacks) treat as IDs.
const ID_ATTR_LOCAL_NAMES: &[&str] = &["Id", "ID", "id", "AssertionID"];

// ---------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------

/// Maximum accepted envelope size in bytes (4 MiB), unless the caller allows more
/// ([`verify_envelope_within`]).
pub const MAX_ENVELOPE_BYTES: usize = 4 * 1024 * 1024;
/// Maximum element nesting depth (the Envelope element is depth 1).
pub const MAX_ELEMENT_DEPTH: usize = 64;
/// Tolerated clock skew for `wsu:Created` in the future.
pub const CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);
/// Default Timestamp lifetime (`wsu:Expires - wsu:Created`).
pub const DEFAULT_TTL: Duration = Duration::from_secs(15 * 60);
/// Longest Timestamp lifetime accepted: a message valid for longer could be replayed for
/// longer than any replay cache remembers it.
pub const MAX_TTL: Duration = Duration::from_secs(60 * 60);
/// Minimum RSA modulus size accepted for signing and verification.
const MIN_RSA_BITS: u32 = 2048;

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// Errors from WS-Security signing and verification.
#[derive(Debug, thiserror::Error)]
pub enum WsSecurityError {
    /// Input larger than [`MAX_ENVELOPE_BYTES`] (or too many nodes).
    #[error("envelope too large: {0}")]
    TooLarge(String),
    /// Element nesting deeper than [`MAX_ELEMENT_DEPTH`].
    #[error("envelope nesting deeper than {0} elements")]
    TooDeep(usize),
    /// A DOCTYPE / DTD / entity declaration was present.
    #[error("DTD and entity declarations are forbidden")]
    DtdForbidden,
    /// Not well-formed XML, not a SOAP 1.1 envelope, or a WSS structure
    /// that does not follow the profile.
    #[error("malformed envelope: {0}")]
    Malformed(String),
    /// Two elements carry the same ID value (signature-wrapping indicator).
    #[error("duplicate ID value in document: {0}")]
    DuplicateId(String),
    /// No wsse:Security header or no ds:Signature in it.
    #[error("envelope is not signed: {0}")]
    Unsigned(String),
    /// wsu:Expires is not after the verification time.
    #[error("security timestamp expired at {0}")]
    Expired(String),
    /// wsu:Expires lies further after wsu:Created than [`MAX_TTL`].
    #[error("security timestamp valid for longer than {} s", MAX_TTL.as_secs())]
    LifetimeTooLong,
    /// wsu:Created lies further in the future than the allowed clock skew.
    #[error("security timestamp not yet valid (created {0})")]
    NotYetValid(String),
    /// The BST certificate does not chain to a trust anchor, or is not valid
    /// at the verification time.
    #[error("untrusted signer certificate: {0}")]
    UntrustedSigner(String),
    /// Digest or signature value mismatch, or a DSig processing failure.
    #[error("bad signature: {0}")]
    BadSignature(String),
    /// The signature does not cover exactly the real soap:Body and the
    /// Timestamp of the Security header.
    #[error("signature coverage incomplete or unexpected: {0}")]
    IncompleteCoverage(String),
    /// An algorithm outside the accepted profile was used.
    #[error("unsupported algorithm: {0}")]
    UnsupportedAlgorithm(String),
    /// Key / certificate loading or key-reference resolution problem.
    #[error("key error: {0}")]
    Key(String),
}

type Result<T> = std::result::Result<T, WsSecurityError>;

fn malformed(msg: impl Into<String>) -> WsSecurityError {
    WsSecurityError::Malformed(msg.into())
}

fn ssl_key_err(ctx: &str) -> impl Fn(openssl::error::ErrorStack) -> WsSecurityError + '_ {
    move |e| WsSecurityError::Key(format!("{ctx}: {e}"))
}

// ---------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------

/// Private key + certificate used to sign envelopes.
#[derive(Clone)]
pub struct SigningIdentity {
    /// Parsed once; every signature uses it as it is (a reference-counted handle, so clones
    /// share the one key).
    key: PKey<Private>,
    cert_der: Vec<u8>,
    subject: String,
}

impl fmt::Debug for SigningIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningIdentity")
            .field("subject", &self.subject)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl SigningIdentity {
    /// Load an unencrypted RSA private key (PKCS#8 `PRIVATE KEY` or PKCS#1
    /// `RSA PRIVATE KEY` PEM) and the matching X.509 certificate (PEM; only
    /// the first certificate is used).
    pub fn from_pem(key_pem: &[u8], cert_pem: &[u8]) -> Result<Self> {
        let pkey: PKey<Private> =
            PKey::private_key_from_pem(key_pem).map_err(ssl_key_err("private key PEM"))?;
        if pkey.id() != PKeyId::RSA {
            return Err(WsSecurityError::Key(
                "only RSA signing keys are supported by this profile".into(),
            ));
        }
        if pkey.bits() < MIN_RSA_BITS {
            return Err(WsSecurityError::Key(format!(
                "RSA key too small: {} bits (minimum {MIN_RSA_BITS})",
                pkey.bits()
            )));
        }
        let cert = X509::from_pem(cert_pem).map_err(ssl_key_err("certificate PEM"))?;
        let cert_pub = cert
            .public_key()
            .map_err(ssl_key_err("certificate public key"))?;
        if !cert_pub.public_eq(&pkey) {
            return Err(WsSecurityError::Key(
                "private key does not match the certificate".into(),
            ));
        }
        let cert_der = cert.to_der().map_err(ssl_key_err("certificate DER"))?;

        Ok(Self {
            key: pkey,
            cert_der,
            subject: name_to_string(cert.subject_name()),
        })
    }

    /// DER encoding of the signer certificate (what goes into the BST).
    pub fn certificate_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// Subject DN of the signer certificate, e.g. `C=BR, O=..., CN=...`.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// A detached RSA PKCS#1 v1.5 SHA-256 signature of `data` with this identity's key, for
    /// documents signed outside a message (the audit log's checkpoints). Anyone holding the
    /// certificate checks it with [`super::x509::verify_detached`], or with
    /// `openssl dgst -sha256 -verify`.
    pub fn sign_detached(&self, data: &[u8]) -> Result<Vec<u8>> {
        let mut signer =
            openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &self.key)
                .map_err(ssl_key_err("signer"))?;
        signer
            .set_rsa_padding(openssl::rsa::Padding::PKCS1)
            .map_err(ssl_key_err("signer padding"))?;
        signer
            .sign_oneshot_to_vec(data)
            .map_err(ssl_key_err("signing"))
    }
}

/// CA certificates the BST signer certificate must chain to, and the revocation lists it is
/// checked against.
#[derive(Clone)]
pub struct TrustAnchors {
    certs: Vec<X509>,
    revocation: super::revocation::Revocation,
    /// The public keys of signers seen, imported for the XML-DSig verifier once each, by the
    /// signer certificate's DER. Shared by clones. A key is used only after its certificate's
    /// chain has been verified for the message at hand.
    signer_keys: std::sync::Arc<std::sync::Mutex<HashMap<Vec<u8>, bergshamra::Key>>>,
}

/// Signer keys a [`TrustAnchors`] keeps imported; past this, the cache starts again empty.
const MAX_REMEMBERED_SIGNERS: usize = 256;

impl fmt::Debug for TrustAnchors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let subjects: Vec<String> = self
            .certs
            .iter()
            .map(|c| name_to_string(c.subject_name()))
            .collect();
        f.debug_struct("TrustAnchors")
            .field("subjects", &subjects)
            .finish()
    }
}

impl TrustAnchors {
    /// Load one or more PEM certificates. Every certificate is trusted as a
    /// chain element; a chain must still end at a self-signed root that is in
    /// the bundle (no partial-chain trust).
    pub fn from_pem(ca_bundle_pem: &[u8]) -> Result<Self> {
        let certs = X509::stack_from_pem(ca_bundle_pem).map_err(ssl_key_err("CA bundle PEM"))?;
        if certs.is_empty() {
            return Err(WsSecurityError::Key(
                "CA bundle contains no certificate".into(),
            ));
        }
        Ok(Self {
            certs,
            revocation: Default::default(),
            signer_keys: Default::default(),
        })
    }

    /// Also refuses signers that `revocation` lists as revoked (or whose status it cannot tell).
    pub fn with_revocation(mut self, revocation: super::revocation::Revocation) -> Self {
        self.revocation = revocation;
        self
    }

    /// The XML-DSig verifier's key for a signer whose chain is verified, imported on first use.
    fn signer_key(
        &self,
        cert_der: &[u8],
        public_key: &PKey<openssl::pkey::Public>,
    ) -> Result<bergshamra::Key> {
        let mut keys = self
            .signer_keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(key) = keys.get(cert_der) {
            return Ok(key.clone());
        }
        let spki = public_key
            .public_key_to_der()
            .map_err(ssl_key_err("SPKI export"))?;
        let key = bergshamra::keys::loader::load_spki_der(&spki)
            .map_err(|e| WsSecurityError::Key(format!("bergshamra SPKI load: {e}")))?;
        if keys.len() >= MAX_REMEMBERED_SIGNERS {
            keys.clear();
        }
        keys.insert(cert_der.to_vec(), key.clone());
        Ok(key)
    }

    /// Number of certificates in the bundle.
    pub fn len(&self) -> usize {
        self.certs.len()
    }

    /// Always false for a successfully constructed value.
    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }
}

/// Result of a successful [`verify_envelope`].
#[derive(Debug, Clone)]
pub struct VerifiedEnvelope {
    /// Subject DN of the BST certificate (`C=BR, O=..., CN=...`).
    pub signer_subject: String,
    /// DER of the BST certificate.
    pub signer_certificate_der: Vec<u8>,
    /// Value of the signed `wsu:Expires`.
    pub expires: SystemTime,
}

// ---------------------------------------------------------------------------
// Guarded parsing
// ---------------------------------------------------------------------------

fn check_size(xml: &str, max_bytes: usize) -> Result<()> {
    if xml.len() > max_bytes {
        return Err(WsSecurityError::TooLarge(format!(
            "{} bytes (limit {max_bytes})",
            xml.len()
        )));
    }
    Ok(())
}

/// Parse with roxmltree, refusing DTDs, and enforce size / node / depth limits: at most
/// `max_bytes`, and `xml::nodes_limit(max_bytes)` nodes.
fn parse_guarded(xml: &str, max_bytes: usize) -> Result<roxmltree::Document<'_>> {
    check_size(xml, max_bytes)?;
    // The linear pre-scan first: what it refuses (too many attributes or namespace
    // declarations on an element, markup declarations) would make parsing itself costly.
    crate::mconnect::xml::check_markup(xml, max_bytes).map_err(|error| {
        use crate::mconnect::xml::XmlError;
        match error {
            XmlError::TooLarge(_) => WsSecurityError::TooLarge(error.to_string()),
            XmlError::DtdForbidden => WsSecurityError::DtdForbidden,
            XmlError::TooDeep => WsSecurityError::TooDeep(MAX_ELEMENT_DEPTH),
            other => malformed(other.to_string()),
        }
    })?;
    let nodes_limit = crate::mconnect::xml::nodes_limit(max_bytes);
    let opts = roxmltree::ParsingOptions {
        allow_dtd: false,
        nodes_limit,
        ..roxmltree::ParsingOptions::default()
    };
    let doc = roxmltree::Document::parse_with_options(xml, opts).map_err(|e| match e {
        roxmltree::Error::DtdDetected => WsSecurityError::DtdForbidden,
        roxmltree::Error::NodesLimitReached => {
            WsSecurityError::TooLarge(format!("more than {nodes_limit} XML nodes"))
        }
        other => malformed(format!("XML parse error: {other}")),
    })?;
    // roxmltree accepts an *empty* DOCTYPE (`<!DOCTYPE x>`); a DOCTYPE can only
    // occur in the prolog, so refuse anything that looks like one there.
    let prolog = &xml[..doc.root_element().range().start];
    if prolog.contains("<!DOCTYPE") || prolog.contains("<!ENTITY") {
        return Err(WsSecurityError::DtdForbidden);
    }
    // ancestors() includes the node itself and the document root node, so an
    // element at depth d has d + 1 "ancestors"; bounded walk => O(n * limit).
    for n in doc.descendants().filter(|n| n.is_element()) {
        if n.ancestors().take(MAX_ELEMENT_DEPTH + 2).count() > MAX_ELEMENT_DEPTH + 1 {
            return Err(WsSecurityError::TooDeep(MAX_ELEMENT_DEPTH));
        }
    }
    Ok(doc)
}

type RNode<'a, 'i> = roxmltree::Node<'a, 'i>;

fn is_el(n: &RNode<'_, '_>, ns: &str, local: &str) -> bool {
    n.is_element() && n.tag_name().name() == local && n.tag_name().namespace() == Some(ns)
}

fn element_children<'a, 'i>(n: RNode<'a, 'i>) -> impl Iterator<Item = RNode<'a, 'i>> {
    n.children().filter(|c| c.is_element())
}

fn children_named<'a, 'i>(n: RNode<'a, 'i>, ns: &str, local: &str) -> Vec<RNode<'a, 'i>> {
    element_children(n)
        .filter(|c| is_el(c, ns, local))
        .collect()
}

fn single_child<'a, 'i>(n: RNode<'a, 'i>, ns: &str, local: &str) -> Result<RNode<'a, 'i>> {
    let mut v = children_named(n, ns, local);
    match v.len() {
        1 => Ok(v.remove(0)),
        0 => Err(malformed(format!(
            "missing {local} in {}",
            n.tag_name().name()
        ))),
        k => Err(malformed(format!(
            "{k} {local} elements in {} (expected one)",
            n.tag_name().name()
        ))),
    }
}

/// Envelope / Header / Body of a SOAP 1.1 envelope. The Envelope must contain
/// an optional Header followed by exactly one Body and nothing else.
struct EnvelopeParts<'a, 'i> {
    envelope: RNode<'a, 'i>,
    header: Option<RNode<'a, 'i>>,
    body: RNode<'a, 'i>,
}

fn envelope_parts<'a, 'i>(doc: &'a roxmltree::Document<'i>) -> Result<EnvelopeParts<'a, 'i>> {
    let env = doc.root_element();
    if env.tag_name().name() == "Envelope" && env.tag_name().namespace() == Some(SOAP12_NS) {
        return Err(malformed(
            "SOAP 1.2 envelopes are not supported (SOAP 1.1 only)",
        ));
    }
    if !is_el(&env, SOAP11_NS, "Envelope") {
        return Err(malformed("document element is not a SOAP 1.1 Envelope"));
    }
    let kids: Vec<_> = element_children(env).collect();
    let (header, rest) = match kids.first() {
        Some(h) if is_el(h, SOAP11_NS, "Header") => (Some(*h), &kids[1..]),
        _ => (None, &kids[..]),
    };
    match rest {
        [b] if is_el(b, SOAP11_NS, "Body") => Ok(EnvelopeParts {
            envelope: env,
            header,
            body: *b,
        }),
        _ => Err(malformed(
            "Envelope must contain an optional Header followed by exactly one Body and nothing else",
        )),
    }
}

/// Map every ID-like attribute value to its element; any value used twice
/// (on different elements) is rejected. Every attribute whose local name is
/// Id/ID/id/AssertionID in *any* namespace counts, plus xml:id, because
/// that is what DSig engines (bergshamra, xmlsec with --id-attr) may resolve.
fn collect_ids(doc: &roxmltree::Document<'_>) -> Result<HashMap<String, roxmltree::NodeId>> {
    let mut map: HashMap<String, roxmltree::NodeId> = HashMap::new();
    for n in doc.descendants().filter(|n| n.is_element()) {
        for a in n.attributes() {
            let is_id = ID_ATTR_LOCAL_NAMES.contains(&a.name())
                || (a.namespace() == Some(XML_NS) && a.name() == "id");
            if !is_id {
                continue;
            }
            if let Some(prev) = map.insert(a.value().to_owned(), n.id())
                && prev != n.id()
            {
                return Err(WsSecurityError::DuplicateId(a.value().to_owned()));
            }
        }
    }
    Ok(map)
}

fn wsu_id<'a>(n: &RNode<'a, '_>) -> Option<&'a str> {
    n.attribute((WSU_NS, "Id"))
}

fn text_of(n: RNode<'_, '_>) -> String {
    n.descendants()
        .filter(|d| d.is_text())
        .filter_map(|d| d.text())
        .collect()
}

// ---------------------------------------------------------------------------
// Time helpers (xs:dateTime, UTC)
// ---------------------------------------------------------------------------

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Format as `YYYY-MM-DDThh:mm:ssZ` (whole seconds, UTC).
fn format_utc(t: SystemTime) -> Result<String> {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map_err(|_| malformed("time before 1970"))?
        .as_secs() as i64;
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    Ok(format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        sod / 3600,
        (sod % 3600) / 60,
        sod % 60
    ))
}

/// Parse an xs:dateTime that carries an explicit time zone (`Z` or `±hh:mm`).
fn parse_xsd_datetime(s: &str) -> Result<SystemTime> {
    let bad = || malformed(format!("invalid xs:dateTime {s:?}"));
    let b = s.trim().as_bytes();
    let num = |r: std::ops::Range<usize>| -> Result<i64> {
        let part = b.get(r).ok_or_else(bad)?;
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return Err(bad());
        }
        std::str::from_utf8(part)
            .ok()
            .and_then(|p| p.parse().ok())
            .ok_or_else(bad)
    };
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return Err(bad());
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 59 {
        return Err(bad());
    }
    let mut i = 19;
    let mut nanos: u32 = 0;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return Err(bad());
        }
        let digits = &s.trim()[start..i.min(start + 9)];
        nanos = format!("{digits:0<9}").parse().map_err(|_| bad())?;
    }
    let offset_secs: i64 = match &b[i..] {
        b"Z" => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let oh = num(i + 1..i + 3)?;
            let om = num(i + 4..i + 6)?;
            let _ = (h1, h2, m1, m2);
            if oh > 14 || om > 59 {
                return Err(bad());
            }
            let o = oh * 3600 + om * 60;
            if *sign == b'+' { o } else { -o }
        }
        _ => return Err(bad()),
    };
    let days = days_from_civil(y, mo as u32, d as u32);
    // reject impossible dates like 02-31
    if civil_from_days(days) != (y, mo as u32, d as u32) {
        return Err(bad());
    }
    let secs = days * 86_400 + h * 3600 + mi * 60 + se - offset_secs;
    if secs < 0 {
        return Err(bad());
    }
    Ok(UNIX_EPOCH + Duration::new(secs as u64, nanos))
}

fn unix_secs(t: SystemTime) -> Result<i64> {
    Ok(t.duration_since(UNIX_EPOCH)
        .map_err(|_| malformed("time before 1970"))?
        .as_secs() as i64)
}

// ---------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------

fn name_to_string(name: &openssl::x509::X509NameRef) -> String {
    name.entries()
        .map(|e| {
            let key = e
                .object()
                .nid()
                .short_name()
                .map(str::to_owned)
                .unwrap_or_else(|_| e.object().to_string());
            let val = e.data().to_string().unwrap_or_else(|_| "?".into());
            format!("{key}={val}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// 128 random bits in hex, which make the ids of one envelope unguessable.
fn random_nonce() -> Result<String> {
    let mut buf = [0u8; 16];
    openssl::rand::rand_bytes(&mut buf).map_err(ssl_key_err("random"))?;
    Ok(hex::encode(buf))
}

/// An attribute value escaped as canonical XML escapes it (C14N 1.0, section 2.2): a value
/// written so reads back unchanged and is already in canonical form.
fn xml_escape_attr(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('"', "&quot;")
        .replace('\t', "&#x9;")
        .replace('\n', "&#xA;")
        .replace('\r', "&#xD;")
}

/// Locate the end of the start tag beginning at `start` (which must point at
/// `<`). Returns (index of the closing `>`, whether the tag is `/>`).
/// Quoted attribute values may legally contain `>`, so quotes are tracked.
fn start_tag_end(xml: &str, start: usize) -> Result<(usize, bool)> {
    let b = xml.as_bytes();
    if b.get(start) != Some(&b'<') {
        return Err(malformed("internal: element range does not start with '<'"));
    }
    let mut quote: Option<u8> = None;
    for (i, &c) in b.iter().enumerate().skip(start + 1) {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == b'"' || c == b'\'' => quote = Some(c),
            None if c == b'>' => return Ok((i, b[i - 1] == b'/')),
            None => {}
        }
    }
    Err(malformed("unterminated start tag"))
}

/// A prefix bound to `uri` in scope at `node`, usable for elements and
/// attributes (i.e. non-empty), and not one of the prefixes we declare.
fn usable_prefix<'i>(node: &RNode<'_, 'i>, uri: &str) -> Option<&'i str> {
    node.lookup_prefix(uri)
        .filter(|p| !p.is_empty() && !matches!(*p, "wsse" | "wsu" | "ds"))
}

/// A prefix not bound at all in scope at `node`, derived from `base`.
fn fresh_prefix(node: &RNode<'_, '_>, base: &str) -> String {
    if node.lookup_namespace_uri(Some(base)).is_none() {
        return base.to_owned();
    }
    (1..)
        .map(|i| format!("{base}{i}"))
        .find(|p| node.lookup_namespace_uri(Some(p)).is_none())
        .expect("unbounded iterator")
}

// ---------------------------------------------------------------------------
// Signing
// ---------------------------------------------------------------------------

/// Add a WS-Security header (Timestamp, X.509 BST, Signature over Body and
/// Timestamp) to a SOAP 1.1 envelope and sign it.
///
/// The envelope must not already contain a `wsse:Security` header. If
/// `soap:Body` has no `wsu:Id`, one is added; a Header is created if absent.
/// Apart from these insertions the input text is preserved byte-for-byte.
pub fn sign_envelope(
    envelope_xml: &str,
    identity: &SigningIdentity,
    now: SystemTime,
    ttl: Duration,
) -> Result<String> {
    if ttl.is_zero() || ttl > MAX_TTL {
        return Err(malformed("ttl must be positive and at most MAX_TTL"));
    }
    let doc = parse_guarded(envelope_xml, super::MAX_SIGNED_BYTES)?;
    let parts = envelope_parts(&doc)?;
    let ids = collect_ids(&doc)?;

    if let Some(h) = parts.header
        && !children_named(h, WSSE_NS, "Security").is_empty()
    {
        return Err(malformed("envelope already carries a wsse:Security header"));
    }

    // Every element signed besides the Timestamp: each child of the Header (the MConnect
    // headers say who asks, why, and which request an answer belongs to) and the Body. Each
    // keeps an existing wsu:Id or gets a fresh one; another ID-like attribute is refused (two
    // ID attributes on one element confuse ID-based resolution).
    let mut signed_parts: Vec<RNode<'_, '_>> = parts
        .header
        .map(|h| element_children(h).collect())
        .unwrap_or_default();
    signed_parts.push(parts.body);
    // Fresh ids share one random nonce per envelope and differ by a counter.
    let nonce = random_nonce()?;
    let counter = std::cell::Cell::new(0u32);
    let fresh = |p: &str| -> Result<String> {
        for _ in 0..8 {
            counter.set(counter.get() + 1);
            let id = format!("{p}-{nonce}-{}", counter.get());
            if !ids.contains_key(&id) {
                return Ok(id);
            }
        }
        Err(malformed("could not allocate a unique wsu:Id"))
    };
    let mut part_ids: Vec<(RNode<'_, '_>, String, bool)> = Vec::new(); // (node, id, needs splice)
    for node in &signed_parts {
        let other_id = node.attributes().any(|a| {
            (ID_ATTR_LOCAL_NAMES.contains(&a.name()) || a.namespace() == Some(XML_NS))
                && !(a.namespace() == Some(WSU_NS) && a.name() == "Id")
        });
        if other_id {
            return Err(malformed(format!(
                "{} carries an ID attribute other than wsu:Id; refusing to add a second one",
                node.tag_name().name()
            )));
        }
        match wsu_id(node) {
            Some(id) => part_ids.push((*node, id.to_owned(), false)),
            None => part_ids.push((
                *node,
                fresh(if *node == parts.body { "id" } else { "H" })?,
                true,
            )),
        }
    }
    let ts_id = fresh("TS")?;
    let bst_id = fresh("X509")?;

    let created = format_utc(now)?;
    let expires = format_utc(now + ttl)?;
    let cert_b64 = base64::engine::general_purpose::STANDARD.encode(&identity.cert_der);

    // SOAP prefix for soap:mustUnderstand on the new Security element.
    let scope_node = parts.header.unwrap_or(parts.envelope);
    let (soap_p, soap_decl) = match usable_prefix(&scope_node, SOAP11_NS) {
        Some(p) => (p.to_owned(), String::new()),
        None => {
            let p = fresh_prefix(&scope_node, "soapenv");
            let d = format!(" xmlns:{p}=\"{SOAP11_NS}\"");
            (p, d)
        }
    };

    let security_header = |signed_info: &str, signature_value: &str| {
        format!(
            "<wsse:Security xmlns:wsse=\"{WSSE_NS}\" xmlns:wsu=\"{WSU_NS}\"{soap_decl} {soap_p}:mustUnderstand=\"1\">\
<wsu:Timestamp wsu:Id=\"{ts_id}\"><wsu:Created>{created}</wsu:Created><wsu:Expires>{expires}</wsu:Expires></wsu:Timestamp>\
<wsse:BinarySecurityToken EncodingType=\"{BASE64_ENCODING}\" ValueType=\"{X509V3_VALUE_TYPE}\" wsu:Id=\"{bst_id}\">{cert_b64}</wsse:BinarySecurityToken>\
<ds:Signature xmlns:ds=\"{DS_NS}\">{signed_info}<ds:SignatureValue>{signature_value}</ds:SignatureValue>\
<ds:KeyInfo><wsse:SecurityTokenReference><wsse:Reference URI=\"#{bst_id}\" ValueType=\"{X509V3_VALUE_TYPE}\"/></wsse:SecurityTokenReference></ds:KeyInfo>\
</ds:Signature></wsse:Security>"
        )
    };
    // What the signature references: the Timestamp, then every signed part in document order.
    let reference_ids: Vec<String> = std::iter::once(ts_id.clone())
        .chain(part_ids.iter().map(|(_, id, _)| id.clone()))
        .collect();
    let unsigned_references: Vec<(&str, String)> = reference_ids
        .iter()
        .map(|id| (id.as_str(), String::new()))
        .collect();
    let security = security_header(&signed_info_xml(&unsigned_references), "");

    // Text splices, applied from the highest offset down.
    let mut splices: Vec<(usize, usize, String)> = Vec::new(); // (start, end, replacement)
    // Offset of the Security element inside the Header splice's replacement.
    let sec_in_splice;
    for (node, id, needs_id) in &part_ids {
        if !needs_id {
            continue;
        }
        let (gt, self_closing) = start_tag_end(envelope_xml, node.range().start)?;
        let at = if self_closing { gt - 1 } else { gt };
        let (wsu_p, decl) = match node.lookup_prefix(WSU_NS).filter(|p| !p.is_empty()) {
            Some(p) => (p.to_owned(), String::new()),
            None => {
                let p = fresh_prefix(node, "wsu");
                let d = format!(" xmlns:{p}=\"{WSU_NS}\"");
                (p, d)
            }
        };
        splices.push((at, at, format!("{decl} {wsu_p}:Id=\"{id}\"")));
    }
    match parts.header {
        Some(h) => {
            let start = h.range().start;
            let (gt, self_closing) = start_tag_end(envelope_xml, start)?;
            if self_closing {
                let qname_end = envelope_xml[start + 1..]
                    .find(|c: char| c.is_whitespace() || c == '/' || c == '>')
                    .map(|i| start + 1 + i)
                    .ok_or_else(|| malformed("bad Header tag"))?;
                let qname = &envelope_xml[start + 1..qname_end];
                let open = &envelope_xml[start..gt - 1];
                sec_in_splice = (start, open.len() + 1);
                splices.push((start, gt + 1, format!("{open}>{security}</{qname}>")));
            } else {
                sec_in_splice = (gt + 1, 0);
                splices.push((gt + 1, gt + 1, security.clone()));
            }
        }
        None => {
            let at = parts.body.range().start;
            let env = parts.envelope;
            let open = match usable_prefix(&env, SOAP11_NS) {
                Some(p) => format!("<{p}:Header>"),
                None => {
                    let p = fresh_prefix(&env, "soapenv");
                    format!("<{p}:Header xmlns:{p}=\"{SOAP11_NS}\">")
                }
            };
            let close = format!(
                "</{}>",
                &open[1..open.find([' ', '>']).unwrap_or(open.len())]
            );
            sec_in_splice = (at, open.len());
            splices.push((at, at, format!("{open}{security}{close}")));
        }
    }
    // One pass over the input, copying it between the splices.
    splices.sort_by_key(|s| s.0);
    let mut template = String::with_capacity(
        envelope_xml.len() + splices.iter().map(|s| s.2.len()).sum::<usize>(),
    );
    let mut copied_to = 0;
    for (start, end, replacement) in &splices {
        template.push_str(&envelope_xml[copied_to..*start]);
        template.push_str(replacement);
        copied_to = *end;
    }
    template.push_str(&envelope_xml[copied_to..]);
    drop(doc);

    // The Header splice is always at a lower offset than the Body splice, so
    // the Security element's offset in the template is unaffected by it.
    let sec_start = sec_in_splice.0 + sec_in_splice.1;
    let sec_end = sec_start + security.len();
    debug_assert!(template[sec_start..].starts_with("<wsse:Security "));

    // Digest every reference on one parse of the template (a splice mistake fails it), then sign
    // the canonical SignedInfo with the held key.
    let template_doc = uppsala::parse(&template)
        .map_err(|e| malformed(format!("XML parse error (uppsala): {e}")))?;
    let targets = reference_targets(&template_doc)?;
    let digest_of = |id: &str| -> Result<String> {
        let node = targets
            .get(id)
            .copied()
            .ok_or_else(|| malformed(format!("reference #{id} does not resolve")))?;
        let subtree = bergshamra::xml::nodeset::NodeSet::tree_without_comments(node, &template_doc);
        let canonical = exclusive_c14n(&template_doc, Some(&subtree))?;
        let digest = openssl::sha::sha256(&canonical);
        Ok(base64::engine::general_purpose::STANDARD.encode(digest))
    };
    let mut signed_references = Vec::with_capacity(reference_ids.len());
    for id in &reference_ids {
        signed_references.push((id.as_str(), digest_of(id)?));
    }
    drop(targets);
    drop(template_doc);

    let signed_info = signed_info_xml(&signed_references);
    let signature_value = {
        let canonical = canonical_signed_info(&signed_info);
        let mut signer = openssl::sign::Signer::new(MessageDigest::sha256(), &identity.key)
            .map_err(ssl_key_err("signer"))?;
        signer
            .set_rsa_padding(openssl::rsa::Padding::PKCS1)
            .map_err(ssl_key_err("signer padding"))?;
        let signature = signer
            .sign_oneshot_to_vec(&canonical)
            .map_err(ssl_key_err("signing"))?;
        base64::engine::general_purpose::STANDARD.encode(signature)
    };
    let filled = security_header(&signed_info, &signature_value);
    let mut signed = String::with_capacity(template.len() + filled.len() - security.len());
    signed.push_str(&template[..sec_start]);
    signed.push_str(&filled);
    signed.push_str(&template[sec_end..]);
    Ok(signed)
}

/// The elements a signature of this profile may reference, by `wsu:Id`: the Body, every
/// Header child and the Timestamp of the Security header. An id on two of them is refused.
fn reference_targets<'d>(
    doc: &'d uppsala::Document<'_>,
) -> Result<HashMap<&'d str, uppsala::NodeId>> {
    let envelope = doc
        .document_element()
        .ok_or_else(|| malformed("no document element"))?;
    let mut candidates = Vec::new();
    for child in doc.children(envelope) {
        let Some(element) = doc.element(child) else {
            continue;
        };
        if element.matches_name_ns(SOAP11_NS, "Header") {
            for part in doc.children(child) {
                let Some(header_part) = doc.element(part) else {
                    continue;
                };
                candidates.push(part);
                if header_part.matches_name_ns(WSSE_NS, "Security") {
                    candidates.extend(doc.children(part).into_iter().filter(|n| {
                        doc.element(*n)
                            .is_some_and(|e| e.matches_name_ns(WSU_NS, "Timestamp"))
                    }));
                }
            }
        } else {
            candidates.push(child);
        }
    }
    let mut targets = HashMap::new();
    for node in candidates {
        if let Some(id) = doc.get_attribute_ns(node, WSU_NS, "Id")
            && targets.insert(id, node).is_some()
        {
            return Err(WsSecurityError::DuplicateId(id.to_owned()));
        }
    }
    Ok(targets)
}

/// Exclusive C14N (no comments, no inclusive prefixes) of `subset` of `doc`, or of all of it.
fn exclusive_c14n(
    doc: &uppsala::Document<'_>,
    subset: Option<&bergshamra::xml::nodeset::NodeSet>,
) -> Result<Vec<u8>> {
    bergshamra::c14n::canonicalize_doc(
        doc,
        bergshamra::c14n::C14nMode::Exclusive,
        subset,
        &[] as &[&str],
    )
    .map_err(|e| malformed(format!("canonicalization failed: {e}")))
}

/// The canonical form of a `ds:SignedInfo` this module wrote. [`signed_info_xml`] writes it
/// in canonical form already (end tags written out, attribute values escaped as C14N does),
/// and exclusive C14N renders only the namespaces an element visibly uses: every element of a
/// SignedInfo is in `ds` with unprefixed attributes, so its canonical form inside the envelope
/// is the same text with `ds` declared on the SignedInfo.
fn canonical_signed_info(signed_info: &str) -> Vec<u8> {
    signed_info
        .replacen(
            "<ds:SignedInfo>",
            &format!("<ds:SignedInfo xmlns:ds=\"{DS_NS}\">"),
            1,
        )
        .into_bytes()
}

/// `ds:SignedInfo` with one reference per `(wsu:Id, base64 SHA-256 digest)`, written in
/// canonical form (see [`canonical_signed_info`]); empty digests make the template that fixes
/// the Security header's length and place.
fn signed_info_xml(references: &[(&str, String)]) -> String {
    let mut xml = format!(
        "<ds:SignedInfo><ds:CanonicalizationMethod Algorithm=\"{EXC_C14N}\"></ds:CanonicalizationMethod>\
<ds:SignatureMethod Algorithm=\"{RSA_SHA256}\"></ds:SignatureMethod>"
    );
    for (id, digest) in references {
        xml.push_str(&format!(
            "<ds:Reference URI=\"#{id}\"><ds:Transforms><ds:Transform Algorithm=\"{EXC_C14N}\"></ds:Transform></ds:Transforms>\
<ds:DigestMethod Algorithm=\"{SHA256}\"></ds:DigestMethod><ds:DigestValue>{digest}</ds:DigestValue></ds:Reference>",
            id = xml_escape_attr(id)
        ));
    }
    xml.push_str("</ds:SignedInfo>");
    xml
}

// ---------------------------------------------------------------------------
// Verification
// ---------------------------------------------------------------------------

/// What the structural pass found; ids are wsu:Id values.
struct SecurityLayout {
    body_id: String,
    ts_id: String,
    /// wsu:Ids of the signed Header children (every child but the Security header).
    header_ids: Vec<String>,
    created: SystemTime,
    expires: SystemTime,
    expires_text: String,
    created_text: String,
    cert: X509,
    cert_der: Vec<u8>,
}

fn algorithm_attr<'a>(n: RNode<'a, '_>) -> Result<&'a str> {
    n.attribute("Algorithm")
        .ok_or_else(|| malformed(format!("{} without Algorithm", n.tag_name().name())))
}

/// Structural checks on the roxmltree DOM (profile + anti-wrapping).
fn analyse_for_verify(doc: &roxmltree::Document<'_>) -> Result<SecurityLayout> {
    let parts = envelope_parts(doc)?;
    let header = parts
        .header
        .ok_or_else(|| WsSecurityError::Unsigned("no soap:Header".into()))?;
    let securities = children_named(header, WSSE_NS, "Security");
    let security = match securities.as_slice() {
        [] => return Err(WsSecurityError::Unsigned("no wsse:Security header".into())),
        [s] => *s,
        _ => return Err(malformed("more than one wsse:Security header")),
    };
    let ids = collect_ids(doc)?;

    // Comments and processing instructions have no place in a signed message; exclusive C14N
    // drops comments, so a reader that stops at one would see other text than was signed.
    if doc.descendants().any(|n| n.is_comment() || n.is_pi()) {
        return Err(malformed(
            "comments and processing instructions are not accepted in a signed message",
        ));
    }

    // Every other Header child must be signed, and no two may share a name, so that what a
    // reader takes from a header is what was signed.
    let header_parts: Vec<RNode<'_, '_>> = element_children(header)
        .filter(|c| *c != security)
        .collect();
    let mut header_names = std::collections::HashSet::new();
    let mut header_ids = Vec::with_capacity(header_parts.len());
    for part in &header_parts {
        let name = part.tag_name();
        if !header_names.insert((name.namespace(), name.name())) {
            return Err(malformed(format!("more than one {} header", name.name())));
        }
    }
    for part in &header_parts {
        let name = part.tag_name();
        let id = wsu_id(part).ok_or_else(|| {
            WsSecurityError::IncompleteCoverage(format!("header {} is not signed", name.name()))
        })?;
        header_ids.push(id.to_owned());
    }

    // Exactly one ds:Signature anywhere in the Security header, as a direct
    // child, and it must be the first ds:Signature in document order (the one
    // bergshamra verifies).
    let sigs_in_security: Vec<_> = security
        .descendants()
        .filter(|n| is_el(n, DS_NS, "Signature"))
        .collect();
    let sig = match sigs_in_security.as_slice() {
        [] => {
            return Err(WsSecurityError::Unsigned(
                "no ds:Signature in wsse:Security".into(),
            ));
        }
        [s] if s.parent() == Some(security) => *s,
        [_] => {
            return Err(malformed(
                "ds:Signature is not a direct child of wsse:Security",
            ));
        }
        _ => return Err(malformed("more than one ds:Signature in wsse:Security")),
    };
    let first_sig = doc
        .descendants()
        .find(|n| is_el(n, DS_NS, "Signature"))
        .expect("at least one signature exists");
    if first_sig != sig {
        return Err(malformed(
            "a ds:Signature precedes the WS-Security signature in document order",
        ));
    }

    // Timestamp: exactly one, direct child of Security, Created + Expires.
    let ts = single_child(security, WSU_NS, "Timestamp")?;
    let created_el = single_child(ts, WSU_NS, "Created")?;
    let expires_el = single_child(ts, WSU_NS, "Expires")?;
    let created_text = text_of(created_el).trim().to_owned();
    let expires_text = text_of(expires_el).trim().to_owned();
    let created = parse_xsd_datetime(&created_text)?;
    let expires = parse_xsd_datetime(&expires_text)?;
    if created > expires {
        return Err(malformed("wsu:Created is after wsu:Expires"));
    }
    if expires.duration_since(created).unwrap_or_default() > MAX_TTL {
        return Err(WsSecurityError::LifetimeTooLong);
    }

    let body_id = wsu_id(&parts.body)
        .ok_or_else(|| WsSecurityError::IncompleteCoverage("soap:Body has no wsu:Id".into()))?
        .to_owned();
    let ts_id = wsu_id(&ts)
        .ok_or_else(|| WsSecurityError::IncompleteCoverage("wsu:Timestamp has no wsu:Id".into()))?
        .to_owned();

    // SignedInfo / algorithms / references.
    let signed_info = single_child(sig, DS_NS, "SignedInfo")?;
    if element_children(sig).next() != Some(signed_info) {
        return Err(malformed(
            "ds:SignedInfo must be the first child of ds:Signature",
        ));
    }
    single_child(sig, DS_NS, "SignatureValue")?;
    let c14n = single_child(signed_info, DS_NS, "CanonicalizationMethod")?;
    let c14n_alg = algorithm_attr(c14n)?;
    if c14n_alg != EXC_C14N {
        return Err(WsSecurityError::UnsupportedAlgorithm(format!(
            "CanonicalizationMethod {c14n_alg}"
        )));
    }
    let sm = single_child(signed_info, DS_NS, "SignatureMethod")?;
    let sm_alg = algorithm_attr(sm)?;
    if !ACCEPTED_SIGNATURE_METHODS.contains(&sm_alg) {
        return Err(WsSecurityError::UnsupportedAlgorithm(format!(
            "SignatureMethod {sm_alg}"
        )));
    }
    if element_children(sm).next().is_some() {
        return Err(malformed("unexpected child of ds:SignatureMethod"));
    }
    for child in element_children(signed_info) {
        let ok = is_el(&child, DS_NS, "CanonicalizationMethod")
            || is_el(&child, DS_NS, "SignatureMethod")
            || is_el(&child, DS_NS, "Reference");
        if !ok {
            return Err(malformed(format!(
                "unexpected element {} in ds:SignedInfo",
                child.tag_name().name()
            )));
        }
    }
    let refs = children_named(signed_info, DS_NS, "Reference");
    let mut covers_body = 0;
    let mut covers_ts = 0;
    let mut covers_header = vec![0usize; header_parts.len()];
    for r in &refs {
        let uri = r.attribute("URI").ok_or_else(|| {
            WsSecurityError::IncompleteCoverage("ds:Reference without URI".into())
        })?;
        let id = uri
            .strip_prefix('#')
            .filter(|id| !id.is_empty() && !id.contains(['(', ')', '#', ' ', '\'']))
            .ok_or_else(|| {
                WsSecurityError::IncompleteCoverage(format!(
                    "only bare same-document #id references are accepted, got {uri:?}"
                ))
            })?;
        let target = ids
            .get(id)
            .and_then(|nid| doc.get_node(*nid))
            .ok_or_else(|| {
                WsSecurityError::IncompleteCoverage(format!("reference {uri} resolves to nothing"))
            })?;
        if target == parts.body && id == body_id {
            covers_body += 1;
        } else if target == ts && id == ts_id {
            covers_ts += 1;
        } else if let Some(index) = header_parts
            .iter()
            .position(|part| *part == target && wsu_id(part) == Some(id))
        {
            covers_header[index] += 1;
        } else {
            return Err(WsSecurityError::IncompleteCoverage(format!(
                "reference {uri} points at <{}>, which is neither the envelope's soap:Body, \
                 a soap:Header child, nor the Security header's wsu:Timestamp",
                target.tag_name().name()
            )));
        }
        // Transforms: exactly one, exclusive C14N (InclusiveNamespaces allowed).
        let transforms = single_child(*r, DS_NS, "Transforms")?;
        let tlist: Vec<_> = element_children(transforms).collect();
        match tlist.as_slice() {
            [t] if is_el(t, DS_NS, "Transform") && algorithm_attr(*t)? == EXC_C14N => {
                if element_children(*t).any(|c| c.tag_name().name() != "InclusiveNamespaces") {
                    return Err(malformed("unexpected child of exc-c14n ds:Transform"));
                }
            }
            _ => {
                return Err(WsSecurityError::UnsupportedAlgorithm(format!(
                    "reference {uri}: exactly one exclusive-C14N transform is required"
                )));
            }
        }
        let dm = single_child(*r, DS_NS, "DigestMethod")?;
        let dm_alg = algorithm_attr(dm)?;
        if !ACCEPTED_DIGEST_METHODS.contains(&dm_alg) {
            return Err(WsSecurityError::UnsupportedAlgorithm(format!(
                "DigestMethod {dm_alg}"
            )));
        }
        single_child(*r, DS_NS, "DigestValue")?;
    }
    if covers_body != 1 || covers_ts != 1 || refs.len() != 2 + header_parts.len() {
        return Err(WsSecurityError::IncompleteCoverage(format!(
            "expected exactly one reference to soap:Body, one to wsu:Timestamp and one to each \
             header ({} references, body {covers_body}, timestamp {covers_ts}, {} headers)",
            refs.len(),
            header_parts.len()
        )));
    }
    if let Some(index) = covers_header.iter().position(|count| *count != 1) {
        return Err(WsSecurityError::IncompleteCoverage(format!(
            "header {} is not signed exactly once",
            header_parts[index].tag_name().name()
        )));
    }

    // KeyInfo -> STR -> BST in this Security header.
    let key_info = single_child(sig, DS_NS, "KeyInfo")
        .map_err(|e| WsSecurityError::Key(format!("KeyInfo: {e}")))?;
    let str_el = single_child(key_info, WSSE_NS, "SecurityTokenReference").map_err(|_| {
        WsSecurityError::Key(
            "ds:KeyInfo must contain exactly one wsse:SecurityTokenReference".into(),
        )
    })?;
    let str_ref = single_child(str_el, WSSE_NS, "Reference").map_err(|_| {
        WsSecurityError::Key(
            "wsse:SecurityTokenReference must contain exactly one wsse:Reference (direct reference)"
                .into(),
        )
    })?;
    if let Some(vt) = str_ref.attribute("ValueType")
        && vt != X509V3_VALUE_TYPE
    {
        return Err(WsSecurityError::Key(format!(
            "unsupported token ValueType {vt}"
        )));
    }
    let bst_uri = str_ref
        .attribute("URI")
        .ok_or_else(|| WsSecurityError::Key("wsse:Reference without URI".into()))?;
    let bst_id = bst_uri
        .strip_prefix('#')
        .ok_or_else(|| WsSecurityError::Key(format!("token reference {bst_uri:?} is not local")))?;
    let bst = ids
        .get(bst_id)
        .and_then(|nid| doc.get_node(*nid))
        .ok_or_else(|| WsSecurityError::Key(format!("token {bst_uri} not found")))?;
    if !is_el(&bst, WSSE_NS, "BinarySecurityToken") || bst.parent() != Some(security) {
        return Err(WsSecurityError::Key(format!(
            "token {bst_uri} is not a wsse:BinarySecurityToken of this wsse:Security header"
        )));
    }
    if bst.attribute("ValueType") != Some(X509V3_VALUE_TYPE) {
        return Err(WsSecurityError::Key(
            "BinarySecurityToken ValueType must be X509v3".into(),
        ));
    }
    if let Some(enc) = bst.attribute("EncodingType")
        && enc != BASE64_ENCODING
    {
        return Err(WsSecurityError::Key(format!(
            "unsupported EncodingType {enc}"
        )));
    }
    let b64: String = text_of(bst)
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let cert_der = base64::engine::general_purpose::STANDARD
        .decode(b64.as_bytes())
        .map_err(|e| WsSecurityError::Key(format!("BinarySecurityToken base64: {e}")))?;
    let cert = super::x509::parse_der(&cert_der)
        .map_err(ssl_key_err("BinarySecurityToken certificate"))?;

    Ok(SecurityLayout {
        body_id,
        ts_id,
        header_ids,
        created,
        expires,
        expires_text,
        created_text,
        cert,
        cert_der,
    })
}

/// The signer must chain to the anchors at `now`, not be revoked, and hold a certificate meant
/// for signing messages.
fn verify_chain(cert: &X509, trust: &TrustAnchors, now: SystemTime) -> Result<()> {
    super::x509::verify_chain_and_revocation_at(
        &trust.certs,
        cert,
        Vec::new(),
        unix_secs(now)?,
        None,
        &trust.revocation,
    )
    .map_err(|error| WsSecurityError::UntrustedSigner(error.to_string()))?;
    super::x509::check_message_signer(cert)
        .map_err(|error| WsSecurityError::UntrustedSigner(error.to_string()))
}

/// Cross-check bergshamra's verified references on its own (uppsala) DOM.
fn check_on_uppsala(
    udoc: &uppsala::Document<'_>,
    signature_node: uppsala::NodeId,
    references: &[bergshamra::VerifiedReference],
    layout: &SecurityLayout,
) -> Result<()> {
    let cov = |m: &str| WsSecurityError::IncompleteCoverage(m.to_owned());
    let is = |id: uppsala::NodeId, ns: &str, local: &str| {
        udoc.element(id)
            .is_some_and(|e| e.matches_name_ns(ns, local))
    };
    let env = udoc
        .document_element()
        .ok_or_else(|| cov("no document element"))?;
    if !is(env, SOAP11_NS, "Envelope") || udoc.parent(env) != Some(udoc.root()) {
        return Err(cov("document element is not soap:Envelope"));
    }
    let bodies = udoc
        .children(env)
        .into_iter()
        .filter(|c| is(*c, SOAP11_NS, "Body"))
        .count();
    if bodies != 1 {
        return Err(cov(
            "Envelope does not have exactly one Body (uppsala view)",
        ));
    }
    // Signature -> Security -> Header -> Envelope
    let security = udoc
        .parent(signature_node)
        .ok_or_else(|| cov("orphan Signature"))?;
    let header = udoc
        .parent(security)
        .ok_or_else(|| cov("orphan Security"))?;
    if !is(signature_node, DS_NS, "Signature")
        || !is(security, WSSE_NS, "Security")
        || !is(header, SOAP11_NS, "Header")
        || udoc.parent(header) != Some(env)
    {
        return Err(cov(
            "verified signature is not Envelope/Header/Security/Signature",
        ));
    }
    let header_parts: Vec<uppsala::NodeId> = udoc
        .children(header)
        .into_iter()
        .filter(|c| udoc.element(*c).is_some() && *c != security)
        .collect();
    if header_parts.len() != layout.header_ids.len() {
        return Err(cov("the Header has other children than were analysed"));
    }
    if references.len() != 2 + layout.header_ids.len() {
        return Err(cov("verified references do not match the signed parts"));
    }
    let (mut body_ok, mut ts_ok) = (false, false);
    let mut headers_ok = vec![false; layout.header_ids.len()];
    for r in references {
        if !r.digest_verified {
            return Err(cov("a reference digest was not verified locally"));
        }
        let node = r
            .resolved_node
            .ok_or_else(|| cov("reference did not resolve to a node"))?;
        let id = udoc.get_attribute_ns(node, WSU_NS, "Id");
        let parent = udoc.parent(node);
        if is(node, SOAP11_NS, "Body")
            && parent == Some(env)
            && id == Some(layout.body_id.as_str())
            && r.uri == format!("#{}", layout.body_id)
        {
            body_ok = true;
        } else if is(node, WSU_NS, "Timestamp")
            && parent == Some(security)
            && id == Some(layout.ts_id.as_str())
            && r.uri == format!("#{}", layout.ts_id)
        {
            ts_ok = true;
        } else if let Some(index) = layout
            .header_ids
            .iter()
            .position(|h| id == Some(h.as_str()) && r.uri == format!("#{h}"))
            .filter(|_| parent == Some(header) && header_parts.contains(&node))
        {
            if std::mem::replace(&mut headers_ok[index], true) {
                return Err(cov("a header is referenced twice"));
            }
        } else {
            return Err(cov(&format!(
                "verified reference {} is neither the real Body, a Header child, nor the Timestamp",
                r.uri
            )));
        }
    }
    if body_ok && ts_ok && headers_ok.iter().all(|ok| *ok) {
        Ok(())
    } else {
        Err(cov("Body and Timestamp are not both covered"))
    }
}

/// Verify a WS-Security signed SOAP 1.1 envelope (see the module docs for the
/// profile). `now` is used both for the Timestamp window and for certificate
/// validity.
pub fn verify_envelope(
    envelope_xml: &str,
    trust: &TrustAnchors,
    now: SystemTime,
) -> Result<VerifiedEnvelope> {
    verify_envelope_within(envelope_xml, trust, now, MAX_ENVELOPE_BYTES)
}

/// [`verify_envelope`] for an envelope allowed to be larger than [`MAX_ENVELOPE_BYTES`], such
/// as a registry's answer under its adapter's `max_answer_bytes`.
pub fn verify_envelope_within(
    envelope_xml: &str,
    trust: &TrustAnchors,
    now: SystemTime,
    max_bytes: usize,
) -> Result<VerifiedEnvelope> {
    // 1. Guarded pre-parse + structural / anti-wrapping analysis.
    let layout = {
        let doc = parse_guarded(envelope_xml, max_bytes)?;
        analyse_for_verify(&doc)?
    };

    // 2. Certificate: RSA >= 2048, chains to anchors, valid at `now`.
    let pubkey = layout
        .cert
        .public_key()
        .map_err(ssl_key_err("certificate public key"))?;
    if pubkey.id() != PKeyId::RSA || pubkey.bits() < MIN_RSA_BITS {
        return Err(WsSecurityError::Key(format!(
            "signer key must be RSA >= {MIN_RSA_BITS} bits"
        )));
    }
    verify_chain(&layout.cert, trust, now)?;

    // 3. Cryptographic verification by bergshamra with *only* the BST key.
    let key = trust.signer_key(&layout.cert_der, &pubkey)?;
    let mut km = bergshamra::KeysManager::new();
    km.add_key(key);
    // Secure defaults (trusted_keys_only: document-embedded keys are never
    // used; digests must be verified locally). Strict positional mode is
    // switched off because soap:Body is neither an ancestor nor a sibling of
    // the Signature in WSS; the equivalent (stronger) positional checks are
    // done in analyse_for_verify and check_on_uppsala.
    let ctx = bergshamra::DsigContext::new(km)
        .with_strict_verification(false)
        .with_require_reference_digests(true);
    let udoc = uppsala::parse(envelope_xml)
        .map_err(|e| malformed(format!("XML parse error (uppsala): {e}")))?;
    let result =
        bergshamra::dsig::verify::verify_document_with_source(&ctx, &udoc, Some(envelope_xml))
            .map_err(|e| match e {
                bergshamra::Error::XmlStructure(m) if m.contains("duplicate ID") => {
                    WsSecurityError::DuplicateId(m)
                }
                other => WsSecurityError::BadSignature(other.to_string()),
            })?;
    match result {
        bergshamra::VerifyResult::Valid {
            signature_node,
            references,
            ..
        } => check_on_uppsala(&udoc, signature_node, &references, &layout)?,
        bergshamra::VerifyResult::Invalid { reason } => {
            return Err(WsSecurityError::BadSignature(reason));
        }
    }

    // 4. Timestamp window (only meaningful once the Timestamp is authentic).
    if layout.expires <= now {
        return Err(WsSecurityError::Expired(layout.expires_text));
    }
    if layout.created > now + CLOCK_SKEW {
        return Err(WsSecurityError::NotYetValid(layout.created_text));
    }

    Ok(VerifiedEnvelope {
        signer_subject: name_to_string(layout.cert.subject_name()),
        signer_certificate_der: layout.cert_der,
        expires: layout.expires,
    })
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use openssl::asn1::Asn1Time;
    use openssl::bn::BigNum;
    use openssl::hash::MessageDigest;
    use openssl::rsa::Rsa;
    use openssl::x509::X509NameBuilder;
    use openssl::x509::extension::{BasicConstraints, KeyUsage};

    pub(crate) struct Pki {
        pub ca_pem: Vec<u8>,
        pub leaf_key_pem: Vec<u8>,
        pub leaf_cert_pem: Vec<u8>,
    }

    fn name(cn: &str) -> openssl::x509::X509Name {
        let mut b = X509NameBuilder::new().unwrap();
        b.append_entry_by_text("C", "BR").unwrap();
        b.append_entry_by_text("O", "esocial-hub test").unwrap();
        b.append_entry_by_text("CN", cn).unwrap();
        b.build()
    }

    /// Throwaway CA + leaf (RSA 2048), valid from yesterday for one year.
    pub(crate) fn make_pki(tag: &str) -> Pki {
        let ca_key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let leaf_key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let yesterday =
            Asn1Time::from_unix(unix_secs(SystemTime::now()).unwrap() - 86_400).unwrap();
        let na = Asn1Time::days_from_now(365).unwrap();

        let mut cb = X509::builder().unwrap();
        cb.set_version(2).unwrap();
        cb.set_serial_number(&BigNum::from_u32(1).unwrap().to_asn1_integer().unwrap())
            .unwrap();
        let ca_name = name(&format!("Test CA {tag}"));
        cb.set_subject_name(&ca_name).unwrap();
        cb.set_issuer_name(&ca_name).unwrap();
        cb.set_pubkey(&ca_key).unwrap();
        cb.set_not_before(&yesterday).unwrap();
        cb.set_not_after(&na).unwrap();
        cb.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
            .unwrap();
        cb.append_extension(
            KeyUsage::new()
                .critical()
                .key_cert_sign()
                .crl_sign()
                .build()
                .unwrap(),
        )
        .unwrap();
        cb.sign(&ca_key, MessageDigest::sha256()).unwrap();
        let ca = cb.build();

        let mut lb = X509::builder().unwrap();
        lb.set_version(2).unwrap();
        lb.set_serial_number(&BigNum::from_u32(2).unwrap().to_asn1_integer().unwrap())
            .unwrap();
        lb.set_subject_name(&name(&format!("client {tag}")))
            .unwrap();
        lb.set_issuer_name(ca.subject_name()).unwrap();
        lb.set_pubkey(&leaf_key).unwrap();
        lb.set_not_before(&yesterday).unwrap();
        lb.set_not_after(&na).unwrap();
        lb.append_extension(BasicConstraints::new().build().unwrap())
            .unwrap();
        lb.append_extension(
            KeyUsage::new()
                .critical()
                .digital_signature()
                .non_repudiation()
                .build()
                .unwrap(),
        )
        .unwrap();
        lb.sign(&ca_key, MessageDigest::sha256()).unwrap();
        let leaf = lb.build();

        Pki {
            ca_pem: ca.to_pem().unwrap(),
            leaf_key_pem: leaf_key.private_key_to_pem_pkcs8().unwrap(),
            leaf_cert_pem: leaf.to_pem().unwrap(),
        }
    }

    pub(crate) const ENVELOPE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:mc="https://mconnect.gov.md">
  <soapenv:Header><mc:CallBasis>Legea nr. 123/2010, art. 12</mc:CallBasis></soapenv:Header>
  <soapenv:Body>
    <civ:GetPersonDetailsRequest xmlns:civ="urn:md:gov:asp:civil:v1">
      <civ:IDNP>2000000000004</civ:IDNP>
    </civ:GetPersonDetailsRequest>
  </soapenv:Body>
</soapenv:Envelope>"#;

    fn setup() -> (Pki, SigningIdentity, TrustAnchors) {
        let pki = make_pki("A");
        let id = SigningIdentity::from_pem(&pki.leaf_key_pem, &pki.leaf_cert_pem).unwrap();
        let trust = TrustAnchors::from_pem(&pki.ca_pem).unwrap();
        (pki, id, trust)
    }

    fn signed() -> (String, TrustAnchors, SystemTime, SigningIdentity) {
        let (_pki, id, trust) = setup();
        let now = SystemTime::now();
        let s = sign_envelope(ENVELOPE, &id, now, DEFAULT_TTL).unwrap();
        (s, trust, now, id)
    }

    #[test]
    fn signed_info_is_written_in_the_canonical_form_c14n_gives_it() {
        let odd = "a&b<c\"d>e'f\tg\nh\ri";
        let references = [("TS-1", "ZGlnZXN0".to_owned()), (odd, String::new())];
        let written = signed_info_xml(&references);
        let standalone = written.replacen(
            "<ds:SignedInfo>",
            &format!("<ds:SignedInfo xmlns:ds=\"{DS_NS}\">"),
            1,
        );
        let doc = uppsala::parse(&standalone).unwrap();
        assert_eq!(
            String::from_utf8(exclusive_c14n(&doc, None).unwrap()).unwrap(),
            String::from_utf8(canonical_signed_info(&written)).unwrap()
        );
    }

    #[test]
    fn datetime_roundtrip() {
        let t = UNIX_EPOCH + Duration::from_secs(1_795_428_000); // 2026-11-23T10:00:00Z
        assert_eq!(format_utc(t).unwrap(), "2026-11-23T10:00:00Z");
        assert_eq!(parse_xsd_datetime("2026-11-23T10:00:00Z").unwrap(), t);
        assert_eq!(parse_xsd_datetime("2026-11-23T07:00:00-03:00").unwrap(), t);
        assert_eq!(
            parse_xsd_datetime("2026-11-23T10:00:00.250Z").unwrap(),
            t + Duration::from_millis(250)
        );
        assert!(parse_xsd_datetime("2026-11-23T10:00:00").is_err());
        assert!(parse_xsd_datetime("2026-02-30T10:00:00Z").is_err());
        assert_eq!(format_utc(UNIX_EPOCH).unwrap(), "1970-01-01T00:00:00Z");
        assert_eq!(
            format_utc(parse_xsd_datetime("2000-02-29T23:59:59Z").unwrap()).unwrap(),
            "2000-02-29T23:59:59Z"
        );
    }

    #[test]
    fn round_trip() {
        let (s, trust, now, id) = signed();
        assert!(s.contains("wsse:BinarySecurityToken"));
        let v = verify_envelope(&s, &trust, now).expect("verifies");
        assert_eq!(v.signer_certificate_der, id.certificate_der());
        assert!(
            v.signer_subject.contains("CN=client A"),
            "{}",
            v.signer_subject
        );
        assert!(v.expires > now);
        // still fine near the end of the window, and with created slightly ahead
        verify_envelope(&s, &trust, now + Duration::from_secs(14 * 60)).unwrap();
        verify_envelope(&s, &trust, now - Duration::from_secs(4 * 60)).unwrap();
    }

    #[test]
    fn round_trip_without_header_and_default_ns() {
        let (_pki, id, trust) = setup();
        let env = r#"<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/"><Body><x xmlns="urn:x" a="1&gt;2">t</x></Body></Envelope>"#;
        let now = SystemTime::now();
        let s = sign_envelope(env, &id, now, DEFAULT_TTL).unwrap();
        verify_envelope(&s, &trust, now).unwrap();
        // Body with existing wsu:Id and self-closing Header
        let env2 = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:u="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"><s:Header /><s:Body u:Id="_body1"><y/></s:Body></s:Envelope>"#;
        let s2 = sign_envelope(env2, &id, now, DEFAULT_TTL).unwrap();
        assert!(s2.contains("URI=\"#_body1\""));
        verify_envelope(&s2, &trust, now).unwrap();
    }

    #[test]
    fn tampered_body_fails() {
        let (s, trust, now, _) = signed();
        let t = s.replace(
            "<civ:IDNP>2000000000004</civ:IDNP>",
            "<civ:IDNP>1008600038413</civ:IDNP>",
        );
        assert_ne!(t, s);
        let e = verify_envelope(&t, &trust, now).unwrap_err();
        assert!(matches!(e, WsSecurityError::BadSignature(_)), "{e:?}");
    }

    #[test]
    fn tampered_timestamp_fails() {
        let (s, trust, now, _) = signed();
        let start = s.find("<wsu:Expires>").unwrap() + "<wsu:Expires>".len();
        let end = s.find("</wsu:Expires>").unwrap();
        let later = format_utc(now + Duration::from_secs(3600)).unwrap();
        let mut t = s.clone();
        t.replace_range(start..end, &later);
        assert_ne!(t, s);
        let e = verify_envelope(&t, &trust, now).unwrap_err();
        assert!(matches!(e, WsSecurityError::BadSignature(_)), "{e:?}");
    }

    #[test]
    fn tampered_signature_value_fails() {
        let (s, trust, now, _) = signed();
        let i = s.find("<ds:SignatureValue>").unwrap() + "<ds:SignatureValue>".len();
        let mut t = s.clone();
        let c = if &s[i..i + 1] == "A" { "B" } else { "A" };
        t.replace_range(i..i + 1, c);
        let e = verify_envelope(&t, &trust, now).unwrap_err();
        assert!(matches!(e, WsSecurityError::BadSignature(_)), "{e:?}");
    }

    #[test]
    fn expired_fails() {
        let (s, trust, now, _) = signed();
        let e = verify_envelope(&s, &trust, now + Duration::from_secs(16 * 60)).unwrap_err();
        assert!(matches!(e, WsSecurityError::Expired(_)), "{e:?}");
    }

    #[test]
    fn not_yet_valid_fails() {
        let (s, trust, now, _) = signed();
        let e = verify_envelope(&s, &trust, now - Duration::from_secs(6 * 60)).unwrap_err();
        assert!(matches!(e, WsSecurityError::NotYetValid(_)), "{e:?}");
    }

    #[test]
    fn other_ca_is_untrusted() {
        let (s, _trust, now, _) = signed();
        let other = make_pki("B");
        let other_trust = TrustAnchors::from_pem(&other.ca_pem).unwrap();
        let e = verify_envelope(&s, &other_trust, now).unwrap_err();
        assert!(matches!(e, WsSecurityError::UntrustedSigner(_)), "{e:?}");

        // signed by a key/cert from another CA, verified against CA A
        let (_pki, _id, trust_a) = setup();
        let id_b = SigningIdentity::from_pem(&other.leaf_key_pem, &other.leaf_cert_pem).unwrap();
        let sb = sign_envelope(ENVELOPE, &id_b, now, DEFAULT_TTL).unwrap();
        let e = verify_envelope(&sb, &trust_a, now).unwrap_err();
        assert!(matches!(e, WsSecurityError::UntrustedSigner(_)), "{e:?}");
    }

    #[test]
    fn expired_certificate_is_untrusted() {
        let (s, trust, now, _) = signed();
        // two years later the leaf has expired (checked before the timestamp)
        let later = now + Duration::from_secs(2 * 365 * 86_400);
        let e = verify_envelope(&s, &trust, later).unwrap_err();
        match e {
            WsSecurityError::UntrustedSigner(m) => assert!(m.contains("expired"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn swapped_certificate_fails() {
        // Replace the BST with a certificate the verifier trusts but whose key
        // did not sign: must be BadSignature (key comes only from the BST).
        let (s, trust, now, id) = signed();
        let pki_c = make_pki("C");
        let id_c = SigningIdentity::from_pem(&pki_c.leaf_key_pem, &pki_c.leaf_cert_pem).unwrap();
        let b64 = |d: &[u8]| base64::engine::general_purpose::STANDARD.encode(d);
        let t = s.replace(&b64(id.certificate_der()), &b64(id_c.certificate_der()));
        let both =
            TrustAnchors::from_pem(&[trust_pem(&trust), pki_c.ca_pem.clone()].concat()).unwrap();
        let e = verify_envelope(&t, &both, now).unwrap_err();
        assert!(matches!(e, WsSecurityError::BadSignature(_)), "{e:?}");
    }

    fn trust_pem(t: &TrustAnchors) -> Vec<u8> {
        t.certs.iter().flat_map(|c| c.to_pem().unwrap()).collect()
    }

    #[test]
    fn unsigned_fails() {
        let (_pki, _id, trust) = setup();
        let e = verify_envelope(ENVELOPE, &trust, SystemTime::now()).unwrap_err();
        assert!(matches!(e, WsSecurityError::Unsigned(_)), "{e:?}");
        let no_header = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body/></s:Envelope>"#;
        let e = verify_envelope(no_header, &trust, SystemTime::now()).unwrap_err();
        assert!(matches!(e, WsSecurityError::Unsigned(_)), "{e:?}");
        // Security header without signature
        let (s, trust, now, _) = signed();
        let a = s.find("<ds:Signature ").unwrap();
        let b = s.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
        let mut t = s.clone();
        t.replace_range(a..b, "");
        let e = verify_envelope(&t, &trust, now).unwrap_err();
        assert!(matches!(e, WsSecurityError::Unsigned(_)), "{e:?}");
    }

    #[test]
    fn doctype_refused() {
        let (s, trust, now, id) = signed();
        let with_dtd = format!(
            "<!DOCTYPE x [<!ENTITY e \"boom\">]>\n{}",
            s.split_once("?>").unwrap().1
        );
        let e = verify_envelope(&with_dtd, &trust, now).unwrap_err();
        assert!(matches!(e, WsSecurityError::DtdForbidden), "{e:?}");
        let empty_dtd = format!(
            "<?xml version=\"1.0\"?><!DOCTYPE Envelope>{}",
            s.split_once("?>").unwrap().1
        );
        let e = verify_envelope(&empty_dtd, &trust, now).unwrap_err();
        assert!(matches!(e, WsSecurityError::DtdForbidden), "{e:?}");
        let e = sign_envelope(&with_dtd, &id, now, DEFAULT_TTL).unwrap_err();
        assert!(matches!(e, WsSecurityError::DtdForbidden), "{e:?}");
    }

    #[test]
    fn limits() {
        let (_pki, id, trust) = setup();
        let now = SystemTime::now();
        let mut deep = String::from(
            r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>"#,
        );
        deep.push_str(&"<a>".repeat(100));
        deep.push_str(&"</a>".repeat(100));
        deep.push_str("</s:Body></s:Envelope>");
        let e = verify_envelope(&deep, &trust, now).unwrap_err();
        assert!(matches!(e, WsSecurityError::TooDeep(_)), "{e:?}");
        let e = sign_envelope(&deep, &id, now, DEFAULT_TTL).unwrap_err();
        assert!(matches!(e, WsSecurityError::TooDeep(_)), "{e:?}");
        // very deep input must not blow the stack either
        let very = format!("{}{}", "<a>".repeat(200_000), "</a>".repeat(200_000));
        assert!(verify_envelope(&very, &trust, now).is_err());
        let big = format!(
            r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><a>{}</a></s:Body></s:Envelope>"#,
            "x".repeat(MAX_ENVELOPE_BYTES)
        );
        let e = verify_envelope(&big, &trust, now).unwrap_err();
        assert!(matches!(e, WsSecurityError::TooLarge(_)), "{e:?}");
    }

    #[test]
    fn a_larger_envelope_verifies_only_under_a_larger_limit() {
        let (_pki, id, trust) = setup();
        let now = SystemTime::now();
        let document = "JVBERi0x".repeat(MAX_ENVELOPE_BYTES / 8 + 1);
        let large = ENVELOPE.replace(
            "</civ:GetPersonDetailsRequest>",
            &format!("<doc>{document}</doc></civ:GetPersonDetailsRequest>"),
        );
        let signed = sign_envelope(&large, &id, now, DEFAULT_TTL).unwrap();
        let e = verify_envelope(&signed, &trust, now).unwrap_err();
        assert!(matches!(e, WsSecurityError::TooLarge(_)), "{e:?}");
        verify_envelope_within(&signed, &trust, now, 2 * MAX_ENVELOPE_BYTES).expect("verifies");
        let e = verify_envelope_within(&signed, &trust, now, signed.len() - 1).unwrap_err();
        assert!(matches!(e, WsSecurityError::TooLarge(_)), "{e:?}");
    }

    /// Classic XSW: the signed Body is moved into a header (or a wrapper) and
    /// a new, unsigned Body takes its place.
    #[test]
    fn signature_wrapping_fails() {
        let (s, trust, now, _) = signed();
        let bs = s.find("<soapenv:Body").unwrap();
        let be = s.find("</soapenv:Body>").unwrap() + "</soapenv:Body>".len();
        let signed_body = s[bs..be].to_owned();
        let evil_body =
            "<soapenv:Body><x:Forged xmlns:x=\"urn:evil\">forged</x:Forged></soapenv:Body>";

        // (a) original Body moved into a wrapper header element, keeping its Id
        let mut a = s.clone();
        a.replace_range(bs..be, evil_body);
        let a = a.replacen(
            "<soapenv:Header>",
            &format!("<soapenv:Header><Wrapper xmlns=\"urn:w\">{signed_body}</Wrapper>"),
            1,
        );
        let e = verify_envelope(&a, &trust, now).unwrap_err();
        assert!(matches!(e, WsSecurityError::IncompleteCoverage(_)), "{e:?}");

        // (b) new Body reuses the same wsu:Id -> duplicate ID
        let id_attr_start = signed_body.find("wsu:Id=").unwrap();
        let id_attr_end = signed_body[id_attr_start..].find('"').unwrap() + id_attr_start + 1;
        let id_attr_end = signed_body[id_attr_end..].find('"').unwrap() + id_attr_end + 1;
        let id_attr = &signed_body[id_attr_start..id_attr_end];
        let evil_body_same_id = format!(
            "<soapenv:Body xmlns:wsu=\"{WSU_NS}\" {id_attr}><x:Forged xmlns:x=\"urn:evil\">forged</x:Forged></soapenv:Body>"
        );
        let mut b = s.clone();
        b.replace_range(bs..be, &evil_body_same_id);
        let b = b.replacen(
            "<soapenv:Header>",
            &format!("<soapenv:Header><Wrapper xmlns=\"urn:w\">{signed_body}</Wrapper>"),
            1,
        );
        let e = verify_envelope(&b, &trust, now).unwrap_err();
        assert!(matches!(e, WsSecurityError::DuplicateId(_)), "{e:?}");

        // (c) original Body appended as a second Envelope child after a new Body
        let mut c = s.clone();
        c.replace_range(bs..be, &format!("{evil_body}{signed_body}"));
        let e = verify_envelope(&c, &trust, now).unwrap_err();
        assert!(matches!(e, WsSecurityError::Malformed(_)), "{e:?}");

        // (e) like (a) but the new Body has its own wsu:Id: the Body reference
        // now resolves to the moved element, which is not the real Body.
        let evil_body_own_id = format!(
            "<soapenv:Body xmlns:wsu=\"{WSU_NS}\" wsu:Id=\"evil\"><x:Forged xmlns:x=\"urn:evil\">forged</x:Forged></soapenv:Body>"
        );
        let mut e_ = s.clone();
        e_.replace_range(bs..be, &evil_body_own_id);
        let e_ = e_.replacen(
            "<soapenv:Header>",
            &format!("<soapenv:Header><Wrapper xmlns=\"urn:w\">{signed_body}</Wrapper>"),
            1,
        );
        match verify_envelope(&e_, &trust, now).unwrap_err() {
            WsSecurityError::IncompleteCoverage(m) => {
                assert!(m.contains("neither") || m.contains("is not signed"), "{m}")
            }
            other => panic!("{other:?}"),
        }

        // (d) signed Body moved inside the new Body
        let mut d = s.clone();
        d.replace_range(
            bs..be,
            &format!(
                "<soapenv:Body><Wrapper xmlns=\"urn:w\">{signed_body}</Wrapper></soapenv:Body>"
            ),
        );
        let e = verify_envelope(&d, &trust, now).unwrap_err();
        assert!(matches!(e, WsSecurityError::IncompleteCoverage(_)), "{e:?}");
    }

    #[test]
    fn timestamp_wrapping_fails() {
        // Signed Timestamp moved out of the Security header, fresh one inserted.
        let (s, trust, now, _) = signed();
        let ts = s.find("<wsu:Timestamp").unwrap();
        let te = s.find("</wsu:Timestamp>").unwrap() + "</wsu:Timestamp>".len();
        let signed_ts = s[ts..te].to_owned();
        let mut t = s.clone();
        t.replace_range(
            ts..te,
            "<wsu:Timestamp wsu:Id=\"TS-evil\"><wsu:Created>2099-01-01T00:00:00Z</wsu:Created><wsu:Expires>2099-01-01T00:05:00Z</wsu:Expires></wsu:Timestamp>",
        );
        let t = t.replacen(
            "<soapenv:Header>",
            &format!("<soapenv:Header><W xmlns=\"urn:w\" xmlns:wsu=\"{WSU_NS}\">{signed_ts}</W>"),
            1,
        );
        match verify_envelope(&t, &trust, now).unwrap_err() {
            WsSecurityError::IncompleteCoverage(m) => {
                assert!(m.contains("neither") || m.contains("is not signed"), "{m}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rejects_bad_identity() {
        let a = make_pki("A");
        let b = make_pki("B");
        let e = SigningIdentity::from_pem(&a.leaf_key_pem, &b.leaf_cert_pem).unwrap_err();
        assert!(matches!(e, WsSecurityError::Key(_)), "{e:?}");
        assert!(TrustAnchors::from_pem(b"").is_err());
    }

    #[test]
    fn body_with_its_own_enveloped_signature() {
        // Payloads may carry their own enveloped ds:Signature and Id attributes;
        // they must not confuse signing or verification.
        let (_pki, id, trust) = setup();
        let env = r##"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><evt Id="ID1234"><x>1</x><Signature xmlns="http://www.w3.org/2000/09/xmldsig#"><SignedInfo><CanonicalizationMethod Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315"/><SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><Reference URI="#ID1234"><DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><DigestValue>AAAA</DigestValue></Reference></SignedInfo><SignatureValue>AAAA</SignatureValue><KeyInfo><X509Data><X509Certificate>AAAA</X509Certificate></X509Data></KeyInfo></Signature></evt></soapenv:Body></soapenv:Envelope>"##;
        let now = SystemTime::now();
        let s = sign_envelope(env, &id, now, DEFAULT_TTL).unwrap();
        assert!(s.contains("<DigestValue>AAAA</DigestValue>"));
        verify_envelope(&s, &trust, now).unwrap();
    }

    #[test]
    fn signing_leaves_the_payload_as_it_was() {
        let (_pki, id, trust) = setup();
        // An empty ds:KeyValue is what a template signer would fill in.
        let body = r#"<soapenv:Body><ds:KeyValue xmlns:ds="http://www.w3.org/2000/09/xmldsig#"/></soapenv:Body>"#;
        let env = format!(
            r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">{body}</soapenv:Envelope>"#
        );
        let now = SystemTime::now();

        let signed = sign_envelope(&env, &id, now, DEFAULT_TTL).unwrap();

        assert!(signed.contains(
            r#"<ds:KeyValue xmlns:ds="http://www.w3.org/2000/09/xmldsig#"/></soapenv:Body>"#
        ));
        verify_envelope(&signed, &trust, now).unwrap();
    }

    /// Known limitation (bergshamra 0.11.1 rejects duplicate ID-like values
    /// unconditionally, and so do we): a payload that repeats an `Id` value,
    /// e.g. a batch whose wrapper `Id` equals an inner record's `Id`,
    /// cannot be signed or verified.
    #[test]
    fn repeated_payload_id_is_refused() {
        let (_pki, id, _trust) = setup();
        let env = r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><batch><item Id="ID1"><record><entry Id="ID1"/></record></item></batch></soapenv:Body></soapenv:Envelope>"#;
        let e = sign_envelope(env, &id, SystemTime::now(), DEFAULT_TTL).unwrap_err();
        assert!(matches!(e, WsSecurityError::DuplicateId(_)), "{e:?}");
    }

    #[test]
    fn refuses_double_signing() {
        let (s, _trust, now, id) = signed();
        let e = sign_envelope(&s, &id, now, DEFAULT_TTL).unwrap_err();
        assert!(matches!(e, WsSecurityError::Malformed(_)), "{e:?}");
    }

    #[test]
    fn every_header_is_signed_and_bound() {
        let (s, trust, now, _) = signed();
        verify_envelope(&s, &trust, now).unwrap();
        // Four references: the Timestamp, the one MConnect header and the Body.
        assert_eq!(s.matches("<ds:Reference ").count(), 3);

        // A signed header's text changed after signing.
        let changed = s.replace("art. 12</mc:CallBasis>", "art. 13</mc:CallBasis>");
        let e = verify_envelope(&changed, &trust, now).unwrap_err();
        assert!(matches!(e, WsSecurityError::BadSignature(_)), "{e:?}");

        // A header added after signing.
        let added = s.replacen(
            "<mc:CallBasis",
            "<mc:RelatesTo>other-request</mc:RelatesTo><mc:CallBasis",
            1,
        );
        match verify_envelope(&added, &trust, now).unwrap_err() {
            WsSecurityError::IncompleteCoverage(m) => assert!(m.contains("RelatesTo"), "{m}"),
            other => panic!("{other:?}"),
        }

        // A second header of the same name, signed or not.
        let twice = s.replacen(
            "<mc:CallBasis",
            "<mc:CallBasis>Alt temei</mc:CallBasis><mc:CallBasis",
            1,
        );
        let e = verify_envelope(&twice, &trust, now).unwrap_err();
        assert!(matches!(e, WsSecurityError::Malformed(_)), "{e:?}");
    }

    #[test]
    fn comments_in_signed_text_are_refused() {
        let (s, trust, now, _) = signed();
        // Exclusive C14N drops the comment, so the digest would still match.
        let commented = s.replace("art. 12</mc:CallBasis>", "art.<!-- x --> 12</mc:CallBasis>");
        let e = verify_envelope(&commented, &trust, now).unwrap_err();
        assert!(matches!(e, WsSecurityError::Malformed(_)), "{e:?}");
    }

    #[test]
    fn timestamps_valid_too_long_are_refused() {
        let (_pki, id, trust) = setup();
        let now = SystemTime::now();
        assert!(sign_envelope(ENVELOPE, &id, now, MAX_TTL + Duration::from_secs(1)).is_err());
        let s = sign_envelope(ENVELOPE, &id, now, MAX_TTL).unwrap();
        verify_envelope(&s, &trust, now).unwrap();
        // The same lifetime check applies to a Timestamp made by someone else: rewrite
        // Expires and re-sign the digest chain by signing a template with a long Expires is
        // not possible through sign_envelope, so check the parsed layout directly.
        let created = format_utc(now).unwrap();
        let far = format_utc(now + Duration::from_secs(100 * 365 * 86_400)).unwrap();
        let forged = s.replacen(
            &format!(
                "<wsu:Expires>{}</wsu:Expires>",
                format_utc(now + MAX_TTL).unwrap()
            ),
            &format!("<wsu:Expires>{far}</wsu:Expires>"),
            1,
        );
        assert!(forged.contains(&created));
        let e = verify_envelope(&forged, &trust, now).unwrap_err();
        assert!(matches!(e, WsSecurityError::LifetimeTooLong), "{e:?}");
    }

    #[test]
    fn costly_markup_is_refused_before_parsing() {
        let (s, trust, now, _) = signed();
        let attributes: String = (0..5000).map(|i| format!(" a{i}=\"x\"")).collect();
        let costly = s.replacen("<civ:IDNP>", &format!("<civ:IDNP{attributes}>"), 1);
        let e = verify_envelope(&costly, &trust, now).unwrap_err();
        assert!(matches!(e, WsSecurityError::Malformed(_)), "{e:?}");
        let namespaces: String = (0..400)
            .map(|i| format!(" xmlns:n{i}=\"urn:{i}\""))
            .collect();
        let costly = s.replacen("<civ:IDNP>", &format!("<civ:IDNP{namespaces}>"), 1);
        let e = verify_envelope(&costly, &trust, now).unwrap_err();
        assert!(matches!(e, WsSecurityError::Malformed(_)), "{e:?}");
    }
}
