//! Securities, quotes, daily bars, indicators and the indicator catalogue.

use std::collections::BTreeMap;

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use chrono::{NaiveDate, NaiveTime};
use experiment_core::model::{DailyBar, Quote, Security};
use experiment_core::store::SecurityQuery;
use experiment_core::CacheExt as _;
use experiment_indicators::catalogue::{self, ParamKind};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, Errors, Json, Path, Query};
use crate::page;
use crate::routes::{check_date, code, days_before, market, range, today};
use crate::AppState;

/// A page of securities.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SecurityPage {
    /// The securities, by code.
    items: Vec<Security>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct SecuritiesParams {
    /// Code prefix or name substring, e.g. `23`, `台積` or `tsmc` (ASCII without case).
    q: Option<String>,
    /// `TWSE` or `TPEx`.
    market: Option<String>,
    /// Industry name, e.g. `半導體業`.
    industry: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1 to 1000. Default 100.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
}

/// Search securities by code prefix or name, market and industry.
#[utoipa::path(
    get,
    path = "/v1/securities",
    tag = "securities",
    params(SecuritiesParams),
    responses((status = 200, description = "Matching securities, by code", body = SecurityPage), Errors)
)]
pub(crate) async fn securities(
    State(state): State<AppState>,
    Query(p): Query<SecuritiesParams>,
) -> Result<Json<SecurityPage>, ApiError> {
    let limit = page::limit(p.limit, 100, page::MAX_LIMIT)?;
    let after = p
        .cursor
        .as_deref()
        .map(page::decode::<String>)
        .transpose()?;
    let query = SecurityQuery {
        text: p.q.filter(|q| !q.trim().is_empty()),
        exchange: market(p.market.as_deref())?,
        industry: p.industry.filter(|i| !i.trim().is_empty()),
        after,
        limit: limit + 1,
    };
    let (items, more) = page::split(state.store().search_securities(&query).await?, limit);
    let next_cursor = more
        .then(|| items.last().map(|s| page::encode(&s.code.as_str())))
        .flatten();
    Ok(Json(SecurityPage { items, next_cursor }))
}

/// One security's profile.
#[utoipa::path(
    get,
    path = "/v1/securities/{code}",
    tag = "securities",
    params(("code" = String, Path, description = "Security code, e.g. 2330")),
    responses((status = 200, description = "The profile", body = Security), Errors)
)]
pub(crate) async fn security(
    State(state): State<AppState>,
    Path(c): Path<String>,
) -> Result<Json<Security>, ApiError> {
    let c = code(&c)?;
    state
        .store()
        .security(&c)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no security '{c}' is stored")))
}

/// The latest quote of a code: the shared cache first, then the store.
async fn latest(
    state: &AppState,
    c: &experiment_core::model::SecurityCode,
) -> Result<Option<Quote>, ApiError> {
    match state.cache().latest_quote(c).await {
        Ok(Some(q)) => return Ok(Some(q)),
        Ok(None) => {}
        // A cache outage is not the caller's problem: the store still answers.
        Err(e) => tracing::warn!(error = %e, "cache unavailable; reading the quote from the store"),
    }
    Ok(state.store().quote(c).await?)
}

