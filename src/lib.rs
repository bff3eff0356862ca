//! esocial-hub: the interoperability hub of eSocial.

pub mod api;
pub mod audit;
pub mod catalog;
pub mod commands;
pub mod config;
pub mod crypto;
pub mod demo;
pub mod domain;
pub mod exchange;
pub mod mconnect;
pub mod metrics;
pub mod mpi;
pub mod provider;
pub mod queue;
pub mod schema;
pub mod simulate;
pub mod startup;
pub mod store;
pub mod telemetry;
