//! Certificate revocation: the CRLs of the CAs the hub trusts, loaded at start-up from files and
//! URLs and refreshed in the background, and the check that a certificate is not revoked.
//!
//! Without any CRL source nothing is checked. With one, every certificate checked must be
//! covered: a certificate whose issuer has no loaded CRL is refused, as with OpenSSL's
//! `X509_V_FLAG_CRL_CHECK_ALL`. A CRL must be signed by one of the CA certificates the hub trusts
//! (checked when it is loaded) and by the key of the issuer a certificate is checked against
//! (checked at use); an issuer whose keyUsage lacks cRLSign cannot vouch for anything. Delta,
//! indirect and partitioned CRLs (critical CRL extensions) are refused when loaded. A refresh that
//! fails, or that would go back to an older CRL, keeps the last good one and logs a warning. Past
//! its nextUpdate a CRL is refused, or used with a warning under [`StalePolicy::Warn`].
//!
//! The TLS acceptor consults [`Revocation`] in its verify callback, so that a refreshed CRL
//! applies to the next handshake; the openssl crate has no safe way to add CRLs to a store that
//! is already serving connections.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use openssl::asn1::Asn1Time;
use openssl::nid::Nid;
use openssl::x509::{CrlStatus, X509, X509Crl, X509KeyUsage, X509NameRef, X509Ref};
use serde::Deserialize;
use tracing::warn;

use super::x509::der;

/// Largest CRL accepted from a file or a URL.
pub const MAX_CRL_BYTES: usize = 32 * 1024 * 1024;
/// How far a CRL's thisUpdate may lie ahead of our clock (the issuer's clock running ahead).
const CLOCK_SKEW_SECS: i64 = 5 * 60;
/// Deadline of one CRL download.
const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// What to do with a CRL whose nextUpdate has passed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StalePolicy {
    /// Refuse the certificates of its issuer until a current CRL is loaded.
    #[default]
    Refuse,
    /// Go on using it, with a warning in the log.
    Warn,
}

/// Where CRLs are read from: a file (PEM, one or more CRLs, or DER) or an http(s) URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrlSource {
    File(PathBuf),
    Url(String),
}

impl fmt::Display for CrlSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => write!(f, "{}", path.display()),
            // Without credentials or query, which may carry secrets.
            Self::Url(url) => match reqwest::Url::parse(url) {
                Ok(mut parsed) => {
                    let _ = parsed.set_username("");
                    let _ = parsed.set_password(None);
                    parsed.set_query(None);
                    write!(f, "{parsed}")
                }
                Err(_) => f.write_str("(invalid URL)"),
            },
        }
    }
}

/// Why CRLs could not be loaded from a source.
#[derive(Debug, thiserror::Error)]
pub enum CrlLoadError {
    #[error("cannot read CRL file `{path}`: {error}")]
    Read {
        path: String,
        #[source]
        error: std::io::Error,
    },
    #[error("cannot download a CRL from `{origin}`: {reason}")]
    Fetch { origin: String, reason: String },
    #[error("`{origin}` is larger than {MAX_CRL_BYTES} bytes")]
    TooLarge { origin: String },
    #[error("`{origin}` holds no CRL (PEM `X509 CRL` blocks or one DER CRL): {reason}")]
    NotCrl { origin: String, reason: String },
    #[error("`{origin}`: a CRL without nextUpdate")]
    NoNextUpdate { origin: String },
    #[error(
        "`{origin}`: a CRL with a critical extension (a delta, indirect or partitioned CRL), which \
         the hub does not implement"
    )]
    Unsupported { origin: String },
    #[error("`{origin}`: the CRL of `{issuer}` is signed by none of the trusted CA certificates")]
    UnknownIssuer { origin: String, issuer: String },
    #[error("`{origin}`: the CRL of `{issuer}` is older than the one in use")]
    Older { origin: String, issuer: String },
}

/// Why a certificate's revocation check did not pass.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RevocationError {
    #[error("certificate {serial} issued by `{issuer}` is revoked")]
    Revoked { serial: String, issuer: String },
    #[error("no CRL of `{issuer}` is loaded, so its certificates cannot be checked")]
    NoCrl { issuer: String },
    #[error("the CRL of `{issuer}` is out of date since {next_update}")]
    Stale { issuer: String, next_update: String },
    #[error("the CRL of `{issuer}` is not valid before {this_update}")]
    NotYetValid { issuer: String, this_update: String },
    #[error("`{issuer}` may not sign CRLs (its keyUsage lacks cRLSign)")]
    IssuerMayNotSignCrls { issuer: String },
    #[error("the certificate was not issued by `{issuer}`")]
    WrongIssuer { issuer: String },
    #[error("revocation check failed: {0}")]
    Internal(String),
}

