//! The embedded outbox keeps going past an entry it cannot read.

use std::time::Duration;

use chrono::{TimeZone, Utc};
#[allow(unused_imports)]
use experiment_core::memory::{KvBackend, MemoryStore, Table, Txn};
use experiment_core::model::Notification;
use experiment_core::store::Store;
use experiment_core::testing::store::alert;

#[tokio::test]
async fn an_unreadable_notification_does_not_block_the_others() {
    let store = MemoryStore::new();
    let t = Utc.with_ymd_and_hms(2025, 5, 2, 6, 0, 0).unwrap();
    let good = alert("r1", "2330", t);
    store
        .record_alert(&good, &[Notification::pending(good.clone(), "slack")])
        .await
        .unwrap();
    // An entry an older or broken writer left: due first, not JSON.
    store
        .backend()
        .write(|tx| {
            tx.put(Table::Notifications, "broken", b"{not json")?;
            tx.put(Table::OutboxDue, "00000000000000000000/broken", b"")
        })
        .unwrap();
    let claimed = store
        .claim_notifications(t, Duration::from_secs(60), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1, "the readable one is claimed");
    assert_eq!(claimed[0].alert.id, good.id);
    // And the broken one does not come back at every round.
    let again = store
        .claim_notifications(t + chrono::Duration::hours(1), Duration::from_secs(60), 10)
        .await
        .unwrap();
    assert_eq!(again.len(), 1, "only the good one, its lease over");
}
