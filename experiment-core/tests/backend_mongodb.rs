//! The store conformance suite on a real MongoDB-protocol server (EXPERIMENT_TEST_MONGODB_URI).
#![cfg(feature = "mongodb")]

use experiment_core::mongodb::MongoStore;
use experiment_core::testing::{backend_from_env, unique};

async fn make() -> Option<MongoStore> {
    let uri = backend_from_env("EXPERIMENT_TEST_MONGODB_URI", "mongodb")?;
    // every case gets its own database
    let db = unique("exp").replace('-', "_");
    Some(
        MongoStore::connect(&uri, &db)
            .await
            .expect("mongodb reachable"),
    )
}

experiment_core::store_conformance!(make);

#[tokio::test]
async fn bars_are_stored_with_decimal128_prices() {
    use experiment_core::store::Store;
    let Some(store) = make().await else { return };
    let uri = std::env::var("EXPERIMENT_TEST_MONGODB_URI").unwrap();
    let d = chrono::NaiveDate::from_ymd_opt(2025, 5, 2).unwrap();
    let mut bar = experiment_core::testing::store::bar("2330", d, 95000);
    bar.close = "950.0000".parse().unwrap();
    store.upsert_daily_bars(&[bar]).await.unwrap();
    // read the raw document with the driver: prices are Decimal128 with their scale
    let client = experiment_core::mongodb::driver::Client::with_uri_str(&uri)
        .await
        .unwrap();
    let name = format!("{store:?}");
    let db = name
        .split("database: \"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let raw = client
        .database(&db)
        .collection::<experiment_core::mongodb::driver::bson::Document>("daily_bars")
        .find_one(experiment_core::mongodb::driver::bson::doc! {"code": "2330"})
        .await
        .unwrap()
        .unwrap();
    match raw.get("close") {
        Some(experiment_core::mongodb::driver::bson::Bson::Decimal128(v)) => {
            assert_eq!(v.to_string(), "950.0000")
        }
        other => panic!("close is {other:?}"),
    }
    assert_eq!(raw.get_str("date").unwrap(), "2025-05-02");
}

#[tokio::test]
async fn documents_an_older_version_wrote_are_migrated_on_connect() {
    use experiment_core::mongodb::driver::bson::{doc, Document};
    use experiment_core::store::{AlertQuery, SecurityQuery, Store};
    let Some(uri) = backend_from_env("EXPERIMENT_TEST_MONGODB_URI", "mongodb") else {
        return;
    };
    let db = unique("exp").replace('-', "_");
    let client = experiment_core::mongodb::driver::Client::with_uri_str(&uri)
        .await
        .unwrap();
    let database = client.database(&db);
    // A security, an alert and a notification as the previous version stored them: the
    // model under `doc`, without the fields the new queries read.
    let t = chrono::DateTime::from_timestamp(1_746_163_800, 0).unwrap();
    let alert = experiment_core::testing::store::alert("r1", "2330", t);
    let notification = experiment_core::model::Notification::pending(alert.clone(), "slack");
    let mut tsmc = experiment_core::model::Security::new(
        experiment_core::model::SecurityCode::new("2330").unwrap(),
        experiment_core::model::Exchange::Twse,
        "台積電",
    );
    tsmc.industry = Some("半導體業".into());
    database
        .collection::<Document>("securities")
        .insert_one(doc! {"_id": "2330", "doc": experiment_core::mongodb::driver::bson::to_bson(&tsmc).unwrap()})
        .await
        .unwrap();
    database
        .collection::<Document>("alerts")
        .insert_one(doc! {
            "_id": alert.id.to_string(),
            "t": experiment_core::mongodb::driver::bson::DateTime::from_millis(t.timestamp_millis()),
            "code": "2330",
            "rule": "r1",
            "doc": experiment_core::mongodb::driver::bson::to_bson(&alert).unwrap(),
        })
        .await
        .unwrap();
    database
        .collection::<Document>("notifications")
        .insert_one(doc! {
            "_id": notification.key.to_string(),
            "status": "pending",
            "due": experiment_core::mongodb::driver::bson::DateTime::from_millis(t.timestamp_millis()),
            "attempts": 0i64,
            "doc": experiment_core::mongodb::driver::bson::to_bson(&notification).unwrap(),
        })
        .await
        .unwrap();
    let store = MongoStore::connect(&uri, &db).await.unwrap();
    let found = store
        .search_securities(&SecurityQuery {
            industry: Some("半導體業".into()),
            ..SecurityQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(found.len(), 1, "the industry field was added");
    let alerts = store.alerts(&AlertQuery::default()).await.unwrap();
    assert_eq!(alerts.len(), 1, "the alert is listed by its time");
    let ns = store.alert_notifications(&alert.id).await.unwrap();
    assert_eq!(ns.len(), 1, "the notification is found by its alert");
}

#[tokio::test]
async fn a_partial_record_alert_is_harmless_and_repaired_by_the_redelivery() {
    use experiment_core::mongodb::driver::bson::{doc, Document};
    use experiment_core::store::Store;
    let Some(uri) = backend_from_env("EXPERIMENT_TEST_MONGODB_URI", "mongodb") else {
        return;
    };
    let db = unique("exp").replace('-', "_");
    let store = MongoStore::connect(&uri, &db).await.unwrap();
    let t = chrono::DateTime::from_timestamp(1_746_163_800, 0).unwrap();
    let alert = experiment_core::testing::store::alert("r1", "2330", t);
    let n = experiment_core::model::Notification::pending(alert.clone(), "slack");
    // A crash after the alert was written, before its notifications were released: the
    // alert exists, its notification is parked.
    store
        .record_alert(&alert, std::slice::from_ref(&n))
        .await
        .unwrap();
    let client = experiment_core::mongodb::driver::Client::with_uri_str(&uri)
        .await
        .unwrap();
    let notes = client.database(&db).collection::<Document>("notifications");
    notes
        .update_one(
            doc! {"_id": n.key.to_string()},
            doc! {"$set": {"parked": true, "due": experiment_core::mongodb::driver::bson::DateTime::from_millis(253_402_300_799_000)}},
        )
        .await
        .unwrap();
    let later = t + chrono::Duration::hours(1);
    let lease = std::time::Duration::from_secs(60);
    assert!(
        store
            .claim_notifications(later, lease, 10)
            .await
            .unwrap()
            .is_empty(),
        "a parked notification is never delivered"
    );
    // The redelivered event records the alert again: nothing new, and the notification is
    // released.
    assert!(!store
        .record_alert(&alert, std::slice::from_ref(&n))
        .await
        .unwrap());
    let claimed = store.claim_notifications(later, lease, 10).await.unwrap();
    assert_eq!(claimed.len(), 1, "released by the redelivery");
    assert_eq!(claimed[0].key, n.key);
}
