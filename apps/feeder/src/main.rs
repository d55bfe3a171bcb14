//! `experiment-feeder`: crawls TWSE/TPEx on the trading calendar and publishes events to Kafka.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use chrono::{NaiveTime, Utc};
use clap::Parser;
use experiment_core::kafka::{KafkaBus, KafkaConfig};
use experiment_core::model::{market_date, SecurityCode, MARKET_TZ};
use experiment_core::{Error, EventBus};
use experiment_feeder::Feeder;
use experiment_twse::calendar::TradingCalendar;
use experiment_twse::source::{DailySource, MisSource};
use experiment_twse::{Channel, TwseClient, TwseConfig};

/// Polls MIS real-time quotes for a watchlist while the market is open and the day's closing
/// bars of every security after the close, and publishes them to Kafka. Follows the
/// exchange's holiday calendar; stops on Ctrl-C or SIGTERM.
#[derive(Debug, Parser)]
#[command(name = "experiment-feeder", version)]
struct Args {
    /// Kafka bootstrap servers.
    #[arg(long, env = "EXPERIMENT_KAFKA_BROKERS")]
    kafka_brokers: Option<String>,
    /// Prefix of every topic name.
    #[arg(long, env = "EXPERIMENT_TOPIC_PREFIX", default_value = "")]
    topic_prefix: String,
    /// Codes to poll in real time, comma separated (e.g. 2330,6547,t00).
    #[arg(long, env = "EXPERIMENT_WATCHLIST", value_delimiter = ',')]
    codes: Vec<String>,
    /// Also publish quotes on `asset.info.view.v1` in the original services' format.
    #[arg(long)]
    seed_compat: bool,
    /// Poll once (quotes and daily bars, whatever the time) and exit.
    #[arg(long)]
    once: bool,
    /// Time (Taipei) after which the day's closing bars are fetched.
    #[arg(long, default_value = "14:30")]
    daily_after: NaiveTime,
    /// MIS base URL.
    #[arg(long, env = "EXPERIMENT_MIS_URL")]
    mis_url: Option<String>,
    /// TWSE OpenAPI base URL.
    #[arg(long, env = "EXPERIMENT_OPENAPI_URL")]
    openapi_url: Option<String>,
    /// TPEx OpenAPI base URL.
    #[arg(long, env = "EXPERIMENT_TPEX_OPENAPI_URL")]
    tpex_openapi_url: Option<String>,
    /// Log filter.
    #[arg(long, env = "EXPERIMENT_LOG", default_value = "info")]
    log: String,
}

async fn round(name: &str, feeder: &Feeder) -> Duration {
    match feeder.run_once(Utc::now()).await {
        Ok(r) => {
            tracing::info!(
                source = name,
                published = r.published,
                skipped = r.skipped,
                "round done"
            );
            Duration::ZERO
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
            wait
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log)
        .map_err(|e| anyhow::anyhow!("--log: {e}"))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let Some(brokers) = args.kafka_brokers.clone() else {
        bail!("experiment-feeder needs --kafka-brokers (or EXPERIMENT_KAFKA_BROKERS); to try the client without Kafka, use `experiment fetch`");
    };
    let bus: Arc<dyn EventBus> = Arc::new(KafkaBus::connect(KafkaConfig::new(brokers))?);
    let mut config = TwseConfig::default();
    for (given, field) in [
        (&args.mis_url, &mut config.mis_url),
        (&args.openapi_url, &mut config.openapi_url),
        (&args.tpex_openapi_url, &mut config.tpex_openapi_url),
    ] {
        if let Some(url) = given {
            *field = url.clone();
        }
    }
    let client = TwseClient::new(config).context("configuring the TWSE client")?;
    let mut channels = Vec::new();
    for c in &args.codes {
        channels.extend(Channel::both(
            &SecurityCode::new(c.trim()).map_err(|e| anyhow::anyhow!("--codes: {e}"))?,
        ));
    }
    let quotes = Feeder::new(
        Arc::new(MisSource::new(client.clone(), channels.clone())),
        bus.clone(),
        &args.topic_prefix,
    )
    .with_seed_compat(args.seed_compat);
    let daily = Feeder::new(
        Arc::new(DailySource::new(client.clone())),
        bus,
        &args.topic_prefix,
    );

    if args.once {
        if !channels.is_empty() {
            round("twse.mis", &quotes).await;
        }
        round("twse.daily", &daily).await;
        return Ok(());
    }

    let calendar = match client.holidays().await {
        Ok(days) => TradingCalendar::new(days.items),
        Err(e) => {
            tracing::warn!(error = %e, "no holiday calendar; assuming every weekday trades");
            TradingCalendar::default()
        }
    };
    let mut daily_done = None;
    let shutdown = tokio::signal::ctrl_c();
    tokio::pin!(shutdown);
    loop {
        let now = Utc::now();
        let today = market_date(now);
        let mut wait = Duration::from_secs(30);
        if calendar.is_open(now) && !channels.is_empty() {
            // The client's limiter paces MIS (one batch per 5 s by default).
            wait = round("twse.mis", &quotes).await;
        } else if calendar.is_trading_day(today)
            && now.with_timezone(&MARKET_TZ).time() >= args.daily_after
            && daily_done != Some(today)
        {
            wait = round("twse.daily", &daily).await;
            if wait.is_zero() {
                daily_done = Some(today);
            }
        } else if let Some(open) = calendar.next_open(now) {
            wait = (open - now)
                .to_std()
                .unwrap_or_default()
                .min(Duration::from_secs(60));
        }
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tokio::time::sleep(wait) => {}
        }
    }
    tracing::info!("feeder stopped");
    Ok(())
}
