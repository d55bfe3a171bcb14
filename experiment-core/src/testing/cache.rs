//! The [`Cache`] contract, clause by clause. Keys are random per case, so cases can share one
//! server.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use super::{unique, WAIT};
use crate::cache::{Cache, CacheExt};
use crate::model::{Exchange, Quote, SecurityCode};
use crate::Error;

/// Stamps every cache clause into a `#[tokio::test]` for the adapter `$factory` makes.
#[macro_export]
macro_rules! cache_conformance {
    ($factory:path) => {
        $crate::__conformance_cases!(
            $factory,
            cache,
            [
                set_get_and_delete,
                a_key_expires_after_its_ttl,
                set_replaces_the_value_and_the_ttl,
                set_if_absent_has_exactly_one_winner,
                set_if_absent_succeeds_after_expiry,
                latest_quote_round_trips,
                bad_keys_and_ttls_are_invalid_input,
            ]
        );
    };
}

/// Waits (bounded) until `key` is gone.
async fn until_gone(cache: &dyn Cache, key: &str) {
    let gone = tokio::time::timeout(WAIT, async {
        while cache.get(key).await.unwrap().is_some() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(gone.is_ok(), "key {key} did not expire within {WAIT:?}");
}

/// A stored value reads back; delete removes it and says whether it existed.
pub async fn set_get_and_delete(cache: &dyn Cache) {
    let k = unique("k");
    assert_eq!(cache.get(&k).await.unwrap(), None);
    cache.set(&k, b"v1", None).await.unwrap();
    assert_eq!(cache.get(&k).await.unwrap().as_deref(), Some(&b"v1"[..]));
    cache.set(&k, b"v2", None).await.unwrap();
    assert_eq!(cache.get(&k).await.unwrap().as_deref(), Some(&b"v2"[..]));
    assert!(cache.delete(&k).await.unwrap());
    assert!(
        !cache.delete(&k).await.unwrap(),
        "deleting a missing key says false"
    );
    assert_eq!(cache.get(&k).await.unwrap(), None);
}

/// With a TTL the key disappears; without one (or with a long one) it stays.
pub async fn a_key_expires_after_its_ttl(cache: &dyn Cache) {
    let (short, long, forever) = (unique("short"), unique("long"), unique("forever"));
    cache
        .set(&long, b"x", Some(Duration::from_secs(600)))
        .await
        .unwrap();
    cache.set(&forever, b"x", None).await.unwrap();
    cache
        .set(&short, b"x", Some(Duration::from_millis(100)))
        .await
        .unwrap();
    until_gone(cache, &short).await;
    assert!(
        cache.get(&long).await.unwrap().is_some(),
        "a 10-minute key expired early"
    );
    assert!(
        cache.get(&forever).await.unwrap().is_some(),
        "a key without TTL expired"
    );
    cache.delete(&long).await.unwrap();
    cache.delete(&forever).await.unwrap();
}

/// `set` replaces the expiry too: a key first set with a short TTL, then set without one, stays.
pub async fn set_replaces_the_value_and_the_ttl(cache: &dyn Cache) {
    let (k, probe) = (unique("k"), unique("probe"));
    cache
        .set(&k, b"old", Some(Duration::from_millis(100)))
        .await
        .unwrap();
    cache.set(&k, b"new", None).await.unwrap();
    cache
        .set(&probe, b"x", Some(Duration::from_millis(100)))
        .await
        .unwrap();
    until_gone(cache, &probe).await;
    assert_eq!(
        cache.get(&k).await.unwrap().as_deref(),
        Some(&b"new"[..]),
        "set without TTL must clear the earlier TTL"
    );
    cache.delete(&k).await.unwrap();
}

/// Many concurrent `set_if_absent` calls on one key: exactly one wins.
pub async fn set_if_absent_has_exactly_one_winner(cache: &dyn Cache) {
    let k = Arc::new(unique("nx"));
    let wins = futures::future::join_all((0..16).map(|i| {
        let k = k.clone();
        async move {
            cache
                .set_if_absent(&k, format!("{i}").as_bytes(), Some(Duration::from_secs(60)))
                .await
                .unwrap()
        }
    }))
    .await;
    assert_eq!(
        wins.iter().filter(|w| **w).count(),
        1,
        "exactly one caller may win"
    );
    assert!(!cache.set_if_absent(&k, b"late", None).await.unwrap());
    cache.delete(&k).await.unwrap();
}

/// After the winner's mark expires, the next `set_if_absent` wins (cooldowns end).
pub async fn set_if_absent_succeeds_after_expiry(cache: &dyn Cache) {
    let k = unique("cooldown");
    assert!(cache
        .set_if_absent(&k, b"1", Some(Duration::from_millis(100)))
        .await
        .unwrap());
    assert!(!cache
        .set_if_absent(&k, b"2", Some(Duration::from_millis(100)))
        .await
        .unwrap());
    until_gone(cache, &k).await;
    assert!(cache
        .set_if_absent(&k, b"3", Some(Duration::from_secs(60)))
        .await
        .unwrap());
    cache.delete(&k).await.unwrap();
}

/// The typed latest-quote helpers round-trip a quote exactly.
pub async fn latest_quote_round_trips(cache: &dyn Cache) {
    let code = SecurityCode::new(format!(
        "Q{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    ))
    .unwrap();
    let now = Utc::now();
    let q = Quote {
        code: code.clone(),
        exchange: Exchange::Twse,
        name: "台積電".into(),
        last: Some("1530.0000".parse().unwrap()),
        last_volume: Some(2000),
        open: Some("1515".parse().unwrap()),
        high: None,
        low: None,
        reference: Some("1500".parse().unwrap()),
        limit_up: Some("1650".parse().unwrap()),
        limit_down: Some("1350".parse().unwrap()),
        volume: Some(123_000),
        bids: Vec::new(),
        asks: Vec::new(),
        exchange_time: now,
        received_at: now,
    };
    cache
        .set_latest_quote(&q, Some(Duration::from_secs(60)))
        .await
        .unwrap();
    assert_eq!(cache.latest_quote(&code).await.unwrap(), Some(q));
    cache.delete(&format!("quote:{code}")).await.unwrap();
}

/// Empty keys and zero TTLs are `InvalidInput`.
pub async fn bad_keys_and_ttls_are_invalid_input(cache: &dyn Cache) {
    let err = cache.set("", b"x", None).await.unwrap_err();
    assert!(
        matches!(&err, Error::InvalidInput { field, .. } if field == "key"),
        "{err:?}"
    );
    let err = cache
        .set(&unique("k"), b"x", Some(Duration::ZERO))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidInput { field, .. } if field == "ttl"),
        "{err:?}"
    );
    let err = cache.get(&"k".repeat(2000)).await.unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
}
