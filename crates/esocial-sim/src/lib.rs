//! Registry simulators the hub can start itself (`esocial-hub simulate <registry>`). They are
//! built from the adapters: they speak each registry's wire format over mTLS, verify the hub's
//! signatures, sign their answers and serve the adapter fixtures and a synthetic population
//! that is the same in every registry.

pub mod event_feed;
pub mod events;
pub mod generators;
mod http;
pub mod identity_records;
pub mod mlog;
pub mod mnotify;
pub mod module;
pub mod moldova;
pub mod population;
pub mod random;
pub mod server;

pub use events::{EventLog, EventsConfig, RunningEvents, start_events};
pub use mnotify::{MnotifyConfig, MnotifyHandle, RunningMnotify, start_mnotify};
pub use module::{ModuleConfig, ModuleHandle, RunningModule, start_module};
pub use server::{Behaviour, RunningSimulator, SimulatorConfig, start};
