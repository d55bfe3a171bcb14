//! The embedded store keeps everything across a close and reopen of its data directory.

use chrono::{NaiveDate, TimeZone, Utc};
use experiment_core::memory::EmbeddedStore;
use experiment_core::model::{AlertRule, Notification, NotificationStatus, RuleId, SecurityCode};
use experiment_core::store::{AlertQuery, Store};
use experiment_core::testing::store::{alert, bar};

#[tokio::test]
async fn data_survives_reopening_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let d = NaiveDate::from_ymd_opt(2025, 5, 2).unwrap();
    let t = Utc.with_ymd_and_hms(2025, 5, 2, 5, 30, 0).unwrap();
    let a = alert("r1", "2330", t);
    let n = Notification::pending(a.clone(), "slack");
    let rule = AlertRule::new(RuleId::new("r1").unwrap(), "R1", "rsi(14) < 30");
    {
        let store = EmbeddedStore::open(dir.path()).unwrap();
        store
            .upsert_daily_bars(&[bar("2330", d, 92000)])
            .await
            .unwrap();
        store.upsert_rule(&rule).await.unwrap();
        store
            .record_alert(&a, std::slice::from_ref(&n))
            .await
            .unwrap();
    } // closed here, as at process exit

    let store = EmbeddedStore::open(dir.path()).unwrap();
    let code = SecurityCode::new("2330").unwrap();
    assert_eq!(
        store.daily_bars(&code, d, d).await.unwrap(),
        vec![bar("2330", d, 92000)]
    );
    assert_eq!(store.rules().await.unwrap(), vec![rule]);
    assert_eq!(
        store.alerts(&AlertQuery::default()).await.unwrap(),
        vec![a.clone()]
    );
    let pending = store.notification(&n.key).await.unwrap().unwrap();
    assert_eq!(pending.status, NotificationStatus::Pending);
    // the redelivered alert is still recognised after the restart
    assert!(!store.record_alert(&a, &[n]).await.unwrap());
}

#[test]
fn a_second_open_of_the_same_directory_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let _first = EmbeddedStore::open(dir.path()).unwrap();
    let err = EmbeddedStore::open(dir.path()).unwrap_err();
    assert!(
        matches!(
            err,
            experiment_core::Error::Unavailable {
                backend: "redb",
                ..
            }
        ),
        "{err:?}"
    );
}

/// The retry layer rides out a backend that fails a few times, and gives up on permanent errors.
mod retry_layer {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    use async_trait::async_trait;
    use experiment_core::retry::{Retry, RetryConfig};
    use experiment_core::{Cache, Error, Result};

    #[derive(Debug, Default)]
    struct Flaky {
        failures: AtomicU32,
        calls: AtomicU32,
    }

    #[async_trait]
    impl Cache for Flaky {
        async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if key == "bad" {
                return Err(Error::invalid("key", "bad"));
            }
            if self
                .failures
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
            {
                return Err(Error::unavailable("flaky", "connection reset"));
            }
            Ok(Some(b"v".to_vec()))
        }
        async fn set(&self, _: &str, _: &[u8], _: Option<Duration>) -> Result<()> {
            Ok(())
        }
        async fn set_if_absent(&self, _: &str, _: &[u8], _: Option<Duration>) -> Result<bool> {
            Ok(true)
        }
        async fn delete(&self, _: &str) -> Result<bool> {
            Ok(true)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn transient_errors_are_retried_permanent_ones_are_not() {
        let config = RetryConfig {
            retries: 3,
            base: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        let cache = Retry::new(
            Flaky {
                failures: AtomicU32::new(2),
                ..Flaky::default()
            },
            config.clone(),
        );
        assert_eq!(cache.get("k").await.unwrap().as_deref(), Some(&b"v"[..]));
        assert_eq!(cache.inner().calls.load(Ordering::SeqCst), 3);

        let cache = Retry::new(
            Flaky {
                failures: AtomicU32::new(10),
                ..Flaky::default()
            },
            config.clone(),
        );
        assert!(
            cache.get("k").await.unwrap_err().is_transient(),
            "gives up after the retries"
        );
        assert_eq!(cache.inner().calls.load(Ordering::SeqCst), 4);

        let cache = Retry::new(Flaky::default(), config);
        assert!(matches!(
            cache.get("bad").await,
            Err(Error::InvalidInput { .. })
        ));
        assert_eq!(
            cache.inner().calls.load(Ordering::SeqCst),
            1,
            "permanent errors are not retried"
        );
    }
}
