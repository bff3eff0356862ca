//! X.509 checks shared by the signature profiles (WS-Security and JWS) and by TLS: a certificate
//! chain verified against trust anchors and CRLs at a given time, with no partial-chain trust;
//! the one common name that identifies a certificate's holder; what a message signer's
//! certificate must allow; and the check of a registry's TLS certificate after the handshake.

use openssl::nid::Nid;
use openssl::stack::Stack;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::verify::X509VerifyParam;
use openssl::x509::{X509, X509KeyUsage, X509Ref, X509StoreContext};

use super::revocation::{Revocation, RevocationError};

/// Whether `signature` is a detached RSA PKCS#1 v1.5 SHA-256 signature of `data` by the key of
/// `certificate` (see `SigningIdentity::sign_detached`).
pub fn verify_detached(certificate: &X509Ref, data: &[u8], signature: &[u8]) -> bool {
    let Ok(key) = certificate.public_key() else {
        return false;
    };
    let Ok(mut verifier) =
        openssl::sign::Verifier::new(openssl::hash::MessageDigest::sha256(), &key)
    else {
        return false;
    };
    if key.id() == openssl::pkey::Id::RSA
        && verifier
            .set_rsa_padding(openssl::rsa::Padding::PKCS1)
            .is_err()
    {
        return false;
    }
    verifier.verify_oneshot(signature, data).unwrap_or(false)
}

/// Certificates [`parse_der`] keeps parsed; past this, it starts again empty.
const MAX_PARSED_CERTIFICATES: usize = 1024;

/// Parses a DER certificate, once per distinct encoding: OpenSSL 3 decodes a certificate's
/// public key through its provider framework, which costs several times an RSA verification,
/// and the same few signers and peers send the same certificates on every message. A cached
/// certificate is the same immutable object (reference-counted), and only the exact bytes find
/// it.
pub fn parse_der(der: &[u8]) -> Result<X509, openssl::error::ErrorStack> {
    static PARSED: std::sync::LazyLock<std::sync::Mutex<std::collections::HashMap<Vec<u8>, X509>>> =
        std::sync::LazyLock::new(Default::default);
    let lock = || {
        PARSED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    };
    if let Some(certificate) = lock().get(der) {
        return Ok(certificate.clone());
    }
    let certificate = X509::from_der(der)?;
    let mut parsed = lock();
    if parsed.len() >= MAX_PARSED_CERTIFICATES {
        parsed.clear();
    }
    parsed.insert(der.to_vec(), certificate.clone());
    Ok(certificate)
}

/// Why a certificate's subject does not name exactly one holder.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateNameError {
    #[error("certificate subject has no common name")]
    Missing,
    #[error("certificate subject has {0} common names; exactly one is required")]
    Several(usize),
    #[error("certificate common name is empty, not valid text or contains control characters")]
    NotText,
}

/// The common name of `certificate`'s subject, which identifies its holder (a client module, a
/// registry, a signer). Refuses a subject with no or several CNs (taking the first of two would
/// let whoever controls the second be ignored, or the other way round), and a CN that is empty,
/// not valid text or contains control characters (`registry-civil\0.evil`).
pub fn single_common_name(certificate: &X509Ref) -> Result<String, CertificateNameError> {
    let mut names = certificate.subject_name().entries_by_nid(Nid::COMMONNAME);
    let Some(entry) = names.next() else {
        return Err(CertificateNameError::Missing);
    };
    let others = names.count();
    if others > 0 {
        return Err(CertificateNameError::Several(others + 1));
    }
    let name = entry
        .data()
        .to_string()
        .map_err(|_| CertificateNameError::NotText)?;
    // `to_string` turns undecodable bytes into U+FFFD.
    if name.is_empty() || name.chars().any(|c| c.is_control() || c == '\u{FFFD}') {
        return Err(CertificateNameError::NotText);
    }
    Ok(name)
}

