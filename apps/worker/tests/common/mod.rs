//! What the crash and outage tests share: real `experiment-worker` processes, a webhook
//! receiver that honours `Idempotency-Key`, generated events and the final checks.

#![allow(dead_code)] // each test binary uses its own part

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{NaiveDate, NaiveTime, TimeZone, Utc};
use experiment_core::kafka::KafkaBus;
use experiment_core::model::{
    AlertId, AlertRule, DailyBar, Event, Exchange, NotificationKey, NotificationStatus, Payload,
    RuleId, SecurityCode,
};
use experiment_core::store::{AlertCursor, AlertQuery, Store};
use experiment_core::EventBusExt;
use experiment_worker::bar_time;
use rust_decimal::Decimal;
use wiremock::{Request, Respond, ResponseTemplate};

/// The destination every alert goes to.
pub(crate) const DESTINATION: &str = "hook";

/// An integer from the environment, or `default`.
pub(crate) fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A small deterministic generator, seeded per run (the seed is printed for a replay).
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    /// The next number.
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// A number in `lo..=hi`.
    pub(crate) fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

/// The webhook receiver: honours `Idempotency-Key` (a repeated key gets 409, which the
/// sender counts as delivered), counts every request per key, and can be taken down (503).
#[derive(Clone, Default)]
pub(crate) struct Receiver {
    seen: Arc<Mutex<HashMap<String, usize>>>,
    down: Arc<std::sync::atomic::AtomicBool>,
    refused: Arc<std::sync::atomic::AtomicUsize>,
}

impl Respond for Receiver {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        use std::sync::atomic::Ordering;
        if self.down.load(Ordering::SeqCst) {
            self.refused.fetch_add(1, Ordering::SeqCst);
            return ResponseTemplate::new(503);
        }
        let Some(key) = request
            .headers
            .get("Idempotency-Key")
            .and_then(|v| v.to_str().ok())
        else {
            return ResponseTemplate::new(400);
        };
        let mut seen = self.seen.lock().unwrap();
        let n = seen.entry(key.to_owned()).or_default();
        *n += 1;
        if *n == 1 {
            ResponseTemplate::new(200)
        } else {
            ResponseTemplate::new(409)
        }
    }
}

impl Receiver {
    /// A receiver answering every `POST` of a mock server of its own.
    pub(crate) async fn serve() -> (Receiver, wiremock::MockServer) {
        let server = wiremock::MockServer::start().await;
        let receiver = Receiver::default();
        wiremock::Mock::given(wiremock::matchers::method("POST"))
            .respond_with(receiver.clone())
            .mount(&server)
            .await;
        (receiver, server)
    }

    /// Takes the endpoint down (every request gets 503) or brings it back.
    pub(crate) fn set_down(&self, down: bool) {
        self.down.store(down, std::sync::atomic::Ordering::SeqCst);
    }
    /// Requests refused while down.
    pub(crate) fn refused(&self) -> usize {
        self.refused.load(std::sync::atomic::Ordering::SeqCst)
    }
    /// Requests accepted or answered 409.
    pub(crate) fn requests(&self) -> usize {
        self.seen.lock().unwrap().values().sum()
    }
    /// Distinct keys received.
    pub(crate) fn keys(&self) -> BTreeSet<String> {
        self.seen.lock().unwrap().keys().cloned().collect()
    }
}

/// Day `i` of the generated series.
pub(crate) fn day(i: usize) -> NaiveDate {
    NaiveDate::from_ymd_opt(2020, 1, 1).unwrap() + chrono::Duration::days(i as i64)
}

/// Code number `i`.
pub(crate) fn code(i: usize) -> SecurityCode {
    SecurityCode::new(format!("{}", 1000 + i)).unwrap()
}

/// Whether the rule `close > open` fires on code `c`, day `d`: one bar in ten, and every
/// code's last bar (so that all alerts delivered means every code's last bar processed).
pub(crate) fn fires(c: usize, d: usize, days: usize) -> bool {
    (c + d) % 10 == 0 || d + 1 == days
}

/// The generated bar of code `c`, day `d`.
pub(crate) fn bar(c: usize, d: usize, days: usize) -> DailyBar {
    let close = if fires(c, d, days) { 10_100 } else { 9_900 };
    DailyBar {
        code: code(c),
        exchange: Exchange::Twse,
        date: day(d),
        open: Decimal::new(10_000, 2),
        high: Decimal::new(10_200, 2),
        low: Decimal::new(9_800, 2),
        close: Decimal::new(close, 2),
        volume: 1_000,
        value: Decimal::new(100_000, 0),
        trades: Some(10),
        change: None,
    }
}

