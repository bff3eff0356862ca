//! Keyed digests of personal identifiers, so the exchange log and the audit log can link
//! records about the same person without holding the identifier in clear.

use esocial_wire::crypto::keys::{DerivedKey, KeyRing, Purpose, hmac_sha256};
use secrecy::{ExposeSecret, SecretString};

/// Turns personal identifiers into HMAC-SHA256 digests under a key derived for this purpose.
/// A plain hash of a 13-digit IDNP could be reversed by trying every number; a keyed one
/// cannot without the key. A digest names its key (`<key id>.<hex>`), so that after a
/// rotation the digests written before are still found.
#[derive(Clone)]
pub struct PersonalDataDigester {
    /// Newest first.
    keys: Vec<DerivedKey>,
    /// The secrets themselves, newest first: digests written before keys were derived per
    /// purpose were HMACs under the secret, with no key id.
    unnamed: Vec<SecretString>,
}

impl PersonalDataDigester {
    pub fn new(ring: &KeyRing) -> Self {
        Self {
            keys: ring.keys(Purpose::Digest),
            unnamed: ring.secrets().to_vec(),
        }
    }

    fn digest_with(key: &DerivedKey, value: &str) -> String {
        format!(
            "{}.{}",
            key.id,
            hex::encode(hmac_sha256(&key.key, &[value.as_bytes()]))
        )
    }

    /// The digest of `value` under the current key.
    pub fn digest(&self, value: &str) -> String {
        Self::digest_with(&self.keys[0], value)
    }

    /// Every digest `value` may have been written as, under any key of the ring: to find
    /// what was written about it.
    pub fn digests(&self, value: &str) -> Vec<String> {
        self.keys
            .iter()
            .map(|key| Self::digest_with(key, value))
            .chain(self.unnamed.iter().map(|secret| {
                hex::encode(hmac_sha256(
                    secret.expose_secret().as_bytes(),
                    &[value.as_bytes()],
                ))
            }))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(current: &str, previous: &[&str]) -> KeyRing {
        KeyRing::new(
            SecretString::from(current.to_string()),
            previous
                .iter()
                .map(|secret| SecretString::from(secret.to_string()))
                .collect(),
        )
    }

    #[test]
    fn digests_are_stable_keyed_and_do_not_contain_the_value() {
        let a = PersonalDataDigester::new(&ring(&"k".repeat(32), &[]));
        let b = PersonalDataDigester::new(&ring(&"j".repeat(32), &[]));
        let first = a.digest("2000000000004");
        assert_eq!(first, a.digest("2000000000004"));
        assert_ne!(first, b.digest("2000000000004"));
        assert!(!first.contains(&esocial_wire::mconnect::message_digest(b"2000000000004")));
        assert_eq!(first.len(), 16 + 1 + 64);
        assert!(!first.contains("2000000000004"));
    }

    #[test]
    fn after_a_rotation_the_digests_written_before_are_still_found() {
        let old = "o".repeat(32);
        let before = PersonalDataDigester::new(&ring(&old, &[])).digest("2000000000004");
        let unnamed = hex::encode(hmac_sha256(old.as_bytes(), &[b"2000000000004"]));
        let rotated = PersonalDataDigester::new(&ring(&"n".repeat(32), &[&old]));
        let all = rotated.digests("2000000000004");
        assert_ne!(rotated.digest("2000000000004"), before);
        assert!(all.contains(&before));
        assert!(all.contains(&unnamed));
        assert_eq!(all[0], rotated.digest("2000000000004"));
    }
}
