//! Sealing of personal data at rest: requests and results of asynchronous exchanges are kept
//! in the store only as AES-256-GCM ciphertext under a key derived from a configured secret.

use base64::Engine;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;
use openssl::symm::{Cipher, decrypt_aead, encrypt_aead};
use secrecy::{ExposeSecret, SecretString};

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// Binds ciphertexts to this purpose and format version.
const CONTEXT: &[u8] = b"esocial-hub sealed v1";

#[derive(Debug, thiserror::Error)]
pub enum SealingError {
    #[error("sealed value is malformed")]
    Malformed,
    #[error("sealed value failed authentication (wrong key or altered)")]
    Unauthentic,
}

/// Seals and opens values with AES-256-GCM.
#[derive(Clone)]
pub struct Sealer {
    key: [u8; 32],
}

impl Sealer {
    /// Derives the sealing key from `secret` (HMAC-SHA256 with a fixed label), so one secret
    /// can feed several purposes without the keys being related in a useful way.
    pub fn from_secret(secret: &SecretString) -> Self {
        let mac_key = PKey::hmac(secret.expose_secret().as_bytes()).expect("HMAC accepts any key");
        let mut signer =
            Signer::new(MessageDigest::sha256(), &mac_key).expect("HMAC-SHA256 is available");
        signer
            .update(b"esocial-hub sealing key")
            .expect("HMAC update does not fail");
        let digest = signer
            .sign_to_vec()
            .expect("HMAC finalisation does not fail");
        let mut key = [0u8; 32];
        key.copy_from_slice(&digest);
        Self { key }
    }

    /// Encrypts `plaintext`; the result is base64 of nonce, ciphertext and tag.
    pub fn seal(&self, plaintext: &[u8]) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        openssl::rand::rand_bytes(&mut nonce).expect("the system RNG is available");
        let mut tag = [0u8; TAG_LEN];
        let ciphertext = encrypt_aead(
            Cipher::aes_256_gcm(),
            &self.key,
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
        base64::engine::general_purpose::STANDARD.encode(sealed)
    }

    /// Decrypts and authenticates a value made by `seal`.
    pub fn open(&self, sealed: &str) -> Result<Vec<u8>, SealingError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(sealed)
            .map_err(|_| SealingError::Malformed)?;
        if bytes.len() < NONCE_LEN + TAG_LEN {
            return Err(SealingError::Malformed);
        }
        let (nonce, rest) = bytes.split_at(NONCE_LEN);
        let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
        decrypt_aead(
            Cipher::aes_256_gcm(),
            &self.key,
            Some(nonce),
            CONTEXT,
            ciphertext,
            tag,
        )
        .map_err(|_| SealingError::Unauthentic)
    }
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
        assert!(matches!(
            other.open(&sealed),
            Err(SealingError::Unauthentic)
        ));
        let mut bytes = base64::engine::general_purpose::STANDARD
            .decode(&sealed)
            .unwrap();
        bytes[NONCE_LEN] ^= 1;
        let altered = base64::engine::general_purpose::STANDARD.encode(bytes);
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
}
