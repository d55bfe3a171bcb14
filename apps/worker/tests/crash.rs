//! Crash test: real `experiment-worker` processes on the Kafka-protocol broker, SIGKILLed at
//! random moments and restarted, while events stream in. Afterwards every event's effect is
//! stored, every alert exists exactly once, every notification reached the receiver, and the
//! duplicates the receiver saw are bounded by what can be in flight at a kill.
//!
//! Sizes can be raised for a longer run: `EXPERIMENT_CRASH_CODES` (default 200),
//! `EXPERIMENT_CRASH_DAYS` (100), `EXPERIMENT_CRASH_KILLS` (5); `EXPERIMENT_CRASH_SEED`
//! replays a run. Each run prints its figures
//! (`cargo test -p experiment-worker --test crash -- --nocapture`).

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{
    env_usize, expected_keys, publish, put_rule, tail_logs, verify, wait_delivered, write_config,
    Receiver, Rng, Workers,
};
use experiment_core::kafka::{KafkaBus, KafkaConfig};
use experiment_core::memory::EmbeddedStore;
use experiment_core::mongodb::MongoStore;
use experiment_core::testing::{backend_from_env, unique};
use experiment_core::EventBus;

/// Notifications a sender claims per round: at a kill, at most this many can have been sent
/// without their completion being stored.
const OUTBOX_BATCH: usize = 20;

struct Figures {
    events: usize,
    kills: usize,
    alerts: usize,
    requests: usize,
    duplicates: usize,
    seconds: f64,
}

/// A fresh directory for a run's files, kept after the test when `EXPERIMENT_CRASH_KEEP`
/// is set.
fn run_dir() -> Kept {
    let dir = tempfile::Builder::new()
        .prefix("crash-")
        .tempdir_in(std::env::temp_dir())
        .unwrap();
    println!("crash test: files in {}", dir.path().display());
    if std::env::var_os("EXPERIMENT_CRASH_KEEP").is_some() {
        Kept::Path(dir.keep())
    } else {
        Kept::Temp(dir)
    }
}

enum Kept {
    Temp(tempfile::TempDir),
    Path(std::path::PathBuf),
}

impl Kept {
    fn path(&self) -> &Path {
        match self {
            Kept::Temp(t) => t.path(),
            Kept::Path(p) => p,
        }
    }
}

fn sizes() -> (usize, usize) {
    (
        env_usize("EXPERIMENT_CRASH_CODES", 200),
        env_usize("EXPERIMENT_CRASH_DAYS", 100),
    )
}

