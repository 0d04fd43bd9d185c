//! Black-box tests of the HTTP API: a real server on a free port, driven with reqwest (and
//! node, for the GraphQL-over-HTTP audit).

mod audit;
mod graphiql;
mod platform;
mod schema;
mod support;
mod transport;
mod walkthrough;
