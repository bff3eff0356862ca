//! Domain types that carry their invariants: identifiers, redaction of personal data.

pub mod idnp;
pub mod redacted;

pub use idnp::{IdentifierError, Idno, Idnp};
pub use redacted::Redacted;
