//! Signed checkpoints of the audit log: the tree's size and root at a moment, in the C2SP
//! `tlog-checkpoint` note body (origin, size, base64 root, then the time as an extension line),
//! signed with the hub's signing identity (RSA PKCS#1 v1.5, SHA-256). Anyone with the hub's
//! certificate checks one offline, with `esocial-hub audit check` or with
//! `openssl dgst -sha256 -verify`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use esocial_store::AuditCheckpoint;
use esocial_wire::crypto::wssec::SigningIdentity;
use openssl::x509::X509Ref;

use super::tree::{Root, root_bytes, root_of};

/// The first line of every checkpoint: which log it is about.
pub const ORIGIN: &str = "esocial-hub audit log";

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum CheckpointError {
    #[error("the checkpoint's signature does not verify with the hub's certificate")]
    BadSignature,
    #[error("the checkpoint is not a note of this log: {0}")]
    Malformed(&'static str),
    #[error("the checkpoint says size {note} but is stored as size {stored}")]
    SizeMismatch { note: u64, stored: i64 },
}

/// What a checkpoint states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub root: Root,
    /// RFC 3339, UTC.
    pub time: String,
}

impl Checkpoint {
    pub fn size(&self) -> u64 {
        self.root.num_leaves()
    }

    /// The signed text.
    pub fn note(&self) -> String {
        format!(
            "{ORIGIN}\n{}\n{}\n{}\n",
            self.size(),
            STANDARD.encode(root_bytes(&self.root)),
            self.time
        )
    }

    /// Signs the note.
    pub fn sign(&self, identity: &SigningIdentity) -> anyhow::Result<AuditCheckpoint> {
        let note = self.note();
        let signature = identity.sign_detached(note.as_bytes())?;
        Ok(AuditCheckpoint {
            size: i64::try_from(self.size())?,
            note,
            signature: STANDARD.encode(signature),
        })
    }

    /// Reads a note's lines.
    pub fn parse(note: &str) -> Result<Self, CheckpointError> {
        let mut lines = note
            .strip_suffix('\n')
            .ok_or(CheckpointError::Malformed("it must end with a new line"))?
            .split('\n');
        if lines.next() != Some(ORIGIN) {
            return Err(CheckpointError::Malformed(
                "its first line must name this log",
            ));
        }
        let size: u64 =
            lines
                .next()
                .and_then(|size| size.parse().ok())
                .ok_or(CheckpointError::Malformed(
                    "its second line must be the tree size",
                ))?;
        let mut root = [0u8; 32];
        let decoded = lines
            .next()
            .and_then(|line| STANDARD.decode(line).ok())
            .filter(|bytes| bytes.len() == 32)
            .ok_or(CheckpointError::Malformed(
                "its third line must be the base64 root hash",
            ))?;
        root.copy_from_slice(&decoded);
        let time = lines
            .next()
            .filter(|time| {
                time::OffsetDateTime::parse(time, &time::format_description::well_known::Rfc3339)
                    .is_ok()
            })
            .ok_or(CheckpointError::Malformed(
                "its fourth line must be an RFC 3339 time",
            ))?;
        if lines.next().is_some() {
            return Err(CheckpointError::Malformed("it has lines after the time"));
        }
        Ok(Self {
            root: root_of(root, size),
            time: time.to_string(),
        })
    }

    /// A stored checkpoint whose signature verifies with `certificate`, read.
    pub fn open(stored: &AuditCheckpoint, certificate: &X509Ref) -> Result<Self, CheckpointError> {
        let signature = STANDARD
            .decode(&stored.signature)
            .map_err(|_| CheckpointError::BadSignature)?;
        if !esocial_wire::crypto::x509::verify_detached(
            certificate,
            stored.note.as_bytes(),
            &signature,
        ) {
            return Err(CheckpointError::BadSignature);
        }
        let checkpoint = Self::parse(&stored.note)?;
        if i64::try_from(checkpoint.size()).ok() != Some(stored.size) {
            return Err(CheckpointError::SizeMismatch {
                note: checkpoint.size(),
                stored: stored.size,
            });
        }
        Ok(checkpoint)
    }
}