/// The latest quote of a security.
#[utoipa::path(
    get,
    path = "/v1/quotes/{code}",
    tag = "market data",
    params(("code" = String, Path, description = "Security code, e.g. 2330")),
    responses((status = 200, description = "The latest snapshot", body = Quote), Errors)
)]
pub(crate) async fn quote(
    State(state): State<AppState>,
    Path(c): Path<String>,
) -> Result<Response, ApiError> {
    let c = code(&c)?;
    // The hot path: the cache holds the quote as the JSON this answers with, so it is served
    // as it is (a value that is not a quote's JSON falls through to the store).
    match state
        .cache()
        .get(&experiment_core::cache::quote_key(&c))
        .await
    {
        Ok(Some(bytes)) if bytes.starts_with(b"{\"code\":") => {
            return Ok((
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                bytes,
            )
                .into_response());
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cache unavailable; reading the quote from the store"),
    }
    state
        .store()
        .quote(&c)
        .await?
        .map(|q| Json(q).into_response())
        .ok_or_else(|| ApiError::not_found(format!("no quote of '{c}' is stored")))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct QuotesParams {
    /// Codes, comma separated (at most 100), e.g. `2330,2317`.
    codes: String,
}

/// Latest quotes of several codes.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct QuoteList {
    /// The quotes found, in the order asked.
    quotes: Vec<Quote>,
    /// Codes without a stored quote.
    missing: Vec<String>,
}

/// The latest quotes of several securities.
#[utoipa::path(
    get,
    path = "/v1/quotes",
    tag = "market data",
    params(QuotesParams),
    responses((status = 200, description = "The quotes found and the codes without one", body = QuoteList), Errors)
)]
pub(crate) async fn quotes(
    State(state): State<AppState>,
    Query(p): Query<QuotesParams>,
) -> Result<Json<QuoteList>, ApiError> {
    let mut codes = Vec::new();
    for c in p.codes.split(',').map(str::trim).filter(|c| !c.is_empty()) {
        let c = code(c)?;
        if !codes.contains(&c) {
            codes.push(c);
        }
    }
    if codes.is_empty() {
        return Err(ApiError::bad_request(
            "codes: give at least one code, e.g. codes=2330,2317",
        ));
    }
    if codes.len() > 100 {
        return Err(ApiError::bad_request(format!(
            "codes: at most 100 at once, got {}",
            codes.len()
        )));
    }
    let found = futures::future::try_join_all(codes.iter().map(|c| latest(&state, c))).await?;
    let mut out = QuoteList {
        quotes: Vec::new(),
        missing: Vec::new(),
    };
    for (c, q) in codes.iter().zip(found) {
        match q {
            Some(q) => out.quotes.push(q),
            None => out.missing.push(c.to_string()),
        }
    }
    Ok(Json(out))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct BarsParams {
    /// First date (YYYY-MM-DD), inclusive. Default: a year before `to`.
    from: Option<NaiveDate>,
    /// Last date, inclusive. Default: today (Taipei).
    to: Option<NaiveDate>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1 to 10000. Default 1000.
    #[param(minimum = 1, maximum = 10000)]
    limit: Option<usize>,
}

/// A page of daily bars.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BarPage {
    /// The security.
    code: String,
    /// Bars in ascending date order. Prices are decimal strings with the exchange's scale.
    items: Vec<DailyBar>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

fn bar_range(
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
) -> Result<(NaiveDate, NaiveDate), ApiError> {
    let to = check_date("to", to.unwrap_or_else(today))?;
    let from = match from {
        Some(f) => check_date("from", f)?,
        None => days_before(to, 366),
    };
    range(from, to)?;
    Ok((from, to))
}

/// Daily bars of a security, ascending.
#[utoipa::path(
    get,
    path = "/v1/bars/{code}",
    tag = "market data",
    params(("code" = String, Path, description = "Security code, e.g. 2330"), BarsParams),
    responses((status = 200, description = "Daily bars, ascending", body = BarPage), Errors)
)]
pub(crate) async fn bars(
    State(state): State<AppState>,
    Path(c): Path<String>,
    Query(p): Query<BarsParams>,
) -> Result<Json<BarPage>, ApiError> {
    let c = code(&c)?;
    let limit = page::limit(p.limit, 1000, 10_000)?;
    let (mut from, to) = bar_range(p.from, p.to)?;
    if let Some(cursor) = &p.cursor {
        let last: NaiveDate = page::decode(cursor)?;
        from = from.max(last.succ_opt().unwrap_or(last));
    }
    let items = if from > to {
        Vec::new()
    } else {
        state.store().daily_bars(&c, from, to).await?
    };
    let mut items = items;
    let more = items.len() > limit;
    items.truncate(limit);
    let next_cursor = more
        .then(|| items.last().map(|b| page::encode(&b.date)))
        .flatten();
    Ok(Json(BarPage {
        code: c.to_string(),
        items,
        next_cursor,
    }))
}

