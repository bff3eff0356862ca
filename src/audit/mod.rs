//! The audit log: every access to personal data leaves an entry, written by the store in the
//! same transaction as what it records; the hub gives each its place in an append-only Merkle
//! tree, seals it to that place, and signs checkpoints of the tree, so that tampering is found
//! (`audit verify`) and inclusion and consistency are proven to anyone holding the hub's
//! certificate (`audit prove`, `audit consistency`, `audit check`). `mlog` delivers the log to
//! MLog, the government audit log; `archive` moves entries past their retention to signed
//! archive files.

pub mod archive;
pub mod checkpoint;
mod digest;
pub mod entry;
pub mod log;
pub mod mlog;
pub mod proof;
pub mod report;
pub mod stored_tree;
pub mod tree;
pub mod verify;

pub use digest::PersonalDataDigester;
pub use entry::AuditSealer;
pub use log::AuditLog;
