//! `experiment-feeder`: crawls TWSE/TPEx on the trading calendar and publishes events to Kafka.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use chrono::{NaiveTime, Utc};
use clap::Parser;
use experiment_core::model::{market_date, SecurityCode, MARKET_TZ};
use experiment_core::Error;
use experiment_feeder::Feeder;
use experiment_twse::calendar::TradingCalendar;
use experiment_twse::source::{DailySource, MisSource};
use experiment_twse::{Channel, TwseClient, TwseConfig};
use experiment_wiring::backends::{connect_bus, connect_cache};
use experiment_wiring::config::{BusBackend, Config, CONFIG_ENV};
use experiment_wiring::settings::cached_watchlist;
use experiment_wiring::{init_logging, shutdown_token};

/// Polls MIS real-time quotes for a watchlist while the market is open and the day's closing
/// bars of every security after the close, and publishes them to Kafka. Follows the
/// exchange's holiday calendar, and the watchlist the API publishes in the shared cache
/// (`[cache]`, Redis); stops on Ctrl-C or SIGTERM.
///
/// Settings come from the configuration file and `EXPERIMENT_*` variables (see
/// docs/configuration.md); the flags override both.
#[derive(Debug, Parser)]
#[command(name = "experiment-feeder", version)]
struct Args {
    /// Configuration file (TOML): `[bus] [feeder] [log]`.
    #[arg(long, env = CONFIG_ENV)]
    config: Option<PathBuf>,
    /// Kafka bootstrap servers (`bus.brokers`, `EXPERIMENT_KAFKA_BROKERS`).
    #[arg(long)]
    kafka_brokers: Option<String>,
    /// Prefix of every topic name (`bus.topic_prefix`).
    #[arg(long)]
    topic_prefix: Option<String>,
    /// Codes to poll in real time, comma separated, e.g. 2330,6547,t00 (`feeder.watchlist`,
    /// `EXPERIMENT_WATCHLIST`).
    #[arg(long, value_delimiter = ',')]
    codes: Vec<String>,
    /// Also publish quotes on `asset.info.view.v1` in the original services' format
    /// (`feeder.seed_compat`).
    #[arg(long)]
    seed_compat: bool,
    /// Poll once (quotes and daily bars, whatever the time) and exit.
    #[arg(long)]
    once: bool,
    /// Time (Taipei) after which the day's closing bars are fetched (`feeder.daily_after`,
    /// default 14:30).
    #[arg(long)]
    daily_after: Option<NaiveTime>,
    /// MIS base URL (`feeder.mis_url`).
    #[arg(long)]
    mis_url: Option<String>,
    /// TWSE OpenAPI base URL (`feeder.openapi_url`).
    #[arg(long)]
    openapi_url: Option<String>,
    /// TPEx OpenAPI base URL (`feeder.tpex_openapi_url`).
    #[arg(long)]
    tpex_openapi_url: Option<String>,
    /// Log filter (`log.filter`).
    #[arg(long)]
    log: Option<String>,
}

impl Args {
    fn apply(&self, c: &mut Config) {
        if let Some(b) = &self.kafka_brokers {
            c.bus.brokers = Some(b.clone());
            c.bus.backend = BusBackend::Kafka;
        }
        if let Some(p) = &self.topic_prefix {
            c.bus.topic_prefix = p.clone();
        }
        if !self.codes.is_empty() {
            c.feeder.watchlist = self.codes.iter().map(|s| s.trim().to_owned()).collect();
        }
        c.feeder.seed_compat |= self.seed_compat;
        if let Some(t) = self.daily_after {
            c.feeder.daily_after = t.format("%H:%M:%S").to_string();
        }
        for (given, field) in [
            (&self.mis_url, &mut c.feeder.mis_url),
            (&self.openapi_url, &mut c.feeder.openapi_url),
            (&self.tpex_openapi_url, &mut c.feeder.tpex_openapi_url),
        ] {
            if given.is_some() {
                field.clone_from(given);
            }
        }
        if let Some(l) = &self.log {
            c.log.filter = l.clone();
        }
    }
}

/// Both markets' MIS channels of each valid code (an invalid one is logged and left out).
fn channels_of(codes: &[String]) -> Vec<Channel> {
    let mut channels = Vec::new();
    for c in codes {
        match SecurityCode::new(c.trim()) {
            Ok(code) => channels.extend(Channel::both(&code)),
            Err(e) => tracing::warn!(code = %c, error = %e, "watchlist entry skipped"),
        }
    }
    channels
}

/// One round of `feeder`: how long to wait before the next (zero after a success), and the
/// error when it failed (already logged).
async fn round(name: &str, feeder: &Feeder) -> (Duration, Option<Error>) {
    match feeder.run_once(Utc::now()).await {
        Ok(r) => {
            tracing::info!(
                source = name,
                published = r.published,
                skipped = r.skipped,
                "round done"
            );
            (Duration::ZERO, None)
        }
        Err(e) => {
            // A block backs off for as long as the client says; other errors a little.
            let wait = match &e {
                Error::RateLimited { retry_after } => {
                    retry_after.unwrap_or(Duration::from_secs(60))
                }
                _ => Duration::from_secs(10),
            };
            tracing::warn!(source = name, error = %e, ?wait, "round failed");
            (wait, Some(e))
        }
    }
}

