//! Integration tests of the hub's API: one binary, sharing `helpers`.

mod async_helpers;
mod certificates;
mod exchanges;
mod health;
mod helpers;
mod persons;
mod persons_contract;
mod postgres;
mod queue;
mod registries;
mod store;
