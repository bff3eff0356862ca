//! Social-assistance benefits: the catalog (one folder per benefit, like the registry adapters:
//! info sheets in Romanian and Russian, legal basis, dated parameters with their sources, and
//! rules as data) and the estimator that explains every figure it gives.

pub mod catalog;
pub mod estimate;
pub mod facts;

pub use catalog::{Catalog, CatalogError};
pub use estimate::{Estimate, Outcome, estimate};
pub use facts::{Disability, Household, InputError, Member};
