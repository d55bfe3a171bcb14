//! Statistics: market breadth, movers, industries and one security's figures.

use std::collections::HashMap;

use std::sync::Arc;

use axum::extract::{OriginalUri, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use experiment_core::model::{DailyBar, Exchange, Security};
use experiment_core::store::SecurityQuery;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, Errors, Json, Path, Query};
use crate::routes::{check_date, code, days_before, market, today};
use crate::stats::{self, Breadth, CodeStats, Industry, Mover, MoverKey};
use crate::{collections, market_day_id, AppState, MarketDay};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct DateParams {
    /// The trading date (YYYY-MM-DD). Default: the newest date with stored bars.
    date: Option<NaiveDate>,
    /// Only `TWSE` or `TPEx` (where it applies).
    market: Option<String>,
}

/// The newest date on or before `asked` with bars, and its cross-section.
async fn cross_section(
    state: &AppState,
    asked: Option<NaiveDate>,
) -> Result<(NaiveDate, Vec<DailyBar>), ApiError> {
    let date = match asked {
        Some(d) => check_date("date", d)?,
        None => state
            .store()
            .last_bar_date(today())
            .await?
            .ok_or_else(|| ApiError::not_found("no daily bars are stored yet"))?,
    };
    let bars = state.store().daily_bars_on(date).await?;
    if bars.is_empty() {
        return Err(ApiError::not_found(format!(
            "no daily bars are stored for {date} (a holiday, or not crawled)"
        )));
    }
    Ok((date, bars))
}

async fn profiles(state: &AppState) -> Result<HashMap<String, Security>, ApiError> {
    let all = state
        .store()
        .search_securities(&SecurityQuery {
            limit: 10_000,
            ..SecurityQuery::default()
        })
        .await?;
    Ok(all.into_iter().map(|s| (s.code.to_string(), s)).collect())
}

/// Market breadth of a date.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MarketStats {
    /// The trading date.
    date: NaiveDate,
    /// TWSE, TPEx and the total.
    markets: Vec<Breadth>,
}

/// Market breadth: advancers, decliners, unchanged, not traded, limit moves, volume, value
/// and trades, per market and in total.
#[utoipa::path(
    get,
    path = "/v1/stats/market",
    tag = "statistics",
    params(DateParams),
    responses((status = 200, description = "Breadth per market and in total", body = MarketStats), Errors)
)]
pub(crate) async fn market_stats(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    Query(p): Query<DateParams>,
) -> Result<Response, ApiError> {
    memoized(&state, &uri, market_stats_of(&state, p)).await
}

async fn market_stats_of(state: &AppState, p: DateParams) -> Result<MarketStats, ApiError> {
    let state = state.clone();
    let only = market(p.market.as_deref())?;
    let (date, bars) = cross_section(&state, p.date).await?;
    let mut untraded = HashMap::new();
    for ex in [Exchange::Twse, Exchange::Tpex] {
        if let Some(doc) = state
            .store()
            .document(collections::MARKET_DAYS, &market_day_id(ex, date))
            .await?
        {
            if let Ok(day) = serde_json::from_value::<MarketDay>(doc) {
                let n = day
                    .untraded
                    .iter()
                    .filter(|c| !stats::is_warrant(c))
                    .count();
                untraded.insert(ex, n as u64);
            }
        }
    }
    let mut markets = stats::off_runtime(move || stats::breadth(&bars, &untraded))
        .await
        .map_err(internal)?;
    if let Some(ex) = only {
        markets.retain(|m| m.market == ex.as_str());
    }
    Ok(MarketStats { date, markets })
}

/// The answer to `uri` from the memo, or computed by `f` and kept. While one request
/// computes an expired answer, the others get the previous one.
async fn memoized<T, F>(state: &AppState, uri: &axum::http::Uri, f: F) -> Result<Response, ApiError>
where
    T: serde::Serialize,
    F: std::future::Future<Output = Result<T, ApiError>>,
{
    let key = uri.to_string();
    let memo = state.memo();
    let bytes = match memo.get(&key, false) {
        Some(b) => b,
        None => {
            let lock = memo.computing(&key);
            let guard = match lock.try_lock() {
                Ok(g) => g,
                Err(_) => match memo.get(&key, true) {
                    Some(stale) => return Ok(json_bytes(stale)),
                    None => lock.lock().await,
                },
            };
            match memo.get(&key, false) {
                Some(b) => b,
                None => {
                    let value = f.await?;
                    let b = Arc::new(serde_json::to_vec(&value).map_err(|e| {
                        ApiError::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
                    })?);
                    memo.put(key, b.clone());
                    drop(guard);
                    b
                }
            }
        }
    };
    Ok(json_bytes(bytes))
}

