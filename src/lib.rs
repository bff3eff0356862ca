//! esocial-hub: the interoperability hub of eSocial.

pub mod api;
pub mod audit;
pub mod benefits;
pub mod commands;
pub mod config;
pub mod demo;
pub mod events;
pub mod exchange;
pub mod handoffs;
pub mod metrics;
pub mod outbox;
pub mod pages;
pub mod provider;
pub mod queue;
pub mod schema;
pub mod startup;
pub mod telemetry;