/// The event of a bar, stamped after that day's close.
pub(crate) fn bar_event(b: DailyBar) -> Event {
    let at = Utc.from_utc_datetime(&b.date.and_time(NaiveTime::from_hms_opt(6, 0, 0).unwrap()));
    Event::new("reliability-test", at, Payload::DailyBar(b))
}

/// The rule's id.
pub(crate) fn rule_id() -> RuleId {
    RuleId::new("up").unwrap()
}

/// Stores the rule `close > open`, delivered to [`DESTINATION`].
pub(crate) async fn put_rule(store: &dyn Store) {
    let mut rule = AlertRule::new(rule_id(), "up day", "close > open");
    rule.destinations = vec![DESTINATION.into()];
    store.upsert_rule(&rule).await.unwrap();
}

/// The notification keys the run must deliver.
pub(crate) fn expected_keys(codes: usize, days: usize) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for c in 0..codes {
        for d in 0..days {
            if fires(c, d, days) {
                let id = AlertId::derive(&rule_id(), &code(c), bar_time(day(d)));
                out.insert(NotificationKey::derive(id, DESTINATION).to_string());
            }
        }
    }
    out
}

/// Publishes the bars day by day, concurrently within a day, pausing between days.
pub(crate) async fn publish(bus: &KafkaBus, codes: usize, days: usize, pause: Duration) {
    for d in 0..days {
        let sends = (0..codes).map(|c| {
            let event = bar_event(bar(c, d, days));
            async move { bus.publish_event("", &event).await }
        });
        for r in futures::future::join_all(sends).await {
            r.unwrap();
        }
        tokio::time::sleep(pause).await;
    }
}

/// The worker configuration file the tests share: a webhook destination at `url`, short
/// leases, small outbox batches, a fast group session.
pub(crate) fn write_config(
    dir: &Path,
    url: &str,
    outbox_batch: usize,
    bus_properties: &[(&str, &str)],
) -> PathBuf {
    let extra: String = bus_properties
        .iter()
        .map(|(k, v)| format!("{k:?} = {v:?}\n"))
        .collect();
    let path = dir.join("experiment.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[bus]
partitions = 6
[bus.properties]
"session.timeout.ms" = "6000"
"heartbeat.interval.ms" = "1000"
# The rebalance timeout: a member killed mid-rebalance holds the group this long at most.
"max.poll.interval.ms" = "15000"
{extra}
[worker]
outbox_lease_secs = 3
outbox_batch = {outbox_batch}
refresh_secs = 1

[[destinations]]
name = "{DESTINATION}"
kind = "webhook"
url = "{url}/hook"
secret = "reliability-test-secret"
rate_per_second = 10000
retries = 0
"#
        ),
    )
    .unwrap();
    path
}

/// `experiment-worker` processes in slots, started with the same arguments.
pub(crate) struct Workers {
    /// Arguments of every start.
    pub(crate) args: Vec<String>,
    /// Environment of every start.
    pub(crate) env: Vec<(String, String)>,
    /// Where each start's log goes.
    pub(crate) logs: PathBuf,
    running: Vec<Option<Child>>,
    since: Vec<Option<Instant>>,
    started: usize,
}

impl Workers {
    /// `slots` empty slots.
    pub(crate) fn new(
        args: Vec<String>,
        env: Vec<(String, String)>,
        logs: PathBuf,
        slots: usize,
    ) -> Self {
        std::fs::create_dir_all(&logs).unwrap();
        Workers {
            args,
            env,
            logs,
            running: (0..slots).map(|_| None).collect(),
            since: (0..slots).map(|_| None).collect(),
            started: 0,
        }
    }

    /// Starts a worker in `slot`.
    pub(crate) fn start(&mut self, slot: usize) {
        self.started += 1;
        let log = std::fs::File::create(
            self.logs
                .join(format!("worker-{:02}-slot{slot}.log", self.started)),
        )
        .unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_experiment-worker"));
        cmd.args(&self.args)
            .env_remove("EXPERIMENT_REDIS_URL")
            .env_remove("EXPERIMENT_MONGODB_URI")
            .env_remove("EXPERIMENT_KAFKA_BROKERS")
            .env_remove("EXPERIMENT_CONFIG")
            .stdout(Stdio::null())
            .stderr(Stdio::from(log));
        for (k, v) in &self.env {
            cmd.env(k, v);
        }

        self.running[slot] = Some(cmd.spawn().unwrap());
        self.since[slot] = Some(Instant::now());
    }

    /// SIGKILLs the worker in `slot`; whether one ran there.
    pub(crate) fn kill(&mut self, slot: usize) -> bool {
        match self.running[slot].take() {
            Some(mut child) => {
                child.kill().unwrap();
                child.wait().unwrap();
                true
            }
            None => false,
        }
    }