/// How a certificate stood in its issuer's CRL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Revocation checking is off (no CRL configured).
    NotChecked,
    /// Not listed in a current CRL.
    Good,
    /// Not listed in a CRL past its nextUpdate, accepted under [`StalePolicy::Warn`].
    GoodByStaleCrl,
}

/// The CRLs in use, shared by every check (cheap to clone). The default checks nothing.
#[derive(Clone, Default)]
pub struct Revocation {
    shared: Option<Arc<Shared>>,
}

impl fmt::Debug for Revocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.shared {
            None => f.write_str("Revocation(disabled)"),
            Some(shared) => f
                .debug_struct("Revocation")
                .field("sources", &shared.sources.len())
                .field("policy", &shared.policy)
                .finish(),
        }
    }
}

struct Shared {
    policy: StalePolicy,
    sources: Vec<CrlSource>,
    /// CA certificates a CRL may be signed by.
    issuers: Vec<X509>,
    /// The last good CRLs of each source, by source index.
    loaded: RwLock<Vec<Vec<Arc<LoadedCrl>>>>,
    http: Option<reqwest::Client>,
}

struct LoadedCrl {
    crl: X509Crl,
    issuer: String,
    /// DER of the issuer certificates whose keys this CRL's signature verified with.
    verified_issuers: RwLock<Vec<Vec<u8>>>,
    /// Whether using it past its nextUpdate has been logged.
    stale_logged: AtomicBool,
}

impl Revocation {
    /// Checks nothing.
    pub fn disabled() -> Self {
        Self::default()
    }

    /// Whether certificates are checked at all.
    pub fn is_enabled(&self) -> bool {
        self.shared.is_some()
    }

    /// Loads every source; any failure stops start-up, naming the source. No sources: checking
    /// is off. `issuers` are the CA certificates the hub trusts (client CA and registry CA
    /// bundles); each CRL must be signed by one of them.
    pub async fn load(
        sources: Vec<CrlSource>,
        policy: StalePolicy,
        issuers: Vec<X509>,
    ) -> Result<Self, CrlLoadError> {
        if sources.is_empty() {
            return Ok(Self::disabled());
        }
        let http = if sources.iter().any(|s| matches!(s, CrlSource::Url(_))) {
            Some(
                reqwest::Client::builder()
                    .timeout(FETCH_TIMEOUT)
                    .build()
                    .map_err(|error| CrlLoadError::Fetch {
                        origin: "HTTP client".into(),
                        reason: error.to_string(),
                    })?,
            )
        } else {
            None
        };
        let shared = Shared {
            policy,
            loaded: RwLock::new(vec![Vec::new(); sources.len()]),
            sources,
            issuers,
            http,
        };
        for (index, source) in shared.sources.iter().enumerate() {
            let crls = shared.read_source(source).await?;
            shared.write()[index] = crls;
        }
        Ok(Self {
            shared: Some(Arc::new(shared)),
        })
    }

    /// A fixed set of CRLs (no source to refresh from), signed by `issuers`.
    pub fn from_crls(
        crls: Vec<X509Crl>,
        policy: StalePolicy,
        issuers: Vec<X509>,
    ) -> Result<Self, CrlLoadError> {
        let shared = Shared {
            policy,
            sources: Vec::new(),
            issuers,
            loaded: RwLock::new(Vec::new()),
            http: None,
        };
        let loaded = crls
            .into_iter()
            .map(|crl| shared.accept(crl, "CRL given"))
            .collect::<Result<Vec<_>, _>>()?;
        shared.write().push(loaded);
        Ok(Self {
            shared: Some(Arc::new(shared)),
        })
    }

    /// Reads every source again. A source that fails keeps its last good CRLs, with a warning.
    /// Returns how many sources failed.
    pub async fn refresh(&self) -> usize {
        let Some(shared) = &self.shared else {
            return 0;
        };
        let mut failures = 0;
        for (index, source) in shared.sources.iter().enumerate() {
            let outcome = match shared.read_source(source).await {
                Ok(crls) => shared.replace(index, crls, source),
                Err(error) => Err(error),
            };
            if let Err(error) = outcome {
                failures += 1;
                warn!(source = %source, %error, "CRL refresh failed; keeping the last good CRL");
            }
        }
        failures
    }

    /// Refreshes every `every` until the task is aborted (the first refresh after `every`).
    pub fn spawn_refresh(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let revocation = self.clone();
        tokio::spawn(async move {
            if !revocation.is_enabled() {
                return;
            }
            loop {
                tokio::time::sleep(every).await;
                revocation.refresh().await;
            }
        })
    }

