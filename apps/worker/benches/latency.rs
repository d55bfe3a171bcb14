//! Tick to notification: how long from a quote published on the bus to a mock Slack webhook
//! receiving the alert it fires — through the worker (decode, store, evaluate, record the
//! alert and its notification), the outbox (woken by the alert, not polling) and the Slack
//! notifier's HTTP request. On the in-memory bus, and through the Kafka-protocol broker when
//! `BENCH_BROKERS` (or `EXPERIMENT_TEST_KAFKA_BROKERS`) names one.
//!
//! `cargo bench -p experiment-worker --bench latency -- [QUOTES, default 1000] [PER_SECOND, default 100]`
//!
//! Quotes are published at a steady rate (not all at once: this measures latency, not a
//! backlog), each on one of 50 codes, each firing the one rule (`close > 0`, every time).
//! The destination's rate limit is raised to 1,000/s for the run: Slack's own guidance of one
//! message a second would measure the limiter, not the pipeline.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::routing::post;
use axum::Router;
use chrono::Utc;
use experiment_core::bus::EventBus;
use experiment_core::memory::{MemoryBus, MemoryCache, MemoryStore};
use experiment_core::model::{
    AlertRule, Event, EventKind, Exchange, Payload, Quote, RuleId, SecurityCode, TriggerFrequency,
};
use experiment_core::{EventBusExt, Store};
use experiment_notify::{DestinationConfig, RetryPolicy};
use experiment_wiring::delivery::OutboxLoop;
use experiment_worker::{Worker, WorkerConfig};
use rust_decimal::Decimal;
use tokio_util::sync::CancellationToken;

/// Arrival time of each quote's notification, by the quote's sequence number.
type Arrivals = Arc<Mutex<HashMap<u64, Instant>>>;

async fn receive(State(arrivals): State<Arrivals>, body: String) -> &'static str {
    let now = Instant::now();
    // The message is "seq <price>"; the price encodes the sequence number (100 + seq/100).
    let seq = body
        .split("seq ")
        .nth(1)
        .and_then(|rest| {
            let num: String = rest
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            num.parse::<f64>().ok()
        })
        .map(|price| ((price - 100.0) * 100.0).round() as u64);
    if let Some(seq) = seq {
        arrivals.lock().unwrap().entry(seq).or_insert(now);
    }
    "ok"
}

fn quote(seq: u64) -> Quote {
    let now = Utc::now();
    let price = Decimal::new(10_000 + seq as i64, 2);
    Quote {
        code: SecurityCode::new(format!("{}", 1100 + seq % 50)).unwrap(),
        exchange: Exchange::Twse,
        name: "bench".into(),
        last: Some(price),
        last_volume: Some(1),
        open: Some(price),
        high: Some(price),
        low: Some(price),
        reference: None,
        limit_up: None,
        limit_down: None,
        volume: Some(1_000 + seq),
        bids: vec![],
        asks: vec![],
        exchange_time: now,
        received_at: now,
    }
}

struct Figures {
    samples: usize,
    lost: usize,
    p50: Duration,
    p90: Duration,
    p99: Duration,
    max: Duration,
}

