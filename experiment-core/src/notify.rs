//! The `Notifier` port: delivering one notification to one destination.

use std::fmt;

use async_trait::async_trait;

use crate::model::Notification;
use crate::Result;

/// What a destination said about a delivered message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Receipt {
    /// The destination's id for the message (Slack's `ts`), when it returns one.
    pub id: Option<String>,
    /// The destination recognised the idempotency key and did not deliver it again.
    pub duplicate: bool,
}

/// Sends notifications to one destination (a Slack channel, a webhook, a log).
///
/// # Contract
/// - `send` delivers the notification's alert once per call, or fails with an error that says
///   whether trying again can help ([`Error::is_transient`](crate::Error::is_transient)):
///   `RateLimited { retry_after }` when the destination asked to slow down, `Unavailable` or
///   `Timeout` for outages, `Rejected` for permanent refusals (bad token, unknown channel,
///   oversized payload after truncation, HTTP 400/403/404/410).
/// - Implementations pass the notification's idempotency key to destinations that support one.
/// - Errors and `Debug` output never contain secrets (tokens, webhook URLs, signing keys).
#[async_trait]
pub trait Notifier: Send + Sync + fmt::Debug + 'static {
    /// The destination's configured name (what rules refer to), never a secret.
    fn destination(&self) -> &str;

    /// Delivers one notification.
    async fn send(&self, notification: &Notification) -> Result<Receipt>;
}

#[async_trait]
impl<T: Notifier + ?Sized> Notifier for std::sync::Arc<T> {
    fn destination(&self) -> &str {
        (**self).destination()
    }

    async fn send(&self, notification: &Notification) -> Result<Receipt> {
        (**self).send(notification).await
    }
}
