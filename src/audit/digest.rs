//! Keyed digests of personal identifiers, so the exchange log can link records about the same
//! person without holding the identifier in clear.

use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;
use secrecy::{ExposeSecret, SecretString};

/// Turns personal identifiers into HMAC-SHA256 digests under a secret key. A plain hash of a
/// 13-digit IDNP could be reversed by trying every number; a keyed one cannot without the key.
#[derive(Clone)]
pub struct PersonalDataDigester {
    key: SecretString,
}

impl PersonalDataDigester {
    pub fn new(key: SecretString) -> Self {
        Self { key }
    }

    /// Lower-case hex HMAC-SHA256 of `value`.
    pub fn digest(&self, value: &str) -> String {
        let key = PKey::hmac(self.key.expose_secret().as_bytes())
            .expect("an HMAC key accepts any byte string");
        let mut signer =
            Signer::new(MessageDigest::sha256(), &key).expect("HMAC-SHA256 is always available");
        signer
            .update(value.as_bytes())
            .expect("HMAC update does not fail");
        hex::encode(
            signer
                .sign_to_vec()
                .expect("HMAC finalisation does not fail"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_stable_keyed_and_do_not_contain_the_value() {
        let a = PersonalDataDigester::new(SecretString::from("k".repeat(32)));
        let b = PersonalDataDigester::new(SecretString::from("j".repeat(32)));
        let first = a.digest("2000000000004");
        assert_eq!(first, a.digest("2000000000004"));
        assert_ne!(first, b.digest("2000000000004"));
        assert_ne!(
            first,
            esocial_wire::mconnect::message_digest(b"2000000000004")
        );
        assert_eq!(first.len(), 64);
        assert!(!first.contains("2000000000004"));
    }
}
