//! Destinations (where alerts go) and the watchlist (what is polled in real time).
//!
//! Destinations come from the configuration file (read-only here) or from this API (kept in
//! the store). Their secrets — webhook URLs, tokens, signing keys — are write-only: answers
//! show them masked, and they are never logged.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use experiment_core::model::{Alert, AlertId, Notification, RuleId, SecurityCode};
use experiment_notify::DestinationConfig;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, Errors, Json, Path, Query};
use crate::{collections, page, AppState};

/// The kinds of destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum DestinationKind {
    /// Slack incoming webhook: needs `url`.
    #[serde(alias = "slack-webhook")]
    SlackWebhook,
    /// Slack `chat.postMessage`: needs `token` and `channel`.
    #[serde(alias = "slack-bot")]
    SlackBot,
    /// HMAC-signed generic webhook: needs `url` and `secret`.
    Webhook,
    /// Discord webhook: needs `url`.
    Discord,
    /// Telegram bot: needs `token` and `chat_id`.
    Telegram,
    /// Standard output of the worker.
    Console,
}

/// A destination as clients send it. Secret fields (`url`, `token`, `secret`) are never
/// shown back.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DestinationInput {
    /// The name rules use (1 to 64 of `A-Z a-z 0-9 _ . -`); on PUT, the path's.
    #[serde(default)]
    name: Option<String>,
    /// What it is.
    kind: DestinationKind,
    /// Webhook URL (secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    /// Bot token (secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    token: Option<String>,
    /// Slack channel id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    channel: Option<String>,
    /// Telegram chat id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    chat_id: Option<String>,
    /// Signing secret of a generic webhook (secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
    /// API base URL override (Slack bot, Telegram).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    api_url: Option<String>,
    /// Request timeout, seconds (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    timeout_secs: Option<f64>,
    /// Messages per second (default: the service's guidance, Slack 1/s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rate_per_second: Option<f64>,
    /// Retries of transient failures within one send (default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retries: Option<u32>,
}

/// A destination as shown: secrets masked.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct DestinationView {
    /// Its name.
    name: String,
    /// What it is.
    kind: DestinationKind,
    /// `config` (the configuration file; read-only here) or `api`.
    source: String,
    /// The URL's scheme and host only.
    url: Option<String>,
    /// Whether a token is set (its first characters only).
    token: Option<String>,
    /// Slack channel id.
    channel: Option<String>,
    /// Telegram chat id.
    chat_id: Option<String>,
    /// `***` when a signing secret is set.
    secret: Option<String>,
    /// API base URL override.
    api_url: Option<String>,
    /// Request timeout, seconds.
    timeout_secs: Option<f64>,
    /// Messages per second.
    rate_per_second: Option<f64>,
    /// Retries within one send.
    retries: Option<u32>,
}

fn mask_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => format!("{}://{}/***", u.scheme(), u.host_str().unwrap_or("?")),
        Err(_) => "***".into(),
    }
}

fn mask_token(token: &str) -> String {
    let head: String = token.chars().take(4).collect();
    format!("{head}***")
}

impl DestinationInput {
    fn view(&self, source: &str) -> DestinationView {
        DestinationView {
            name: self.name.clone().unwrap_or_default(),
            kind: self.kind,
            source: source.to_owned(),
            url: self.url.as_deref().map(mask_url),
            token: self.token.as_deref().map(mask_token),
            channel: self.channel.clone(),
            chat_id: self.chat_id.clone(),
            secret: self.secret.as_ref().map(|_| "***".to_owned()),
            api_url: self.api_url.clone(),
            timeout_secs: self.timeout_secs,
            rate_per_second: self.rate_per_second,
            retries: self.retries,
        }
    }

    /// The notifier configuration (validated by building it).
    fn config(&self) -> Result<DestinationConfig, ApiError> {
        let value = serde_json::to_value(self)
            .map_err(|e| ApiError::bad_request(format!("destination: {e}")))?;
        let config: DestinationConfig = serde_json::from_value(value)
            .map_err(|e| ApiError::bad_request(format!("destination: {e}")))?;
        config
            .build()
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        Ok(config)
    }