/// Why a certificate may not sign messages (WS-Security envelopes, JWS).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignerCertificateError {
    #[error("signer certificate key usage allows neither digitalSignature nor nonRepudiation")]
    KeyUsage,
    #[error(
        "signer certificate extended key usage names no purpose compatible with message signing"
    )]
    ExtendedKeyUsage,
    #[error("signer certificate is a CA certificate (basicConstraints CA:TRUE)")]
    CertificateAuthority,
    #[error("signer certificate extensions cannot be read")]
    Unreadable,
}

/// Extended key usages under which a certificate may sign MConnect messages: any purpose, TLS
/// client and server (MConnect systems sign with their system certificate), e-mail protection
/// and document signing.
const SIGNING_EXTENDED_KEY_USAGES: [&[u8]; 5] = [
    der::ANY_EXTENDED_KEY_USAGE,
    der::SERVER_AUTH,
    der::CLIENT_AUTH,
    der::EMAIL_PROTECTION,
    der::DOCUMENT_SIGNING,
];

/// Checks that `certificate` may sign messages: a keyUsage extension, when present, includes
/// digitalSignature or nonRepudiation; an extendedKeyUsage extension, when present, names a
/// purpose compatible with signing; and it is not a CA certificate. Call it on the signer
/// certificate of every WS-Security envelope and JWS, after the chain has verified.
pub fn check_message_signer(certificate: &X509Ref) -> Result<(), SignerCertificateError> {
    let der = certificate
        .to_der()
        .map_err(|_| SignerCertificateError::Unreadable)?;
    let extensions = der::certificate_extensions(&der).ok_or(SignerCertificateError::Unreadable)?;
    for extension in extensions {
        if extension.oid == der::BASIC_CONSTRAINTS
            && der::basic_constraints_ca(extension.value)
                .ok_or(SignerCertificateError::Unreadable)?
        {
            return Err(SignerCertificateError::CertificateAuthority);
        }
        if extension.oid == der::EXTENDED_KEY_USAGE {
            let purposes = der::object_identifiers(extension.value)
                .ok_or(SignerCertificateError::Unreadable)?;
            if !purposes
                .iter()
                .any(|purpose| SIGNING_EXTENDED_KEY_USAGES.contains(purpose))
            {
                return Err(SignerCertificateError::ExtendedKeyUsage);
            }
        }
    }
    // OpenSSL reports an empty key usage when the extensions are invalid (duplicates, bad
    // encoding), so that case is refused here too.
    if let Some(usage) = certificate.key_usage()
        && !usage.intersects(X509KeyUsage::DIGITAL_SIGNATURE | X509KeyUsage::NON_REPUDIATION)
    {
        return Err(SignerCertificateError::KeyUsage);
    }
    Ok(())
}

/// Why a certificate chain is not trusted.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// OpenSSL's reason and the depth of the certificate it concerns.
    #[error("{0}")]
    Untrusted(String),
    /// The chain verified, but a certificate in it is revoked or its revocation status is not
    /// known.
    #[error(transparent)]
    Revocation(#[from] RevocationError),
}

/// Verifies `certificate`, with untrusted `intermediates`, against `anchors` as of
/// `now_unix` (seconds). Returns the reason when the chain is not trusted. Checks no
/// revocation; see [`verify_chain_and_revocation_at`].
pub fn verify_chain_at(
    anchors: &[X509],
    certificate: &X509,
    intermediates: Vec<X509>,
    now_unix: i64,
    max_depth: Option<u32>,
) -> Result<(), String> {
    verify_chain_and_revocation_at(
        anchors,
        certificate,
        intermediates,
        now_unix,
        max_depth,
        &Revocation::disabled(),
    )
    .map_err(|error| error.to_string())
}

