//! The worker's testable pieces: turn deliveries into stored data, alerts and outbox entries.
//!
//! For each delivery the worker decodes the event (our envelope, or the original services'
//! `asset.info.view.v1` messages), writes it to the store idempotently, evaluates the alert
//! rules that watch the code, records alerts together with their notifications (the outbox),
//! and only then acks. A delivery that cannot be decoded or is invalid is logged with its
//! position and skipped; a transient store failure is nacked and retried after a backoff.
//!
//! Rules are written in the rule language of `experiment-indicators` (e.g.
//! `crosses_above(sma(close, 5), sma(close, 20)) and rsi(14) < 70`, or the seed's
//! `new_low(7d)`) and evaluated on daily bars with the rule's trigger frequency:
//!
//! - `once_per_bar_close` (the default): when the day's bar closes;
//! - `once_per_bar`: on every quote, against the forming day bar (open, high, low, last and
//!   volume so far), at most once per day — the close counts as one more update;
//! - `every_time`: on every quote where it holds (and at the close), each a separate alert;
//!   a cooldown keeps this from flooding;
//! - `once`: the first time it holds, intraday or at the close; then the rule is disabled.
//!
//! A forming bar is evaluated on a copy of the rule's state (`peek`), so intraday quotes never
//! move the state that closed bars build. Cooldown, expiry, quiet hours and the message
//! template apply to all of them. Each alert records the numbers the rule looked at. A rule
//! that does not parse is reported by [`Worker::load_rules`] with the column at fault, and
//! not evaluated.
//!
//! [`Worker::run`] gives each partition a task of its own (a lane): partitions in parallel,
//! each in order, each in batches whose data is stored in one write. Rule state lives per
//! code behind the code's own lock and advances only when the bar's effects are stored (a
//! failure drops it, to be rebuilt from the stored bars on redelivery).
//!
//! The `experiment-worker` binary runs it on Kafka; the all-in-one `experiment` CLI wires it
//! to the in-memory bus.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Utc};
use experiment_core::bus::{Delivery, EventBus, Record, Subscription};
use experiment_core::model::{
    Alert, AlertId, AlertRule, DailyBar, Event, Notification, Payload, Quote, RuleId, SecurityCode,
    TriggerFrequency, MARKET_TZ,
};
use experiment_core::seed::{AssetInfoView, SEED_TOPIC};
use experiment_core::template::{alert_value, Template};
use experiment_core::{Cache, CacheExt, Error, Result, Store};
use experiment_indicators::eval::Evaluator;
use experiment_indicators::rule::Rule;
use futures::FutureExt;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

/// Suffix of the dead-letter topic of a topic: `experiment.quotes.v1` → `experiment.quotes.v1.dlq`.
pub const DEAD_LETTER_SUFFIX: &str = ".dlq";

/// Header naming why a record was dead-lettered.
pub const DEAD_LETTER_REASON: &str = "x-dead-letter-reason";

/// The message used when a rule has none.
pub const DEFAULT_MESSAGE: &str = "{{code}} {{name}}: {{rule}} (close {{close}}, {{change_pct}}%)";

/// Worker settings.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// How long the latest quote of a code stays in the shared cache. Default 1 day.
    pub quote_ttl: Duration,
    /// First wait after a transient failure; doubles up to `max_backoff`. Default 200 ms.
    pub min_backoff: Duration,
    /// Longest wait after repeated transient failures. Default 30 s.
    pub max_backoff: Duration,
    /// How often [`Worker::run`] reloads the rules from the store, so rules added, changed,
    /// disabled or deleted (through the API) take effect without a restart. Default 5 s.
    pub rules_refresh: Duration,
    /// Most deliveries of one partition [`Worker::run`] takes at once: their bars and quotes
    /// are stored in one write. Default 256.
    pub batch: usize,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            quote_ttl: Duration::from_secs(86_400),
            min_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(30),
            rules_refresh: Duration::from_secs(5),
            batch: 256,
        }
    }
}

/// What happened to one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Processed and acked; `alerts` new alerts were recorded.
    Processed {
        /// New alerts recorded.
        alerts: usize,
    },
    /// Not usable (undecodable, invalid): logged and acked so the stream goes on.
    Skipped {
        /// Where and why.
        reason: String,
    },
    /// A transient failure: nacked, to be redelivered.
    Retry {
        /// The error.
        reason: String,
    },
}

/// Running totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WorkerStats {
    /// Deliveries processed.
    pub processed: usize,
    /// Alerts recorded.
    pub alerts: usize,
    /// Deliveries skipped as unusable.
    pub skipped: usize,
    /// Deliveries nacked for a retry.
    pub retried: usize,
}

#[derive(Debug, Clone)]
struct CompiledRule {
    rule: AlertRule,
    parsed: Rule,
    template: Template,
    // Changes when the rule's expression changes: per-code state built for another
    // generation is rebuilt.
    generation: u64,
}

/// The active rules and a version that changes whenever they do.
#[derive(Debug, Default)]
struct RuleSet {
    rules: Vec<CompiledRule>,
    version: u64,
}