/// Indicator values of one date.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct IndicatorRow {
    /// The bar's date.
    date: NaiveDate,
    /// One value per column (`null` while an indicator warms up).
    values: BTreeMap<String, Option<f64>>,
}

/// A page of indicator values.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct IndicatorPage {
    /// The security.
    code: String,
    /// The columns: each expression, and one per output of a multi-output indicator
    /// (`macd(12,26,9).signal`).
    columns: Vec<String>,
    /// Rows in ascending date order.
    rows: Vec<IndicatorRow>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

/// Documents the indicator parameters (`expr` repeats, which the plain query extractor
/// cannot read, so the handler parses the query itself).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct IndicatorParams {
    /// An indicator expression, repeated for several (at most 20), e.g.
    /// `expr=macd(12,26,9)&expr=rsi(14)`. See `/v1/catalogue`.
    expr: Vec<String>,
    /// First date, inclusive. Default: a year before `to`.
    from: Option<NaiveDate>,
    /// Last date, inclusive. Default: today (Taipei).
    to: Option<NaiveDate>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1 to 10000. Default 1000.
    #[param(minimum = 1, maximum = 10000)]
    limit: Option<usize>,
}

fn parse_date(name: &str, v: &str) -> Result<NaiveDate, ApiError> {
    let d = NaiveDate::parse_from_str(v.trim(), "%Y-%m-%d").map_err(|_| {
        ApiError::bad_request(format!("{name}: '{v}' is not a date like 2025-05-02"))
    })?;
    check_date(name, d)
}

/// Indicators computed on demand from the stored bars. Values are those of the whole stored
/// history (the same as streaming them bar by bar from the first), shown for `from..=to`.
#[utoipa::path(
    get,
    path = "/v1/indicators/{code}",
    tag = "market data",
    params(("code" = String, Path, description = "Security code, e.g. 2330"), IndicatorParams),
    responses((status = 200, description = "One column per indicator output, null in warm-up", body = IndicatorPage), Errors)
)]
pub(crate) async fn indicators(
    State(state): State<AppState>,
    Path(c): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<IndicatorPage>, ApiError> {
    let c = code(&c)?;
    let (mut exprs, mut from, mut to, mut cursor, mut limit) =
        (Vec::new(), None, None, None::<String>, None);
    for (k, v) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        match k.as_ref() {
            "expr" => exprs.push(v.into_owned()),
            "from" => from = Some(parse_date("from", &v)?),
            "to" => to = Some(parse_date("to", &v)?),
            "cursor" => cursor = Some(v.into_owned()),
            "limit" => {
                limit = Some(v.trim().parse::<usize>().map_err(|_| {
                    ApiError::bad_request(format!("limit: '{v}' is not a whole number"))
                })?)
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown parameter '{other}': expected expr, from, to, cursor or limit"
                )))
            }
        }
    }
    if exprs.is_empty() {
        return Err(ApiError::bad_request(
            "expr: give at least one indicator, e.g. expr=rsi(14)&expr=macd(12,26,9)",
        ));
    }
    if exprs.len() > 20 {
        return Err(ApiError::bad_request(
            "expr: at most 20 expressions at once",
        ));
    }
    let limit = page::limit(limit, 1000, 10_000)?;
    let (mut from, to) = bar_range(from, to)?;
    if let Some(cur) = cursor.take() {
        let last: NaiveDate = page::decode(&cur)?;
        from = from.max(last.succ_opt().unwrap_or(last));
    }
    let mut columns = Vec::new();
    let mut parsed = Vec::new();
    for e in &exprs {
        let expanded = experiment_indicators::eval::expand(e).map_err(|err| {
            ApiError::bad_request(format!("expr '{e}': {err}")).with_column(err.column)
        })?;
        for (name, expr) in expanded {
            columns.push(name);
            parsed.push(expr);
        }
    }
    // The whole history up to `to`: the values are then those of the full series.
    let history = state
        .store()
        .daily_bars(
            &c,
            NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(NaiveDate::MIN),
            to,
        )
        .await?;
    let series: Vec<(i64, experiment_indicators::Bar)> = history
        .iter()
        .map(|b| (bar_time(b.date), indicator_bar(b)))
        .collect();
    let values = experiment_indicators::eval::columns(&parsed, &series);
    let mut rows = Vec::new();
    let mut more = false;
    for (i, b) in history.iter().enumerate() {
        if b.date < from {
            continue;
        }
        if rows.len() == limit {
            more = true;
            break;
        }
        rows.push(IndicatorRow {
            date: b.date,
            values: columns
                .iter()
                .zip(&values)
                .map(|(name, col)| (name.clone(), col[i].filter(|v| v.is_finite())))
                .collect(),
        });
    }
    let next_cursor = more
        .then(|| rows.last().map(|r| page::encode(&r.date)))
        .flatten();
    Ok(Json(IndicatorPage {
        code: c.to_string(),
        columns,
        rows,
        next_cursor,
    }))
}

