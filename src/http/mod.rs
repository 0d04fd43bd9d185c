//! The HTTP surface: routes, the per-request plumbing every response shares (request id,
//! tracing span, metrics, CORS) and the handlers behind each path.

mod accept;
mod auth;
mod clients;
mod error;
mod graphiql;
mod graphql;
mod health;
mod metrics;
mod request_id;
mod serve;
mod settings;
mod streamed;
mod ws;

pub use clients::{ClientLimits, TrustedProxies};
pub use metrics::{HistogramSnapshot, StatementStats, StatementStatsSource};
pub use request_id::REQUEST_ID_HEADER;
pub use serve::serve;
pub use settings::{ClientSettings, HttpSettings, MetricsSettings};
pub use ws::{SessionSettings, Sessions, WsConfig};

use crate::graphql::{AppSchema, Executor, SchemaOptions};
use crate::service::{RateLimitConfig, RateLimiter, Services};
use axum::Router;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::routing::{get, post};
use std::sync::Arc;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::TraceLayer;

/// Everything the HTTP layer is configured with besides the schema and services.
#[derive(Clone)]
pub struct HttpOptions {
    pub http: HttpSettings,
    /// The limits the schema enforces; the HTTP layer checks the cheap ones before parsing.
    pub schema: SchemaOptions,
    pub rate_limit: RateLimitConfig,
    pub clients: ClientSettings,
    pub metrics: MetricsSettings,
    /// Database statement latency, when the store measures it (PostgreSQL).
    pub statement_stats: Option<StatementStatsSource>,
}

/// What every handler shares. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

struct Shared {
    executor: Executor,
    services: Services,
    metrics: metrics::Metrics,
    ws: WsConfig,
    http: HttpSettings,
    schema_options: SchemaOptions,
    rate_limiter: RateLimiter,
    clients: Arc<ClientLimits>,
    /// Websocket subscription groups (`ws::groups`).
    groups: ws::Groups,
}

impl AppState {
    #[must_use]
    pub fn new(executor: Executor, services: Services, ws: WsConfig, options: HttpOptions) -> Self {
        Self(Arc::new(Shared {
            executor,
            services,
            metrics: metrics::Metrics::new(options.metrics, options.statement_stats),
            ws,
            http: options.http,
            schema_options: options.schema,
            rate_limiter: RateLimiter::new(options.rate_limit),
            clients: Arc::new(ClientLimits::new(options.clients)),
            groups: ws::Groups::default(),
        }))
    }
}

impl AppState {
    /// The checked schema: what subscriptions stream from.
    pub(crate) fn schema(&self) -> &AppSchema {
        self.0.executor.checked()
    }

    /// Documents seen before, and the schema each request runs on.
    pub(crate) fn executor(&self) -> &Executor {
        &self.0.executor
    }

    pub(crate) fn services(&self) -> &Services {
        &self.0.services
    }

    pub(crate) fn metrics(&self) -> &metrics::Metrics {
        &self.0.metrics
    }

    pub(crate) fn ws(&self) -> &WsConfig {
        &self.0.ws
    }

    pub(crate) fn groups(&self) -> &ws::Groups {
        &self.0.groups
    }

    pub(crate) fn http(&self) -> &HttpSettings {
        &self.0.http
    }

    pub(crate) fn schema_options(&self) -> &SchemaOptions {
        &self.0.schema_options
    }

    pub(crate) fn rate_limiter(&self) -> &RateLimiter {
        &self.0.rate_limiter
    }

    /// The per-client limits, shared with the accept loop.
    #[must_use]
    pub fn clients(&self) -> &Arc<ClientLimits> {
        &self.0.clients
    }

    /// True from the shutdown signal on: `/ready` answers 503 and sockets close.
    pub(crate) fn shutting_down(&self) -> bool {
        *self.0.ws.shutdown.borrow()
    }
}

/// Builds the router. `cors_allow_origins` are validated origins; empty means same-origin only.
pub fn router(state: AppState, cors_allow_origins: &[String]) -> Router {
    let router = Router::new()
        .route(
            "/graphql",
            get(graphql::get_graphql).post(graphql::post_graphql),
        )
        .route("/graphql/ws", get(ws::upgrade))
        .route("/graphql/stream", post(graphql::post_stream))
        .route("/graphql/assets/{file}", get(graphiql::asset))
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .route("/metrics", get(metrics::render))
        .fallback(error::not_found)
        .layer(CatchPanicLayer::custom(error::panicked))
        // Layers added with `Router::layer` run after routing, so the metrics see the route.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .with_state(state);
    let router = match cors(cors_allow_origins) {
        Some(cors) => router.layer(cors),
        None => router,
    };
    router
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_id::span)
                .on_response(request_id::on_response),
        )
        // Outermost, so every response (404s, CORS refusals, caught panics) has an id.
        .layer(axum::middleware::from_fn(request_id::assign))
}

/// The router of the separate metrics listener (`METRICS_ADDR`): `/metrics` without a key,
/// for a scraper on a private network, and nothing else.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics::render_open))
        .fallback(error::not_found)
        .with_state(state)
}

fn cors(origins: &[String]) -> Option<CorsLayer> {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|origin| HeaderValue::from_str(origin).ok())
        .collect();
    if origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([
                header::CONTENT_TYPE,
                header::AUTHORIZATION,
                header::ACCEPT,
                HeaderName::from_static("x-api-key"),
                HeaderName::from_static(REQUEST_ID_HEADER),
            ])
            .expose_headers([HeaderName::from_static(REQUEST_ID_HEADER)]),
    )
}
