//! `experiment-worker`: consumes the event log into the store, evaluates alert rules and
//! delivers notifications from the outbox.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use clap::Parser;
use experiment_core::model::EventKind;
use experiment_core::seed::SEED_TOPIC;
use experiment_notify::RetryPolicy;
use experiment_wiring::config::{BusBackend, CacheBackend, Config, StoreBackend, CONFIG_ENV};
use experiment_wiring::delivery::OutboxLoop;
use experiment_wiring::{init_logging, shutdown_token, supervise, Backends, Restarts};
use experiment_worker::{Worker, WorkerConfig};

/// Consumes events from Kafka (one consumer group; run more copies to scale out), keeps bars
/// and quotes in the store, evaluates the alert rules, records alerts with their notifications,
/// and delivers them. Rules and destinations changed through the API are picked up within
/// seconds. Stops cleanly on Ctrl-C or SIGTERM: the offsets of processed events are
/// committed, nothing is lost.
///
/// Settings come from the configuration file and `EXPERIMENT_*` variables (see
/// docs/configuration.md); the flags override both.
#[derive(Debug, Parser)]
#[command(name = "experiment-worker", version)]
struct Args {
    /// Configuration file (TOML): `[bus] [store] [cache] [worker] [[destinations]]`.
    #[arg(long, env = CONFIG_ENV)]
    config: Option<PathBuf>,
    /// Kafka bootstrap servers (`bus.brokers`, `EXPERIMENT_KAFKA_BROKERS`); required: the log
    /// is what feeders and workers share.
    #[arg(long)]
    kafka_brokers: Option<String>,
    /// Prefix of every topic name (`bus.topic_prefix`).
    #[arg(long)]
    topic_prefix: Option<String>,
    /// Consumer group (`bus.group`, default `experiment-workers`).
    #[arg(long)]
    group: Option<String>,
    /// Also consume the original services' topic `asset.info.view.v1` (`worker.seed_topic`).
    #[arg(long)]
    seed_topic: bool,
    /// MongoDB connection string (`store.uri`); without one the embedded store is used.
    #[arg(long)]
    mongodb_uri: Option<String>,
    /// MongoDB database (`store.database`).
    #[arg(long)]
    mongodb_database: Option<String>,
    /// Embedded store directory (`store.data_dir`).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Redis URL for the shared cache (`cache.url`); without one the cache is in memory.
    #[arg(long)]
    redis_url: Option<String>,
    /// Prefix of every cache key (`cache.prefix`).
    #[arg(long)]
    redis_prefix: Option<String>,
    /// Copy unusable events to `<topic>.dlq` with the reason in headers (`worker.dead_letters`).
    #[arg(long)]
    dead_letters: bool,
    /// Log filter (`log.filter`), e.g. `info` or `experiment_worker=debug`.
    #[arg(long)]
    log: Option<String>,
    /// Logs as JSON lines.
    #[arg(long)]
    log_json: bool,
}

impl Args {
    /// The flags over the configuration.
    fn apply(&self, c: &mut Config) {
        if let Some(b) = &self.kafka_brokers {
            c.bus.brokers = Some(b.clone());
            c.bus.backend = BusBackend::Kafka;
        }
        if let Some(p) = &self.topic_prefix {
            c.bus.topic_prefix = p.clone();
        }
        if let Some(g) = &self.group {
            c.bus.group = g.clone();
        }
        if let Some(u) = &self.mongodb_uri {
            c.store.uri = Some(u.clone());
            c.store.backend = StoreBackend::Mongodb;
        }
        if let Some(d) = &self.mongodb_database {
            c.store.database = d.clone();
        }
        if let Some(d) = &self.data_dir {
            c.store.data_dir = d.clone();
        }
        if let Some(u) = &self.redis_url {
            c.cache.url = Some(u.clone());
            c.cache.backend = CacheBackend::Redis;
        }
        if let Some(p) = &self.redis_prefix {
            c.cache.prefix = p.clone();
        }
        c.worker.seed_topic |= self.seed_topic;
        c.worker.dead_letters |= self.dead_letters;
        if let Some(l) = &self.log {
            c.log.filter = l.clone();
        }
        c.log.json |= self.log_json;
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut config = Config::load(args.config.as_deref())?;
    args.apply(&mut config);
    config.validate()?;
    init_logging(&config.log.filter, config.log.json)?;
    if config.bus.backend != BusBackend::Kafka {
        bail!("experiment-worker needs --kafka-brokers (or bus.brokers, EXPERIMENT_KAFKA_BROKERS): the event log is what feeders and workers share; to run everything in one process, use `experiment demo`");
    }
    let backends = Backends::connect(&config.bus, &config.store, &config.cache).await?;
    let token = shutdown_token();

    let worker_config = WorkerConfig {
        quote_ttl: Duration::from_secs(config.worker.quote_ttl_secs),
        rules_refresh: Duration::from_secs(config.worker.refresh_secs),
        batch: config.worker.batch,
        ..WorkerConfig::default()
    };
    let new_alert = Arc::new(tokio::sync::Notify::new());
    let mut worker = Worker::new(
        backends.store.clone(),
        backends.cache.clone(),
        worker_config,
    )
    .with_alert_events(backends.bus.clone(), "")
    .with_alert_signal(new_alert.clone());
    if config.worker.dead_letters {
        worker = worker.with_dead_letters(backends.bus.clone());
    }
    worker.load_rules().await?;
    let mut topics = vec![
        EventKind::DailyBar.topic(),
        EventKind::Quote.topic(),
        EventKind::Security.topic(),
    ];
    if config.worker.seed_topic {
        topics.push(SEED_TOPIC);
    }
    let subscription = backends.bus.subscribe(&config.bus.group, &topics).await?;
    tracing::info!(group = %config.bus.group, ?topics, "worker started");

    // The outbox sender, supervised: a panic is logged and it starts again. It follows the
    // destinations of the configuration and those added through the API.
    let policy = RetryPolicy {
        lease: Duration::from_secs(config.worker.outbox_lease_secs),
        batch: config.worker.outbox_batch,
        ..RetryPolicy::default()
    };
    let delivery = OutboxLoop::new(
        backends.store.clone(),
        backends.cache.clone(),
        config.destinations.clone(),
        policy,
        Duration::from_secs(config.worker.refresh_secs),
        new_alert,
    );
    let restarts = Arc::new(Restarts::default());
    let outbox = supervise("outbox sender", token.clone(), restarts, move |t| {
        let delivery = delivery.clone();
        async move { delivery.run(t).await }
    });
    let stop = token.clone();
    let stats = worker
        .run(subscription, async move { stop.cancelled().await })
        .await?;
    token.cancel();
    outbox.await.ok();
    tracing::info!(?stats, "worker stopped");
    Ok(())
}
