//! The outbox sender: takes due notifications from the [`Store`], sends them through the
//! destination's [`Notifier`], and records the outcome.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use experiment_core::model::{DeliveryOutcome, Notification};
use experiment_core::{Notifier, Result, Store};

/// When to try again after a transient failure, and when to give up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts before a notification is marked failed. Default 8.
    pub max_attempts: u32,
    /// Wait after the first failure; doubled after each further one. Default 2 s.
    pub base_delay: Duration,
    /// Longest wait between attempts. Default 5 min.
    pub max_delay: Duration,
    /// How long a claimed notification stays hidden from other senders. Default 60 s.
    pub lease: Duration,
    /// Notifications claimed per round. Default 50.
    pub batch: usize,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            base_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(300),
            lease: Duration::from_secs(60),
            batch: 50,
        }
    }
}

impl RetryPolicy {
    /// Delay before attempt `attempts + 1`, honouring a destination's `Retry-After`, with up to
    /// 25% jitter derived from `seed` (so senders that failed together do not retry together).
    pub fn delay(&self, attempts: u32, retry_after: Option<Duration>, seed: u128) -> Duration {
        crate::Backoff {
            base: self.base_delay,
            max: self.max_delay,
        }
        .delay(attempts, retry_after, seed)
    }
}

/// What one round did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SendReport {
    /// Delivered.
    pub sent: usize,
    /// Failed transiently; scheduled again.
    pub retried: usize,
    /// Failed permanently or ran out of attempts.
    pub failed: usize,
    /// Not tried: this round's lease was running out (they come due again when it ends).
    pub deferred: usize,
    /// Tried, but another sender had claimed them since (this sender's lease ran out): the
    /// outcome was not recorded, the other sender's stands.
    pub superseded: usize,
}

type Notifiers = HashMap<String, Arc<dyn Notifier>>;

/// Delivers the outbox.
#[derive(Debug, Clone)]
pub struct OutboxSender {
    store: Arc<dyn Store>,
    // Replaced whole when destinations change (through the API); each send takes a clone of
    // one notifier, so no lock is held while sending.
    notifiers: Arc<RwLock<Arc<Notifiers>>>,
    policy: RetryPolicy,
}

fn by_name(notifiers: impl IntoIterator<Item = Arc<dyn Notifier>>) -> Notifiers {
    notifiers
        .into_iter()
        .map(|n| (n.destination().to_owned(), n))
        .collect()
}

impl OutboxSender {
    /// A sender over `store` delivering through `notifiers` (by their destination names).
    pub fn new(
        store: Arc<dyn Store>,
        notifiers: impl IntoIterator<Item = Arc<dyn Notifier>>,
        policy: RetryPolicy,
    ) -> Self {
        OutboxSender {
            store,
            notifiers: Arc::new(RwLock::new(Arc::new(by_name(notifiers)))),
            policy,
        }
    }

    /// Replaces the destinations (every clone of this sender sees the new ones). Notifications
    /// of a destination that no longer exists fail with a reason when they come due.
    pub fn set_notifiers(&self, notifiers: impl IntoIterator<Item = Arc<dyn Notifier>>) {
        let new = Arc::new(by_name(notifiers));
        *self.notifiers.write().unwrap_or_else(|p| p.into_inner()) = new;
    }

    /// The destinations' names, sorted.
    pub fn destinations(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .notifiers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect();
        names.sort();
        names
    }

    /// Claims the notifications due at `now` and tries each once.
    ///
    /// # Errors
    /// Only store errors; delivery errors are recorded on the notification.
    pub async fn run_once(&self, now: DateTime<Utc>) -> Result<SendReport> {
        let mut report = SendReport::default();
        let claimed_at = std::time::Instant::now();
        let due = self
            .store
            .claim_notifications(now, self.policy.lease, self.policy.batch)
            .await?;
        // Stop sending while the claim still holds with room to spare: a send after the lease
        // ended could race another sender's (rate limits and retries make sends slow).
        let margin = (self.policy.lease / 4).min(Duration::from_secs(10));
        for n in due {
            if claimed_at.elapsed() + margin >= self.policy.lease {
                report.deferred += 1;
                continue;
            }
            let outcome = self.attempt(&n, now).await;
            match self.store.complete_notification(&n, &outcome).await {
                Ok(_) => match &outcome {
                    DeliveryOutcome::Sent { .. } => report.sent += 1,
                    DeliveryOutcome::Retry { .. } => report.retried += 1,
                    DeliveryOutcome::Failed { .. } => report.failed += 1,
                },
                Err(experiment_core::Error::Conflict { what }) => {
                    tracing::warn!(key = %n.key, %what, "outcome not recorded: another sender has it");
                    report.superseded += 1;
                }
                Err(e) => return Err(e),
            }
        }
        if report.deferred > 0 {
            tracing::info!(
                deferred = report.deferred,
                "lease running out; the rest comes due again"
            );
        }
        Ok(report)
    }

