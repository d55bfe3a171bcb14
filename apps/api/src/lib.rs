//! `experiment-api`: the HTTP API of Experiment — securities, quotes, bars, indicators and
//! statistics from the store; rules, destinations and the watchlist; alerts and their
//! deliveries; push ingest onto the event log; and a live stream of quotes, bars and alerts.
//!
//! [`router`] builds the whole service from an [`AppState`], so every route is tested with
//! `tower::ServiceExt::oneshot` on in-memory adapters; `main.rs` only reads the configuration
//! and serves. Every error is `application/problem+json` (RFC 9457); the OpenAPI 3.1 document
//! is generated from the handlers' own types (`/openapi.json`, browsable at `/docs`).
//!
//! ```
//! # tokio_test_block_on(async {
//! use std::sync::Arc;
//! use axum::body::Body;
//! use axum::http::Request;
//! use experiment_api::{router, AppState};
//! use experiment_core::memory::{MemoryBus, MemoryCache, MemoryStore};
//! use experiment_wiring::config::ApiConfig;
//! use tower::ServiceExt;
//!
//! let state = AppState::new(
//!     Arc::new(MemoryStore::new()),
//!     Arc::new(MemoryCache::new()),
//!     Arc::new(MemoryBus::new()),
//!     ApiConfig::default(),
//! );
//! let res = router(state)
//!     .oneshot(Request::get("/healthz").body(Body::empty()).unwrap())
//!     .await
//!     .unwrap();
//! assert_eq!(res.status(), 200);
//! # });
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
//! # }
//! ```

pub mod auth;
pub mod error;
pub mod metrics;
mod openapi;
pub mod page;
mod routes;
pub mod stats;
pub mod stream;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{from_fn, from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use chrono::{DateTime, NaiveDate, Utc};
use experiment_core::model::Exchange;
use experiment_core::{Cache, EventBus, Store};
use experiment_notify::DestinationConfig;
use experiment_wiring::config::ApiConfig;
use experiment_wiring::CancellationToken;
use serde::{Deserialize, Serialize};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use auth::{generate_key, ApiKeys};
pub use error::{ApiError, Problem};
pub use metrics::Metrics;
pub use stream::Hub;

/// Most items one ingest request may carry.
pub const INGEST_MAX_ITEMS: usize = 10_000;

pub use experiment_wiring::collections;

/// What an exchange's all-market report of a day said beyond its bars.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MarketDay {
    /// Securities listed that day that did not trade.
    pub untraded: Vec<String>,
    /// Securities the report listed.
    pub listed: u64,
}

/// The id of a market day document.
pub fn market_day_id(exchange: Exchange, date: NaiveDate) -> String {
    format!("{}:{date}", exchange.as_str())
}

/// An answer and when it was computed.
type Memoized = (std::time::Instant, Arc<Vec<u8>>);

/// Answers of the statistics endpoints, kept for [`MEMO_TTL`]: they are computed from a
/// whole cross-section of the market, which changes once a day, and dashboards poll them.
#[derive(Default)]
pub(crate) struct Memo {
    entries: std::sync::Mutex<std::collections::HashMap<String, Memoized>>,
    // One computation per key at a time: when an answer expires under load, one request
    // computes it again while the others get the previous one (or wait for the new one).
    computing: std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// How long a statistics answer is served again before it is computed anew.
pub const MEMO_TTL: Duration = Duration::from_secs(10);

impl Memo {
    /// The answer to `key` if it is younger than [`MEMO_TTL`] (or of any age with `stale`).
    pub(crate) fn get(&self, key: &str, stale: bool) -> Option<Arc<Vec<u8>>> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(key)
            .filter(|(at, _)| stale || at.elapsed() < MEMO_TTL)
            .map(|(_, v)| v.clone())
    }

    pub(crate) fn put(&self, key: String, value: Arc<Vec<u8>>) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= 512 {
            entries.retain(|_, (at, _)| at.elapsed() < MEMO_TTL);
            if entries.len() >= 512 {
                entries.clear();
            }
            self.computing
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .retain(|k, _| entries.contains_key(k));
        }
        entries.insert(key, (std::time::Instant::now(), value));
    }

    /// The lock that orders the computations of `key`.
    pub(crate) fn computing(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.computing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key.to_owned())
            .or_default()
            .clone()
    }
}