    /// Events processed by the workers that ran in `slot`, as their progress lines report.
    pub(crate) fn processed_in(&self, slot: usize) -> usize {
        let Ok(entries) = std::fs::read_dir(&self.logs) else {
            return 0;
        };
        entries
            .flatten()
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .ends_with(&format!("-slot{slot}.log"))
            })
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .filter_map(|text| {
                text.lines()
                    .filter_map(|l| l.split("processed=").nth(1))
                    .filter_map(|rest| rest.split_whitespace().next()?.parse::<usize>().ok())
                    .max()
            })
            .sum()
    }

    /// Whether a worker runs in `slot`.
    pub(crate) fn is_running(&self, slot: usize) -> bool {
        self.running[slot].is_some()
    }

    /// How long the worker in `slot` has been running.
    pub(crate) fn up_for(&self, slot: usize) -> Duration {
        match (&self.running[slot], self.since[slot]) {
            (Some(_), Some(t)) => t.elapsed(),
            _ => Duration::ZERO,
        }
    }

    /// Panics if a worker exited by itself.
    pub(crate) fn check_alive(&mut self) {
        for (i, c) in self.running.iter_mut().enumerate() {
            if let Some(child) = c {
                if let Some(status) = child.try_wait().unwrap() {
                    panic!(
                        "worker in slot {i} exited by itself ({status}); logs:\n{}",
                        tail_logs(&self.logs)
                    );
                }
            }
        }
    }

    /// SIGTERM to each, then waits (30 s at most): a clean stop.
    pub(crate) fn stop_all(&mut self) {
        for slot in 0..self.running.len() {
            self.stop(slot);
        }
    }

    /// SIGTERM to the worker in `slot`, then waits (30 s at most): it leaves the group.
    pub(crate) fn stop(&mut self, slot: usize) {
        {
            if let Some(mut child) = self.running[slot].take() {
                Command::new("kill")
                    .args(["-TERM", &child.id().to_string()])
                    .status()
                    .unwrap();
                let deadline = Instant::now() + Duration::from_secs(30);
                while child.try_wait().unwrap().is_none() {
                    if Instant::now() > deadline {
                        child.kill().ok();
                        child.wait().ok();
                        panic!("a worker did not stop on SIGTERM within 30 s");
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for c in self.running.iter_mut() {
            if let Some(mut child) = c.take() {
                child.kill().ok();
                child.wait().ok();
            }
        }
    }
}

/// The last lines of every log in `dir`.
pub(crate) fn tail_logs(dir: &Path) -> String {
    let mut out = String::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let text = std::fs::read_to_string(e.path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        out += &format!("--- {}\n", e.file_name().to_string_lossy());
        for l in &lines[lines.len().saturating_sub(12)..] {
            out += l;
            out.push('\n');
        }
    }
    out
}

/// Every bar stored, exactly the expected alerts, each notification recorded as sent.
pub(crate) async fn verify(store: &dyn Store, codes: usize, days: usize) {
    for c in 0..codes {
        let bars = store
            .daily_bars(&code(c), day(0), day(days - 1))
            .await
            .unwrap();
        assert_eq!(bars.len(), days, "every bar of {} stored", code(c));
    }
    let mut ids = BTreeSet::new();
    let mut query = AlertQuery {
        limit: 1000,
        ..AlertQuery::default()
    };
    loop {
        let page = store.alerts(&query).await.unwrap();
        let Some(last) = page.last() else { break };
        query.after = Some(AlertCursor {
            triggered_at: last.triggered_at,
            id: last.id,
        });
        for a in &page {
            assert!(ids.insert(a.id), "alert {} listed twice", a.id);
        }
    }
    let expected = expected_keys(codes, days);
    assert_eq!(ids.len(), expected.len(), "each alert exactly once");
    for id in ids {
        let key = NotificationKey::derive(id, DESTINATION);
        assert!(expected.contains(&key.to_string()), "unexpected alert {id}");
        let n = store
            .notification(&key)
            .await
            .unwrap()
            .expect("its notification");
        assert_eq!(n.status, NotificationStatus::Sent, "{key}");
    }
}

/// Waits (bounded by `deadline`) until the receiver has every expected key, checking the
/// workers stay up.
pub(crate) async fn wait_delivered(
    receiver: &Receiver,
    expected: &BTreeSet<String>,
    workers: &mut Workers,
    deadline: Instant,
) {
    while !receiver.keys().is_superset(expected) {
        workers.check_alive();
        assert!(
            Instant::now() < deadline,
            "not delivered in time: {} of {}; logs:\n{}",
            receiver.keys().intersection(expected).count(),
            expected.len(),
            tail_logs(&workers.logs)
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
