//! `experiment demo`: the pipeline end to end on recorded data, with embedded adapters, then
//! the HTTP API over what it stored.
//!
//! First the recorded reference data is loaded (years of daily history, all-market days,
//! company profiles; see [`crate::demo_data`]). Then the replay: the recorded STOCK_DAY months
//! of 2330 and the MIS snapshots go through the real pipeline (feeder → in-memory bus →
//! worker → store and outbox → console), with one corrupted event to show it being named and
//! skipped. Then, unless `--once`, the API serves the store on `--listen` with the worker
//! still consuming the bus (so pushed quotes and bars, and rules added through the API, take
//! effect) until Ctrl-C.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use chrono::{NaiveDate, NaiveTime, TimeZone, Utc};
use clap::Args;
use experiment_api::{AppState, Options};
use experiment_core::bus::{EventBus, Record, Subscription};
use experiment_core::memory::{EmbeddedStore, MemoryBus, MemoryCache, ReplaySource};
use experiment_core::model::{
    AlertRule, DailyBar, Event, EventKind, Payload, RuleId, SecurityCode, MARKET_TZ,
};
use experiment_core::seed::SEED_TOPIC;
use experiment_core::store::AlertQuery;
use experiment_core::{Cache, Store};
use experiment_feeder::Feeder;
use experiment_notify::{DestinationConfig, OutboxSender, RetryPolicy};
use experiment_wiring::config::Config;
use experiment_wiring::settings::DestinationWatch;
use experiment_wiring::{supervise, CancellationToken, Restarts};
use experiment_worker::{Outcome, Worker, WorkerConfig};

use crate::demo_data::{self, Loaded};

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

/// The demo's destination: standard output.
const CONSOLE: &str = "console";

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
    /// Exit after the replay instead of serving the API.
    #[arg(long)]
    pub once: bool,
    /// Where the API listens after the replay (port 0 picks a free one).
    #[arg(long, env = "EXPERIMENT_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Configuration file for the API's keys and limits and extra `[[destinations]]` (the
    /// demo's bus, store and cache are always the embedded ones).
    #[arg(long, env = "EXPERIMENT_CONFIG")]
    pub config: Option<PathBuf>,
}

impl DemoArgs {
    /// The defaults, as the command line gives them.
    pub fn new() -> Self {
        DemoArgs {
            data_dir: None,
            window: "7d".into(),
            rule: None,
            no_poison: false,
            once: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            config: None,
        }
    }
}

impl Default for DemoArgs {
    fn default() -> Self {
        Self::new()
    }
}

/// What the demo did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoReport {
    /// Where the data lives (None: a temporary directory, deleted at exit).
    pub data_dir: Option<PathBuf>,
    /// The recorded reference data loaded into the store.
    pub loaded: Loaded,
    /// Daily bars parsed from the replayed STOCK_DAY bodies.
    pub bars: usize,
    /// Quotes parsed from the replayed MIS bodies.
    pub quotes: usize,
    /// Rows the parsers skipped in the replayed bodies.
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
        let l = &self.loaded;
        let _ = writeln!(s, "Experiment demo: offline, on recorded TWSE/TPEx data");
        let _ = writeln!(
            s,
            "  store   loaded {} daily bars: {} securities' history 2004-2020 and {} all-market days; {} security profiles",
            l.bars, l.history_codes, l.market_days, l.securities
        );
        let _ = writeln!(
            s,
            "  feeder  parsed {} daily bars of 2330 (May 2015, May 2025) and {} MIS quotes ({} rows skipped), published {} events",
            self.bars, self.quotes, self.skipped_rows, self.published
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
            "  outbox  delivered {} notifications to '{CONSOLE}' (above)",
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

/// The pipeline after the replay, ready to keep running behind the API.
pub struct Pipeline {
    /// The store.
    pub store: Arc<dyn Store>,
    /// The cache.
    pub cache: Arc<dyn Cache>,
    /// The bus.
    pub bus: Arc<MemoryBus>,
    worker: Arc<Worker>,
    subscription: Box<dyn Subscription>,
    new_alert: Arc<tokio::sync::Notify>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("store", &self.store)
            .finish()
    }
}

