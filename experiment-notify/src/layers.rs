//! Wrappers that add behaviour to any [`Notifier`]: throttling and in-call retries.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use experiment_core::model::Notification;
use experiment_core::{Notifier, Receipt, Result};

use experiment_core::limit::RateLimiter;

/// Waits for the destination's shared [`RateLimiter`] before every send.
#[derive(Debug)]
pub struct Throttled<N> {
    inner: N,
    limiter: Arc<RateLimiter>,
}

impl<N> Throttled<N> {
    /// Wraps `inner` behind `limiter`.
    pub fn new(inner: N, limiter: Arc<RateLimiter>) -> Self {
        Throttled { inner, limiter }
    }
}

#[async_trait]
impl<N: Notifier> Notifier for Throttled<N> {
    fn destination(&self) -> &str {
        self.inner.destination()
    }

    async fn send(&self, notification: &Notification) -> Result<Receipt> {
        self.limiter.acquire().await;
        self.inner.send(notification).await
    }
}

/// Exponential backoff with up to 25% jitter, never shorter than a server's `Retry-After`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    /// Wait after the first failure; doubled after each further one.
    pub base: Duration,
    /// Longest wait.
    pub max: Duration,
}

impl Backoff {
    /// The wait before attempt `attempt + 1` (`attempt` ≥ 1 failures so far); `seed` spreads
    /// the jitter so senders that failed together do not retry together.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>, seed: u128) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
            .min(self.max);
        let jitter = exp.mul_f64((seed % 1000) as f64 / 4000.0);
        (exp + jitter).max(retry_after.unwrap_or_default())
    }
}

/// Retries transient failures (5xx, timeouts, connection errors, 429) a few times inside one
/// send. A `Retry-After` longer than `backoff.max` is not waited out here: the error goes back
/// to the caller (the outbox reschedules the notification for then).
#[derive(Debug)]
pub struct Retrying<N> {
    inner: N,
    retries: u32,
    backoff: Backoff,
}

impl<N> Retrying<N> {
    /// Wraps `inner`, retrying up to `retries` times.
    pub fn new(inner: N, retries: u32, backoff: Backoff) -> Self {
        Retrying {
            inner,
            retries,
            backoff,
        }
    }
}

#[async_trait]
impl<N: Notifier> Notifier for Retrying<N> {
    fn destination(&self) -> &str {
        self.inner.destination()
    }

    async fn send(&self, notification: &Notification) -> Result<Receipt> {
        let mut attempt = 0;
        loop {
            match self.inner.send(notification).await {
                Ok(r) => return Ok(r),
                Err(e) if e.is_transient() && attempt < self.retries => {
                    attempt += 1;
                    if e.retry_after().is_some_and(|d| d > self.backoff.max) {
                        return Err(e);
                    }
                    let wait =
                        self.backoff
                            .delay(attempt, e.retry_after(), notification.key.0.as_u128());
                    tracing::debug!(destination = self.destination(), error = %e, ?wait, attempt, "retrying");
                    tokio::time::sleep(wait).await;
                }
                Err(e) => return Err(e),
            }
        }
    }
}
