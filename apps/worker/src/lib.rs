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
//! The standalone `experiment-worker` service binary comes with the Kafka adapter; until then
//! the all-in-one `experiment` CLI wires this library to the in-memory bus.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use experiment_core::bus::{Delivery, EventBus, Record, Subscription};
use experiment_core::model::{
    Alert, AlertId, AlertRule, DailyBar, Event, Notification, Payload, Quote, RuleId, SecurityCode,
    TriggerFrequency, MARKET_TZ,
};
use experiment_core::seed::{AssetInfoView, SEED_TOPIC};
use experiment_core::template::{alert_value, Template};
use experiment_core::{Cache, CacheExt, Result, Store};
use experiment_indicators::eval::Evaluator;
use experiment_indicators::rule::Rule;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use tokio::sync::Mutex;

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
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            quote_ttl: Duration::from_secs(86_400),
            min_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(30),
            rules_refresh: Duration::from_secs(5),
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
}

#[derive(Debug)]
struct CodeState {
    eval: Evaluator,
    last: Option<(NaiveDate, Decimal)>,
}

/// Calendar days of stored history replayed into a rule's state the first time a code is
/// seen (about 530 trading days: enough for long averages to settle).
const HISTORY_DAYS: i64 = 800;

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
#[derive(Debug)]
pub struct Worker {
    store: Arc<dyn Store>,
    cache: Arc<dyn Cache>,
    config: WorkerConfig,
    // Swapped whole on reload; each bar takes a cheap Arc clone, not a copy of every rule.
    rules: Mutex<Arc<Vec<CompiledRule>>>,
    state: Mutex<HashMap<(RuleId, SecurityCode), CodeState>>,
    stats: Mutex<WorkerStats>,
    dead_letters: Option<Arc<dyn EventBus>>,
    alert_events: Option<(Arc<dyn EventBus>, String)>,
    // What the last load saw (ids, expressions, options), to log only changes.
    rules_seen: Mutex<Option<String>>,
}

/// A daily bar's instant: the start of its calendar day in Taipei.
pub fn bar_time(date: NaiveDate) -> DateTime<Utc> {
    date.and_time(NaiveTime::MIN)
        .and_local_timezone(MARKET_TZ)
        .single()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| date.and_time(NaiveTime::MIN).and_utc())
}

impl Worker {
    /// A worker over `store` and `cache`.
    pub fn new(store: Arc<dyn Store>, cache: Arc<dyn Cache>, config: WorkerConfig) -> Self {
        Worker {
            store,
            cache,
            config,
            rules: Mutex::new(Arc::new(Vec::new())),
            state: Mutex::new(HashMap::new()),
            stats: Mutex::new(WorkerStats::default()),
            dead_letters: None,
            alert_events: None,
            rules_seen: Mutex::new(None),
        }
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
        let mut active = Vec::new();
        let mut rejected = Vec::new();
        for rule in stored.into_iter().filter(|r| r.enabled) {
            match compile(&rule) {
                Ok(c) => active.push(c),
                Err(reason) => rejected.push((rule.id.clone(), reason)),
            }
        }
        let mut seen = self.rules_seen.lock().await;
        if seen.as_deref() == Some(fingerprint.as_str()) {
            return Ok(rejected);
        }
        let mut rules = self.rules.lock().await;
        let kept: std::collections::HashSet<RuleId> = active
            .iter()
            .filter(|c| {
                rules
                    .iter()
                    .any(|o| o.rule.id == c.rule.id && o.rule.expression == c.rule.expression)
            })
            .map(|c| c.rule.id.clone())
            .collect();
        self.state
            .lock()
            .await
            .retain(|(id, _), _| kept.contains(id));
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
        *rules = Arc::new(active);
        *seen = Some(fingerprint);
        Ok(rejected)
    }

    /// Totals so far.
    pub async fn stats(&self) -> WorkerStats {
        *self.stats.lock().await
    }