impl RuleSet {
    fn watching<'a>(
        &'a self,
        code: &'a SecurityCode,
        keep: impl Fn(&CompiledRule) -> bool + 'a,
    ) -> Vec<&'a CompiledRule> {
        self.rules
            .iter()
            .filter(|c| c.rule.watches(code) && keep(c))
            .collect()
    }
}

#[derive(Debug)]
struct CodeState {
    eval: Evaluator,
    last: Option<(NaiveDate, Decimal)>,
    generation: u64,
    // Built by a quote (for that trading day) from whatever bars were stored then, possibly
    // ahead of the bars this worker has evaluated: quotes may use it that day, closed bars
    // never do (they rebuild it), so no close is skipped as "already evaluated".
    provisional: Option<NaiveDate>,
}

/// Every rule's state for one code, behind the code's own lock: codes never wait for each
/// other, and one code's bars and quotes (two topics, two lanes) take turns.
#[derive(Debug, Default)]
struct CodeStates {
    rules: HashMap<RuleId, CodeState>,
    // The rule-set version these states were checked against.
    version: u64,
    // The lane whose closed bars built these states. Bars from another lane (the partition
    // moved away and back, or the worker restarted it) mean another worker may have seen
    // bars in between: the states are rebuilt from the store.
    lane: Option<Lane>,
}

impl CodeStates {
    /// Drops the states of rules that are gone or whose expression changed.
    /// Drops the states of rules that are gone, whose expression changed, or that no longer
    /// watch `code` (widened again later, they must not resume over the gap).
    fn sync(&mut self, set: &RuleSet, code: &SecurityCode) {
        if self.version == set.version {
            return;
        }
        self.rules.retain(|id, st| {
            set.rules
                .iter()
                .any(|c| &c.rule.id == id && c.generation == st.generation && c.rule.watches(code))
        });
        self.version = set.version;
    }
}

/// A partition this worker consumes, and which assignment of it (a new generation each time
/// the worker starts consuming it).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Lane {
    topic: String,
    partition: u32,
    generation: u64,
}

/// Calendar days of stored history replayed into a rule's state the first time a code is
/// seen (about 530 trading days: enough for long averages to settle).
const HISTORY_DAYS: i64 = 800;

/// How often [`Worker::run`] asks the bus which partitions it still owns.
const ASSIGNMENT_CHECK: Duration = Duration::from_millis(500);

/// How often [`Worker::run`] logs its totals (when they changed).
const PROGRESS_LOG: Duration = Duration::from_secs(10);

fn indicator_bar(b: &DailyBar) -> experiment_indicators::Bar {
    experiment_indicators::Bar {
        open: to_f64(b.open),
        high: to_f64(b.high),
        low: to_f64(b.low),
        close: to_f64(b.close),
        volume: b.volume as f64,
    }
}

/// What the rule looked at when it fired.
struct Looked {
    values: std::collections::BTreeMap<String, f64>,
    primary: Option<f64>,
}

impl Looked {
    fn of(e: &Evaluator) -> Self {
        // JSON has no NaN or infinity: a value that is not finite could be written but never
        // read back, and would make the alert (and its outbox entries) unreadable.
        Looked {
            values: e
                .values()
                .into_iter()
                .filter(|(_, v)| v.is_finite())
                .collect(),
            primary: e.primary().map(|(_, v)| v).filter(|v| v.is_finite()),
        }
    }
}

/// One firing of a rule for a code.
struct Fired<'a> {
    code: &'a SecurityCode,
    /// Start of the (daily) bar it fired on.
    bar_at: DateTime<Utc>,
    /// The instant its alert id derives from: the bar, or the quote for every-time rules.
    id_at: DateTime<Utc>,
    at: DateTime<Utc>,
    price: Decimal,
    change_pct: Option<Decimal>,
    looked: Looked,
}

/// Consumes deliveries into the store and the outbox.
///
/// Cloning is cheap and shares everything (rules, state, totals): [`Worker::run`] hands a
/// clone to each partition's task.
#[derive(Debug, Clone)]
pub struct Worker {
    store: Arc<dyn Store>,
    cache: Arc<dyn Cache>,
    config: WorkerConfig,
    // Swapped whole on reload; each event takes a cheap Arc clone, not a copy of every rule.
    rules: Arc<StdMutex<Arc<RuleSet>>>,
    codes: Arc<StdMutex<HashMap<SecurityCode, Arc<Mutex<CodeStates>>>>>,
    stats: Arc<StdMutex<WorkerStats>>,
    dead_letters: Option<Arc<dyn EventBus>>,
    alert_events: Option<(Arc<dyn EventBus>, String)>,
    new_alert: Option<Arc<tokio::sync::Notify>>,
    // What the last load saw (ids, expressions, options), to log only changes.
    rules_seen: Arc<Mutex<Option<String>>>,
    generations: Arc<AtomicU64>,
}

/// A daily bar's instant: the start of its calendar day in Taipei.
pub fn bar_time(date: NaiveDate) -> DateTime<Utc> {
    date.and_time(NaiveTime::MIN)
        .and_local_timezone(MARKET_TZ)
        .single()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| date.and_time(NaiveTime::MIN).and_utc())
}