    fn from_config(d: &DestinationConfig) -> Self {
        let kind = serde_json::to_value(KindName(d))
            .ok()
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or(DestinationKind::Console);
        DestinationInput {
            name: Some(d.name.clone()),
            kind,
            url: d.url.as_ref().map(|s| s.expose().to_owned()),
            token: d.token.as_ref().map(|s| s.expose().to_owned()),
            channel: d.channel.clone(),
            chat_id: d.chat_id.clone(),
            secret: d.secret.as_ref().map(|s| s.expose().to_owned()),
            api_url: d.api_url.clone(),
            timeout_secs: d.timeout_secs,
            rate_per_second: d.rate_per_second,
            retries: d.retries,
        }
    }
}

/// A configured destination's kind as its TOML name.
struct KindName<'a>(&'a DestinationConfig);

impl Serialize for KindName<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use experiment_notify::Kind;
        s.serialize_str(match self.0.kind {
            Kind::SlackWebhook => "slack_webhook",
            Kind::SlackBot => "slack_bot",
            Kind::Webhook => "webhook",
            Kind::Discord => "discord",
            Kind::Telegram => "telegram",
            Kind::Console => "console",
        })
    }
}

fn check_name(name: &str) -> Result<String, ApiError> {
    // The same alphabet as rule ids: names end up in URLs and keys.
    RuleId::new(name.trim())
        .map(|id| id.as_str().to_owned())
        .map_err(|_| {
            ApiError::bad_request(format!(
                "name '{name}': expected 1 to 64 characters from A-Z a-z 0-9 _ . -"
            ))
        })
}

async fn stored(state: &AppState, name: &str) -> Result<Option<DestinationInput>, ApiError> {
    match state
        .store()
        .document(collections::DESTINATIONS, name)
        .await?
    {
        None => Ok(None),
        Some(v) => serde_json::from_value(v).map(Some).map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("stored destination '{name}' cannot be read: {e}"),
            )
        }),
    }
}

fn configured<'a>(state: &'a AppState, name: &str) -> Option<&'a DestinationConfig> {
    state
        .configured_destinations()
        .iter()
        .find(|d| d.name == name)
}

/// Every destination the API knows (configured and stored), by name.
async fn all_destinations(
    state: &AppState,
) -> Result<Vec<(DestinationInput, &'static str)>, ApiError> {
    let mut out: Vec<(DestinationInput, &'static str)> = state
        .configured_destinations()
        .iter()
        .map(|d| (DestinationInput::from_config(d), "config"))
        .collect();
    for name in super::rules::destination_names(state).await? {
        if configured(state, &name).is_none() {
            if let Some(d) = stored(state, &name).await? {
                out.push((d, "api"));
            }
        }
    }
    out.sort_by(|a, b| a.0.name.cmp(&b.0.name));
    Ok(out)
}

/// A page of destinations.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DestinationPage {
    /// Destinations by name.
    items: Vec<DestinationView>,
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

/// Every destination, secrets masked. Needs a key even when reads are open: webhook hosts
/// and channel ids are nobody else's business.
#[utoipa::path(
    get,
    path = "/v1/destinations",
    tag = "destinations",
    params(ListParams),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "Destinations by name", body = DestinationPage), Errors)
)]
pub(crate) async fn destinations(
    State(state): State<AppState>,
    Query(p): Query<ListParams>,
) -> Result<Json<DestinationPage>, ApiError> {
    let limit = page::limit(p.limit, 100, page::MAX_LIMIT)?;
    let after: Option<String> = p.cursor.as_deref().map(page::decode).transpose()?;
    let rest: Vec<DestinationView> = all_destinations(&state)
        .await?
        .into_iter()
        .filter(|(d, _)| {
            after
                .as_deref()
                .is_none_or(|a| d.name.as_deref().unwrap_or("") > a)
        })
        .map(|(d, source)| d.view(source))
        .take(limit + 1)
        .collect();
    let (items, more) = page::split(rest, limit);
    let next_cursor = more
        .then(|| items.last().map(|d| page::encode(&d.name)))
        .flatten();
    Ok(Json(DestinationPage { items, next_cursor }))
}

/// Adds a destination; it is checked (required fields of its kind, URLs) before it is saved.
#[utoipa::path(
    post,
    path = "/v1/destinations",
    tag = "destinations",
    request_body = DestinationInput,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 201, description = "Created", body = DestinationView), Errors)
)]
pub(crate) async fn create_destination(
    State(state): State<AppState>,
    Json(mut input): Json<DestinationInput>,
) -> Result<Response, ApiError> {
    let name = check_name(
        input
            .name
            .as_deref()
            .ok_or_else(|| ApiError::bad_request("name: a destination needs a name"))?,
    )?;
    input.name = Some(name.clone());
    input.config()?;
    if configured(&state, &name).is_some() || stored(&state, &name).await?.is_some() {
        return Err(ApiError::conflict(format!(
            "a destination '{name}' exists; replace it with PUT /v1/destinations/{name}"
        )));
    }
    save(&state, &name, &input).await?;
    Ok((StatusCode::CREATED, Json(input.view("api"))).into_response())
}

