//! Alert rules: create, read, replace, patch, delete, validate (a dry run) and backtest.
//!
//! A rule is checked before it is saved: its expression by the rule language (a 400 whose
//! `column` and `detail` point at the error), its message template's placeholders, and its
//! destinations against the configured and stored ones. Workers pick saved rules up within
//! seconds (`[worker] refresh_secs`), without a restart.

use std::collections::{BTreeMap, HashSet};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use experiment_core::model::{
    AlertRule, DailyBar, QuietHours, RuleId, SecurityCode, TriggerFrequency,
};
use experiment_core::store::Page;
use experiment_indicators::eval::Evaluator;
use experiment_indicators::rule::Rule;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, Errors, Json, Path, Query};
use crate::routes::data::{bar_time, indicator_bar};
use crate::routes::{check_date, code, range, today};
use crate::{collections, page, AppState};

/// A rule as clients send it. Only `expression` is required.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RuleInput {
    /// Id (1 to 64 of `A-Z a-z 0-9 _ . -`); made up when absent on create.
    #[serde(default)]
    id: Option<String>,
    /// Name shown in messages. Default: the expression.
    #[serde(default)]
    name: Option<String>,
    /// The condition, e.g. `crosses_above(sma(close, 5), sma(close, 20)) and rsi(14) < 70`.
    expression: String,
    /// Codes it watches; empty: every code.
    #[serde(default)]
    codes: Vec<String>,
    /// When it fires. Default `once_per_bar_close`.
    #[serde(default)]
    frequency: TriggerFrequency,
    /// Least seconds between two alerts of the rule for one code.
    #[serde(default)]
    cooldown_secs: Option<u64>,
    /// After this instant the rule no longer fires.
    #[serde(default)]
    expires_at: Option<DateTime<Utc>>,
    /// Alerts in this daily window (Taipei) are recorded but not delivered.
    #[serde(default)]
    quiet_hours: Option<QuietHours>,
    /// Message template, e.g. `{{code}} {{name}} closed at {{close}}`.
    #[serde(default)]
    message: Option<String>,
    /// Destination names.
    #[serde(default)]
    destinations: Vec<String>,
    /// Whether it is evaluated. Default true.
    #[serde(default)]
    enabled: Option<bool>,
}

fn new_rule_id() -> Result<RuleId, ApiError> {
    let mut b = [0u8; 6];
    getrandom::fill(&mut b).map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("no randomness: {e}"),
        )
    })?;
    RuleId::new(format!("rule-{}", hex::encode(b))).map_err(ApiError::from)
}

impl RuleInput {
    fn into_rule(self, id: RuleId) -> Result<AlertRule, ApiError> {
        let mut codes = Vec::new();
        for (i, c) in self.codes.iter().enumerate() {
            let c = SecurityCode::new(c.trim())
                .map_err(|e| ApiError::bad_request(format!("codes[{i}]: {e}")))?;
            if !codes.contains(&c) {
                codes.push(c);
            }
        }
        let expression = self.expression.trim().to_owned();
        Ok(AlertRule {
            id,
            name: self
                .name
                .map(|n| n.trim().to_owned())
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| expression.clone()),
            expression,
            codes,
            frequency: self.frequency,
            cooldown_secs: self.cooldown_secs,
            expires_at: self.expires_at,
            quiet_hours: self.quiet_hours,
            message: self.message,
            destinations: self
                .destinations
                .iter()
                .map(|d| d.trim().to_owned())
                .collect(),
            enabled: self.enabled.unwrap_or(true),
        })
    }
}

/// The names rules may deliver to: configured and stored destinations.
pub(crate) async fn destination_names(state: &AppState) -> Result<HashSet<String>, ApiError> {
    let mut names: HashSet<String> = state
        .configured_destinations()
        .iter()
        .map(|d| d.name.clone())
        .collect();
    let mut after = None;
    loop {
        let page = state
            .store()
            .documents(
                collections::DESTINATIONS,
                &Page {
                    after: after.clone(),
                    limit: 1000,
                },
            )
            .await?;
        let Some((last, _)) = page.last() else { break };
        after = Some(last.clone());
        let full = page.len() == 1000;
        names.extend(page.into_iter().map(|(id, _)| id));
        if !full {
            break;
        }
    }
    Ok(names)
}