fn json_bytes(bytes: Arc<Vec<u8>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        bytes.as_ref().clone(),
    )
        .into_response()
}

fn internal(e: stats::StatsError) -> ApiError {
    tracing::error!(error = %e, "statistics failed");
    ApiError::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

/// `up` (largest first) or `down` (smallest first).
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Direction {
    /// Largest first.
    #[default]
    Up,
    /// Smallest first.
    Down,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct MoversParams {
    /// The trading date (YYYY-MM-DD). Default: the newest date with stored bars.
    date: Option<NaiveDate>,
    /// Ranked by. Default `change_pct`.
    by: Option<MoverKey>,
    /// `up`: largest first (gainers, most traded); `down`: smallest first (losers).
    direction: Option<Direction>,
    /// How many, 1 to 200. Default 20.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<usize>,
    /// Only `TWSE` or `TPEx`.
    market: Option<String>,
}

/// A ranking.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MoversResponse {
    /// The trading date.
    date: NaiveDate,
    /// Ranked by.
    by: MoverKey,
    /// Order.
    direction: Direction,
    /// The ranked securities.
    items: Vec<Mover>,
}

/// Top movers: gainers and losers by change or change %, most traded by volume, value or
/// trades.
#[utoipa::path(
    get,
    path = "/v1/stats/movers",
    tag = "statistics",
    params(MoversParams),
    responses((status = 200, description = "The ranking", body = MoversResponse), Errors)
)]
pub(crate) async fn movers(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    Query(p): Query<MoversParams>,
) -> Result<Response, ApiError> {
    memoized(&state, &uri, movers_of(&state, p)).await
}

async fn movers_of(state: &AppState, p: MoversParams) -> Result<MoversResponse, ApiError> {
    let state = state.clone();
    let limit = crate::page::limit(p.limit, 20, 200)?;
    let only = market(p.market.as_deref())?;
    let (date, bars) = cross_section(&state, p.date).await?;
    let names = profiles(&state).await?;
    let by = p.by.unwrap_or_default();
    let direction = p.direction.unwrap_or_default();
    let descending = matches!(direction, Direction::Up);
    let items =
        stats::off_runtime(move || stats::movers(&bars, &names, by, descending, only, limit))
            .await
            .map_err(internal)?;
    Ok(MoversResponse {
        date,
        by,
        direction,
        items,
    })
}

/// Industries of a date.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct IndustriesResponse {
    /// The trading date.
    date: NaiveDate,
    /// Industries by value traded.
    items: Vec<Industry>,
}

/// Per industry: securities, advancers, decliners, mean change % and value traded.
#[utoipa::path(
    get,
    path = "/v1/stats/industries",
    tag = "statistics",
    params(DateParams),
    responses((status = 200, description = "Industries by value traded", body = IndustriesResponse), Errors)
)]
pub(crate) async fn industries(
    State(state): State<AppState>,
    OriginalUri(uri): OriginalUri,
    Query(p): Query<DateParams>,
) -> Result<Response, ApiError> {
    memoized(&state, &uri, industries_of(&state, p)).await
}

async fn industries_of(state: &AppState, p: DateParams) -> Result<IndustriesResponse, ApiError> {
    let state = state.clone();
    let only = market(p.market.as_deref())?;
    let (date, bars) = cross_section(&state, p.date).await?;
    let names = profiles(&state).await?;
    let items = stats::off_runtime(move || stats::industries(&bars, &names, only))
        .await
        .map_err(internal)?;
    Ok(IndustriesResponse { date, items })
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct CodeStatsParams {
    /// As of this date (YYYY-MM-DD). Default: today.
    date: Option<NaiveDate>,
}

/// One security's figures: 52-week high and low, returns, volatility, mean volume.
#[utoipa::path(
    get,
    path = "/v1/stats/{code}",
    tag = "statistics",
    params(("code" = String, Path, description = "Security code, e.g. 2330"), CodeStatsParams),
    responses((status = 200, description = "The figures as of the last bar on or before the date", body = CodeStats), Errors)
)]
pub(crate) async fn security_stats(
    State(state): State<AppState>,
    Path(c): Path<String>,
    Query(p): Query<CodeStatsParams>,
) -> Result<Json<CodeStats>, ApiError> {
    let c = code(&c)?;
    let date = check_date("date", p.date.unwrap_or_else(today))?;
    // Enough for one year of returns, the 52 weeks and 60 days of volatility.
    let from = days_before(date, 400);
    let bars = state.store().daily_bars(&c, from, date).await?;
    let code = c.to_string();
    stats::off_runtime(move || stats::code_stats(&code, &bars))
        .await
        .map_err(internal)?
        .map(Json)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no bars of '{c}' are stored in the year before {date}"
            ))
        })
}
