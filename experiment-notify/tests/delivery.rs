//! Delivery policy: the shared rate limit under a burst (on a paused clock), and the outbox
//! with idempotency keys across a sender crash.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use experiment_core::memory::{EmbeddedStore, RecordingNotifier};
use experiment_core::model::{Notification, NotificationStatus};
use experiment_core::testing::store::alert;
use experiment_core::{Notifier, Receipt, Result, Store};
use experiment_notify::webhook::{Webhook, IDEMPOTENCY_HEADER};
use experiment_notify::{OutboxSender, RateLimiter, RetryPolicy, Secret, Throttled, SLACK_RATE};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Records the (virtual) time of every send.
#[derive(Debug, Clone, Default)]
struct Clocked(Arc<Mutex<Vec<tokio::time::Instant>>>);

#[async_trait]
impl Notifier for Clocked {
    fn destination(&self) -> &str {
        "slack"
    }
    async fn send(&self, _: &Notification) -> Result<Receipt> {
        self.0.lock().unwrap().push(tokio::time::Instant::now());
        Ok(Receipt::default())
    }
}

/// Sends `n` copies of `note` at once, alternately through `a` and `b`, and waits for all.
async fn send_alternately<N: Notifier + 'static>(
    a: &Arc<N>,
    b: &Arc<N>,
    note: &Notification,
    n: usize,
) {
    let mut tasks = Vec::new();
    for i in 0..n {
        let (sender, note) = (if i % 2 == 0 { a.clone() } else { b.clone() }, note.clone());
        tasks.push(tokio::spawn(
            async move { sender.send(&note).await.unwrap() },
        ));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

#[tokio::test(start_paused = true)]
async fn a_burst_of_20_alerts_to_one_slack_channel_respects_the_rate_limit() {
    let sent = Clocked::default();
    // two senders of the same channel share one limiter
    let limiter = RateLimiter::shared("slack:C-burst-test", SLACK_RATE);
    let a = Arc::new(Throttled::new(sent.clone(), limiter.clone()));
    let b = Arc::new(Throttled::new(sent.clone(), limiter));
    let start = tokio::time::Instant::now();
    let n = Notification::pending(alert("r", "2330", Utc::now()), "slack");
    send_alternately(&a, &b, &n, 20).await;
    let mut times: Vec<Duration> = sent.0.lock().unwrap().iter().map(|t| *t - start).collect();
    times.sort();
    assert_eq!(times.len(), 20);
    let burst = SLACK_RATE.burst as usize;
    assert!(
        times[..burst].iter().all(|t| *t < Duration::from_millis(1)),
        "burst: {times:?}"
    );
    for w in times[burst - 1..].windows(2) {
        assert!(
            w[1] - w[0] >= Duration::from_millis(999),
            "sends closer than 1 s: {times:?}"
        );
    }
    // 20 messages with a burst of 3 at 1/s take at least 17 s
    assert!(
        *times.last().unwrap() >= Duration::from_secs(17),
        "{times:?}"
    );
}

#[tokio::test]
async fn a_crash_between_send_and_mark_does_not_deliver_twice() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = Utc.with_ymd_and_hms(2025, 5, 2, 6, 0, 0).unwrap();
    let a = alert("r1", "2330", t0);
    let n = Notification::pending(a.clone(), "hook");

    // The receiver stores what it got by idempotency key and answers 409 to a repeat.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(409))
        .mount(&server)
        .await;
    let hook = Arc::new(
        Webhook::new(
            "hook",
            Secret::new(format!("{}/in", server.uri())),
            Secret::new("k"),
            Duration::from_secs(3),
        )
        .unwrap(),
    );
    let lease = RetryPolicy::default().lease;

    {
        let store = EmbeddedStore::open(dir.path()).unwrap();
        store
            .record_alert(&a, std::slice::from_ref(&n))
            .await
            .unwrap();
        // a sender claims and sends, then the process dies before it records the outcome
        let claimed = store.claim_notifications(t0, lease, 10).await.unwrap();
        assert_eq!(claimed.len(), 1);
        hook.send(&claimed[0]).await.unwrap();
    }

    // a new process: the notification is still pending and comes back when the lease ends
    let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
    assert_eq!(
        store.notification(&n.key).await.unwrap().unwrap().status,
        NotificationStatus::Pending
    );
    let sender = OutboxSender::new(
        store.clone(),
        [hook as Arc<dyn Notifier>],
        RetryPolicy::default(),
    );
    let later = t0 + chrono::Duration::from_std(lease).unwrap();
    assert_eq!(sender.run_once(later).await.unwrap().sent, 1);
    let done = store.notification(&n.key).await.unwrap().unwrap();
    assert_eq!(
        done.status,
        NotificationStatus::Sent,
        "the receiver's 'duplicate' counts as delivered"
    );
    assert_eq!(
        sender
            .run_once(later + chrono::Duration::hours(1))
            .await
            .unwrap()
            .sent,
        0
    );

    let reqs = server.received_requests().await.unwrap();
    assert_eq!(
        reqs.len(),
        2,
        "one send, one redelivery the receiver recognised"
    );
    let keys: Vec<_> = reqs
        .iter()
        .map(|r| {
            r.headers
                .get(IDEMPOTENCY_HEADER)
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        keys,
        vec![n.key.to_string(), n.key.to_string()],
        "the same key on both"
    );
}

#[tokio::test]
async fn permanent_failures_are_parked_with_the_reason() {
    let store = Arc::new(experiment_core::memory::MemoryStore::new());
    let t0 = Utc::now();
    let a = alert("r1", "2330", t0);
    let n = Notification::pending(a.clone(), "slack");
    store
        .record_alert(&a, std::slice::from_ref(&n))
        .await
        .unwrap();
    let slack = RecordingNotifier::new("slack");
    slack.fail_next(experiment_core::Error::Rejected {
        destination: "slack".into(),
        reason: "channel_is_archived".into(),
    });
    let sender = OutboxSender::new(
        store.clone(),
        [Arc::new(slack.clone()) as Arc<dyn Notifier>],
        RetryPolicy::default(),
    );
    let report = sender.run_once(t0).await.unwrap();
    assert_eq!(report.failed, 1);
    let parked = store.notification(&n.key).await.unwrap().unwrap();
    assert_eq!(parked.status, NotificationStatus::Failed);
    assert!(parked.last_error.unwrap().contains("channel_is_archived"));
    assert!(slack.sent().is_empty());
}

/// A slow destination that counts what it receives, by notification key.
#[derive(Debug, Default)]
struct Slow {
    got: Mutex<std::collections::HashMap<experiment_core::model::NotificationKey, usize>>,
    delay: Duration,
}

#[async_trait]
impl Notifier for Slow {
    fn destination(&self) -> &str {
        "slow"
    }
    async fn send(&self, n: &Notification) -> Result<Receipt> {
        tokio::time::sleep(self.delay).await;
        *self.got.lock().unwrap().entry(n.key).or_default() += 1;
        Ok(Receipt::default())
    }
}

#[tokio::test]
async fn two_senders_with_tiny_leases_and_a_slow_receiver_deliver_each_once() {
    let store: Arc<dyn Store> = Arc::new(experiment_core::memory::MemoryStore::new());
    let t0 = Utc::now();
    let mut keys = Vec::new();
    for i in 0..24 {
        let a = alert("r1", &format!("{}", 1100 + i), t0);
        let n = Notification::pending(a.clone(), "slow");
        keys.push(n.key);
        store.record_alert(&a, &[n]).await.unwrap();
    }
    let slow = Arc::new(Slow {
        delay: Duration::from_millis(40),
        ..Slow::default()
    });
    // A lease of 300 ms holds about 5 sends of 40 ms after the margin: each sender's batch of
    // 24 outlives its lease many times over, as a 60 s lease does behind a 1/s Slack limit.
    let policy = RetryPolicy {
        lease: Duration::from_millis(300),
        batch: 24,
        ..RetryPolicy::default()
    };
    let senders: Vec<OutboxSender> = (0..2)
        .map(|_| {
            OutboxSender::new(
                store.clone(),
                [slow.clone() as Arc<dyn Notifier>],
                policy.clone(),
            )
        })
        .collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut rounds = Vec::new();
    for s in senders {
        let store = store.clone();
        let keys = keys.clone();
        rounds.push(tokio::spawn(async move {
            let mut superseded = 0;
            loop {
                let r = s.run_once(Utc::now()).await.unwrap();
                superseded += r.superseded;
                let mut all_sent = true;
                for k in &keys {
                    let n = store.notification(k).await.unwrap().unwrap();
                    all_sent &= n.status == NotificationStatus::Sent;
                }
                if all_sent || tokio::time::Instant::now() > deadline {
                    return superseded;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }));
    }
    for r in rounds {
        r.await.unwrap();
    }
    let got = slow.got.lock().unwrap().clone();
    for k in &keys {
        let n = store.notification(k).await.unwrap().unwrap();
        assert_eq!(n.status, NotificationStatus::Sent, "none lost: {k}");
        assert_eq!(n.attempts, 1, "completed once: {k}");
        assert_eq!(got.get(k), Some(&1), "received once: {k}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_hold_one_destination_rate_through_the_shared_cache() {
    use experiment_core::memory::MemoryCache;
    use experiment_notify::ClusterSpaced;
    // Two "processes": each its own (unshared) per-process limiter with a burst, one cache.
    let cache: Arc<dyn experiment_core::Cache> = Arc::new(MemoryCache::new());
    let sent = Clocked::default();
    let rate = experiment_notify::Rate {
        per_second: 20.0,
        burst: 20,
    };
    let replica = || {
        Arc::new(Throttled::new(
            ClusterSpaced::new(sent.clone(), cache.clone(), "webhook:shared-test", 20.0),
            Arc::new(RateLimiter::new(rate)),
        ))
    };
    let (a, b) = (replica(), replica());
    let n = Notification::pending(alert("r", "2330", Utc::now()), "hook");
    let start = tokio::time::Instant::now();
    send_alternately(&a, &b, &n, 20).await;
    assert_eq!(sent.0.lock().unwrap().len(), 20);
    // Each process alone would send all 20 at once (its burst); together, one per 50 ms slot.
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(900),
        "20 sends at 20/s across two processes took {took:?}"
    );
}

#[tokio::test]
async fn without_the_cache_sends_go_on_under_the_local_limit() {
    use experiment_notify::ClusterSpaced;
    /// A cache that is down.
    #[derive(Debug)]
    struct Down;
    #[async_trait]
    impl experiment_core::Cache for Down {
        async fn get(&self, _: &str) -> Result<Option<Vec<u8>>> {
            Err(experiment_core::Error::unavailable(
                "redis",
                "connection refused",
            ))
        }
        async fn set(&self, _: &str, _: &[u8], _: Option<Duration>) -> Result<()> {
            Err(experiment_core::Error::unavailable(
                "redis",
                "connection refused",
            ))
        }
        async fn set_if_absent(&self, _: &str, _: &[u8], _: Option<Duration>) -> Result<bool> {
            Err(experiment_core::Error::unavailable(
                "redis",
                "connection refused",
            ))
        }
        async fn delete(&self, _: &str) -> Result<bool> {
            Err(experiment_core::Error::unavailable(
                "redis",
                "connection refused",
            ))
        }
    }
    let sent = Clocked::default();
    let n = ClusterSpaced::new(sent.clone(), Arc::new(Down), "webhook:down", 1.0);
    let note = Notification::pending(alert("r", "2330", Utc::now()), "hook");
    tokio::time::timeout(Duration::from_secs(5), async {
        for _ in 0..3 {
            n.send(&note).await.unwrap();
        }
    })
    .await
    .expect("a cache outage does not hold delivery");
    assert_eq!(sent.0.lock().unwrap().len(), 3);
}