/// Checks a rule as a save would; the canonical expression when it is good.
async fn check(state: &AppState, rule: &AlertRule) -> Result<String, ApiError> {
    let parsed = Rule::parse(&rule.expression).map_err(|e| {
        let caret = format!("{}^", " ".repeat(e.column.saturating_sub(1)));
        ApiError::bad_request(format!("expression: {e}\n  {}\n  {caret}", rule.expression))
            .with_column(e.column)
    })?;
    rule.validate()?;
    let known = destination_names(state).await?;
    if let Some(d) = rule.destinations.iter().find(|d| !known.contains(*d)) {
        let mut list: Vec<_> = known.into_iter().collect();
        list.sort();
        return Err(ApiError::bad_request(format!(
            "destinations: no destination is called '{d}' (known: {})",
            if list.is_empty() {
                "none yet; add one with POST /v1/destinations".to_owned()
            } else {
                list.join(", ")
            }
        )));
    }
    Ok(parsed.to_string())
}

fn rule_id(text: &str) -> Result<RuleId, ApiError> {
    RuleId::new(text).map_err(ApiError::from)
}

/// Ids a rule may not take: paths of their own (`/v1/rules/validate`) or that clients
/// normalise away (`.`, `..`).
fn new_rule_id_ok(id: &RuleId) -> Result<(), ApiError> {
    if matches!(id.as_str(), "validate" | "." | "..") {
        return Err(ApiError::bad_request(format!(
            "id: '{id}' is reserved; choose another"
        )));
    }
    Ok(())
}

/// A page of rules.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RulePage {
    /// Rules by id.
    items: Vec<AlertRule>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListParams {
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1 to 1000. Default 100.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
}

/// Every rule, by id.
#[utoipa::path(
    get,
    path = "/v1/rules",
    tag = "rules",
    params(ListParams),
    responses((status = 200, description = "Rules by id", body = RulePage), Errors)
)]
pub(crate) async fn list(
    State(state): State<AppState>,
    Query(p): Query<ListParams>,
) -> Result<Json<RulePage>, ApiError> {
    let limit = page::limit(p.limit, 100, page::MAX_LIMIT)?;
    let after: Option<String> = p.cursor.as_deref().map(page::decode).transpose()?;
    let rules = state.store().rules().await?;
    let rest: Vec<AlertRule> = rules
        .into_iter()
        .filter(|r| after.as_deref().is_none_or(|a| r.id.as_str() > a))
        .take(limit + 1)
        .collect();
    let (items, more) = page::split(rest, limit);
    let next_cursor = more
        .then(|| items.last().map(|r| page::encode(&r.id.as_str())))
        .flatten();
    Ok(Json(RulePage { items, next_cursor }))
}

/// A saved rule, with its expression in canonical form.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SavedRule {
    /// The rule as stored.
    #[serde(flatten)]
    rule: AlertRule,
    /// The expression with every default written out.
    canonical: String,
}

/// Creates a rule. A bad expression gets a 400 whose `column` points at the error.
#[utoipa::path(
    post,
    path = "/v1/rules",
    tag = "rules",
    request_body = RuleInput,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 201, description = "Created", body = SavedRule), Errors)
)]
pub(crate) async fn create(
    State(state): State<AppState>,
    Json(input): Json<RuleInput>,
) -> Result<Response, ApiError> {
    let id = match &input.id {
        Some(id) => rule_id(id)?,
        None => new_rule_id()?,
    };
    new_rule_id_ok(&id)?;
    let rule = input.into_rule(id)?;
    let canonical = check(&state, &rule).await?;
    if state.store().rule(&rule.id).await?.is_some() {
        return Err(ApiError::conflict(format!(
            "a rule '{}' exists; change it with PUT or PATCH /v1/rules/{}",
            rule.id, rule.id
        )));
    }
    state.store().upsert_rule(&rule).await?;
    tracing::info!(rule = %rule.id, "rule created");
    let location = format!("/v1/rules/{}", rule.id);
    let mut res = (StatusCode::CREATED, Json(SavedRule { rule, canonical })).into_response();
    if let Ok(v) = location.parse() {
        res.headers_mut().insert(axum::http::header::LOCATION, v);
    }
    Ok(res)
}

