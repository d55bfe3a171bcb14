//! `experiment demo`: the pipeline end to end on recorded data, with embedded adapters.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use chrono::{NaiveDate, NaiveTime, TimeZone, Utc};
use clap::Args;
use experiment_core::bus::{EventBus, Record};
use experiment_core::memory::{
    ConsoleNotifier, EmbeddedStore, MemoryBus, MemoryCache, ReplaySource,
};
use experiment_core::model::{
    AlertRule, DailyBar, Event, EventKind, Exchange, Payload, RuleId, Security, SecurityCode,
    MARKET_TZ,
};
use experiment_core::seed::SEED_TOPIC;
use experiment_core::store::AlertQuery;
use experiment_core::{Notifier, Store};
use experiment_feeder::Feeder;
use experiment_notify::{OutboxSender, RetryPolicy};
use experiment_worker::{Outcome, Worker, WorkerConfig};

/// Recorded bodies embedded in the binary (see `apps/cli/data/SOURCES.md`).
const RECORDED: [(&str, i32, u32, &[u8]); 2] = [
    (
        "STOCK_DAY 2330 2015-05",
        2015,
        5,
        include_bytes!("../data/twse_exchangeReport_STOCK_DAY_2330_201505.json"),
    ),
    (
        "STOCK_DAY 2330 2025-05",
        2025,
        5,
        include_bytes!("../data/twse_rwd_STOCK_DAY_2330_202505_partial_month.json"),
    ),
];

/// Options of `experiment demo`.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Keep the data (bars, rules, alerts, outbox) in this directory; run again and nothing
    /// is recorded or delivered twice. Without it the demo uses a temporary directory.
    #[arg(long, env = "EXPERIMENT_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Window of the demo rule `new_low(WINDOW)`: a close whose low is below every low of
    /// the previous WINDOW fires an alert (m, h or d units).
    #[arg(long, default_value = "7d")]
    pub window: String,
    /// Use this rule instead of `new_low(WINDOW)`, e.g. 'crosses_below(close, sma(close, 5))'
    /// (see `experiment rule check`).
    #[arg(long)]
    pub rule: Option<String>,
    /// Do not inject the corrupted event that shows a poison event being skipped.
    #[arg(long)]
    pub no_poison: bool,
}

/// What the demo did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoReport {
    /// Where the data lives (None: a temporary directory, deleted at exit).
    pub data_dir: Option<PathBuf>,
    /// Rows parsed from the recorded bodies.
    pub bars: usize,
    /// Rows the parser skipped.
    pub skipped_rows: usize,
    /// Events the feeder published.
    pub published: usize,
    /// Events the worker processed.
    pub processed: usize,
    /// Why events were skipped by the worker.
    pub skipped_events: Vec<String>,
    /// New alerts recorded in this run.
    pub new_alerts: usize,
    /// Notifications delivered in this run.
    pub delivered: usize,
    /// Alerts in the store after the run.
    pub total_alerts: usize,
}

impl DemoReport {
    /// The human summary printed by the command.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let where_ = self.data_dir.as_ref().map_or_else(
            || "a temporary directory (use --data-dir to keep it)".to_owned(),
            |d| d.display().to_string(),
        );
        let _ = writeln!(s, "Experiment demo: offline, on recorded TWSE bodies (2330 台積電, May 2015 and May 2025)");
        let _ = writeln!(
            s,
            "  feeder  parsed {} daily bars ({} rows skipped), published {} events",
            self.bars, self.skipped_rows, self.published
        );
        let _ = writeln!(
            s,
            "  worker  processed {} events, recorded {} new alerts",
            self.processed, self.new_alerts
        );
        for reason in &self.skipped_events {
            let _ = writeln!(s, "          skipped: {reason}");
        }
        let _ = writeln!(
            s,
            "  outbox  delivered {} notifications to 'console' (above)",
            self.delivered
        );
        let _ = writeln!(
            s,
            "  store   {} alerts in total, in {where_}",
            self.total_alerts
        );
        s
    }
}

fn demo_bars() -> anyhow::Result<(Vec<DailyBar>, usize)> {
    let code = SecurityCode::new("2330")?;
    let mut bars = Vec::new();
    let mut skipped = 0;
    for (name, y, m, body) in RECORDED {
        let month = NaiveDate::from_ymd_opt(y, m, 1).context("month")?;
        let parsed = experiment_twse::parse::stock_day(body, &code, month)
            .with_context(|| format!("parsing the recorded {name}"))?;
        skipped += parsed.skipped.len();
        bars.extend(parsed.items);
    }
    Ok((bars, skipped))
}

