//! Worker throughput on the in-memory bus: daily bars for many codes through `Worker::run`,
//! with the in-memory store or the embedded (redb) store, with no rule or 10 rules on every
//! code, on 1 partition (one lane) or 6 (lanes in parallel). Prints a Markdown table of
//! events/s (median of `EXPERIMENT_BENCH_RUNS` runs, default 3) and the process's peak RSS.
//!
//! `cargo bench -p experiment-worker --bench throughput -- [CODES] [DAYS]` (default 2000 × 100),
//! or `bench/worker`, which also writes the figures into docs/performance.md.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{NaiveDate, NaiveTime, TimeZone, Utc};
use experiment_core::bus::EventBus;
use experiment_core::memory::{EmbeddedStore, MemoryBus, MemoryCache, MemoryStore};
use experiment_core::model::{AlertRule, DailyBar, Event, EventKind, Exchange, Payload, RuleId};
use experiment_core::{EventBusExt, Store};
use experiment_worker::{Worker, WorkerConfig};
use rust_decimal::Decimal;

/// Ten rules of the kinds users write (trend, momentum, volatility, new lows), each firing on
/// a small share of bars as real alert rules do.
const RULES: [&str; 10] = [
    "crosses_above(sma(close, 5), sma(close, 20))",
    "rsi(14) < 20",
    "crosses_above(macd(12, 26, 9).macd, macd(12, 26, 9).signal) and close > sma(close, 50)",
    "crosses_above(close, bbands(20, 2).upper)",
    "new_low(20d)",
    "crosses_below(ema(close, 10), ema(close, 30))",
    "cci(20) > 200",
    "willr(14) < -97",
    "atr(14) > close * 0.05",
    "close > open * 1.028",
];

fn bars(codes: usize, days: usize) -> Vec<Event> {
    let start = NaiveDate::from_ymd_opt(2020, 1, 1).unwrap();
    let mut closes: Vec<f64> = (0..codes).map(|c| 50.0 + (c % 500) as f64).collect();
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut events = Vec::with_capacity(codes * days);
    for d in 0..days {
        let date = start + chrono::Duration::days(d as i64);
        let at = Utc.from_utc_datetime(&date.and_time(NaiveTime::from_hms_opt(6, 0, 0).unwrap()));
        for (c, close) in closes.iter_mut().enumerate() {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let step = ((seed % 2001) as f64 - 1000.0) / 1000.0 * 0.03; // ±3%
            let open = *close;
            *close = (*close * (1.0 + step)).max(1.0);
            let (hi, lo) = (open.max(*close) * 1.01, open.min(*close) * 0.99);
            let dec = |x: f64| Decimal::new((x * 100.0).round() as i64, 2);
            let bar = DailyBar {
                code: experiment_core::model::SecurityCode::new(format!("{}", 1000 + c)).unwrap(),
                exchange: Exchange::Twse,
                date,
                open: dec(open),
                high: dec(hi),
                low: dec(lo),
                close: dec(*close),
                volume: 1_000 + (seed % 100_000),
                value: dec(*close * 1_000.0),
                trades: Some(10),
                change: None,
            };
            events.push(Event::new("bench", at, Payload::DailyBar(bar)));
        }
    }
    events
}

async fn run_once(
    events: &[Event],
    store: Arc<dyn Store>,
    rules: bool,
    partitions: u32,
) -> (Duration, usize) {
    if rules {
        for (i, expr) in RULES.iter().enumerate() {
            let mut r = AlertRule::new(RuleId::new(format!("r{i}")).unwrap(), "bench", *expr);
            r.destinations = vec!["console".into()];
            store.upsert_rule(&r).await.unwrap();
        }
    }
    let bus = Arc::new(MemoryBus::with_default_partitions(partitions));
    for e in events {
        bus.publish_event("", e).await.unwrap();
    }
    let worker = Worker::new(store, Arc::new(MemoryCache::new()), WorkerConfig::default());
    let rejected = worker.load_rules().await.unwrap();
    assert!(rejected.is_empty(), "{rejected:?}");
    let topic = EventKind::DailyBar.topic();
    let sub = bus.subscribe("bench", &[topic]).await.unwrap();
    let stop = Arc::new(tokio::sync::Notify::new());
    let (w, s) = (worker.clone(), stop.clone());
    let start = Instant::now();
    let running = tokio::spawn(async move { w.run(sub, async move { s.notified().await }).await });
    let total = events.len() as u64;
    loop {
        let done: u64 = (0..partitions)
            .map(|p| bus.committed("bench", topic, p))
            .sum();
        if done >= total {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let took = start.elapsed();
    stop.notify_one();
    let stats = running.await.unwrap().unwrap();
    assert_eq!(stats.processed, events.len());
    (took, stats.alerts)
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let codes = args.first().copied().unwrap_or(2_000);
    let days = args.get(1).copied().unwrap_or(100);
    let runs: usize = std::env::var("EXPERIMENT_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let events = bars(codes, days);
    println!(
        "worker throughput: {} daily bars ({codes} codes × {days} days), in-memory bus, median of {runs} runs, {} cores\n",
        events.len(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "| store | rules per code | partitions | events/s | alerts (share of rule evaluations) |"
    );
    println!("|---|---|---|---|---|");
    for store_kind in ["memory", "embedded"] {
        for rules in [false, true] {
            for partitions in [1u32, 6] {
                let mut rates = Vec::new();
                let mut alerts = 0;
                for _ in 0..runs {
                    let dir = tempfile::tempdir().unwrap();
                    let store: Arc<dyn Store> = match store_kind {
                        "memory" => Arc::new(MemoryStore::new()),
                        _ => Arc::new(EmbeddedStore::open(dir.path()).unwrap()),
                    };
                    let (took, a) = rt.block_on(run_once(&events, store, rules, partitions));
                    rates.push(events.len() as f64 / took.as_secs_f64());
                    alerts = a;
                }
                rates.sort_by(f64::total_cmp);
                let evaluations = if rules { events.len() * RULES.len() } else { 0 };
                println!(
                    "| {store_kind} | {} | {partitions} | {:.0} | {alerts} ({:.2}%) |",
                    if rules { RULES.len() } else { 0 },
                    rates[rates.len() / 2],
                    if evaluations > 0 {
                        alerts as f64 * 100.0 / evaluations as f64
                    } else {
                        0.0
                    }
                );
            }
        }
    }
    println!(
        "\npeak RSS of the benchmark process: {:.0} MB",
        peak_rss_mb()
    );
}