    /// Checks that `certificate`, issued by `issuer`, is not revoked, now.
    pub fn is_revoked(
        &self,
        certificate: &X509Ref,
        issuer: &X509Ref,
    ) -> Result<(), RevocationError> {
        self.check_at(certificate, issuer, unix_now())
    }

    /// Checks that `certificate`, issued by `issuer`, is not revoked as of `now_unix`; logs a
    /// warning when a stale CRL is used under [`StalePolicy::Warn`].
    pub fn check_at(
        &self,
        certificate: &X509Ref,
        issuer: &X509Ref,
        now_unix: i64,
    ) -> Result<(), RevocationError> {
        self.standing_at(certificate, issuer, now_unix).map(|_| ())
    }

    /// Checks each certificate of a verified chain (leaf first, trust anchor last) against the
    /// CRL of the certificate above it. The trust anchor itself is trusted by configuration.
    pub fn check_chain_at(&self, chain: &[X509], now_unix: i64) -> Result<(), RevocationError> {
        for pair in chain.windows(2) {
            self.check_at(&pair[0], &pair[1], now_unix)?;
        }
        Ok(())
    }

    /// How `certificate`, issued by `issuer`, stands in `issuer`'s CRL as of `now_unix`.
    pub fn standing_at(
        &self,
        certificate: &X509Ref,
        issuer: &X509Ref,
        now_unix: i64,
    ) -> Result<Standing, RevocationError> {
        let Some(shared) = &self.shared else {
            return Ok(Standing::NotChecked);
        };
        let internal =
            |error: openssl::error::ErrorStack| RevocationError::Internal(error.to_string());
        let issuer_name = label(issuer.subject_name());
        if !same_name(certificate.issuer_name(), issuer.subject_name()) {
            return Err(RevocationError::WrongIssuer {
                issuer: issuer_name,
            });
        }
        if issuer
            .key_usage()
            .is_some_and(|usage| !usage.contains(X509KeyUsage::CRL_SIGN))
        {
            return Err(RevocationError::IssuerMayNotSignCrls {
                issuer: issuer_name,
            });
        }
        let crl = shared
            .read()
            .iter()
            .flatten()
            .filter(|loaded| same_name(loaded.crl.issuer_name(), issuer.subject_name()))
            .filter(|loaded| loaded.signed_by(issuer))
            .max_by(|a, b| {
                a.crl
                    .last_update()
                    .compare(b.crl.last_update())
                    .unwrap_or(std::cmp::Ordering::Equal)
            })
            .cloned()
            .ok_or_else(|| RevocationError::NoCrl {
                issuer: issuer_name.clone(),
            })?;
        let latest_issue =
            Asn1Time::from_unix((now_unix + CLOCK_SKEW_SECS) as _).map_err(internal)?;
        if crl.crl.last_update() > latest_issue {
            return Err(RevocationError::NotYetValid {
                issuer: issuer_name,
                this_update: crl.crl.last_update().to_string(),
            });
        }
        if let CrlStatus::Revoked(_) = crl.crl.get_by_serial(certificate.serial_number()) {
            let serial = certificate
                .serial_number()
                .to_bn()
                .and_then(|n| n.to_hex_str().map(|hex| hex.to_string()))
                .map_err(internal)?;
            return Err(RevocationError::Revoked {
                serial,
                issuer: issuer_name,
            });
        }
        let now = Asn1Time::from_unix(now_unix as _).map_err(internal)?;
        let next_update = crl
            .crl
            .next_update()
            .ok_or_else(|| RevocationError::Internal("CRL without nextUpdate".into()))?;
        if next_update >= now {
            return Ok(Standing::Good);
        }
        match shared.policy {
            StalePolicy::Refuse => Err(RevocationError::Stale {
                issuer: issuer_name,
                next_update: next_update.to_string(),
            }),
            StalePolicy::Warn => {
                if !crl.stale_logged.swap(true, Ordering::Relaxed) {
                    warn!(
                        issuer = %issuer_name,
                        next_update = %next_update,
                        "using a CRL past its nextUpdate (revocation.stale_policy = \"warn\")"
                    );
                }
                Ok(Standing::GoodByStaleCrl)
            }
        }
    }
}

