//! The HTTP surface: routes, the per-request plumbing every response shares (request id,
//! tracing span, metrics, CORS) and the handlers behind each path.

mod accept;
mod auth;
mod error;
mod graphiql;
mod graphql;
mod health;
mod metrics;
mod request_id;
mod ws;

pub use request_id::REQUEST_ID_HEADER;
pub use ws::{SessionSettings, WsConfig};

use crate::graphql::AppSchema;
use crate::service::Services;
use axum::Router;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::routing::get;
use std::sync::Arc;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

/// What every handler shares. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

struct Shared {
    schema: AppSchema,
    services: Services,
    metrics: metrics::Metrics,
    ws: WsConfig,
}

impl AppState {
    #[must_use]
    pub fn new(schema: AppSchema, services: Services, ws: WsConfig) -> Self {
        Self(Arc::new(Shared {
            schema,
            services,
            metrics: metrics::Metrics::default(),
            ws,
        }))
    }
}

impl AppState {
    pub(crate) fn schema(&self) -> &AppSchema {
        &self.0.schema
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
}

/// Builds the router. `cors_allow_origins` are validated origins; empty means same-origin only.
pub fn router(state: AppState, cors_allow_origins: &[String]) -> Router {
    let router = Router::new()
        .route(
            "/graphql",
            get(graphql::get_graphql).post(graphql::post_graphql),
        )
        .route("/graphql/ws", get(ws::upgrade))
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
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        // Outermost, so every response (404s, CORS refusals, caught panics) has an id.
        .layer(axum::middleware::from_fn(request_id::assign))
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
