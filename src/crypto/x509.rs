//! X.509 checks shared by the signature profiles (WS-Security and JWS) and by TLS: a certificate
//! chain verified against trust anchors at a given time, with no partial-chain trust, and the
//! one common name that identifies a certificate's holder.

use openssl::nid::Nid;
use openssl::stack::Stack;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::verify::X509VerifyParam;
use openssl::x509::{X509, X509Ref, X509StoreContext};

/// Why a certificate's subject does not name exactly one holder.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateNameError {
    #[error("certificate subject has no common name")]
    Missing,
    #[error("certificate subject has {0} common names; exactly one is required")]
    Several(usize),
    #[error("certificate common name is empty, not valid text or contains control characters")]
    NotText,
}

/// The common name of `certificate`'s subject, which identifies its holder (a client module, a
/// registry, a signer). Refuses a subject with no or several CNs (taking the first of two would
/// let whoever controls the second be ignored, or the other way round), and a CN that is empty,
/// not valid text or contains control characters (`registry-civil\0.evil`).
pub fn single_common_name(certificate: &X509Ref) -> Result<String, CertificateNameError> {
    let mut names = certificate.subject_name().entries_by_nid(Nid::COMMONNAME);
    let Some(entry) = names.next() else {
        return Err(CertificateNameError::Missing);
    };
    let others = names.count();
    if others > 0 {
        return Err(CertificateNameError::Several(others + 1));
    }
    let name = entry
        .data()
        .to_string()
        .map_err(|_| CertificateNameError::NotText)?;
    // `to_string` turns undecodable bytes into U+FFFD.
    if name.is_empty() || name.chars().any(|c| c.is_control() || c == '\u{FFFD}') {
        return Err(CertificateNameError::NotText);
    }
    Ok(name)
}

/// Verifies `certificate`, with untrusted `intermediates`, against `anchors` as of
/// `now_unix` (seconds). Returns the reason when the chain is not trusted.
pub fn verify_chain_at(
    anchors: &[X509],
    certificate: &X509,
    intermediates: Vec<X509>,
    now_unix: i64,
    max_depth: Option<u32>,
) -> Result<(), String> {
    let failed = |e: openssl::error::ErrorStack| e.to_string();
    let mut builder = X509StoreBuilder::new().map_err(failed)?;
    for anchor in anchors {
        builder.add_cert(anchor.clone()).map_err(failed)?;
    }
    let mut param = X509VerifyParam::new().map_err(failed)?;
    param.set_time(now_unix as _);
    if let Some(depth) = max_depth {
        param.set_depth(depth as _);
    }
    builder.set_param(&param).map_err(failed)?;
    let store = builder.build();
    let mut chain: Stack<X509> = Stack::new().map_err(failed)?;
    for intermediate in intermediates {
        chain.push(intermediate).map_err(failed)?;
    }
    let mut context = X509StoreContext::new().map_err(failed)?;
    let outcome = context
        .init(&store, certificate, &chain, |c| {
            Ok(if c.verify_cert()? {
                None
            } else {
                Some(format!(
                    "{} (depth {})",
                    c.error().error_string(),
                    c.error_depth()
                ))
            })
        })
        .map_err(failed)?;
    match outcome {
        None => Ok(()),
        Some(reason) => Err(reason),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use openssl::asn1::Asn1Time;
    use openssl::hash::MessageDigest;
    use openssl::pkey::{PKey, Private};
    use openssl::rsa::Rsa;
    use openssl::x509::X509NameBuilder;
    use std::sync::OnceLock;

    /// One RSA key for every throwaway certificate of these tests.
    pub(crate) fn test_key() -> &'static PKey<Private> {
        static KEY: OnceLock<PKey<Private>> = OnceLock::new();
        KEY.get_or_init(|| PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap())
    }

    /// A self-signed certificate whose subject has the given common names, in order.
    pub(crate) fn certificate_with_names(common_names: &[&str]) -> X509 {
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_text("O", "test").unwrap();
        for common_name in common_names {
            name.append_entry_by_text("CN", common_name).unwrap();
        }
        let name = name.build();
        let mut builder = X509::builder().unwrap();
        builder.set_version(2).unwrap();
        builder.set_subject_name(&name).unwrap();
        builder.set_issuer_name(&name).unwrap();
        builder.set_pubkey(test_key()).unwrap();
        builder
            .set_not_before(&Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        builder
            .set_not_after(&Asn1Time::days_from_now(30).unwrap())
            .unwrap();
        builder.sign(test_key(), MessageDigest::sha256()).unwrap();
        builder.build()
    }

    #[test]
    fn exactly_one_plain_common_name_is_accepted() {
        let name = |names: &[&str]| single_common_name(&certificate_with_names(names));
        assert_eq!(name(&["registry-civil"]).unwrap(), "registry-civil");
        assert_eq!(name(&[]), Err(CertificateNameError::Missing));
        assert_eq!(
            name(&["registry-civil", "registry-police"]),
            Err(CertificateNameError::Several(2))
        );
        assert_eq!(
            name(&["a", "b", "c"]).unwrap_err().to_string(),
            "certificate subject has 3 common names; exactly one is required"
        );
        for bad in ["registry-civil\0.evil", "line\nbreak"] {
            assert_eq!(name(&[bad]), Err(CertificateNameError::NotText), "{bad:?}");
        }
    }

    #[test]
    fn the_mconnect_signer_name_is_the_single_common_name() {
        let der = |names: &[&str]| certificate_with_names(names).to_der().unwrap();
        assert_eq!(
            crate::mconnect::client::common_name(&der(&["registry-civil"])).as_deref(),
            Some("registry-civil")
        );
        for names in [&["registry-civil", "registry-police"][..], &[][..]] {
            assert_eq!(
                crate::mconnect::client::common_name(&der(names)),
                None,
                "{names:?}"
            );
        }
    }
}
