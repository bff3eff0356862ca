//! Development PKI: a throwaway CA with certificates for the hub, each simulated registry and
//! each client module. For development and tests only; production keys come from the state PKI.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::extension::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName, SubjectKeyIdentifier,
};
use openssl::x509::{X509, X509NameBuilder};

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

fn read_pair(cert: &Path, key: &Path) -> Result<KeyPair, PkiError> {
    let read = |path: &Path| {
        fs::read(path).map_err(|source| PkiError::Read {
            path: path.to_owned(),
            source,
        })
    };
    Ok(KeyPair {
        certificate: X509::from_pem(&read(cert)?)?,
        key: PKey::private_key_from_pem(&read(key)?)?,
    })
}

/// Creates (or completes) a development PKI in `layout.dir`: the CA, the hub, one certificate
/// per registry and one per client. Existing files are kept. Returns the holders created.
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
            ["ca", "hub", "registry-civil", "client-case-management"]
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
