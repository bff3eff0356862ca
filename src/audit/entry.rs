//! An audit entry's canonical form and digest, and the keyed seal that ties an entry to its
//! place in the log.

use esocial_store::AuditEntryRow;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;
use secrecy::{ExposeSecret, SecretString};
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
/// but cannot make its seal fit again, so `audit verify` names which entry was touched.
#[derive(Clone)]
pub struct AuditSealer {
    key: [u8; 32],
    key_id: String,
}

impl AuditSealer {
    pub fn derive(secret: &SecretString) -> Self {
        let key = hkdf_sha256(secret.expose_secret().as_bytes(), SEAL_CONTEXT);
        let key_id = hex::encode(
            &TreeHash::new_with_prefix(b"esocial-hub key id")
                .chain_update(key)
                .finalize()[..8],
        );
        Self { key, key_id }
    }

    /// Identifies the key (a digest of it), stored beside every seal so that a rotated key is
    /// recognised.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The hex seal of the entry with `digest` at `seq`.
    pub fn seal(&self, seq: u64, digest: &EntryDigest) -> String {
        let key = PKey::hmac(&self.key).expect("an HMAC key accepts any bytes");
        let mut signer =
            Signer::new(MessageDigest::sha256(), &key).expect("HMAC-SHA256 is available");
        for part in [SEAL_CONTEXT, &seq.to_be_bytes(), digest] {
            signer.update(part).expect("HMAC update does not fail");
        }
        hex::encode(
            signer
                .sign_to_vec()
                .expect("HMAC finalisation does not fail"),
        )
    }

    /// Whether `seal` is the seal of the entry with `digest` at `seq` (constant time).
    pub fn fits(&self, seq: u64, digest: &EntryDigest, seal: &str) -> bool {
        let expected = self.seal(seq, digest);
        expected.len() == seal.len() && openssl::memcmp::eq(expected.as_bytes(), seal.as_bytes())
    }
}

/// HKDF-SHA256 (RFC 5869) with no salt: 32 bytes for `info` from `secret`.
fn hkdf_sha256(secret: &[u8], info: &[u8]) -> [u8; 32] {
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
    fn hkdf_matches_the_rfc_5869_test_vector() {
        // RFC 5869 A.3: SHA-256, no salt, no info; the first 32 bytes of the output.
        let ikm = [0x0bu8; 22];
        assert_eq!(
            hex::encode(hkdf_sha256(&ikm, b"")),
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
        );
    }

    #[test]
    fn a_seal_fits_only_its_place_digest_and_key() {
        let sealer = AuditSealer::derive(&SecretString::from("k".repeat(32)));
        let other = AuditSealer::derive(&SecretString::from("j".repeat(32)));
        let digest = digest_of("x");
        let seal = sealer.seal(7, &digest);
        assert!(sealer.fits(7, &digest, &seal));
        assert!(!sealer.fits(8, &digest, &seal));
        assert!(!sealer.fits(7, &digest_of("y"), &seal));
        assert!(!other.fits(7, &digest, &seal));
        assert_ne!(sealer.key_id(), other.key_id());
    }
}
