//! The `experiment-worker` binary against the real test servers (Kafka protocol + MongoDB
//! wire): events in, alerts stored and delivered, clean stop on SIGTERM.

use std::process::{Command, Stdio};
use std::time::Duration;

use chrono::{NaiveTime, TimeZone, Utc};
use experiment_core::kafka::{KafkaBus, KafkaConfig};
use experiment_core::model::{AlertRule, Event, NotificationStatus, Payload, RuleId};
use experiment_core::mongodb::MongoStore;
use experiment_core::store::AlertQuery;
use experiment_core::testing::store::bar;
use experiment_core::testing::{backend_from_env, unique};
use experiment_core::{EventBusExt, Store};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_service_turns_events_into_delivered_alerts_and_stops_cleanly() {
    let Some(brokers) = backend_from_env("EXPERIMENT_TEST_KAFKA_BROKERS", "kafka") else {
        return;
    };
    let Some(mongo) = backend_from_env("EXPERIMENT_TEST_MONGODB_URI", "mongodb") else {
        return;
    };
    let (prefix, db, group) = (
        format!("{}.", unique("svc")),
        unique("svc").replace('-', "_"),
        unique("g"),
    );

    let store = MongoStore::connect(&mongo, &db).await.unwrap();
    let mut rule = AlertRule::new(RuleId::new("low3").unwrap(), "3-day low", "new_low(3d)");
    rule.destinations = vec!["console".into()];
    store.upsert_rule(&rule).await.unwrap();

    let bus =
        KafkaBus::connect(KafkaConfig::new(brokers.clone()).with_prefix(prefix.clone())).unwrap();
    for (i, close) in [10000, 10100, 10200, 9900, 10300].iter().enumerate() {
        let b = bar(
            "2330",
            chrono::NaiveDate::from_ymd_opt(2025, 5, i as u32 + 1).unwrap(),
            *close,
        );
        let at = Utc.from_utc_datetime(&b.date.and_time(NaiveTime::from_hms_opt(6, 0, 0).unwrap()));
        bus.publish_event("", &Event::new("test", at, Payload::DailyBar(b)))
            .await
            .unwrap();
    }

    let child = Command::new(env!("CARGO_BIN_EXE_experiment-worker"))
        .env("EXPERIMENT_KAFKA_BROKERS", &brokers)
        .env("EXPERIMENT_TOPIC_PREFIX", &prefix)
        .env("EXPERIMENT_GROUP", &group)
        .env("EXPERIMENT_MONGODB_URI", &mongo)
        .env("EXPERIMENT_MONGODB_DATABASE", &db)
        .env_remove("EXPERIMENT_REDIS_URL")
        .env_remove("EXPERIMENT_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();

    let delivered = tokio::time::timeout(Duration::from_secs(90), async {
        loop {
            let alerts = store.alerts(&AlertQuery::default()).await.unwrap();
            if let Some(a) = alerts.first() {
                let key = experiment_core::model::NotificationKey::derive(a.id, "console");
                if store
                    .notification(&key)
                    .await
                    .unwrap()
                    .is_some_and(|n| n.status == NotificationStatus::Sent)
                {
                    return alerts;
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;

    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    let alerts =
        delivered.unwrap_or_else(|_| panic!("no delivered alert in time; worker log:\n{stderr}"));
    assert_eq!(alerts.len(), 1, "one new 3-day low (May 4)");
    assert_eq!(alerts[0].price.unwrap().to_string(), "99.00");
    assert!(
        stdout.contains("[2025-05-04] 2330 3-day low"),
        "the console destination printed it:\n{stdout}"
    );
    assert!(
        output.status.success(),
        "clean exit on SIGTERM: {:?}\n{stderr}",
        output.status
    );
    assert!(stderr.contains("worker stopped"), "{stderr}");
}

#[test]
fn without_a_broker_it_says_what_is_missing() {
    let out = Command::new(env!("CARGO_BIN_EXE_experiment-worker"))
        .env_remove("EXPERIMENT_KAFKA_BROKERS")
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs --kafka-brokers"));
}