struct Inner {
    memo: Memo,
    store: Arc<dyn Store>,
    cache: Arc<dyn Cache>,
    bus: Arc<dyn EventBus>,
    topic_prefix: String,
    config: ApiConfig,
    keys: ApiKeys,
    limit: Option<auth::KeyedLimit>,
    metrics: Metrics,
    hub: Arc<Hub>,
    destinations: Vec<DestinationConfig>,
    watchlist: Vec<String>,
    started: DateTime<Utc>,
    shutdown: CancellationToken,
    openapi: OnceLock<String>,
}

/// Everything a handler needs: the backends, the API settings, the metrics and the stream.
/// Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("store", &self.inner.store)
            .field("config", &self.inner.config)
            .finish()
    }
}

impl AppState {
    /// A state over the given backends with `config` (its keys, limits and stream settings).
    pub fn new(
        store: Arc<dyn Store>,
        cache: Arc<dyn Cache>,
        bus: Arc<dyn EventBus>,
        config: ApiConfig,
    ) -> Self {
        AppState::build(store, cache, bus, config, Options::default())
    }

    /// A state with the options of a deployment (topic prefix, configured destinations,
    /// the first watchlist, the shutdown token).
    pub fn with_options(
        store: Arc<dyn Store>,
        cache: Arc<dyn Cache>,
        bus: Arc<dyn EventBus>,
        config: ApiConfig,
        options: Options,
    ) -> Self {
        AppState::build(store, cache, bus, config, options)
    }

    fn build(
        store: Arc<dyn Store>,
        cache: Arc<dyn Cache>,
        bus: Arc<dyn EventBus>,
        config: ApiConfig,
        options: Options,
    ) -> Self {
        let keys = ApiKeys::new(config.keys.iter().map(String::as_str));
        let limit = auth::KeyedLimit::new(config.rate_limit_per_second, config.rate_limit_burst);
        let hub = Arc::new(Hub::new(config.stream_replay));
        AppState {
            inner: Arc::new(Inner {
                memo: Memo::default(),
                store,
                cache,
                bus,
                topic_prefix: options.topic_prefix,
                keys,
                limit,
                metrics: Metrics::new(),
                hub,
                destinations: options.destinations,
                watchlist: options.watchlist,
                started: Utc::now(),
                shutdown: options.shutdown,
                openapi: OnceLock::new(),
                config,
            }),
        }
    }

