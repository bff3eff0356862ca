//! MConnect, the government interoperability platform: SOAP envelopes with its headers,
//! defensive XML reading, and the signed mTLS client that calls registries.

pub mod client;
pub mod envelope;
pub mod xml;
