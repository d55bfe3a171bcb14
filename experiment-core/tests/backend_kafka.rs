//! The event bus on a real Kafka-protocol broker (EXPERIMENT_TEST_KAFKA_BROKERS): the
//! conformance suite, at-least-once across a restart, and the seed topic byte for byte.
#![cfg(feature = "kafka")]

use std::collections::BTreeSet;
use std::time::Duration;

use experiment_core::bus::{EventBus, Record};
use experiment_core::kafka::{KafkaBus, KafkaConfig};
use experiment_core::testing::{backend_from_env, unique, WAIT};

async fn make() -> Option<KafkaBus> {
    let brokers = backend_from_env("EXPERIMENT_TEST_KAFKA_BROKERS", "kafka")?;
    let config = KafkaConfig {
        partitions: 4,
        ..KafkaConfig::new(brokers)
    }
    .with_prefix(format!("{}.", unique("t")));
    Some(KafkaBus::connect(config).expect("kafka config"))
}

experiment_core::bus_conformance!(make);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_least_once_across_a_consumer_restart() {
    let Some(bus) = make().await else { return };
    let (topic, group) = (unique("restart"), unique("g"));
    bus.create_topic(&topic, 3).await.unwrap();
    let total = 90;
    for i in 0..total {
        bus.publish(&topic, Record::new(format!("k{}", i % 7), format!("{i}")))
            .await
            .unwrap();
    }
    let mut acked = BTreeSet::new();
    {
        let mut sub = bus.subscribe(&group, &[&topic]).await.unwrap();
        let mut held = Vec::new();
        for n in 0..45 {
            let d = tokio::time::timeout(WAIT, sub.next())
                .await
                .expect("a record")
                .unwrap();
            let v: u32 = String::from_utf8_lossy(&d.record.payload).parse().unwrap();
            if n % 4 == 3 {
                held.push(d); // processed but never acked: must come back
            } else {
                acked.insert(v);
                d.ack();
            }
        }
        drop(held);
        sub.close().await.unwrap();
    }
    let mut sub = bus.subscribe(&group, &[&topic]).await.unwrap();
    let mut seen = acked.clone();
    let complete = tokio::time::timeout(WAIT * 2, async {
        while seen.len() < total {
            let d = sub.next().await.unwrap();
            seen.insert(
                String::from_utf8_lossy(&d.record.payload)
                    .parse::<u32>()
                    .unwrap(),
            );
            d.ack();
        }
    })
    .await;
    sub.close().await.unwrap();
    assert!(
        complete.is_ok(),
        "lost records: {:?}",
        (0..total as u32)
            .filter(|v| !seen.contains(v))
            .collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_topic_carries_the_original_bytes() {
    let Some(bus) = make().await else { return };
    let key = br#"{"code": "2330"}"#.to_vec();
    let value = br#"{"exchange": "TWSE", "code": "2330", "name": "\u53f0\u7a4d\u96fb", "query_time": 1766996046.0, "full_name": "x", "opening_price": "1515.0000", "current_intraday_price": "1530.0000", "highest_price": "1530.0000", "lowest_price": "1510.0000", "updated_time": 1766989800.0}"#.to_vec();
    bus.publish(
        experiment_core::seed::SEED_TOPIC,
        Record::new(key.clone(), value.clone()).with_header("origin", "test"),
    )
    .await
    .unwrap();
    let mut sub = bus
        .subscribe(&unique("g"), &[experiment_core::seed::SEED_TOPIC])
        .await
        .unwrap();
    let d = tokio::time::timeout(WAIT, sub.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        d.topic,
        experiment_core::seed::SEED_TOPIC,
        "topics are reported without the prefix"
    );
    assert_eq!(d.record.key, key);
    assert_eq!(d.record.payload, value);
    assert_eq!(d.record.header("origin"), Some(&b"test"[..]));
    let view =
        experiment_core::seed::AssetInfoView::decode(&d.record.payload, &d.position()).unwrap();
    assert_eq!(
        view.current_intraday_price.unwrap().to_string(),
        "1530.0000"
    );
    d.ack();
    sub.close().await.unwrap();
}

#[tokio::test]
async fn an_unreachable_broker_is_unavailable() {
    if backend_from_env("EXPERIMENT_TEST_KAFKA_BROKERS", "kafka").is_none() {
        return;
    }
    let config = KafkaConfig {
        timeout: Duration::from_secs(2),
        ..KafkaConfig::new("127.0.0.1:1")
    };
    let bus = KafkaBus::connect(config).unwrap();
    let err = bus
        .publish("anything", Record::new("k", "v"))
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err:?}");
}
