//! escrowgrid: a GraphQL gateway for institutional escrow and tokenization back offices.

pub mod adapters;
pub mod config;
pub mod domain;
pub mod graphql;
pub mod http;
pub mod ports;
pub mod service;
pub mod startup;
pub mod telemetry;