async fn measure(bus: Arc<dyn EventBus>, prefix: &str, quotes: u64, per_second: u64) -> Figures {
    let arrivals: Arrivals = Arc::default();
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(arrivals.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let cache = Arc::new(MemoryCache::new());
    let mut rule = AlertRule::new(RuleId::new("tick").unwrap(), "tick", "close > 0");
    rule.frequency = TriggerFrequency::EveryTime;
    rule.message = Some("seq {{price}}".into());
    rule.destinations = vec!["mock".into()];
    store.upsert_rule(&rule).await.unwrap();
    let destination: DestinationConfig = serde_json::from_value(serde_json::json!({
        "name": "mock",
        "kind": "slack_webhook",
        "url": format!("http://{addr}/hook"),
        "rate_per_second": 1000.0,
    }))
    .unwrap();

    let wake = Arc::new(tokio::sync::Notify::new());
    let worker = Worker::new(store.clone(), cache.clone(), WorkerConfig::default())
        .with_alert_signal(wake.clone());
    worker.load_rules().await.unwrap();
    let token = CancellationToken::new();
    let delivery = OutboxLoop::new(
        store.clone(),
        cache,
        vec![destination],
        RetryPolicy::default(),
        Duration::from_secs(60),
        wake,
    );
    let t = token.clone();
    let outbox = tokio::spawn(async move { delivery.run(t).await });
    let sub = bus
        .subscribe("latency", &[EventKind::Quote.topic()])
        .await
        .unwrap();
    let t = token.clone();
    let w = worker.clone();
    let running = tokio::spawn(async move { w.run(sub, async move { t.cancelled().await }).await });

    // Warm up: the consumer group joins, the topic exists, the first request connects.
    bus.publish_event(
        prefix,
        &Event::new("bench", Utc::now(), Payload::Quote(quote(0))),
    )
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !arrivals.lock().unwrap().contains_key(&0) {
        assert!(Instant::now() < deadline, "the warm-up alert never arrived");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let mut sent: HashMap<u64, Instant> = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / per_second.max(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for seq in 1..=quotes {
        tick.tick().await;
        let event = Event::new("bench", Utc::now(), Payload::Quote(quote(seq)));
        sent.insert(seq, Instant::now());
        bus.publish_event(prefix, &event).await.unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while arrivals.lock().unwrap().len() < quotes as usize + 1 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    token.cancel();
    let _ = running.await;
    let _ = outbox.await;

    let got = arrivals.lock().unwrap().clone();
    let mut lat: Vec<Duration> = sent
        .iter()
        .filter_map(|(seq, at)| got.get(seq).map(|r| r.saturating_duration_since(*at)))
        .collect();
    lat.sort();
    let pick = |q: f64| lat[((lat.len() as f64 - 1.0) * q).round() as usize];
    Figures {
        samples: lat.len(),
        lost: quotes as usize - lat.len(),
        p50: pick(0.50),
        p90: pick(0.90),
        p99: pick(0.99),
        max: *lat.last().unwrap(),
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let quotes = args.first().copied().unwrap_or(1_000);
    let per_second = args.get(1).copied().unwrap_or(100);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "tick to notification: {quotes} quotes at {per_second}/s, each firing one alert delivered to a mock Slack webhook on loopback\n"
    );
    println!("| bus | samples | lost | p50 | p90 | p99 | max |");
    println!("|---|---|---|---|---|---|---|");
    let mut buses: Vec<(String, Arc<dyn EventBus>, String)> = vec![(
        "in-memory".into(),
        Arc::new(MemoryBus::new()),
        String::new(),
    )];
    let brokers = std::env::var("BENCH_BROKERS")
        .or_else(|_| std::env::var("EXPERIMENT_TEST_KAFKA_BROKERS"))
        .ok();
    if let Some(b) = brokers {
        // librdkafka's defaults, then a short fetch wait. A broker that holds a fetch for its
        // whole `fetch.wait.max.ms` (500 ms by default) although data arrived, as the test
        // broker tansu does, adds up to that wait to every tick; Apache Kafka answers as soon
        // as `fetch.min.bytes` is there. `bus.properties` sets it in production.
        for (label, wait) in [("defaults", None), ("fetch.wait.max.ms=5", Some("5"))] {
            let prefix = format!("bench-latency-{}-{}.", std::process::id(), buses.len());
            let mut config =
                experiment_core::kafka::KafkaConfig::new(b.clone()).with_prefix(prefix);
            if let Some(w) = wait {
                config
                    .properties
                    .insert("fetch.wait.max.ms".into(), w.into());
            }
            let bus = rt.block_on(async { experiment_core::kafka::KafkaBus::connect(config) });
            buses.push((
                format!("Kafka protocol ({b}), {label}"),
                Arc::new(bus.unwrap()),
                String::new(),
            ));
        }
    }
    for (name, bus, prefix) in buses {
        let f = rt.block_on(measure(bus, &prefix, quotes, per_second));
        println!(
            "| {name} | {} | {} | {} | {} | {} | {} |",
            f.samples,
            f.lost,
            ms(f.p50),
            ms(f.p90),
            ms(f.p99),
            ms(f.max)
        );
    }
}