async fn save(state: &AppState, name: &str, input: &DestinationInput) -> Result<(), ApiError> {
    let value = serde_json::to_value(input)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    state
        .store()
        .put_document(collections::DESTINATIONS, name, &value)
        .await?;
    tracing::info!(destination = %name, kind = ?input.kind, "destination saved");
    Ok(())
}

/// One destination, secrets masked.
#[utoipa::path(
    get,
    path = "/v1/destinations/{id}",
    tag = "destinations",
    params(("id" = String, Path, description = "Destination name")),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "The destination", body = DestinationView), Errors)
)]
pub(crate) async fn destination(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<DestinationView>, ApiError> {
    let name = check_name(&id)?;
    if let Some(d) = configured(&state, &name) {
        return Ok(Json(DestinationInput::from_config(d).view("config")));
    }
    stored(&state, &name)
        .await?
        .map(|d| Json(d.view("api")))
        .ok_or_else(|| ApiError::not_found(format!("no destination '{name}'")))
}

/// Creates or replaces a destination. Secret fields left out keep their stored values.
#[utoipa::path(
    put,
    path = "/v1/destinations/{id}",
    tag = "destinations",
    params(("id" = String, Path, description = "Destination name")),
    request_body = DestinationInput,
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "Replaced", body = DestinationView),
        (status = 201, description = "Created", body = DestinationView),
        Errors
    )
)]
pub(crate) async fn replace_destination(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(mut input): Json<DestinationInput>,
) -> Result<Response, ApiError> {
    let name = check_name(&id)?;
    if input.name.as_deref().is_some_and(|n| n.trim() != name) {
        return Err(ApiError::bad_request(format!(
            "name: the body says '{}' but the path says '{name}'",
            input.name.unwrap_or_default()
        )));
    }
    if configured(&state, &name).is_some() {
        return Err(ApiError::conflict(format!(
            "'{name}' is defined in the configuration file; change it there"
        )));
    }
    input.name = Some(name.clone());
    let old = stored(&state, &name).await?;
    if let Some(old) = &old {
        if old.kind == input.kind {
            input.url = input.url.or_else(|| old.url.clone());
            input.token = input.token.or_else(|| old.token.clone());
            input.secret = input.secret.or_else(|| old.secret.clone());
        }
    }
    input.config()?;
    save(&state, &name, &input).await?;
    let status = if old.is_some() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(input.view("api"))).into_response())
}

