//! Discord webhooks: an embed with the alert, mentions disabled.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use experiment_core::model::{Alert, Notification};
use experiment_core::{Error, Notifier, Receipt, Result};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::http::{self, truncate, Endpoint};
use crate::message;
use crate::secret::Secret;

/// The message body for an alert: content (≤ 2,000 chars) and one embed (title ≤ 256,
/// description ≤ 4,096, ≤ 25 fields of ≤ 1,024). `allowed_mentions` is empty so an alert can
/// never ping `@everyone`.
pub fn discord_message(alert: &Alert) -> Value {
    let fields: Vec<Value> = message::fields(alert)
        .into_iter()
        .take(25)
        .map(|(k, v)| json!({"name": truncate(&k, 256), "value": truncate(&v, 1024), "inline": true}))
        .collect();
    json!({
        "content": truncate(&message::title(alert), 2000),
        "embeds": [{
            "title": truncate(&message::title(alert), 256),
            "description": truncate(&alert.message, 4096),
            "fields": fields,
            "footer": {"text": truncate(&format!("rule {}", alert.rule_id), 2048)},
            "timestamp": alert.triggered_at.to_rfc3339(),
        }],
        "allowed_mentions": {"parse": []},
    })
}

/// Posts to a Discord webhook URL (the URL is the secret).
pub struct Discord {
    http: Endpoint,
    url: Secret,
}

impl fmt::Debug for Discord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Discord")
            .field("name", &self.http.name)
            .field("url", &self.url)
            .finish()
    }
}

impl Discord {
    /// A Discord destination called `name`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a bad URL.
    pub fn new(name: impl Into<String>, url: Secret, timeout: Duration) -> Result<Self> {
        crate::config::check_url("url", url.expose())?;
        Ok(Discord {
            http: Endpoint::new(name, timeout)?,
            url,
        })
    }
}

#[async_trait]
impl Notifier for Discord {
    fn destination(&self) -> &str {
        &self.http.name
    }

    async fn send(&self, n: &Notification) -> Result<Receipt> {
        let request = self
            .http
            .client
            .post(self.url.expose())
            .query(&[("wait", "true")])
            .json(&discord_message(&n.alert));
        let resp = self.http.send(request).await?;
        if resp.status.is_success() {
            let id = serde_json::from_str::<Value>(&resp.body)
                .ok()
                .and_then(|v| v.get("id").and_then(Value::as_str).map(str::to_owned));
            return Ok(Receipt {
                id,
                duplicate: false,
            });
        }
        if resp.status == StatusCode::TOO_MANY_REQUESTS {
            // Discord puts the wait in the body (seconds, fractional) as well as the header.
            let body_wait = serde_json::from_str::<Value>(&resp.body)
                .ok()
                .and_then(|v| v.get("retry_after").and_then(Value::as_f64))
                .and_then(experiment_core::limit::server_delay);
            return Err(Error::RateLimited {
                retry_after: body_wait.or_else(|| http::retry_after(&resp.headers)),
            });
        }
        Err(resp.error(&self.http.name))
    }
}
