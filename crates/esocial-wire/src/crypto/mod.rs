//! Keys, certificates and signatures. Architecture invariant: only this module reads private
//! keys and signs.

pub mod jws;
pub mod keys;
pub mod offload;
pub mod pki;
pub mod revocation;
pub mod sealing;
pub mod tls;
pub mod wssec;
pub mod x509;

/// Largest message this crate signs, as a SOAP envelope or a compact JWS (64 MiB): as large as
/// a registry's answer may be allowed to grow (`max_answer_bytes`).
pub const MAX_SIGNED_BYTES: usize = 64 * 1024 * 1024;
