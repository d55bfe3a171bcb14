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
