//! Integration tests of the hub's API: one binary, sharing `helpers`.

mod agency;
mod async_helpers;
mod audit;
mod benefits;
mod certificates;
mod deadlines;
mod events;
mod exchanges;
mod handoffs;
mod health;
mod helpers;
mod inbound;
mod pages;
mod persons;
mod persons_contract;
mod postgres;
mod provider_contracts;
mod queue;
mod registries;
mod store;
mod webdriver;
mod wrapping;
mod zeep;