impl Shared {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Vec<Arc<LoadedCrl>>>> {
        self.loaded
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Vec<Vec<Arc<LoadedCrl>>>> {
        self.loaded
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The CRLs of `source`, each checked.
    async fn read_source(&self, source: &CrlSource) -> Result<Vec<Arc<LoadedCrl>>, CrlLoadError> {
        let origin = source.to_string();
        let bytes = match source {
            CrlSource::File(path) => {
                let bytes = tokio::fs::read(path)
                    .await
                    .map_err(|error| CrlLoadError::Read {
                        path: origin.clone(),
                        error,
                    })?;
                if bytes.len() > MAX_CRL_BYTES {
                    return Err(CrlLoadError::TooLarge { origin });
                }
                bytes
            }
            CrlSource::Url(url) => {
                let http = self.http.as_ref().ok_or_else(|| CrlLoadError::Fetch {
                    origin: origin.clone(),
                    reason: "no HTTP client".into(),
                })?;
                download(http, url, &origin).await?
            }
        };
        parse_crls(&bytes, &origin)?
            .into_iter()
            .map(|crl| self.accept(crl, &origin))
            .collect()
    }

    /// Checks a CRL read from `origin` before it may be used.
    fn accept(&self, crl: X509Crl, origin: &str) -> Result<Arc<LoadedCrl>, CrlLoadError> {
        let origin = origin.to_string();
        if crl.next_update().is_none() {
            return Err(CrlLoadError::NoNextUpdate { origin });
        }
        let der = crl.to_der().map_err(|error| CrlLoadError::NotCrl {
            origin: origin.clone(),
            reason: error.to_string(),
        })?;
        let extensions = der::crl_extensions(&der).ok_or_else(|| CrlLoadError::NotCrl {
            origin: origin.clone(),
            reason: "its extensions cannot be read".into(),
        })?;
        if extensions.iter().any(|extension| extension.critical) {
            return Err(CrlLoadError::Unsupported { origin });
        }
        let issuer = label(crl.issuer_name());
        let loaded = LoadedCrl {
            crl,
            issuer,
            verified_issuers: RwLock::new(Vec::new()),
            stale_logged: AtomicBool::new(false),
        };
        let signed_by_trusted_ca = self.issuers.iter().any(|ca| {
            same_name(loaded.crl.issuer_name(), ca.subject_name()) && loaded.signed_by(ca)
        });
        if !signed_by_trusted_ca {
            return Err(CrlLoadError::UnknownIssuer {
                origin,
                issuer: loaded.issuer,
            });
        }
        Ok(Arc::new(loaded))
    }

    /// Puts `crls` in place of the CRLs of source `index`, unless one goes back in time.
    fn replace(
        &self,
        index: usize,
        crls: Vec<Arc<LoadedCrl>>,
        source: &CrlSource,
    ) -> Result<(), CrlLoadError> {
        let mut loaded = self.write();
        for new in &crls {
            let older = loaded[index].iter().any(|old| {
                same_name(old.crl.issuer_name(), new.crl.issuer_name())
                    && old.crl.last_update() > new.crl.last_update()
            });
            if older {
                return Err(CrlLoadError::Older {
                    origin: source.to_string(),
                    issuer: new.issuer.clone(),
                });
            }
        }
        loaded[index] = crls;
        Ok(())
    }
}

impl LoadedCrl {
    /// Whether this CRL's signature verifies with the key of `issuer` (remembered, by the
    /// issuer certificate's encoding, once it has: encoding a public key goes through OpenSSL's
    /// provider framework and cost more than the rest of a revocation check).
    fn signed_by(&self, issuer: &X509Ref) -> bool {
        let Ok(issuer_der) = issuer.to_der() else {
            return false;
        };
        let known = self
            .verified_issuers
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .contains(&issuer_der);
        if known {
            return true;
        }
        let verified = issuer
            .public_key()
            .is_ok_and(|key| self.crl.verify(&key).unwrap_or(false));
        if verified {
            self.verified_issuers
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .push(issuer_der);
        }
        verified
    }
}

/// Downloads one CRL within [`FETCH_TIMEOUT`] and [`MAX_CRL_BYTES`].
async fn download(
    http: &reqwest::Client,
    url: &str,
    origin: &str,
) -> Result<Vec<u8>, CrlLoadError> {
    let failed = |reason: String| CrlLoadError::Fetch {
        origin: origin.to_string(),
        reason,
    };
    // The error text of reqwest names the URL, which may carry credentials: keep only the kind.
    let describe = |error: reqwest::Error| {
        if error.is_timeout() {
            "timed out".to_string()
        } else if error.is_connect() {
            "connection failed".to_string()
        } else {
            "request failed".to_string()
        }
    };
    let mut response = http
        .get(url)
        .send()
        .await
        .map_err(|error| failed(describe(error)))?;
    if !response.status().is_success() {
        return Err(failed(format!(
            "HTTP status {}",
            response.status().as_u16()
        )));
    }
    if response
        .content_length()
        .is_some_and(|length| length > MAX_CRL_BYTES as u64)
    {
        return Err(CrlLoadError::TooLarge {
            origin: origin.to_string(),
        });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|error| failed(describe(error)))?
    {
        if body.len() + chunk.len() > MAX_CRL_BYTES {
            return Err(CrlLoadError::TooLarge {
                origin: origin.to_string(),
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The CRLs in `bytes`: every PEM `X509 CRL` block, or else one DER CRL.
fn parse_crls(bytes: &[u8], origin: &str) -> Result<Vec<X509Crl>, CrlLoadError> {
    const BEGIN: &str = "-----BEGIN X509 CRL-----";
    const END: &str = "-----END X509 CRL-----";
    let not_crl = |reason: String| CrlLoadError::NotCrl {
        origin: origin.to_string(),
        reason,
    };
    let text = std::str::from_utf8(bytes)
        .ok()
        .filter(|t| t.contains(BEGIN));
    let Some(mut text) = text else {
        return X509Crl::from_der(bytes)
            .map(|crl| vec![crl])
            .map_err(|error| not_crl(error.to_string()));
    };
    let mut crls = Vec::new();
    while let Some(start) = text.find(BEGIN) {
        let block = &text[start..];
        let end = block
            .find(END)
            .ok_or_else(|| not_crl("a PEM block has no end line".into()))?
            + END.len();
        crls.push(
            X509Crl::from_pem(&block.as_bytes()[..end])
                .map_err(|error| not_crl(error.to_string()))?,
        );
        text = &block[end..];
    }
    Ok(crls)
}

fn same_name(a: &X509NameRef, b: &X509NameRef) -> bool {
    a.try_cmp(b).is_ok_and(|order| order.is_eq())
}

/// A CA name for messages: its common name, or its whole name when it has none.
fn label(name: &X509NameRef) -> String {
    let text = |nid: Option<Nid>| {
        name.entries()
            .filter(|entry| nid.is_none_or(|nid| entry.object().nid() == nid))
            .filter_map(|entry| entry.data().to_string().ok())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let common_names = text(Some(Nid::COMMONNAME));
    if common_names.is_empty() {
        text(None)
    } else {
        common_names
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::pki::{
        CertificateRole, KeyPair, generate_ca, issue_leaf, revoked_entry, sign_crl,
    };
    use openssl::x509::X509Revoked;
    use std::sync::OnceLock;

    /// CA A with two leaves, CA B with one.
    struct Fixture {
        ca_a: KeyPair,
        leaf_a: X509,
        other_leaf_a: X509,
        ca_b: KeyPair,
        leaf_b: X509,
    }

    fn fixture() -> &'static Fixture {
        static F: OnceLock<Fixture> = OnceLock::new();
        F.get_or_init(|| {
            let ca_a = generate_ca("Revocation test CA A").unwrap();
            let ca_b = generate_ca("Revocation test CA B").unwrap();
            let leaf = |ca: &KeyPair, name: &str| {
                issue_leaf(ca, name, CertificateRole::Client)
                    .unwrap()
                    .certificate
            };
            Fixture {
                leaf_a: leaf(&ca_a, "client-a"),
                other_leaf_a: leaf(&ca_a, "client-a2"),
                leaf_b: leaf(&ca_b, "client-b"),
                ca_a,
                ca_b,
            }
        })
    }

    const HOUR: i64 = 3600;

    fn at(unix: i64) -> Asn1Time {
        Asn1Time::from_unix(unix as _).unwrap()
    }

    fn entry(certificate: &X509, now: i64) -> X509Revoked {
        revoked_entry(certificate.serial_number(), &at(now - HOUR)).unwrap()
    }

    /// A CRL of `ca` listing `revoked`, issued at `this_update` and current until `next_update`.
    fn crl(ca: &KeyPair, revoked: &[&X509], this_update: i64, next_update: i64) -> X509Crl {
        let entries = revoked.iter().map(|c| entry(c, this_update)).collect();
        sign_crl(ca, entries, 1, &at(this_update), &at(next_update)).unwrap()
    }

    fn trusted() -> Vec<X509> {
        let f = fixture();
        vec![f.ca_a.certificate.clone(), f.ca_b.certificate.clone()]
    }

    fn revocation(crls: Vec<X509Crl>, policy: StalePolicy) -> Revocation {
        Revocation::from_crls(crls, policy, trusted()).unwrap()
    }

    #[test]
    fn a_listed_certificate_is_revoked_and_the_others_are_not() {
        let f = fixture();
        let now = unix_now();
        let r = revocation(
            vec![crl(&f.ca_a, &[&f.leaf_a], now - HOUR, now + HOUR)],
            StalePolicy::Refuse,
        );
        let ca = &f.ca_a.certificate;
        match r.standing_at(&f.leaf_a, ca, now) {
            Err(RevocationError::Revoked { serial, issuer }) => {
                assert_eq!(issuer, "Revocation test CA A");
                assert!(!serial.is_empty());
            }
            other => panic!("{other:?}"),
        }
        assert!(r.is_revoked(&f.leaf_a, ca).is_err());
        assert_eq!(r.standing_at(&f.other_leaf_a, ca, now), Ok(Standing::Good));
        r.is_revoked(&f.other_leaf_a, ca).unwrap();
        // Checked along a chain too: leaf against CA; the CA itself is the trust anchor.
        let chain = [f.leaf_a.clone(), ca.clone()];
        assert!(matches!(
            r.check_chain_at(&chain, now),
            Err(RevocationError::Revoked { .. })
        ));
        r.check_chain_at(&[f.other_leaf_a.clone(), ca.clone()], now)
            .unwrap();
    }

    #[test]
    fn an_issuer_without_a_loaded_crl_vouches_for_nothing() {
        let f = fixture();
        let now = unix_now();
        let r = revocation(
            vec![crl(&f.ca_a, &[], now - HOUR, now + HOUR)],
            StalePolicy::Refuse,
        );
        assert_eq!(
            r.standing_at(&f.leaf_b, &f.ca_b.certificate, now),
            Err(RevocationError::NoCrl {
                issuer: "Revocation test CA B".into()
            })
        );
        // Checked against the wrong issuer.
        assert!(matches!(
            r.standing_at(&f.leaf_a, &f.ca_b.certificate, now),
            Err(RevocationError::WrongIssuer { .. })
        ));
        // Without any CRL nothing is checked.
        let off = Revocation::disabled();
        assert!(!off.is_enabled());
        assert_eq!(
            off.standing_at(&f.leaf_b, &f.ca_b.certificate, now),
            Ok(Standing::NotChecked)
        );
    }

    #[test]
    fn a_stale_crl_is_refused_under_refuse_and_used_with_a_warning_under_warn() {
        let f = fixture();
        let now = unix_now();
        let stale = || crl(&f.ca_a, &[&f.leaf_a], now - 3 * HOUR, now - HOUR);
        let ca = &f.ca_a.certificate;

        let refuse = revocation(vec![stale()], StalePolicy::Refuse);
        assert!(matches!(
            refuse.standing_at(&f.other_leaf_a, ca, now),
            Err(RevocationError::Stale { .. })
        ));
        // Current again at a time before its nextUpdate.
        assert_eq!(
            refuse.standing_at(&f.other_leaf_a, ca, now - 2 * HOUR),
            Ok(Standing::Good)
        );

        let warn = revocation(vec![stale()], StalePolicy::Warn);
        assert_eq!(
            warn.standing_at(&f.other_leaf_a, ca, now),
            Ok(Standing::GoodByStaleCrl)
        );
        warn.check_at(&f.other_leaf_a, ca, now).unwrap();
        // A stale CRL still revokes what it lists.
        assert!(matches!(
            warn.standing_at(&f.leaf_a, ca, now),
            Err(RevocationError::Revoked { .. })
        ));
    }

    #[test]
    fn a_crl_issued_in_the_future_is_not_used() {
        let f = fixture();
        let now = unix_now();
        let r = revocation(
            vec![crl(&f.ca_a, &[], now + HOUR, now + 2 * HOUR)],
            StalePolicy::Warn,
        );
        assert!(matches!(
            r.standing_at(&f.leaf_a, &f.ca_a.certificate, now),
            Err(RevocationError::NotYetValid { .. })
        ));
        // Within the clock skew it is.
        assert_eq!(
            r.standing_at(&f.leaf_a, &f.ca_a.certificate, now + HOUR - 60),
            Ok(Standing::Good)
        );
    }

    #[test]
    fn crls_not_signed_by_a_trusted_ca_are_refused_when_loaded() {
        let f = fixture();
        let now = unix_now();
        // CA B's CRL while only CA A is trusted.
        let e = Revocation::from_crls(
            vec![crl(&f.ca_b, &[], now - HOUR, now + HOUR)],
            StalePolicy::Refuse,
            vec![f.ca_a.certificate.clone()],
        )
        .unwrap_err();
        assert!(matches!(e, CrlLoadError::UnknownIssuer { .. }), "{e:?}");
        // CA A's name, CA B's key.
        let forger = KeyPair {
            certificate: f.ca_a.certificate.clone(),
            key: f.ca_b.key.clone(),
        };
        let e = Revocation::from_crls(
            vec![crl(&forger, &[], now - HOUR, now + HOUR)],
            StalePolicy::Refuse,
            trusted(),
        )
        .unwrap_err();
        assert!(matches!(e, CrlLoadError::UnknownIssuer { .. }), "{e:?}");
    }

    #[test]
    fn a_ca_certificate_without_crl_sign_cannot_vouch() {
        use openssl::hash::MessageDigest;
        use openssl::x509::extension::{BasicConstraints, KeyUsage};
        let f = fixture();
        let now = unix_now();
        // CA A's name and key, but keyUsage keyCertSign only.
        let mut builder = X509::builder().unwrap();
        builder.set_version(2).unwrap();
        builder
            .set_subject_name(f.ca_a.certificate.subject_name())
            .unwrap();
        builder
            .set_issuer_name(f.ca_a.certificate.subject_name())
            .unwrap();
        builder.set_pubkey(&f.ca_a.key).unwrap();
        builder.set_not_before(&at(now - HOUR)).unwrap();
        builder.set_not_after(&at(now + HOUR)).unwrap();
        builder
            .append_extension(BasicConstraints::new().critical().ca().build().unwrap())
            .unwrap();
        builder
            .append_extension(KeyUsage::new().key_cert_sign().build().unwrap())
            .unwrap();
        builder.sign(&f.ca_a.key, MessageDigest::sha256()).unwrap();
        let no_crl_sign = builder.build();
        let r = revocation(
            vec![crl(&f.ca_a, &[], now - HOUR, now + HOUR)],
            StalePolicy::Refuse,
        );
        assert!(matches!(
            r.standing_at(&f.leaf_a, &no_crl_sign, now),
            Err(RevocationError::IssuerMayNotSignCrls { .. })
        ));
    }

    #[test]
    fn delta_and_other_critical_crl_extensions_are_refused() {
        use openssl::asn1::{Asn1Object, Asn1OctetString};
        use openssl::bn::BigNum;
        use openssl::hash::MessageDigest;
        use openssl::x509::X509Extension;
        use openssl::x509::extension::CrlNumber;
        let f = fixture();
        let now = unix_now();
        let extension = |oid: &str, critical: bool, value: &[u8]| {
            let oid = Asn1Object::from_str(oid).unwrap();
            let value = Asn1OctetString::new_from_bytes(value).unwrap();
            X509Extension::new_from_der(&oid, critical, &value).unwrap()
        };
        let key_id = f.ca_a.certificate.subject_key_id().unwrap().as_slice();
        let mut authority_key_id = vec![0x30, key_id.len() as u8 + 2, 0x80, key_id.len() as u8];
        authority_key_id.extend_from_slice(key_id);
        let mut builder = openssl::x509::X509CrlBuilder::new().unwrap();
        builder
            .set_issuer_name(f.ca_a.certificate.subject_name())
            .unwrap();
        builder.set_last_update(&at(now - HOUR)).unwrap();
        builder.set_next_update(&at(now + HOUR)).unwrap();
        builder
            .append_extension(extension("2.5.29.35", false, &authority_key_id))
            .unwrap();
        builder
            .append_extension(
                CrlNumber::new(BigNum::from_u32(2).unwrap())
                    .unwrap()
                    .build()
                    .unwrap(),
            )
            .unwrap();
        // deltaCRLIndicator: base CRL number 1.
        builder
            .append_extension(extension("2.5.29.27", true, &[0x02, 0x01, 0x01]))
            .unwrap();
        builder.sign(&f.ca_a.key, MessageDigest::sha256()).unwrap();
        let delta = builder.build().unwrap();
        let e = Revocation::from_crls(vec![delta], StalePolicy::Refuse, trusted()).unwrap_err();
        assert!(matches!(e, CrlLoadError::Unsupported { .. }), "{e:?}");
        // The CRLs of the development PKI have no critical extension.
        let plain = crl(&f.ca_a, &[&f.leaf_a], now - HOUR, now + HOUR);
        let der = plain.to_der().unwrap();
        let extensions = der::crl_extensions(&der).unwrap();
        assert_eq!(extensions.len(), 2);
        assert!(extensions.iter().all(|e| !e.critical));
    }

    #[test]
    fn pem_files_may_hold_several_crls_and_der_one() {
        let f = fixture();
        let now = unix_now();
        let a = crl(&f.ca_a, &[&f.leaf_a], now - HOUR, now + HOUR);
        let b = crl(&f.ca_b, &[], now - HOUR, now + HOUR);
        let pem = [a.to_pem().unwrap(), b.to_pem().unwrap()].concat();
        assert_eq!(parse_crls(&pem, "test").unwrap().len(), 2);
        assert_eq!(parse_crls(&a.to_der().unwrap(), "test").unwrap().len(), 1);
        for garbage in [&b"not a CRL"[..], b"-----BEGIN X509 CRL-----\nAAAA\n", b""] {
            assert!(matches!(
                parse_crls(garbage, "test"),
                Err(CrlLoadError::NotCrl { .. })
            ));
        }
    }

    #[tokio::test]
    async fn a_failed_file_refresh_keeps_the_last_good_crl() {
        let f = fixture();
        let now = unix_now();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("crl.pem");
        let write = |crl: &X509Crl| std::fs::write(&path, crl.to_pem().unwrap()).unwrap();
        write(&crl(&f.ca_a, &[], now - HOUR, now + HOUR));
        let r = Revocation::load(
            vec![CrlSource::File(path.clone())],
            StalePolicy::Refuse,
            trusted(),
        )
        .await
        .unwrap();
        let ca = &f.ca_a.certificate;
        assert_eq!(r.standing_at(&f.leaf_a, ca, now), Ok(Standing::Good));

        // Unreadable, garbage, untrusted, older: each refresh fails and the CRL stays.
        std::fs::write(&path, b"garbage").unwrap();
        assert_eq!(r.refresh().await, 1);
        let forger = KeyPair {
            certificate: f.ca_a.certificate.clone(),
            key: f.ca_b.key.clone(),
        };
        write(&crl(&forger, &[&f.leaf_a], now - HOUR, now + HOUR));
        assert_eq!(r.refresh().await, 1);
        write(&crl(&f.ca_a, &[&f.leaf_a], now - 2 * HOUR, now + HOUR));
        assert_eq!(r.refresh().await, 1);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(r.refresh().await, 1);
        assert_eq!(r.standing_at(&f.leaf_a, ca, now), Ok(Standing::Good));

        // A newer CRL replaces it.
        write(&crl(&f.ca_a, &[&f.leaf_a], now - HOUR / 2, now + HOUR));
        assert_eq!(r.refresh().await, 0);
        assert!(matches!(
            r.standing_at(&f.leaf_a, ca, now),
            Err(RevocationError::Revoked { .. })
        ));

        // A source that cannot be read at start-up stops start-up.
        let e = Revocation::load(
            vec![CrlSource::File(dir.path().join("missing.pem"))],
            StalePolicy::Refuse,
            trusted(),
        )
        .await
        .unwrap_err();
        assert!(matches!(e, CrlLoadError::Read { .. }), "{e:?}");
    }

    /// An HTTP server answering every request with the current body, or 500 when there is none.
    async fn crl_server(body: Arc<std::sync::Mutex<Option<Vec<u8>>>>) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request).await;
                let current = body.lock().unwrap().clone();
                let response = match current {
                    Some(bytes) => [
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: application/pkix-crl\r\n\
                             Content-Length: {}\r\nConnection: close\r\n\r\n",
                            bytes.len()
                        )
                        .into_bytes(),
                        bytes,
                    ]
                    .concat(),
                    None => b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\
                              Connection: close\r\n\r\n"
                        .to_vec(),
                };
                let _ = stream.write_all(&response).await;
                let _ = stream.shutdown().await;
            }
        });
        format!("http://user:secret@{address}/ca.crl?token=secret")
    }

    #[tokio::test]
    async fn crls_are_downloaded_and_a_failed_download_keeps_the_last_good_one() {
        let f = fixture();
        let now = unix_now();
        let first = crl(&f.ca_a, &[], now - HOUR, now + HOUR);
        let body = Arc::new(std::sync::Mutex::new(Some(first.to_der().unwrap())));
        let url = crl_server(body.clone()).await;
        let source = CrlSource::Url(url);
        assert!(!source.to_string().contains("secret"), "{source}");
        let r = Revocation::load(vec![source], StalePolicy::Refuse, trusted())
            .await
            .unwrap();
        let ca = &f.ca_a.certificate;
        assert_eq!(r.standing_at(&f.leaf_a, ca, now), Ok(Standing::Good));

        *body.lock().unwrap() = None;
        assert_eq!(r.refresh().await, 1);
        assert_eq!(r.standing_at(&f.leaf_a, ca, now), Ok(Standing::Good));

        let second = crl(&f.ca_a, &[&f.leaf_a], now - HOUR / 2, now + HOUR);
        *body.lock().unwrap() = Some(second.to_pem().unwrap());
        assert_eq!(r.refresh().await, 0);
        assert!(matches!(
            r.standing_at(&f.leaf_a, ca, now),
            Err(RevocationError::Revoked { .. })
        ));
    }
}
