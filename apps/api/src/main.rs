//! `experiment-api`: the HTTP API service.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use experiment_api::{AppState, Options};
use experiment_wiring::config::{BusBackend, Config, CONFIG_ENV};
use experiment_wiring::{init_logging, shutdown_token, Backends};

/// Serves data, statistics and settings over HTTP, accepts pushed quotes and bars onto the
/// event log, and streams quotes, bars and alerts live. Every setting comes from the
/// configuration file and `EXPERIMENT_*` variables (see docs/configuration.md); the flags
/// override both. Stops cleanly on Ctrl-C or SIGTERM.
#[derive(Debug, Parser)]
#[command(name = "experiment-api", version)]
struct Args {
    /// Configuration file (TOML). Also `EXPERIMENT_CONFIG`.
    #[arg(long, env = CONFIG_ENV)]
    config: Option<PathBuf>,
    /// Address to listen on (`[api] listen`, `EXPERIMENT_LISTEN`).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Log filter (`[log] filter`, `EXPERIMENT_LOG`), e.g. `info` or `experiment_api=debug`.
    #[arg(long)]
    log: Option<String>,
    /// Logs as JSON lines.
    #[arg(long)]
    log_json: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut config = Config::load(args.config.as_deref())?;
    if let Some(l) = args.listen {
        config.api.listen = l;
    }
    if let Some(f) = args.log {
        config.log.filter = f;
    }
    init_logging(&config.log.filter, config.log.json || args.log_json)?;
    let backends = Backends::connect(&config.bus, &config.store, &config.cache).await?;
    if config.bus.backend == BusBackend::Memory {
        tracing::warn!("bus.backend is memory: pushed quotes and bars stay in this process (set bus.brokers to share them with workers)");
    }
    if config.api.keys.is_empty() {
        tracing::warn!("no API key is configured: every write answers 401 (set api.keys or EXPERIMENT_API_KEYS)");
    }
    let token = shutdown_token();
    let state = AppState::with_options(
        backends.store,
        backends.cache,
        backends.bus,
        config.api.clone(),
        Options {
            // The Kafka adapter adds `bus.topic_prefix` itself.
            topic_prefix: String::new(),
            destinations: config.destinations.clone(),
            watchlist: config.feeder.watchlist.clone(),
            shutdown: token.clone(),
        },
    );
    let tap = state.spawn_stream_tap(token.clone());
    let listener = experiment_api::bind(config.api.listen).await?;
    let addr = listener.local_addr().context("reading the bound address")?;
    tracing::info!(%addr, "experiment-api listening; docs at /docs");
    experiment_api::serve(state, listener)
        .await
        .context("serving HTTP")?;
    token.cancel();
    tap.await.ok();
    tracing::info!("experiment-api stopped");
    Ok(())
}