fn lock<T>(m: &StdMutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Nothing panics while holding these locks; if something did, the data is still whole.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Worker {
    /// A worker over `store` and `cache`.
    pub fn new(store: Arc<dyn Store>, cache: Arc<dyn Cache>, config: WorkerConfig) -> Self {
        Worker {
            store,
            cache,
            config,
            rules: Arc::new(StdMutex::new(Arc::new(RuleSet::default()))),
            codes: Arc::new(StdMutex::new(HashMap::new())),
            stats: Arc::new(StdMutex::new(WorkerStats::default())),
            dead_letters: None,
            alert_events: None,
            new_alert: None,
            rules_seen: Arc::new(Mutex::new(None)),
            generations: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Wakes `signal` whenever an alert with notifications is recorded, so an outbox sender in
    /// the same process delivers it at once instead of at its next poll.
    pub fn with_alert_signal(mut self, signal: Arc<tokio::sync::Notify>) -> Self {
        self.new_alert = Some(signal);
        self
    }

    /// Publishes every new alert as an `alert.raised` event on `bus` (topic prefix `prefix`)
    /// once it is recorded, for live streams and other consumers. Publishing is best effort:
    /// the alert and its notifications are already stored.
    pub fn with_alert_events(mut self, bus: Arc<dyn EventBus>, prefix: impl Into<String>) -> Self {
        self.alert_events = Some((bus, prefix.into()));
        self
    }

    /// Publishes every unusable record to its topic's dead-letter topic (`<topic>.dlq`) on
    /// `bus` before acking it, with the reason and the original position in headers, so
    /// nothing is dropped silently. If the dead-letter publish fails, the record is nacked
    /// instead of acked.
    pub fn with_dead_letters(mut self, bus: Arc<dyn EventBus>) -> Self {
        self.dead_letters = Some(bus);
        self
    }

    fn next_generation(&self) -> u64 {
        self.generations.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn rule_set(&self) -> Arc<RuleSet> {
        lock(&self.rules).clone()
    }

    fn code_states(&self, code: &SecurityCode) -> Arc<Mutex<CodeStates>> {
        lock(&self.codes).entry(code.clone()).or_default().clone()
    }

    async fn dead_letter(&self, delivery: &Delivery, reason: &str) -> Result<()> {
        let Some(bus) = &self.dead_letters else {
            return Ok(());
        };
        let record = Record {
            key: delivery.record.key.clone(),
            payload: delivery.record.payload.clone(),
            headers: delivery.record.headers.clone(),
        }
        .with_header(DEAD_LETTER_REASON, reason)
        .with_header("x-original-topic", delivery.topic.as_str())
        .with_header("x-original-partition", delivery.partition.to_string())
        .with_header("x-original-offset", delivery.offset.to_string());
        bus.publish(&format!("{}{DEAD_LETTER_SUFFIX}", delivery.topic), record)
            .await
            .map(|_| ())
    }

    /// (Re)loads the enabled rules from the store. Returns the rules that cannot be evaluated,
    /// each with the reason; the others are active.
    ///
    /// # Errors
    /// Store errors.
    ///
    /// The state of a rule whose expression changed, or that is gone, is dropped: it is
    /// rebuilt from stored history the next time the rule meets the code. Logs how many rules
    /// are active and which were skipped, when that changed since the last load.
    pub async fn load_rules(&self) -> Result<Vec<(RuleId, String)>> {
        let stored = self.store.rules().await?;
        let fingerprint = serde_json::to_string(&stored).unwrap_or_default();
        let mut seen = self.rules_seen.lock().await;
        let old = self.rule_set();
        let mut active = Vec::new();
        let mut rejected = Vec::new();
        for rule in stored.into_iter().filter(|r| r.enabled) {
            let same = old
                .rules
                .iter()
                .find(|o| o.rule.id == rule.id && o.rule.expression == rule.expression)
                .map(|o| o.generation);
            match compile(&rule, same.unwrap_or_else(|| self.next_generation())) {
                Ok(c) => active.push(c),
                Err(reason) => rejected.push((rule.id.clone(), reason)),
            }
        }
        if seen.as_deref() == Some(fingerprint.as_str()) {
            return Ok(rejected);
        }
        tracing::info!(
            active = active.len(),
            skipped = rejected.len(),
            "rules loaded: {} active{}",
            active.len(),
            if active.is_empty() {
                " (no rule: events are stored, nothing can fire; add one with POST /v1/rules or experiment rule add)"
            } else {
                ""
            }
        );
        for (id, why) in &rejected {
            tracing::warn!(rule = %id, reason = %why, "rule skipped: it cannot be evaluated");
        }
        *lock(&self.rules) = Arc::new(RuleSet {
            rules: active,
            version: self.next_generation(),
        });
        *seen = Some(fingerprint);
        Ok(rejected)
    }

    /// Totals so far.
    pub async fn stats(&self) -> WorkerStats {
        *lock(&self.stats)
    }

    /// Handles one delivery and acks or nacks it.
    pub async fn process(&self, delivery: Delivery) -> Outcome {
        let result = async {
            let event = decode(&delivery)?;
            self.write(&[&event]).await?;
            self.effects(&event, None).await
        }
        .await;
        self.settle(delivery, result).await
    }

    /// Turns a delivery's result into its outcome: counted, logged, dead-lettered when
    /// unusable, then acked or nacked.
    async fn settle(&self, delivery: Delivery, result: Result<usize>) -> Outcome {
        let mut outcome = match result {
            Ok(alerts) => Outcome::Processed { alerts },
            Err(e) if e.is_transient() => Outcome::Retry {
                reason: e.to_string(),
            },
            Err(e) => Outcome::Skipped {
                reason: format!("{}: {e}", delivery.position()),
            },
        };
        if let Outcome::Skipped { reason } = &outcome {
            if let Err(e) = self.dead_letter(&delivery, reason).await {
                outcome = Outcome::Retry {
                    reason: format!("dead-lettering failed: {e}"),
                };
            }
        }
        let mut stats = lock(&self.stats);
        match &outcome {
            Outcome::Processed { alerts } => {
                stats.processed += 1;
                stats.alerts += alerts;
                delivery.ack();
            }
            Outcome::Skipped { reason } => {
                stats.skipped += 1;
                tracing::warn!(%reason, "skipping unusable event");
                delivery.ack();
            }
            Outcome::Retry { reason } => {
                stats.retried += 1;
                tracing::warn!(position = %delivery.position(), %reason, "transient failure; will retry");
                delivery.nack();
            }
        }
        outcome
    }

    /// Processes deliveries until `shutdown` completes.
    ///
    /// Each partition gets a task of its own (a lane): partitions are processed in parallel,
    /// each strictly in order. A lane takes what has arrived (up to
    /// [`WorkerConfig::batch`]), stores the batch's bars and quotes in one write per kind,
    /// then evaluates the rules event by event, and acks each event once its effects are
    /// stored. A transient failure nacks the event: the lane drops what it holds after it
    /// (all of it comes again, in order) and backs off exponentially, so an outage never
    /// becomes a tight retry loop. Partitions that move to another worker stop their lane,
    /// and rule state built from them is rebuilt from the store if they come back.
    ///
    /// On shutdown each lane finishes the batch in hand, then the subscription commits what
    /// was acked and leaves the group.
    ///
    /// # Errors
    /// When the subscription itself fails.
    pub async fn run(
        &self,
        mut subscription: Box<dyn Subscription>,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<WorkerStats> {
        tokio::pin!(shutdown);
        // A zero period would make `interval` panic: a few milliseconds is as often as is useful.
        let mut refresh =
            tokio::time::interval(self.config.rules_refresh.max(Duration::from_millis(10)));
        refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        refresh.tick().await;
        let mut assignment = tokio::time::interval(ASSIGNMENT_CHECK);
        assignment.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut progress = tokio::time::interval(PROGRESS_LOG);
        progress.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut reported = WorkerStats::default();
        let stop_all = CancellationToken::new();
        let mut lanes: HashMap<(String, u32), LaneHandle> = HashMap::new();
        // Lanes that were stopped but may still be finishing a batch: a new lane of the same
        // partition waits for its predecessor, so a partition is never processed twice at once.
        let mut finishing: HashMap<(String, u32), tokio::task::JoinHandle<()>> = HashMap::new();
        let mut result = Ok(());
        'main: loop {
            let delivery = tokio::select! {
                biased;
                _ = &mut shutdown => break,
                _ = refresh.tick() => {
                    if let Err(e) = self.load_rules().await {
                        tracing::warn!(error = %e, "could not reload the rules; keeping the current ones");
                    }
                    continue;
                }
                _ = progress.tick() => {
                    let now = *lock(&self.stats);
                    if now != reported {
                        tracing::info!(
                            processed = now.processed,
                            alerts = now.alerts,
                            skipped = now.skipped,
                            retried = now.retried,
                            partitions = lanes.len(),
                            "progress"
                        );
                        reported = now;
                    }
                    continue;
                }
                _ = assignment.tick() => {
                    match subscription.assignment() {
                        Ok(owned) => {
                            let revoked: Vec<(String, u32)> = lanes
                                .keys()
                                .filter(|k| !owned.contains(k))
                                .cloned()
                                .collect();
                            for key in revoked {
                                tracing::debug!(topic = %key.0, partition = key.1, "partition revoked: its lane stops");
                                if let Some(lane) = lanes.remove(&key) {
                                    lane.stop.cancel();
                                    // Awaited by a successor lane of the same partition, so the
                                    // two never run at once.
                                    finishing.insert(key.clone(), lane.task);
                                }
                                self.forget_partition(&key.0, key.1);
                            }
                        }
                        Err(e) => tracing::debug!(error = %e, "could not read the assignment"),
                    }
                    finishing.retain(|_, h| !h.is_finished());
                    continue;
                }
                d = subscription.next() => match d {
                    Ok(d) => d,
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                },
            };
            let key = (delivery.topic.clone(), delivery.partition);
            let mut delivery = Some(delivery);
            // At most twice: a lane that ended by itself (it cannot, short of a bug) is
            // replaced once.
            for _ in 0..2 {
                let tx = lanes
                    .entry(key.clone())
                    .or_insert_with(|| {
                        let previous = finishing.remove(&key);
                        self.spawn_lane(&key, stop_all.child_token(), previous)
                    })
                    .tx
                    .clone();
                let Some(d) = delivery.take() else { break };
                tokio::select! {
                    biased;
                    _ = &mut shutdown => break 'main,
                    sent = tx.send(d) => match sent {
                        Ok(()) => break,
                        Err(tokio::sync::mpsc::error::SendError(d)) => {
                            tracing::error!(topic = %key.0, partition = key.1, "a partition's task ended; starting it again");
                            if let Some(old) = lanes.remove(&key) {
                                finishing.insert(key.clone(), old.task);
                            }
                            delivery = Some(d);
                        }
                    },
                }
            }
            if let Some(d) = delivery {
                // Given back rather than dropped: it comes again, in order.
                d.nack();
            }
        }
        // Each lane finishes the batch in hand; what it has not started stays unacked and is
        // delivered again to whoever owns the partition next.
        stop_all.cancel();
        for (_, lane) in lanes.drain() {
            drop(lane.tx);
            if let Err(e) = lane.task.await {
                tracing::error!(error = %e, "a partition's task failed");
            }
        }
        for (_, task) in finishing.drain() {
            task.await.ok();
        }
        subscription.close().await?;
        result?;
        Ok(self.stats().await)
    }

    /// Drops the rule state that bars of a partition this worker no longer owns built: the
    /// memory goes, and should the partition come back, the state is rebuilt from the store.
    /// (A state in use right now is left; the lane check rebuilds it anyway.)
    fn forget_partition(&self, topic: &str, partition: u32) {
        lock(&self.codes).retain(|_, states| match states.try_lock() {
            Ok(s) => !s
                .lane
                .as_ref()
                .is_some_and(|l| l.topic == topic && l.partition == partition),
            Err(_) => true,
        });
    }

    fn spawn_lane(
        &self,
        key: &(String, u32),
        stop: CancellationToken,
        previous: Option<tokio::task::JoinHandle<()>>,
    ) -> LaneHandle {
        let capacity = self.config.batch.max(1) * 2;
        let (tx, rx) = tokio::sync::mpsc::channel(capacity);
        let lane = Lane {
            topic: key.0.clone(),
            partition: key.1,
            generation: self.next_generation(),
        };
        let worker = self.clone();
        let token = stop.clone();
        let task = tokio::spawn(async move {
            if let Some(p) = previous {
                p.await.ok();
            }
            worker.lane(rx, lane, token).await;
        });
        LaneHandle { tx, task, stop }
    }

    /// One partition's loop: batches in order, a nacked event rewinds the lane.
    async fn lane(
        &self,
        mut rx: tokio::sync::mpsc::Receiver<Delivery>,
        lane: Lane,
        stop: CancellationToken,
    ) {
        let mut backoff = self.config.min_backoff;
        // After a nack at offset `o`, records after `o` already handed out come again after
        // `o` itself: the stale copies are dropped (unacked) until `o` returns.
        let mut rewind: Option<u64> = None;
        let max = self.config.batch.max(1);
        loop {
            let first = tokio::select! {
                biased;
                _ = stop.cancelled() => return,
                d = rx.recv() => match d {
                    Some(d) => d,
                    None => return,
                },
            };
            let mut batch = Vec::with_capacity(max.min(64));
            batch.push(first);
            while batch.len() < max {
                match rx.try_recv() {
                    Ok(d) => batch.push(d),
                    Err(_) => break,
                }
            }
            let batch: Vec<Delivery> = batch
                .into_iter()
                .filter(|d| match rewind {
                    Some(o) if d.offset > o => false,
                    Some(_) => {
                        rewind = None;
                        true
                    }
                    None => true,
                })
                .collect();
            if batch.is_empty() {
                continue;
            }
            tracing::trace!(topic = %lane.topic, partition = lane.partition, events = batch.len(), "batch");
            match self.process_batch(batch, &lane).await {
                Some(offset) => {
                    rewind = Some(offset);
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(self.config.max_backoff);
                }
                None => backoff = self.config.min_backoff,
            }
        }
    }

    /// Processes a lane's batch in order. Returns the offset given back when a transient
    /// failure stopped the batch; the deliveries after it are dropped unacked (they come
    /// again after it).
    async fn process_batch(&self, batch: Vec<Delivery>, lane: &Lane) -> Option<u64> {
        let decoded: Vec<Result<Event>> = batch.iter().map(decode).collect();
        let events: Vec<&Event> = decoded.iter().filter_map(|e| e.as_ref().ok()).collect();
        // The batch's data in as few writes as the store allows. A write refused for a reason
        // other than an outage falls back to one event at a time, so only the event at
        // fault is skipped.
        let written = match self.write(&events).await {
            Ok(()) => true,
            Err(e) if e.is_transient() => {
                let first = batch.into_iter().next()?;
                let offset = first.offset;
                self.settle(first, Err(e)).await;
                return Some(offset);
            }
            Err(e) => {
                tracing::debug!(error = %e, "a batch write was refused; writing one event at a time");
                false
            }
        };
        for (delivery, event) in batch.into_iter().zip(decoded) {
            let result = match event {
                Err(e) => Err(e),
                Ok(event) => {
                    let effects = async {
                        if !written {
                            self.write(&[&event]).await?;
                        }
                        self.effects(&event, Some(lane)).await
                    };
                    // A panic on one event (a bug: no external data may cause one) skips that
                    // event, dead-lettered with the reason, instead of stopping the partition.
                    match std::panic::AssertUnwindSafe(effects).catch_unwind().await {
                        Ok(r) => r,
                        Err(panic) => {
                            // Its rules may be half advanced: rebuilt from the store next time.
                            if let Some(code) = event_code(&event) {
                                lock(&self.codes).remove(code);
                            }
                            Err(Error::invalid(
                                "event",
                                format!("processing it panicked: {}", panic_message(&panic)),
                            ))
                        }
                    }
                }
            };
            let offset = delivery.offset;
            if let Outcome::Retry { .. } = self.settle(delivery, result).await {
                return Some(offset);
            }
        }
        None
    }

    /// Stores the events' data: bars in one upsert, quotes in one write (and the newest of
    /// each code in the cache), securities in one upsert.
    async fn write(&self, events: &[&Event]) -> Result<()> {
        let mut bars = Vec::new();
        let mut quotes = Vec::new();
        let mut securities = Vec::new();
        for e in events {
            match &e.payload {
                Payload::DailyBar(b) => bars.push(b.clone()),
                Payload::Quote(q) => quotes.push(q.clone()),
                Payload::Security(s) => securities.push(s.clone()),
                // Intraday bars and alerts from other workers need nothing from this worker yet.
                _ => {}
            }
        }
        if !bars.is_empty() {
            self.store.upsert_daily_bars(&bars).await?;
        }
        if !securities.is_empty() {
            self.store.upsert_securities(&securities).await?;
        }
        if !quotes.is_empty() {
            let kept = self.store.put_quotes(&quotes).await?;
            // The cache gets each code's newest kept quote, once.
            let mut newest: HashMap<&SecurityCode, &Quote> = HashMap::new();
            for (q, _) in quotes.iter().zip(kept).filter(|(_, k)| *k) {
                let e = newest.entry(&q.code).or_insert(q);
                if q.exchange_time >= e.exchange_time {
                    *e = q;
                }
            }
            for q in newest.into_values() {
                self.cache
                    .set_latest_quote(q, Some(self.config.quote_ttl))
                    .await?;
            }
        }
        Ok(())
    }

    /// Evaluates the rules an event concerns, once its data is stored.
    async fn effects(&self, event: &Event, lane: Option<&Lane>) -> Result<usize> {
        match &event.payload {
            Payload::DailyBar(bar) => self.evaluate(bar, event.time, lane).await,
            Payload::Quote(q) => self.evaluate_quote(q, event.time).await,
            _ => Ok(0),
        }
    }

    async fn evaluate(
        &self,
        bar: &DailyBar,
        at: DateTime<Utc>,
        lane: Option<&Lane>,
    ) -> Result<usize> {
        let set = self.rule_set();
        let rules = set.watching(&bar.code, |_| true);
        if rules.is_empty() {
            return Ok(0);
        }
        let states = self.code_states(&bar.code);
        let mut states = states.lock().await;
        states.sync(&set, &bar.code);
        // States a quote built may be ahead of the bars evaluated here: rebuild them.
        states.rules.retain(|_, st| st.provisional.is_none());
        if let Some(lane) = lane {
            if states.lane.as_ref().is_some_and(|l| l != lane) {
                states.rules.clear();
            }
            states.lane = Some(lane.clone());
        }
        self.restore(&mut states, &rules, &bar.code, bar.date, None)
            .await?;
        let mut recorded = 0;
        for c in rules {
            match self.check(&mut states, c, bar, at).await {
                Ok(n) => recorded += n,
                Err(e) => {
                    // The rule's state has moved past this bar, but its effects are not all
                    // stored: forget the state, so the redelivery (this error nacks the event)
                    // rebuilds it from the stored bars before this one and fires again. The
                    // alert's derived id keeps that from doubling anything.
                    states.rules.remove(&c.rule.id);
                    return Err(e);
                }
            }
        }
        Ok(recorded)
    }

    /// Builds the missing rule states of `code` from up to [`HISTORY_DAYS`] of stored bars
    /// before `date` (one read for all of them), so a restart never starts cold.
    async fn restore(
        &self,
        states: &mut CodeStates,
        rules: &[&CompiledRule],
        code: &SecurityCode,
        date: NaiveDate,
        provisional: Option<NaiveDate>,
    ) -> Result<()> {
        let missing: Vec<&&CompiledRule> = rules
            .iter()
            .filter(|c| !states.rules.contains_key(&c.rule.id))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let from = date
            .checked_sub_signed(chrono::Duration::days(HISTORY_DAYS))
            .unwrap_or(NaiveDate::MIN);
        let history = match date.pred_opt().filter(|to| *to >= from) {
            Some(to) => self.store.daily_bars(code, from, to).await?,
            None => Vec::new(),
        };
        for c in missing {
            let mut st = CodeState {
                eval: Evaluator::new(&c.parsed),
                last: None,
                generation: c.generation,
                provisional,
            };
            for h in &history {
                st.eval
                    .update(&indicator_bar(h), bar_time(h.date).timestamp());
                st.last = Some((h.date, h.close));
            }
            states.rules.insert(c.rule.id.clone(), st);
        }
        Ok(())
    }

    /// Feeds the closed bar to the rule's state for the code and records the alert when it
    /// fires. Returns the new alerts recorded (0 or 1).
    async fn check(
        &self,
        states: &mut CodeStates,
        c: &CompiledRule,
        bar: &DailyBar,
        at: DateTime<Utc>,
    ) -> Result<usize> {
        let Some(st) = states.rules.get_mut(&c.rule.id) else {
            return Ok(0); // restored just before; absent only if the rule was just dropped
        };
        if st.last.is_some_and(|(d, _)| d >= bar.date) {
            return Ok(0); // a redelivered or late bar: already evaluated
        }
        let fired = st
            .eval
            .update(&indicator_bar(bar), bar_time(bar.date).timestamp());
        let previous = st.last;
        st.last = Some((bar.date, bar.close));
        if fired != Some(true) {
            return Ok(0);
        }
        // Only for a firing: listing the values allocates, and most bars fire nothing.
        let looked = Looked::of(&st.eval);
        let bar_at = bar_time(bar.date);
        let change_pct = bar
            .change_pct()
            .or_else(|| {
                // Without the exchange's change: against the previous close, but never across
                // a gap (ten days covers the longest holiday closures).
                let (date, close) = previous?;
                (bar.date.signed_duration_since(date).num_days() <= 10)
                    .then(|| percent(bar.close, close))
                    .flatten()
            })
            .map(|p| p.round_dp(2));
        let fired = Fired {
            code: &bar.code,
            bar_at,
            id_at: bar_at,
            at,
            price: bar.close,
            change_pct,
            looked,
        };
        match self.alert(c, fired).await? {
            Some(alert) => self.record(c, alert).await.map(usize::from),
            None => Ok(0),
        }
    }

    /// Evaluates the intraday rules of the quote's code on the forming day bar.
    async fn evaluate_quote(&self, q: &Quote, at: DateTime<Utc>) -> Result<usize> {
        let (Some(open), Some(high), Some(low), Some(last), Some(volume)) =
            (q.open, q.high, q.low, q.last, q.volume)
        else {
            return Ok(0); // no trade yet today: nothing forms a bar
        };
        let set = self.rule_set();
        let rules = set.watching(&q.code, |c| {
            c.rule.frequency != TriggerFrequency::OncePerBarClose
        });
        if rules.is_empty() {
            return Ok(0);
        }
        let date = q.exchange_time.with_timezone(&MARKET_TZ).date_naive();
        let bar = experiment_indicators::Bar {
            open: to_f64(open),
            high: to_f64(high),
            low: to_f64(low),
            close: to_f64(last),
            volume: volume as f64,
        };
        let states = self.code_states(&q.code);
        let mut states = states.lock().await;
        states.sync(&set, &q.code);
        // A provisional state serves its own trading day only.
        states
            .rules
            .retain(|_, st| st.provisional.is_none_or(|d| d == date));
        self.restore(&mut states, &rules, &q.code, date, Some(date))
            .await?;
        let mut recorded = 0;
        for c in rules {
            let Some(st) = states.rules.get(&c.rule.id) else {
                continue;
            };
            if st.last.is_some_and(|(d, _)| d >= date) {
                continue; // this day's bar has closed: quotes after it change nothing
            }
            // A copy: the forming bar must not move the state closed bars build.
            let mut forming = st.eval.clone();
            if forming.update(&bar, bar_time(date).timestamp()) != Some(true) {
                continue;
            }
            let bar_at = bar_time(date);
            let change_pct = q
                .reference
                .and_then(|r| percent(last, r))
                .map(|p| p.round_dp(2));
            let fired = Fired {
                code: &q.code,
                bar_at,
                // Every firing of an every-time rule is its own alert; the others are one
                // per bar, so a second quote (or the close) of the same day is the same alert.
                id_at: if c.rule.frequency == TriggerFrequency::EveryTime {
                    q.exchange_time
                } else {
                    bar_at
                },
                at,
                price: last,
                change_pct,
                looked: Looked::of(&forming),
            };
            if let Some(alert) = self.alert(c, fired).await? {
                recorded += usize::from(self.record(c, alert).await?);
            }
        }
        Ok(recorded)
    }

    /// The alert for a firing, unless the rule has expired.
    async fn alert(&self, c: &CompiledRule, f: Fired<'_>) -> Result<Option<Alert>> {
        if c.rule.expires_at.is_some_and(|e| e <= f.at.max(f.bar_at)) {
            return Ok(None);
        }
        let name = self.store.security(f.code).await?.map(|s| s.name);
        let mut alert = Alert {
            id: AlertId::derive(&c.rule.id, f.code, f.id_at),
            rule_id: c.rule.id.clone(),
            rule_name: c.rule.name.clone(),
            code: f.code.clone(),
            name,
            bar_time: f.bar_at,
            triggered_at: f.at,
            price: Some(f.price),
            change_pct: f.change_pct,
            message: String::new(),
            value: f.looked.primary,
            values: f.looked.values,
            suppressed: c.rule.quiet_hours.is_some_and(|q| q.contains(f.at)),
        };
        alert.message = c.template.render(|p| alert_value(&alert, p));
        Ok(Some(alert))
    }

    async fn record(&self, c: &CompiledRule, alert: Alert) -> Result<bool> {
        if let Some(secs) = c.rule.cooldown_secs.filter(|s| *s > 0) {
            // The mark holds the alert id, so a redelivered event is recognised as the same
            // alert rather than blocked by its own cooldown.
            let key = format!("cooldown:{}:{}", c.rule.id, alert.code);
            let id = alert.id.to_string();
            let won = self
                .cache
                .set_if_absent(&key, id.as_bytes(), Some(Duration::from_secs(secs)))
                .await?;
            if !won && self.cache.get(&key).await?.as_deref() != Some(id.as_bytes()) {
                return Ok(false);
            }
        }
        if c.rule.frequency == TriggerFrequency::Once {
            // One firing in all: lanes and workers evaluate the rule at once, and a reload may
            // bring it back for a moment before its disabling is stored. The mark holds the
            // alert id (a redelivery is the same alert) and lasts a day, so a rule enabled
            // again after that fires again.
            let key = format!("once:{}", c.rule.id);
            let id = alert.id.to_string();
            let won = self
                .cache
                .set_if_absent(&key, id.as_bytes(), Some(Duration::from_secs(86_400)))
                .await?;
            if !won && self.cache.get(&key).await?.as_deref() != Some(id.as_bytes()) {
                return Ok(false);
            }
        }
        let notifications: Vec<Notification> = if alert.suppressed {
            Vec::new()
        } else {
            c.rule
                .destinations
                .iter()
                .map(|d| Notification::pending(alert.clone(), d.clone()))
                .collect()
        };
        let new = self.store.record_alert(&alert, &notifications).await?;
        if new && !notifications.is_empty() {
            if let Some(signal) = &self.new_alert {
                signal.notify_one();
            }
        }
        if new {
            if let Some((bus, prefix)) = &self.alert_events {
                let event = Event::new("worker", alert.triggered_at, Payload::Alert(alert.clone()));
                if let Err(e) =
                    experiment_core::EventBusExt::publish_event(bus.as_ref(), prefix, &event).await
                {
                    tracing::warn!(alert = %alert.id, error = %e, "alert recorded but its event was not published");
                }
            }
        }
        // Also when the alert was recorded before: a redelivery after a failed disable must
        // still disable the rule.
        if c.rule.frequency == TriggerFrequency::Once {
            let mut rule = c.rule.clone();
            rule.enabled = false;
            self.store.upsert_rule(&rule).await?;
            let mut rules = lock(&self.rules);
            let remaining: Vec<CompiledRule> = rules
                .rules
                .iter()
                .filter(|r| r.rule.id != rule.id)
                .cloned()
                .collect();
            *rules = Arc::new(RuleSet {
                rules: remaining,
                version: self.next_generation(),
            });
        }
        Ok(new)
    }
}

/// A running lane: its queue, its task and the token that stops it.
#[derive(Debug)]
struct LaneHandle {
    tx: tokio::sync::mpsc::Sender<Delivery>,
    task: tokio::task::JoinHandle<()>,
    stop: CancellationToken,
}

/// The security an event is about, when it is about one.
fn event_code(event: &Event) -> Option<&SecurityCode> {
    match &event.payload {
        Payload::DailyBar(b) => Some(&b.code),
        Payload::Quote(q) => Some(&q.code),
        _ => None,
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// `(now - then) × 100 / then`, when `then` is positive and nothing overflows.
fn percent(now: Decimal, then: Decimal) -> Option<Decimal> {
    if then <= Decimal::ZERO {
        return None;
    }
    now.checked_sub(then)?
        .checked_mul(Decimal::ONE_HUNDRED)?
        .checked_div(then)
}

fn to_f64(d: Decimal) -> f64 {
    d.to_f64().unwrap_or(f64::NAN)
}

fn decode(d: &Delivery) -> Result<Event> {
    let event = if d.topic.ends_with(SEED_TOPIC) {
        let view = AssetInfoView::decode(&d.record.payload, &d.position())?;
        let quote = view.to_quote()?;
        Event::new("seed", quote.received_at, Payload::Quote(quote))
    } else {
        d.decode_event()?
    };
    // Here rather than in the batch's write, so one bad event is skipped alone.
    let invalid = |e: String| Error::invalid("event", format!("{}: {e}", d.position()));
    match &event.payload {
        Payload::DailyBar(b) => b.validate().map_err(|e| invalid(e.to_string()))?,
        Payload::Quote(q) => {
            // Market-time arithmetic (the quote's trading day in Taipei) needs a sane instant.
            let year = q.exchange_time.year();
            if !(1900..=2200).contains(&year) {
                return Err(invalid(format!(
                    "quote time {} is not within the years 1900 to 2200",
                    q.exchange_time
                )));
            }
        }
        _ => {}
    }
    Ok(event)
}

fn compile(rule: &AlertRule, generation: u64) -> std::result::Result<CompiledRule, String> {
    rule.validate().map_err(|e| e.to_string())?;
    let parsed = Rule::parse(&rule.expression).map_err(|e| e.to_string())?;
    // Validated above (a custom message) or known good (the default).
    let template = Template::parse(rule.message.as_deref().unwrap_or(DEFAULT_MESSAGE))
        .map_err(|e| e.to_string())?;
    Ok(CompiledRule {
        rule: rule.clone(),
        parsed,
        template,
        generation,
    })
}
