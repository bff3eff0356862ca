//! MConnect, the government interoperability platform: SOAP envelopes with its headers,
//! defensive XML reading, the signed mTLS client that calls registries, the CloudEvents that
//! MConnect Events carries and the client that consumes them.

pub mod client;
pub mod cloudevent;
pub mod envelope;
pub mod events;
pub mod xml;

/// The algorithm of [`request_hash`], as named in `RequestHash/@algorithmId`.
pub const REQUEST_HASH_ALGORITHM: &str = "http://www.w3.org/2001/04/xmlenc#sha256";

/// The hash that binds an answer to its request (X-Road's `requestHash`): base64 of SHA-256
/// over the signed request exactly as it went over the wire (the SOAP envelope, or the compact
/// JWS of a REST call).
pub fn request_hash(signed_request: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(openssl::sha::sha256(signed_request))
}

/// Plain SHA-256 of a message as the exchange log keeps it (not personal data by itself),
/// lower-case hex.
pub fn message_digest(bytes: &[u8]) -> String {
    hex::encode(openssl::sha::sha256(bytes))
}
