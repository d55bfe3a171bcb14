//! Prometheus metrics of the API, served at `/metrics` in the text format.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::AppState;

type Labels = Vec<(&'static str, String)>;

#[derive(Clone)]
struct Buckets;

impl MetricConstructor<Histogram> for Buckets {
    fn new_metric(&self) -> Histogram {
        // 100 µs to about 13 s.
        Histogram::new(exponential_buckets(0.0001, 2.0, 18))
    }
}

/// The API's metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<Labels, Counter>,
    latency: Family<Labels, Histogram, Buckets>,
    /// Clients connected to the live stream.
    pub stream_clients: Gauge,
    ingested: Family<Labels, Counter>,
    /// Restarts of supervised background tasks.
    pub task_restarts: Arc<experiment_wiring::Restarts>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("experiment_api");
        let requests = Family::<Labels, Counter>::default();
        let latency = Family::<Labels, Histogram, Buckets>::new_with_constructor(Buckets);
        let stream_clients = Gauge::default();
        let ingested = Family::<Labels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route, method and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer, by route",
            latency.clone(),
        );
        registry.register(
            "stream_clients",
            "Clients connected to /v1/stream",
            stream_clients.clone(),
        );
        registry.register(
            "ingest_items",
            "Items pushed to /v1/ingest, by kind and result (accepted, rejected)",
            ingested.clone(),
        );
        let task_restarts = Arc::new(experiment_wiring::Restarts::default());
        Metrics {
            registry,
            requests,
            latency,
            stream_clients,
            ingested,
            task_restarts,
        }
    }

    /// Counts ingested items.
    pub fn ingest(&self, kind: &'static str, accepted: usize, rejected: usize) {
        for (result, n) in [("accepted", accepted), ("rejected", rejected)] {
            self.ingested
                .get_or_create(&vec![
                    ("kind", kind.to_owned()),
                    ("result", result.to_owned()),
                ])
                .inc_by(n as u64);
        }
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        // Restarts live outside the registry (the supervisor counts them).
        let restarts = self.task_restarts.get();
        out = out.trim_end_matches("# EOF\n").to_owned();
        out.push_str(
            "# HELP experiment_api_task_restarts Restarts of supervised background tasks.\n",
        );
        out.push_str("# TYPE experiment_api_task_restarts counter\n");
        out.push_str(&format!(
            "experiment_api_task_restarts_total {restarts}\n# EOF\n"
        ));
        out
    }
}

/// Middleware: counts every request and times it, by its route template (never the raw
/// path, so the label set stays small).
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().as_str().to_owned();
    let start = Instant::now();
    let res = next.run(req).await;
    let metrics = state.metrics();
    metrics
        .latency
        .get_or_create(&vec![("route", route.clone())])
        .observe(start.elapsed().as_secs_f64());
    metrics
        .requests
        .get_or_create(&vec![
            ("route", route),
            ("method", method),
            ("status", res.status().as_u16().to_string()),
        ])
        .inc();
    res
}
