//! The worker on in-memory adapters: alerts, idempotency, poison events, seed messages,
//! restarts, trigger options and transient failures.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use chrono::{NaiveDate, NaiveTime, TimeZone, Utc};
use experiment_core::bus::{EventBus, EventBusExt, Record, Subscription};
use experiment_core::memory::{
    KvBackend, KvStore, MemoryBus, MemoryCache, MemoryKv, MemoryStore, Table, Txn,
};
use experiment_core::model::{
    AlertRule, DailyBar, Event, Payload, QuietHours, RuleId, SecurityCode, TriggerFrequency,
    MARKET_TZ,
};
use experiment_core::store::{AlertQuery, Store};
use experiment_core::testing::store::bar;
use experiment_core::{CacheExt, Error, Result};
use experiment_worker::{Outcome, Worker, WorkerConfig};

const TOPIC: &str = "experiment.bars.daily.v1";

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 5, d).unwrap()
}

/// Closes (in hundredths) for May 1..=n; the lows follow the closes; each bar carries the
/// exchange's change against the previous close (none for the first).
fn bars(closes: &[i64]) -> Vec<DailyBar> {
    closes
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut b = bar("2330", day(i as u32 + 1), *c);
            b.change = (i > 0).then(|| rust_decimal::Decimal::new(c - closes[i - 1], 2));
            b
        })
        .collect()
}

fn rule(expr: &str) -> AlertRule {
    let mut r = AlertRule::new(RuleId::new("low3").unwrap(), "3-day low", expr);
    r.destinations = vec!["slack".into()];
    r
}

async fn setup(store: Arc<dyn Store>, r: AlertRule) -> (MemoryBus, Worker, Box<dyn Subscription>) {
    store.upsert_rule(&r).await.unwrap();
    let worker = Worker::new(store, Arc::new(MemoryCache::new()), WorkerConfig::default());
    assert!(worker.load_rules().await.unwrap().is_empty());
    let bus = MemoryBus::new();
    let sub = bus
        .subscribe(
            "workers",
            &[TOPIC, "asset.info.view.v1", "experiment.quotes.v1"],
        )
        .await
        .unwrap();
    (bus, worker, sub)
}

async fn publish(bus: &MemoryBus, bars: &[DailyBar]) {
    for b in bars {
        let at = Utc.from_utc_datetime(&b.date.and_time(NaiveTime::from_hms_opt(6, 0, 0).unwrap()));
        bus.publish_event("", &Event::new("test", at, Payload::DailyBar(b.clone())))
            .await
            .unwrap();
    }
}

async fn drain(worker: &Worker, sub: &mut Box<dyn Subscription>, n: usize) -> Vec<Outcome> {
    let mut out = Vec::new();
    for _ in 0..n {
        let d = tokio::time::timeout(std::time::Duration::from_secs(5), sub.next())
            .await
            .unwrap()
            .unwrap();
        out.push(worker.process(d).await);
    }
    out
}

/// Indices of the deliveries that recorded one new alert.
fn fired(out: &[Outcome]) -> Vec<usize> {
    out.iter()
        .enumerate()
        .filter(|(_, o)| **o == Outcome::Processed { alerts: 1 })
        .map(|(i, _)| i)
        .collect()
}

