//! The beneficiary master index: who is who across registries.

pub mod normalize;
pub mod record;