/// Verifies `certificate` like [`verify_chain_at`], then checks every certificate of the
/// verified chain below the trust anchor against its issuer's CRL in `revocation`, as of the same
/// time: what OpenSSL's `X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL` do, with the CRLs
/// that `revocation` holds at the time of the call, the trust anchor itself being trusted by
/// configuration. With revocation off it is [`verify_chain_at`]. This is the check for
/// WS-Security and JWS signer certificates.
pub fn verify_chain_and_revocation_at(
    anchors: &[X509],
    certificate: &X509,
    intermediates: Vec<X509>,
    now_unix: i64,
    max_depth: Option<u32>,
    revocation: &Revocation,
) -> Result<(), ChainError> {
    let failed = |e: openssl::error::ErrorStack| ChainError::Untrusted(e.to_string());
    let key = chain_key(anchors, certificate, &intermediates, max_depth).map_err(failed)?;
    if let Some(verified) = VERIFIED_CHAINS.valid_at(&key, now_unix) {
        if revocation.is_enabled() {
            revocation.check_chain_at(&verified, now_unix)?;
        }
        return Ok(());
    }
    let mut builder = X509StoreBuilder::new().map_err(failed)?;
    for anchor in anchors {
        builder.add_cert(anchor.clone()).map_err(failed)?;
    }
    let mut param = X509VerifyParam::new().map_err(failed)?;
    param.set_time(now_unix as _);
    if let Some(depth) = max_depth {
        param.set_depth(depth as _);
    }
    builder.set_param(&param).map_err(failed)?;
    let store = builder.build();
    let mut chain: Stack<X509> = Stack::new().map_err(failed)?;
    for intermediate in intermediates {
        chain.push(intermediate).map_err(failed)?;
    }
    let mut context = X509StoreContext::new().map_err(failed)?;
    let outcome = context
        .init(&store, certificate, &chain, |c| {
            Ok(if c.verify_cert()? {
                // The chain OpenSSL built and verified, leaf first, trust anchor last.
                let verified = c
                    .chain()
                    .map(|chain| chain.iter().map(X509Ref::to_owned).collect::<Vec<_>>())
                    .unwrap_or_default();
                Ok(verified)
            } else {
                Err(format!(
                    "{} (depth {})",
                    c.error().error_string(),
                    c.error_depth()
                ))
            })
        })
        .map_err(failed)?;
    let verified = outcome.map_err(ChainError::Untrusted)?;
    VERIFIED_CHAINS.remember(key, &verified);
    if revocation.is_enabled() {
        if verified.is_empty() {
            return Err(ChainError::Untrusted("no verified chain".into()));
        }
        revocation.check_chain_at(&verified, now_unix)?;
    }
    Ok(())
}

/// Chains [`verify_chain_and_revocation_at`] keeps verified; past this, it starts again empty.
const MAX_VERIFIED_CHAINS: usize = 1024;

/// Chains OpenSSL has verified, by what was asked (anchors, certificate, intermediates, depth),
/// with the period in which every certificate of the chain is valid: within it the same
/// question has the same answer, so only revocation, which changes with the CRLs, is checked
/// again. The same few signers and registries present the same chains on every message.
static VERIFIED_CHAINS: VerifiedChains = VerifiedChains(std::sync::Mutex::new(None));

struct VerifiedChains(std::sync::Mutex<Option<std::collections::HashMap<[u8; 32], VerifiedChain>>>);

struct VerifiedChain {
    /// Leaf first, trust anchor last.
    chain: Vec<X509>,
    /// The latest notBefore and the earliest notAfter of the chain, in Unix seconds.
    valid_from: i64,
    valid_until: i64,
}

impl VerifiedChains {
    fn valid_at(&self, key: &[u8; 32], now_unix: i64) -> Option<Vec<X509>> {
        let chains = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let known = chains.as_ref()?.get(key)?;
        (known.valid_from <= now_unix && now_unix <= known.valid_until).then(|| known.chain.clone())
    }

    fn remember(&self, key: [u8; 32], chain: &[X509]) {
        let Some((valid_from, valid_until)) = validity_of(chain) else {
            return;
        };
        let mut chains = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let chains = chains.get_or_insert_with(Default::default);
        if chains.len() >= MAX_VERIFIED_CHAINS {
            chains.clear();
        }
        chains.insert(
            key,
            VerifiedChain {
                chain: chain.to_vec(),
                valid_from,
                valid_until,
            },
        );
    }
}