#[tokio::test]
async fn a_new_low_raises_one_alert_with_its_notification_even_when_redelivered() {
    let store = Arc::new(MemoryStore::new());
    let (bus, worker, mut sub) = setup(store.clone(), rule("new_low(3d)")).await;
    // lows: 97,98,99,96(new low vs 3 days),100,101
    let series = bars(&[10000, 10100, 10200, 9900, 10300, 10400]);
    publish(&bus, &series).await;
    let out = drain(&worker, &mut sub, series.len()).await;
    let fired = fired(&out);
    assert_eq!(fired, vec![3], "{out:?}");
    let alerts = store.alerts(&AlertQuery::default()).await.unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].price.unwrap().to_string(), "99.00");
    assert_eq!(
        alerts[0].change_pct.unwrap().to_string(),
        "-2.94",
        "the exchange's change"
    );
    assert!(alerts[0].message.contains("2330"), "{}", alerts[0].message);

    // the same events again (a redelivery after a crash): nothing new
    publish(&bus, &series).await;
    let again = drain(&worker, &mut sub, series.len()).await;
    assert!(
        again.iter().all(|o| *o == Outcome::Processed { alerts: 0 }),
        "{again:?}"
    );
    assert_eq!(store.alerts(&AlertQuery::default()).await.unwrap().len(), 1);
    let due = store
        .claim_notifications(Utc::now(), std::time::Duration::from_secs(60), 10)
        .await
        .unwrap();
    assert_eq!(due.len(), 1, "one notification for one alert");
}

#[tokio::test]
async fn a_restarted_worker_restores_state_from_stored_bars() {
    let store = Arc::new(MemoryStore::new());
    let series = bars(&[10000, 10100, 10200, 9900]);
    {
        let (bus, worker, mut sub) = setup(store.clone(), rule("new_low(3d)")).await;
        publish(&bus, &series[..3]).await;
        drain(&worker, &mut sub, 3).await;
    }
    // a new worker (new process) sees only the fourth bar: it must still know the history
    let (bus, worker, mut sub) = setup(store.clone(), rule("new_low(3d)")).await;
    publish(&bus, &series[3..]).await;
    assert_eq!(
        drain(&worker, &mut sub, 1).await,
        vec![Outcome::Processed { alerts: 1 }]
    );
}

