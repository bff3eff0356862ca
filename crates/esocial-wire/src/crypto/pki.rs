//! Development PKI: a throwaway CA with certificates for the hub, each simulated registry and
//! each client module. For development and tests only; production keys come from the state PKI.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use openssl::asn1::{Asn1IntegerRef, Asn1Object, Asn1OctetString, Asn1Time, Asn1TimeRef};
use openssl::bn::{BigNum, MsbOption};
use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::extension::{
    BasicConstraints, CrlNumber, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
    SubjectKeyIdentifier,
};
use openssl::x509::{
    X509, X509Crl, X509CrlBuilder, X509Extension, X509NameBuilder, X509Revoked, X509RevokedBuilder,
};

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("openssl: {0}")]
    OpenSsl(#[from] ErrorStack),
    #[error("cannot write `{path}`: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read `{path}`: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the development CA certificate has no subject key identifier")]
    NoKeyIdentifier,
    #[error("`{0}` was not issued by the development CA")]
    NotIssuedByCa(PathBuf),
}

/// What a leaf certificate is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateRole {
    /// TLS client only (eSocial modules, agencies).
    Client,
    /// TLS server and client, and message signing (the hub, registries).
    ServerAndClient,
}

/// A private key with its certificate.
pub struct KeyPair {
    pub key: PKey<Private>,
    pub certificate: X509,
}

impl KeyPair {
    pub fn certificate_pem(&self) -> Result<Vec<u8>, PkiError> {
        Ok(self.certificate.to_pem()?)
    }

    pub fn key_pem(&self) -> Result<Vec<u8>, PkiError> {
        Ok(self.key.private_key_to_pem_pkcs8()?)
    }
}

fn name(common_name: &str) -> Result<openssl::x509::X509Name, ErrorStack> {
    let mut builder = X509NameBuilder::new()?;
    builder.append_entry_by_text("C", "MD")?;
    builder.append_entry_by_text("O", "eSocial development PKI")?;
    builder.append_entry_by_text("CN", common_name)?;
    Ok(builder.build())
}

fn serial() -> Result<openssl::asn1::Asn1Integer, ErrorStack> {
    let mut number = BigNum::new()?;
    number.rand(127, MsbOption::MAYBE_ZERO, false)?;
    number.to_asn1_integer()
}

/// Creates a self-signed certificate authority valid for ten years.
pub fn generate_ca(common_name: &str) -> Result<KeyPair, PkiError> {
    let key = PKey::from_rsa(Rsa::generate(2048)?)?;
    let mut builder = X509::builder()?;
    builder.set_version(2)?;
    let serial_number = serial()?;
    builder.set_serial_number(&serial_number)?;
    let subject = name(common_name)?;
    builder.set_subject_name(&subject)?;
    builder.set_issuer_name(&subject)?;
    builder.set_pubkey(&key)?;
    builder.set_not_before(&*Asn1Time::days_from_now(0)?)?;
    builder.set_not_after(&*Asn1Time::days_from_now(3650)?)?;
    builder.append_extension(BasicConstraints::new().critical().ca().build()?)?;
    builder.append_extension(
        KeyUsage::new()
            .critical()
            .key_cert_sign()
            .crl_sign()
            .build()?,
    )?;
    let key_identifier = SubjectKeyIdentifier::new().build(&builder.x509v3_context(None, None))?;
    builder.append_extension(key_identifier)?;
    builder.sign(&key, MessageDigest::sha256())?;
    Ok(KeyPair {
        key,
        certificate: builder.build(),
    })
}

