//! The passive receiver: quotes and daily bars pushed by callers are validated one by one and
//! the valid ones published to the event log, where the workers take them like the
//! feeders' (idempotently: an item sent twice is one record).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use experiment_core::model::{market_date, DailyBar, Event, Payload, Quote};
use experiment_core::seed::AssetInfoView;
use experiment_core::EventBusExt as _;
use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, Errors, Json};
use crate::AppState;

use crate::INGEST_MAX_ITEMS as MAX_ITEMS;

/// One rejected item.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Rejected {
    /// Its index in the array (0-based).
    index: usize,
    /// Why it was rejected.
    reason: String,
}

/// What happened to the items.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct IngestResult {
    /// Published to the event log.
    accepted: usize,
    /// Not published.
    rejected: usize,
    /// Each rejected item with the reason.
    errors: Vec<Rejected>,
}

fn check_quote(q: &Quote) -> Result<(), String> {
    let prices = [
        ("last", q.last),
        ("open", q.open),
        ("high", q.high),
        ("low", q.low),
        ("reference", q.reference),
        ("limit_up", q.limit_up),
        ("limit_down", q.limit_down),
    ];
    for (name, p) in prices {
        if p.is_some_and(|p| p <= Decimal::ZERO) {
            return Err(format!("{name} must be positive"));
        }
    }
    if let (Some(h), Some(l)) = (q.high, q.low) {
        if l > h {
            return Err(format!("low {l} is above high {h}"));
        }
    }
    for (side, levels) in [("bids", &q.bids), ("asks", &q.asks)] {
        if levels.iter().any(|l| l.price <= Decimal::ZERO) {
            return Err(format!("{side}: a price must be positive"));
        }
    }
    if q.exchange_time > Utc::now() + chrono::Duration::days(1) {
        return Err(format!(
            "exchange_time {} is in the future",
            q.exchange_time
        ));
    }
    Ok(())
}

fn quote_item(item: &serde_json::Value, index: usize) -> Result<Quote, String> {
    if !item.is_object() {
        return Err("not a JSON object".into());
    }
    // The original services' flat objects (asset.info.view.v1) carry these keys.
    let seed = item.get("current_intraday_price").is_some() || item.get("query_time").is_some();
    let q = if seed {
        let bytes = serde_json::to_vec(item).map_err(|e| e.to_string())?;
        AssetInfoView::decode(&bytes, &format!("item {index}"))
            .and_then(|v| v.to_quote())
            .map_err(|e| e.to_string())?
    } else {
        serde_path_to_error::deserialize::<_, Quote>(item)
            .map_err(|e| format!("{}: {}", e.path(), e.inner()))?
    };
    check_quote(&q)?;
    Ok(q)
}

fn bar_item(item: &serde_json::Value) -> Result<DailyBar, String> {
    if !item.is_object() {
        return Err("not a JSON object".into());
    }
    let bar: DailyBar = serde_path_to_error::deserialize(item)
        .map_err(|e| format!("{}: {}", e.path(), e.inner()))?;
    bar.validate().map_err(|e| e.to_string())?;
    if bar.date > market_date(Utc::now()) + chrono::Duration::days(1) {
        return Err(format!("date {} is in the future", bar.date));
    }
    Ok(bar)
}

async fn ingest(
    state: &AppState,
    kind: &'static str,
    items: Vec<serde_json::Value>,
    read: impl Fn(&serde_json::Value, usize) -> Result<Payload, String>,
) -> Result<Response, ApiError> {
    if items.len() > MAX_ITEMS {
        return Err(ApiError::bad_request(format!(
            "at most {MAX_ITEMS} items per request, got {}",
            items.len()
        )));
    }
    let mut errors = Vec::new();
    let mut events = Vec::new();
    let now = Utc::now();
    for (index, item) in items.iter().enumerate() {
        match read(item, index) {
            Ok(payload) => events.push(Event::new("api", now, payload)),
            Err(reason) => errors.push(Rejected { index, reason }),
        }
    }
    for (i, e) in events.iter().enumerate() {
        if let Err(err) = state.bus().publish_event(state.topic_prefix(), e).await {
            state.metrics().ingest(kind, i, errors.len());
            return Err(ApiError::unavailable(
                format!(
                    "the event log is unavailable ({err}); {i} of {} valid items were published, send them again (items are idempotent)",
                    events.len()
                ),
                5,
            ));
        }
        state.hub().publish(e);
    }
    state.metrics().ingest(kind, events.len(), errors.len());
    if !errors.is_empty() {
        tracing::info!(
            kind,
            accepted = events.len(),
            rejected = errors.len(),
            "ingest with rejected items"
        );
    }
    let result = IngestResult {
        accepted: events.len(),
        rejected: errors.len(),
        errors,
    };
    Ok((StatusCode::ACCEPTED, Json(result)).into_response())
}

/// Pushes quotes: an array of quotes in the domain form, or the original services' flat
/// `asset.info.view.v1` objects. Each is validated; the valid ones are published.
#[utoipa::path(
    post,
    path = "/v1/ingest/quotes",
    tag = "ingest",
    request_body(content = Vec<serde_json::Value>, description = "Quotes (domain JSON or asset.info.view.v1 objects)"),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 202, description = "Accepted and rejected counts, with each rejection's index and reason", body = IngestResult), Errors)
)]
pub(crate) async fn quotes(
    State(state): State<AppState>,
    Json(items): Json<Vec<serde_json::Value>>,
) -> Result<Response, ApiError> {
    ingest(&state, "quote", items, |item, i| {
        quote_item(item, i).map(Payload::Quote)
    })
    .await
}

/// Pushes daily bars (an array). Each is validated (OHLC consistent, prices positive, no
/// future date); the valid ones are published.
#[utoipa::path(
    post,
    path = "/v1/ingest/bars",
    tag = "ingest",
    request_body(content = Vec<serde_json::Value>, description = "Daily bars"),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 202, description = "Accepted and rejected counts, with each rejection's index and reason", body = IngestResult), Errors)
)]
pub(crate) async fn bars(
    State(state): State<AppState>,
    Json(items): Json<Vec<serde_json::Value>>,
) -> Result<Response, ApiError> {
    ingest(&state, "bar", items, |item, _| {
        bar_item(item).map(Payload::DailyBar)
    })
    .await
}
