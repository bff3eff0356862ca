//! The beneficiary master index: who is who across registries. So far, the normalisation of
//! names and birth dates that matching builds on.

pub mod normalize;
