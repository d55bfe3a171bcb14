//! `experiment-worker`: consumes the event log into the store, evaluates alert rules and
//! delivers notifications from the outbox.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::Parser;
use experiment_core::kafka::{KafkaBus, KafkaConfig};
use experiment_core::memory::{EmbeddedStore, MemoryCache};
use experiment_core::model::EventKind;
use experiment_core::mongodb::MongoStore;
use experiment_core::redis::RedisCache;
use experiment_core::retry::{Retry, RetryConfig};
use experiment_core::seed::SEED_TOPIC;
use experiment_core::{Cache, EventBus, Notifier, Store};
use experiment_notify::{DestinationConfig, OutboxSender, RetryPolicy};
use experiment_worker::{Worker, WorkerConfig};
use serde::Deserialize;

/// Consumes events from Kafka (one consumer group; run more copies to scale out), keeps bars
/// and quotes in the store, evaluates the alert rules, records alerts with their notifications,
/// and delivers them. Stops cleanly on Ctrl-C or SIGTERM: the offsets of processed events are
/// committed, nothing is lost.
#[derive(Debug, Parser)]
#[command(name = "experiment-worker", version)]
struct Args {
    /// Kafka bootstrap servers (required: the log is what feeders and workers share).
    #[arg(long, env = "EXPERIMENT_KAFKA_BROKERS")]
    kafka_brokers: Option<String>,
    /// Prefix of every topic name.
    #[arg(long, env = "EXPERIMENT_TOPIC_PREFIX", default_value = "")]
    topic_prefix: String,
    /// Consumer group.
    #[arg(long, env = "EXPERIMENT_GROUP", default_value = "experiment-workers")]
    group: String,
    /// Also consume the original services' topic `asset.info.view.v1`.
    #[arg(long)]
    seed_topic: bool,
    /// MongoDB connection string; without it the embedded store in `--data-dir` is used.
    #[arg(long, env = "EXPERIMENT_MONGODB_URI", hide_env_values = true)]
    mongodb_uri: Option<String>,
    /// MongoDB database.
    #[arg(
        long,
        env = "EXPERIMENT_MONGODB_DATABASE",
        default_value = "experiment"
    )]
    mongodb_database: String,
    /// Embedded store directory (when no MongoDB is given).
    #[arg(long, env = "EXPERIMENT_DATA_DIR", default_value = "experiment-data")]
    data_dir: PathBuf,
    /// Redis URL for the shared cache; without it the cache is in memory.
    #[arg(long, env = "EXPERIMENT_REDIS_URL", hide_env_values = true)]
    redis_url: Option<String>,
    /// Prefix of every cache key.
    #[arg(long, env = "EXPERIMENT_REDIS_PREFIX", default_value = "experiment:")]
    redis_prefix: String,
    /// Config file with `[[destinations]]` tables (where alerts are delivered).
    #[arg(long, env = "EXPERIMENT_CONFIG")]
    config: Option<PathBuf>,
    /// Copy unusable events to `<topic>.dlq` with the reason in headers.
    #[arg(long)]
    dead_letters: bool,
    /// Log filter, e.g. `info` or `experiment_worker=debug`.
    #[arg(long, env = "EXPERIMENT_LOG", default_value = "info")]
    log: String,
    /// Logs as JSON lines.
    #[arg(long)]
    log_json: bool,
}

#[derive(Debug, Default, Deserialize)]
struct FileConfig {
    #[serde(default)]
    destinations: Vec<DestinationConfig>,
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return ctrl_c.await.unwrap_or_default(),
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    ctrl_c.await.unwrap_or_default();
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log)
        .map_err(|e| anyhow::anyhow!("--log: {e}"))?;
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if args.log_json {
        logs.json().init();
    } else {
        logs.init();
    }
    let Some(brokers) = args.kafka_brokers.clone() else {
        bail!("experiment-worker needs --kafka-brokers (or EXPERIMENT_KAFKA_BROKERS): the event log is what feeders and workers share; to run everything in one process, use `experiment demo`");
    };
    let bus: Arc<dyn EventBus> = Arc::new(KafkaBus::connect(
        KafkaConfig::new(brokers).with_prefix(&args.topic_prefix),
    )?);
    let retry = RetryConfig::default();
    let store: Arc<dyn Store> = match &args.mongodb_uri {
        Some(uri) => Arc::new(Retry::new(
            MongoStore::connect(uri, &args.mongodb_database)
                .await
                .context("connecting to MongoDB")?,
            retry.clone(),
        )),
        None => Arc::new(
            EmbeddedStore::open(&args.data_dir)
                .with_context(|| format!("opening {}", args.data_dir.display()))?,
        ),
    };
    let cache: Arc<dyn Cache> = match &args.redis_url {
        Some(url) => Arc::new(Retry::new(
            RedisCache::connect(url, &args.redis_prefix)
                .await
                .context("connecting to Redis")?,
            retry,
        )),
        None => Arc::new(MemoryCache::new()),
    };
    let destinations = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            toml::from_str::<FileConfig>(&text)
                .with_context(|| format!("in {}", path.display()))?
                .destinations
        }
        None => vec![DestinationConfig::console("console")],
    };
    let notifiers = destinations
        .iter()
        .map(|d| {
            d.build()
                .with_context(|| format!("destination '{}'", d.name))
        })
        .collect::<anyhow::Result<Vec<Arc<dyn Notifier>>>>()?;

    let mut worker = Worker::new(store.clone(), cache, WorkerConfig::default());
    if args.dead_letters {
        worker = worker.with_dead_letters(bus.clone());
    }
    for (id, why) in worker.load_rules().await? {
        tracing::warn!(rule = %id, %why, "rule not evaluated");
    }
    let mut topics = vec![
        EventKind::DailyBar.topic(),
        EventKind::Quote.topic(),
        EventKind::Security.topic(),
    ];
    if args.seed_topic {
        topics.push(SEED_TOPIC);
    }
    let subscription = bus.subscribe(&args.group, &topics).await?;
    tracing::info!(group = %args.group, ?topics, "worker started");

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let sender = OutboxSender::new(store, notifiers, RetryPolicy::default());
    let mut outbox_stop = stop_rx.clone();
    let outbox = tokio::spawn(async move {
        loop {
            if let Err(e) = sender.run_once(chrono::Utc::now()).await {
                tracing::warn!(error = %e, "outbox round failed");
            }
            tokio::select! {
                _ = outbox_stop.changed() => break,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    });
    let mut worker_stop = stop_rx;
    let run = worker.run(subscription, async move {
        let _ = worker_stop.changed().await;
    });
    tokio::pin!(run);
    let stats = tokio::select! {
        stats = &mut run => stats?,
        _ = shutdown_signal() => {
            tracing::info!("shutting down: finishing the current event and committing offsets");
            let _ = stop_tx.send(true);
            run.await?
        }
    };
    let _ = stop_tx.send(true);
    outbox.await.ok();
    tracing::info!(?stats, "worker stopped");
    Ok(())
}