/// Issues a leaf certificate signed by `ca`, valid for two years, for loopback use.
pub fn issue_leaf(
    ca: &KeyPair,
    common_name: &str,
    role: CertificateRole,
) -> Result<KeyPair, PkiError> {
    let key = PKey::from_rsa(Rsa::generate(2048)?)?;
    let mut builder = X509::builder()?;
    builder.set_version(2)?;
    let serial_number = serial()?;
    builder.set_serial_number(&serial_number)?;
    let subject = name(common_name)?;
    builder.set_subject_name(&subject)?;
    builder.set_issuer_name(ca.certificate.subject_name())?;
    builder.set_pubkey(&key)?;
    builder.set_not_before(&*Asn1Time::days_from_now(0)?)?;
    builder.set_not_after(&*Asn1Time::days_from_now(730)?)?;
    builder.append_extension(BasicConstraints::new().build()?)?;
    builder.append_extension(
        KeyUsage::new()
            .critical()
            .digital_signature()
            .key_encipherment()
            .non_repudiation()
            .build()?,
    )?;
    let mut usage = ExtendedKeyUsage::new();
    usage.client_auth();
    if role == CertificateRole::ServerAndClient {
        usage.server_auth();
    }
    builder.append_extension(usage.build()?)?;
    if role == CertificateRole::ServerAndClient {
        let alt_names = SubjectAlternativeName::new()
            .dns("localhost")
            .ip("127.0.0.1")
            .ip("::1")
            .build(&builder.x509v3_context(Some(&ca.certificate), None))?;
        builder.append_extension(alt_names)?;
    }
    builder.sign(&ca.key, MessageDigest::sha256())?;
    Ok(KeyPair {
        key,
        certificate: builder.build(),
    })
}

/// How long a development CRL stays current (its nextUpdate).
const DEV_CRL_DAYS: u32 = 30;

/// A CRL entry revoking the certificate with `serial` as of `revoked_at`.
pub fn revoked_entry(
    serial: &Asn1IntegerRef,
    revoked_at: &Asn1TimeRef,
) -> Result<X509Revoked, PkiError> {
    let mut entry = X509RevokedBuilder::new()?;
    entry.set_serial_number(serial)?;
    entry.set_revocation_date(revoked_at)?;
    Ok(entry.build())
}

/// Signs CRL number `number` of `ca`, listing `revoked`, issued at `this_update` and current until
/// `next_update`.
pub fn sign_crl(
    ca: &KeyPair,
    revoked: Vec<X509Revoked>,
    number: u32,
    this_update: &Asn1TimeRef,
    next_update: &Asn1TimeRef,
) -> Result<X509Crl, PkiError> {
    let mut builder = X509CrlBuilder::new()?;
    builder.set_issuer_name(ca.certificate.subject_name())?;
    builder.set_last_update(this_update)?;
    builder.set_next_update(next_update)?;
    // authorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] IMPLICIT OCTET STRING }
    let key_id = ca
        .certificate
        .subject_key_id()
        .ok_or(PkiError::NoKeyIdentifier)?
        .as_slice();
    let key_id_length = u8::try_from(key_id.len()).map_err(|_| PkiError::NoKeyIdentifier)?;
    let mut authority_key_id = vec![0x30, key_id_length + 2, 0x80, key_id_length];
    authority_key_id.extend_from_slice(key_id);
    let oid = Asn1Object::from_str("2.5.29.35")?;
    let value = Asn1OctetString::new_from_bytes(&authority_key_id)?;
    builder.append_extension(X509Extension::new_from_der(&oid, false, &value)?)?;
    builder.append_extension(CrlNumber::new(BigNum::from_u32(number)?)?.build()?)?;
    for entry in revoked {
        builder.add_revoked(entry)?;
    }
    builder.sort()?;
    builder.sign(&ca.key, MessageDigest::sha256())?;
    Ok(builder.build()?)
}

/// The number of `crl` (0 without a crlNumber).
fn crl_number(crl: &X509Crl) -> Result<u32, PkiError> {
    Ok(match crl.extension::<CrlNumber>()? {
        Some((_, number)) => number.to_bn()?.to_dec_str()?.parse().unwrap_or(0),
        None => 0,
    })
}

/// Adds the certificate of `holder` to the development CA's CRL (`crl.pem`) and signs the next
/// CRL. Returns false when it was already revoked (the CRL is renewed all the same).
pub fn revoke_in_dev_pki(layout: &PkiLayout, holder: &str) -> Result<bool, PkiError> {
    let ca = read_pair(&layout.ca_cert(), &layout.ca_key())?;
    let certificate = X509::from_pem(&read(&layout.cert(holder))?)?;
    if certificate
        .issuer_name()
        .try_cmp(ca.certificate.subject_name())?
        .is_ne()
        || !certificate.verify(&ca.key)?
    {
        return Err(PkiError::NotIssuedByCa(layout.cert(holder)));
    }
    write_dev_crl(layout, &ca, Some(&certificate))
}