/// Runs the demo.
///
/// # Errors
/// When the data directory cannot be opened (e.g. another `experiment` holds it) or a
/// component fails in a way the pipeline cannot skip.
pub async fn run(args: &DemoArgs) -> anyhow::Result<DemoReport> {
    experiment_indicators::parse_window(&args.window)
        .map_err(|e| anyhow::anyhow!("--window {e}"))?;
    if let Some(r) = &args.rule {
        experiment_indicators::rule::Rule::parse(r).map_err(|e| anyhow::anyhow!("--rule: {e}"))?;
    }
    let store: Arc<dyn Store> = match &args.data_dir {
        Some(dir) => Arc::new(
            EmbeddedStore::open(dir)
                .with_context(|| format!("opening the store in {}", dir.display()))?,
        ),
        None => Arc::new(EmbeddedStore::temporary()?),
    };
    let code = SecurityCode::new("2330")?;
    store
        .upsert_securities(&[Security::new(code, Exchange::Twse, "台積電")])
        .await?;
    let mut rule = match &args.rule {
        Some(expr) => AlertRule::new(RuleId::new("demo-rule")?, expr.clone(), expr.clone()),
        None => AlertRule::new(
            RuleId::new("demo-new-low")?,
            format!("new {} low", args.window),
            format!("new_low({})", args.window),
        ),
    };
    rule.destinations = vec!["console".into()];
    store.upsert_rule(&rule).await?;

    let (bars, skipped_rows) = demo_bars()?;
    let events: Vec<Event> = bars
        .iter()
        .map(|b| {
            // Stamp each bar's event at that day's close (13:30 Taipei), as a live feed would.
            let close = b
                .date
                .and_time(NaiveTime::from_hms_opt(13, 30, 0).unwrap_or(NaiveTime::MIN));
            let at = MARKET_TZ
                .from_local_datetime(&close)
                .single()
                .map_or_else(Utc::now, |t| t.with_timezone(&Utc));
            Event::new("twse.recorded", at, Payload::DailyBar(b.clone()))
        })
        .collect();

    let bus = Arc::new(MemoryBus::new());
    let topic = EventKind::DailyBar.topic();
    let mut subscription = bus
        .subscribe("experiment-workers", &[topic, SEED_TOPIC])
        .await?;
    let source = Arc::new(ReplaySource::new("twse.recorded", events, 8));
    let feeder = Feeder::new(source.clone(), bus.clone(), "");
    let mut published = 0;
    let mut first_round = true;
    while source.remaining() > 0 {
        published += feeder.run_once(Utc::now()).await?.published;
        if first_round && !args.no_poison {
            // A corrupted event on the log, as a buggy producer might write: the worker must
            // name it and carry on.
            bus.publish(
                topic,
                Record::new("2330", "{\"type\":\"bar.daily\",\"data\":"),
            )
            .await?;
        }
        first_round = false;
    }
    let expected = published + usize::from(!args.no_poison);

    let worker = Worker::new(
        store.clone(),
        Arc::new(MemoryCache::new()),
        WorkerConfig::default(),
    );
    for (id, why) in worker.load_rules().await? {
        tracing::warn!(rule = %id, %why, "rule not evaluated");
    }
    let mut skipped_events = Vec::new();
    for _ in 0..expected {
        let delivery = tokio::time::timeout(Duration::from_secs(10), subscription.next())
            .await
            .context("the worker waited too long for an event")??;
        if let Outcome::Skipped { reason } = worker.process(delivery).await {
            skipped_events.push(reason);
        }
    }
    subscription.close().await?;
    let stats = worker.stats().await;

    let console: Arc<dyn Notifier> = Arc::new(ConsoleNotifier::new("console"));
    let sender = OutboxSender::new(store.clone(), [console], RetryPolicy::default());
    let mut delivered = 0;
    loop {
        let report = sender.run_once(Utc::now()).await?;
        delivered += report.sent;
        if report.sent + report.retried + report.failed == 0 {
            break;
        }
    }
    let total_alerts = store
        .alerts(&AlertQuery {
            limit: 10_000,
            ..AlertQuery::default()
        })
        .await?
        .len();
    Ok(DemoReport {
        data_dir: args.data_dir.clone(),
        bars: bars.len(),
        skipped_rows,
        published,
        processed: stats.processed,
        skipped_events,
        new_alerts: stats.alerts,
        delivered,
        total_alerts,
    })
}