    pub(crate) fn memo(&self) -> &Memo {
        &self.inner.memo
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The cache.
    pub fn cache(&self) -> &Arc<dyn Cache> {
        &self.inner.cache
    }

    /// The event bus.
    pub fn bus(&self) -> &Arc<dyn EventBus> {
        &self.inner.bus
    }

    /// The topic prefix.
    pub fn topic_prefix(&self) -> &str {
        &self.inner.topic_prefix
    }

    /// The API settings.
    pub fn config(&self) -> &ApiConfig {
        &self.inner.config
    }

    /// The accepted keys.
    pub fn keys(&self) -> &ApiKeys {
        &self.inner.keys
    }

    /// The per-key limit, when on.
    pub fn limit(&self) -> Option<&auth::KeyedLimit> {
        self.inner.limit.as_ref()
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The live stream's hub.
    pub fn hub(&self) -> &Arc<Hub> {
        &self.inner.hub
    }

    /// Destinations from the configuration file (read-only through the API).
    pub fn configured_destinations(&self) -> &[DestinationConfig] {
        &self.inner.destinations
    }

    /// The watchlist of the configuration (until one is saved through the API).
    pub fn configured_watchlist(&self) -> &[String] {
        &self.inner.watchlist
    }

    /// When this state was made.
    pub fn started(&self) -> DateTime<Utc> {
        self.inner.started
    }

    /// Cancelled at shutdown (live-stream clients get a last event then).
    pub fn shutdown(&self) -> &CancellationToken {
        &self.inner.shutdown
    }

    /// Runs the live stream's tap on the event log, supervised (restarted after a failure)
    /// until `token` is cancelled.
    pub fn spawn_stream_tap(&self, token: CancellationToken) -> tokio::task::JoinHandle<()> {
        let state = self.clone();
        experiment_wiring::supervise(
            "stream tap",
            token,
            self.inner.metrics.task_restarts.clone(),
            move |t| {
                let s = state.clone();
                async move {
                    let r = stream::tap(
                        s.bus().clone(),
                        s.topic_prefix().to_owned(),
                        s.hub().clone(),
                        t.clone(),
                    )
                    .await;
                    if let Err(e) = r {
                        tracing::warn!(error = %e, "stream tap failed");
                    }
                    // Give the supervisor the pause before the next try.
                    if !t.is_cancelled() {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            },
        )
    }
}

/// Deployment options of an [`AppState`].
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Prefix this API adds to topic names. Leave it empty when the bus adds one itself (the
    /// Kafka adapter adds `bus.topic_prefix`).
    pub topic_prefix: String,
    /// Destinations of the configuration file.
    pub destinations: Vec<DestinationConfig>,
    /// The configured watchlist (`[feeder] watchlist`).
    pub watchlist: Vec<String>,
    /// Cancelled at shutdown.
    pub shutdown: CancellationToken,
}

/// The whole service: every route, with auth, rate limits, request ids, access logs,
/// metrics, compression, body limits, timeouts and problem+json errors.
pub fn router(state: AppState) -> Router {
    let (api, doc) = routes::all(state.clone()).split_for_parts();
    let _ = state
        .inner
        .openapi
        .set(serde_json::to_string(&doc).unwrap_or_else(|_| "{}".into()));
    let limit = state.config().body_limit_bytes;
    Router::new()
        .merge(api)
        .route("/docs", axum::routing::get(openapi::docs_page))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .layer(from_fn(problems_for_bare_errors))
        .layer(CompressionLayer::new())
        .layer(from_fn_with_state(state.clone(), metrics::track))
        .layer(CatchPanicLayer::custom(panic_problem))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request| {
                    let id = req
                        .headers()
                        .get("x-request-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    tracing::info_span!(
                        "request",
                        method = %req.method(),
                        path = %req.uri().path(),
                        request_id = %id,
                    )
                })
                .on_response(|res: &Response, latency: Duration, _span: &tracing::Span| {
                    tracing::info!(
                        status = res.status().as_u16(),
                        latency_us = latency.as_micros() as u64,
                        "served"
                    );
                }),
        )
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(from_fn(sanitize_request_id))
        .with_state(state)
}

/// Binds the listening socket of `[api] listen`.
///
/// # Errors
/// The address is taken or not ours, naming the key.
pub async fn bind(addr: std::net::SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("api.listen {addr}: {e}"))
}

/// Serves [`router`] on `listener` until the state's shutdown token is cancelled; then stops
/// accepting, lets requests in flight finish, and ends live streams with a last event.
///
/// # Errors
/// The server's I/O errors.
pub async fn serve(state: AppState, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    let token = state.shutdown().clone();
    let app = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { token.cancelled().await })
        .await
}

/// The timeout applied to every route but the live stream.
pub(crate) fn timeout_layer(state: &AppState) -> TimeoutLayer {
    TimeoutLayer::with_status_code(
        StatusCode::GATEWAY_TIMEOUT,
        Duration::from_secs(state.config().request_timeout_secs),
    )
}

/// The OpenAPI document this router serves.
pub(crate) fn openapi_json(state: &AppState) -> String {
    state
        .inner
        .openapi
        .get()
        .cloned()
        .unwrap_or_else(|| "{}".into())
}

async fn not_found() -> ApiError {
    error::bare_status_problem(StatusCode::NOT_FOUND)
}

async fn method_not_allowed() -> ApiError {
    error::bare_status_problem(StatusCode::METHOD_NOT_ALLOWED)
}

fn panic_problem(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a handler panicked");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "the server failed on this request; it was logged",
    )
    .into_response()
}

/// Any error answer without a body (from a layer: 405, 408/504, 413) becomes a problem.
async fn problems_for_bare_errors(req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    let status = res.status();
    if (status.is_client_error() || status.is_server_error())
        && !res.headers().contains_key(header::CONTENT_TYPE)
    {
        let mut problem = error::bare_status_problem(status).into_response();
        for (name, value) in res.headers() {
            if name != header::CONTENT_LENGTH && !problem.headers().contains_key(name) {
                problem.headers_mut().insert(name.clone(), value.clone());
            }
        }
        return problem;
    }
    res
}

/// A request id from the client is kept only when it is short and printable; otherwise one
/// is made, so a hostile header never reaches the logs.
async fn sanitize_request_id(mut req: Request, next: Next) -> Response {
    let ok = req.headers().get("x-request-id").is_none_or(|v| {
        let b = v.as_bytes();
        !b.is_empty() && b.len() <= 128 && b.iter().all(|c| c.is_ascii_graphic())
    });
    if !ok {
        req.headers_mut().remove("x-request-id");
    }
    let mut res = next.run(req).await;
    res.headers_mut()
        .entry("x-content-type-options")
        .or_insert(HeaderValue::from_static("nosniff"));
    res
}
