//! The wire layer of esocial-hub: domain identifiers, keys, certificates and signatures, and
//! MConnect's envelopes, defensive XML reading and signed mTLS client. It knows nothing of the
//! hub's store, catalog or flows.

pub mod crypto;
pub mod domain;
pub mod mconnect;
