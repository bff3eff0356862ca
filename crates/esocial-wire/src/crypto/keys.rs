//! The hub's secret keys. One configured secret, and after a rotation the secrets before it,
//! feed a key for each purpose, derived with HKDF-SHA256 (RFC 5869) under the purpose's label,
//! so that no two purposes share a key. Each derived key has an id (a digest of the key) that is
//! stored beside what it sealed, digested or signed, so that values written under an earlier
//! secret are still read, matched and verified after the secret changes.

use secrecy::{ExposeSecret, SecretString};

/// What a key is for; each purpose has its own HKDF label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// AES-256-GCM sealing of personal data at rest.
    Sealing,
    /// HMAC-SHA256 digests of personal identifiers.
    Digest,
    /// HMAC-SHA256 seals of audit-log entries to their place.
    AuditSeal,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Self::Sealing => b"esocial-hub sealing v2",
            Self::Digest => b"esocial-hub digest v2",
            Self::AuditSeal => b"esocial-hub audit seal v1",
        }
    }
}

/// A derived key and its id.
#[derive(Clone)]
pub struct DerivedKey {
    /// 16 hex digits identifying the key.
    pub id: String,
    pub key: [u8; 32],
}

/// The current secret and the ones it replaced, newest first.
#[derive(Clone)]
pub struct KeyRing {
    secrets: Vec<SecretString>,
}

impl KeyRing {
    pub fn new(current: SecretString, previous: Vec<SecretString>) -> Self {
        let mut secrets = vec![current];
        secrets.extend(previous);
        Self { secrets }
    }

    /// One secret, no history.
    pub fn single(secret: &SecretString) -> Self {
        Self::new(secret.clone(), Vec::new())
    }

    /// The key for `purpose` under every secret, the current one first.
    pub fn keys(&self, purpose: Purpose) -> Vec<DerivedKey> {
        self.secrets
            .iter()
            .map(|secret| {
                let key = hkdf_sha256(secret.expose_secret().as_bytes(), purpose.label());
                DerivedKey {
                    id: key_id(&key),
                    key,
                }
            })
            .collect()
    }

    /// The raw secrets, newest first: only for reading values written before keys were
    /// derived per purpose.
    pub fn secrets(&self) -> &[SecretString] {
        &self.secrets
    }
}

/// A key's id: the first 8 bytes of SHA-256 over a fixed label and the key, in hex.
pub fn key_id(key: &[u8; 32]) -> String {
    let mut hasher = openssl::sha::Sha256::new();
    hasher.update(b"esocial-hub key id");
    hasher.update(key);
    hex::encode(&hasher.finish()[..8])
}

/// HMAC-SHA256 of `parts` under `key`. Pure Rust: the hub digests two identifiers on every
/// exchange, and an OpenSSL HMAC fetches its algorithm and builds a key object each time.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    use hmac::{KeyInit, Mac};
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("an HMAC key accepts any bytes");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// HKDF-SHA256 (RFC 5869) with no salt: 32 bytes for `info` from `secret`.
pub fn hkdf_sha256(secret: &[u8], info: &[u8]) -> [u8; 32] {
    use openssl::pkey::Id;
    use openssl::pkey_ctx::PkeyCtx;
    let mut context = PkeyCtx::new_id(Id::HKDF).expect("HKDF is available");
    context.derive_init().expect("HKDF initialises");
    context
        .set_hkdf_md(openssl::md::Md::sha256())
        .expect("HKDF takes SHA-256");
    context.set_hkdf_key(secret).expect("HKDF takes any key");
    context.add_hkdf_info(info).expect("HKDF takes any info");
    let mut key = [0u8; 32];
    context
        .derive(Some(&mut key))
        .expect("HKDF derives 32 bytes");
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hkdf_matches_the_rfc_5869_test_vector() {
        // RFC 5869 A.3: SHA-256, no salt, no info; the first 32 bytes of the output.
        let ikm = [0x0bu8; 22];
        assert_eq!(
            hex::encode(hkdf_sha256(&ikm, b"")),
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
        );
    }

    #[test]
    fn hmac_matches_the_rfc_4231_test_vectors() {
        // Test case 2 (a short key), and test case 6 (a key longer than a block), given in parts.
        assert_eq!(
            hex::encode(hmac_sha256(
                b"Jefe",
                &[b"what do ya want ", b"for nothing?"]
            )),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hex::encode(hmac_sha256(
                &[0xaa; 131],
                &[b"Test Using Larger Than Block-Size Key - Hash Key First"]
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn every_purpose_and_every_secret_has_its_own_key() {
        let ring = KeyRing::new(
            SecretString::from("n".repeat(32)),
            vec![SecretString::from("o".repeat(32))],
        );
        let mut ids: Vec<String> = [Purpose::Sealing, Purpose::Digest, Purpose::AuditSeal]
            .into_iter()
            .flat_map(|purpose| ring.keys(purpose))
            .map(|key| key.id)
            .collect();
        assert_eq!(ids.len(), 6);
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 6);
        assert_eq!(
            ring.keys(Purpose::Digest)[1].id,
            KeyRing::single(&SecretString::from("o".repeat(32))).keys(Purpose::Digest)[0].id,
            "a previous secret keeps its keys"
        );
    }
}
