//! Alerts, newest first, and one alert with the state of each of its deliveries.

use axum::extract::State;
use chrono::{DateTime, Utc};
use experiment_core::model::{Alert, AlertId, NotificationKey, NotificationStatus, RuleId};
use experiment_core::store::{AlertCursor, AlertQuery};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, Errors, Json, Path, Query};
use crate::routes::code;
use crate::{page, AppState};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AlertParams {
    /// Only this security.
    code: Option<String>,
    /// Only this rule.
    rule: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1 to 1000. Default 50.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
}

/// A page of alerts.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AlertPage {
    /// Alerts, newest first.
    items: Vec<Alert>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

/// Alerts, newest first, by security and rule.
#[utoipa::path(
    get,
    path = "/v1/alerts",
    tag = "alerts",
    params(AlertParams),
    responses((status = 200, description = "Alerts, newest first", body = AlertPage), Errors)
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    Query(p): Query<AlertParams>,
) -> Result<Json<AlertPage>, ApiError> {
    let limit = page::limit(p.limit, 50, page::MAX_LIMIT)?;
    let after = p
        .cursor
        .as_deref()
        .map(page::decode::<(DateTime<Utc>, AlertId)>)
        .transpose()?
        .map(|(triggered_at, id)| AlertCursor { triggered_at, id });
    let query = AlertQuery {
        code: p
            .code
            .as_deref()
            .filter(|c| !c.trim().is_empty())
            .map(code)
            .transpose()?,
        rule: p
            .rule
            .as_deref()
            .filter(|r| !r.trim().is_empty())
            .map(RuleId::new)
            .transpose()?,
        before: None,
        after,
        limit: limit + 1,
    };
    let (items, more) = page::split(state.store().alerts(&query).await?, limit);
    let next_cursor = more
        .then(|| items.last().map(|a| page::encode(&(a.triggered_at, a.id))))
        .flatten();
    Ok(Json(AlertPage { items, next_cursor }))
}

/// One delivery of an alert.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Delivery {
    /// Its idempotency key (what a webhook receiver sees as `Idempotency-Key`).
    key: NotificationKey,
    /// The destination's name.
    destination: String,
    /// `pending`, `sent` or `failed`.
    status: NotificationStatus,
    /// Attempts so far.
    attempts: u32,
    /// When the next attempt is due (pending only).
    next_attempt_at: Option<DateTime<Utc>>,
    /// The last error.
    last_error: Option<String>,
    /// When it was delivered.
    sent_at: Option<DateTime<Utc>>,
    /// The destination's id for the message (Slack's `ts`).
    receipt: Option<String>,
}

/// An alert and its deliveries.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AlertDetail {
    /// The alert.
    alert: Alert,
    /// Each delivery's state.
    notifications: Vec<Delivery>,
}

/// One alert with each notification's delivery state and attempts.
#[utoipa::path(
    get,
    path = "/v1/alerts/{id}",
    tag = "alerts",
    params(("id" = String, Path, description = "Alert id (a UUID)")),
    responses((status = 200, description = "The alert and its deliveries", body = AlertDetail), Errors)
)]
pub(crate) async fn get_one(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<AlertDetail>, ApiError> {
    let id = uuid::Uuid::parse_str(id.trim())
        .map(AlertId)
        .map_err(|_| ApiError::bad_request(format!("id '{id}' is not an alert id (a UUID)")))?;
    let alert = state
        .store()
        .alert(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no alert '{id}'")))?;
    let notifications = state
        .store()
        .alert_notifications(&id)
        .await?
        .into_iter()
        .map(|n| Delivery {
            key: n.key,
            destination: n.destination,
            status: n.status,
            attempts: n.attempts,
            next_attempt_at: (n.status == NotificationStatus::Pending).then_some(n.next_attempt_at),
            last_error: n.last_error,
            sent_at: n.sent_at,
            receipt: n.receipt,
        })
        .collect();
    Ok(Json(AlertDetail {
        alert,
        notifications,
    }))
}