/// Runs the demo's replay and returns its report.
///
/// # Errors
/// When the data directory cannot be opened (e.g. another `experiment` holds it) or a
/// component fails in a way the pipeline cannot skip.
pub async fn run(args: &DemoArgs) -> anyhow::Result<DemoReport> {
    let (report, pipeline) = replay(args).await?;
    pipeline.subscription.close().await?;
    Ok(report)
}

/// Loads the reference data, replays the recorded bodies through the pipeline and delivers
/// the outbox; returns the report and the pipeline, still subscribed.
///
/// # Errors
/// As [`run`].
pub async fn replay(args: &DemoArgs) -> anyhow::Result<(DemoReport, Pipeline)> {
    experiment_indicators::parse_window(&args.window)
        .map_err(|e| anyhow::anyhow!("--window {e}"))?;
    if let Some(r) = &args.rule {
        experiment_indicators::rule::Rule::parse(r).map_err(|e| {
            let caret = format!("{}^", " ".repeat(e.column.saturating_sub(1)));
            anyhow::anyhow!("--rule: {e}\n  {r}\n  {caret}")
        })?;
    }
    let store: Arc<dyn Store> = match &args.data_dir {
        Some(dir) => Arc::new(
            EmbeddedStore::open(dir)
                .with_context(|| format!("opening the store in {}", dir.display()))?,
        ),
        None => Arc::new(EmbeddedStore::temporary()?),
    };
    let loaded = demo_data::load(store.as_ref()).await?;
    let mut rule = match &args.rule {
        Some(expr) => AlertRule::new(RuleId::new("demo-rule")?, expr.clone(), expr.clone()),
        None => AlertRule::new(
            RuleId::new("demo-new-low")?,
            format!("new {} low", args.window),
            format!("new_low({})", args.window),
        ),
    };
    rule.codes = vec![SecurityCode::new("2330")?];
    rule.destinations = vec![CONSOLE.into()];
    store.upsert_rule(&rule).await?;

    let (bars, mut skipped_rows) = demo_bars()?;
    let (quotes, quote_skips) = demo_data::recorded_quotes()?;
    skipped_rows += quote_skips;
    let bar_events = bars.iter().map(|b| {
        // Stamp each bar's event at that day's close (13:30 Taipei), as a live feed would.
        let close = b
            .date
            .and_time(NaiveTime::from_hms_opt(13, 30, 0).unwrap_or(NaiveTime::MIN));
        let at = MARKET_TZ
            .from_local_datetime(&close)
            .single()
            .map_or_else(Utc::now, |t| t.with_timezone(&Utc));
        Event::new("twse.recorded", at, Payload::DailyBar(b.clone()))
    });
    let quote_events = quotes.iter().map(|q| {
        Event::new(
            "twse.mis.recorded",
            q.exchange_time,
            Payload::Quote(q.clone()),
        )
    });
    let events: Vec<Event> = bar_events.chain(quote_events).collect();

    let bus = Arc::new(MemoryBus::new());
    let topic = EventKind::DailyBar.topic();
    let mut subscription = bus
        .subscribe(
            "experiment-workers",
            &[topic, EventKind::Quote.topic(), SEED_TOPIC],
        )
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

    let cache: Arc<dyn Cache> = Arc::new(MemoryCache::new());
    let new_alert = Arc::new(tokio::sync::Notify::new());
    let worker = Arc::new(
        Worker::new(store.clone(), cache.clone(), WorkerConfig::default())
            .with_alert_events(bus.clone(), "")
            .with_alert_signal(new_alert.clone()),
    );
    worker.load_rules().await?;
    let mut skipped_events = Vec::new();
    for _ in 0..expected {
        let delivery = tokio::time::timeout(Duration::from_secs(10), subscription.next())
            .await
            .context("the worker waited too long for an event")??;
        if let Outcome::Skipped { reason } = worker.process(delivery).await {
            skipped_events.push(reason);
        }
    }
    let stats = worker.stats().await;

    let console = DestinationConfig::console(CONSOLE).build()?;
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
    let report = DemoReport {
        data_dir: args.data_dir.clone(),
        loaded,
        bars: bars.len(),
        quotes: quotes.len(),
        skipped_rows,
        published,
        processed: stats.processed,
        skipped_events,
        new_alerts: stats.alerts,
        delivered,
        total_alerts,
    };
    Ok((
        report,
        Pipeline {
            store,
            cache,
            bus,
            worker,
            subscription,
            new_alert,
        },
    ))
}

