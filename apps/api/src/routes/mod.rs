//! The routes, one module per group; [`all`] assembles them with the OpenAPI document.

mod alerts;
mod data;
mod ingest;
mod ops;
mod rules;
mod settings;
mod stats;

use axum::middleware::from_fn_with_state;
use chrono::NaiveDate;
use experiment_core::model::{market_date, Exchange, SecurityCode};
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::openapi::ApiDoc;
use crate::{auth, timeout_layer, AppState};

/// Every route, with the OpenAPI document built from their annotations.
pub(crate) fn all(state: AppState) -> OpenApiRouter<AppState> {
    let v1 = OpenApiRouter::new()
        .routes(routes!(data::securities))
        .routes(routes!(data::security))
        .routes(routes!(data::quotes))
        .routes(routes!(data::quote))
        .routes(routes!(data::bars))
        .routes(routes!(data::indicators))
        .routes(routes!(data::catalogue))
        .routes(routes!(stats::market_stats))
        .routes(routes!(stats::movers))
        .routes(routes!(stats::industries))
        .routes(routes!(stats::security_stats))
        .routes(routes!(rules::list, rules::create))
        .routes(routes!(rules::validate))
        .routes(routes!(
            rules::get_one,
            rules::replace,
            rules::patch,
            rules::delete
        ))
        .routes(routes!(rules::backtest))
        .routes(routes!(
            settings::destinations,
            settings::create_destination
        ))
        .routes(routes!(
            settings::destination,
            settings::replace_destination,
            settings::delete_destination
        ))
        .routes(routes!(settings::test_destination))
        .routes(routes!(settings::watchlist, settings::replace_watchlist))
        .routes(routes!(alerts::list))
        .routes(routes!(alerts::get_one))
        .routes(routes!(ingest::quotes))
        .routes(routes!(ingest::bars))
        .route_layer(timeout_layer(&state))
        // The live stream lasts as long as the client wants: no timeout.
        .routes(routes!(ops::stream))
        .route_layer(from_fn_with_state(state.clone(), auth::guard));
    let ops = OpenApiRouter::new()
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::metrics))
        .routes(routes!(ops::openapi))
        .route_layer(timeout_layer(&state));
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(v1)
        .merge(ops)
}

/// A code from a path or a parameter.
pub(crate) fn code(text: &str) -> Result<SecurityCode, ApiError> {
    SecurityCode::new(text.trim()).map_err(|e| ApiError::bad_request(e.to_string()))
}

/// `TWSE` or `TPEx` (also `tse`, `otc`), any case.
pub(crate) fn market(text: Option<&str>) -> Result<Option<Exchange>, ApiError> {
    text.map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.parse::<Exchange>()
                .map_err(|_| ApiError::bad_request(format!("market '{t}': expected TWSE or TPEx")))
        })
        .transpose()
}

/// Today in Taipei.
pub(crate) fn today() -> NaiveDate {
    market_date(chrono::Utc::now())
}

/// The dates requests may name: the exchanges' data starts after 1900, and far dates would
/// overflow date arithmetic.
pub(crate) fn check_date(name: &str, date: NaiveDate) -> Result<NaiveDate, ApiError> {
    let lo = NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(NaiveDate::MIN);
    let hi = NaiveDate::from_ymd_opt(2200, 12, 31).unwrap_or(NaiveDate::MAX);
    if date < lo || date > hi {
        return Err(ApiError::bad_request(format!(
            "{name}: {date} is out of range (1900-01-01 to 2200-12-31)"
        )));
    }
    Ok(date)
}

/// `date` moved back `days` days (dates are checked to be in range first).
pub(crate) fn days_before(date: NaiveDate, days: i64) -> NaiveDate {
    date.checked_sub_signed(chrono::Duration::days(days))
        .unwrap_or(NaiveDate::MIN)
}

/// Checks `from <= to`.
pub(crate) fn range(from: NaiveDate, to: NaiveDate) -> Result<(), ApiError> {
    if from > to {
        return Err(ApiError::bad_request(format!(
            "from ({from}) is after to ({to})"
        )));
    }
    Ok(())
}
