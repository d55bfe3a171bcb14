//! The [`EventBus`] contract, clause by clause.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;

use super::{unique, WAIT};
use crate::bus::{Delivery, EventBus, Record, Subscription};
use crate::model::{Event, Payload, Security, SecurityCode};
use crate::Error;

/// Stamps every bus clause into a `#[tokio::test]` for the adapter `$factory` makes.
#[macro_export]
macro_rules! bus_conformance {
    ($factory:path) => {
        $crate::__conformance_cases!(
            $factory,
            bus,
            [
                new_group_reads_from_the_earliest_record,
                records_of_one_key_arrive_in_publish_order,
                acked_records_are_not_redelivered,
                unacked_records_are_redelivered_after_close,
                commits_only_the_contiguous_acked_prefix,
                nacked_record_comes_back,
                groups_each_receive_every_record,
                members_of_a_group_split_the_partitions,
                create_topic_is_idempotent,
                invalid_names_are_rejected,
                undecodable_payload_is_a_typed_error_and_the_stream_goes_on,
            ]
        );
    };
}

async fn next(sub: &mut Box<dyn Subscription>, what: &str) -> Delivery {
    match tokio::time::timeout(WAIT, sub.next()).await {
        Ok(Ok(d)) => d,
        Ok(Err(e)) => panic!("error while waiting for {what}: {e}"),
        Err(_) => panic!("timed out after {WAIT:?} waiting for {what}"),
    }
}

fn payload(d: &Delivery) -> String {
    String::from_utf8_lossy(&d.record.payload).into_owned()
}

async fn publish_n(bus: &dyn EventBus, topic: &str, key: &str, n: usize) {
    for i in 0..n {
        bus.publish(topic, Record::new(key, format!("{key}-{i}")))
            .await
            .expect("publish");
    }
}

/// A group that subscribes after records were published reads them from the beginning.
pub async fn new_group_reads_from_the_earliest_record(bus: &dyn EventBus) {
    let topic = unique("earliest");
    bus.create_topic(&topic, 1).await.unwrap();
    publish_n(bus, &topic, "k", 3).await;
    let mut sub = bus.subscribe(&unique("g"), &[&topic]).await.unwrap();
    for i in 0..3 {
        let d = next(&mut sub, "an earlier record").await;
        assert_eq!(
            payload(&d),
            format!("k-{i}"),
            "a new group must start at the earliest record"
        );
        d.ack();
    }
    sub.close().await.unwrap();
}

/// Interleaved keys on a multi-partition topic: each key's records arrive in publish order.
pub async fn records_of_one_key_arrive_in_publish_order(bus: &dyn EventBus) {
    let topic = unique("order");
    bus.create_topic(&topic, 4).await.unwrap();
    let keys = ["2330", "2317", "0050", "6547", "1101"];
    let per_key = 20;
    for i in 0..per_key {
        for k in keys {
            bus.publish(&topic, Record::new(k, format!("{i}")))
                .await
                .unwrap();
        }
    }
    let mut sub = bus.subscribe(&unique("g"), &[&topic]).await.unwrap();
    let mut expected: BTreeMap<String, usize> = BTreeMap::new();
    for _ in 0..keys.len() * per_key {
        let d = next(&mut sub, "the next record").await;
        let key = String::from_utf8_lossy(&d.record.key).into_owned();
        let got: usize = payload(&d).parse().unwrap();
        let want = expected.entry(key.clone()).or_insert(0);
        assert_eq!(
            got, *want,
            "records of key {key} must arrive in publish order (got #{got}, expected #{want})"
        );
        *want += 1;
        d.ack();
    }
    sub.close().await.unwrap();
}

/// Records acked before a subscription closes are not delivered to the group again.
pub async fn acked_records_are_not_redelivered(bus: &dyn EventBus) {
    let topic = unique("acked");
    let group = unique("g");
    bus.create_topic(&topic, 2).await.unwrap();
    publish_n(bus, &topic, "a", 5).await;
    let mut sub = bus.subscribe(&group, &[&topic]).await.unwrap();
    for _ in 0..5 {
        next(&mut sub, "a record").await.ack();
    }
    sub.close().await.unwrap();
    bus.publish(&topic, Record::new("a", "sentinel"))
        .await
        .unwrap();
    let mut sub = bus.subscribe(&group, &[&topic]).await.unwrap();
    let d = next(&mut sub, "the sentinel").await;
    assert_eq!(
        payload(&d),
        "sentinel",
        "an acked record was redelivered after close"
    );
    d.ack();
    sub.close().await.unwrap();
}

