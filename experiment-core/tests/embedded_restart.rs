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
