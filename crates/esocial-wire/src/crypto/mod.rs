//! Keys, certificates and signatures. Architecture invariant: only this module reads private
//! keys and signs.

pub mod jws;
pub mod offload;
pub mod pki;
pub mod revocation;
pub mod sealing;
pub mod tls;
pub mod wssec;
pub mod x509;