/// Records received but not acked come back to the group after the subscription closes: no
/// gap, nothing lost.
pub async fn unacked_records_are_redelivered_after_close(bus: &dyn EventBus) {
    let topic = unique("unacked");
    let group = unique("g");
    bus.create_topic(&topic, 1).await.unwrap();
    publish_n(bus, &topic, "k", 6).await;
    let mut sub = bus.subscribe(&group, &[&topic]).await.unwrap();
    for i in 0..4 {
        let d = next(&mut sub, "a record").await;
        if i < 2 {
            d.ack();
        } // records 2 and 3 are received and dropped without an ack
    }
    drop(sub);
    // A sentinel after the rest, so a bus that lost records shows it at once (it delivers the
    // sentinel) instead of timing out.
    bus.publish(&topic, Record::new("k", "sentinel"))
        .await
        .unwrap();
    let mut sub = bus.subscribe(&group, &[&topic]).await.unwrap();
    let first = next(&mut sub, "the first unacked record").await;
    assert_eq!(
        payload(&first),
        "k-2",
        "unacked records must be redelivered after the subscriber went away"
    );
    let mut got = vec![payload(&first)];
    first.ack();
    for _ in 3..6 {
        let d = next(&mut sub, "a redelivered record").await;
        got.push(payload(&d));
        d.ack();
    }
    assert_eq!(
        got,
        ["k-2", "k-3", "k-4", "k-5"],
        "unacked records must be redelivered, in order, after the subscriber went away"
    );
    sub.close().await.unwrap();
}

/// An ack past a gap commits nothing past the gap: after a restart the group resumes at the
/// first unacked offset (acked records after it may come again; none may be skipped).
pub async fn commits_only_the_contiguous_acked_prefix(bus: &dyn EventBus) {
    let topic = unique("contiguous");
    let group = unique("g");
    bus.create_topic(&topic, 1).await.unwrap();
    publish_n(bus, &topic, "k", 5).await;
    let mut sub = bus.subscribe(&group, &[&topic]).await.unwrap();
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(next(&mut sub, "a record").await);
    }
    // ack 0, 1, 3, 4 — leave 2 unacked
    let two = held.remove(2);
    for d in held {
        d.ack();
    }
    drop(two);
    sub.close().await.unwrap();
    bus.publish(&topic, Record::new("k", "sentinel"))
        .await
        .unwrap();
    let mut sub = bus.subscribe(&group, &[&topic]).await.unwrap();
    let d = next(&mut sub, "the first unacked record").await;
    assert_eq!(
        payload(&d),
        "k-2",
        "resumed past an unacked record: commits must stop at the first gap"
    );
    d.ack();
    sub.close().await.unwrap();
}

/// A nacked record is delivered again, before anything after it in its partition.
pub async fn nacked_record_comes_back(bus: &dyn EventBus) {
    let topic = unique("nack");
    bus.create_topic(&topic, 1).await.unwrap();
    publish_n(bus, &topic, "k", 2).await;
    let mut sub = bus.subscribe(&unique("g"), &[&topic]).await.unwrap();
    let d = next(&mut sub, "the first record").await;
    assert_eq!(payload(&d), "k-0");
    d.nack();
    let d = next(&mut sub, "the nacked record").await;
    assert_eq!(payload(&d), "k-0", "a nacked record must come back first");
    d.ack();
    let d = next(&mut sub, "the second record").await;
    assert_eq!(payload(&d), "k-1");
    d.ack();
    sub.close().await.unwrap();
}

/// Two groups on one topic each receive every record.
pub async fn groups_each_receive_every_record(bus: &dyn EventBus) {
    let topic = unique("groups");
    bus.create_topic(&topic, 2).await.unwrap();
    publish_n(bus, &topic, "x", 4).await;
    for _ in 0..2 {
        let mut sub = bus.subscribe(&unique("g"), &[&topic]).await.unwrap();
        let mut got = BTreeSet::new();
        for _ in 0..4 {
            let d = next(&mut sub, "a record for this group").await;
            got.insert(payload(&d));
            d.ack();
        }
        assert_eq!(got.len(), 4, "each group must receive every record");
        sub.close().await.unwrap();
    }
}