#[tokio::test]
async fn poison_events_are_skipped_with_their_position_and_the_stream_goes_on() {
    let store = Arc::new(MemoryStore::new());
    let (bus, worker, mut sub) = setup(store.clone(), rule("new_low(3d)")).await;
    bus.publish(TOPIC, Record::new("2330", "{\"broken\": "))
        .await
        .unwrap();
    let mut bad = bar("2330", day(2), 10000);
    bad.low = bad.high + rust_decimal::Decimal::ONE; // decodes, but is not a valid bar
    bus.publish_event("", &Event::new("t", Utc::now(), Payload::DailyBar(bad)))
        .await
        .unwrap();
    publish(&bus, &bars(&[10000])).await;
    let out = drain(&worker, &mut sub, 3).await;
    match &out[0] {
        Outcome::Skipped { reason } => assert!(
            reason.contains(&format!("{TOPIC}/")) && reason.contains("cannot decode"),
            "{reason}"
        ),
        o => panic!("{o:?}"),
    }
    match &out[1] {
        Outcome::Skipped { reason } => assert!(reason.contains("low"), "{reason}"),
        o => panic!("{o:?}"),
    }
    assert_eq!(out[2], Outcome::Processed { alerts: 0 });
    assert_eq!(
        store
            .daily_bars(&SecurityCode::new("2330").unwrap(), day(1), day(31))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(worker.stats().await.skipped, 2);
}

#[tokio::test]
async fn seed_messages_from_the_original_feeder_update_the_latest_quote() {
    let store = Arc::new(MemoryStore::new());
    let cache = Arc::new(MemoryCache::new());
    let worker = Worker::new(store.clone(), cache.clone(), WorkerConfig::default());
    let bus = MemoryBus::new();
    let mut sub = bus.subscribe("w", &["asset.info.view.v1"]).await.unwrap();
    let value = r#"{"exchange": "TWSE", "code": "2330", "name": "\u53f0\u7a4d\u96fb", "query_time": 1766996046.0, "full_name": "x", "opening_price": "1515.0000", "current_intraday_price": "1530.0000", "highest_price": "1530.0000", "lowest_price": "1510.0000", "updated_time": 1766989800.0}"#;
    bus.publish(
        "asset.info.view.v1",
        Record::new(r#"{"code": "2330"}"#, value),
    )
    .await
    .unwrap();
    assert_eq!(
        drain(&worker, &mut sub, 1).await,
        vec![Outcome::Processed { alerts: 0 }]
    );
    let code = SecurityCode::new("2330").unwrap();
    let q = cache.latest_quote(&code).await.unwrap().unwrap();
    assert_eq!(q.last.unwrap().to_string(), "1530.0000");
    assert_eq!(store.quote(&code).await.unwrap().unwrap().name, "台積電");
}

#[tokio::test]
async fn trigger_options_once_quiet_hours_and_bad_rules() {
    let store = Arc::new(MemoryStore::new());
    let mut r = rule("new_low(3d)");
    r.frequency = TriggerFrequency::Once;
    // the events are stamped 06:00 UTC = 14:00 Taipei: inside these quiet hours
    r.quiet_hours = Some(QuietHours {
        start: NaiveTime::from_hms_opt(13, 30, 0).unwrap(),
        end: NaiveTime::from_hms_opt(15, 0, 0).unwrap(),
    });
    let (bus, worker, mut sub) = setup(store.clone(), r.clone()).await;
    let series = bars(&[10000, 10100, 10200, 9900, 9800]);
    publish(&bus, &series).await;
    let out = drain(&worker, &mut sub, series.len()).await;
    assert_eq!(
        out.iter()
            .filter(|o| **o == Outcome::Processed { alerts: 1 })
            .count(),
        1,
        "once: {out:?}"
    );
    let alerts = store.alerts(&AlertQuery::default()).await.unwrap();
    assert!(alerts[0].suppressed);
    assert!(
        store
            .claim_notifications(Utc::now(), std::time::Duration::from_secs(1), 10)
            .await
            .unwrap()
            .is_empty(),
        "quiet hours: no delivery"
    );
    assert!(
        !store.rule(&r.id).await.unwrap().unwrap().enabled,
        "a once rule is disabled after firing"
    );

    store
        .upsert_rule(&AlertRule::new(
            RuleId::new("x").unwrap(),
            "x",
            "rsx(14) < 30",
        ))
        .await
        .unwrap();
    let mut bad_template = rule("new_low(1d)");
    bad_template.id = RuleId::new("y").unwrap();
    bad_template.message = Some("{{clsoe}}".into());
    store.upsert_rule(&bad_template).await.unwrap();
    let rejected = worker.load_rules().await.unwrap();
    assert_eq!(rejected.len(), 2, "{rejected:?}");
    assert!(rejected
        .iter()
        .any(|(id, why)| id.as_str() == "y" && why.contains("unknown placeholder")));
    assert!(
        rejected.iter().any(|(id, why)| id.as_str() == "x"
            && why.contains("column 1: unknown indicator 'rsx' (did you mean 'rsi'?)")),
        "{rejected:?}"
    );
}

/// A backend whose first two writes fail as an outage would.
#[derive(Debug, Default)]
struct FlakyKv {
    inner: MemoryKv,
    failures_left: AtomicUsize,
}

impl KvBackend for FlakyKv {
    const NAME: &'static str = "flaky";
    const BLOCKING: bool = false;
    fn read<R>(&self, f: impl FnOnce(&mut dyn Txn) -> Result<R>) -> Result<R> {
        self.inner.read(f)
    }
    fn write<R>(&self, f: impl FnOnce(&mut dyn Txn) -> Result<R>) -> Result<R> {
        if self
            .failures_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(Error::unavailable("flaky", "connection reset"));
        }
        self.inner.write(f)
    }
}

#[tokio::test]
async fn transient_store_failures_are_retried_not_lost() {
    let store = Arc::new(KvStore::from_backend(FlakyKv::default()));
    let (bus, worker, sub) = setup(store.clone(), rule("new_low(3d)")).await;
    store.backend().failures_left.store(2, Ordering::SeqCst);
    publish(&bus, &bars(&[10000, 10100])).await;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(async move {
        worker
            .run(sub, async {
                stop_rx.await.ok();
            })
            .await
            .unwrap()
    });
    let code = SecurityCode::new("2330").unwrap();
    let stored = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            if store
                .daily_bars(&code, day(1), day(31))
                .await
                .unwrap()
                .len()
                == 2
            {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    stop_tx.send(()).unwrap();
    let stats = run.await.unwrap();
    assert!(stored.is_ok(), "bars were lost after transient failures");
    assert_eq!(stats.retried, 2);
    assert_eq!(stats.processed, 2);
}

#[tokio::test]
async fn unusable_events_go_to_the_dead_letter_topic_with_the_reason() {
    let store = Arc::new(MemoryStore::new());
    store.upsert_rule(&rule("new_low(3d)")).await.unwrap();
    let bus = MemoryBus::new();
    let worker = Worker::new(store, Arc::new(MemoryCache::new()), WorkerConfig::default())
        .with_dead_letters(Arc::new(bus.clone()));
    let mut sub = bus.subscribe("workers", &[TOPIC]).await.unwrap();
    bus.publish(
        TOPIC,
        Record::new("2330", "not json").with_header("trace", "abc"),
    )
    .await
    .unwrap();
    let out = drain(&worker, &mut sub, 1).await;
    assert!(matches!(&out[0], Outcome::Skipped { .. }), "{out:?}");
    let mut dlq = bus
        .subscribe("inspect", &["experiment.bars.daily.v1.dlq"])
        .await
        .unwrap();
    let d = tokio::time::timeout(std::time::Duration::from_secs(5), dlq.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d.record.payload, b"not json");
    assert_eq!(d.record.key, b"2330");
    assert_eq!(
        d.record.header("trace"),
        Some(&b"abc"[..]),
        "original headers are kept"
    );
    let reason =
        String::from_utf8(d.record.header("x-dead-letter-reason").unwrap().to_vec()).unwrap();
    assert!(reason.contains("cannot decode"), "{reason}");
    assert_eq!(d.record.header("x-original-topic"), Some(TOPIC.as_bytes()));
    assert_eq!(d.record.header("x-original-offset"), Some(&b"0"[..]));
}

#[tokio::test]
async fn any_rule_of_the_language_is_evaluated_at_the_close() {
    let store = Arc::new(MemoryStore::new());
    let mut r = rule("close > close[1] and close > sma(close, 3)");
    r.id = RuleId::new("up").unwrap();
    let (bus, worker, mut sub) = setup(store.clone(), r).await;
    // closes 100, 101, 102, 99, 103 → up days above the 3-day SMA: May 3 (102 > 101 and > 101), May 5 (103 > 99 and > 101.33)
    let series = bars(&[10000, 10100, 10200, 9900, 10300]);
    publish(&bus, &series).await;
    let out = drain(&worker, &mut sub, series.len()).await;
    let fired = fired(&out);
    assert_eq!(fired, vec![2, 4], "{out:?}");
}

/// A quote of 2330 on May `d` at `hh:mm` Taipei, with the session so far.
fn quote(d: u32, hh: u32, mm: u32, last: i64, low: i64) -> experiment_core::model::Quote {
    let t = MARKET_TZ
        .from_local_datetime(&day(d).and_hms_opt(hh, mm, 0).unwrap())
        .unwrap()
        .with_timezone(&Utc);
    let dec = |v: i64| rust_decimal::Decimal::new(v, 2);
    experiment_core::model::Quote {
        code: SecurityCode::new("2330").unwrap(),
        exchange: experiment_core::model::Exchange::Twse,
        name: "台積電".into(),
        last: Some(dec(last)),
        last_volume: Some(1_000),
        open: Some(dec(10_400)),
        high: Some(dec(10_450)),
        low: Some(dec(low)),
        reference: Some(dec(10_400)),
        limit_up: None,
        limit_down: None,
        volume: Some(50_000),
        bids: Vec::new(),
        asks: Vec::new(),
        exchange_time: t,
        received_at: t,
    }
}

async fn one(
    worker: &Worker,
    bus: &MemoryBus,
    sub: &mut Box<dyn Subscription>,
    e: Event,
) -> Outcome {
    bus.publish_event("", &e).await.unwrap();
    drain(worker, sub, 1).await.remove(0)
}

async fn alerts_of(store: &MemoryStore, rule: &str) -> Vec<experiment_core::model::Alert> {
    store
        .alerts(&AlertQuery::default())
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.rule_id.as_str() == rule)
        .collect()
}

#[tokio::test]
async fn trigger_frequencies_decide_when_quotes_and_closes_fire() {
    let store = Arc::new(MemoryStore::new());
    let condition = "close < sma(close, 3)";
    for (id, frequency) in [
        ("bar", TriggerFrequency::OncePerBar),
        ("every", TriggerFrequency::EveryTime),
        ("close", TriggerFrequency::OncePerBarClose),
        ("once", TriggerFrequency::Once),
    ] {
        let mut r = rule(condition);
        r.id = RuleId::new(id).unwrap();
        r.frequency = frequency;
        r.message = Some("{{code}} {{value}} < avg".into());
        store.upsert_rule(&r).await.unwrap();
    }
    let worker = Worker::new(
        store.clone(),
        Arc::new(MemoryCache::new()),
        WorkerConfig::default(),
    );
    assert!(worker.load_rules().await.unwrap().is_empty());
    let bus = MemoryBus::new();
    let mut sub = bus
        .subscribe("workers", &[TOPIC, "experiment.quotes.v1"])
        .await
        .unwrap();

    // Rising closes May 1-5: the condition never holds at a close.
    for b in bars(&[10000, 10100, 10200, 10300, 10400]) {
        let at = Utc.from_utc_datetime(&b.date.and_hms_opt(6, 0, 0).unwrap());
        let out = one(
            &worker,
            &bus,
            &mut sub,
            Event::new("t", at, Payload::DailyBar(b)),
        )
        .await;
        assert_eq!(out, Outcome::Processed { alerts: 0 });
    }

    // May 6, 09:05: last 99 against the forming 3-bar SMA (103, 104, 99) = 102 → holds.
    let q1 = quote(6, 9, 5, 9900, 9900);
    let t1 = q1.exchange_time;
    let out = one(
        &worker,
        &bus,
        &mut sub,
        Event::new("t", t1, Payload::Quote(q1.clone())),
    )
    .await;
    assert_eq!(
        out,
        Outcome::Processed { alerts: 3 },
        "bar, every and once fire; close waits"
    );
    let fired = alerts_of(&store, "bar").await;
    assert_eq!(fired[0].value, Some(99.0));
    assert_eq!(fired[0].values.get("sma(close, 3)"), Some(&102.0));
    assert_eq!(fired[0].message, "2330 99 < avg");
    assert!(
        !store
            .rule(&RuleId::new("once").unwrap())
            .await
            .unwrap()
            .unwrap()
            .enabled,
        "a once rule is disabled after its first firing"
    );

    // The same quote again (a redelivery): nothing new. A later quote still holding: only
    // the every-time rule fires again. A quote where it does not hold: nothing.
    let out = one(
        &worker,
        &bus,
        &mut sub,
        Event::new("t", t1, Payload::Quote(q1)),
    )
    .await;
    assert_eq!(out, Outcome::Processed { alerts: 0 });
    let q2 = quote(6, 9, 10, 9800, 9800);
    let out = one(
        &worker,
        &bus,
        &mut sub,
        Event::new("t", q2.exchange_time, Payload::Quote(q2)),
    )
    .await;
    assert_eq!(out, Outcome::Processed { alerts: 1 });
    let q3 = quote(6, 9, 15, 10500, 9800);
    let out = one(
        &worker,
        &bus,
        &mut sub,
        Event::new("t", q3.exchange_time, Payload::Quote(q3)),
    )
    .await;
    assert_eq!(
        out,
        Outcome::Processed { alerts: 0 },
        "105 is above its SMA"
    );
    let mut no_trade = quote(6, 9, 20, 9700, 9700);
    no_trade.last = None;
    let out = one(
        &worker,
        &bus,
        &mut sub,
        Event::new("t", no_trade.exchange_time, Payload::Quote(no_trade)),
    )
    .await;
    assert_eq!(out, Outcome::Processed { alerts: 0 });

    // The close, 98.5: the bar-close rule fires now; once-per-bar already has this bar's
    // alert; every-time fires once more. Intraday quotes did not move the state: the
    // close's SMA is of (103, 104, 98.5).
    let close = bar("2330", day(6), 9850);
    let at = Utc.from_utc_datetime(&day(6).and_hms_opt(6, 0, 0).unwrap());
    let out = one(
        &worker,
        &bus,
        &mut sub,
        Event::new("t", at, Payload::DailyBar(close)),
    )
    .await;
    assert_eq!(out, Outcome::Processed { alerts: 2 }, "close and every");
    let at_close = alerts_of(&store, "close").await;
    assert_eq!(at_close.len(), 1);
    let sma = (103.0 + 104.0 + 98.5) / 3.0;
    assert!((at_close[0].values["sma(close, 3)"] - sma).abs() < 1e-9);
    assert_eq!(alerts_of(&store, "bar").await.len(), 1);
    assert_eq!(alerts_of(&store, "every").await.len(), 3);
    assert_eq!(alerts_of(&store, "once").await.len(), 1);

    // Quotes after the close of their day change nothing.
    let late = quote(6, 13, 40, 9000, 9000);
    let out = one(
        &worker,
        &bus,
        &mut sub,
        Event::new("t", late.exchange_time, Payload::Quote(late)),
    )
    .await;
    assert_eq!(out, Outcome::Processed { alerts: 0 });
}

/// Waits (bounded) until `f` holds.
async fn eventually(
    what: &str,
    mut f: impl FnMut() -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send>>,
) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !f().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting: {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn rules_changed_in_the_store_take_effect_in_a_running_worker() {
    let store = Arc::new(MemoryStore::new());
    let config = WorkerConfig {
        rules_refresh: std::time::Duration::from_millis(50),
        ..WorkerConfig::default()
    };
    let bus = Arc::new(MemoryBus::new());
    let worker = Arc::new(
        Worker::new(store.clone(), Arc::new(MemoryCache::new()), config)
            .with_alert_events(bus.clone(), ""),
    );
    let sub = bus.subscribe("workers", &[TOPIC]).await.unwrap();
    let stop = Arc::new(tokio::sync::Notify::new());
    let (w, s) = (worker.clone(), stop.clone());
    let running = tokio::spawn(async move { w.run(sub, async move { s.notified().await }).await });

    // No rule yet: bars are stored, nothing fires.
    publish(&bus, &bars(&[10000, 10100, 10200, 9900])).await;
    let st = store.clone();
    eventually("four bars stored", move || {
        let st = st.clone();
        Box::pin(async move {
            st.daily_bars(&SecurityCode::new("2330").unwrap(), day(1), day(31))
                .await
                .unwrap()
                .len()
                == 4
        })
    })
    .await;
    assert!(store
        .alerts(&AlertQuery::default())
        .await
        .unwrap()
        .is_empty());

    // A rule saved while the worker runs (as the API does) fires on the next bar.
    store.upsert_rule(&rule("close < 100")).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    publish(&bus, &bars(&[10000, 10100, 10200, 9900, 9800])[4..]).await;
    let st = store.clone();
    eventually("an alert from the new rule", move || {
        let st = st.clone();
        Box::pin(async move { st.alerts(&AlertQuery::default()).await.unwrap().len() == 1 })
    })
    .await;
    assert_eq!(
        bus.len(experiment_core::model::EventKind::Alert.topic()),
        1,
        "the alert is published for live streams"
    );

    // Deleted: it stops firing.
    store
        .delete_rule(&RuleId::new("low3").unwrap())
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let mut later = bars(&[10000, 10100, 10200, 9900, 9800, 9700]);
    let sixth = later.split_off(5);
    publish(&bus, &sixth).await;
    let st = store.clone();
    eventually("the sixth bar stored", move || {
        let st = st.clone();
        Box::pin(async move {
            st.daily_bars(&SecurityCode::new("2330").unwrap(), day(1), day(31))
                .await
                .unwrap()
                .len()
                == 6
        })
    })
    .await;
    assert_eq!(
        store.alerts(&AlertQuery::default()).await.unwrap().len(),
        1,
        "no alert after the delete"
    );
    stop.notify_one();
    running.await.unwrap().unwrap();
}

/// A backend where the next write that puts into `fail_table` fails as an outage would
/// (once; the write is rolled back whole).
#[derive(Debug, Default)]
struct FailOnce {
    inner: MemoryKv,
    fail_table: std::sync::Mutex<Option<Table>>,
    failures: AtomicUsize,
}

struct Tripwire<'a> {
    txn: &'a mut dyn Txn,
    table: Option<Table>,
    tripped: bool,
}

impl Txn for Tripwire<'_> {
    fn get(&mut self, table: Table, key: &str) -> Result<Option<Vec<u8>>> {
        self.txn.get(table, key)
    }
    fn put(&mut self, table: Table, key: &str, value: &[u8]) -> Result<()> {
        if self.table == Some(table) {
            self.tripped = true;
            return Err(Error::unavailable("fail-once", "connection reset"));
        }
        self.txn.put(table, key, value)
    }
    fn delete(&mut self, table: Table, key: &str) -> Result<bool> {
        self.txn.delete(table, key)
    }
    fn scan(
        &mut self,
        table: Table,
        from: &str,
        to: &str,
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>> {
        self.txn.scan(table, from, to, reverse, limit)
    }
}

impl KvBackend for FailOnce {
    const NAME: &'static str = "fail-once";
    const BLOCKING: bool = false;
    fn read<R>(&self, f: impl FnOnce(&mut dyn Txn) -> Result<R>) -> Result<R> {
        self.inner.read(f)
    }
    fn write<R>(&self, f: impl FnOnce(&mut dyn Txn) -> Result<R>) -> Result<R> {
        let table = *self.fail_table.lock().unwrap();
        let mut tripped = false;
        let r = self.inner.write(|txn| {
            let mut wire = Tripwire {
                txn,
                table,
                tripped: false,
            };
            let r = f(&mut wire);
            tripped = wire.tripped;
            // The closure may have swallowed the error: fail the transaction anyway.
            if tripped {
                return Err(Error::unavailable("fail-once", "connection reset"));
            }
            r
        });
        if tripped {
            *self.fail_table.lock().unwrap() = None;
            self.failures.fetch_add(1, Ordering::SeqCst);
        }
        r
    }
}

#[tokio::test]
async fn an_alert_is_not_lost_when_recording_it_fails_once() {
    let store = Arc::new(KvStore::from_backend(FailOnce::default()));
    let (bus, worker, sub) = setup(store.clone(), rule("close < 100")).await;
    // Recording bar 2's alert fails once. The redelivery of bar 2 must fire again although
    // the rule's state saw bar 2 already.
    *store.backend().fail_table.lock().unwrap() = Some(Table::Alerts);
    publish(&bus, &bars(&[10000, 9900])).await;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(async move {
        worker
            .run(sub, async {
                stop_rx.await.ok();
            })
            .await
            .unwrap()
    });
    let st = store.clone();
    eventually("the alert recorded after the retry", move || {
        let st = st.clone();
        Box::pin(async move { st.alerts(&AlertQuery::default()).await.unwrap().len() == 1 })
    })
    .await;
    stop_tx.send(()).unwrap();
    let stats = run.await.unwrap();
    assert_eq!(store.backend().failures.load(Ordering::SeqCst), 1);
    assert_eq!(stats.retried, 1, "{stats:?}");
    assert_eq!(stats.alerts, 1, "{stats:?}");
    let due = store
        .claim_notifications(Utc::now(), std::time::Duration::from_secs(60), 10)
        .await
        .unwrap();
    assert_eq!(due.len(), 1, "its notification too");
}

#[tokio::test]
async fn a_quote_that_meets_stored_but_unevaluated_bars_does_not_swallow_their_close() {
    // A lane stores its batch's bars before it evaluates them; a quote of the same code may
    // come in between and build the rule's state from those stored bars. The close of May 5
    // must still fire when its bar is evaluated.
    let store = Arc::new(MemoryStore::new());
    let mut r = rule("close < 100");
    r.frequency = TriggerFrequency::OncePerBar;
    let (bus, worker, mut sub) = setup(store.clone(), r).await;
    let all = bars(&[10000, 10100, 10200, 10300, 9900]);
    store.upsert_daily_bars(&all).await.unwrap(); // stored, not yet evaluated
                                                  // May 6, 09:05, last 150: the rule does not hold on the forming bar.
    let q = quote(6, 9, 5, 15_000, 10_300);
    let out = one(
        &worker,
        &bus,
        &mut sub,
        Event::new("t", q.exchange_time, Payload::Quote(q)),
    )
    .await;
    assert_eq!(out, Outcome::Processed { alerts: 0 });
    // Now the lane evaluates May 5 (close 99): it fires.
    let b = all[4].clone();
    let at = Utc.from_utc_datetime(&b.date.and_hms_opt(6, 0, 0).unwrap());
    let out = one(
        &worker,
        &bus,
        &mut sub,
        Event::new("t", at, Payload::DailyBar(b)),
    )
    .await;
    assert_eq!(out, Outcome::Processed { alerts: 1 });
    let alerts = alerts_of(&store, "low3").await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].price.unwrap().to_string(), "99.00");
}