/// Signs the next development CRL, current for [`DEV_CRL_DAYS`] days, with the entries of the
/// current `crl.pem` (if any) and `revoke`. Returns whether `revoke` was added.
fn write_dev_crl(
    layout: &PkiLayout,
    ca: &KeyPair,
    revoke: Option<&X509>,
) -> Result<bool, PkiError> {
    let (mut entries, number) = match layout.crl().is_file() {
        true => {
            let crl = X509Crl::from_pem(&read(&layout.crl())?)?;
            let entries = match crl.get_revoked() {
                Some(revoked) => revoked
                    .iter()
                    .map(|entry| entry.to_owned())
                    .collect::<Result<Vec<_>, _>>()?,
                None => Vec::new(),
            };
            (entries, crl_number(&crl)?)
        }
        false => (Vec::new(), 0),
    };
    let now = Asn1Time::days_from_now(0)?;
    let mut added = false;
    if let Some(certificate) = revoke
        && !entries
            .iter()
            .any(|entry| entry.serial_number() == certificate.serial_number())
    {
        entries.push(revoked_entry(certificate.serial_number(), &now)?);
        added = true;
    }
    let next_update = Asn1Time::days_from_now(DEV_CRL_DAYS)?;
    let crl = sign_crl(ca, entries, number + 1, &now, &next_update)?;
    write_file(&layout.crl(), &crl.to_pem()?, 0o644)?;
    Ok(added)
}

/// Whether the development CRL is missing or out of date within a day.
fn dev_crl_needs_signing(layout: &PkiLayout) -> Result<bool, PkiError> {
    if !layout.crl().is_file() {
        return Ok(true);
    }
    let crl = X509Crl::from_pem(&read(&layout.crl())?)?;
    let tomorrow = Asn1Time::days_from_now(1)?;
    Ok(crl.next_update().is_none_or(|next| next < tomorrow))
}

/// File names of the development PKI inside its folder.
pub struct PkiLayout {
    pub dir: PathBuf,
}

impl PkiLayout {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }
    pub fn ca_key(&self) -> PathBuf {
        self.dir.join("ca.key")
    }
    pub fn cert(&self, holder: &str) -> PathBuf {
        self.dir.join(format!("{holder}.pem"))
    }
    pub fn key(&self, holder: &str) -> PathBuf {
        self.dir.join(format!("{holder}.key"))
    }
    /// The CA's certificate revocation list (PEM).
    pub fn crl(&self) -> PathBuf {
        self.dir.join("crl.pem")
    }
    /// Whether the CA already exists (the demo then reuses it).
    pub fn exists(&self) -> bool {
        self.ca_cert().is_file() && self.ca_key().is_file()
    }
}

/// Certificate holders: `hub`, `registry-<name>` and `client-<name>`.
pub fn registry_holder(registry: &str) -> String {
    format!("registry-{registry}")
}

pub fn client_holder(client: &str) -> String {
    format!("client-{client}")
}

fn write_file(path: &Path, contents: &[u8], mode: u32) -> Result<(), PkiError> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(|source| PkiError::Write {
            path: path.to_owned(),
            source,
        })?;
    file.write_all(contents).map_err(|source| PkiError::Write {
        path: path.to_owned(),
        source,
    })
}

fn write_pair(layout: &PkiLayout, holder: &str, pair: &KeyPair) -> Result<(), PkiError> {
    write_file(&layout.key(holder), &pair.key_pem()?, 0o600)?;
    write_file(&layout.cert(holder), &pair.certificate_pem()?, 0o644)
}

fn read(path: &Path) -> Result<Vec<u8>, PkiError> {
    fs::read(path).map_err(|source| PkiError::Read {
        path: path.to_owned(),
        source,
    })
}

fn read_pair(cert: &Path, key: &Path) -> Result<KeyPair, PkiError> {
    Ok(KeyPair {
        certificate: X509::from_pem(&read(cert)?)?,
        key: PKey::private_key_from_pem(&read(key)?)?,
    })
}

