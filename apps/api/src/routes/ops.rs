//! Health, readiness, metrics, the OpenAPI document, and the live stream.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, Errors, Json, Query};
use crate::stream::{self, Filter, StreamKind};
use crate::AppState;

/// The process answers.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Health {
    /// Always `ok`.
    status: String,
}

/// Liveness: the process is up.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "Up", body = Health))
)]
pub(crate) async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}

/// What each backend answered.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Readiness {
    /// `ready`, or `unavailable`.
    status: String,
    /// `ok` or the error, per backend (`store`, `cache`, `bus`).
    checks: BTreeMap<String, String>,
}

const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

async fn probe<F>(name: &str, f: F) -> (String, Result<(), String>)
where
    F: std::future::Future<Output = experiment_core::Result<()>>,
{
    let r = match tokio::time::timeout(CHECK_TIMEOUT, f).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => {
            // Server addresses stay in the log; the probe says which backend.
            tracing::warn!(check = name, error = %e, "readiness check failed");
            Err(format!("{} does not answer", crate::error::backend_of(&e)))
        }
        Err(_) => Err(format!("no answer within {CHECK_TIMEOUT:?}")),
    };
    (name.to_owned(), r)
}

/// Readiness: the store, the cache and the event log answer; 503 names the one that does not.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "Every backend answers", body = Readiness),
        (status = 503, description = "A backend does not answer; `detail` names it", body = crate::error::Problem, content_type = "application/problem+json")
    )
)]
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    let store = state.store().clone();
    let cache = state.cache().clone();
    let bus = state.bus().clone();
    let results = futures::future::join_all([
        Box::pin(probe("store", async move {
            store.document("health", "probe").await.map(|_| ())
        })) as std::pin::Pin<Box<dyn std::future::Future<Output = _> + Send>>,
        Box::pin(probe("cache", async move {
            cache.get("health:probe").await.map(|_| ())
        })),
        Box::pin(probe("bus", async move { bus.check().await })),
    ])
    .await;
    let failed: Vec<String> = results
        .iter()
        .filter_map(|(n, r)| r.as_ref().err().map(|e| format!("{n}: {e}")))
        .collect();
    if !failed.is_empty() {
        tracing::warn!(failed = ?failed, "not ready");
        return ApiError::unavailable(format!("not ready: {}", failed.join("; ")), 5)
            .into_response();
    }
    let checks = results
        .into_iter()
        .map(|(n, _)| (n, "ok".to_owned()))
        .collect();
    Json(Readiness {
        status: "ready".into(),
        checks,
    })
    .into_response()
}

/// Prometheus metrics (text format): requests by route and status, latency histogram,
/// live-stream clients, ingested items.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus text exposition", body = String, content_type = "text/plain"))
)]
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    let mut res = state.metrics().render().into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    res
}

/// This document (OpenAPI 3.1).
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI document", body = Object))
)]
pub(crate) async fn openapi(State(state): State<AppState>) -> Response {
    let mut res = crate::openapi_json(&state).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct StreamParams {
    /// Only these codes, comma separated. Default: all.
    codes: Option<String>,
    /// Only these kinds, comma separated: `quote`, `bar`, `alert`. Default: all.
    types: Option<String>,
    /// Resume after this event id (for clients that cannot send `Last-Event-ID`).
    last_event_id: Option<u64>,
}

/// Server-Sent Events of quotes, daily bars and alerts as they arrive. Each event has an
/// `id`; reconnect with `Last-Event-ID` to get what you missed (from a bounded buffer; an
/// event `lagged` says when that is too old). Comments keep the connection alive; a last
/// `shutdown` event comes before the server stops.
#[utoipa::path(
    get,
    path = "/v1/stream",
    tag = "stream",
    params(
        StreamParams,
        ("Last-Event-ID" = Option<String>, Header, description = "The id of the last event received")
    ),
    responses((status = 200, description = "An event stream (event: quote | bar | alert | lagged | shutdown)", body = String, content_type = "text/event-stream"), Errors)
)]
pub(crate) async fn stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(p): Query<StreamParams>,
) -> Result<Response, ApiError> {
    let mut filter = Filter::default();
    for c in p
        .codes
        .iter()
        .flat_map(|c| c.split(','))
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        filter.codes.insert(super::code(c)?.to_string());
    }
    for t in p
        .types
        .iter()
        .flat_map(|t| t.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        filter.kinds.insert(StreamKind::parse(t).ok_or_else(|| {
            ApiError::bad_request(format!("types: '{t}' is not one of quote, bar, alert"))
        })?);
    }
    let header_id = match headers.get("last-event-id") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "Last-Event-ID: expected the id of an event of this stream",
                    )
                })?,
        ),
    };
    let last = header_id.or(p.last_event_id);
    let sse = stream::respond(
        state.hub(),
        filter,
        last,
        Duration::from_secs(state.config().stream_keepalive_secs),
        state.shutdown().clone(),
        state.metrics().stream_clients.clone(),
    );
    let mut res = sse.into_response();
    // Proxies (nginx) must not buffer the stream.
    res.headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    let _ = StatusCode::OK;
    Ok(res)
}