/// Serves the API over the pipeline until `token` is cancelled, with the worker consuming
/// the bus and the outbox delivering. `announce` gets the bound address and the API key the
/// demo made up (when the configuration gives none).
///
/// # Errors
/// The configuration is wrong, or the address cannot be bound.
pub async fn serve(
    pipeline: Pipeline,
    args: &DemoArgs,
    token: CancellationToken,
    announce: impl FnOnce(SocketAddr, Option<&str>),
) -> anyhow::Result<()> {
    let config = Config::load(args.config.as_deref())?;
    let mut api = config.api.clone();
    api.listen = args.listen;
    // One user on a laptop: no rate limit.
    api.rate_limit_per_second = 0.0;
    let made_up = if api.keys.is_empty() {
        let key = experiment_api::generate_key()?;
        api.keys = vec![key.clone()];
        Some(key)
    } else {
        None
    };
    let mut destinations = vec![DestinationConfig::console(CONSOLE)];
    destinations.extend(config.destinations.iter().cloned());
    let Pipeline {
        store,
        cache,
        bus,
        worker,
        subscription,
        new_alert,
    } = pipeline;
    let state = AppState::with_options(
        store.clone(),
        cache,
        bus.clone(),
        api,
        Options {
            topic_prefix: String::new(),
            destinations: destinations.clone(),
            watchlist: config.feeder.watchlist.clone(),
            shutdown: token.clone(),
        },
    );
    let listener = experiment_api::bind(args.listen).await.map_err(|e| {
        anyhow::anyhow!("{e} (pass --listen with another address, e.g. --listen 127.0.0.1:0)")
    })?;
    let addr = listener.local_addr()?;
    let tap = state.spawn_stream_tap(token.clone());
    let stop = token.clone();
    let consuming = tokio::spawn(async move {
        if let Err(e) = worker
            .run(subscription, async move { stop.cancelled().await })
            .await
        {
            tracing::error!(error = %e, "the worker stopped");
        }
    });
    let sender = OutboxSender::new(store.clone(), Vec::new(), RetryPolicy::default());
    let outbox = supervise(
        "outbox sender",
        token.clone(),
        Arc::new(Restarts::default()),
        move |t| {
            let (sender, store, destinations) =
                (sender.clone(), store.clone(), destinations.clone());
            let new_alert = new_alert.clone();
            async move {
                let mut watch = DestinationWatch::default();
                loop {
                    match watch.changed(store.as_ref(), &destinations).await {
                        Ok(Some(n)) => sender.set_notifiers(n),
                        Ok(None) => {}
                        Err(e) => tracing::warn!(error = %e, "could not read the destinations"),
                    }
                    if let Err(e) = sender.run_once(Utc::now()).await {
                        tracing::warn!(error = %e, "outbox round failed");
                    }
                    tokio::select! {
                        _ = t.cancelled() => break,
                        _ = new_alert.notified() => {}
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        },
    );
    announce(addr, made_up.as_deref());
    experiment_api::serve(state, listener).await?;
    token.cancel();
    let _ = tokio::join!(tap, consuming, outbox);
    Ok(())
}

/// What the command prints once the API is up.
pub fn banner(addr: SocketAddr, key: Option<&str>) -> String {
    let base = format!("http://{addr}");
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\nThe API serves the demo's data on {base} (Ctrl-C to stop)"
    );
    let _ = writeln!(
        s,
        "  docs       {base}/docs   (OpenAPI: {base}/openapi.json)"
    );
    if let Some(k) = key {
        let _ = writeln!(s, "  API key    {k}");
        let _ = writeln!(s, "             (made up for this run and shown only here; writes need it: -H 'Authorization: Bearer <key>')");
    }
    let _ = writeln!(
        s,
        "  try        curl '{base}/v1/stats/market?date=2026-07-08'"
    );
    let _ = writeln!(s, "             curl '{base}/v1/indicators/2330?expr=rsi(14)&expr=macd(12,26,9)&from=2020-12-01&to=2020-12-31'");
    let _ = writeln!(
        s,
        "             curl -N '{base}/v1/stream?types=quote,alert'"
    );
    s
}