    async fn attempt(&self, n: &Notification, now: DateTime<Utc>) -> DeliveryOutcome {
        let notifier = self
            .notifiers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&n.destination)
            .cloned();
        let Some(notifier) = notifier else {
            return DeliveryOutcome::Failed {
                error: format!("no destination named '{}' is configured", n.destination),
            };
        };
        match notifier.send(n).await {
            Ok(receipt) => DeliveryOutcome::Sent {
                at: now,
                receipt: receipt.id,
            },
            Err(e) if e.is_transient() && n.attempts + 1 < self.policy.max_attempts => {
                let delay = self
                    .policy
                    .delay(n.attempts + 1, e.retry_after(), n.key.0.as_u128());
                tracing::warn!(key = %n.key, destination = %n.destination, error = %e, ?delay, "delivery failed; will retry");
                DeliveryOutcome::Retry {
                    // Delays are capped (experiment_core::limit::MAX_SERVER_DELAY), but the
                    // arithmetic never trusts that.
                    retry_at: chrono::Duration::from_std(delay)
                        .ok()
                        .and_then(|d| now.checked_add_signed(d))
                        .unwrap_or(now),
                    error: e.to_string(),
                }
            }
            Err(e) => {
                tracing::error!(key = %n.key, destination = %n.destination, error = %e, "delivery failed permanently");
                DeliveryOutcome::Failed {
                    error: e.to_string(),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use experiment_core::memory::{EmbeddedStore, MemoryStore, RecordingNotifier};
    use experiment_core::model::{Alert, AlertId, NotificationStatus, RuleId, SecurityCode};
    use experiment_core::Error;

    fn alert(at: DateTime<Utc>) -> Alert {
        let rule = RuleId::new("r1").unwrap();
        let code = SecurityCode::new("2330").unwrap();
        Alert {
            id: AlertId::derive(&rule, &code, at),
            rule_id: rule,
            rule_name: "test".into(),
            code,
            name: None,
            bar_time: at,
            triggered_at: at,
            price: Some(rust_decimal_macros::dec!(1530.0)),
            change_pct: None,
            message: "hello".into(),
            values: Default::default(),
            value: None,
            suppressed: false,
        }
    }

    #[test]
    fn backoff_grows_caps_and_honours_retry_after() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(1, None, 0), Duration::from_secs(2));
        assert_eq!(p.delay(3, None, 0), Duration::from_secs(8));
        assert_eq!(p.delay(30, None, 0), Duration::from_secs(300));
        assert!(p.delay(1, None, 999) > Duration::from_secs(2));
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(30)), 0),
            Duration::from_secs(30)
        );
    }

    #[tokio::test]
    async fn transient_then_success_permanent_and_unknown_destination() {
        let t0 = Utc.with_ymd_and_hms(2025, 5, 2, 6, 0, 0).unwrap();
        let store = Arc::new(MemoryStore::new());
        let slack = RecordingNotifier::new("slack");
        slack.fail_next(Error::RateLimited {
            retry_after: Some(Duration::from_secs(30)),
        });
        let a = alert(t0);
        let ns = vec![
            Notification::pending(a.clone(), "slack"),
            Notification::pending(a.clone(), "nowhere"),
        ];
        assert!(store.record_alert(&a, &ns).await.unwrap());
        let sender = OutboxSender::new(
            store.clone(),
            [Arc::new(slack.clone()) as Arc<dyn Notifier>],
            RetryPolicy::default(),
        );

        let r = sender.run_once(t0).await.unwrap();
        assert_eq!(
            r,
            SendReport {
                sent: 0,
                retried: 1,
                failed: 1,
                ..SendReport::default()
            }
        );
        let n = store.notification(&ns[0].key).await.unwrap().unwrap();
        assert_eq!(n.status, NotificationStatus::Pending);
        assert_eq!(n.next_attempt_at, t0 + chrono::Duration::seconds(30));
        let gone = store.notification(&ns[1].key).await.unwrap().unwrap();
        assert_eq!(gone.status, NotificationStatus::Failed);
        assert!(gone.last_error.unwrap().contains("'nowhere'"));

        // not due yet
        assert_eq!(
            sender
                .run_once(t0 + chrono::Duration::seconds(29))
                .await
                .unwrap(),
            SendReport::default()
        );
        let r = sender
            .run_once(t0 + chrono::Duration::seconds(30))
            .await
            .unwrap();
        assert_eq!(r.sent, 1);
        assert_eq!(slack.sent().len(), 1);
        let n = store.notification(&ns[0].key).await.unwrap().unwrap();
        assert_eq!((n.status, n.attempts), (NotificationStatus::Sent, 2));
        // nothing left to do, nothing sent twice
        assert_eq!(
            sender
                .run_once(t0 + chrono::Duration::hours(1))
                .await
                .unwrap(),
            SendReport::default()
        );
        assert_eq!(slack.sent().len(), 1);
    }

    #[tokio::test]
    async fn pending_notifications_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let t0 = Utc.with_ymd_and_hms(2025, 5, 2, 6, 0, 0).unwrap();
        let a = alert(t0);
        let n = Notification::pending(a.clone(), "slack");
        {
            let store = EmbeddedStore::open(dir.path()).unwrap();
            store
                .record_alert(&a, std::slice::from_ref(&n))
                .await
                .unwrap();
        }
        let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
        let slack = RecordingNotifier::new("slack");
        let sender = OutboxSender::new(
            store,
            [Arc::new(slack.clone()) as Arc<dyn Notifier>],
            RetryPolicy::default(),
        );
        assert_eq!(sender.run_once(t0).await.unwrap().sent, 1);
        assert_eq!(slack.sent()[0].key, n.key);
    }
}