/// SHA-256 over everything a chain verification depends on besides the time.
fn chain_key(
    anchors: &[X509],
    certificate: &X509,
    intermediates: &[X509],
    max_depth: Option<u32>,
) -> Result<[u8; 32], openssl::error::ErrorStack> {
    let mut hasher = openssl::sha::Sha256::new();
    let mut add = |part: &[u8]| {
        hasher.update(&(part.len() as u64).to_be_bytes());
        hasher.update(part);
    };
    add(&max_depth.map_or(-1, i64::from).to_be_bytes());
    add(&certificate.to_der()?);
    add(&(intermediates.len() as u64).to_be_bytes());
    for intermediate in intermediates {
        add(&intermediate.to_der()?);
    }
    for anchor in anchors {
        add(&anchor.to_der()?);
    }
    Ok(hasher.finish())
}

/// The period in which every certificate of `chain` is valid, in Unix seconds.
fn validity_of(chain: &[X509]) -> Option<(i64, i64)> {
    let epoch = openssl::asn1::Asn1Time::from_unix(0).ok()?;
    let seconds = |time: &openssl::asn1::Asn1TimeRef| {
        epoch
            .diff(time)
            .ok()
            .map(|d| i64::from(d.days) * 86_400 + i64::from(d.secs))
    };
    let mut valid_from = i64::MIN;
    let mut valid_until = i64::MAX;
    for certificate in chain {
        valid_from = valid_from.max(seconds(certificate.not_before())?);
        valid_until = valid_until.min(seconds(certificate.not_after())?);
    }
    Some((valid_from, valid_until))
}

/// Why a registry's TLS certificate is refused after the handshake.
#[derive(Debug, thiserror::Error)]
pub enum PeerCertificateError {
    #[error("the connection exposes no peer certificate")]
    Missing,
    #[error("the peer certificate cannot be read: {0}")]
    NotDer(String),
    #[error("peer certificate: {0}")]
    Name(#[from] CertificateNameError),
    #[error("peer certificate belongs to `{actual}`, expected `{expected}`")]
    WrongHolder { expected: String, actual: String },
    #[error("peer certificate: {0}")]
    Chain(#[from] ChainError),
}

/// Checks a TLS peer's certificate (`peer_der`, the leaf) once the TLS layer has verified its
/// chain and host name: its single common name must be `expected_common_name` (when the peer is
/// pinned), and, when `revocation` is on, its chain is built again from `anchors` (which must
/// then hold any intermediate CA) and checked against the CRLs as of `now_unix`. Returns the
/// peer's common name.
pub fn check_peer_certificate(
    peer_der: Option<&[u8]>,
    expected_common_name: Option<&str>,
    anchors: &[X509],
    revocation: &Revocation,
    now_unix: i64,
) -> Result<Option<String>, PeerCertificateError> {
    if expected_common_name.is_none() && !revocation.is_enabled() {
        return Ok(None);
    }
    let der = peer_der.ok_or(PeerCertificateError::Missing)?;
    let certificate =
        parse_der(der).map_err(|error| PeerCertificateError::NotDer(error.to_string()))?;
    let holder = single_common_name(&certificate)?;
    if let Some(expected) = expected_common_name
        && holder != expected
    {
        return Err(PeerCertificateError::WrongHolder {
            expected: expected.to_string(),
            actual: holder,
        });
    }
    if revocation.is_enabled() {
        verify_chain_and_revocation_at(
            anchors,
            &certificate,
            Vec::new(),
            now_unix,
            None,
            revocation,
        )?;
    }
    Ok(Some(holder))
}

/// The trust anchors and CRLs a registry's TLS certificate is checked against after the
/// handshake (see [`check_peer_certificate`]).
#[derive(Clone, Default)]
pub struct PeerCertificateCheck {
    anchors: Vec<X509>,
    revocation: Revocation,
}

impl PeerCertificateCheck {
    /// Anchors from a PEM bundle, no revocation checking.
    pub fn from_pem(anchors_pem: &[u8]) -> Result<Self, openssl::error::ErrorStack> {
        Ok(Self {
            anchors: X509::stack_from_pem(anchors_pem)?,
            revocation: Revocation::disabled(),
        })
    }

    pub fn with_revocation(mut self, revocation: Revocation) -> Self {
        self.revocation = revocation;
        self
    }

    /// [`check_peer_certificate`] now.
    pub fn check(
        &self,
        peer_der: Option<&[u8]>,
        expected_common_name: Option<&str>,
    ) -> Result<Option<String>, PeerCertificateError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs() as i64);
        check_peer_certificate(
            peer_der,
            expected_common_name,
            &self.anchors,
            &self.revocation,
            now,
        )
    }
}

