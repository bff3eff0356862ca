//! Domain types that carry their invariants: identifiers, redaction of personal data, free
//! text that must state something.

pub mod idnp;
pub mod redacted;
pub mod text;

pub use idnp::{IdentifierError, Idno, Idnp};
pub use redacted::Redacted;
