//! Wrappers that add behaviour to any [`Notifier`]: throttling and in-call retries.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use experiment_core::model::Notification;
use experiment_core::{Cache, Notifier, Receipt, Result};

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

/// Spaces the sends to one destination across every process that shares `cache` (replicas
/// of the worker on one Redis): each send takes one time slot of `1 / rate` seconds, claimed
/// with [`Cache::set_if_absent`], so the destination sees at most `rate` messages per second
/// from all of them together. Sits behind the per-process limiter, which keeps the cache calls
/// to one per send.
///
/// When the cache cannot be reached, sends go on under the per-process limit alone (a
/// destination that then answers 429 is retried by the outbox): delivery never stops for the
/// cache.
#[derive(Debug)]
pub struct ClusterSpaced<N> {
    inner: N,
    cache: Arc<dyn Cache>,
    key: String,
    interval: Duration,
}

/// The fastest rate [`ClusterSpaced`] coordinates (a cache call per send is cheap enough below
/// it); faster destinations keep the per-process limit only.
pub const CLUSTER_SPACING_MAX_RATE: f64 = 100.0;

impl<N> ClusterSpaced<N> {
    /// Wraps `inner`: at most `per_second` sends per second under `key`, across processes.
    pub fn new(inner: N, cache: Arc<dyn Cache>, key: &str, per_second: f64) -> Self {
        let interval = Duration::from_secs_f64(1.0 / per_second.clamp(0.001, 1_000.0));
        ClusterSpaced {
            inner,
            cache,
            key: format!("rate:{key}"),
            interval,
        }
    }

    async fn acquire(&self) {
        // Rounded up: a shorter slot would let more than the rate through.
        let slot_ms = u128::max(self.interval.as_nanos().div_ceil(1_000_000), 1);
        // A slot's mark outlives its slot, so a late claimant cannot take it again.
        let ttl = self.interval * 2 + Duration::from_secs(1);
        for _ in 0..10_000 {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis();
            let slot = now / slot_ms;
            match self
                .cache
                .set_if_absent(&format!("{}:{slot}", self.key), b"1", Some(ttl))
                .await
            {
                Ok(true) => return,
                Ok(false) => {
                    let wait = (slot + 1) * slot_ms - now;
                    tokio::time::sleep(Duration::from_millis(
                        u64::try_from(wait).unwrap_or(1000).max(1),
                    ))
                    .await;
                }
                Err(e) => {
                    tracing::debug!(key = %self.key, error = %e, "rate slots unavailable; the per-process limit applies alone");
                    return;
                }
            }
        }
    }
}

#[async_trait]
impl<N: Notifier> Notifier for ClusterSpaced<N> {
    fn destination(&self) -> &str {
        self.inner.destination()
    }

    async fn send(&self, notification: &Notification) -> Result<Receipt> {
        self.acquire().await;
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
