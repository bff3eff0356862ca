//! Sealing of personal data at rest: requests and results of asynchronous exchanges, the
//! master index's identity attributes and reported events are kept in the store only as
//! AES-256-GCM ciphertext, under a key derived for sealing alone from the configured secret
//! (`keys`). A sealed value names its key (`2.<key id>.<base64>`), so values sealed before a
//! rotation still open.

use base64::Engine;
use openssl::symm::{Cipher, decrypt_aead, encrypt_aead};
use secrecy::{ExposeSecret, SecretString};

use super::keys::{KeyRing, Purpose, hmac_sha256};

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// Binds ciphertexts to this purpose and format version.
const CONTEXT: &[u8] = b"esocial-hub sealed v1";
/// Starts a sealed value that names its key.
const VERSION: &str = "2";

#[derive(Debug, thiserror::Error)]
pub enum SealingError {
    #[error("sealed value is malformed")]
    Malformed,
    #[error("sealed value failed authentication (wrong key or altered)")]
    Unauthentic,
    #[error("sealed value names a key this hub does not hold")]
    UnknownKey,
}

/// Seals and opens values with AES-256-GCM.
#[derive(Clone)]
pub struct Sealer {
    /// The key sealing new values: the current secret's.
    current: (String, [u8; 32]),
    /// Every key that may open a value, by id, the current one included.
    by_id: Vec<(String, [u8; 32])>,
    /// Keys of values sealed before they named their key (HMAC-SHA256 of a fixed label under
    /// each secret), tried in turn.
    unnamed: Vec<[u8; 32]>,
}

impl Sealer {
    /// Seals under `secret` alone.
    pub fn from_secret(secret: &SecretString) -> Self {
        Self::from_ring(&KeyRing::single(secret))
    }

    /// Seals under the ring's current secret; opens what any of its secrets sealed.
    pub fn from_ring(ring: &KeyRing) -> Self {
        let by_id: Vec<(String, [u8; 32])> = ring
            .keys(Purpose::Sealing)
            .into_iter()
            .map(|key| (key.id, key.key))
            .collect();
        let unnamed = ring
            .secrets()
            .iter()
            .map(|secret| {
                hmac_sha256(
                    secret.expose_secret().as_bytes(),
                    &[b"esocial-hub sealing key"],
                )
            })
            .collect();
        Self {
            current: by_id[0].clone(),
            by_id,
            unnamed,
        }
    }

    /// Encrypts `plaintext`; the result is `2.<key id>.` and the base64 of nonce, ciphertext
    /// and tag.
    pub fn seal(&self, plaintext: &[u8]) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        openssl::rand::rand_bytes(&mut nonce).expect("the system RNG is available");
        let mut tag = [0u8; TAG_LEN];
        let ciphertext = encrypt_aead(
            Cipher::aes_256_gcm(),
            &self.current.1,
            Some(&nonce),
            CONTEXT,
            plaintext,
            &mut tag,
        )
        .expect("AES-256-GCM encryption does not fail");
        let mut sealed = Vec::with_capacity(NONCE_LEN + ciphertext.len() + TAG_LEN);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        sealed.extend_from_slice(&tag);
        format!(
            "{VERSION}.{}.{}",
            self.current.0,
            base64::engine::general_purpose::STANDARD.encode(sealed)
        )
    }

    /// Decrypts and authenticates a value made by `seal`, under whichever of the ring's keys
    /// sealed it.
    pub fn open(&self, sealed: &str) -> Result<Vec<u8>, SealingError> {
        let mut parts = sealed.splitn(3, '.');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(VERSION), Some(key_id), Some(body)) => {
                let (_, key) = self
                    .by_id
                    .iter()
                    .find(|(id, _)| id == key_id)
                    .ok_or(SealingError::UnknownKey)?;
                open_with(key, body)
            }
            _ => {
                let mut outcome = Err(SealingError::Unauthentic);
                for key in &self.unnamed {
                    outcome = open_with(key, sealed);
                    if !matches!(outcome, Err(SealingError::Unauthentic)) {
                        break;
                    }
                }
                outcome
            }
        }
    }
}

fn open_with(key: &[u8; 32], body: &str) -> Result<Vec<u8>, SealingError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|_| SealingError::Malformed)?;
    if bytes.len() < NONCE_LEN + TAG_LEN {
        return Err(SealingError::Malformed);
    }
    let (nonce, rest) = bytes.split_at(NONCE_LEN);
    let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
    decrypt_aead(
        Cipher::aes_256_gcm(),
        key,
        Some(nonce),
        CONTEXT,
        ciphertext,
        tag,
    )
    .map_err(|_| SealingError::Unauthentic)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_the_same_key_and_unaltered() {
        let sealer = Sealer::from_secret(&SecretString::from("a".repeat(40)));
        let other = Sealer::from_secret(&SecretString::from("b".repeat(40)));
        let sealed = sealer.seal(b"{\"idnp\":\"2000000000004\"}");
        assert!(!sealed.contains("2000000000004"));
        assert_eq!(
            sealer.open(&sealed).unwrap(),
            b"{\"idnp\":\"2000000000004\"}"
        );
        assert!(matches!(other.open(&sealed), Err(SealingError::UnknownKey)));
        let (prefix, body) = sealed.rsplit_once('.').unwrap();
        let mut bytes = base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap();
        bytes[NONCE_LEN] ^= 1;
        let altered = format!(
            "{prefix}.{}",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        );
        assert!(matches!(
            sealer.open(&altered),
            Err(SealingError::Unauthentic)
        ));
        assert_ne!(
            sealer.seal(b"x"),
            sealer.seal(b"x"),
            "fresh nonce each time"
        );
    }

    #[test]
    fn values_sealed_before_a_rotation_or_before_keys_were_named_still_open() {
        let old = SecretString::from("o".repeat(40));
        let new = SecretString::from("n".repeat(40));
        let before = Sealer::from_secret(&old);
        let sealed_before = before.seal(b"old value");
        // As sealed before values named their key: base64 under the HMAC-derived key.
        let legacy_key = hmac_sha256(
            old.expose_secret().as_bytes(),
            &[b"esocial-hub sealing key"],
        );
        let legacy = {
            let named = Sealer {
                current: (String::new(), legacy_key),
                by_id: Vec::new(),
                unnamed: Vec::new(),
            }
            .seal(b"legacy value");
            named.splitn(3, '.').nth(2).unwrap().to_string()
        };

        let rotated = Sealer::from_ring(&KeyRing::new(new.clone(), vec![old]));
        assert_eq!(rotated.open(&sealed_before).unwrap(), b"old value");
        assert_eq!(rotated.open(&legacy).unwrap(), b"legacy value");
        let sealed_after = rotated.seal(b"new value");
        assert!(!sealed_after.contains(sealed_before.split('.').nth(1).unwrap()));
        assert!(matches!(
            before.open(&sealed_after),
            Err(SealingError::UnknownKey)
        ));
        assert_eq!(
            Sealer::from_secret(&new).open(&sealed_after).unwrap(),
            b"new value"
        );
    }
}