    /// Handles one delivery and acks or nacks it.
    pub async fn process(&self, delivery: Delivery) -> Outcome {
        let mut outcome = match self.handle(&delivery).await {
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
        let mut stats = self.stats.lock().await;
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

    /// Processes deliveries until `shutdown` completes. Transient failures back off
    /// exponentially, so an outage never becomes a tight retry loop.
    ///
    /// # Errors
    /// When the subscription itself fails.
    pub async fn run(
        &self,
        mut subscription: Box<dyn Subscription>,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<WorkerStats> {
        tokio::pin!(shutdown);
        let mut backoff = self.config.min_backoff;
        // A zero period would make `interval` panic: a few milliseconds is as often as is useful.
        let mut refresh =
            tokio::time::interval(self.config.rules_refresh.max(Duration::from_millis(10)));
        refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        refresh.tick().await;
        loop {
            let delivery = tokio::select! {
                _ = &mut shutdown => break,
                _ = refresh.tick() => {
                    if let Err(e) = self.load_rules().await {
                        tracing::warn!(error = %e, "could not reload the rules; keeping the current ones");
                    }
                    continue;
                }
                d = subscription.next() => d?,
            };
            if let Outcome::Retry { .. } = self.process(delivery).await {
                tokio::select! {
                    _ = &mut shutdown => break,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(self.config.max_backoff);
            } else {
                backoff = self.config.min_backoff;
            }
        }
        subscription.close().await?;
        Ok(self.stats().await)
    }

    async fn handle(&self, delivery: &Delivery) -> Result<usize> {
        let event = decode(delivery)?;
        match event.payload {
            Payload::DailyBar(bar) => {
                self.store
                    .upsert_daily_bars(std::slice::from_ref(&bar))
                    .await?;
                self.evaluate(&bar, event.time).await
            }
            Payload::Quote(q) => {
                self.store.put_quote(&q).await?;
                self.cache
                    .set_latest_quote(&q, Some(self.config.quote_ttl))
                    .await?;
                self.evaluate_quote(&q, event.time).await
            }
            Payload::Security(s) => {
                self.store.upsert_securities(&[s]).await?;
                Ok(0)
            }
            // Intraday bars and alerts from other workers need nothing from this worker yet.
            _ => Ok(0),
        }
    }

    async fn evaluate(&self, bar: &DailyBar, at: DateTime<Utc>) -> Result<usize> {
        let rules = self.rules.lock().await.clone();
        let mut recorded = 0;
        for c in rules.iter().filter(|c| c.rule.watches(&bar.code)) {
            let effects = async {
                match self.check(c, bar, at).await? {
                    Some(alert) => self.record(c, alert).await.map(usize::from),
                    None => Ok(0),
                }
            };
            match effects.await {
                Ok(n) => recorded += n,
                Err(e) => {
                    // The rule's state has moved past this bar, but its effects are not all
                    // stored: forget the state, so the redelivery (this error nacks the event)
                    // rebuilds it from the stored bars before this one and fires again. The
                    // alert's derived id keeps that from doubling anything.
                    self.state
                        .lock()
                        .await
                        .remove(&(c.rule.id.clone(), bar.code.clone()));
                    return Err(e);
                }
            }
        }
        Ok(recorded)
    }

    /// The rule's state for `code`, restored the first time from up to [`HISTORY_DAYS`] of
    /// stored bars before `date`, so a restart never starts cold.
    async fn state_for<'a>(
        &self,
        states: &'a mut HashMap<(RuleId, SecurityCode), CodeState>,
        c: &CompiledRule,
        code: &SecurityCode,
        date: NaiveDate,
    ) -> Result<&'a mut CodeState> {
        let key = (c.rule.id.clone(), code.clone());
        if !states.contains_key(&key) {
            let mut st = CodeState {
                eval: Evaluator::new(&c.parsed),
                last: None,
            };
            let from = date
                .checked_sub_signed(chrono::Duration::days(HISTORY_DAYS))
                .unwrap_or(NaiveDate::MIN);
            if let Some(to) = date.pred_opt().filter(|to| *to >= from) {
                for h in self.store.daily_bars(code, from, to).await? {
                    st.eval
                        .update(&indicator_bar(&h), bar_time(h.date).timestamp());
                    st.last = Some((h.date, h.close));
                }
            }
            states.insert(key.clone(), st);
        }
        Ok(states.get_mut(&key).expect("inserted above"))
    }

    /// Feeds the closed bar to the rule's per-code state and builds the alert when it fires.
    async fn check(
        &self,
        c: &CompiledRule,
        bar: &DailyBar,
        at: DateTime<Utc>,
    ) -> Result<Option<Alert>> {
        let mut states = self.state.lock().await;
        let st = self.state_for(&mut states, c, &bar.code, bar.date).await?;
        if st.last.is_some_and(|(d, _)| d >= bar.date) {
            return Ok(None); // a redelivered or late bar: already evaluated
        }
        let fired = st
            .eval
            .update(&indicator_bar(bar), bar_time(bar.date).timestamp());
        let previous = st.last;
        st.last = Some((bar.date, bar.close));
        if fired != Some(true) {
            return Ok(None);
        }
        // Only for a firing: listing the values allocates, and most bars fire nothing.
        let looked = Looked::of(&st.eval);
        drop(states);
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
        self.alert(c, fired).await
    }

    /// Evaluates the intraday rules of the quote's code on the forming day bar.
    async fn evaluate_quote(&self, q: &Quote, at: DateTime<Utc>) -> Result<usize> {
        let (Some(open), Some(high), Some(low), Some(last), Some(volume)) =
            (q.open, q.high, q.low, q.last, q.volume)
        else {
            return Ok(0); // no trade yet today: nothing forms a bar
        };
        let rules = self.rules.lock().await.clone();
        let date = q.exchange_time.with_timezone(&MARKET_TZ).date_naive();
        let bar = experiment_indicators::Bar {
            open: to_f64(open),
            high: to_f64(high),
            low: to_f64(low),
            close: to_f64(last),
            volume: volume as f64,
        };
        let mut recorded = 0;
        for c in rules.iter().filter(|c| {
            c.rule.watches(&q.code) && c.rule.frequency != TriggerFrequency::OncePerBarClose
        }) {
            let mut states = self.state.lock().await;
            let st = self.state_for(&mut states, c, &q.code, date).await?;
            if st.last.is_some_and(|(d, _)| d >= date) {
                continue; // this day's bar has closed: quotes after it change nothing
            }
            // A copy: the forming bar must not move the state closed bars build.
            let mut forming = st.eval.clone();
            let holds = forming.update(&bar, bar_time(date).timestamp());
            drop(states);
            if holds != Some(true) {
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
            let mut rules = self.rules.lock().await;
            let remaining: Vec<CompiledRule> = rules
                .iter()
                .filter(|r| r.rule.id != rule.id)
                .cloned()
                .collect();
            *rules = Arc::new(remaining);
        }
        Ok(new)
    }
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
    if d.topic.ends_with(SEED_TOPIC) {
        let view = AssetInfoView::decode(&d.record.payload, &d.position())?;
        let quote = view.to_quote()?;
        return Ok(Event::new("seed", quote.received_at, Payload::Quote(quote)));
    }
    d.decode_event()
}

fn compile(rule: &AlertRule) -> std::result::Result<CompiledRule, String> {
    rule.validate().map_err(|e| e.to_string())?;
    let parsed = Rule::parse(&rule.expression).map_err(|e| e.to_string())?;
    // Validated above (a custom message) or known good (the default).
    let template = Template::parse(rule.message.as_deref().unwrap_or(DEFAULT_MESSAGE))
        .map_err(|e| e.to_string())?;
    Ok(CompiledRule {
        rule: rule.clone(),
        parsed,
        template,
    })
}
