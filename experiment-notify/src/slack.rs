//! Slack: incoming webhooks (Block Kit + text fallback) and `chat.postMessage` with a bot token.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use experiment_core::model::{Alert, Notification};
use experiment_core::{Error, Notifier, Receipt, Result};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::http::{self, truncate, Endpoint};
use crate::message;
use crate::secret::Secret;

/// Slack's layout limits (characters), from the Block Kit reference.
pub mod limits {
    /// Blocks per message.
    pub const BLOCKS: usize = 50;
    /// A header block's text.
    pub const HEADER: usize = 150;
    /// A section's text.
    pub const SECTION: usize = 3000;
    /// One section field.
    pub const FIELD: usize = 2000;
    /// Fields per section.
    pub const FIELDS: usize = 10;
    /// The top-level `text` (Slack truncates past 40,000; stay well below).
    pub const TEXT: usize = 4000;
}

/// Escapes the three characters Slack's mrkdwn treats as control characters.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The Block Kit message for an alert: header (code, name, rule), the rendered message,
/// fields (price, change, indicator values), context (Taipei time, rule id), and a plain
/// `text` fallback for notifications and old clients. Every piece is cut to Slack's limits, so
/// a message is never rejected for its size.
pub fn blocks_message(alert: &Alert) -> Value {
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": truncate(&message::title(alert), limits::HEADER), "emoji": true}}),
        json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate(&escape(&alert.message), limits::SECTION)}}),
    ];
    let fields: Vec<Value> = message::fields(alert)
        .into_iter()
        .map(|(k, v)| json!({"type": "mrkdwn", "text": truncate(&format!("*{}*\n{}", escape(&k), escape(&v)), limits::FIELD)}))
        .collect();
    for chunk in fields.chunks(limits::FIELDS) {
        blocks.push(json!({"type": "section", "fields": chunk}));
    }
    blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": escape(&format!("{} · rule {}", message::when(alert), alert.rule_id))}]}));
    if blocks.len() > limits::BLOCKS {
        // Keep the first blocks and the context block, which says which rule fired.
        let context = blocks.pop();
        blocks.truncate(limits::BLOCKS - 1);
        blocks.extend(context);
    }
    json!({
        "text": truncate(&format!("{}: {}", message::title(alert), alert.message), limits::TEXT),
        "blocks": blocks,
    })
}

/// Posts to a Slack incoming webhook.
pub struct SlackWebhook {
    http: Endpoint,
    url: Secret,
}

impl fmt::Debug for SlackWebhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlackWebhook")
            .field("name", &self.http.name)
            .field("url", &self.url)
            .finish()
    }
}

impl SlackWebhook {
    /// A webhook destination called `name` posting to `url` (the URL is the secret).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when `url` is not an http(s) URL.
    pub fn new(name: impl Into<String>, url: Secret, timeout: Duration) -> Result<Self> {
        crate::config::check_url("url", url.expose())?;
        Ok(SlackWebhook {
            http: Endpoint::new(name, timeout)?,
            url,
        })
    }
}

#[async_trait]
impl Notifier for SlackWebhook {
    fn destination(&self) -> &str {
        &self.http.name
    }

    async fn send(&self, n: &Notification) -> Result<Receipt> {
        let request = self
            .http
            .client
            .post(self.url.expose())
            .json(&blocks_message(&n.alert));
        let resp = self.http.send(request).await?;
        if resp.status.is_success() {
            return Ok(Receipt::default());
        }
        Err(resp.error(&self.http.name))
    }
}

/// Posts with `chat.postMessage` as a bot (token + channel id), as the original worker did.
/// Keeps the returned `ts` as the receipt, so a thread reply or an update is possible.
pub struct SlackBot {
    http: Endpoint,
    token: Secret,
    channel: String,
    api_url: String,
}

impl fmt::Debug for SlackBot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlackBot")
            .field("name", &self.http.name)
            .field("channel", &self.channel)
            .field("api_url", &self.api_url)
            .field("token", &self.token)
            .finish()
    }
}

/// Slack's Web API base URL.
pub const SLACK_API: &str = "https://slack.com/api";

/// `chat.postMessage` errors worth retrying; every other error code is permanent.
const TRANSIENT_ERRORS: &[&str] = &[
    "ratelimited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
];

#[derive(Deserialize)]
struct ApiResponse {
    ok: bool,
    #[serde(default)]
    ts: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

impl SlackBot {
    /// A bot destination called `name` posting to `channel` with `token`; `api_url` defaults
    /// to [`SLACK_API`].
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an empty channel or a bad `api_url`.
    pub fn new(
        name: impl Into<String>,
        token: Secret,
        channel: impl Into<String>,
        api_url: Option<String>,
        timeout: Duration,
    ) -> Result<Self> {
        let channel = channel.into();
        if channel.trim().is_empty() {
            return Err(Error::invalid(
                "channel",
                "must name a channel id such as C0123456789",
            ));
        }
        let api_url = api_url.unwrap_or_else(|| SLACK_API.to_owned());
        crate::config::check_url("api_url", &api_url)?;
        Ok(SlackBot {
            http: Endpoint::new(name, timeout)?,
            token,
            channel,
            api_url: api_url.trim_end_matches('/').to_owned(),
        })
    }

    /// The channel id.
    pub fn channel(&self) -> &str {
        &self.channel
    }
}

#[async_trait]
impl Notifier for SlackBot {
    fn destination(&self) -> &str {
        &self.http.name
    }

    async fn send(&self, n: &Notification) -> Result<Receipt> {
        let name = &self.http.name;
        let mut body = blocks_message(&n.alert);
        body["channel"] = Value::String(self.channel.clone());
        let request = self
            .http
            .client
            .post(format!("{}/chat.postMessage", self.api_url))
            .bearer_auth(self.token.expose())
            .json(&body);
        let resp = self.http.send(request).await?;
        if !resp.status.is_success() {
            return Err(resp.error(name));
        }
        let api: ApiResponse = serde_json::from_str(&resp.body).map_err(|e| {
            Error::unavailable(
                "slack",
                format!("{name}: unexpected answer from chat.postMessage: {e}"),
            )
        })?;
        if api.ok {
            return Ok(Receipt {
                id: api.ts,
                duplicate: false,
            });
        }
        let code = api.error.unwrap_or_else(|| "unknown_error".into());
        if code == "ratelimited" {
            return Err(Error::RateLimited {
                retry_after: http::retry_after(&resp.headers),
            });
        }
        if TRANSIENT_ERRORS.contains(&code.as_str()) {
            return Err(Error::unavailable("slack", format!("{name}: {code}")));
        }
        Err(Error::Rejected {
            destination: name.clone(),
            reason: code,
        })
    }
}