/// Two members of one group split a topic's partitions and together receive every record once.
pub async fn members_of_a_group_split_the_partitions(bus: &dyn EventBus) {
    let topic = unique("split");
    let group = unique("g");
    bus.create_topic(&topic, 4).await.unwrap();
    let mut a = bus.subscribe(&group, &[&topic]).await.unwrap();
    let mut b = bus.subscribe(&group, &[&topic]).await.unwrap();
    // Let the group settle (Kafka assigns partitions while members poll) before publishing,
    // so neither member starts with all partitions.
    let settled = tokio::time::timeout(WAIT, async {
        loop {
            for sub in [&mut a, &mut b] {
                if let Ok(d) = tokio::time::timeout(Duration::from_millis(100), sub.next()).await {
                    panic!(
                        "unexpected record before publishing: {}",
                        d.map(|d| d.position()).unwrap_or_default()
                    );
                }
            }
            let (ma, mb) = (a.assignment().unwrap(), b.assignment().unwrap());
            if !ma.is_empty() && !mb.is_empty() && ma.len() + mb.len() == 4 {
                break;
            }
        }
    })
    .await;
    assert!(
        settled.is_ok(),
        "the two members never split the 4 partitions between them"
    );
    let total = 60;
    for i in 0..total {
        bus.publish(&topic, Record::new(format!("key{i}"), format!("{i}")))
            .await
            .unwrap();
    }
    let seen: Arc<Mutex<Vec<(usize, String)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for (member, mut sub) in [a, b].into_iter().enumerate() {
        let (seen, stop) = (seen.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                // `next` is cancel safe, so polling with a short timeout loses nothing.
                if let Ok(d) = tokio::time::timeout(Duration::from_millis(50), sub.next()).await {
                    let d = d.expect("delivery");
                    seen.lock().unwrap().push((member, payload(&d)));
                    d.ack();
                }
            }
            sub.close().await.unwrap();
        }));
    }
    let waited = tokio::time::timeout(WAIT, async {
        while seen.lock().unwrap().len() < total {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    assert!(
        waited.is_ok(),
        "the group did not receive all {total} records in time"
    );
    let seen = seen.lock().unwrap();
    let distinct: BTreeSet<&String> = seen.iter().map(|(_, p)| p).collect();
    assert_eq!(distinct.len(), total, "every record must reach the group");
    assert_eq!(seen.len(), total, "no record may reach two members");
    for member in 0..2 {
        assert!(
            seen.iter().any(|(m, _)| *m == member),
            "member {member} received nothing: partitions were not split"
        );
    }
}

/// Creating a topic twice is not an error and keeps its records.
pub async fn create_topic_is_idempotent(bus: &dyn EventBus) {
    let topic = unique("idem");
    bus.create_topic(&topic, 2).await.unwrap();
    bus.publish(&topic, Record::new("k", "kept")).await.unwrap();
    bus.create_topic(&topic, 2).await.unwrap();
    let mut sub = bus.subscribe(&unique("g"), &[&topic]).await.unwrap();
    let d = next(&mut sub, "the record published before the second create").await;
    assert_eq!(payload(&d), "kept");
    d.ack();
    sub.close().await.unwrap();
}

/// Bad topic and group names are `InvalidInput`, naming the field.
pub async fn invalid_names_are_rejected(bus: &dyn EventBus) {
    let err = bus
        .publish("bad topic", Record::new("k", "v"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidInput { field, .. } if field == "topic"),
        "publish to 'bad topic': {err:?}"
    );
    let err = bus.create_topic("", 1).await.unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
    let err = bus.subscribe("", &["ok-topic"]).await.unwrap_err();
    assert!(
        matches!(&err, Error::InvalidInput { field, .. } if field == "group"),
        "{err:?}"
    );
}

/// A record that is not an event decodes to `Error::Decode` naming its position; the next
/// record is still delivered.
pub async fn undecodable_payload_is_a_typed_error_and_the_stream_goes_on(bus: &dyn EventBus) {
    let topic = unique("poison");
    bus.create_topic(&topic, 1).await.unwrap();
    bus.publish(&topic, Record::new("2330", "{not json"))
        .await
        .unwrap();
    let good = Event::new(
        "suite",
        Utc::now(),
        Payload::Security(Security::new(
            SecurityCode::new("2330").unwrap(),
            crate::model::Exchange::Twse,
            "台積電",
        )),
    );
    bus.publish(&topic, Record::new("2330", good.encode()))
        .await
        .unwrap();
    let mut sub = bus.subscribe(&unique("g"), &[&topic]).await.unwrap();
    let poison = next(&mut sub, "the poison record").await;
    let err = poison.decode_event().unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&poison.position()),
        "the error must say where the record is: {err}"
    );
    poison.ack();
    let d = next(&mut sub, "the good record after the poison").await;
    assert_eq!(d.decode_event().unwrap().payload, good.payload);
    d.ack();
    sub.close().await.unwrap();
}