/// Just enough DER to read the certificate and CRL extensions OpenSSL's bindings do not expose
/// (basicConstraints' cA flag, extendedKeyUsage OIDs, critical CRL extensions).
pub(crate) mod der {
    const BOOLEAN: u8 = 0x01;
    const OCTET_STRING: u8 = 0x04;
    const OBJECT_IDENTIFIER: u8 = 0x06;
    const SEQUENCE: u8 = 0x30;
    /// `[0] EXPLICIT`: the extensions of a TBSCertList.
    const CRL_EXTENSIONS: u8 = 0xA0;
    /// `[3] EXPLICIT`: the extensions of a TBSCertificate.
    const CERTIFICATE_EXTENSIONS: u8 = 0xA3;

    /// 2.5.29.19
    pub const BASIC_CONSTRAINTS: &[u8] = &[0x55, 0x1D, 0x13];
    /// 2.5.29.37
    pub const EXTENDED_KEY_USAGE: &[u8] = &[0x55, 0x1D, 0x25];
    /// 2.5.29.37.0
    pub const ANY_EXTENDED_KEY_USAGE: &[u8] = &[0x55, 0x1D, 0x25, 0x00];
    /// 1.3.6.1.5.5.7.3.1
    pub const SERVER_AUTH: &[u8] = &[0x2B, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01];
    /// 1.3.6.1.5.5.7.3.2
    pub const CLIENT_AUTH: &[u8] = &[0x2B, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02];
    /// 1.3.6.1.5.5.7.3.4
    pub const EMAIL_PROTECTION: &[u8] = &[0x2B, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x04];
    /// 1.3.6.1.5.5.7.3.36
    pub const DOCUMENT_SIGNING: &[u8] = &[0x2B, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x24];

