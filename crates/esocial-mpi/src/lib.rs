//! The beneficiary master index: who is who across registries.

pub mod bulk;
pub mod compare;
pub mod engine;
pub mod index;
pub mod model;
pub mod normalize;
pub mod record;

pub use engine::{MasterIndex, MpiError, Thresholds};
