//! Registry simulators the hub can start itself (`esocial-hub simulate …`). They speak the
//! registry's wire format over mTLS, verify the hub's signatures, sign their answers and serve
//! a synthetic population.

pub mod civil;
pub mod population;

pub use civil::{Behaviour, RunningSimulator, SimulatorConfig};