/// What a dry run found.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Validation {
    /// Always true (an invalid rule is a 400).
    valid: bool,
    /// The expression with every default written out.
    canonical: String,
    /// The rule as it would be saved.
    rule: AlertRule,
}

/// Checks a rule as a save would, without saving it.
#[utoipa::path(
    post,
    path = "/v1/rules/validate",
    tag = "rules",
    request_body = RuleInput,
    responses((status = 200, description = "The rule is valid", body = Validation), Errors)
)]
pub(crate) async fn validate(
    State(state): State<AppState>,
    Json(input): Json<RuleInput>,
) -> Result<Json<Validation>, ApiError> {
    let id = match &input.id {
        Some(id) => rule_id(id)?,
        None => RuleId::new("dry-run").map_err(ApiError::from)?,
    };
    let rule = input.into_rule(id)?;
    let canonical = check(&state, &rule).await?;
    Ok(Json(Validation {
        valid: true,
        canonical,
        rule,
    }))
}

/// One rule.
#[utoipa::path(
    get,
    path = "/v1/rules/{id}",
    tag = "rules",
    params(("id" = String, Path, description = "Rule id")),
    responses((status = 200, description = "The rule", body = SavedRule), Errors)
)]
pub(crate) async fn get_one(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<SavedRule>, ApiError> {
    let id = rule_id(&id)?;
    let rule = state
        .store()
        .rule(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no rule '{id}'")))?;
    let canonical = Rule::parse(&rule.expression)
        .map(|r| r.to_string())
        .unwrap_or_else(|_| rule.expression.clone());
    Ok(Json(SavedRule { rule, canonical }))
}

/// Creates or replaces a rule under this id.
#[utoipa::path(
    put,
    path = "/v1/rules/{id}",
    tag = "rules",
    params(("id" = String, Path, description = "Rule id")),
    request_body = RuleInput,
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "Replaced", body = SavedRule),
        (status = 201, description = "Created", body = SavedRule),
        Errors
    )
)]
pub(crate) async fn replace(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(input): Json<RuleInput>,
) -> Result<Response, ApiError> {
    let id = rule_id(&id)?;
    if input
        .id
        .as_deref()
        .is_some_and(|given| given != id.as_str())
    {
        return Err(ApiError::bad_request(format!(
            "id: the body says '{}' but the path says '{id}'",
            input.id.unwrap_or_default()
        )));
    }
    new_rule_id_ok(&id)?;
    let rule = input.into_rule(id)?;
    let canonical = check(&state, &rule).await?;
    let existed = state.store().rule(&rule.id).await?.is_some();
    state.store().upsert_rule(&rule).await?;
    tracing::info!(rule = %rule.id, "rule saved");
    let status = if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(SavedRule { rule, canonical })).into_response())
}

