//! Telegram bots: `sendMessage` to a chat.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use experiment_core::model::Notification;
use experiment_core::{Error, Notifier, Receipt, Result};
use serde::Deserialize;
use serde_json::json;

use crate::http::{self, truncate, Endpoint};
use crate::message;
use crate::secret::Secret;

/// Telegram's Bot API base URL.
pub const TELEGRAM_API: &str = "https://api.telegram.org";

/// Sends plain text (no parse mode, so nothing in an alert needs escaping) to a chat.
pub struct Telegram {
    http: Endpoint,
    token: Secret,
    chat_id: String,
    api_url: String,
}

impl fmt::Debug for Telegram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Telegram")
            .field("name", &self.http.name)
            .field("chat_id", &self.chat_id)
            .field("api_url", &self.api_url)
            .field("token", &self.token)
            .finish()
    }
}

#[derive(Deserialize)]
struct ApiResponse {
    ok: bool,
    #[serde(default)]
    result: Option<serde_json::Value>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    parameters: Option<Parameters>,
}

#[derive(Deserialize)]
struct Parameters {
    #[serde(default)]
    retry_after: Option<u64>,
}

impl Telegram {
    /// A Telegram destination called `name` sending with bot `token` to `chat_id`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an empty chat id or a bad `api_url`.
    pub fn new(
        name: impl Into<String>,
        token: Secret,
        chat_id: impl Into<String>,
        api_url: Option<String>,
        timeout: Duration,
    ) -> Result<Self> {
        let chat_id = chat_id.into();
        if chat_id.trim().is_empty() {
            return Err(Error::invalid("chat_id", "must not be empty"));
        }
        let api_url = api_url.unwrap_or_else(|| TELEGRAM_API.to_owned());
        crate::config::check_url("api_url", &api_url)?;
        Ok(Telegram {
            http: Endpoint::new(name, timeout)?,
            token,
            chat_id,
            api_url: api_url.trim_end_matches('/').to_owned(),
        })
    }
}

#[async_trait]
impl Notifier for Telegram {
    fn destination(&self) -> &str {
        &self.http.name
    }

    async fn send(&self, n: &Notification) -> Result<Receipt> {
        let url = format!("{}/bot{}/sendMessage", self.api_url, self.token.expose());
        let request = self.http.client.post(url).json(&json!({
            "chat_id": self.chat_id,
            "text": truncate(&message::plain(&n.alert), 4096),
            "disable_web_page_preview": true,
        }));
        let resp = self.http.send(request).await?;
        let api = serde_json::from_str::<ApiResponse>(&resp.body).ok();
        if let Some(api) = &api {
            if api.ok {
                let id = api
                    .result
                    .as_ref()
                    .and_then(|r| r.get("message_id"))
                    .map(|v| v.to_string());
                return Ok(Receipt {
                    id,
                    duplicate: false,
                });
            }
            if resp.status.as_u16() == 429 {
                let wait = api
                    .parameters
                    .as_ref()
                    .and_then(|p| p.retry_after)
                    .and_then(|s| experiment_core::limit::server_delay(s as f64));
                return Err(Error::RateLimited {
                    retry_after: wait.or_else(|| http::retry_after(&resp.headers)),
                });
            }
        }
        // The description ("Bad Request: chat not found") says why; it never holds the token.
        let detail = api
            .and_then(|a| a.description)
            .unwrap_or_else(|| resp.body.clone());
        Err(http::status_error(
            &self.http.name,
            resp.status,
            &resp.headers,
            &detail,
        ))
    }
}
