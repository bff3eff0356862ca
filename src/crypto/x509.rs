//! X.509 checks shared by the signature profiles (WS-Security and JWS): a certificate chain
//! verified against trust anchors at a given time, with no partial-chain trust.

use openssl::stack::Stack;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::verify::X509VerifyParam;
use openssl::x509::{X509, X509StoreContext};

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
