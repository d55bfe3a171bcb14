//! The outbox sender's loop, as every binary that delivers alerts runs it: follow the
//! destinations (configured and stored through the API), deliver what is due, and sleep until
//! a new alert is recorded (a signal, not a poll) or a second passes (retries, other
//! processes' alerts).

use std::sync::Arc;
use std::time::Duration;

use experiment_core::{Cache, Store};
use experiment_notify::{DestinationConfig, OutboxSender, RetryPolicy};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::settings::DestinationWatch;

/// How long the loop sleeps when nothing wakes it: retries come due, and alerts recorded by
/// other processes (which cannot signal this one) are picked up within this.
pub const IDLE_POLL: Duration = Duration::from_secs(1);

/// One process's outbox delivery. Cheap to clone (for [`crate::supervise`]'s restarts).
#[derive(Debug, Clone)]
pub struct OutboxLoop {
    sender: OutboxSender,
    store: Arc<dyn Store>,
    cache: Arc<dyn Cache>,
    configured: Vec<DestinationConfig>,
    refresh: Duration,
    batch: usize,
    wake: Arc<Notify>,
}

impl OutboxLoop {
    /// Delivers the outbox of `store` to `configured` destinations and those stored through
    /// the API (checked every `refresh`), holding rates across the processes that share
    /// `cache`. `wake` is the signal the worker gives when it records an alert
    /// (`Worker::with_alert_signal`). Without configured destinations, alerts go to standard
    /// output.
    pub fn new(
        store: Arc<dyn Store>,
        cache: Arc<dyn Cache>,
        configured: Vec<DestinationConfig>,
        policy: RetryPolicy,
        refresh: Duration,
        wake: Arc<Notify>,
    ) -> Self {
        let configured = if configured.is_empty() {
            vec![DestinationConfig::console("console")]
        } else {
            configured
        };
        OutboxLoop {
            batch: policy.batch,
            sender: OutboxSender::new(store.clone(), Vec::new(), policy),
            store,
            cache,
            configured,
            refresh,
            wake,
        }
    }

    /// Delivers until `token` is cancelled.
    pub async fn run(&self, token: CancellationToken) {
        // Rates held across the workers that share the cache (one Redis), not per process.
        let mut watch = DestinationWatch::shared(self.cache.clone());
        let mut next_refresh = tokio::time::Instant::now();
        while !token.is_cancelled() {
            if tokio::time::Instant::now() >= next_refresh {
                match watch.changed(self.store.as_ref(), &self.configured).await {
                    Ok(Some(n)) => self.sender.set_notifiers(n),
                    Ok(None) => {}
                    Err(e) => tracing::warn!(error = %e, "could not read the destinations"),
                }
                next_refresh = tokio::time::Instant::now() + self.refresh;
            }
            let busy = match self.sender.run_once(chrono::Utc::now()).await {
                Ok(r) => r.sent + r.retried + r.failed + r.superseded + r.deferred >= self.batch,
                Err(e) => {
                    tracing::warn!(error = %e, "outbox round failed");
                    false
                }
            };
            if busy {
                continue; // a full batch: more is probably due
            }
            tokio::select! {
                _ = token.cancelled() => break,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(IDLE_POLL) => {}
            }
        }
    }
}