/// Creates (or completes) a development PKI in `layout.dir`: the CA, its CRL (`crl`, empty at
/// first), the hub, one certificate per registry and one per client. Existing files are kept
/// (the CRL is renewed when it is about to go out of date). Returns what was created.
pub fn init_dev_pki(
    layout: &PkiLayout,
    registries: &[String],
    clients: &[String],
) -> Result<Vec<String>, PkiError> {
    fs::create_dir_all(&layout.dir).map_err(|source| PkiError::Write {
        path: layout.dir.clone(),
        source,
    })?;
    let mut created = Vec::new();
    let ca = if layout.exists() {
        read_pair(&layout.ca_cert(), &layout.ca_key())?
    } else {
        let ca = generate_ca("eSocial development CA")?;
        write_file(&layout.ca_key(), &ca.key_pem()?, 0o600)?;
        write_file(&layout.ca_cert(), &ca.certificate_pem()?, 0o644)?;
        created.push("ca".to_string());
        ca
    };
    // An existing CRL keeps its entries and is renewed before it goes out of date.
    if dev_crl_needs_signing(layout)? {
        if !layout.crl().is_file() {
            created.push("crl".to_string());
        }
        write_dev_crl(layout, &ca, None)?;
    }
    let mut holders = vec![("hub".to_string(), CertificateRole::ServerAndClient)];
    holders.extend(
        registries
            .iter()
            .map(|r| (registry_holder(r), CertificateRole::ServerAndClient)),
    );
    holders.extend(
        clients
            .iter()
            .map(|c| (client_holder(c), CertificateRole::Client)),
    );
    for (holder, role) in holders {
        if layout.cert(&holder).is_file() && layout.key(&holder).is_file() {
            continue;
        }
        let common_name = holder
            .strip_prefix("client-")
            .unwrap_or(holder.as_str())
            .to_string();
        let pair = issue_leaf(&ca, &common_name, role)?;
        write_pair(layout, &holder, &pair)?;
        created.push(holder);
    }
    Ok(created)
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::stack::Stack;
    use openssl::x509::X509StoreContext;
    use openssl::x509::store::X509StoreBuilder;

    #[test]
    fn issued_certificates_chain_to_the_ca_and_keys_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let layout = PkiLayout::new(dir.path());
        let created = init_dev_pki(
            &layout,
            &["civil".to_string()],
            &["case-management".to_string()],
        )
        .unwrap();
        assert_eq!(
            created,
            [
                "ca",
                "crl",
                "hub",
                "registry-civil",
                "client-case-management"
            ]
        );

        let ca = X509::from_pem(&fs::read(layout.ca_cert()).unwrap()).unwrap();
        let mut store = X509StoreBuilder::new().unwrap();
        store.add_cert(ca).unwrap();
        let store = store.build();
        for holder in ["hub", "registry-civil", "client-case-management"] {
            let leaf = X509::from_pem(&fs::read(layout.cert(holder)).unwrap()).unwrap();
            let mut context = X509StoreContext::new().unwrap();
            let chain = Stack::new().unwrap();
            let valid = context
                .init(&store, &leaf, &chain, |c| c.verify_cert())
                .unwrap();
            assert!(valid, "{holder} must chain to the CA");
            let mode = fs::metadata(layout.key(holder)).unwrap().permissions();
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(mode.mode() & 0o777, 0o600, "{holder}.key must be private");
        }
        let client =
            X509::from_pem(&fs::read(layout.cert("client-case-management")).unwrap()).unwrap();
        let common_name = client
            .subject_name()
            .entries_by_nid(openssl::nid::Nid::COMMONNAME)
            .next()
            .unwrap()
            .data()
            .to_string()
            .unwrap();
        assert_eq!(common_name, "case-management");
    }

    #[test]
    fn leaves_may_sign_messages_and_the_ca_may_not() {
        use crate::crypto::x509::{SignerCertificateError, check_message_signer};
        use openssl::x509::{X509ExtendedKeyUsage, X509KeyUsage};
        let ca = generate_ca("test CA").unwrap();
        for (role, purposes) in [
            (
                CertificateRole::ServerAndClient,
                X509ExtendedKeyUsage::SSL_SERVER | X509ExtendedKeyUsage::SSL_CLIENT,
            ),
            (CertificateRole::Client, X509ExtendedKeyUsage::SSL_CLIENT),
        ] {
            let leaf = issue_leaf(&ca, "holder", role).unwrap().certificate;
            let usage = leaf.key_usage().unwrap();
            assert!(
                usage.contains(X509KeyUsage::DIGITAL_SIGNATURE | X509KeyUsage::KEY_ENCIPHERMENT),
                "{role:?}"
            );
            assert_eq!(leaf.extended_key_usage(), Some(purposes), "{role:?}");
            assert_eq!(check_message_signer(&leaf), Ok(()), "{role:?}");
        }
        assert_eq!(
            check_message_signer(&ca.certificate),
            Err(SignerCertificateError::CertificateAuthority)
        );
    }

    #[test]
    fn the_crl_starts_empty_and_revoking_adds_holders_to_it() {
        use crate::crypto::revocation::{Revocation, RevocationError, StalePolicy};
        let dir = tempfile::tempdir().unwrap();
        let layout = PkiLayout::new(dir.path());
        init_dev_pki(&layout, &[], &["case-management".to_string()]).unwrap();
        let ca = X509::from_pem(&fs::read(layout.ca_cert()).unwrap()).unwrap();
        let load = |path: &Path| X509::from_pem(&fs::read(path).unwrap()).unwrap();
        let client = load(&layout.cert("client-case-management"));
        let hub = load(&layout.cert("hub"));
        let revocation = || {
            let crl = X509Crl::from_pem(&fs::read(layout.crl()).unwrap()).unwrap();
            assert!(crl.verify(&ca.public_key().unwrap()).unwrap());
            Revocation::from_crls(vec![crl], StalePolicy::Refuse, vec![ca.clone()]).unwrap()
        };
        revocation().is_revoked(&client, &ca).unwrap();
        revocation().is_revoked(&hub, &ca).unwrap();

        assert!(revoke_in_dev_pki(&layout, "client-case-management").unwrap());
        assert!(matches!(
            revocation().is_revoked(&client, &ca),
            Err(RevocationError::Revoked { .. })
        ));
        revocation().is_revoked(&hub, &ca).unwrap();
        // Again: nothing to add, the CRL is renewed; then a second holder.
        assert!(!revoke_in_dev_pki(&layout, "client-case-management").unwrap());
        assert!(revoke_in_dev_pki(&layout, "hub").unwrap());
        let crl = X509Crl::from_pem(&fs::read(layout.crl()).unwrap()).unwrap();
        assert_eq!(crl.get_revoked().map(|r| r.len()), Some(2));
        assert_eq!(crl_number(&crl).unwrap(), 4);
        assert!(revocation().is_revoked(&client, &ca).is_err());
        assert!(revocation().is_revoked(&hub, &ca).is_err());
        // Init keeps the CRL, entries included.
        let created = init_dev_pki(&layout, &[], &["case-management".to_string()]).unwrap();
        assert!(created.is_empty(), "{created:?}");
        assert!(revocation().is_revoked(&client, &ca).is_err());

        // A certificate of another CA, or no certificate at all.
        let stranger = issue_leaf(
            &generate_ca("other CA").unwrap(),
            "stranger",
            CertificateRole::Client,
        )
        .unwrap();
        write_pair(&layout, "stranger", &stranger).unwrap();
        assert!(matches!(
            revoke_in_dev_pki(&layout, "stranger"),
            Err(PkiError::NotIssuedByCa(_))
        ));
        assert!(matches!(
            revoke_in_dev_pki(&layout, "nobody"),
            Err(PkiError::Read { .. })
        ));
    }

    #[test]
    fn running_twice_keeps_existing_files() {
        let dir = tempfile::tempdir().unwrap();
        let layout = PkiLayout::new(dir.path());
        init_dev_pki(&layout, &[], &[]).unwrap();
        let before = fs::read(layout.cert("hub")).unwrap();
        let created = init_dev_pki(&layout, &["civil".to_string()], &[]).unwrap();
        assert_eq!(created, ["registry-civil"]);
        assert_eq!(fs::read(layout.cert("hub")).unwrap(), before);
    }
}