/// RFC 7396: `patch` merged into `target`.
fn merge_patch(target: &mut serde_json::Value, patch: &serde_json::Value) {
    match patch {
        serde_json::Value::Object(p) => {
            if !target.is_object() {
                *target = serde_json::Value::Object(Default::default());
            }
            if let serde_json::Value::Object(t) = target {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(k);
                    } else {
                        merge_patch(t.entry(k.clone()).or_insert(serde_json::Value::Null), v);
                    }
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// Changes some fields of a rule (JSON merge patch, RFC 7396: `null` removes a field), e.g.
/// `{"enabled": false}`.
#[utoipa::path(
    patch,
    path = "/v1/rules/{id}",
    tag = "rules",
    params(("id" = String, Path, description = "Rule id")),
    request_body(content = serde_json::Value, description = "A JSON merge patch of the rule", content_type = "application/merge-patch+json"),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "The patched rule", body = SavedRule), Errors)
)]
pub(crate) async fn patch(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(patch): Json<serde_json::Value>,
) -> Result<Json<SavedRule>, ApiError> {
    let id = rule_id(&id)?;
    if !patch.is_object() {
        return Err(ApiError::bad_request(
            "the body must be a JSON object of the fields to change",
        ));
    }
    if patch
        .get("id")
        .is_some_and(|v| v.as_str() != Some(id.as_str()))
    {
        return Err(ApiError::bad_request("id: a rule's id cannot change"));
    }
    let rule = state
        .store()
        .rule(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no rule '{id}'")))?;
    let mut value = serde_json::to_value(&rule)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    merge_patch(&mut value, &patch);
    let input: RuleInput = serde_json::from_value(value)
        .map_err(|e| ApiError::bad_request(format!("the patched rule is not valid: {e}")))?;
    let rule = input.into_rule(id)?;
    let canonical = check(&state, &rule).await?;
    state.store().upsert_rule(&rule).await?;
    tracing::info!(rule = %rule.id, "rule patched");
    Ok(Json(SavedRule { rule, canonical }))
}

/// Deletes a rule; its alerts stay.
#[utoipa::path(
    delete,
    path = "/v1/rules/{id}",
    tag = "rules",
    params(("id" = String, Path, description = "Rule id")),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 204, description = "Deleted"), Errors)
)]
pub(crate) async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = rule_id(&id)?;
    state.store().delete_rule(&id).await?;
    tracing::info!(rule = %id, "rule deleted");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct BacktestParams {
    /// First date of firings reported (YYYY-MM-DD). Default: the first stored bar.
    from: Option<NaiveDate>,
    /// Last date. Default: today.
    to: Option<NaiveDate>,
    /// Codes, comma separated (at most 50). Default: the rule's codes, else the watchlist.
    codes: Option<String>,
}

/// One firing in a backtest.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BacktestFiring {
    /// The bar it fired on (at its close).
    date: NaiveDate,
    /// The close.
    #[schema(value_type = String)]
    close: Decimal,
    /// The number the rule is mainly about (the left side of its first comparison).
    value: Option<f64>,
    /// Every number the rule looked at.
    values: BTreeMap<String, f64>,
    /// Close-to-close return after 1, 5 and 20 bars, percent (`null` near the end of the data).
    forward_returns: ForwardReturns,
}

/// Returns after a firing, percent.
#[derive(Debug, Default, Serialize, ToSchema)]
pub(crate) struct ForwardReturns {
    /// After one bar.
    #[serde(rename = "1")]
    b1: Option<f64>,
    /// After five bars.
    #[serde(rename = "5")]
    b5: Option<f64>,
    /// After twenty bars.
    #[serde(rename = "20")]
    b20: Option<f64>,
}

/// A backtest of one code.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BacktestCode {
    /// The security.
    code: String,
    /// Bars evaluated in the range.
    bars: usize,
    /// Where the rule fired.
    firings: Vec<BacktestFiring>,
}

/// Averages over every firing.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BacktestSummary {
    /// Firings in all.
    firings: usize,
    /// Mean return after 1, 5 and 20 bars, percent.
    mean_forward_returns: ForwardReturns,
    /// Share of firings followed by a gain after 5 bars.
    hit_rate_5: Option<f64>,
}

/// Where a rule would have fired.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BacktestReport {
    /// The rule.
    rule: String,
    /// Its expression, canonical.
    expression: String,
    /// The range of the firings reported.
    from: NaiveDate,
    /// Last date.
    to: NaiveDate,
    /// Per code.
    codes: Vec<BacktestCode>,
    /// Over every code.
    summary: BacktestSummary,
}

fn pct(now: Decimal, then: Decimal) -> Option<f64> {
    let (n, t) = (now.to_f64()?, then.to_f64()?);
    (t != 0.0).then(|| ((n / t - 1.0) * 100.0 * 10_000.0).round() / 10_000.0)
}

fn backtest_code(rule: &Rule, code: &str, bars: &[DailyBar], from: NaiveDate) -> BacktestCode {
    let mut e = Evaluator::new(rule);
    let mut firings = Vec::new();
    let mut counted = 0;
    for (i, b) in bars.iter().enumerate() {
        let fired = e.update(&indicator_bar(b), bar_time(b.date)) == Some(true);
        if b.date < from {
            continue;
        }
        counted += 1;
        if fired {
            let ahead = |n: usize| bars.get(i + n).and_then(|later| pct(later.close, b.close));
            firings.push(BacktestFiring {
                date: b.date,
                close: b.close,
                value: e.primary().map(|(_, v)| v).filter(|v| v.is_finite()),
                values: e
                    .values()
                    .into_iter()
                    .filter(|(_, v)| v.is_finite())
                    .collect(),
                forward_returns: ForwardReturns {
                    b1: ahead(1),
                    b5: ahead(5),
                    b20: ahead(20),
                },
            });
        }
    }
    BacktestCode {
        code: code.to_owned(),
        bars: counted,
        firings,
    }
}