/// `--once`: every source polled once, each on its own (one exchange down does not hold back
/// the other's bars); the failures, named.
async fn once(rounds: &[(&str, &Feeder)]) -> anyhow::Result<()> {
    let mut failed = Vec::new();
    for (name, feeder) in rounds {
        if let (_, Some(e)) = round(name, feeder).await {
            failed.push(format!("{name}: {e}"));
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        bail!(
            "{} of {} sources failed (the others were published):\n  {}",
            failed.len(),
            rounds.len(),
            failed.join("\n  ")
        )
    }
}

/// How long start-up waits for the brokers before saying they are unreachable.
const BROKER_CHECK: Duration = Duration::from_secs(5);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut config = Config::load(args.config.as_deref())?;
    args.apply(&mut config);
    config.validate()?;
    init_logging(&config.log.filter, config.log.json)?;
    if config.bus.backend != BusBackend::Kafka {
        bail!("experiment-feeder needs --kafka-brokers (or bus.brokers, EXPERIMENT_KAFKA_BROKERS); to try the client without Kafka, use `experiment fetch`");
    }
    let bus = connect_bus(&config.bus)?;
    let brokers = config.bus.brokers.clone().unwrap_or_default();
    // Said once, in our words, before librdkafka's own retries: which brokers, and why.
    let reachable = match tokio::time::timeout(BROKER_CHECK, bus.check()).await {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            if args.once {
                bail!("bus.brokers: cannot reach Kafka at {brokers}: {e}");
            }
            tracing::error!(brokers = %brokers, error = %e, "cannot reach Kafka; retrying with backoff");
            false
        }
        Err(_) => {
            if args.once {
                bail!("bus.brokers: no answer from Kafka at {brokers} within {BROKER_CHECK:?}");
            }
            tracing::error!(brokers = %brokers, "no answer from Kafka; retrying with backoff");
            false
        }
    };
    let f = &config.feeder;
    let mut twse = TwseConfig::default();
    for (given, field) in [
        (&f.mis_url, &mut twse.mis_url),
        (&f.openapi_url, &mut twse.openapi_url),
        (&f.tpex_openapi_url, &mut twse.tpex_openapi_url),
    ] {
        if let Some(url) = given {
            *field = url.clone();
        }
    }
    let client = TwseClient::new(twse).context("configuring the TWSE client")?;
    let mut watchlist = f.watchlist.clone();
    let mut channels = channels_of(&watchlist);
    let daily_after = f.daily_after_time()?;
    // The topic prefix is the bus's own (KafkaConfig); the feeder adds none of its own.
    let quotes_for = |channels: &[Channel]| {
        Feeder::new(
            Arc::new(MisSource::new(client.clone(), channels.to_vec())),
            bus.clone(),
            "",
        )
        .with_seed_compat(f.seed_compat)
    };
    let mut quotes = quotes_for(&channels);
    // The two exchanges' daily lists are separate sources: one site down does not hold back
    // the other's bars.
    let listed = Feeder::new(
        Arc::new(DailySource::listed(client.clone())),
        bus.clone(),
        "",
    );
    let otc = Feeder::new(Arc::new(DailySource::otc(client.clone())), bus.clone(), "");
    // The API publishes the watchlist in the shared cache (with Redis, every feeder sees it).
    let cache = connect_cache(&config.cache).await?;

    if args.once {
        let mut rounds = Vec::new();
        if !channels.is_empty() {
            rounds.push(("twse.mis", &quotes));
        }
        rounds.push(("twse.daily", &listed));
        rounds.push(("tpex.daily", &otc));
        return once(&rounds).await;
    }
    if !reachable {
        // Wait for the brokers with backoff rather than crawl what cannot be published.
        let mut wait = Duration::from_secs(1);
        loop {
            tokio::time::sleep(wait).await;
            match tokio::time::timeout(BROKER_CHECK, bus.check()).await {
                Ok(Ok(())) => {
                    tracing::info!(brokers = %brokers, "Kafka is reachable");
                    break;
                }
                _ => {
                    wait = (wait * 2).min(Duration::from_secs(60));
                    tracing::warn!(brokers = %brokers, ?wait, "Kafka still unreachable");
                }
            }
        }
    }

    let calendar = match client.holidays().await {
        Ok(days) => TradingCalendar::new(days.items),
        Err(e) => {
            tracing::warn!(error = %e, "no holiday calendar; assuming every weekday trades");
            TradingCalendar::default()
        }
    };
    let token = shutdown_token();
    let mut listed_done = None;
    let mut otc_done = None;
    loop {
        match cached_watchlist(cache.as_ref()).await {
            Ok(Some(list)) if list != watchlist => {
                tracing::info!(codes = list.len(), "the watchlist changed");
                watchlist = list;
                channels = channels_of(&watchlist);
                quotes = quotes_for(&channels);
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not read the watchlist from the cache"),
        }
        let now = Utc::now();
        let today = market_date(now);
        let mut wait = Duration::from_secs(30);
        if calendar.is_open(now) && !channels.is_empty() {
            // The client's limiter paces MIS (one batch per 5 s by default).
            wait = round("twse.mis", &quotes).await.0;
        } else if calendar.is_trading_day(today)
            && now.with_timezone(&MARKET_TZ).time() >= daily_after
            && (listed_done != Some(today) || otc_done != Some(today))
        {
            // Each market until it succeeds, independently of the other.
            let mut waits = Vec::new();
            for (name, feeder, done) in [
                ("twse.daily", &listed, &mut listed_done),
                ("tpex.daily", &otc, &mut otc_done),
            ] {
                if *done == Some(today) {
                    continue;
                }
                let (w, failed) = round(name, feeder).await;
                if failed.is_none() {
                    *done = Some(today);
                }
                waits.push(w);
            }
            wait = waits.into_iter().max().unwrap_or_default();
        } else if let Some(open) = calendar.next_open(now) {
            wait = (open - now)
                .to_std()
                .unwrap_or_default()
                .min(Duration::from_secs(60));
        }
        tokio::select! {
            _ = token.cancelled() => break,
            _ = tokio::time::sleep(wait) => {}
        }
    }
    tracing::info!("feeder stopped");
    Ok(())
}