#[tokio::test]
async fn a_once_rule_fires_once_across_workers_sharing_the_cache() {
    let store = Arc::new(MemoryStore::new());
    let cache = Arc::new(MemoryCache::new());
    let mut r = rule("close < 100");
    r.frequency = TriggerFrequency::Once;
    store.upsert_rule(&r).await.unwrap();
    // Two workers (two processes) loaded the rule before either fired it.
    let (a, b) = (
        Worker::new(store.clone(), cache.clone(), WorkerConfig::default()),
        Worker::new(store.clone(), cache.clone(), WorkerConfig::default()),
    );
    assert!(a.load_rules().await.unwrap().is_empty());
    assert!(b.load_rules().await.unwrap().is_empty());
    let bus = MemoryBus::new();
    let mut sub = bus.subscribe("workers", &[TOPIC]).await.unwrap();
    // Two codes fire on the same day, one on each worker.
    let mut other = bars(&[9800])[0].clone();
    other.code = SecurityCode::new("2317").unwrap();
    let first = bars(&[9900])[0].clone();
    for (w, bar) in [(&a, first), (&b, other)] {
        let at = Utc.from_utc_datetime(&bar.date.and_hms_opt(6, 0, 0).unwrap());
        one(
            w,
            &bus,
            &mut sub,
            Event::new("t", at, Payload::DailyBar(bar)),
        )
        .await;
    }
    assert_eq!(alerts_of(&store, "low3").await.len(), 1, "once means once");
    assert!(
        !store
            .rule(&RuleId::new("low3").unwrap())
            .await
            .unwrap()
            .unwrap()
            .enabled
    );
}
