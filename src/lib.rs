//! escrowgrid: a GraphQL gateway for institutional escrow and tokenization back offices.

pub mod adapters;
pub mod domain;
pub mod graphql;
pub mod ports;
pub mod service;
