//! A generic JSON webhook, signed with HMAC-SHA256 so the receiver can verify the sender and
//! reject replays.
//!
//! Request: `POST` with `Content-Type: application/json` and
//! - `X-Experiment-Timestamp`: Unix seconds when the request was signed;
//! - `X-Experiment-Signature`: `sha256=` + hex HMAC-SHA256 over `"{timestamp}.{body}"` with the
//!   shared secret;
//! - `Idempotency-Key`: the notification's key, the same on every retry.
//!
//! Body: `{"id": key, "destination": name, "alert": {...}}` (the alert as in the event log).
//! Answer 2xx when accepted; `409 Conflict` means "already have this key" and counts as
//! delivered.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use experiment_core::model::Notification;
use experiment_core::{Notifier, Receipt, Result};
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use sha2::Sha256;

use crate::http::Endpoint;
use crate::secret::Secret;

/// Header with the signing time (Unix seconds).
pub const TIMESTAMP_HEADER: &str = "X-Experiment-Timestamp";
/// Header with `sha256=<hex>`.
pub const SIGNATURE_HEADER: &str = "X-Experiment-Signature";
/// Header with the notification's idempotency key.
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";

/// The signature header's value for `body` signed at `timestamp`.
pub fn sign(secret: &Secret, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// What a receiver runs: checks the signature in constant time and that `timestamp` is within
/// `tolerance` of `now` (replay protection).
pub fn verify(
    secret: &Secret,
    timestamp: i64,
    body: &[u8],
    signature: &str,
    now: i64,
    tolerance: Duration,
) -> bool {
    if now.abs_diff(timestamp) > tolerance.as_secs() {
        return false;
    }
    let Some(hex_sig) = signature.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(given) = hex::decode(hex_sig) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

/// Posts signed JSON to a URL.
pub struct Webhook {
    http: Endpoint,
    url: Secret,
    secret: Secret,
}

impl fmt::Debug for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Webhook")
            .field("name", &self.http.name)
            .field("url", &self.url)
            .field("secret", &self.secret)
            .finish()
    }
}

impl Webhook {
    /// A webhook called `name` posting to `url`, signing with `secret`.
    ///
    /// # Errors
    /// [`experiment_core::Error::InvalidInput`] for a bad URL or an empty secret.
    pub fn new(
        name: impl Into<String>,
        url: Secret,
        secret: Secret,
        timeout: Duration,
    ) -> Result<Self> {
        crate::config::check_url("url", url.expose())?;
        if secret.expose().is_empty() {
            return Err(experiment_core::Error::invalid(
                "secret",
                "must not be empty",
            ));
        }
        Ok(Webhook {
            http: Endpoint::new(name, timeout)?,
            url,
            secret,
        })
    }
}

#[async_trait]
impl Notifier for Webhook {
    fn destination(&self) -> &str {
        &self.http.name
    }

    async fn send(&self, n: &Notification) -> Result<Receipt> {
        let body = serde_json::to_vec(&serde_json::json!({
            "id": n.key,
            "destination": self.http.name,
            "alert": n.alert,
        }))
        .map_err(|e| experiment_core::Error::invalid("alert", e.to_string()))?;
        let timestamp = chrono::Utc::now().timestamp();
        let request = self
            .http
            .client
            .post(self.url.expose())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(SIGNATURE_HEADER, sign(&self.secret, timestamp, &body))
            .header(IDEMPOTENCY_HEADER, n.key.to_string())
            .body(body);
        let resp = self.http.send(request).await?;
        if resp.status == StatusCode::CONFLICT {
            return Ok(Receipt {
                id: None,
                duplicate: true,
            });
        }
        if resp.status.is_success() {
            return Ok(Receipt::default());
        }
        Err(resp.error(&self.http.name))
    }
}
