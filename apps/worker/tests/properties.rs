//! Property: no event, however hostile its numbers and dates, makes the worker panic. Bars and
//! quotes with any decimal (huge, negative, zero, many places), any date chrono can hold, any
//! volume and change go through `Worker::process` with rules that do arithmetic on them
//! (changes, averages, oscillators, new lows); each is processed or skipped with a reason.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use experiment_core::bus::{AckHandle, Delivery, Record};
use experiment_core::memory::{MemoryCache, MemoryStore};
use experiment_core::model::{
    AlertRule, DailyBar, Event, Exchange, Payload, Quote, RuleId, SecurityCode, TriggerFrequency,
};
use experiment_core::Store;
use experiment_worker::{Outcome, Worker, WorkerConfig};
use proptest::prelude::*;
use rust_decimal::Decimal;

#[derive(Debug)]
struct NoAck;

impl AckHandle for NoAck {
    fn ack(&self, _: &str, _: u32, _: u64) {}
    fn nack(&self, _: &str, _: u32, _: u64) {}
}

fn decimal() -> impl Strategy<Value = Decimal> {
    prop_oneof![
        Just(Decimal::ZERO),
        Just(Decimal::MAX),
        Just(Decimal::MIN),
        (1i64..100_000, 0u32..3).prop_map(|(m, s)| Decimal::new(m, s)),
        (
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            any::<bool>(),
            0u32..=28
        )
            .prop_map(|(lo, mid, hi, neg, scale)| Decimal::from_parts(lo, mid, hi, neg, scale)),
    ]
}

fn date() -> impl Strategy<Value = NaiveDate> {
    prop_oneof![
        Just(NaiveDate::MIN),
        Just(NaiveDate::MAX),
        (1900i32..2200, 1u32..=12, 1u32..=28)
            .prop_map(|(y, m, d)| NaiveDate::from_ymd_opt(y, m, d).unwrap()),
        (-260_000i32..260_000, 1u32..=365)
            .prop_filter_map("a real date", |(y, o)| NaiveDate::from_yo_opt(y, o)),
    ]
}

fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    prop_oneof![
        Just(DateTime::<Utc>::MIN_UTC),
        Just(DateTime::<Utc>::MAX_UTC),
        (0i64..4_102_444_800).prop_map(|s| DateTime::from_timestamp(s, 0).unwrap()),
    ]
}

fn bar() -> impl Strategy<Value = DailyBar> {
    (
        date(),
        (decimal(), decimal(), decimal(), decimal()),
        any::<u64>(),
        decimal(),
        proptest::option::of(decimal()),
    )
        .prop_map(
            |(date, (open, high, low, close), volume, value, change)| DailyBar {
                code: SecurityCode::new("2330").unwrap(),
                exchange: Exchange::Twse,
                date,
                open,
                high,
                low,
                close,
                volume,
                value,
                trades: Some(1),
                change,
            },
        )
}

fn quote() -> impl Strategy<Value = Quote> {
    (
        instant(),
        proptest::array::uniform5(proptest::option::of(decimal())),
        proptest::option::of(any::<u64>()),
    )
        .prop_map(|(t, [last, open, high, low, reference], volume)| Quote {
            code: SecurityCode::new("2330").unwrap(),
            exchange: Exchange::Twse,
            name: "台積電".into(),
            last,
            last_volume: Some(1),
            open,
            high,
            low,
            reference,
            limit_up: None,
            limit_down: None,
            volume,
            bids: Vec::new(),
            asks: Vec::new(),
            exchange_time: t,
            received_at: t,
        })
}

fn event() -> impl Strategy<Value = (Event, &'static str)> {
    prop_oneof![
        (bar(), instant()).prop_map(|(b, t)| (
            Event::new("prop", t, Payload::DailyBar(b)),
            "experiment.bars.daily.v1"
        )),
        quote().prop_map(|q| (
            Event::new("prop", q.exchange_time, Payload::Quote(q)),
            "experiment.quotes.v1"
        )),
    ]
}

async fn worker() -> Worker {
    let store = Arc::new(MemoryStore::new());
    for (i, (expr, freq)) in [
        ("close > open", TriggerFrequency::OncePerBarClose),
        (
            "rsi(14) < 30 or macd(12,26,9).histogram > 0",
            TriggerFrequency::OncePerBar,
        ),
        ("new_low(7d)", TriggerFrequency::EveryTime),
        (
            "crosses_above(sma(close, 5), sma(close, 20)) and volume > 0",
            TriggerFrequency::OncePerBarClose,
        ),
        ("bbands(20, 2).upper < close", TriggerFrequency::EveryTime),
    ]
    .into_iter()
    .enumerate()
    {
        let mut r = AlertRule::new(RuleId::new(format!("r{i}")).unwrap(), "prop", expr);
        r.frequency = freq;
        r.destinations = vec!["console".into()];
        r.cooldown_secs = Some(60);
        store.upsert_rule(&r).await.unwrap();
    }
    let w = Worker::new(store, Arc::new(MemoryCache::new()), WorkerConfig::default());
    let rejected = w.load_rules().await.unwrap();
    assert!(rejected.is_empty(), "{rejected:?}");
    w
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn no_event_makes_the_worker_panic(events in proptest::collection::vec(event(), 1..40)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let w = worker().await;
            for (i, (event, topic)) in events.into_iter().enumerate() {
                let d = Delivery::new(
                    topic,
                    0,
                    i as u64,
                    Record::new(b"2330".to_vec(), event.encode()),
                    Arc::new(NoAck),
                );
                let outcome = w.process(d).await;
                prop_assert!(
                    matches!(outcome, Outcome::Processed { .. } | Outcome::Skipped { .. }),
                    "{outcome:?}"
                );
            }
            Ok(())
        })?;
    }
}
