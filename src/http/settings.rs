//! Settings of the HTTP surface that `config` fills from the command line.

use std::net::SocketAddr;
use std::time::Duration;

/// Limits and switches of `POST /graphql` and `GET /graphql`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpSettings {
    /// Larger bodies get 413 before they are read (and websocket messages are closed).
    pub max_body_bytes: usize,
    /// Operations in one batched POST.
    pub max_batch_size: usize,
    /// From the request's arrival to its answer; then 504 and the work is cancelled.
    pub request_timeout: Duration,
    /// Whether browsers get GraphiQL at `GET /graphql`.
    pub graphiql: bool,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            max_batch_size: 20,
            request_timeout: Duration::from_secs(30),
            graphiql: true,
        }
    }
}

/// Where and how `/metrics` is served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetricsSettings {
    /// A second listener serving `/metrics` without a key.
    pub listen: Option<SocketAddr>,
    /// Distinct operation names kept as label values; later names count as `other`.
    pub max_operation_names: usize,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        Self {
            listen: None,
            max_operation_names: 100,
        }
    }
}