/// Deletes a destination no rule uses.
#[utoipa::path(
    delete,
    path = "/v1/destinations/{id}",
    tag = "destinations",
    params(("id" = String, Path, description = "Destination name")),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 204, description = "Deleted"), Errors)
)]
pub(crate) async fn delete_destination(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let name = check_name(&id)?;
    if configured(&state, &name).is_some() {
        return Err(ApiError::conflict(format!(
            "'{name}' is defined in the configuration file; remove it there"
        )));
    }
    if stored(&state, &name).await?.is_none() {
        return Err(ApiError::not_found(format!("no destination '{name}'")));
    }
    let users: Vec<String> = state
        .store()
        .rules()
        .await?
        .into_iter()
        .filter(|r| r.destinations.contains(&name))
        .map(|r| r.id.to_string())
        .collect();
    if !users.is_empty() {
        return Err(ApiError::conflict(format!(
            "'{name}' is used by rules {}; take it out of them first",
            users.join(", ")
        )));
    }
    state
        .store()
        .delete_document(collections::DESTINATIONS, &name)
        .await?;
    tracing::info!(destination = %name, "destination deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// What a test delivery did.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TestResult {
    /// Whether the destination accepted the message.
    delivered: bool,
    /// The destination's id for the message (Slack's `ts`), when it gives one.
    receipt: Option<String>,
    /// Why it was not delivered.
    error: Option<String>,
}

/// Sends a test message to a destination now (outside the outbox).
#[utoipa::path(
    post,
    path = "/v1/destinations/{id}/test",
    tag = "destinations",
    params(("id" = String, Path, description = "Destination name")),
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "What the destination answered", body = TestResult), Errors)
)]
pub(crate) async fn test_destination(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<TestResult>, ApiError> {
    let name = check_name(&id)?;
    let config = match configured(&state, &name) {
        Some(d) => d.clone(),
        None => stored(&state, &name)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("no destination '{name}'")))?
            .config()?,
    };
    let notifier = config
        .build()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let now = Utc::now();
    let rule = RuleId::new("api-test").map_err(ApiError::from)?;
    let code = SecurityCode::new("2330").map_err(ApiError::from)?;
    let alert = Alert {
        id: AlertId::derive(&rule, &code, now),
        rule_id: rule,
        rule_name: "test message".into(),
        code,
        name: Some("台積電".into()),
        bar_time: now,
        triggered_at: now,
        price: None,
        change_pct: None,
        message: format!("Test message from Experiment to '{name}': delivery works."),
        value: None,
        values: BTreeMap::new(),
        suppressed: false,
    };
    let n = Notification::pending(alert, name.clone());
    let sent = tokio::time::timeout(Duration::from_secs(20), notifier.send(&n)).await;
    let result = match sent {
        Ok(Ok(receipt)) => TestResult {
            delivered: true,
            receipt: receipt.id,
            error: None,
        },
        Ok(Err(e)) => TestResult {
            delivered: false,
            receipt: None,
            error: Some(e.to_string()),
        },
        Err(_) => TestResult {
            delivered: false,
            receipt: None,
            error: Some("no answer within 20 s".into()),
        },
    };
    tracing::info!(destination = %name, delivered = result.delivered, "test message");
    Ok(Json(result))
}

/// The watchlist.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct Watchlist {
    /// Codes polled in real time during the session.
    codes: Vec<String>,
}

/// The watchlist saved through the API, else the configured one.
pub(crate) async fn current_watchlist(state: &AppState) -> Result<Vec<String>, ApiError> {
    match state
        .store()
        .document(collections::SETTINGS, collections::WATCHLIST)
        .await?
    {
        Some(v) => Ok(serde_json::from_value::<Watchlist>(v)
            .map(|w| w.codes)
            .unwrap_or_default()),
        None => Ok(state.configured_watchlist().to_vec()),
    }
}

/// The codes polled in real time.
#[utoipa::path(
    get,
    path = "/v1/watchlist",
    tag = "watchlist",
    responses((status = 200, description = "The watchlist", body = Watchlist), Errors)
)]
pub(crate) async fn watchlist(State(state): State<AppState>) -> Result<Json<Watchlist>, ApiError> {
    Ok(Json(Watchlist {
        codes: current_watchlist(&state).await?,
    }))
}

/// Replaces the watchlist (at most 2,000 codes; repeats are dropped).
#[utoipa::path(
    put,
    path = "/v1/watchlist",
    tag = "watchlist",
    request_body = Watchlist,
    security(("bearer" = []), ("api_key" = [])),
    responses((status = 200, description = "The saved watchlist", body = Watchlist), Errors)
)]
pub(crate) async fn replace_watchlist(
    State(state): State<AppState>,
    Json(input): Json<Watchlist>,
) -> Result<Json<Watchlist>, ApiError> {
    let mut codes: Vec<String> = Vec::new();
    for (i, c) in input.codes.iter().enumerate() {
        let c = SecurityCode::new(c.trim())
            .map_err(|e| ApiError::bad_request(format!("codes[{i}]: {e}")))?
            .to_string();
        if !codes.contains(&c) {
            codes.push(c);
        }
    }
    if codes.len() > 2000 {
        return Err(ApiError::bad_request(format!(
            "codes: at most 2000, got {}",
            codes.len()
        )));
    }
    let w = Watchlist { codes };
    let value = serde_json::to_value(&w)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    state
        .store()
        .put_document(collections::SETTINGS, collections::WATCHLIST, &value)
        .await?;
    // The feeders share the cache, not the store: they follow the watchlist from there.
    let bytes = serde_json::to_vec(&w)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    state
        .cache()
        .set(
            experiment_wiring::settings::WATCHLIST_CACHE_KEY,
            &bytes,
            None,
        )
        .await?;
    tracing::info!(codes = w.codes.len(), "watchlist saved");
    Ok(Json(w))
}
