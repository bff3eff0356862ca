//! An audit entry's canonical form and digest, and the keyed seal that ties an entry to its
//! place in the log.

use esocial_store::AuditEntryRow;
use esocial_wire::crypto::keys::{DerivedKey, KeyRing, Purpose, hmac_sha256};
use serde::Serialize;
use sha2::Digest as _;

use super::tree::{EntryDigest, TreeHash};

/// The canonical form of an entry: JSON with its fields in this order, absent ones as `null`.
/// Its SHA-256 is the entry's leaf in the log's tree; a proof of inclusion carries it whole.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Canonical<'a> {
    version: u8,
    entry_id: &'a str,
    kind: &'a str,
    recorded_at: &'a str,
    exchange_id: Option<&'a str>,
    client: Option<&'a str>,
    service: Option<&'a str>,
    legal_basis: Option<&'a str>,
    reason: Option<&'a str>,
    case_id: Option<&'a str>,
    calling_user_digest: Option<&'a str>,
    subject_digest: Option<&'a str>,
    person_id: Option<&'a str>,
    outcome: &'a str,
    error_code: Option<&'a str>,
    fields_released: Option<&'a str>,
    request_digest: Option<&'a str>,
    response_digest: Option<&'a str>,
}

/// The entry's canonical JSON.
pub fn canonical(row: &AuditEntryRow) -> String {
    serde_json::to_string(&Canonical {
        version: 1,
        entry_id: &row.entry_id,
        kind: &row.kind,
        recorded_at: &row.recorded_at,
        exchange_id: row.exchange_id.as_deref(),
        client: row.client_id.as_deref(),
        service: row.service.as_deref(),
        legal_basis: row.legal_basis.as_deref(),
        reason: row.reason.as_deref(),
        case_id: row.case_id.as_deref(),
        calling_user_digest: row.calling_user_digest.as_deref(),
        subject_digest: row.subject_digest.as_deref(),
        person_id: row.person_id.as_deref(),
        outcome: &row.outcome,
        error_code: row.error_code.as_deref(),
        fields_released: row.fields_released.as_deref(),
        request_digest: row.request_digest.as_deref(),
        response_digest: row.response_digest.as_deref(),
    })
    .expect("strings always serialise")
}

/// SHA-256 of a canonical form.
pub fn digest_of(canonical: &str) -> EntryDigest {
    TreeHash::digest(canonical.as_bytes()).into()
}

/// Binds the seal to this purpose and format.
const SEAL_CONTEXT: &[u8] = b"esocial-hub audit seal v1";

/// Seals entries to their place: HMAC-SHA256 over the sequence number and the entry digest,
/// under a key derived (HKDF-SHA256) from the audit secret for this purpose alone. Someone who
/// can write the database but does not hold the key can change an entry, move it or drop it,
/// but cannot make its seal fit again, so `audit verify` names which entry was touched. Each
/// seal is stored with its key's id; after a rotation, seals made under an earlier secret of
/// the ring still verify.
#[derive(Clone)]
pub struct AuditSealer {
    /// Newest first.
    keys: Vec<DerivedKey>,
}

impl AuditSealer {
    pub fn from_ring(ring: &KeyRing) -> Self {
        Self {
            keys: ring.keys(Purpose::AuditSeal),
        }
    }

    /// The id of the key new seals are made with.
    pub fn key_id(&self) -> &str {
        &self.keys[0].id
    }

    /// Whether a seal made under `key_id` can be checked.
    pub fn knows(&self, key_id: &str) -> bool {
        self.keys.iter().any(|key| key.id == key_id)
    }

    fn seal_with(key: &DerivedKey, seq: u64, digest: &EntryDigest) -> String {
        hex::encode(hmac_sha256(
            &key.key,
            &[SEAL_CONTEXT, &seq.to_be_bytes(), digest],
        ))
    }

    /// The hex seal of the entry with `digest` at `seq`, under the current key.
    pub fn seal(&self, seq: u64, digest: &EntryDigest) -> String {
        Self::seal_with(&self.keys[0], seq, digest)
    }

    /// Whether `seal`, made under `key_id`, is the seal of the entry with `digest` at `seq`
    /// (constant time).
    pub fn fits(&self, key_id: &str, seq: u64, digest: &EntryDigest, seal: &str) -> bool {
        let Some(key) = self.keys.iter().find(|key| key.id == key_id) else {
            return false;
        };
        let expected = Self::seal_with(key, seq, digest);
        expected.len() == seal.len() && openssl::memcmp::eq(expected.as_bytes(), seal.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> AuditEntryRow {
        AuditEntryRow {
            entry_id: "e1".into(),
            kind: "exchange.outbound".into(),
            recorded_at: "2026-12-07T00:00:00Z".into(),
            exchange_id: Some("e1".into()),
            client_id: Some("social-module".into()),
            service: Some("civil.person".into()),
            legal_basis: Some("Legea 133/2008".into()),
            reason: Some("evaluarea cererii".into()),
            case_id: None,
            calling_user_digest: Some("ab".into()),
            subject_digest: Some("cd".into()),
            person_id: None,
            outcome: "completed".into(),
            error_code: None,
            fields_released: None,
            request_digest: Some("01".into()),
            response_digest: Some("02".into()),
        }
    }

    #[test]
    fn the_canonical_form_is_stable_and_every_field_changes_the_digest() {
        let base = row();
        assert_eq!(canonical(&base), canonical(&base.clone()));
        assert!(
            canonical(&base)
                .starts_with(r#"{"version":1,"entryId":"e1","kind":"exchange.outbound""#)
        );
        let mut changed = base.clone();
        changed.reason = Some("alt motiv".into());
        assert_ne!(
            digest_of(&canonical(&base)),
            digest_of(&canonical(&changed))
        );
        let mut changed = base.clone();
        changed.case_id = Some(String::new());
        assert_ne!(
            digest_of(&canonical(&base)),
            digest_of(&canonical(&changed))
        );
    }

    #[test]
    fn a_seal_fits_only_its_place_digest_and_key() {
        use secrecy::SecretString;
        let secret = |c: &str| SecretString::from(c.repeat(32));
        let sealer = AuditSealer::from_ring(&KeyRing::single(&secret("k")));
        let other = AuditSealer::from_ring(&KeyRing::single(&secret("j")));
        let digest = digest_of("x");
        let seal = sealer.seal(7, &digest);
        let id = sealer.key_id().to_string();
        assert!(sealer.fits(&id, 7, &digest, &seal));
        assert!(!sealer.fits(&id, 8, &digest, &seal));
        assert!(!sealer.fits(&id, 7, &digest_of("y"), &seal));
        assert!(!other.fits(&id, 7, &digest, &seal));
        assert_ne!(sealer.key_id(), other.key_id());
        // After a rotation the old seals still fit, under their own key id.
        let rotated = AuditSealer::from_ring(&KeyRing::new(secret("n"), vec![secret("k")]));
        assert!(rotated.knows(&id) && rotated.key_id() != id);
        assert!(rotated.fits(&id, 7, &digest, &seal));
    }
}
