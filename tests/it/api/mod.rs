//! Black-box tests of the HTTP API: a real server on a free port, driven with reqwest (and
//! node, for the GraphQL-over-HTTP audit).

mod abuse;
mod audit;
mod auth_cache;
mod batching;
mod cross_instance;
mod documents;
mod errors;
mod faults;
mod fixtures;
mod graphiql;
mod hardening;
mod limits;
mod list_rows;
mod node_clients;
mod outage;
mod persisted;
mod platform;
mod pool;
mod process;
mod relay;
mod schema;
mod shutdown;
mod sse;
mod subscription_groups;
mod subscriptions;
mod support;
mod telemetry;
mod tenancy;
mod to_one;
mod transport;
mod walkthrough;
mod ws_protocol;
mod ws_support;