/// A daily bar for the indicators (they compute in f64).
pub(crate) fn indicator_bar(b: &DailyBar) -> experiment_indicators::Bar {
    use rust_decimal::prelude::ToPrimitive;
    let f = |d: rust_decimal::Decimal| d.to_f64().unwrap_or(f64::NAN);
    experiment_indicators::Bar {
        open: f(b.open),
        high: f(b.high),
        low: f(b.low),
        close: f(b.close),
        volume: b.volume as f64,
    }
}

/// A daily bar's time for the indicators: the start of its day in Taipei, epoch seconds.
pub(crate) fn bar_time(date: NaiveDate) -> i64 {
    date.and_time(NaiveTime::MIN)
        .and_local_timezone(experiment_core::model::MARKET_TZ)
        .earliest()
        .map_or(0, |t| t.timestamp())
}

/// One parameter of an indicator.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CatalogueParam {
    /// Its name.
    name: String,
    /// `period` (whole bars) or `number`.
    kind: String,
    /// Smallest allowed.
    min: f64,
    /// Largest allowed.
    max: f64,
    /// Used when a rule leaves it out.
    default: f64,
}

/// One indicator of the catalogue.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CatalogueEntry {
    /// Name used in expressions, e.g. `rsi`.
    name: String,
    /// What it computes.
    summary: String,
    /// `series` when it reads one price series (given first, default `close`), `bars` when
    /// it reads whole bars.
    input: String,
    /// Parameters, in order.
    params: Vec<CatalogueParam>,
    /// Outputs; the first is what an expression gets without `.name`.
    outputs: Vec<String>,
    /// Bars before the first value, with the default parameters.
    warm_up: usize,
    /// An expression with every default written out.
    example: String,
}

/// The indicator catalogue: every indicator the expressions and rules can use.
#[utoipa::path(
    get,
    path = "/v1/catalogue",
    tag = "market data",
    responses((status = 200, description = "Every indicator", body = [CatalogueEntry]), Errors)
)]
pub(crate) async fn catalogue() -> Json<Vec<CatalogueEntry>> {
    let entries = catalogue::all()
        .into_iter()
        .map(|s| {
            let defaults: Vec<f64> = s.params.iter().map(|p| p.default).collect();
            let args: Vec<String> = s.params.iter().map(|p| fmt_num(p.default)).collect();
            CatalogueEntry {
                name: s.name.to_owned(),
                summary: s.summary.to_owned(),
                input: if s.series_input { "series" } else { "bars" }.to_owned(),
                params: s
                    .params
                    .iter()
                    .map(|p| {
                        let (kind, min, max) = match p.kind {
                            ParamKind::Period { min, max } => {
                                ("period", f64::from(min), f64::from(max))
                            }
                            ParamKind::Number { min, max } => ("number", min, max),
                        };
                        CatalogueParam {
                            name: p.name.to_owned(),
                            kind: kind.to_owned(),
                            min,
                            max,
                            default: p.default,
                        }
                    })
                    .collect(),
                outputs: s.outputs.iter().map(|o| (*o).to_owned()).collect(),
                warm_up: s.warm_up(&defaults),
                example: format!("{}({})", s.name, args.join(", ")),
            }
        })
        .collect();
    Json(entries)
}

fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}