    /// One extension: its OID (content bytes), criticality and `extnValue` contents.
    #[derive(Debug)]
    pub struct Extension<'a> {
        pub oid: &'a [u8],
        pub critical: bool,
        pub value: &'a [u8],
    }

    /// Splits the first tag-length-value off `input`: its tag, its contents and what follows.
    fn split(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let (&tag, rest) = input.split_first()?;
        if tag & 0x1F == 0x1F {
            return None;
        }
        let (&first, rest) = rest.split_first()?;
        let (length, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            let count = usize::from(first & 0x7F);
            if count == 0 || count > 4 || rest.len() < count {
                return None;
            }
            let (bytes, rest) = rest.split_at(count);
            let length = bytes
                .iter()
                .fold(0usize, |length, byte| (length << 8) | usize::from(*byte));
            (length, rest)
        };
        if rest.len() < length {
            return None;
        }
        let (contents, rest) = rest.split_at(length);
        Some((tag, contents, rest))
    }

    /// The single value of `input`, which must have the tag `expected` and nothing after it.
    fn only(input: &[u8], expected: u8) -> Option<&[u8]> {
        match split(input)? {
            (tag, contents, []) if tag == expected => Some(contents),
            _ => None,
        }
    }

    /// The values inside a constructed value's contents.
    fn elements(mut contents: &[u8]) -> Option<Vec<(u8, &[u8])>> {
        let mut elements = Vec::new();
        while !contents.is_empty() {
            let (tag, value, rest) = split(contents)?;
            elements.push((tag, value));
            contents = rest;
        }
        Some(elements)
    }

    /// `Extensions ::= SEQUENCE OF Extension` inside an explicit tag's contents.
    fn extension_list(explicit: &[u8]) -> Option<Vec<Extension<'_>>> {
        elements(only(explicit, SEQUENCE)?)?
            .into_iter()
            .map(|(tag, extension)| {
                if tag != SEQUENCE {
                    return None;
                }
                match elements(extension)?.as_slice() {
                    [(OBJECT_IDENTIFIER, oid), (OCTET_STRING, value)] => Some(Extension {
                        oid,
                        critical: false,
                        value,
                    }),
                    [
                        (OBJECT_IDENTIFIER, oid),
                        (BOOLEAN, [flag]),
                        (OCTET_STRING, value),
                    ] => Some(Extension {
                        oid,
                        critical: *flag != 0,
                        value,
                    }),
                    _ => None,
                }
            })
            .collect()
    }

    /// The extensions of a signed structure (certificate or CRL) whose to-be-signed part keeps
    /// them under `tag`; none when absent, `None` when the DER cannot be read.
    fn signed_extensions(der: &[u8], tag: u8) -> Option<Vec<Extension<'_>>> {
        let signed = elements(only(der, SEQUENCE)?)?;
        let (SEQUENCE, to_be_signed) = *signed.first()? else {
            return None;
        };
        match elements(to_be_signed)?
            .into_iter()
            .find(|(element, _)| *element == tag)
        {
            Some((_, explicit)) => extension_list(explicit),
            None => Some(Vec::new()),
        }
    }

    /// The extensions of a DER certificate.
    pub fn certificate_extensions(der: &[u8]) -> Option<Vec<Extension<'_>>> {
        signed_extensions(der, CERTIFICATE_EXTENSIONS)
    }

    /// The extensions of a DER CRL (not those of its entries).
    pub fn crl_extensions(der: &[u8]) -> Option<Vec<Extension<'_>>> {
        signed_extensions(der, CRL_EXTENSIONS)
    }

    /// The cA flag of a basicConstraints value (`SEQUENCE { cA BOOLEAN DEFAULT FALSE, ... }`).
    pub fn basic_constraints_ca(value: &[u8]) -> Option<bool> {
        Some(match elements(only(value, SEQUENCE)?)?.first() {
            Some((BOOLEAN, [flag])) => *flag != 0,
            Some((BOOLEAN, _)) => return None,
            _ => false,
        })
    }

    /// The OIDs of a `SEQUENCE OF OBJECT IDENTIFIER` value (extendedKeyUsage).
    pub fn object_identifiers(value: &[u8]) -> Option<Vec<&[u8]>> {
        elements(only(value, SEQUENCE)?)?
            .into_iter()
            .map(|(tag, oid)| (tag == OBJECT_IDENTIFIER && !oid.is_empty()).then_some(oid))
            .collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use openssl::asn1::Asn1Time;
    use openssl::hash::MessageDigest;
    use openssl::pkey::{PKey, Private};
    use openssl::rsa::Rsa;
    use openssl::x509::X509NameBuilder;
    use std::sync::OnceLock;

    /// One RSA key for every throwaway certificate of these tests.
    pub(crate) fn test_key() -> &'static PKey<Private> {
        static KEY: OnceLock<PKey<Private>> = OnceLock::new();
        KEY.get_or_init(|| PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap())
    }

    /// A self-signed certificate whose subject has the given common names, in order.
    pub(crate) fn certificate_with_names(common_names: &[&str]) -> X509 {
        certificate_with(common_names, Vec::new())
    }

    /// A self-signed certificate with the given common names and extensions.
    pub(crate) fn certificate_with(
        common_names: &[&str],
        extensions: Vec<openssl::x509::X509Extension>,
    ) -> X509 {
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_text("O", "test").unwrap();
        for common_name in common_names {
            name.append_entry_by_text("CN", common_name).unwrap();
        }
        let name = name.build();
        let mut builder = X509::builder().unwrap();
        builder.set_version(2).unwrap();
        builder.set_subject_name(&name).unwrap();
        builder.set_issuer_name(&name).unwrap();
        builder.set_pubkey(test_key()).unwrap();
        builder
            .set_not_before(&Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        builder
            .set_not_after(&Asn1Time::days_from_now(30).unwrap())
            .unwrap();
        for extension in extensions {
            builder.append_extension(extension).unwrap();
        }
        builder.sign(test_key(), MessageDigest::sha256()).unwrap();
        builder.build()
    }

    #[test]
    fn message_signers_need_a_signing_key_usage_and_no_ca_flag() {
        use openssl::x509::extension::{BasicConstraints, ExtendedKeyUsage, KeyUsage};
        let check = |extensions| check_message_signer(&certificate_with(&["signer"], extensions));
        assert_eq!(check(Vec::new()), Ok(()));
        assert_eq!(
            check(vec![
                KeyUsage::new()
                    .critical()
                    .digital_signature()
                    .key_encipherment()
                    .build()
                    .unwrap(),
                ExtendedKeyUsage::new()
                    .server_auth()
                    .client_auth()
                    .build()
                    .unwrap(),
                BasicConstraints::new().build().unwrap(),
            ]),
            Ok(())
        );
        assert_eq!(
            check(vec![KeyUsage::new().non_repudiation().build().unwrap()]),
            Ok(())
        );
        for accepted in [
            "anyExtendedKeyUsage",
            "emailProtection",
            "1.3.6.1.5.5.7.3.36",
        ] {
            let usage = ExtendedKeyUsage::new().other(accepted).build().unwrap();
            assert_eq!(check(vec![usage]), Ok(()), "{accepted}");
        }

        assert_eq!(
            check(vec![
                KeyUsage::new()
                    .key_encipherment()
                    .key_agreement()
                    .build()
                    .unwrap()
            ]),
            Err(SignerCertificateError::KeyUsage)
        );
        for refused in ["timeStamping", "OCSPSigning", "codeSigning", "1.2.3.4"] {
            let usage = ExtendedKeyUsage::new().other(refused).build().unwrap();
            assert_eq!(
                check(vec![usage]),
                Err(SignerCertificateError::ExtendedKeyUsage),
                "{refused}"
            );
        }
        for ca in [
            BasicConstraints::new().critical().ca().build().unwrap(),
            BasicConstraints::new().ca().pathlen(0).build().unwrap(),
        ] {
            assert_eq!(
                check(vec![ca]),
                Err(SignerCertificateError::CertificateAuthority)
            );
        }
    }

    #[test]
    fn unreadable_der_is_not_taken_for_absent_extensions() {
        let certificate = certificate_with(
            &["signer"],
            vec![
                openssl::x509::extension::BasicConstraints::new()
                    .ca()
                    .build()
                    .unwrap(),
            ],
        )
        .to_der()
        .unwrap();
        let extensions = der::certificate_extensions(&certificate).unwrap();
        assert_eq!(extensions.len(), 1);
        assert_eq!(extensions[0].oid, der::BASIC_CONSTRAINTS);
        assert_eq!(der::basic_constraints_ca(extensions[0].value), Some(true));
        // Truncated, trailing bytes, or an overlong length: unreadable, never "no extensions".
        for bad in [
            &certificate[..certificate.len() - 1],
            &[certificate.as_slice(), &[0]].concat(),
            &[0x30, 0x84, 0xFF, 0xFF, 0xFF, 0xFF][..],
            &[][..],
        ] {
            assert!(der::certificate_extensions(bad).is_none());
        }
        assert_eq!(der::basic_constraints_ca(&[0x30, 0x00]), Some(false));
        assert_eq!(
            der::basic_constraints_ca(&[0x30, 0x03, 0x01, 0x01, 0x00]),
            Some(false)
        );
        assert_eq!(der::basic_constraints_ca(&[0x30, 0x02, 0x01, 0x00]), None);
        assert_eq!(der::object_identifiers(&[0x30, 0x02, 0x06, 0x00]), None);
    }

    #[test]
    fn exactly_one_plain_common_name_is_accepted() {
        let name = |names: &[&str]| single_common_name(&certificate_with_names(names));
        assert_eq!(name(&["registry-civil"]).unwrap(), "registry-civil");
        assert_eq!(name(&[]), Err(CertificateNameError::Missing));
        assert_eq!(
            name(&["registry-civil", "registry-police"]),
            Err(CertificateNameError::Several(2))
        );
        assert_eq!(
            name(&["a", "b", "c"]).unwrap_err().to_string(),
            "certificate subject has 3 common names; exactly one is required"
        );
        for bad in ["registry-civil\0.evil", "line\nbreak"] {
            assert_eq!(name(&[bad]), Err(CertificateNameError::NotText), "{bad:?}");
        }
    }

    #[test]
    fn a_peer_certificate_must_be_the_pinned_holder_and_not_revoked() {
        use crate::crypto::pki::{
            CertificateRole, generate_ca, issue_leaf, revoked_entry, sign_crl,
        };
        use crate::crypto::revocation::StalePolicy;
        let ca = generate_ca("peer test CA").unwrap();
        let civil = issue_leaf(&ca, "registry-civil", CertificateRole::ServerAndClient)
            .unwrap()
            .certificate;
        let police = issue_leaf(&ca, "registry-police", CertificateRole::ServerAndClient)
            .unwrap()
            .certificate;
        let anchors = [ca.certificate.clone()];
        let off = Revocation::disabled();
        let now = (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()) as i64;
        let der = |certificate: &X509| certificate.to_der().unwrap();
        let check = |peer: Option<&[u8]>, expected, revocation: &Revocation| {
            check_peer_certificate(peer, expected, &anchors, revocation, now)
        };

        // Nothing pinned and no CRL: nothing to check.
        assert_eq!(check(None, None, &off).unwrap(), None);
        assert_eq!(
            check(Some(&der(&civil)), Some("registry-civil"), &off).unwrap(),
            Some("registry-civil".to_string())
        );
        assert!(matches!(
            check(Some(&der(&police)), Some("registry-civil"), &off),
            Err(PeerCertificateError::WrongHolder { .. })
        ));
        let two = certificate_with_names(&["registry-civil", "registry-police"]);
        assert!(matches!(
            check(Some(&der(&two)), Some("registry-civil"), &off),
            Err(PeerCertificateError::Name(CertificateNameError::Several(2)))
        ));
        assert!(matches!(
            check(None, Some("registry-civil"), &off),
            Err(PeerCertificateError::Missing)
        ));
        assert!(matches!(
            check(Some(b"garbage"), Some("registry-civil"), &off),
            Err(PeerCertificateError::NotDer(_))
        ));

        let at = |unix: i64| openssl::asn1::Asn1Time::from_unix(unix as _).unwrap();
        let crl = sign_crl(
            &ca,
            vec![revoked_entry(police.serial_number(), &at(now - 60)).unwrap()],
            1,
            &at(now - 60),
            &at(now + 3600),
        )
        .unwrap();
        let on = Revocation::from_crls(vec![crl], StalePolicy::Refuse, anchors.to_vec()).unwrap();
        check(Some(&der(&civil)), Some("registry-civil"), &on).unwrap();
        for expected in [Some("registry-police"), None] {
            assert!(matches!(
                check(Some(&der(&police)), expected, &on),
                Err(PeerCertificateError::Chain(ChainError::Revocation(
                    RevocationError::Revoked { .. }
                )))
            ));
        }
        // A certificate the anchors do not vouch for.
        assert!(matches!(
            check(Some(&der(&two)), None, &on),
            Err(PeerCertificateError::Name(_))
        ));
        let stranger = issue_leaf(
            &generate_ca("stranger CA").unwrap(),
            "registry-civil",
            CertificateRole::ServerAndClient,
        )
        .unwrap()
        .certificate;
        assert!(matches!(
            check(Some(&der(&stranger)), Some("registry-civil"), &on),
            Err(PeerCertificateError::Chain(ChainError::Untrusted(_)))
        ));
    }

    #[test]
    fn the_mconnect_signer_name_is_the_single_common_name() {
        let der = |names: &[&str]| certificate_with_names(names).to_der().unwrap();
        assert_eq!(
            crate::mconnect::client::common_name(&der(&["registry-civil"])).as_deref(),
            Some("registry-civil")
        );
        for names in [&["registry-civil", "registry-police"][..], &[][..]] {
            assert_eq!(
                crate::mconnect::client::common_name(&der(names)),
                None,
                "{names:?}"
            );
        }
    }
}