fn mean(xs: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = xs.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    (n > 0).then(|| (sum / n as f64 * 10_000.0).round() / 10_000.0)
}

/// Where the rule would have fired on stored history (at each bar's close), with the values
/// it saw and the returns that followed. Indicators run over all stored history, so warm-up
/// before `from` counts.
#[utoipa::path(
    post,
    path = "/v1/rules/{id}/backtest",
    tag = "rules",
    params(("id" = String, Path, description = "Rule id"), BacktestParams),
    responses((status = 200, description = "The firings", body = BacktestReport), Errors)
)]
pub(crate) async fn backtest(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(p): Query<BacktestParams>,
) -> Result<Json<BacktestReport>, ApiError> {
    let id = rule_id(&id)?;
    let stored = state
        .store()
        .rule(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no rule '{id}'")))?;
    let rule = Rule::parse(&stored.expression).map_err(|e| {
        ApiError::conflict(format!("the stored rule does not parse: {e}")).with_column(e.column)
    })?;
    let to = check_date("to", p.to.unwrap_or_else(today))?;
    let from = match p.from {
        Some(f) => check_date("from", f)?,
        None => NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(NaiveDate::MIN),
    };
    range(from, to)?;
    let mut codes: Vec<SecurityCode> = match p.codes.as_deref().filter(|c| !c.trim().is_empty()) {
        Some(list) => list
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(code)
            .collect::<Result<_, _>>()?,
        None if !stored.codes.is_empty() => stored.codes.clone(),
        None => super::settings::current_watchlist(&state)
            .await?
            .iter()
            .map(|c| code(c))
            .collect::<Result<_, _>>()?,
    };
    let mut seen = HashSet::new();
    codes.retain(|c| seen.insert(c.clone()));
    if codes.is_empty() {
        return Err(ApiError::bad_request(
            "codes: the rule watches every code and the watchlist is empty; say which codes, e.g. ?codes=2330,2317",
        ));
    }
    if codes.len() > 50 {
        return Err(ApiError::bad_request(format!(
            "codes: at most 50 per backtest, got {}",
            codes.len()
        )));
    }
    let start = NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(NaiveDate::MIN);
    let mut out = Vec::new();
    for c in &codes {
        let bars = state.store().daily_bars(c, start, to).await?;
        out.push(backtest_code(&rule, c.as_str(), &bars, from));
    }
    let all: Vec<&BacktestFiring> = out.iter().flat_map(|c| &c.firings).collect();
    let b5: Vec<f64> = all.iter().filter_map(|f| f.forward_returns.b5).collect();
    let summary = BacktestSummary {
        firings: all.len(),
        mean_forward_returns: ForwardReturns {
            b1: mean(all.iter().filter_map(|f| f.forward_returns.b1)),
            b5: mean(b5.iter().copied()),
            b20: mean(all.iter().filter_map(|f| f.forward_returns.b20)),
        },
        hit_rate_5: (!b5.is_empty())
            .then(|| b5.iter().filter(|r| **r > 0.0).count() as f64 / b5.len() as f64),
    };
    Ok(Json(BacktestReport {
        rule: stored.id.to_string(),
        expression: rule.to_string(),
        from,
        to,
        codes: out,
        summary,
    }))
}

#[cfg(test)]
mod tests {
    use super::merge_patch;
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc_7396() {
        let mut doc = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        merge_patch(&mut doc, &json!({"a": "z", "c": {"f": null}}));
        assert_eq!(doc, json!({"a": "z", "c": {"d": "e"}}));
        let mut doc = json!({"a": [1, 2]});
        merge_patch(&mut doc, &json!({"a": [3]}));
        assert_eq!(doc, json!({"a": [3]}), "arrays are replaced");
    }
}