/// Runs the scenario with the store flags `store_args`; `two` adds a second worker to the
/// group for part of the run, so partitions move between processes.
async fn run(brokers: String, store_args: Vec<String>, two: bool, dir: &Path) -> Figures {
    let (codes, days) = sizes();
    let min_kills = env_usize("EXPERIMENT_CRASH_KILLS", 5);
    let seed = std::env::var("EXPERIMENT_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| chrono::Utc::now().timestamp_micros() as u64 | 1);
    println!("crash test: seed {seed}, {codes} codes × {days} days");
    let mut rng = Rng(seed);

    let (receiver, server) = Receiver::serve().await;
    let config = write_config(dir, &server.uri(), OUTBOX_BATCH, &[]);

    let prefix = format!("{}.", unique("crash"));
    let bus =
        KafkaBus::connect(KafkaConfig::new(brokers.clone()).with_prefix(prefix.clone())).unwrap();
    // The topic exists before any worker subscribes, so the group sees every partition.
    bus.create_topic(experiment_core::model::EventKind::DailyBar.topic(), 6)
        .await
        .unwrap();

    let mut args = vec![
        "--config".to_owned(),
        config.display().to_string(),
        "--kafka-brokers".to_owned(),
        brokers,
        "--topic-prefix".to_owned(),
        prefix,
        "--group".to_owned(),
        unique("crash"),
        "--log".to_owned(),
        std::env::var("EXPERIMENT_CRASH_LOG").unwrap_or_else(|_| "info".to_owned()),
    ];
    args.extend(store_args);
    let mut workers = Workers::new(args, Vec::new(), dir.join("logs"), 2);
    let started = Instant::now();
    workers.start(0);

    let expected = expected_keys(codes, days);
    let publisher = {
        let bus = bus.clone();
        // Spread over about 45 s, so that every kill lands mid-stream.
        tokio::spawn(async move { publish(&bus, codes, days, Duration::from_millis(450)).await })
    };

    let mut kills = 0;
    let deadline = Instant::now() + Duration::from_secs(420);
    let (mut second_started, mut second_gone) = (!two, !two);
    while kills < min_kills || !publisher.is_finished() {
        tokio::time::sleep(Duration::from_millis(rng.between(300, 2_500))).await;
        workers.check_alive();
        assert!(
            Instant::now() < deadline,
            "the run took too long; logs:\n{}",
            tail_logs(&workers.logs)
        );
        if !second_started {
            workers.start(1);
            second_started = true;
            continue;
        }
        if !second_gone && kills >= 3 {
            // The second worker leaves the group: its partitions move back.
            workers.stop(1);
            println!("the second worker left");
            second_gone = true;
            continue;
        }
        // A victim that has run long enough to own partitions and work on them (a group
        // needs a few seconds to take a new member in).
        let eligible: Vec<usize> = (0..2)
            .filter(|s| workers.up_for(*s) >= Duration::from_secs(if two { 12 } else { 0 }))
            .filter(|s| workers.is_running(*s))
            .collect();
        if eligible.is_empty() {
            continue;
        }
        let slot = eligible[(rng.next() % eligible.len() as u64) as usize];
        if workers.kill(slot) {
            kills += 1;
            println!(
                "kill {kills}: slot {slot} at {:.1} s",
                started.elapsed().as_secs_f64()
            );
        }
        // Back once the dead member's session (6 s) has expired, as a supervisor's restart
        // delay would have it: the group then forms without the dead member, so this does not
        // lean on how a broker reassigns partitions still held by a member that died.
        tokio::time::sleep(Duration::from_millis(rng.between(6_500, 8_000))).await;
        workers.start(slot);
    }
    publisher.await.unwrap();
    wait_delivered(&receiver, &expected, &mut workers, deadline).await;
    // Let the senders record what they sent, then stop cleanly.
    tokio::time::sleep(Duration::from_secs(2)).await;
    workers.check_alive();
    workers.stop_all();
    let seconds = started.elapsed().as_secs_f64();
    if two {
        assert!(
            workers.processed_in(1) > 0 && workers.processed_in(0) > 0,
            "both workers took part: slot 0 processed {}, slot 1 {}",
            workers.processed_in(0),
            workers.processed_in(1)
        );
    }

    assert_eq!(
        receiver.keys(),
        expected,
        "the receiver got exactly the expected notifications"
    );
    let requests = receiver.requests();
    let duplicates = requests - expected.len();
    assert!(
        duplicates <= kills * OUTBOX_BATCH,
        "{duplicates} duplicate deliveries after {kills} kills: more than can be in flight ({OUTBOX_BATCH} per kill)"
    );
    Figures {
        events: codes * days,
        kills,
        alerts: expected.len(),
        requests,
        duplicates,
        seconds,
    }
}

fn report(store: &str, f: &Figures) {
    println!(
        "crash test ({store}): {} events, {} kills, {} alerts each stored once and delivered; {} requests, {} duplicates (all answered 409 by Idempotency-Key); {:.1} s",
        f.events, f.kills, f.alerts, f.requests, f.duplicates, f.seconds
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_workers_on_the_embedded_store_lose_and_double_nothing() {
    let Some(brokers) = backend_from_env("EXPERIMENT_TEST_KAFKA_BROKERS", "kafka") else {
        return;
    };
    let dir = run_dir();
    let data = dir.path().join("data");
    {
        let store = EmbeddedStore::open(&data).unwrap();
        put_rule(&store).await;
    }
    // One process at a time owns the embedded store: a single worker, killed and restarted.
    let figures = run(
        brokers,
        vec!["--data-dir".into(), data.display().to_string()],
        false,
        dir.path(),
    )
    .await;
    let store = EmbeddedStore::open(&data).unwrap();
    let (codes, days) = sizes();
    verify(&store, codes, days).await;
    report("embedded", &figures);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_workers_on_mongodb_lose_and_double_nothing_while_partitions_move() {
    let Some(brokers) = backend_from_env("EXPERIMENT_TEST_KAFKA_BROKERS", "kafka") else {
        return;
    };
    let Some(mongo) = backend_from_env("EXPERIMENT_TEST_MONGODB_URI", "mongodb") else {
        return;
    };
    let db = unique("crash").replace('-', "_");
    let store = MongoStore::connect(&mongo, &db).await.unwrap();
    put_rule(&store).await;
    let dir = run_dir();
    let figures = run(
        brokers,
        vec![
            "--mongodb-uri".into(),
            mongo.clone(),
            "--mongodb-database".into(),
            db.clone(),
        ],
        true,
        dir.path(),
    )
    .await;
    let (codes, days) = sizes();
    verify(&store, codes, days).await;
    report("mongodb", &figures);
}
